"""Datasets: every source decodes once into an ``ImageData`` (uint8 N,C,H,W + labels).

Sources register in ``DATASETS``; ``load_data(cfg.data)`` builds one, converts it to the
requested size and channels, and returns it; ``count_images(cfg.data)`` tells how many images
it holds, without decoding them when the dataset registers a ``count``. ``holdout_split`` carves out the test sets of
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


def _kwargs(fn, cfg: DataConfig, quiet: bool = False) -> dict:
    """The keyword arguments ``fn`` (a dataset's builder or counter) takes from ``cfg``."""
    kwargs = dict(cfg.args)
    params = inspect.signature(fn).parameters
    if cfg.root is not None or "root" in params:
        kwargs["root"] = cfg.root
    # sources that decode files resize while decoding (cheaper than decoding full size)
    for key, val in (("image_size", cfg.image_size), ("channels", cfg.channels), ("quiet", quiet),
                     ("download", cfg.download)):
        if key in params:
            kwargs[key] = val
    return kwargs


def load_data(cfg: DataConfig, quiet: bool = False) -> ImageData:
    data = DATASETS.build(cfg.name, **_kwargs(DATASETS.get(cfg.name), cfg, quiet))
    return convert(data, cfg.image_size, cfg.channels)


def count_images(cfg: DataConfig) -> int:
    """How many images ``load_data(cfg)`` returns. A dataset registered with ``count`` (a
    function of the builder's root and options that reads a header or lists files, returning
    None when it cannot tell) is counted without decoding an image; any other is loaded.
    Raises ``GannormError`` when the data is not there."""
    counter = DATASETS.attr(cfg.name, "count")
    n = None
    if counter is not None:
        params = inspect.signature(counter).parameters
        n = counter(**{k: v for k, v in _kwargs(counter, cfg, quiet=True).items() if k in params})
    return len(load_data(cfg, quiet=True)) if n is None else int(n)


__all__ = ["ImageData", "ImageSpec", "BatchLoader", "REAL_SPLITS", "Split", "convert", "holdout_split", "split_for", "load_data", "count_images", "reference_images",
           "to_model_range"]
