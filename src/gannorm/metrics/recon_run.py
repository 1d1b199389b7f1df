"""The final reconstruction test of a run directory (``gannorm eval RUN --recon``).

The authors' final test (Xiang & Li 2017, code ``--final_test``): the best model (lowest
running error) scored on the whole held-out final set, with more z-optimisation steps
than the running test. Results go to RUN/eval/recon-<checkpoint>-<steps>steps.json.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

import numpy as np
import torch

from ..errors import GannormError
from ..utils.progress import ProgressArg
from .reconstruction import ReconResult, reconstruction_error


@dataclass
class FinalTest:
    result: ReconResult
    summary: str  # the one line printed by the CLI
    json_path: Path
    figures: List[Path] = field(default_factory=list)


def final_recon_test(run_dir, *, steps: Optional[int] = None, checkpoint: str = "best",
                     n_images: Optional[int] = None, chunk_size: Optional[int] = None,
                     restarts: int = 0, plot: bool = False, progress: ProgressArg = False) -> FinalTest:
    """Score a run's checkpoint on its held-out final test set; store and optionally plot it.

    ``checkpoint="best"`` falls back to ``latest`` for runs trained without a running test
    (they have no best.pt). ``steps`` defaults to the run's ``eval.final_steps``.
    """
    from ..training.load import load_generator as _load_generator
    from ..data import holdout_split
    from ..training import RunDir
    from ..utils.io import atomic_write_text

    if n_images is not None and n_images <= 0:
        raise GannormError(f"--n-images must be > 0, got {n_images}")
    if checkpoint == "best" and not RunDir.existing(run_dir).best.exists():
        checkpoint = "latest"
    # The raw G, never the EMA copy: the running test that chose best.pt scored the raw G.
    run, cfg, state, data, g, _ = _load_generator(run_dir, checkpoint, ema=False)
    split = holdout_split(len(data), cfg.data.holdout, cfg.data.running_holdout, cfg.data.split_seed)
    idx = split.final_test[:n_images] if n_images else split.final_test
    if len(idx) == 0:
        raise GannormError(f"{run_dir} has no held-out final test images (data.holdout=0); retrain with "
                           f"data.holdout > 0")
    steps = cfg.eval.final_steps if steps is None else steps
    imgs = torch.from_numpy(np.ascontiguousarray(data.images[idx]))
    res = reconstruction_error(g, imgs, steps=steps, lr=cfg.eval.test_lr, restarts=restarts,
                               chunk_size=chunk_size, progress=progress)
    tag = f"recon-{Path(checkpoint).stem}-{steps}steps" + (f"-{restarts}restarts" if restarts else "")
    out = {**res.to_dict(), "checkpoint": checkpoint, "iteration": int(state["iteration"]),
           "lr": cfg.eval.test_lr,
           "split": f"final test: the first {len(idx)} images of the held-out permutation "
                    f"(data.split_seed {cfg.data.split_seed}), never trained on"}
    path = run.eval / f"{tag}.json"
    atomic_write_text(path, json.dumps(out, indent=1))
    summary = (f"reconstruction error: {res.mean:.5f} (MSE per pixel value, [0,1] scale; {len(idx)} held-out "
               f"images, {steps} steps{f', best of {restarts + 1} starts' if restarts else ''}, checkpoint "
               f"{checkpoint} @ iteration {state['iteration']}) -> {path}")
    figures = []
    if plot:
        from .plots import plot_recon

        figures = plot_recon(g, imgs, res, run.eval, tag)
    return FinalTest(res, summary, path, figures)
