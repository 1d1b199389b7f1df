"""Datasets: every source decodes once into an ``ImageData`` (uint8 N,C,H,W + labels).

Sources register in ``DATASETS``; ``load_data(cfg.data)`` builds one, converts it to the
requested size and channels, and returns it. ``holdout_split`` carves out the test sets of
the reconstruction metric.
"""
from __future__ import annotations

import inspect

from ..config import DataConfig
from ..registry import DATASETS
from . import bundled, celeba, cifar, folder, idx, lsun, stl10, zipfolder  # noqa: F401
from .loader import BatchLoader, reference_images, to_model_range
from .source import ImageData, ImageSpec, convert
from .split import REAL_SPLITS, Split, holdout_split, split_for


def load_data(cfg: DataConfig, quiet: bool = False) -> ImageData:
    builder = DATASETS.get(cfg.name)
    kwargs = dict(cfg.args)
    params = inspect.signature(builder).parameters
    if cfg.root is not None or "root" in params:
        kwargs["root"] = cfg.root
    # sources that decode files resize while decoding (cheaper than decoding full size)
    for key, val in (("image_size", cfg.image_size), ("channels", cfg.channels), ("quiet", quiet),
                     ("download", cfg.download)):
        if key in params:
            kwargs[key] = val
    data = DATASETS.build(cfg.name, **kwargs)
    return convert(data, cfg.image_size, cfg.channels)


__all__ = ["ImageData", "ImageSpec", "BatchLoader", "REAL_SPLITS", "Split", "convert", "holdout_split", "split_for", "load_data", "reference_images",
           "to_model_range"]
