from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from .. import config as config_mod
from ..errors import GannormError


def _load_generator(run_dir, checkpoint: str, ema: bool = True):
    from ..data import load_data
    from ..models import build_models
    from ..tricks import setup_models
    from ..training import RunDir
    from ..training.checkpoint import load_checkpoint

    run = RunDir.existing(run_dir)
    cfg = config_mod.load(run.config)
    state = load_checkpoint(run.checkpoint(checkpoint))
    data = load_data(cfg.data, quiet=True)
    g, _ = build_models(cfg.model, data.size, data.channels)
    g = setup_models(cfg, g, _, data, warn=False)[0]  # the run's wrappers (e.g. a conditional G)
    use_ema = ema and state.get("G_ema") is not None
    g.load_state_dict(state["G_ema"] if use_ema else state["G"])
    from ..nn.feature_norms import has_virtual_batch_norm, set_reference

    if has_virtual_batch_norm(g):  # re-install the reference-batch hooks from the loaded buffer
        set_reference(g)
    g.eval()
    return run, cfg, state, data, g, use_ema
