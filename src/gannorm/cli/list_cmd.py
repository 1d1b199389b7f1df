from __future__ import annotations


import click

from ..errors import GannormError

from . import cli

#: a trick's registered ``phase``, as the list shows it
PHASES = {"d": "D step", "g": "G step", "both": "D and G steps", "model": "wraps G or D"}


@cli.command("list")
@click.argument("kind", required=False)
def list_cmd(kind):
    """List the registered names (norms, losses, models, datasets, optimizers, metrics)."""
    # read from the plug-ins' source: listing names needs no torch (gannorm.registry_index)
    from ..registry_index import help_text, names

    regs = {"norms": "NORMS", "losses": "LOSSES", "models": "MODELS", "datasets": "DATASETS",
            "optimizers": "OPTIMIZERS", "metrics": "METRICS", "tricks": "TRICKS"}
    if kind and kind not in regs:
        raise GannormError(f"unknown kind {kind!r}; valid: {', '.join(regs)}")
    for k, var in regs.items():
        if kind and k != kind:
            continue
        click.echo(f"{k}:")
        for n in names(var):
            click.echo(f"  {n:22s} {help_text(var, n)}")
