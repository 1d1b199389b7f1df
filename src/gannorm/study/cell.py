"""One study cell, run in its own process: train (or resume), final test, diversity.

    python -m gannorm.study.cell CONFIG.yaml RUN_DIR [--final-steps N] [--final-images N]

Writes RUN_DIR/result.json atomically. A user error (e.g. a NaN loss) prints one line on
stderr and exits 2; the study records it and goes on with the other cells.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import torch

from .. import config as config_mod
from .. import plugins  # noqa: F401  (fills the registries that validation asks)
from ..errors import GannormError
from ..evaluation import final_recon_test, make_trainer, open_generator
from ..training import RunDir
from ..training.logging import read_metrics
from ..utils.io import atomic_write_text
from . import stability


def run_cell(config_path: str, run_dir: str, final_steps: int | None, final_images: int | None,
             diversity_samples: int = 256) -> dict:
    t0 = time.time()
    cfg = config_mod.load(config_path)
    resume = RunDir(run_dir).latest.exists()
    trainer = make_trainer(cfg, run_dir, quiet=True, resume=resume)
    res = trainer.train()
    # the same final test as `gannorm eval RUN --recon` (best checkpoint, held-out final set)
    final = final_recon_test(run_dir, steps=final_steps, checkpoint="best", n_images=final_images)

    # diversity of the final (EMA) generator against real training images, both on [0,1]
    g, data = open_generator(run_dir, "latest", ema=True).G, trainer.data
    with torch.no_grad():
        z = torch.randn(diversity_samples, g.z_dim, generator=torch.Generator().manual_seed(0))
        lo, hi = getattr(g, "output_range", (0.0, 1.0))
        fake = ((g(z.to(next(g.parameters()).device)) - lo) / (hi - lo)).clamp(0, 1).cpu()
    pick = np.sort(np.random.RandomState(0).choice(trainer.split.train, min(diversity_samples, len(trainer.split.train)),
                                                   replace=False))
    real = torch.from_numpy(np.ascontiguousarray(data.images[pick])).float() / 255
    metrics = read_metrics(trainer.run.metrics)
    running = [m["recon_running"] for m in metrics if "recon_running" in m]
    out = {
        "status": "done", "iterations": res.iteration, "final_recon": final.result.mean,
        "final_steps": final.result.steps, "final_images": int(final.result.per_image.numel()),
        "final_json": str(final.json_path),
        "best_running": res.best_recon, "best_iteration": res.best_iteration,
        "diversity": stability.diversity_ratio(fake, real), "d_wins": stability.d_wins(metrics),
        "worse_count": stability.worse_count(running), "seconds": time.time() - t0,
        "final_curve": final.result.curve,
    }
    atomic_write_text(trainer.run.root / "result.json", json.dumps(out, indent=1))
    return out


def run_logged(config_path: str, run_dir: str, final_steps: int | None, final_images: int | None,
               diversity_samples: int = 256, say=print) -> dict:
    """``run_cell`` with a line at the start (resumed or not) and one at the end, for the cell's log."""
    latest = RunDir(run_dir).latest
    start = f"resuming from its last checkpoint ({latest})" if latest.exists() else "from scratch"
    say(f"cell {run_dir}: config {config_path}, {start}", flush=True)
    out = run_cell(config_path, run_dir, final_steps, final_images, diversity_samples)
    say(f"done: {out['iterations']} iterations in {out['seconds']:.1f} s; final test recon {out['final_recon']:.5f} "
        f"({out['final_images']} held-out images, {out['final_steps']} steps); diversity {out['diversity']:.3f}",
        flush=True)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("config")
    ap.add_argument("run_dir")
    ap.add_argument("--final-steps", type=int)
    ap.add_argument("--final-images", type=int)
    ap.add_argument("--diversity-samples", type=int, default=256)
    a = ap.parse_args(argv)
    try:
        run_logged(a.config, a.run_dir, a.final_steps, a.final_images, a.diversity_samples)
    except GannormError as e:
        print(f"gannorm: error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
