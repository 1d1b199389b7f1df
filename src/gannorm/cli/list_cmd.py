from __future__ import annotations


import sys

import click

from ..errors import GannormError

from . import cli

#: a trick's registered ``phase``, as the list shows it
PHASES = {"d": "D step", "g": "G step", "both": "D and G steps", "model": "wraps G or D"}


@cli.command("list")
@click.argument("kind", required=False)
def list_cmd(kind):
    """List the registered names (norms, losses, models, datasets, optimizers, metrics, tricks)."""
    regs = {"norms": "NORMS", "losses": "LOSSES", "models": "MODELS", "datasets": "DATASETS",
            "optimizers": "OPTIMIZERS", "metrics": "METRICS", "tricks": "TRICKS"}
    if kind and kind not in regs:
        raise GannormError(f"unknown kind {kind!r}; valid: {', '.join(regs)}")
    from .. import registry

    # the live registries when this process filled them or another package adds plug-ins (whose
    # registrations only their import reveals); else the source index, which needs no torch
    if "gannorm.plugins" in sys.modules or registry.plugin_entry_points(external_only=True):

        def table(var):
            reg = getattr(registry, var)
            return [(n, reg.help(n), reg.attr(n, "phase")) for n in reg.names()]
    else:  # read from the plug-ins' source: listing names needs no torch (gannorm.registry_index)
        from ..registry_index import help_text, literal_attr, names

        def table(var):
            return [(n, help_text(var, n), literal_attr(var, n, "phase")) for n in names(var)]
    for k, var in regs.items():
        if kind and k != kind:
            continue
        click.echo(f"{k}:")
        for n, text, phase in table(var):
            click.echo(f"  {n:22s} {text}" + (f" [{PHASES[phase]}]" if phase in PHASES else ""))
