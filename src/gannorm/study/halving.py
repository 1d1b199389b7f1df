"""Selection by successive halving: synchronous (the default) on any backend, or Ray Tune's
asynchronous ASHA (``halving.scheduler: asha``).

Successive halving (Jamieson & Talwalkar 2016): every method trains for a first rung of
``r`` iterations; at rung ``k`` (``r * eta**k`` iterations, ``eta = 1 / keep``) the methods
still in the race are ranked on the mean of the metric over their seeds and the best
``ceil(keep * n)`` continue; the survivors train to the full budget and take the final test.

Seeds: a *method* is a cell's labels without the seed axis; all its seeds train to each rung,
so a method is judged on their mean, never on one lucky or unlucky seed. A seed that
diverges is stored as ``diverged`` and counts as the worst value, so its method ranks last.

``sync`` (default, :func:`run_sync`): a rung is decided when every method still in the race
has reached it (the local process pool or Ray tasks train the cells to the rung, resuming
from their checkpoints), so the decisions do not depend on the order in which cells finish
(``selection.rank_rung``). Each decided rung is stored before the next starts; an
interrupted study resumes to the same decisions. A rung's cut records its margin against the
standard error of the difference (``selection.margin``), flagged as a close call when below.

``asha`` (Li et al. 2020, Ray Tune's ``ASHAScheduler``): a method reaching a rung is compared
with those that reached it before, the first one there always continues. It wastes no worker
waiting for a rung, so it suits many more methods than workers, but its decisions depend on
the arrival order: with eta 2, arrivals 0.1, 0.2, 0.3, 0.4 stop 0.2, while 0.5, 0.2, 0.3, 0.4
stop 0.4 and keep the worse 0.5. A failed seed is scored :data:`FAILED_SCORE` (a large finite
value in the worse direction: Ray's cut-off is a percentile, which an infinity turns into NaN).
"""
from __future__ import annotations

import difflib
from fractions import Fraction
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import torch
import yaml

from .. import outcomes
from ..errors import DivergedError, GannormError
from ..evaluation import make_trainer
from ..registry import METRICS
from ..training import RunDir
from ..training.logging import read_metrics
from ..utils.io import atomic_write_text
from . import cell as cell_mod
from ..store import selection
from .cells import StudyInterrupted
from .ray_backend import cell_resources, storage_dir
from .ray_cluster import check_resources, connected
from .grid import DRAW_AXIS, Cell, Study, cell_id
from .ingest import put_cell
from ..store import Store

SCHEDULERS = ("sync", "asha")
#: what a configuration competes against at a rung: every other one (``all``), or only the other
#: drawn settings of its own method (``method``, the default with a sample section: each method
#: then keeps the same share of its draws, so the tuning budget stays equal across methods)
BRACKETS = ("method", "all")
#: a failed or diverged seed's value under ASHA, in the worse direction (finite: see the module doc)
FAILED_SCORE = 1e30
#: which way is better for a logged value, by its name before ``_<extractor>``


@dataclass
class Plan:
    metric: str
    mode: str  # min | max
    first_rung: int
    eta: int
    full: int
    methods: Dict[str, List[Cell]]
    scheduler: str = "sync"
    keep: float = 0.5
    all_methods: Dict[str, List[Cell]] = field(default_factory=dict)
    brackets: Dict[str, str] = field(default_factory=dict)  # configuration -> the bracket it competes in
    bracket: str = "all"  # BRACKETS

    @property
    def rungs(self) -> List[int]:
        """The rungs below the full budget: ``first_rung * eta**k`` (the same arithmetic as
        ASHA's ``_Bracket``)."""
        n = int(math.log(self.full / self.first_rung) / math.log(self.eta) + 1)
        return [m for m in (self.first_rung * self.eta ** k for k in range(n)) if m < self.full]


def method_of(study: Study, cell: Cell) -> str:
    labels = {k: v for k, v in cell.labels.items() if k != study.seed_axis}
    return cell_id(labels) if labels else "all"


def logged_metrics(cfg) -> Dict[str, Tuple[int, str]]:
    """The values a run logs at fixed intervals: key -> (interval, the value's name):
    ``recon_running`` (every ``eval.test_interval``) and each sample-quality value of
    ``eval.metrics`` (``<name>_<extractor>`` every ``eval.metrics_interval``)."""
    out = {}
    if cfg.eval.test_interval > 0:
        out["recon_running"] = (cfg.eval.test_interval, "recon_running")
    tag = str(cfg.eval.extractor).split(":")[0]
    for m in cfg.eval.metrics or []:
        key = METRICS.attr(m, "key", m)
        for name in METRICS.attr(m, "logged", (key,)):
            if cfg.eval.metrics_interval:
                out[f"{name}_{tag}"] = (cfg.eval.metrics_interval, name)
    return out


def direction(name: str) -> Optional[str]:
    """``min`` or ``max`` for a logged value's name (``recon_running``, ``fid``, ``recall``, ...),
    from the registration of the metric that logs it (its ``better``); None if unknown."""
    if name == "recon_running":
        return "min"
    for m in METRICS.names():
        if name in METRICS.attr(m, "logged", ()) or name == METRICS.attr(m, "key"):
            better = METRICS.attr(m, "better")
            return {"lower": "min", "higher": "max"}.get(better)
    return None


def make_plan(study: Study, cells: List[Cell]) -> Plan:
    """The halving settings, each checked against what the runs log, before anything starts."""
    spec = dict(study.halving)
    valid = ("first_rung", "keep", "metric", "mode", "scheduler", "bracket")
    unknown = set(spec) - set(valid)
    if unknown:
        raise GannormError(f"unknown halving key(s) {', '.join(sorted(unknown))}; valid: {', '.join(valid)}")
    scheduler = str(spec.get("scheduler", "sync"))
    if scheduler not in SCHEDULERS:
        raise GannormError(f"halving.scheduler must be sync or asha, got {scheduler!r}")
    fulls = {c.config.train.iterations for c in study.cells}
    if len(fulls) != 1:
        raise GannormError(f"successive halving needs one budget for every cell; train.iterations takes "
                           f"{sorted(fulls)} in this study")
    full = fulls.pop()
    logged = [logged_metrics(c.config) for c in study.cells]
    common = {k: v for k, v in logged[0].items() if all(l.get(k) == v for l in logged)}
    metric = str(spec.get("metric", "recon_running"))
    if metric not in common:
        near = [k for k, (_, name) in common.items() if name == metric]  # "fid" for fid_<extractor>
        if len(near) == 1:
            metric = near[0]
        else:
            hint = difflib.get_close_matches(metric, list(common), n=1)
            raise GannormError(
                f"halving.metric {metric!r} is not logged at a fixed interval by every cell"
                + (f" (did you mean {hint[0]!r}?)" if hint else "")
                + f"; valid: {', '.join(sorted(common)) or 'none: set eval.test_interval > 0 for recon_running'}")
    step, name = common[metric]
    try:
        keep = float(Fraction(str(spec.get("keep", 0.5))))
    except (ValueError, ZeroDivisionError):
        raise GannormError(f"halving.keep must be a fraction 1/n (0.5, 1/3, ...), got {spec.get('keep')!r}") from None
    eta = round(1 / keep) if 0 < keep < 1 else 0
    if eta < 2 or abs(eta * keep - 1) > 1e-6:
        raise GannormError(f"halving.keep must be 1/n for an integer n >= 2 (0.5, 0.333...), got {keep}")
    first = int(spec.get("first_rung") or max(step, (full // 8) // step * step))
    if first <= 0 or first >= full or first % step:
        raise GannormError(f"halving.first_rung must be below train.iterations ({full}) and a multiple of the "
                           f"interval {metric} is logged at ({step}) so it is measured there; got {first}")
    better = direction(name)
    mode = str(spec.get("mode", better or "min"))
    if mode not in ("min", "max"):
        raise GannormError(f"halving.mode must be min or max, got {mode!r}")
    if better and mode != better:
        raise GannormError(f"halving.mode {mode} would keep the worst methods: {'lower' if better == 'min' else 'higher'} "
                           f"{metric} is better; give mode: {better} or leave mode out")
    drawn = any(a.name == DRAW_AXIS for a in study.axes)
    bracket = str(spec.get("bracket", "method" if drawn else "all"))
    if bracket not in BRACKETS:
        raise GannormError(f"halving.bracket must be {' or '.join(BRACKETS)}, got {bracket!r}")
    if bracket == "method" and not drawn:
        raise GannormError("halving.bracket: method halves each method's drawn settings: it needs a sample "
                           "section (draws); without one give bracket: all or leave it out")
    if bracket == "method" and scheduler == "asha":
        raise GannormError("halving.bracket: method needs scheduler: sync (ASHA judges every cell in one "
                           "bracket); or give bracket: all")
    methods: Dict[str, List[Cell]] = {}
    brackets: Dict[str, str] = {}
    for c in study.cells:
        name = method_of(study, c)
        methods.setdefault(name, []).append(c)
        rest = {k: v for k, v in c.labels.items() if k not in (study.seed_axis, DRAW_AXIS)}
        brackets[name] = (cell_id(rest) or "all") if bracket == "method" else "all"
    todo = {c.id for c in cells}
    plan = Plan(metric, mode, first, eta, full, {m: cs for m, cs in methods.items() if any(c.id in todo for c in cs)},
                scheduler, keep, methods, brackets, bracket)
    for m in plan.rungs:
        if m % step:
            raise GannormError(f"halving rung {m} is not a multiple of the interval {metric} is logged at ({step}): "
                               f"choose halving.first_rung and keep so that every rung is")
    return plan


def asha_value(seed_values: List[Optional[float]], mode: str) -> float:
    """What an ASHA trial reports for a method: the mean over its seeds, a failed seed (None,
    a non-finite value) counted as :data:`FAILED_SCORE` in the worse direction."""
    bad = FAILED_SCORE if mode == "min" else -FAILED_SCORE
    vals = [bad if v is None or not math.isfinite(v) else v for v in seed_values]
    return sum(vals) / len(vals)


def _value_at(metrics: List[Dict], key: str, it: int) -> Optional[float]:
    vals = [m[key] for m in metrics if key in m and m["iteration"] <= it]
    return float(vals[-1]) if vals else None


def _seed(study: Study, c: Cell) -> str:
    return str(c.labels.get(study.seed_axis, "0")) if study.seed_axis else "0"


# ---------------------------------------------------------------------------------- synchronous

def run_sync(study: Study, plan: Plan, store: Store, paths: Dict[str, Path], pool, todo: List[Cell],
             on_done: Optional[Callable[[Dict], None]] = None, retry_failed: bool = False) -> List[Dict]:
    """Synchronous successive halving on ``pool`` (``run(batch, on_result)``: the local process
    pool or Ray tasks). Rungs already decided in the store are kept as they are."""
    decided: Dict[int, Dict[str, str]] = {}
    for r in selection.load(store)[0]:
        decided.setdefault(r["iteration"], {})[r["method"]] = r["decision"]
    todo_ids = {c.id for c in todo}
    rows: List[Dict] = []
    ends: Dict[str, Tuple] = {}  # cell id -> (outcome, result, metrics) of its last run

    def on_result(cell, run_dir, outcome, result, metrics):
        ends[cell.id] = (outcome, result, metrics, run_dir)
        if outcome is not None:  # finished, diverged, failed or killed: stored now; paused: not yet
            row = put_cell(store, cell, run_dir, outcome, result, metrics)
            rows.append(row)
            if on_done:
                on_done(row)

    alive = sorted(plan.all_methods)
    for k, m in enumerate(plan.rungs + [plan.full]):
        final = m == plan.full
        if not final and m in decided and set(alive) <= set(decided[m]):
            alive = [a for a in alive if decided[m][a] == "continued"]
            continue
        batch = []
        for method in alive:
            for c in plan.all_methods[method]:
                st = store.outcome(c.id) or {}
                dead = st.get("status") in ("diverged", "failed") and c.id not in todo_ids
                if dead or (final and c.id not in todo_ids):
                    continue  # a seed that diverged stays out; a finished one is not run again
                batch.append((c, None if final else m))
        pool.run(batch, on_result)
        values: Dict[str, Dict[str, float]] = {}
        waiting = []
        for method in alive:
            values[method] = {}
            for c in plan.all_methods[method]:
                if c.id in ends:  # ran in this session: its end decides
                    o, metrics = ends[c.id][0], ends[c.id][2]
                    status, by, why = (o.status, o.by, o.reason) if o else (None, None, None)
                else:
                    st = store.outcome(c.id) or {}
                    status, by, why = st.get("status"), st.get("stopped_by"), st.get("error")
                    metrics = [{"iteration": i, plan.metric: v} for i, v in store.series(c.id, plan.metric)]
                if outcomes.is_failure(status, by) if status else False:
                    values[method][_seed(study, c)] = math.inf  # diverged: the worst value
                    continue
                if status in (outcomes.FAILED, outcomes.KILLED):
                    waiting.append(f"{c.id} ({status}: {why or 'no reason'})")
                    continue
                v = _value_at(metrics, plan.metric, m)
                if v is None:
                    waiting.append(f"{c.id} (no {plan.metric} logged by iteration {m})")
                    continue
                values[method][_seed(study, c)] = v if math.isfinite(v) else math.inf
        if waiting:
            raise GannormError(f"successive halving cannot decide the rung at iteration {m}: "
                               f"{len(waiting)} cell(s) have no value there, e.g. {waiting[0]}; fix the cause and "
                               f"rerun with --retry-failed (the decided rungs are kept)")
        if not final and not any(math.isfinite(selection._score(list(v.values()))) for v in values.values()):
            raise GannormError(f"successive halving at iteration {m}: no method has a finite {plan.metric} "
                               f"(every one has a diverged seed); nothing can be selected: lower the learning "
                               f"rates or choose another halving.metric")
        decisions, summary = [], {}
        groups: Dict[str, Dict[str, Dict[str, float]]] = {}
        for method, v in values.items():
            groups.setdefault(plan.brackets.get(method, "all"), {})[method] = v
        for name, group in sorted(groups.items()):
            rows_k, cut = selection.decide_rung(k, m, group, plan.keep, plan.mode, final)
            decisions += rows_k
            if cut:
                summary[f"margin@{m}" + (f"@{name}" if len(groups) > 1 else "")] = cut
        selection.save(store, decisions, summary)
        if final:
            break
        for d in decisions:
            if d["decision"] != "stopped":
                continue
            reason = selection.why(d, plan.metric, plan.eta)
            for c in plan.all_methods[d["method"]]:
                st = store.outcome(c.id) or {}
                paused_now = c.id in ends and ends[c.id][0] is None
                if st.get("status") in ("done", "diverged", "failed", "killed", "stopped") and not paused_now:
                    continue  # its own ending stands (a run finished earlier stays finished)
                _, result, metrics, run_dir = ends.get(c.id, (None, {}, None, paths["runs"] / c.id))
                if metrics is None:
                    metrics = [{"iteration": i, plan.metric: v} for i, v in store.series(c.id, plan.metric)]
                o = outcomes.Outcome(outcomes.STOPPED, reason, iteration=m, by=outcomes.BY_SELECTION)
                if Path(run_dir).is_dir():
                    outcomes.write(run_dir, o)
                row = put_cell(store, c, run_dir, o, {**(result or {}), "finals": {}}, metrics)
                rows.append(row)
                if on_done:
                    on_done(row)
        alive = [d["method"] for d in decisions if d["decision"] == "continued"]
    _summary(store, study, plan)
    return rows


def _summary(store: Store, study: Study, plan: Plan) -> None:
    ids = {c.id for c in study.cells}
    used = sum(r["iterations"] or 0 for r in store.runs() if r["cell_id"] in ids)
    selection.save(store, [], {"metric": plan.metric, "mode": plan.mode, "keep": f"1/{plan.eta}",
                               "scheduler": plan.scheduler, "rungs": ",".join(map(str, plan.rungs)),
                               "bracket": plan.bracket,
                               "full_budget": plan.full, "iterations_used": used,
                               "iterations_full_grid": plan.full * len(study.cells)})


# ---------------------------------------------------------------------------------- ASHA (Ray Tune)

def train_method(config: Dict, plan: Plan, runs: str, final: Dict, threads: int) -> None:
    """A Tune trial: every seed of one method, rung by rung, reporting the mean over seeds."""
    from ray import tune

    torch.set_num_threads(max(1, threads))
    cells = plan.methods[config["method"]]
    ended: Dict[str, Dict] = {}  # cell id -> its outcome (as a dict) once it diverged or failed
    history = []
    for m in plan.rungs + [plan.full]:
        values, payload = [], {}
        for c in cells:
            run_dir = Path(runs) / c.id
            if c.id not in ended:
                try:
                    if m < plan.full:
                        make_trainer(c.config, run_dir, quiet=True, resume=RunDir(run_dir).latest.exists()).train(until=m)
                    else:
                        cfg_path = run_dir / "cell.yaml"
                        atomic_write_text(cfg_path, yaml.safe_dump(c.config.to_dict(), sort_keys=False))
                        payload[c.id] = {"result": cell_mod.run_cell(str(cfg_path), str(run_dir), **final)}
                except DivergedError as e:  # a loss for its method, not a failure of the study
                    ended[c.id] = {"status": outcomes.DIVERGED, "reason": str(e).splitlines()[0]}
                except GannormError as e:
                    ended[c.id] = {"status": outcomes.FAILED, "reason": str(e).splitlines()[0]}
            metrics = read_metrics(run_dir / "metrics.jsonl") if (run_dir / "metrics.jsonl").exists() else []
            v = None if c.id in ended else _value_at(metrics, plan.metric, m)
            values.append(v)
            payload.setdefault(c.id, {}).update(metrics=metrics, outcome=ended.get(c.id),
                                                iterations=metrics[-1]["iteration"] if metrics else 0)
        mean = asha_value(values, plan.mode)
        history.append([m, mean])
        tune.report({"iteration": m, "value": mean, "history": json.dumps(history), "cells": json.dumps(payload)})


def run_asha(study: Study, cells: List[Cell], paths: Dict[str, Path], store: Store, opts,
             on_done: Optional[Callable[[Dict], None]] = None) -> List[Dict]:
    plan = make_plan(study, cells)
    res = cell_resources(opts.resources)
    runs = storage_dir(opts.storage, paths["runs"])
    final = {"spec": study.final_test, "diversity_samples": study.diversity_samples}
    stopped_by_scheduler = set()
    with connected(opts.address) as ray:
        check_resources(ray, res)
        from ray import tune
        from ray.tune.schedulers import ASHAScheduler, TrialScheduler

        class RecordingASHA(ASHAScheduler):
            """ASHA that remembers which trials it stopped: a trial that ends short of the budget
            without being stopped here was interrupted (Ctrl-C), not beaten."""

            def on_trial_result(self, runner, trial, result):
                decision = super().on_trial_result(runner, trial, result)
                if decision == TrialScheduler.STOP and result.get("iteration", 0) < plan.full:
                    stopped_by_scheduler.add(trial.config["method"])
                return decision

        scheduler = RecordingASHA(time_attr="iteration", metric="value", mode=plan.mode, max_t=plan.full,
                                  grace_period=plan.first_rung, reduction_factor=plan.eta, stop_last_trials=False)
        trainable = tune.with_resources(
            tune.with_parameters(train_method, plan=plan, runs=str(runs), final=final, threads=max(1, int(res["cpu"]))),
            {"cpu": res["cpu"], "gpu": res["gpu"]})
        tuner = tune.Tuner(
            trainable, param_space={"method": tune.grid_search(list(plan.methods))},
            tune_config=tune.TuneConfig(scheduler=scheduler, num_samples=1),
            run_config=tune.RunConfig(name=f"halving-{time.strftime('%Y%m%d-%H%M%S')}",
                                      storage_path=str((paths["db"].parent / "tune").resolve()), verbose=0,
                                      failure_config=tune.FailureConfig(max_failures=opts.max_retries)))
        grid = tuner.fit()
    trials = {}
    for r in grid:
        last = r.metrics or {}
        trials[r.config["method"]] = {"history": json.loads(last.get("history", "[]")),
                                      "cells": json.loads(last.get("cells", "{}")),
                                      "error": f"{type(r.error).__name__}: {r.error}".splitlines()[0] if r.error else None}
    interrupted = [m for m, t in trials.items() if not t["error"] and m not in stopped_by_scheduler
                   and (not t["history"] or max(i for i, _ in t["history"]) < plan.full)]
    decisions = selection.decide(plan.rungs, plan.full, plan.mode,
                                 {m: t["history"] for m, t in trials.items() if m not in interrupted})
    rows = []
    for method, t in trials.items():
        if method in interrupted:
            continue  # nothing recorded: a rerun resumes it from its checkpoints
        stopped = next((d for d in decisions if d["method"] == method and d["decision"] == "stopped"), None)
        for c in plan.methods[method]:
            p = t["cells"].get(c.id, {})
            if p.get("outcome"):
                o = outcomes.Outcome(p["outcome"]["status"], p["outcome"]["reason"], iteration=p.get("iterations"))
            elif t["error"] or not t["history"]:
                o = outcomes.Outcome(outcomes.FAILED, t["error"] or "the trial reported nothing")
            elif stopped:
                o = outcomes.Outcome(outcomes.STOPPED, selection.why(stopped, plan.metric, plan.eta),
                                     iteration=stopped["iteration"], by=outcomes.BY_SELECTION)
            else:
                o = outcomes.Outcome(outcomes.DONE, iteration=plan.full)
            result = dict(p.get("result") or {}) if o.status == outcomes.DONE else {"iterations": p.get("iterations")}
            if (runs / c.id).is_dir():
                outcomes.write(runs / c.id, o)
            row = put_cell(store, c, runs / c.id, o, result, p.get("metrics", []))
            rows.append(row)
            if on_done:
                on_done(row)
    selection.save(store, decisions, {})
    _summary(store, study, plan)
    if interrupted:
        raise StudyInterrupted(f"successive halving was interrupted before {len(interrupted)} method(s) were decided "
                               f"(e.g. {interrupted[0]}); nothing was recorded for them: run the same command again "
                               f"to resume them from their checkpoints", 2)
    return rows
