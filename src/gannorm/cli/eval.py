from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from .. import config as config_mod
from ..errors import GannormError

from . import cli
from .common import _load_generator

@cli.command("eval")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--recon", is_flag=True, help="The paper's reconstruction error on the held-out final test set.")
@click.option("--steps", type=int, default=None, help="z-optimisation steps (default: the run's eval.final_steps).")
@click.option("--checkpoint", default="best", show_default=True, help="best, latest, or a checkpoint file.")
@click.option("--n-images", type=int, default=None, help="Use only the first N held-out images.")
@click.option("--chunk-size", type=int, default=None, help="Images optimised at once (memory only).")
@click.option("--plot", is_flag=True, help="Write the per-step curve and a grid of (image, reconstruction) pairs.")
def eval_cmd(run_dir, recon, steps, checkpoint, n_images, chunk_size, plot):
    """Evaluate a trained run; results go to RUN_DIR/eval/ and are printed."""
    import numpy as np
    import torch

    from ..data import holdout_split
    from ..metrics.reconstruction import reconstruction_error
    from ..utils.io import atomic_write_text

    if not recon:
        raise GannormError("nothing to evaluate: pass --recon")
    if checkpoint == "best":
        from ..training import RunDir

        if not RunDir.existing(run_dir).best.exists():
            checkpoint = "latest"  # runs without a running test have no best.pt
    run, cfg, state, data, g, _ = _load_generator(run_dir, checkpoint, ema=False)
    split = holdout_split(len(data), cfg.data.holdout, cfg.data.running_holdout, cfg.data.split_seed)
    idx = split.final_test[:n_images] if n_images else split.final_test
    steps = steps or cfg.eval.final_steps
    imgs = torch.from_numpy(np.ascontiguousarray(data.images[idx]))
    res = reconstruction_error(g, imgs, steps=steps, lr=cfg.eval.test_lr, chunk_size=chunk_size)
    out = {**res.to_dict(), "checkpoint": checkpoint, "iteration": int(state["iteration"]),
           "split": f"final test (first {len(idx)} of the held-out permutation, seed {cfg.data.split_seed})"}
    path = run.eval / f"recon-{checkpoint.replace('/', '_')}-{steps}steps.json"
    atomic_write_text(path, json.dumps(out, indent=1))
    click.echo(f"reconstruction error: {res.mean:.5f} (MSE per pixel value, [0,1] scale; {len(idx)} held-out "
               f"images, {steps} steps, checkpoint {checkpoint} @ iteration {state['iteration']}) -> {path}")
    if plot:
        from ..metrics.plots import plot_recon

        for p in plot_recon(g, imgs, res, run.eval, f"recon-{checkpoint}-{steps}steps"):
            click.echo(f"wrote {p}")
