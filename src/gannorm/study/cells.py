"""Cell processes that never outlive their study, and cell files read without crashing it.

Each cell runs in its own process group with a parent-death signal (Linux
``PR_SET_PDEATHSIG``), so a study killed even with SIGKILL takes its running cells down
instead of leaving them to race the next run; on an ordinary exit or a signal the driver
kills the groups itself. A cell whose files are damaged is recorded as failed with the
reason, and the study goes on with the others.
"""
from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
from typing import Dict, List


PR_SET_PDEATHSIG = 1


def _prctl():
    """libc's prctl, looked up in the parent: the child between fork and exec must not load
    libraries (another thread may hold the loader's lock at the fork)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def _die_with_parent(prctl, parent: int) -> None:  # runs in the child between fork and exec
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


class CellProcesses:
    """Start cell commands and kill every one still running when the study ends or is signalled."""

    def __init__(self):
        self._prctl = _prctl()
        self._live: Dict[int, subprocess.Popen] = {}
        self._guard = threading.Lock()
        self._old = {}

    def run(self, cmd: List[str], **kw) -> int:
        parent, prctl = os.getpid(), self._prctl
        extra = {"start_new_session": True}
        if prctl is not None:  # elsewhere the driver's own clean-up still applies
            extra["preexec_fn"] = lambda: _die_with_parent(prctl, parent)
        proc = subprocess.Popen(cmd, **kw, **extra)
        with self._guard:
            self._live[proc.pid] = proc
        try:
            return proc.wait()
        finally:
            with self._guard:
                self._live.pop(proc.pid, None)

    def kill_all(self) -> None:
        with self._guard:
            procs = list(self._live.values())
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGKILL)  # the cell and anything it started
            except (ProcessLookupError, PermissionError):
                pass

    def _on_signal(self, signum, frame):
        self.kill_all()
        raise SystemExit(128 + signum)

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for s in (signal.SIGTERM, signal.SIGHUP):
                self._old[s] = signal.signal(s, self._on_signal)
        return self

    def __exit__(self, *exc):
        self.kill_all()  # nothing left behind, however the driver leaves (Ctrl-C included)
        for s, h in self._old.items():
            signal.signal(s, h)
