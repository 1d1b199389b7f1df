"""STL-10 in its official binary format (Coates, Ng & Lee 2011).

On disk (https://cs.stanford.edu/~acoates/stl10/, ``stl10_binary.tar.gz`` extracted)::

    stl10_binary/  train_X.bin train_y.bin  test_X.bin test_y.bin  unlabeled_X.bin
                   class_names.txt

``*_X.bin``: uint8, 3 x 96 x 96 = 27,648 bytes per image, all red values, then green,
then blue, each channel in column-major order (so a channel read row-major is the image
transposed); ``*_y.bin``: one uint8 label per image, 1..10 (stored 0..9 here);
``class_names.txt``: one name a line. 5,000 train, 8,000 test and 100,000 unlabeled images.

``data.root`` is the ``stl10_binary`` folder or the folder holding it. With
``data.download: true`` a missing folder is fetched by torchvision's downloader (the URL
and MD5 of its ``STL10`` class) into ``data.root`` (or ``$GANNORM_CACHE/downloads``) and
extracted there. The image files are memory-mapped, not read into memory.
Options (``data.args``): ``split`` train | test | unlabeled | train+unlabeled | all
(default unlabeled, the 100,000 images that SNGAN and BSSN train on; BSSN's code resizes
them to 48 px: ``data.image_size: 48``). Labels are kept when every image of the split has one.
"""
from __future__ import annotations

from pathlib import Path
from typing import List

import numpy as np

from ..errors import GannormError
from ..registry import DATASETS
from .cache import cache_dir
from .source import ImageData

FOLDER, ARCHIVE, SIDE = "stl10_binary", "stl10_binary.tar.gz", 96
IMAGE_BYTES = 3 * SIDE * SIDE
SPLITS = {"train": ["train"], "test": ["test"], "unlabeled": ["unlabeled"],
          "train+unlabeled": ["train", "unlabeled"], "all": ["train", "test", "unlabeled"]}


def _folder(root: Path) -> Path | None:
    for c in (root, root / FOLDER):
        if (c / "train_X.bin").exists() or (c / "unlabeled_X.bin").exists() or (c / "test_X.bin").exists():
            return c
    return None


def fetch(root: str | None) -> Path:
    """The folder holding ``stl10_binary/``, fetched and extracted there first when missing."""
    from torchvision.datasets import STL10
    from torchvision.datasets.utils import download_and_extract_archive

    where = Path(root).expanduser() if root else cache_dir() / "downloads"
    if _folder(where) is not None:
        return where
    try:
        download_and_extract_archive(STL10.url, str(where), filename=STL10.filename, md5=STL10.tgz_md5)
    except (OSError, RuntimeError) as e:  # URLError is an OSError; a wrong MD5 a RuntimeError
        (where / STL10.filename).unlink(missing_ok=True)
        raise GannormError(f"could not download STL-10 from {STL10.url} ({e}); extract {STL10.filename} "
                           f"into {where} or set data.root to an extracted copy") from None
    return where


def read_images(path: Path) -> np.ndarray:
    """(N, 3, 96, 96) uint8, a memory-mapped view of an official ``*_X.bin`` file."""
    size = path.stat().st_size
    if size == 0 or size % IMAGE_BYTES:
        raise GannormError(f"{path} is not an STL-10 image file: {size} bytes is not a multiple of "
                           f"{IMAGE_BYTES} (3 x 96 x 96)")
    raw = np.memmap(path, np.uint8, mode="r", shape=(size // IMAGE_BYTES, 3, SIDE, SIDE))
    return raw.transpose(0, 1, 3, 2)  # each channel is stored column-major


def read_labels(path: Path, n: int) -> np.ndarray:
    y = np.fromfile(path, np.uint8)
    if len(y) != n:
        raise GannormError(f"{path} has {len(y)} labels for {n} images")
    if len(y) and (y.min() < 1 or y.max() > 10):
        raise GannormError(f"{path}: STL-10 labels are 1..10, found {int(y.min())}..{int(y.max())}")
    return y.astype(np.int64) - 1


@DATASETS.register("stl10", help="STL-10, official binary files (stl10_binary/); split unlabeled|train|test|...")
def stl10(root: str | None = None, split: str = "unlabeled", download: bool = False) -> ImageData:
    if split not in SPLITS:
        raise GannormError(f"data.args.split must be one of {', '.join(SPLITS)} for stl10, got {split!r}")
    if download:
        root = str(fetch(root))
    if not root:
        raise GannormError("the stl10 dataset needs data.root (the stl10_binary folder, extracted) or "
                           "data.download=true")
    rootp = Path(root).expanduser()
    folder = _folder(rootp)
    if folder is None:
        hint = (f"; {rootp / ARCHIVE} is there: extract it (tar xzf) or set data.download=true"
                if (rootp / ARCHIVE).exists() else "")
        raise GannormError(f"STL-10 not found at {rootp}: expected {FOLDER}/ with train_X.bin, test_X.bin or "
                           f"unlabeled_X.bin (https://cs.stanford.edu/~acoates/stl10/){hint}")
    parts: List[np.ndarray] = []
    labels: List[np.ndarray] = []
    for part in SPLITS[split]:
        xp = folder / f"{part}_X.bin"
        if not xp.exists():
            raise GannormError(f"STL-10 file missing: {xp} (needed for data.args.split={split})")
        x = read_images(xp)
        parts.append(x)
        if part != "unlabeled":
            yp = folder / f"{part}_y.bin"
            if not yp.exists():
                raise GannormError(f"STL-10 file missing: {yp}")
            labels.append(read_labels(yp, len(x)))
    names_file = folder / "class_names.txt"
    names = names_file.read_text().split() if names_file.exists() else []
    images = parts[0] if len(parts) == 1 else np.concatenate(parts)
    y = np.concatenate(labels) if labels and len(labels) == len(parts) else None
    return ImageData(images, y, names if y is not None else [],
                     f"STL-10 {split} ({len(images)} images) from {folder}")

