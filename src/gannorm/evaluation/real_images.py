"""The real images an evaluation compares with: which data, which split, how many.

Only what needs real images reads them (the reconstruction test, FID/KID/PR's real side),
and it says which data it reads before the (possibly long) load. ``data_root`` points at a
copy of the run's data elsewhere (a run moved to another machine).
"""
from __future__ import annotations

from dataclasses import replace
from typing import Callable, Dict, Optional

import numpy as np

from ..data import REAL_SPLITS, ImageData, convert, load_data, split_for
from ..errors import GannormError
from ..utils.images import seeded_subset


def load_real_images(spec: Dict, cfg, data_root: Optional[str] = None,
                     log: Callable[[str], None] = lambda s: None) -> ImageData:
    """The run's data (``cfg.data``, root replaced by ``data_root``) at G's size and channels."""
    dcfg = cfg.data if data_root is None else replace(cfg.data, root=data_root)
    log(f"reading real images: data.name={dcfg.name}, data.root={dcfg.root}")
    try:
        data = load_data(dcfg, quiet=True)
    except GannormError as e:
        raise GannormError(f"cannot read the run's real images ({e}); if the data moved, give its new "
                           f"place with --data-root") from None
    return convert(data, spec["image_size"], spec["channels"])


def real_indices(n_images: int, split: str, data_cfg, n: Optional[int] = None, seed: int = 0):
    """Indices of the real images and a description of where they came from.

    ``train``: the images the GAN trained on (the convention for FID); ``test``: the held-out
    final test set of the reconstruction metric, never trained on; ``validation``: the
    validation set (``data.validation``); ``all``: every image. ``n`` below the split's size
    takes a seeded random subset.
    """
    if split not in REAL_SPLITS:
        raise GannormError(f"real split must be one of {', '.join(REAL_SPLITS)}, got {split!r}")
    if split == "all":
        idx, what = np.arange(n_images), "all images"
    else:
        idx = split_for(data_cfg, n_images).indices(split)
        names = {"train": "training split", "test": "held-out final test split", "validation": "validation split"}
        what = f"{names[split]} (split_seed {data_cfg.split_seed})"
    if n is not None:
        if n < 1:
            raise GannormError(f"the number of real images must be >= 1, got {n}")
        if n < len(idx):
            idx = seeded_subset(idx, n, seed)
            what += f", random {n} (seed {seed})"
    return idx, what
