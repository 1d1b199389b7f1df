"""Any folder of images: class sub-folders (``root/<class>/**/*.jpg``) or a flat folder.

Layout rule (shared with the zip source): when every image lies inside a sub-folder, the
first-level sub-folders are the classes (labels 0..K-1 in sorted name order, like
torchvision's ImageFolder); otherwise the folder is one unlabeled set of all its images,
found recursively. Hidden files and folders are ignored. Images are decoded as RGB (a
grayscale file gets three equal channels) unless ``data.channels: 1`` (luma); a model
always gets the channel count of the data it is built for, and a discriminator handed
images of another channel count stops with an error naming ``data.channels``.

Images are decoded once (with a progress bar) into the prepared cache (``cache.py``),
keyed by the folder, its file list (with each file's size and modification time) and
the requested size, so later runs open a memory
map in a second and training never decodes JPEGs. Options (``data.args``):
``skip_bad`` (leave unreadable images out and count them instead of stopping);
``split`` train | test | all, for a dataset kept as ``root/train/<class>/...`` and
``root/test/<class>/...`` (a folder copy of CIFAR-10, say): the images of that split, or
of both pooled (``all``: train images first, then test, labels from the class folders
under each, class names the union of both). Pooling both and holding out ``data.holdout``
images is the protocol of Xiang & Li 2017 (the authors' ``split_data.py`` pools
CIFAR-10's train and test sets and holds out 2,000). Without ``split`` the whole folder
is one dataset, so ``train``/``test`` would become its two classes.
"""
from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import List, Optional, Sequence, Tuple

import numpy as np

from ..errors import GannormError
from ..registry import DATASETS
from .cache import cache_dir, cached_images, file_stamps  # noqa: F401  (cache_dir: kept importable here)
from .source import ImageData

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}


def is_image_name(name: str) -> bool:
    p = PurePosixPath(name)
    return p.suffix.lower() in IMAGE_EXTS and not any(part.startswith(".") for part in p.parts)


def image_layout(relpaths: Sequence[str]) -> Tuple[List[int], Optional[np.ndarray], List[str]]:
    """(order, labels or None, class names) for sorted relative posix paths of images."""
    order = sorted(range(len(relpaths)), key=lambda i: relpaths[i])
    parts = [PurePosixPath(relpaths[i]).parts for i in order]
    if parts and all(len(p) >= 2 for p in parts):
        names = sorted({p[0] for p in parts})
        index = {c: k for k, c in enumerate(names)}
        return order, np.asarray([index[p[0]] for p in parts], np.int64), names
    return order, None, []


def list_images(root: Path):
    """(files, labels or None, class_names) of the images under ``root``."""
    if not root.is_dir():
        raise GannormError(f"image folder not found: {root}; set data.root to a folder of images")
    rel = [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()]
    rel = [r for r in rel if is_image_name(r)]
    if not rel:
        raise GannormError(f"no images ({', '.join(sorted(IMAGE_EXTS))}) found under {root}")
    order, labels, names = image_layout(rel)
    return [root / rel[i] for i in order], labels, names


SPLITS = ("train", "test", "all")


def list_split_images(root: Path, split: str):
    """(files, labels or None, class_names) of ``root/train`` and/or ``root/test`` (``split``)."""
    if split not in SPLITS:
        raise GannormError(f"data.args.split must be one of {', '.join(SPLITS)}, got {split!r}")
    parts = ["train", "test"] if split == "all" else [split]
    missing = [p for p in parts if not (root / p).is_dir()]
    if missing:
        raise GannormError(f"data.args.split={split} needs the folder(s) {', '.join(missing)}/ under {root} "
                           f"(root/train/<class>/..., root/test/<class>/...); unset data.args.split to read "
                           f"{root} as one folder")
    listed = [list_images(root / p) for p in parts]
    unlabeled = [lab is None for _, lab, _ in listed]
    if all(unlabeled):
        return [f for fs, _, _ in listed for f in fs], None, []
    if any(unlabeled):
        raise GannormError(f"data.args.split=all: {root}/train and {root}/test must both have class "
                           f"sub-folders, or neither")
    names = sorted({n for _, _, ns in listed for n in ns})
    index = {n: k for k, n in enumerate(names)}
    files = [f for fs, _, _ in listed for f in fs]
    labels = np.concatenate([np.asarray([index[ns[k]] for k in lab], np.int64) for _, lab, ns in listed])
    return files, labels, names


def _count(root: str | None = None, split: str | None = None, skip_bad: bool = False) -> int | None:
    """The images ``folder`` returns, from the file list alone; None with ``skip_bad`` (how many
    files decode is known only by decoding them) or without a root."""
    if not root or skip_bad:
        return None
    rootp = Path(root).expanduser().resolve()
    if split is None:
        return len(list_images(rootp)[0])
    if not rootp.is_dir():
        raise GannormError(f"image folder not found: {rootp}; set data.root to a folder of images")
    return len(list_split_images(rootp, split)[0])


@DATASETS.register("folder", help="a folder of images, with or without class sub-folders (set data.root); "
                                  "split=train|test|all for root/train and root/test", count=_count)
def folder(root: str | None = None, image_size: int | None = None, channels: int | None = None,
           quiet: bool = False, skip_bad: bool = False, split: str | None = None) -> ImageData:
    if not root:
        raise GannormError("the folder dataset needs data.root: set data.root=PATH to a folder of images")
    rootp = Path(root).expanduser().resolve()
    if split is None:
        files, labels, names = list_images(rootp)
    else:
        if not rootp.is_dir():
            raise GannormError(f"image folder not found: {rootp}; set data.root to a folder of images")
        files, labels, names = list_split_images(rootp, split)
    mode = "L" if channels == 1 else "RGB"
    return cached_images("folder", rootp.name, [str(rootp)] + file_stamps(files), [str(f) for f in files], lambda i: files[i],
                         size=image_size,
                         mode=mode, labels=labels, class_names=names, skip_bad=skip_bad, quiet=quiet,
                         description=f"image folder {rootp}{f' ({split} split)' if split else ''} ({len(files)} images"
                                     f"{f', {len(names)} classes' if names else ''})")
