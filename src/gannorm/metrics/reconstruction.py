"""The reconstruction error of Xiang & Li 2017 (arXiv 1704.03971), section "evaluation".

How well can G reproduce images it never saw? For a held-out image x,

    r(x) = min_z ||G(z) - x||^2 / D,      D = number of pixel values (C*H*W)

with pixels on the [0, 1] scale whatever range G outputs; the score is the mean of r
over the test set. The authors' protocol (their code, main.py ``test()``): z starts at 0,
G frozen in eval mode, z optimised by RMSProp(lr 0.01, alpha 0.9, eps 1e-6) on the MSE,
no clipping, no restarts; 50 steps for the running test.

Batching: each image's z is optimised on its own objective. We minimise the *sum* over a
chunk of the per-image mean squared errors, so every z sees exactly the gradient it would
see alone, and RMSProp is elementwise: the result does not depend on the chunk size.
(The authors averaged over a batch of 32, which scales each gradient by 1/32; RMSProp is
nearly invariant to that scale, except through eps.)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

import torch

from ..errors import GannormError


@dataclass
class ReconResult:
    mean: float  # mean over images of the per-image error (per pixel value, [0,1] scale)
    per_image: torch.Tensor  # (N,) final error of each image
    z: torch.Tensor  # (N, z_dim) the recovered codes
    curve: List[float]  # mean error before step 1, after step 1, ..., after the last step
    steps: int
    restarts: int

    def to_dict(self) -> dict:
        return {"mean": self.mean, "steps": self.steps, "restarts": self.restarts,
                "n_images": int(self.per_image.numel()), "curve": self.curve,
                "scale": "mean squared error per pixel value, pixels in [0,1]"}


def _to_unit(x: torch.Tensor, out_range) -> torch.Tensor:
    lo, hi = out_range
    return x if (lo, hi) == (0.0, 1.0) else (x - lo) / (hi - lo)


def _check(generator, images: torch.Tensor, steps: int):
    if steps <= 0:
        raise GannormError(f"reconstruction steps must be > 0, got {steps}")
    if images.ndim != 4 or images.shape[0] == 0:
        raise GannormError(f"reconstruction wants a non-empty (N,C,H,W) batch of images, got shape "
                           f"{tuple(images.shape)}")
    if images.dtype == torch.uint8:
        return images.float() / 255.0
    images = images.float()
    lo, hi = float(images.min()), float(images.max())
    if lo < -1e-6 or hi > 1 + 1e-6:
        raise GannormError(f"reconstruction target images must be in [0,1] (or uint8); got values in "
                           f"[{lo:.3g}, {hi:.3g}]")
    return images


def reconstruction_error(generator: torch.nn.Module, images: torch.Tensor, *, steps: int = 50,
                         lr: float = 0.01, alpha: float = 0.9, eps: float = 1e-6, restarts: int = 0,
                         clamp: Optional[float] = None, chunk_size: Optional[int] = None,
                         seed: int = 0, device: Optional[torch.device] = None) -> ReconResult:
    """Optimise z so that G(z) matches each image; report the mean squared error.

    Args:
        generator: G; must have ``z_dim``; its ``output_range`` (default (0,1)) maps outputs to [0,1].
        images: (N,C,H,W) float in [0,1] or uint8.
        steps: RMSProp steps per image (running test: 50).
        restarts: extra starts from z ~ N(0, I) (seeded by ``seed``) after the paper's z = 0
            start; the best per image is kept. Use it when G's latent space is multimodal and
            one start gets stuck; the paper uses none, so figures with restarts are not the
            paper's number.
        clamp: if set, z is clamped to [-clamp, clamp] after each step, for generators trained
            on a bounded prior (e.g. uniform z) where codes far outside it are meaningless.
        chunk_size: images optimised at once (memory only; the result does not depend on it).
    """
    x_all = _check(generator, images, steps)
    dev = device or next(generator.parameters()).device
    z_dim = generator.z_dim
    out_range = getattr(generator, "output_range", (0.0, 1.0))
    n = x_all.shape[0]
    chunk = chunk_size or n
    was_training = generator.training
    flags = [p.requires_grad for p in generator.parameters()]
    generator.eval()
    for p in generator.parameters():
        p.requires_grad_(False)
    gen = torch.Generator().manual_seed(seed)
    try:
        best_err = torch.full((n,), float("inf"))
        best_z = torch.zeros(n, z_dim)
        curve_sum = None
        for r in range(restarts + 1):
            z0 = torch.zeros(n, z_dim) if r == 0 else torch.randn(n, z_dim, generator=gen)
            curves = []
            for s in range(0, n, chunk):
                x = x_all[s:s + chunk].to(dev)
                errs, z, c = _optimise(generator, x, z0[s:s + chunk].to(dev), steps, lr, alpha, eps,
                                       clamp, out_range)
                curves.append(c)
                better = errs.cpu() < best_err[s:s + chunk]
                best_err[s:s + chunk] = torch.where(better, errs.cpu(), best_err[s:s + chunk])
                best_z[s:s + chunk][better] = z.cpu()[better]
            if r == 0:  # the curve follows the paper's protocol (z = 0 start)
                curve_sum = torch.stack(curves).sum(0) / n
    finally:
        for p, f in zip(generator.parameters(), flags):
            p.requires_grad_(f)
        generator.train(was_training)
    if not torch.isfinite(best_err).all():
        raise GannormError("reconstruction produced non-finite errors: the generator outputs NaN/inf")
    return ReconResult(float(best_err.mean()), best_err, best_z, [float(v) for v in curve_sum],
                       steps, restarts)


def _optimise(g, x, z0, steps, lr, alpha, eps, clamp, out_range):
    """Returns the final per-image errors, final z, and the per-step *sum* of errors."""
    z = z0.clone().requires_grad_(True)
    opt = torch.optim.RMSprop([z], lr=lr, alpha=alpha, eps=eps)
    curve = torch.zeros(steps + 1)
    with torch.enable_grad():
        for i in range(steps):
            per = (_to_unit(g(z), out_range) - x).pow(2).flatten(1).mean(1)
            curve[i] = per.detach().sum().cpu()
            opt.zero_grad(set_to_none=True)
            per.sum().backward()
            opt.step()
            if clamp is not None:
                with torch.no_grad():
                    z.clamp_(-clamp, clamp)
    with torch.no_grad():
        per = (_to_unit(g(z), out_range) - x).pow(2).flatten(1).mean(1)
    curve[steps] = per.sum().cpu()
    return per, z.detach(), curve
