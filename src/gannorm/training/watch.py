"""A run that watches itself: the trainer's calls into the diagnostics, the health monitor
and the guard, kept here so the training loop holds one line per call.

- :func:`diagnose` every ``train.diagnostics_every`` iterations: measures
  (:mod:`gannorm.training.diagnostics`), judges (:class:`gannorm.health.Monitor`) and reports
  each warning as a line on the console, in the progress bar and in ``RUN/health.jsonl``;
- :func:`react`: the guard's answer to a warning (:mod:`gannorm.training.guard`): nothing,
  a rollback or a stop;
- :func:`diverged`: a non-finite loss under a rollback guard rolls back instead of ending the run.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Dict, List, Optional

from .. import health, outcomes
from ..errors import DivergedError, GannormError
from ..hooks import warn
from ..utils.io import atomic_write_text
from .checkpoint import check_gannorm_checkpoint, load_checkpoint
from .diagnostics import Diagnostics, finish, postfix as diag_postfix
from .guard import Guard
from .mlflow_log import MLflowSink
from .optim import apply_schedules
from .resume import record_changes

#: the events of a run (warnings, clearings, rollbacks, stops), one JSON object per line
EVENTS_FILE = "health.jsonl"
#: never a real iteration: "no non-finite loss yet" (the trainer's NEVER)
_NEVER = 2**62


def setup(t) -> None:
    cfg = t.cfg.train
    if t.dist.enabled and cfg.guard.action != "warn" and cfg.guard.on:
        raise GannormError(f"train.guard.action={cfg.guard.action} works in one process only; use "
                           f"train.guard.action=warn with several processes")
    t.diagnostics = Diagnostics.for_trainer(t) if cfg.diagnostics_every else None
    t.monitor = health.Monitor(cfg.health, t.loss)
    t.guard = Guard(cfg.guard, t.run.checkpoints / "guard")
    t.stopped = None  # the guard's reason when it ended the run
    t.warnings = {}  # signal -> onset of the warnings in force (the bar shows them)


def state_dict(t) -> Dict[str, Any]:
    return {"monitor": t.monitor.state_dict(), "guard": t.guard.state_dict()}


def load_state_dict(t, s: Dict[str, Any]) -> None:
    """A checkpoint from before the diagnostics has no "health": defaults (no streak, scale 1)."""
    t.monitor.load_state_dict((s or {}).get("monitor", {}))
    t.guard.load_state_dict((s or {}).get("guard", {}))
    apply_lr_scale(t)


def resumed(t) -> None:
    """After a resume: events and kept checkpoints past the checkpoint belong to a future
    that did not happen."""
    if t.dist.is_main:
        _keep_events(t.run.root / EVENTS_FILE, t.iteration)
        t.guard.forget_after(t.iteration)
    t.warnings = {s: t.monitor.onset[s] for s in health.SIGNALS if t.monitor.warned[s]}


def apply_lr_scale(t) -> None:
    """The guard's scale on top of any learning-rate schedule (one formula: optim.apply_schedules)."""
    apply_schedules(t.opt_g, t.opt_d, t.cfg.optim, t.iteration, t.cfg.train.iterations, t.guard.lr_scale)


def started(t) -> None:
    """A rollback guard keeps the starting point, so an early warning has somewhere to go."""
    if t.guard.rolls_back and t.iteration == 0 and not t.guard.kept():
        t.guard.folder.mkdir(parents=True, exist_ok=True)
        t.save(t.guard.folder / "iter_0000000.pt")


def saved(t, iteration: int) -> None:
    t.guard.keep(t.run.latest, iteration)
    t.guard.prune(t.monitor.earliest_onset(t.guard.cfg.on))


def mlflow_sink(t, resume: bool):
    if "mlflow" not in t.cfg.train.log_to:
        return None
    return MLflowSink.open(t.run.root, t.cfg, resume)


def finished(t) -> None:
    t.log.artifacts([p for p in (t.run.latest, t.run.best) if p.exists()], "checkpoints")


# ---------------------------------------------------------------------------- each diagnostic
def diagnose(t, it: int, last: bool, logs: Dict[str, float]) -> List[health.Event]:
    n = t.cfg.train.diagnostics_every
    if t.diagnostics is None or not (it % n == 0 or last):
        return []
    values = finish(t.diagnostics.collect(t.G, t.D, t.sample_generator))
    logs.update(values)
    judged = dict(values)
    if "d_loss" in logs:
        judged["d_loss"] = logs["d_loss"]
    events = t.monitor.observe(it, judged)
    for e in events:
        if e.kind == "warning":
            t.warnings[e.signal] = e.onset
        elif e.kind == "cleared":
            t.warnings.pop(e.signal, None)
        _report(t, e)
    t.guard.prune(t.monitor.earliest_onset(t.guard.cfg.on))
    return events


def postfix(t, logs: Dict[str, float]) -> Dict[str, str]:
    out = diag_postfix(logs)
    if t.warnings:
        out["WARN"] = ",".join(f"{s}@{o}" for s, o in t.warnings.items())
    return out


def react(t, it: int, events: List[health.Event]) -> bool:
    """The guard's answer to this diagnostic's warnings: True when it rolled back or stopped."""
    for e in events:
        action = t.guard.decide(e)
        if action == "rollback":
            rollback(t, it, e)
            return True
        if action == "stop":
            stop(t, it, t.guard.stop_reason(e))
            return True
    return False


def diverged(t, err: DivergedError) -> bool:
    """A non-finite loss: roll back when the guard rolls back on divergence (True), else False."""
    if not (t.guard.rolls_back and "divergence" in t.guard.cfg.on):
        return False
    first = int(t._bad_at.min())
    onset = first if first < _NEVER else t.iteration
    e = health.Event("warning", health.DIVERGENCE, t.iteration, onset, math.nan, math.nan,
                     str(err).split(";")[0])
    _report(t, e)
    action = t.guard.decide(e)
    if action == "rollback":
        rollback(t, t.iteration, e)
        return True
    if action == "stop":
        return False  # the divergence ends the run as usual (status diverged)
    return False


def rollback(t, it: int, e: health.Event) -> None:
    to, path = t.guard.healthy(e.onset)
    best, guard_state = dict(t.best), t.guard.state_dict()
    before = [g["lr"] for opt in (t.opt_g, t.opt_d) for g in opt.param_groups[:1]]
    t._load(check_gannorm_checkpoint(load_checkpoint(path), path), path)
    t.best = best  # best.pt on disk may be newer than the checkpoint returned to
    t.guard.load_state_dict(guard_state)
    t.guard.lr_scale *= t.guard.cfg.lr_factor
    apply_lr_scale(t)
    after = [g["lr"] for opt in (t.opt_g, t.opt_d) for g in opt.param_groups[:1]]
    record = {"iteration": it, "to": to, "signal": e.signal, "onset": e.onset, "lr_scale": t.guard.lr_scale}
    t.guard.rollbacks.append(record)
    t.monitor.reset()
    t.warnings = {}
    t._bad_at.fill_(_NEVER)
    t.guard.forget_after(to)
    text = (f"{e.signal} since iteration {e.onset}: back to iteration {to}, learning rates x{t.guard.cfg.lr_factor:g} "
            f"(now x{t.guard.lr_scale:g}), rollback {len(t.guard.rollbacks)} of {t.guard.cfg.max_rollbacks}")
    _report(t, health.Event("rollback", e.signal, it, e.onset, e.value, e.threshold, text))
    with t._writing(t.run.config_changes):
        record_changes(t.run.config_changes, [
            {"key": key, "old": old, "new": new, "iteration": to, "by": f"guard rollback at iteration {it}"}
            for key, old, new in zip(("optim.g_lr", "optim.d_lr"), before, after)])
    t.log.rewind(to)
    t.log.log(to, {"guard/rollbacks": len(t.guard.rollbacks), "guard/lr_scale": t.guard.lr_scale})
    t.save(t.run.latest)  # a resume from here continues with the lowered rates
    t.guard.keep(t.run.latest, to)


def stop(t, it: int, reason: str) -> None:
    t.stopped = reason
    _report(t, health.Event("stop", reason.split(" ")[0], it, it, math.nan, math.nan, reason))
    outcomes.write(t.run.root, outcomes.Outcome(outcomes.STOPPED, reason, iteration=it, by=outcomes.BY_GUARD,
                                                extra={"rollbacks": list(t.guard.rollbacks)}))


# ---------------------------------------------------------------------------- reporting
def _report(t, e: health.Event) -> None:
    line = e.line()
    if not t.quiet:
        if t._bar is not None:
            t._bar.write(f"gannorm: {line}")
        else:
            warn(line)
    with t._writing(t.run.root / EVENTS_FILE):
        with open(t.run.root / EVENTS_FILE, "a", encoding="utf-8") as f:
            f.write(json.dumps(e.to_dict()) + "\n")
    t.log.event(e.kind, e.signal, e.iteration, line)


def read_events(run_dir) -> List[Dict[str, Any]]:
    """The events of ``RUN/health.jsonl`` (an unfinished last line is skipped)."""
    path = Path(run_dir) / EVENTS_FILE
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out


def _keep_events(path: Path, iteration: Optional[int]) -> None:
    """Drop the events after ``iteration`` (None: keep all, just drop a damaged line)."""
    recs = [r for r in read_events(path.parent) if iteration is None or int(r.get("iteration", 0)) <= iteration]
    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in recs))
