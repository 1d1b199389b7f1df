"""The final reconstruction test of a run (``gannorm eval RUN --recon``).

The authors' final test (Xiang & Li 2017, code ``--final_test``): the best model (lowest
running error) scored on the whole held-out final set, with more z-optimisation steps
than the running test. A conditional G reconstructs each image as its own class when the
data has labels (else as image index mod classes), so the score does not depend on how
the images are chunked. Results go to RUN/eval/recon-<checkpoint>-<steps>steps-<digest>.json.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, List, Optional

import numpy as np
import torch

from ..data import split_for
from ..errors import GannormError
from ..metrics.plots import plot_recon
from ..metrics.reconstruction import ReconResult, check_settings, recon_labels, reconstruction_error
from ..registry import METRICS
from ..utils.io import atomic_write_text
from ..utils.progress import ProgressArg
from .generator import DEFAULT_CHECKPOINT, open_generator
from .real_images import load_real_images
from .results import result_path


@dataclass
class FinalTest:
    result: ReconResult
    summary: str  # the one line printed by the CLI
    json_path: Path
    figures: List[Path] = field(default_factory=list)
    iteration: Optional[int] = None  # of the checkpoint scored


def final_recon_test(run_dir, *, steps: Optional[int] = None, checkpoint: str = DEFAULT_CHECKPOINT,
                     n_images: Optional[int] = None, chunk_size: Optional[int] = None,
                     restarts: int = 0, plot: bool = False, device: Optional[torch.device] = None,
                     data_root: Optional[str] = None, log: Callable[[str], None] = lambda s: None,
                     progress: ProgressArg = False) -> FinalTest:
    """Score a run's checkpoint on its held-out final test set; store and optionally plot it.

    ``checkpoint="best"`` falls back to ``latest`` for runs trained without a running test
    (they have no best.pt). ``steps`` defaults to the run's ``eval.final_steps``; ``device``
    to the GPU when one is visible.
    """
    if n_images is not None and n_images <= 0:
        raise GannormError(f"--n-images must be > 0, got {n_images}")
    device = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
    # The raw G, never the EMA copy: the running test that chose best.pt scored the raw G.
    lg = open_generator(run_dir, checkpoint, ema=False, device=device, data_root=data_root)
    if lg.note:
        log(lg.note)
    cfg, g = lg.config, lg.G
    steps = cfg.eval.final_steps if steps is None else steps
    check_settings(steps, cfg.eval.test_lr, restarts, chunk_size=chunk_size)
    no_test = GannormError(f"{run_dir} has no held-out final test images (data.holdout=0); retrain with "
                           f"data.holdout > 0")
    if cfg.data.holdout == 0:
        raise no_test
    data = load_real_images(lg.spec, cfg, data_root, log)
    split = split_for(cfg.data, len(data))
    idx = split.final_test[:n_images] if n_images else split.final_test
    if len(idx) == 0:
        raise no_test
    imgs = torch.from_numpy(np.ascontiguousarray(data.images[idx]))
    labels = recon_labels(g, data.labels, idx)
    res = reconstruction_error(g, imgs, steps=steps, lr=cfg.eval.test_lr, restarts=restarts,
                               chunk_size=chunk_size, device=device, labels=labels, progress=progress)
    out = {**res.to_dict(), "checkpoint": lg.checkpoint, "checkpoint_file": str(lg.file), "iteration": lg.iteration,
           "generator": "EMA" if lg.used_ema else "G", "lr": cfg.eval.test_lr, "device": str(device),
           "labels": None if getattr(g, "n_classes", None) is None else
           ("the images' own labels" if labels is not None else "image index mod classes"),
           "split": f"final test: the first {len(idx)} images of the held-out permutation "
                    f"(data.split_seed {cfg.data.split_seed}), never trained on"}
    settings = {"file": lg.file.name, "iteration": lg.iteration, "steps": steps, "restarts": restarts,
                "lr": cfg.eval.test_lr, "images": len(idx), "data": data.description}
    stem = f"recon-{lg.checkpoint}-it{lg.iteration}-{steps}steps" + (f"-{restarts}restarts" if restarts else "")
    path = result_path(lg.out_dir, stem, settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(out, indent=1))
    fig = METRICS.attr("recon", "fmt")(out)
    summary = (f"{fig} ({len(idx)} held-out images, {steps} steps{f', best of {restarts + 1} starts' if restarts else ''}"
               f", {lg.which}, {device}) -> {path}")
    figures = plot_recon(g, imgs, res, path.parent, path.stem) if plot else []
    return FinalTest(res, summary, path, figures, lg.iteration)
