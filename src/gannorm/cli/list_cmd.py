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
            phase = PHASES.get(reg.attr(n, "phase"))
            click.echo(f"  {n:22s} {reg.help(n)}" + (f" [{phase}]" if phase else ""))
