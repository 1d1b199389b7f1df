"""Rebuild a trained generator from a run directory (for sampling and evaluation)."""
from __future__ import annotations

from .. import config as config_mod


def load_generator(run_dir, checkpoint: str = "latest", ema: bool = True):
    """(run, cfg, state, data, G, used_ema): G rebuilt from the run's config with its wrappers
    (conditional G, ...), the checkpoint's weights (the EMA copy when ``ema`` and present),
    in eval mode."""
    from ..data import load_data
    from ..models import build_models
    from ..nn.feature_norms import has_virtual_batch_norm, set_reference
    from ..tricks import setup_models
    from .checkpoint import load_checkpoint
    from .rundir import RunDir

    run = RunDir.existing(run_dir)
    cfg = config_mod.load(run.config)
    state = load_checkpoint(run.checkpoint(checkpoint))
    data = load_data(cfg.data, quiet=True)
    g, d = build_models(cfg.model, data.size, data.channels)
    g = setup_models(cfg, g, d, data, warn=False)[0]  # the run's wrappers (e.g. a conditional G)
    use_ema = ema and state.get("G_ema") is not None
    g.load_state_dict(state["G_ema"] if use_ema else state["G"])
    if has_virtual_batch_norm(g):  # re-install the reference-batch hooks from the loaded buffer
        set_reference(g)
    g.eval()
    return run, cfg, state, data, g, use_ema
