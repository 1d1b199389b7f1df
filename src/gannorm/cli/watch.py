"""``gannorm watch RUN``: a run's health, while it trains or after, from its files only."""
from __future__ import annotations

import math
import time
from pathlib import Path

import click

from . import cli


def _in_use(run_root: Path) -> bool:
    """Whether a process holds the run's writer lock (a shared, non-blocking try; nothing is written)."""
    from ..utils.lock import LOCK_NAME

    path = run_root / LOCK_NAME
    try:
        import fcntl
    except ImportError:  # no flock: judge by the outcome file alone
        return False
    if not path.exists():
        return False
    with open(path, "r") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
    return False


def _num(v, fmt=".4g") -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    return format(f, fmt) if math.isfinite(f) else str(f)


def health_report(run_root: Path) -> list:
    """The lines of a run's health report (what ``gannorm watch`` prints once)."""
    import yaml

    from .. import config as config_mod
    from .. import health, outcomes
    from .. import plugins  # noqa: F401  (the loss's chance level comes from its registry entry)
    from ..registry import LOSSES
    from ..training import RunDir
    from ..training.logging import read_metrics
    from ..training.watch import read_events

    run = RunDir.existing(run_root)
    cfg = config_mod.load(run.config)
    metrics = read_metrics(run.metrics) if run.metrics.exists() else []
    loss = LOSSES.build(cfg.train.loss, **(cfg.train.loss_args or {}))
    lines = []
    last_it = metrics[-1]["iteration"] if metrics else 0
    outcome = outcomes.read(run.root)
    if outcome is not None:
        state = outcome.status + (f": {outcome.reason}" if outcome.reason else "") + \
            (f" at {outcome.iteration}" if outcome.iteration is not None else "")
    elif _in_use(run.root):
        state = "training"
    elif last_it >= cfg.train.iterations:
        state = "done"
    else:
        state = "not running (interrupted or paused; resume with gannorm train --resume)"
    lines.append(f"run {run.root}: iteration {last_it:,} of {cfg.train.iterations:,}; {state}")
    logged = [m for m in metrics if "d_loss" in m]
    if logged:
        m = logged[-1]
        lines.append(f"  losses (iteration {m['iteration']}): d_loss {_num(m['d_loss'])}, g_loss {_num(m['g_loss'])}"
                     + (f", {_num(m['it_per_s'], '.3g')} it/s" if "it_per_s" in m else ""))
    running = [(m["iteration"], m["recon_running"]) for m in metrics if "recon_running" in m]
    if running:
        best = min(running, key=lambda r: float(r[1]))
        worse = health.worse_count([float(v) for _, v in running], cfg.train.health.worse_by)
        lines.append(f"  running reconstruction error: {_num(running[-1][1])} at {running[-1][0]} (best {_num(best[1])} "
                     f"at {best[0]}; got worse by >{cfg.train.health.worse_by:.0%} {worse} time(s))")
    diags = [m for m in metrics if any(k.startswith("diag/") for k in m)]
    if diags:
        d = diags[-1]
        names = [(health.RT, "r_t"), (health.GAP, "r_v"), (health.DIVERSITY, "diversity"),
                 (health.GRAD_D, "|grad D|"), (health.GRAD_G, "|grad G|"), (health.GRAD_INPUT, "|grad_x D|"),
                 (health.SV_D, "top sigma D"), (health.SV_G, "top sigma G")]
        lines.append(f"  diagnostics (iteration {d['iteration']}): "
                     + ", ".join(f"{n} {_num(d[k], '.3g')}" for k, n in names if k in d))
    else:
        lines.append("  diagnostics: none logged (a run from before them, or train.diagnostics_every=0)")
    wins = health.d_wins(metrics, loss, cfg.train.health.last_steps)
    if wins:
        lines.append(f"  D wins outright over the last {cfg.train.health.last_steps} logged steps (its loss near 0)")
    # the rules over the logged diagnostics: which signals are past their threshold now
    mon = health.Monitor(cfg.train.health, loss)
    for rec in diags:
        mon.observe(int(rec["iteration"]), rec)
    active = [s for s in health.SIGNALS if mon.warned[s]]
    pending = [s for s in health.SIGNALS if mon.streak[s] and not mon.warned[s]]
    if diags:
        status = "ok" if not active else "; ".join(f"WARNING {s} since iteration {mon.onset[s]}" for s in active)
        if pending:
            status += "; " + ", ".join(f"{s} past its threshold for {mon.streak[s]} diagnostic(s)" for s in pending)
        lines.append(f"  health now: {status}")
    events = read_events(run.root)
    if events:
        lines.append("  events:")
        for e in events:
            ev = health.Event(e.get("event", "?"), e.get("signal", "?"), int(e.get("iteration", 0)),
                              int(e.get("onset", 0)), math.nan, math.nan, e.get("text", ""))
            lines.append(f"    {ev.line()}")
    if run.config_changes.exists():
        changes = yaml.safe_load(run.config_changes.read_text()) or []
        rb = [c for c in changes if str(c.get("by", "")).startswith("guard")]
        if rb:
            lines.append(f"  learning-rate changes by the guard: " + "; ".join(
                f"{c['key']} {_num(c['old'], '.3g')} -> {_num(c['new'], '.3g')} from iteration {c['iteration']}" for c in rb))
    return lines


@cli.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--follow", is_flag=True, help="Keep printing as the run trains, until it ends.")
@click.option("--interval", default=10.0, show_default=True, help="With --follow: seconds between looks.")
def watch(run_dir, follow, interval):
    """A run's health: losses, diagnostics (r_t, diversity, gradient and singular-value norms),
    the warnings in force and the guard's actions. Reads only RUN_DIR's files, so it works
    while the run trains, after it, and on runs from before the diagnostics existed."""
    root = Path(run_dir)
    seen = None
    while True:
        lines = health_report(root)
        if lines != seen:
            if seen is not None:
                click.echo("")
            click.echo("\n".join(lines))
            seen = lines
        if not follow or not _in_use(root):
            return
        time.sleep(max(interval, 0.5))
