from __future__ import annotations

from pathlib import Path

import click

from ..errors import GannormError
from . import Count, checkpoint_option, cli, device_option, echo_err


CHUNK = 256  # images generated at once


@cli.command()
@click.argument("run_dir", type=click.Path(exists=True))
@click.option("-n", "--num", type=Count(1, 10**6), default=64, show_default=True,
              help="Number of images in the grid.")
@click.option("--out", type=click.Path(dir_okay=False),
              help="PNG path (default RUN_DIR/samples/sample-<seed>.png, or FILE-sample-<seed>.png beside a file).")
@checkpoint_option
@click.option("--seed", type=Count(0, 2**63 - 1), default=0, show_default=True, help="Seed of the z vectors.")
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

    from ..evaluation import open_generator
    from ..training import resolve_device
    from ..training.memory import check_sampling_fits
    from ..tricks import truncated_normal
    from ..utils.images import unit_range
    from ..utils.io import atomic_save_image

    dev = resolve_device(device)
    lg = open_generator(run_dir, checkpoint, ema=ema, device=dev)
    if lg.note:
        echo_err(lg.note)
    g = lg.G
    check_sampling_fits(lg.spec, num, dev)  # before generating: the OOM killer leaves nothing to catch
    z = truncated_normal(num, g.z_dim, truncation, generator=torch.Generator().manual_seed(seed)).to(dev)
    n_classes = getattr(g, "n_classes", None)
    if label is not None and n_classes is None:
        raise GannormError("--label needs a conditional run (train.tricks.conditional)")
    if label is not None and not 0 <= label < n_classes:
        raise GannormError(f"--label must be in 0..{n_classes - 1}, got {label}")
    y = None if label is None else torch.full((num,), label, dtype=torch.long, device=dev)
    with torch.no_grad():  # in chunks: G is in eval mode, so each image is what one batch would give
        x = torch.cat([(g(zc) if y is None else g(zc, y=yc)).cpu()
                       for zc, yc in zip(z.split(CHUNK), y.split(CHUNK) if y is not None else [None] * len(z))])
    lo, hi = getattr(g, "output_range", (0.0, 1.0))
    default = (lg.run.samples / f"sample-{seed}.png" if lg.run
               else lg.file.with_name(f"{lg.file.stem}-sample-{seed}.png"))
    path = Path(out) if out else default
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        atomic_save_image(unit_range(x, (lo, hi)).cpu(), path, nrow=max(1, int(math.sqrt(num))))
    except OSError as e:
        raise GannormError(f"could not write {path}: {e.strerror or e}; free some space or give --out a "
                           f"writable place (nothing was written)") from None
    click.echo(f"wrote {path} ({num} samples, {lg.which}"
               f"{f', truncation {truncation}' if truncation else ''}{f', class {label}' if label is not None else ''})")
