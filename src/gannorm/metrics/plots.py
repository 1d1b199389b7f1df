"""Figures of the reconstruction test (Xiang & Li 2017): the mean error per z-optimisation
step, and a grid of (held-out image, G's reconstruction) pairs, both on the [0,1] scale."""
from __future__ import annotations

from pathlib import Path

import torch

from .reconstruction import _device_of
from ..utils.images import unit_range


def plot_recon(g, images, res, out_dir: Path, stem: str, max_pairs: int = 32):
    """Write ``<stem>-curve.png`` and ``<stem>-pairs.png`` (8 per row: image, reconstruction,
    ...) into ``out_dir``; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(range(len(res.curve)), res.curve)
    ax.set_xlabel("z-optimisation step")
    ax.set_ylabel("mean reconstruction error\n(MSE per pixel value, [0,1])")
    ax.set_yscale("log")
    best_of = f", best of {res.restarts + 1} starts" if res.restarts else ""
    ax.set_title(f"{len(res.per_image)} held-out images, final {res.mean:.4f}{best_of}", fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    curve = out_dir / f"{stem}-curve.png"
    fig.savefig(curve, dpi=120)
    plt.close(fig)
    n = min(max_pairs, len(images))
    x = images[:n].float() / (255.0 if images.dtype == torch.uint8 else 1.0)
    with torch.no_grad():
        dev = _device_of(g)
        z = res.z[:n].to(dev)
        rec = (g(z) if res.labels is None else g(z, y=res.labels[:n].to(dev))).cpu()
    rec = unit_range(rec, getattr(g, "output_range", (0.0, 1.0)))
    if x.shape[1] != rec.shape[1]:
        x = x.expand(-1, rec.shape[1], -1, -1)
    pairs = torch.stack([x, rec], 1).flatten(0, 1)
    grid = out_dir / f"{stem}-pairs.png"
    _labelled_pairs(pairs, grid, ncol=8)
    return [curve, grid]


def _labelled_pairs(pairs: torch.Tensor, path: Path, ncol: int, pad: int = 2) -> None:
    """The pairs grid with each column headed "real" or "reconstruction" (they alternate)."""
    import matplotlib.pyplot as plt
    from torchvision.utils import make_grid

    grid = make_grid(pairs, nrow=ncol, padding=pad, pad_value=1.0)
    h, w = pairs.shape[2:]
    cols = min(ncol, len(pairs))
    fig = plt.figure(figsize=(max(4.0, grid.shape[2] / 40), grid.shape[1] / 40 + 0.5))
    ax = fig.add_axes([0, 0, 1, grid.shape[1] / (grid.shape[1] + 20)])
    ax.imshow(grid.permute(1, 2, 0).numpy(), interpolation="nearest")
    for c in range(cols):
        ax.text(pad + c * (w + pad) + w / 2, -3, "real" if c % 2 == 0 else "reconstruction",
                ha="center", va="bottom", fontsize=6)
    ax.set_axis_off()
    fig.savefig(path, dpi=160)
    plt.close(fig)
