"""Any folder of images: class sub-folders (``root/<class>/*.jpg``) or a flat folder.

Images are decoded once (with a progress bar) into a uint8 array cached under
``$GANNORM_CACHE`` (default ``~/.cache/gannorm``), keyed by the folder, its file list
and the requested size, so later runs load in a second and training never decodes JPEGs.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from ..errors import GannormError
from ..registry import DATASETS
from .source import ImageData

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}


def cache_dir() -> Path:
    return Path(os.environ.get("GANNORM_CACHE", Path.home() / ".cache" / "gannorm"))


def list_images(root: Path):
    """(files, labels, class_names): labels from class sub-folders, or all 0 for a flat folder."""
    if not root.is_dir():
        raise GannormError(f"image folder not found: {root}; set data.root to a folder of images")
    subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    files, labels = [], []
    if subdirs:
        for i, d in enumerate(subdirs):
            fs = sorted(p for p in d.rglob("*") if p.suffix.lower() in IMAGE_EXTS)
            files += fs
            labels += [i] * len(fs)
        names = [d.name for d in subdirs]
    else:
        files = sorted(p for p in root.iterdir() if p.suffix.lower() in IMAGE_EXTS)
        labels = [0] * len(files)
        names = []
    if not files:
        raise GannormError(f"no images ({', '.join(sorted(IMAGE_EXTS))}) found under {root}")
    return files, np.asarray(labels, np.int64), names


def decode(path: Path, size: int | None, mode: str) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as im:
            im = im.convert(mode)
            if size is not None and im.size != (size, size):
                w, h = im.size
                m = min(w, h)
                im = im.crop(((w - m) // 2, (h - m) // 2, (w - m) // 2 + m, (h - m) // 2 + m))
                im = im.resize((size, size), Image.BICUBIC)
            a = np.asarray(im, np.uint8)
    except (OSError, ValueError, SyntaxError) as e:
        raise GannormError(f"cannot read image {path}: {e}") from None
    return a[None] if a.ndim == 2 else a.transpose(2, 0, 1)


@DATASETS.register("folder", help="a folder of images, with or without class sub-folders (set data.root)")
def folder(root: str | None = None, image_size: int | None = None, channels: int | None = None,
           quiet: bool = False) -> ImageData:
    if not root:
        raise GannormError("the folder dataset needs data.root, e.g. ../shared/data/cifar10-jpeg/train")
    rootp = Path(root).expanduser().resolve()
    files, labels, names = list_images(rootp)
    mode = "L" if channels == 1 else "RGB"
    key = hashlib.sha256(
        ("\n".join(str(f.relative_to(rootp)) for f in files) + f"|{rootp}|{image_size}|{mode}").encode()
    ).hexdigest()[:16]
    cache = cache_dir() / f"folder-{rootp.name}-{key}.npy"
    if cache.exists():
        images = np.load(cache, mmap_mode="r")
    else:
        from tqdm import tqdm

        first = decode(files[0], image_size, mode)
        images = np.empty((len(files),) + first.shape, np.uint8)
        for i, f in enumerate(tqdm(files, desc=f"decoding {rootp.name}", unit="img", disable=quiet)):
            a = decode(f, image_size, mode)
            if a.shape != first.shape:
                raise GannormError(f"image {f} is {a.shape[2]}x{a.shape[1]}, others are "
                                   f"{first.shape[2]}x{first.shape[1]}; set data.image_size to resize all")
            images[i] = a
        from ..utils.io import atomic_write

        atomic_write(cache, lambda fh: np.save(fh, images))
    return ImageData(np.asarray(images), labels, names, f"image folder {rootp} ({len(files)} images)")
