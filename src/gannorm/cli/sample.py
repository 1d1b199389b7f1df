from __future__ import annotations

from pathlib import Path

import click

from ..errors import GannormError
from . import checkpoint_option, cli, device_option, echo_err


@cli.command()
@click.argument("run_dir", type=click.Path(exists=True))
@click.option("-n", "--num", default=64, show_default=True, help="Number of images in the grid.")
@click.option("--out", type=click.Path(dir_okay=False),
              help="PNG path (default RUN_DIR/samples/sample-<seed>.png, or FILE-sample-<seed>.png beside a file).")
@checkpoint_option
@click.option("--seed", default=0, show_default=True, help="Seed of the z vectors.")
@click.option("--ema/--no-ema", default=True, show_default=True, help="Use the EMA generator when the run has one.")
@click.option("--truncation", type=float, default=None,
              help="Truncation trick (BigGAN): z ~ N(0, I) re-drawn where |z_i| > this threshold, e.g. 0.5.")
@click.option("--label", type=int, default=None,
              help="Class of every sample (conditional runs); default: the classes in turn.")
@device_option
def sample(run_dir, num, out, checkpoint, seed, ema, truncation, label, device):
    """Write a PNG grid of NUM samples from a trained run (RUN_DIR, or a file from gannorm export).
    Needs only the checkpoint, not the training data."""
    import math

    import torch
    from torchvision.utils import save_image

    from ..evaluation import open_generator
    from ..training import resolve_device
    from ..tricks import truncated_normal

    if num <= 0:
        raise GannormError(f"-n must be > 0, got {num}")
    dev = resolve_device(device)
    lg = open_generator(run_dir, checkpoint, ema=ema, device=dev)
    if lg.note:
        echo_err(lg.note)
    g = lg.G
    z = truncated_normal(num, g.z_dim, truncation, generator=torch.Generator().manual_seed(seed)).to(dev)
    n_classes = getattr(g, "n_classes", None)
    if label is not None and n_classes is None:
        raise GannormError("--label needs a conditional run (train.tricks.conditional)")
    if label is not None and not 0 <= label < n_classes:
        raise GannormError(f"--label must be in 0..{n_classes - 1}, got {label}")
    with torch.no_grad():
        x = g(z) if label is None else g(z, y=torch.full((num,), label, dtype=torch.long, device=dev))
    lo, hi = getattr(g, "output_range", (0.0, 1.0))
    default = (lg.run.samples / f"sample-{seed}.png" if lg.run
               else lg.file.with_name(f"{lg.file.stem}-sample-{seed}.png"))
    path = Path(out) if out else default
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(((x - lo) / (hi - lo)).clamp(0, 1).cpu(), path, nrow=max(1, int(math.sqrt(num))))
    click.echo(f"wrote {path} ({num} samples, {lg.which}"
               f"{f', truncation {truncation}' if truncation else ''}{f', class {label}' if label is not None else ''})")
