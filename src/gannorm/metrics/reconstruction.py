"""The reconstruction error of Xiang & Li 2017 (arXiv 1704.03971), section "evaluation".

How well can G reproduce images it never saw? For a held-out image x,

    r(x) = min_z ||G(z) - x||^2 / D,      D = number of pixel values (C*H*W)

with pixels on the [0, 1] scale whatever range G outputs; the score is the mean of r
over the test set. The authors' protocol (their code, pytorch/main.py ``test()``): z
starts at 0, G frozen in eval mode, z optimised by RMSProp(lr 0.01, alpha 0.9, eps 1e-6)
on ``nn.MSELoss()`` of a batch of 32 images, no clipping, no restarts; 50 steps for the
running test. The error reported is the one after the last step.

Batching: each image's z is optimised on its own objective. We minimise the *sum* over a
chunk of the per-image errors, each divided by the constant ``authors_batch`` (32), so
every z sees exactly the gradient it saw in the authors' batch of 32 (their batch mean
divides it by 32) and RMSProp is elementwise: the result does not depend on our chunk
size, and it reproduces theirs. Why keep the 1/32: RMSProp is invariant to a gradient
scale c except through eps, which then acts as eps/c; dropping the 1/32 would be a
32x smaller effective eps, a (small) departure from their numbers.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import List, Optional

import numpy as np
import torch

from ..errors import GannormError
from ..registry import METRICS
from ..utils.progress import Progress, ProgressArg

#: Of the estimated free memory, the share a chunk's activations may take.
MEMORY_SHARE = 0.5
#: On a CPU, the most memory a chunk's activations may take. Big chunks are *slower* there
#: (cache misses): benchmarks/recon.py, 2000 images on the 32x32 DCGAN, 1 thread, s/step:
#: chunk 250 3.25, 667 3.97, 2000 4.82; 256 MiB gives ~230 for that G.
CPU_BUDGET_BYTES = 256 << 20


@dataclass
class ReconResult:
    mean: float  # mean over images of the per-image error (per pixel value, [0,1] scale)
    per_image: torch.Tensor  # (N,) final error of each image (the best start with restarts)
    z: torch.Tensor  # (N, z_dim) the recovered codes (CPU)
    curve: List[float]  # mean error at z_0 (before step 1), after step 1, ..., after the last step
    steps: int
    restarts: int
    chunk_size: int  # images optimised at once (does not change the result)
    labels: Optional[torch.Tensor] = None  # (N,) the class each image was reconstructed as (conditional G)

    def to_dict(self) -> dict:
        return {"mean": self.mean, "steps": self.steps, "restarts": self.restarts,
                "n_images": int(self.per_image.numel()), "chunk_size": self.chunk_size,
                "curve": self.curve, "per_image": [float(v) for v in self.per_image],
                "scale": "mean squared error per pixel value, pixels in [0,1]"}


def _to_unit(x: torch.Tensor, out_range) -> torch.Tensor:
    lo, hi = out_range
    return x if (lo, hi) == (0.0, 1.0) else (x - lo) / (hi - lo)


def _device_of(generator: torch.nn.Module) -> torch.device:
    for t in list(generator.parameters()) + list(generator.buffers()):
        return t.device
    return torch.device("cpu")


def _as_unit_images(images) -> torch.Tensor:
    """(N,C,H,W) float in [0,1] from a uint8 or [0,1]-float tensor or array, or a clear error."""
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(np.ascontiguousarray(images))
    if not torch.is_tensor(images):
        raise GannormError(f"reconstruction wants images as a tensor or numpy array, got {type(images).__name__}")
    if images.ndim != 4:
        raise GannormError(f"reconstruction wants images shaped (N,C,H,W), got shape {tuple(images.shape)}; "
                           f"add the missing axes (e.g. x[:, None] for grayscale)")
    if images.shape[0] == 0:
        raise GannormError("reconstruction got an empty set of images; pass at least one held-out image")
    if images.dtype == torch.uint8:
        return images.float().div_(255.0)
    if not images.is_floating_point():
        raise GannormError(f"reconstruction wants uint8 images or floats in [0,1], got dtype {images.dtype}")
    images = images.float()
    if not torch.isfinite(images).all():
        raise GannormError("reconstruction target images contain NaN or inf values; clean the data first")
    lo, hi = float(images.min()), float(images.max())
    if lo < -1e-6 or hi > 1 + 1e-6:
        hint = " (they look like [-1,1] images: pass (x + 1) / 2)" if lo < 0 and hi <= 1 + 1e-6 else ""
        raise GannormError(f"reconstruction target images must be floats in [0,1] or uint8, got values in "
                           f"[{lo:.3g}, {hi:.3g}]{hint}")
    return images


def _check_labels(generator, labels, n: int) -> Optional[torch.Tensor]:
    k = getattr(generator, "n_classes", None)
    if k is None:
        if labels is not None:
            raise GannormError("reconstruction got labels but the generator is not conditional (no n_classes)")
        return None
    labels = torch.arange(n) % k if labels is None else torch.as_tensor(labels).long().flatten().cpu()
    if labels.shape[0] != n or (n and not 0 <= int(labels.min()) <= int(labels.max()) < k):
        raise GannormError(f"reconstruction labels must be {n} classes in 0..{k - 1}, got shape "
                           f"{tuple(labels.shape)} with values {int(labels.min())}..{int(labels.max())}")
    return labels


def _output_shape(generator, z_dim: int, dev) -> torch.Size:
    with torch.no_grad():
        return generator(torch.zeros(1, z_dim, device=dev)).shape[1:]


def check_settings(steps, lr=0.01, restarts=0, clamp=None, chunk_size=None, authors_batch=32):
    """Refuse settings no score can come from, before any work (``reconstruction_error`` calls it too)."""
    if not isinstance(steps, int) or isinstance(steps, bool) or steps <= 0:
        raise GannormError(f"reconstruction steps must be a positive integer, got {steps!r}")
    if not lr > 0:
        raise GannormError(f"reconstruction lr must be > 0, got {lr!r}")
    if restarts < 0:
        raise GannormError(f"reconstruction restarts must be >= 0, got {restarts!r}")
    if clamp is not None and not clamp > 0:
        raise GannormError(f"reconstruction clamp must be > 0 (or None for no clamp), got {clamp!r}")
    if chunk_size is not None and chunk_size <= 0:
        raise GannormError(f"reconstruction chunk_size must be > 0 (or None for automatic), got {chunk_size!r}")
    if not authors_batch > 0:
        raise GannormError(f"reconstruction authors_batch must be > 0, got {authors_batch!r}")


def activation_bytes_per_image(generator, z_dim: int, dev) -> int:
    """Bytes one image costs in a forward+backward: every module output, kept for the backward
    and matched by its gradient, plus the same again as headroom for workspaces."""
    total = [0]

    def hook(_m, _i, out):
        if torch.is_tensor(out):
            total[0] += out.numel() * out.element_size()

    handles = [m.register_forward_hook(hook) for m in generator.modules() if not list(m.children())]
    try:
        with torch.no_grad():
            generator(torch.zeros(1, z_dim, device=dev))
    finally:
        for h in handles:
            h.remove()
    return max(total[0], 4) * 3


def _available_bytes(dev: torch.device) -> int:
    if dev.type == "cuda":
        free, _ = torch.cuda.mem_get_info(dev)
        return int(free * MEMORY_SHARE)
    try:
        avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # not Linux: assume a modest machine
        avail = 4 << 30
    return int(min(avail * MEMORY_SHARE, CPU_BUDGET_BYTES))


def auto_chunk_size(generator, n: int, dev: torch.device) -> int:
    """As many images at once as memory allows: the whole set when it fits.

    Rule: at most budget / bytes per image, budget = half the free GPU memory, or on a CPU
    half the available RAM capped at 256 MiB (``CPU_BUDGET_BYTES``), bytes per image from
    one traced forward; then split N into that many equal chunks (2000 images, room for
    1400: two chunks of 1000, not 1400 + 600, so no chunk runs a small, less efficient batch).
    """
    per = activation_bytes_per_image(generator, generator.z_dim, dev)
    most = max(1, min(n, _available_bytes(dev) // per))
    n_chunks = -(-n // most)
    return int(-(-n // n_chunks))


@METRICS.register("recon", help="The paper's reconstruction error of held-out images, min_z ||G(z) - x||^2 / D "
                                "(Xiang & Li 2017); lower is better",
                  kind="reconstruction", flag="--recon", key="mean", label="reconstruction error", better="lower",
                  fmt=lambda r: f"reconstruction error: {r['mean']:.5f} (MSE per pixel value, [0,1] scale)")
def reconstruction_error(generator: torch.nn.Module, images, *, steps: int, lr: float = 0.01,
                         restarts: int = 0, alpha: float = 0.9, eps: float = 1e-6,
                         clamp: Optional[float] = None, authors_batch: float = 32,
                         chunk_size: Optional[int] = None, seed: int = 0,
                         device: Optional[torch.device] = None, labels=None,
                         progress: ProgressArg = False) -> ReconResult:
    """The paper's reconstruction error: r(x) = min_z ||G(z) - x||^2 / (C*H*W), pixels in [0,1].

    Each image's z starts at 0 and takes ``steps`` RMSProp steps on its own error; the
    result is the mean over images of the error after the last step (Xiang & Li 2017).

    Args:
        generator: G; must have ``z_dim``; its ``output_range`` (default (0,1)) maps its
            outputs to [0,1] so errors compare with the paper's whatever G's last layer.
        images: (N,C,H,W) uint8, or float in [0,1]; C,H,W must match G's output.
        steps: RMSProp steps per image (the authors' running test: 50).
        lr, alpha, eps: RMSProp settings; the defaults are the authors'.
        restarts: extra starts from z ~ N(0, I) (seeded by ``seed``) after the z = 0 start;
            the lowest error per image is kept, so it is never worse than none. Use it when
            one start gets stuck in a poor local minimum of a multimodal latent space; the
            paper uses none, so numbers with restarts are not the paper's.
        clamp: if set, z is clamped to [-clamp, clamp] after each step. Use it for a G
            trained on a bounded prior (uniform z), where codes far outside it produce
            images G was never trained to make; the paper does not clamp.
        authors_batch: each image's error is divided by this constant, as the authors'
            batch-mean over 32 images did; through RMSProp's eps it changes the numbers
            slightly (see the module docstring). 1 = the plain per-image objective.
        chunk_size: images optimised at once; memory and speed only, the result does not
            depend on it. None = as many as memory allows (``auto_chunk_size``).
        device: where to compute; default G's device.
        labels: (N,) classes for a conditional G (one with ``n_classes``), e.g. the images'
            own labels (``recon_labels``); default image index mod ``n_classes``, a rule of
            the image's place in the set, so chunking never changes which class it gets.
        progress: report z-steps done (``gannorm.utils.progress``): True a bar, "auto" a
            bar on a terminal, a callable(done, total, desc), False nothing.

    Returns:
        ``ReconResult`` with the mean, the per-image errors, the recovered z and the
        mean-error-per-step curve (of the z = 0 start, the paper's protocol).
    """
    check_settings(steps, lr, restarts, clamp, chunk_size, authors_batch)
    z_dim = getattr(generator, "z_dim", None)
    if not isinstance(z_dim, int):
        raise GannormError(f"the generator ({type(generator).__name__}) has no integer z_dim attribute; "
                           f"set generator.z_dim to its latent size")
    x_all = _as_unit_images(images)
    dev = torch.device(device) if device is not None else _device_of(generator)
    out_range = getattr(generator, "output_range", (0.0, 1.0))
    n = x_all.shape[0]
    labels = _check_labels(generator, labels, n)
    was_training = generator.training
    flags = [p.requires_grad for p in generator.parameters()]
    # Frozen, in eval mode (BN uses its running statistics), as the authors' test(); frozen
    # weights also spare the backward the weight gradients.
    generator.eval()
    for p in generator.parameters():
        p.requires_grad_(False)
    bar = None
    try:
        shape = _output_shape(generator, z_dim, dev)
        if tuple(shape) != tuple(x_all.shape[1:]):
            c, h, w = x_all.shape[1:]
            raise GannormError(f"the images are {c}x{h}x{w} (CxHxW) but the generator makes "
                               f"{'x'.join(map(str, shape))} images; resize/convert the images "
                               f"(data.image_size, data.channels) or use the matching generator")
        chunk = chunk_size or auto_chunk_size(generator, n, dev)
        gen = torch.Generator().manual_seed(seed)
        best_err = torch.full((n,), float("inf"))
        best_z = torch.zeros(n, z_dim)
        curve_sum = None
        n_chunks = -(-n // chunk)
        bar = Progress(progress, (restarts + 1) * n_chunks * steps, "reconstruction", unit="step")
        for r in range(restarts + 1):
            z0 = torch.zeros(n, z_dim) if r == 0 else torch.randn(n, z_dim, generator=gen)
            curve = torch.zeros(steps + 1, dtype=torch.float64, device=dev)
            for s in range(0, n, chunk):
                x = x_all[s:s + chunk].to(dev)
                y = None if labels is None else labels[s:s + chunk].to(dev)
                errs, z = _optimise(generator, x, z0[s:s + chunk].to(dev), y, steps, lr, alpha, eps,
                                    clamp, out_range, 1.0 / authors_batch, curve, bar.update)
                errs, z = errs.cpu(), z.cpu()
                better = errs < best_err[s:s + chunk]
                best_err[s:s + chunk] = torch.where(better, errs, best_err[s:s + chunk])
                best_z[s:s + chunk][better] = z[better]
            if r == 0:  # the curve follows the paper's protocol (the z = 0 start)
                curve_sum = (curve / n).cpu()
    finally:
        if bar is not None:
            bar.close()
        for p, f in zip(generator.parameters(), flags):
            p.requires_grad_(f)
        generator.train(was_training)
    if not torch.isfinite(best_err).all():
        raise GannormError("reconstruction produced non-finite errors: the generator outputs NaN/inf "
                           "(a diverged checkpoint?); evaluate an earlier or the best checkpoint")
    return ReconResult(float(best_err.mean()), best_err, best_z, [float(v) for v in curve_sum],
                       steps, restarts, chunk, labels)


def recon_labels(generator: torch.nn.Module, labels, indices) -> Optional[torch.Tensor]:
    """The classes a conditional G reconstructs the images ``indices`` of a dataset as: the
    images' own labels when the data has them; None otherwise (``reconstruction_error`` then
    uses image index mod classes) and for an unconditional G."""
    if getattr(generator, "n_classes", None) is None or labels is None:
        return None
    return torch.as_tensor(np.asarray(labels)[np.asarray(indices)], dtype=torch.long)


def _generate(g, z, y):
    return g(z) if y is None else g(z, y=y)


def _optimise(g, x, z0, y, steps, lr, alpha, eps, clamp, out_range, scale, curve, tick):
    """One chunk: returns the final per-image errors and z; adds the per-step error sums to
    ``curve`` (kept on the device, so a GPU never waits for a copy inside the loop); calls
    ``tick()`` after each step."""
    z = z0.clone().requires_grad_(True)
    opt = torch.optim.RMSprop([z], lr=lr, alpha=alpha, eps=eps)
    with torch.enable_grad():
        for i in range(steps):
            per = (_to_unit(_generate(g, z, y), out_range) - x).pow(2).flatten(1).mean(1)
            curve[i] += per.detach().sum()
            opt.zero_grad(set_to_none=True)
            (per.sum() * scale).backward()
            opt.step()
            if clamp is not None:
                with torch.no_grad():
                    z.clamp_(-clamp, clamp)
            tick()
    with torch.no_grad():
        per = (_to_unit(_generate(g, z, y), out_range) - x).pow(2).flatten(1).mean(1)
    curve[steps] += per.sum()
    return per, z.detach()
