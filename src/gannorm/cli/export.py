"""``gannorm export``: a run's generator as one small file for other code."""
from __future__ import annotations

import click

from . import checkpoint_option, cli, echo_err


@cli.command("export")
@click.argument("run_dir", type=click.Path(exists=True))
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="The file to write, e.g. G.pt.")
@checkpoint_option
@click.option("--ema/--no-ema", default=True, show_default=True,
              help="The EMA generator (when the run has one) or the raw G.")
def export(run_dir, out, checkpoint, ema):
    """Write the generator of RUN_DIR to OUT: its weights and what rebuilding it needs.

    \b
    In Python:  G = gannorm.load_generator("G.pt", device="cuda")   # torch.load(weights_only=True)
                x = G(torch.randn(16, G.z_dim))                      # images in G.output_range
    OUT also works wherever a run directory does: gannorm sample OUT, gannorm eval OUT --fid.
    """
    import os

    from ..evaluation import export_generator

    lg = export_generator(run_dir, out, checkpoint, ema=ema, log=echo_err)
    s = lg.spec
    click.echo(f"wrote {out} ({os.path.getsize(out) / 1e6:.2f} MB; {lg.which}; {s['channels']}x{s['image_size']}x"
               f"{s['image_size']} images, {s['n_classes'] or 'no'} classes, z_dim {s['z_dim']})")
