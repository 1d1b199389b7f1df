"""What rebuilding a trained generator needs, stored inside every checkpoint.

A checkpoint's ``generator_spec`` holds the image size and channels, the classes (count and
names), G's output range and z size, the run's config (model and norm settings, and the
tricks that may wrap G, e.g. a conditional G) and the gannorm version. With it,
``build_generator`` makes the same (wrapped) module the weights belong to without loading
any data or building the loss and the other tricks, so a run copied elsewhere, or whose data
moved, can still be sampled.
Only plain dicts, lists, strings and numbers: loads with ``torch.load(weights_only=True)``.
"""
from __future__ import annotations

from typing import Any, Dict

import torch

from ..version import __version__
from .. import config as config_mod
from ..data import ImageSpec
from ..errors import GannormError
from ..models import build_models
from ..tricks import wrap_generator

SPEC_FORMAT = "gannorm-generator-spec-1"


def generator_spec(cfg: config_mod.Config, data: ImageSpec, G: torch.nn.Module) -> Dict[str, Any]:
    """The description stored beside G's weights (``data``: an ``ImageData`` or its ``spec()``)."""
    return {
        "format": SPEC_FORMAT,
        "gannorm_version": __version__,
        "image_size": int(data.size),
        "channels": int(data.channels),
        "n_classes": None if data.n_classes is None else int(data.n_classes),
        "class_names": [str(c) for c in data.class_names],
        "data_description": str(data.description),
        "output_range": [float(v) for v in getattr(G, "output_range", (0.0, 1.0))],
        "z_dim": int(G.z_dim),
        "config": cfg.to_dict(),
    }


def spec_config(spec: Dict[str, Any]) -> config_mod.Config:
    return config_mod.from_dict(spec["config"])


def check_spec(spec: Any, where: str) -> Dict[str, Any]:
    """``spec`` as a dict of the known format, or a one-line error naming ``where``."""
    if not isinstance(spec, dict) or spec.get("format") != SPEC_FORMAT:
        found = spec.get("format") if isinstance(spec, dict) else type(spec).__name__
        raise GannormError(f"{where}: unknown generator description format {found!r} (this gannorm reads "
                           f"{SPEC_FORMAT!r}); export it again with the gannorm version that trained it")
    return spec


def build_generator_for(cfg: config_mod.Config, data: ImageSpec) -> torch.nn.Module:
    """G as the trainer builds it for ``data`` (with the wrappers of the tricks that change G,
    e.g. a conditional G), untrained; the loss and the other tricks are not built."""
    g, _ = build_models(cfg.model, data.size, data.channels)  # a model builder makes the pair
    return wrap_generator(cfg, g, data)


def build_generator(spec: Dict[str, Any]) -> torch.nn.Module:
    """G as the trainer built it (with its wrappers), untrained, from a ``generator_spec``."""
    data = ImageSpec(spec["image_size"], spec["channels"], spec["n_classes"], list(spec["class_names"]),
                     spec.get("data_description", ""))
    return build_generator_for(spec_config(spec), data)
