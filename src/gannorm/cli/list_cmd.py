from __future__ import annotations


import click

from ..errors import GannormError

from . import cli


@cli.command("list")
@click.argument("kind", required=False)
def list_cmd(kind):
    """List the registered names (norms, losses, models, datasets, optimizers, metrics)."""
    from .. import plugins  # noqa: F401
    from .. import registry as R

    regs = {"norms": R.NORMS, "losses": R.LOSSES, "models": R.MODELS, "datasets": R.DATASETS,
            "optimizers": R.OPTIMIZERS, "metrics": R.METRICS, "tricks": R.TRICKS}
    if kind and kind not in regs:
        raise GannormError(f"unknown kind {kind!r}; valid: {', '.join(regs)}")
    for k, reg in regs.items():
        if kind and k != kind:
            continue
        click.echo(f"{k}:")
        for n in reg.names():
            click.echo(f"  {n:22s} {reg.help(n)}")
