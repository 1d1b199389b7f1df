"""Atomic file writes: a crash never leaves a half-written checkpoint or result."""
from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any, Callable


TMP_SUFFIX = ".tmp"
# ".<target name>.<8 random characters from mkstemp>.tmp"
_TMP_NAME = re.compile(r"^\..+\.[A-Za-z0-9_]{8}" + re.escape(TMP_SUFFIX) + "$")


def atomic_write(path: str | os.PathLike, write: Callable[[Any], None], mode: str = "wb") -> None:
    """Write via ``write(fileobj)`` to a temporary file beside ``path``, fsync, then rename.

    ``os.replace`` is atomic on POSIX and Windows, so readers see the old file or the new
    one, never a partial one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp creates 0600; give the file the permissions a plain open() would
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(e, OSError) and e.filename is None:
            e.filename = str(path)  # a write through a file object names no file: name the one meant
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write(path, lambda f: f.write(text), mode="w")


def atomic_save_image(images: Any, path: str | os.PathLike, **grid: Any) -> None:
    """``torchvision.utils.save_image`` to a PNG, atomically: a full disk leaves the previous
    file (or none), never an empty or truncated image."""
    from torchvision.utils import save_image

    atomic_write(path, lambda f: save_image(images, f, format="png", **grid))


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    import torch

    def write(f):
        try:
            torch.save(obj, f)
        except RuntimeError as e:
            # torch's zip writer reports a failed write (a full disk) as a RuntimeError while
            # closing the archive; the OSError underneath says what happened
            if isinstance(e.__context__, OSError):
                raise e.__context__ from None
            raise

    atomic_write(path, write)


def remove_stale_temps(*directories: str | os.PathLike) -> int:
    """Delete the temporary files ``atomic_write`` leaves when killed mid-write (each can be a
    whole checkpoint). Call it only while holding the directory's lock, so that no live
    writer's file is taken. Returns how many were removed."""
    removed = 0
    for d in directories:
        d = Path(d)
        if not d.is_dir():
            continue
        for p in d.iterdir():
            if _TMP_NAME.match(p.name) and p.is_file():
                try:
                    p.unlink()
                    removed += 1
                except OSError:  # gone already, or a read-only directory: nothing to clean there
                    pass
    return removed
