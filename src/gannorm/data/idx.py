"""MNIST-style IDX files (LeCun et al.): MNIST, Fashion-MNIST (Xiao et al. 2017).

Format: magic (2 zero bytes, type code 0x08 = uint8, number of dims), then big-endian
uint32 sizes, then the data. Files may be gzip-compressed.
"""
from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from ..errors import GannormError
from ..registry import DATASETS
from .source import ImageData

FASHION_MNIST_DIRS = ["/usr/share/datasets/fashion-mnist"]
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot"]


def read_idx(path: str | os.PathLike) -> np.ndarray:
    path = str(path)
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise GannormError(f"cannot read IDX file {path}: {e}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise GannormError(f"{path} is not a uint8 IDX file (bad magic number)")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    start = 4 + 4 * ndim
    n = int(np.prod(dims))
    if len(raw) - start != n:
        raise GannormError(f"{path} is truncated: expected {n} values, found {len(raw) - start}")
    return np.frombuffer(raw, np.uint8, offset=start).reshape(dims)


def idx_length(path: str | os.PathLike) -> int:
    """The first dimension of an IDX file (its number of images), read from its header alone."""
    path = str(path)
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            head = f.read(8)
    except (OSError, EOFError) as e:
        raise GannormError(f"cannot read IDX file {path}: {e}") from None
    if len(head) < 8 or head[0] != 0 or head[1] != 0 or head[2] != 0x08 or head[3] < 1:
        raise GannormError(f"{path} is not a uint8 IDX file (bad magic number)")
    return int.from_bytes(head[4:8], "big")


def _find(root: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (root / name).exists():
            return root / name
    return None


PREFIXES = {"train": ["train"], "test": ["t10k"], "all": ["train", "t10k"]}


def count_idx_pair(roots, split: str) -> int | None:
    """The number of images ``load_idx_pair`` returns, from the image files' headers; None
    when they are not found (loading then says where it looked)."""
    for root in roots:
        files = [_find(Path(root), f"{p}-images-idx3-ubyte") for p in PREFIXES.get(split, [])]
        if files and all(f is not None for f in files):
            return sum(idx_length(f) for f in files)
    return None


def load_idx_pair(roots, split: str, what: str, how_to_get: str) -> ImageData:
    if split not in ("train", "test", "all"):
        raise GannormError(f"data.args.split must be train, test or all, got {split!r}")
    prefixes = PREFIXES[split]
    for root in roots:
        root = Path(root)
        files = [(_find(root, f"{p}-images-idx3-ubyte"), _find(root, f"{p}-labels-idx1-ubyte")) for p in prefixes]
        if all(i is not None for i, _ in files):
            imgs = np.concatenate([read_idx(i) for i, _ in files])
            labels = None
            if all(lab is not None for _, lab in files):
                labels = np.concatenate([read_idx(lab) for _, lab in files]).astype(np.int64)
            return ImageData(imgs[:, None], labels, [], f"{what} {split} ({len(imgs)} images) from {root}")
    looked = ", ".join(str(r) for r in roots)
    raise GannormError(f"{what} IDX files not found (looked in: {looked}); {how_to_get}")


def _count_fashion_mnist(root: str | None = None, split: str = "train") -> int | None:
    return count_idx_pair([root] if root else FASHION_MNIST_DIRS, split)


def _count_mnist(root: str | None = None, split: str = "train") -> int | None:
    return count_idx_pair([root], split) if root else None


@DATASETS.register("fashion_mnist", help="Fashion-MNIST IDX files (default /usr/share/datasets/fashion-mnist)",
                   count=_count_fashion_mnist)
def fashion_mnist(root: str | None = None, split: str = "train") -> ImageData:
    roots = [root] if root else FASHION_MNIST_DIRS
    d = load_idx_pair(roots, split, "Fashion-MNIST",
                      "install it with 'apt-get install dataset-fashion-mnist' or set data.root")
    d.class_names = list(FASHION_CLASSES)
    return d


@DATASETS.register("mnist", help="MNIST IDX files (set data.root)", orientation_labels=True, count=_count_mnist)
def mnist(root: str | None = None, split: str = "train") -> ImageData:
    if not root:
        raise GannormError("the mnist dataset needs data.root: a folder with train-images-idx3-ubyte(.gz)")
    d = load_idx_pair([root], split, "MNIST", "set data.root to the folder holding the IDX files")
    d.class_names = [str(i) for i in range(10)]
    return d
