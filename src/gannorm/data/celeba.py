"""CelebA, aligned and cropped faces (Liu et al. 2015): ``img_align_celeba/*.jpg``.

The aligned images are 178 wide x 218 high. The usual GAN preprocessing, and the default
here, is the one of DCGAN-tensorflow (carpedm20, used by most DCGAN/WGAN CelebA
experiments): a centred 108 x 108 crop (top 55, left 35) resized to 64 x 64. Other
papers crop 140 (e.g. BEGAN-style pipelines) or 160 (Xiang & Li's ResNet README); set
``data.args.crop`` (an int, [height, width], or 0 for no crop). After the crop, a
non-square image is centre-cropped to a square before resizing (see ``decode.py``).

``data.root`` is ``img_align_celeba`` itself or the folder holding it (the official
download layout). With ``data.args.split`` train | valid | test the official partition
file ``list_eval_partition.txt`` (beside ``img_align_celeba``) selects the images
(0 = train, 1 = valid, 2 = test); ``all`` (the default, as the GAN papers) uses all
202,599. ``data.args.attribute`` (e.g. ``Male``, ``Smiling``) reads that column of
``list_attr_celeba.txt`` as the label (1 -> 1, -1 -> 0) for conditional training.
Decoded once into the prepared cache; ``skip_bad`` as for folders.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Union

import numpy as np

from ..errors import GannormError
from ..registry import DATASETS
from .cache import cached_images, file_stamps
from .source import ImageData

DEFAULT_CROP = 108
SPLITS = {"train": 0, "valid": 1, "test": 2}


def _find_images_dir(root: Path) -> Path:
    for c in (root, root / "img_align_celeba", root / "img_align_celeba" / "img_align_celeba"):
        if c.is_dir() and c.name == "img_align_celeba":
            return c
    if root.is_dir() and any(p.suffix.lower() == ".jpg" for p in root.iterdir()):
        return root
    raise GannormError(f"CelebA not found at {root}: expected img_align_celeba/ with the aligned "
                       f"*.jpg files (set data.root to it or to the folder holding it)")


def _read_table(path: Path, what: str, fix: str) -> List[List[str]]:
    if not path.exists():
        raise GannormError(f"{path} not found ({what}); {fix}")
    return [line.split() for line in path.read_text().splitlines() if line.strip()]


def _partition(img_dir: Path, files: List[str], split: str) -> List[str]:
    rows = _read_table(img_dir.parent / "list_eval_partition.txt", "CelebA's official partition file",
                       "put it beside img_align_celeba or use data.args.split=all")
    part = {r[0]: r[1] for r in rows if len(r) == 2}
    want = str(SPLITS[split])
    return [f for f in files if part.get(f) == want]


def _attribute(img_dir: Path, files: List[str], attribute: str) -> np.ndarray:
    p = img_dir.parent / "list_attr_celeba.txt"
    rows = _read_table(p, "CelebA's attribute file", "put it beside img_align_celeba or drop data.args.attribute")
    # line 1: the count, line 2: the 40 attribute names, then "<file> <40 values of 1/-1>"
    names = rows[1]
    if attribute not in names:
        raise GannormError(f"unknown CelebA attribute {attribute!r}; valid: {', '.join(names)}")
    col = names.index(attribute) + 1
    table = {r[0]: r[col] for r in rows[2:] if len(r) > col}
    missing = [f for f in files if f not in table]
    if missing:
        raise GannormError(f"{p} has no row for {missing[0]} ({len(missing)} image(s) without attributes)")
    return np.asarray([int(table[f]) > 0 for f in files], np.int64)


@DATASETS.register("celeba", help="CelebA aligned faces (img_align_celeba/*.jpg), centre crop 108 then resize")
def celeba(root: str | None = None, image_size: int | None = None, channels: int | None = None,
           quiet: bool = False, crop: Union[int, List[int], None] = DEFAULT_CROP, split: str = "all",
           attribute: str | None = None, skip_bad: bool = False) -> ImageData:
    if not root:
        raise GannormError("the celeba dataset needs data.root: img_align_celeba or the folder holding it")
    if split not in ("all", *SPLITS):
        raise GannormError(f"data.args.split must be all, train, valid or test, got {split!r}")
    if isinstance(crop, (list, tuple)):
        if len(crop) != 2:
            raise GannormError(f"data.args.crop must be a size or [height, width], got {crop!r}")
        crop = (int(crop[0]), int(crop[1]))
    elif crop is not None:
        crop = int(crop) or None
    img_dir = _find_images_dir(Path(root).expanduser().resolve())
    files = sorted(p.name for p in img_dir.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not files:
        raise GannormError(f"no CelebA images (*.jpg) in {img_dir}")
    if split != "all":
        files = _partition(img_dir, files, split)
        if not files:
            raise GannormError(f"list_eval_partition.txt selects no image of {img_dir} for split {split!r}")
    labels = _attribute(img_dir, files, attribute) if attribute else None
    mode = "L" if channels == 1 else "RGB"
    paths = [img_dir / f for f in files]
    crop_txt = "no crop" if crop is None else f"centre crop {crop if isinstance(crop, int) else '%dx%d' % crop}"
    return cached_images("celeba", f"{img_dir.parent.name}-{split}", [str(img_dir), split] + file_stamps(paths),
                         [str(p) for p in paths],
                         lambda i: paths[i], size=image_size, mode=mode, crop=crop, labels=labels,
                         class_names=[f"not {attribute}", attribute] if attribute else [],
                         skip_bad=skip_bad, quiet=quiet,
                         description=f"CelebA {split} from {img_dir} ({len(files)} images, {crop_txt})")
