"""LSUN scenes (Yu et al. 2015) from their LMDB databases, e.g. ``bedroom_train_lmdb/``.

LSUN's own format (github.com/fyu/lsun): one LMDB environment per category and split, a
directory holding ``data.mdb`` and ``lock.mdb``; each key is an image id (40 hex digits,
ASCII bytes), each value the encoded image (webp in the official release, jpeg after
``lsun/data.py export``). The images have a short side of 256 px; they are centre-cropped
to a square and resized to ``data.image_size`` (as DCGAN's LSUN pipeline).

``data.root`` is the ``*_lmdb`` directory, or the folder holding the databases together
with ``data.args.category`` (e.g. ``bedroom``) and ``data.args.split`` (``train`` | ``val``).
A list of categories (``[bedroom, kitchen]``) reads them all, labelled by their index in the
list (for conditional training).
``data.args.max_images`` uses only the first N keys (of each category) (in key order, which for LSUN is a
hash order, i.e. an unbiased subset; the full bedroom set has 3,033,042 images).
Decoded once into the prepared cache, reading the database in key order. A database whose
values are not encoded images is refused with the offending key.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import List, Union

import numpy as np

from ..errors import GannormError
from ..registry import DATASETS
from .cache import cached_images
from .source import ImageData

# magic numbers of the encodings LSUN databases hold (webp, jpeg) and other PIL formats
_MAGIC = (b"RIFF", b"\xff\xd8\xff", b"\x89PNG", b"GIF8", b"BM")


def _looks_like_image(v: bytes) -> bool:
    return v.startswith(_MAGIC)


def _open(path: Path):
    try:
        import lmdb
    except ImportError:
        raise GannormError("reading LSUN needs the lmdb package: pip install lmdb") from None
    if not path.is_dir():
        raise GannormError(f"LSUN database not found: {path}; set data.root to a *_lmdb directory "
                           f"(or its parent with data.args.category)")
    if not (path / "data.mdb").exists():
        raise GannormError(f"{path} is not an LMDB database (no data.mdb); LSUN's format is one "
                           f"<category>_<split>_lmdb directory per category")
    try:
        return lmdb.open(str(path), readonly=True, lock=False, readahead=False, meminit=False,
                         max_readers=64, subdir=True)
    except lmdb.Error as e:
        raise GannormError(f"cannot open LMDB database {path}: {e}") from None


def _list(path: Path, max_images):
    """(env, keys, entries) of one database, after checking it holds LSUN-style values."""
    import lmdb

    env = _open(path)
    try:
        with env.begin(write=False) as txn:
            entries = txn.stat()["entries"]
            n = entries if max_images is None else min(int(max_images), entries)
            keys = []
            with txn.cursor() as cur:
                for k in cur.iternext(keys=True, values=False):
                    if len(keys) == n:
                        break
                    keys.append(bytes(k))
            if not keys:
                raise GannormError(f"LSUN database {path} is empty")
            first = txn.get(keys[0])
    except lmdb.Error as e:
        env.close()
        raise GannormError(f"cannot read LMDB database {path}: {e}") from None
    except GannormError:
        env.close()
        raise
    if first is None or not _looks_like_image(first):
        env.close()
        raise GannormError(
            f"{path} is an LMDB database but not in LSUN's format (key -> webp/jpeg bytes): the value "
            f"of key {keys[0][:40]!r} starts with {bytes(first or b'')[:8]!r}")
    return env, keys, entries


@DATASETS.register("lsun", help="LSUN scene LMDB (e.g. bedroom_train_lmdb), centre crop + resize")
def lsun(root: str | None = None, image_size: int | None = None, channels: int | None = None,
         quiet: bool = False, category: Union[str, List[str], None] = None, split: str = "train",
         max_images: int | None = None, skip_bad: bool = False) -> ImageData:
    if not root:
        raise GannormError("the lsun dataset needs data.root: e.g. /data/lsun/bedroom_train_lmdb")
    base = Path(root).expanduser().resolve()
    cats = [] if not category else ([category] if isinstance(category, str) else [str(c) for c in category])
    paths = [base / f"{c}_{split}_lmdb" for c in cats] or [base]
    dbs = []
    try:
        for p in paths:
            dbs.append(_list(p, max_images))
        txns = [env.begin(write=False, buffers=False) for env, _, _ in dbs]
        where = [(j, k) for j, (_, keys, _) in enumerate(dbs) for k in keys]
        guard = threading.Lock()  # an LMDB transaction is single-threaded; decoding runs outside it

        def read(i):
            j, key = where[i]
            with guard:
                v = txns[j].get(key)
            if v is None:
                raise GannormError(f"LSUN database {paths[j]} lost key {key!r} while reading")
            return v

        mode = "L" if channels == 1 else "RGB"
        names = [f"{paths[j].name}[{k.decode('ascii', 'replace')}]" for j, k in where]
        # several categories: the category is the label (for conditional training)
        labels = np.asarray([j for j, _ in where], np.int64) if len(paths) > 1 else None
        entries = [e for _, _, e in dbs]
        desc = ", ".join(f"{p.name} ({len(k)} of {e})" for p, (_, k, e) in zip(paths, dbs))
        try:
            return cached_images("lsun", "+".join(p.name for p in paths), [str(p) for p in paths] + entries,
                                 names, read, size=image_size, mode=mode, labels=labels,
                                 class_names=cats if labels is not None else [], skip_bad=skip_bad,
                                 quiet=quiet, description=f"LSUN {desc} images")
        finally:
            for t in txns:
                t.abort()
    finally:
        for env, _, _ in dbs:
            env.close()
