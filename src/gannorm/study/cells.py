"""Cell processes that never outlive their study, and a study that stops when told.

Each cell runs in its own process group with a parent-death signal (Linux
``PR_SET_PDEATHSIG``), so a study killed even with SIGKILL takes its running cells down
instead of leaving them to race the next run; on an ordinary exit or a signal the driver
kills the groups itself.

A stop (SIGTERM, SIGINT/Ctrl-C, SIGHUP, or leaving the ``with`` block early) kills the
running cells and starts no further one: :meth:`CellProcesses.run` returns ``None`` for a
cell asked to start after the stop, so a pool of workers drains its queue at once and the
driver raises :class:`StudyInterrupted`, which says how to resume.

Platforms: process groups and ``os.killpg`` are POSIX (Linux, macOS); the parent-death
signal is Linux only. Elsewhere (Windows) each cell is still a child process, killed by
``Popen.kill`` when the study stops; only a driver killed outright (no chance to clean up)
may leave its cells running there.
"""
from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
from typing import Dict, List, Optional

from ..errors import GannormError

PR_SET_PDEATHSIG = 1
POSIX = os.name == "posix"
#: the signals that stop a study (those this platform has)
STOP_SIGNALS = tuple(getattr(signal, n) for n in ("SIGTERM", "SIGINT", "SIGHUP") if hasattr(signal, n))


class StudyInterrupted(GannormError):
    """The study was stopped by a signal; finished cells are stored, a rerun resumes the rest."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.signum = signum


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
    """Start cell commands; on a stop, kill every one still running and start no other."""

    def __init__(self):
        self._prctl = _prctl()
        self._live: Dict[int, subprocess.Popen] = {}
        self._guard = threading.Lock()
        self._old = {}
        self.stopped_by: Optional[int] = None  # the signal that stopped the study
        self._stop = threading.Event()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self, cmd: List[str], before=None, **kw) -> Optional[int]:
        """The command's exit status (negative: the signal that ended it), or ``None`` when
        the study is stopping and the command was not started (nor ``before()`` called, which
        prepares its start)."""
        parent, prctl = os.getpid(), self._prctl
        extra = {}
        if POSIX:
            extra["start_new_session"] = True  # its own group: killed with anything it starts
        if prctl is not None:  # elsewhere the driver's own clean-up still applies
            extra["preexec_fn"] = lambda: _die_with_parent(prctl, parent)
        with self._guard:  # checked under the lock that stop() takes: no start slips past a stop
            if self._stop.is_set():
                return None
            if before is not None:
                before()
            proc = subprocess.Popen(cmd, **kw, **extra)
            self._live[proc.pid] = proc
        try:
            return proc.wait()
        finally:
            with self._guard:
                self._live.pop(proc.pid, None)

    def stop(self, signum: Optional[int] = None) -> None:
        """Start nothing more and kill what runs."""
        with self._guard:
            self._stop.set()
            if signum is not None and self.stopped_by is None:
                self.stopped_by = signum
        self.kill_all()

    def kill_all(self) -> None:
        with self._guard:
            procs = list(self._live.values())
        for p in procs:
            try:
                if POSIX:
                    os.killpg(p.pid, signal.SIGKILL)  # the cell and anything it started
                else:
                    p.kill()
            except (ProcessLookupError, PermissionError):
                pass

    def _on_signal(self, signum, frame):
        self.stop(signum)

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for s in STOP_SIGNALS:
                self._old[s] = signal.signal(s, self._on_signal)
        return self

    def __exit__(self, *exc):
        self.stop()  # nothing left behind and nothing new started, however the driver leaves
        for s, h in self._old.items():
            signal.signal(s, h)


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class raise_on_stop:
    """In the main thread, turn SIGTERM, SIGINT and SIGHUP into :class:`StudyInterrupted`
    (for a driver that waits on others' work, such as Ray tasks, rather than its own
    children); elsewhere it does nothing."""

    def __init__(self):
        self._old = {}

    def _raise(self, signum, frame):
        raise StudyInterrupted(f"study stopped by {signal_name(signum)}; run the same command again to resume", signum)

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for s in STOP_SIGNALS:
                self._old[s] = signal.signal(s, self._raise)
        return self

    def __exit__(self, *exc):
        for s, h in self._old.items():
            signal.signal(s, h)
