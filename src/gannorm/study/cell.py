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
from ..errors import GannormError
from ..metrics.reconstruction import reconstruction_error
from ..training import Trainer
from ..training.checkpoint import load_checkpoint
from ..training.logging import read_metrics
from ..utils.io import atomic_write_text
from . import stability


def run_cell(config_path: str, run_dir: str, final_steps: int | None, final_images: int | None,
             diversity_samples: int = 256) -> dict:
    t0 = time.time()
    cfg = config_mod.load(config_path)
    from ..training.rundir import RunDir

    resume = RunDir(run_dir).latest.exists()
    trainer = Trainer(cfg, run_dir, quiet=True, resume=resume)
    res = trainer.train()

    g = trainer.G
    ckpt = trainer.run.best if trainer.run.best.exists() else trainer.run.latest
    g.load_state_dict(load_checkpoint(ckpt, map_location=trainer.device)["G"])
    idx = trainer.split.final_test[:final_images] if final_images else trainer.split.final_test
    steps = final_steps or cfg.eval.final_steps
    imgs = torch.from_numpy(np.ascontiguousarray(trainer.data.images[idx]))
    final = reconstruction_error(g, imgs, steps=steps, lr=cfg.eval.test_lr, device=trainer.device)

    # diversity of the final (EMA) generator against real training images, both on [0,1]
    gen = torch.Generator().manual_seed(0)
    sg = trainer.sample_generator
    sg.load_state_dict(load_checkpoint(trainer.run.latest, map_location=trainer.device)
                       ["G_ema" if trainer.ema is not None else "G"])
    sg.eval()
    with torch.no_grad():
        z = torch.randn(diversity_samples, sg.z_dim, generator=gen).to(trainer.device)
        lo, hi = trainer.out_range
        fake = ((sg(z) - lo) / (hi - lo)).clamp(0, 1).cpu()
    pick = np.sort(np.random.RandomState(0).choice(trainer.split.train, min(diversity_samples, len(trainer.split.train)),
                                                   replace=False))
    real = torch.from_numpy(np.ascontiguousarray(trainer.data.images[pick])).float() / 255
    metrics = read_metrics(trainer.run.metrics)
    running = [m["recon_running"] for m in metrics if "recon_running" in m]
    out = {
        "status": "done", "iterations": res.iteration, "final_recon": final.mean, "final_steps": steps,
        "final_images": len(idx), "final_checkpoint": ckpt.name,
        "best_running": res.best_recon, "best_iteration": res.best_iteration,
        "diversity": stability.diversity_ratio(fake, real), "d_wins": stability.d_wins(metrics),
        "worse_count": stability.worse_count(running), "seconds": time.time() - t0,
        "final_curve": final.curve,
    }
    atomic_write_text(trainer.run.root / "result.json", json.dumps(out, indent=1))
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
        run_cell(a.config, a.run_dir, a.final_steps, a.final_images, a.diversity_samples)
    except GannormError as e:
        print(f"gannorm: error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
