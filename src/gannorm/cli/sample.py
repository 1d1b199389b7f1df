from __future__ import annotations

from pathlib import Path

import click

from ..errors import GannormError

from . import cli

@cli.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("-n", "--num", default=64, show_default=True, help="Number of images in the grid.")
@click.option("--out", type=click.Path(dir_okay=False), help="PNG path (default RUN_DIR/samples/sample-<seed>.png).")
@click.option("--checkpoint", default="latest", show_default=True, help="latest, best, or a checkpoint file.")
@click.option("--seed", default=0, show_default=True, help="Seed of the z vectors.")
@click.option("--ema/--no-ema", default=True, show_default=True, help="Use the EMA generator when the run has one.")
@click.option("--truncation", type=float, default=None,
              help="Truncation trick (BigGAN): z ~ N(0, I) re-drawn where |z_i| > this threshold, e.g. 0.5.")
@click.option("--label", type=int, default=None,
              help="Class of every sample (conditional runs); default: the classes in turn.")
def sample(run_dir, num, out, checkpoint, seed, ema, truncation, label):
    """Write a PNG grid of NUM samples from a trained run."""
    import math

    import torch
    from torchvision.utils import save_image

    from ..training.load import load_generator as _load_generator

    if num <= 0:
        raise GannormError(f"-n must be > 0, got {num}")
    run, cfg, state, _, g, used_ema = _load_generator(run_dir, checkpoint, ema)
    from ..tricks import truncated_normal

    z = truncated_normal(num, g.z_dim, truncation, generator=torch.Generator().manual_seed(seed))
    n_classes = getattr(g, "n_classes", None)
    if label is not None and n_classes is None:
        raise GannormError("--label needs a conditional run (train.tricks.conditional)")
    if label is not None and not 0 <= label < n_classes:
        raise GannormError(f"--label must be in 0..{n_classes - 1}, got {label}")
    with torch.no_grad():
        x = g(z) if label is None else g(z, y=torch.full((num,), label, dtype=torch.long))
    lo, hi = getattr(g, "output_range", (0.0, 1.0))
    path = Path(out) if out else run.samples / f"sample-{seed}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(((x - lo) / (hi - lo)).clamp(0, 1), path, nrow=max(1, int(math.sqrt(num))))
    click.echo(f"wrote {path} ({num} samples, iteration {state['iteration']}, "
               f"{'EMA ' if used_ema else ''}generator, checkpoint {checkpoint}"
               f"{f', truncation {truncation}' if truncation else ''}{f', class {label}' if label is not None else ''})")
