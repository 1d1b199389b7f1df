"""Exclusive directory locks that die with their process.

A writer (a training run, a study) holds ``fcntl.flock`` on a lock file inside the
directory it writes. The kernel drops the lock when the process ends, however it ends
(kill -9 included), so a lock can never be left stale; the file only records the
holder's PID for the error message. Where ``fcntl`` does not exist (Windows) the lock is
a no-op.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

from ..errors import GannormError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

LOCK_NAME = ".gannorm.lock"


class FileLock:
    """``flock`` on ``path``: fail at once naming the holder (``wait=False``) or wait for it."""

    def __init__(self, path: str | os.PathLike, what: str = "", wait: bool = False, quiet: bool = True):
        self.path, self.what, self.wait, self.quiet = Path(path), what, wait, quiet
        self._fh = None

    def acquire(self) -> "FileLock":
        try:
            fh = open(self.path, "a+")
        except OSError as e:
            raise GannormError(f"cannot lock {self.path.parent}: {e.strerror} ({self.path}); "
                               f"is the directory read-only? Nothing was changed") from None
        if fcntl is not None:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                if not self.wait:
                    holder = self._holder(fh)
                    fh.close()
                    raise GannormError(
                        f"{self.path.parent} is in use by another gannorm process "
                        f"({'PID ' + holder if holder else 'PID unknown'}{', ' + self.what if self.what else ''}); "
                        f"wait for it to finish or stop it, or use another directory") from None
                if not self.quiet:
                    print(f"waiting for another process using {self.path.parent} ...", file=sys.stderr)
                fcntl.flock(fh, fcntl.LOCK_EX)
        try:  # record the holder for the next one's error message
            fh.seek(0)
            fh.truncate()
            fh.write(f"{os.getpid()}\n")
            fh.flush()
        except OSError:  # a full disk must not stop a lock that is already held
            pass
        self._fh = fh
        return self

    @staticmethod
    def _holder(fh) -> Optional[str]:
        try:
            fh.seek(0)
            pid = fh.read().strip()
        except OSError:
            return None
        return pid if pid.isdigit() else None

    def release(self) -> None:
        if self._fh is not None:
            self._fh.close()  # closing the descriptor drops the flock
            self._fh = None

    @property
    def held(self) -> bool:
        return self._fh is not None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


def lock_dir(directory: str | os.PathLike, what: str = "") -> FileLock:
    """Take the exclusive lock of ``directory`` (which must exist) or raise naming its holder."""
    return FileLock(Path(directory) / LOCK_NAME, what).acquire()
