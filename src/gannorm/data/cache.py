"""The prepared cache: encoded images decoded once into a uint8 memory-mapped ``.npy``.

Layout of one cache (a directory under ``$GANNORM_CACHE``, default ``~/.cache/gannorm``)::

    <kind>-<name>-<key>/
        images.npy    uint8 (N, C, H, W), opened with mmap_mode="r" (pages load on demand)
        labels.npy    int64 (N,), only when the source has labels
        meta.json     written last: its presence marks a complete cache

``key`` hashes everything the pixels depend on (the source's identity and item list, the
size, crop and colour mode), so a changed option builds a new cache and never reads a
stale one.

Building is interrupt-safe and resumable: rows go into ``images.partial.npy`` (a memory
map of the final size) and every few seconds the map is flushed *before* ``progress.json``
records how far it got; a rerun continues from there. The finished array is renamed into
place (``os.replace``, atomic), so readers only ever see a complete ``images.npy``. A lock
file serialises two processes preparing the same cache.

Unreadable images stop the build with an error naming the image (the progress is kept),
or, with ``skip_bad``, are left out and counted; their names are kept in ``meta.json``.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, List, Optional, Sequence

import numpy as np

from ..errors import GannormError
from ..utils.io import atomic_write, atomic_write_text
from ..utils.lock import FileLock
from .decode import Crop, decode_image
from .source import ImageData

FORMAT = "gannorm-cache-1"
SAVE_EVERY_S = 5.0  # progress checkpoints: at most this much decoding is lost on a kill
CHUNK = 256  # images decoded per thread-pool round


def cache_dir() -> Path:
    return Path(os.environ.get("GANNORM_CACHE", Path.home() / ".cache" / "gannorm"))


def decode_workers() -> int:
    """Decoding threads (PIL releases the GIL while decoding): $GANNORM_DECODE_WORKERS or up to 4."""
    env = os.environ.get("GANNORM_DECODE_WORKERS")
    if env:
        return max(1, int(env))
    return max(1, min(4, os.cpu_count() or 1))


def file_stamps(paths: Sequence[Path]) -> List[str]:
    """Size and modification time of each file, for a cache key: an image overwritten in
    place changes the key (as a zip's size and time do), so a stale cache is never read."""
    return [f"{st.st_size}:{st.st_mtime_ns}" for st in (Path(p).stat() for p in paths)]


def cache_path(kind: str, ident: str, key_parts: Sequence[str]) -> Path:
    h = hashlib.sha256(FORMAT.encode())
    for p in key_parts:
        h.update(b"\0" + str(p).encode())
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", ident)[-40:] or "data"
    return cache_dir() / f"{kind}-{slug}-{h.hexdigest()[:16]}"


def load_cache(path: Path) -> Optional[ImageData]:
    """The complete cache at ``path``, or None when there is none (or it is unfinished)."""
    meta_p = path / "meta.json"
    if not meta_p.exists() or not (path / "images.npy").exists():
        return None
    try:
        meta = json.loads(meta_p.read_text())
        images = np.load(path / "images.npy", mmap_mode="r")
        labels = np.load(path / "labels.npy") if (path / "labels.npy").exists() else None
        if images.ndim != 4 or images.dtype != np.uint8 or len(images) != meta["n"]:
            raise ValueError(f"holds {images.dtype} {images.shape}, meta.json says {meta['n']} images")
        skipped = [str(s[0]) for s in meta.get("skipped", [])]
        desc = str(meta["description"]) + (f", {len(skipped)} unreadable image(s) skipped" if skipped else "")
        class_names = [str(c) for c in meta.get("class_names", [])]
    except (OSError, ValueError, KeyError, TypeError, AttributeError, IndexError) as e:
        what = f"meta.json has no {e}" if isinstance(e, KeyError) else str(e) or type(e).__name__
        raise GannormError(f"the prepared cache {path} is damaged ({what}); delete that folder and "
                           f"rerun 'gannorm data prepare'") from None
    return ImageData(images, labels, class_names, desc + f"; cache {path}", cache=str(path), skipped=skipped)


def cached_images(kind: str, ident: str, key_parts: Sequence[str], names: List[str],
                  read: Callable[[int], object], *, size: int | None, mode: str, crop: Crop = None,
                  labels: np.ndarray | None = None, class_names: List[str] | None = None,
                  description: str = "", skip_bad: bool = False, quiet: bool = False) -> ImageData:
    """Decode items ``read(0..N-1)`` (paths or bytes) once into the cache and return it.

    ``names[i]`` identifies item i in errors (a file, a zip member, an LMDB key);
    ``labels`` are per item and follow the kept images when bad ones are skipped.
    """
    if not names:
        raise GannormError(f"no images found in {ident}")
    path = cache_path(kind, ident, list(key_parts) + [size, mode, crop] + names)
    data = load_cache(path)
    if data is not None:
        return data
    path.mkdir(parents=True, exist_ok=True)
    with FileLock(path / "lock", wait=True, quiet=quiet):
        data = load_cache(path)  # another process may have finished it while we waited
        if data is None:
            _build(path, names, read, size, mode, crop, labels, class_names or [], description,
                   skip_bad, quiet, ident)
            data = load_cache(path)
    return data


def _channels(mode: str) -> int:
    return 1 if mode == "L" else 3


def _build(path, names, read, size, mode, crop, labels, class_names, description, skip_bad, quiet, ident):
    from tqdm import tqdm

    n = len(names)
    prog_p, img_p, kept_p = path / "progress.json", path / "images.partial.npy", path / "kept.partial.npy"
    prog = _read_progress(prog_p, n)
    if prog is None or not img_p.exists() or not kept_p.exists():
        prog = {"format": FORMAT, "n": n, "shape": None, "done": 0, "written": 0, "skipped": []}
    skipped: List[List[str]] = prog["skipped"]

    def decode(i):
        try:
            return decode_image(read(i), names[i], size, mode, crop)
        except GannormError as e:
            return e

    def bad(i, err: GannormError):
        if not skip_bad:
            raise GannormError(f"{err}; fix or delete it, or rerun with --skip-bad "
                               f"(data.args.skip_bad=true) to leave such images out "
                               f"(the {prog['done']} images decoded so far are kept)")
        skipped.append([names[i], str(err)])

    if size is not None:
        prog["shape"] = [_channels(mode), size, size]
    images = kept = None
    if prog["written"] > 0 and not _partial_intact(img_p, kept_p, n, prog["shape"]):
        if not quiet:
            print(f"the unfinished cache in {path} is damaged (a file is shorter than its header says); "
                  f"decoding again from the start", file=sys.stderr)
        prog = {"format": FORMAT, "n": n, "shape": prog["shape"] if size is not None else None, "done": 0,
                "written": 0, "skipped": []}
        skipped = prog["skipped"]
    if prog["written"] > 0:  # resuming: reopen the rows already decoded
        images, kept = _open_partial(img_p, kept_p, n, prog["shape"], True)
    pbar = tqdm(total=n, initial=prog["done"], desc=f"decoding {ident}", unit="img", disable=quiet,
                file=sys.stderr, dynamic_ncols=True)
    last = time.monotonic()
    try:
        with ThreadPoolExecutor(decode_workers()) as pool:
            while prog["done"] < n:
                lo, hi = prog["done"], min(n, prog["done"] + CHUNK)
                for i, a in zip(range(lo, hi), pool.map(decode, range(lo, hi))):
                    if isinstance(a, GannormError):
                        bad(i, a)
                    else:
                        if prog["shape"] is None:
                            prog["shape"] = list(a.shape)
                        if list(a.shape) != prog["shape"]:
                            c, h, w = prog["shape"]
                            raise GannormError(
                                f"image {names[i]} is {a.shape[2]}x{a.shape[1]} ({a.shape[0]} channels), "
                                f"others are {w}x{h} ({c}); set data.image_size to resize all")
                        if images is None:
                            images, kept = _open_partial(img_p, kept_p, n, prog["shape"], False)
                        images[prog["written"]] = a
                        kept[prog["written"]] = i
                        prog["written"] += 1
                    prog["done"] = i + 1
                    pbar.update(1)
                if time.monotonic() - last > SAVE_EVERY_S:
                    _save_progress(prog_p, prog, images, kept)
                    last = time.monotonic()
    except BaseException as e:
        _save_progress(prog_p, prog, images, kept)
        pbar.close()
        if isinstance(e, KeyboardInterrupt) and not quiet:
            print(f"interrupted after {prog['done']} of {n} images; progress saved in {path}; "
                  f"run the same command again to continue", file=sys.stderr)
        raise
    pbar.close()
    written = prog["written"]
    if written == 0:
        raise GannormError(f"none of the {n} images in {ident} could be read (first: {skipped[0][1]})")
    images.flush()
    kept.flush()
    kept_idx = np.array(kept[:written])
    del images, kept
    if written == n:
        _fsync(img_p)
        os.replace(img_p, path / "images.npy")
    else:  # drop the unused rows: copy the kept prefix into an exactly-sized array
        src = np.load(img_p, mmap_mode="r")
        atomic_write(path / "images.npy", lambda fh: _save_prefix(fh, src, written))
        del src
        img_p.unlink()
    if labels is not None:
        lab = np.asarray(labels, np.int64)[kept_idx]
        atomic_write(path / "labels.npy", lambda fh: np.save(fh, lab))
    meta = {"format": FORMAT, "description": description, "n": written, "class_names": class_names,
            "skipped": skipped, "shape": prog["shape"], "mode": mode, "crop": crop, "size": size}
    atomic_write_text(path / "meta.json", json.dumps(meta, indent=1))
    for p in (prog_p, kept_p):
        p.unlink(missing_ok=True)
    if skipped and not quiet:
        print(f"skipped {len(skipped)} unreadable image(s) of {n} (first: {skipped[0][0]})", file=sys.stderr)


def _open_partial(img_p: Path, kept_p: Path, n: int, shape, resume: bool):
    from numpy.lib.format import open_memmap

    mode = "r+" if resume else "w+"
    if not resume:
        need = n * int(np.prod(shape)) + n * 8
        free = shutil.disk_usage(img_p.parent).free
        if free < need:
            raise GannormError(f"the cache needs {need / 1e9:.2f} GB but {img_p.parent} has {free / 1e9:.2f} GB "
                               f"free; point --cache-dir (or $GANNORM_CACHE) to a larger disk")
    images = open_memmap(img_p, mode=mode, dtype=np.uint8, shape=None if resume else (n, *shape))
    kept = open_memmap(kept_p, mode=mode, dtype=np.int64, shape=None if resume else (n,))
    if resume and (tuple(images.shape) != (n, *shape) or kept.shape != (n,)):
        raise GannormError(f"the unfinished cache {img_p.parent} does not match; delete that folder and rerun")
    return images, kept


def _partial_intact(img_p: Path, kept_p: Path, n: int, shape) -> bool:
    """Both partial arrays have the full size their headers promise. Opening a short file
    with ``mode="r+"`` would silently pad it with zeros: rows counted as decoded would then
    be black images in the finished cache."""
    from numpy.lib import format as npy

    for p, dtype, rows in ((img_p, np.uint8, (n, *shape)), (kept_p, np.int64, (n,))):
        try:
            with open(p, "rb") as f:
                version = npy.read_magic(f)
                read = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
                hdr_shape, _, hdr_dtype = read(f)
                offset = f.tell()
        except (OSError, ValueError):
            return False
        if tuple(hdr_shape) != tuple(rows) or hdr_dtype != np.dtype(dtype):
            return False
        if p.stat().st_size != offset + int(np.prod(rows)) * np.dtype(dtype).itemsize:
            return False
    return True


def _read_progress(p: Path, n: int):
    try:
        prog = json.loads(p.read_text())
    except (OSError, ValueError):
        return None
    return prog if prog.get("format") == FORMAT and prog.get("n") == n else None


def _save_progress(prog_p: Path, prog, images, kept):
    # Flush the rows first: progress.json must never claim rows that are not on disk.
    if images is not None:
        images.flush()
        kept.flush()
    atomic_write_text(prog_p, json.dumps(prog))


def _save_prefix(fh, src: np.ndarray, count: int, chunk: int = 4096):
    header = {"descr": np.lib.format.dtype_to_descr(src.dtype), "fortran_order": False,
              "shape": (count, *src.shape[1:])}
    np.lib.format.write_array_header_1_0(fh, header)
    for s in range(0, count, chunk):
        fh.write(np.ascontiguousarray(src[s:min(count, s + chunk)]).tobytes())


def _fsync(p: Path):
    fd = os.open(p, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
