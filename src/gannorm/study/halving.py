"""Selection by successive halving on Ray Tune's ASHA scheduler.

Successive halving (Jamieson & Talwalkar 2016; asynchronous form ASHA, Li et al. 2020):
every method trains for a first rung of ``r`` iterations; at rung ``k`` (``r * eta**k``
iterations, ``eta = 1 / keep``) a method continues only if its value is in the best
``keep`` fraction of those already judged at that rung, i.e. better than the
``(1 - 1/eta)`` percentile of their values; the survivors train to the full budget.

Seeds: one Tune trial is one *method* (a cell's labels without the seed axis). The trial
trains its seeds in lockstep, rung by rung, and reports the mean of the metric over its
seeds, so a method is judged on that mean, never on one lucky or unlucky seed. A seed whose
training stops (a non-finite loss) counts as +inf (worst), so a diverging method is
dropped at the next rung.

ASHA is asynchronous: a method reaching a rung is compared with those that reached it
before; the first one there always continues. With as many methods running at once as
there are methods the decisions equal synchronous halving; with fewer, early methods are
kept more easily (never stopped wrongly more easily), which costs compute, not correctness
of the ranking among survivors.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional

import yaml

from ..errors import GannormError
from ..evaluation import make_trainer
from ..training import RunDir
from ..training.logging import read_metrics
from ..utils.io import atomic_write_text
from . import cell as cell_mod
from . import selection
from .grid import Cell, Study, cell_id
from .ingest import put_cell
from .ray_backend import cell_resources, storage_dir
from .ray_cluster import check_resources, connected
from .store import Store


@dataclass
class Plan:
    metric: str
    mode: str  # min | max
    first_rung: int
    eta: int
    full: int
    methods: Dict[str, List[Cell]]

    @property
    def rungs(self) -> List[int]:
        """ASHA's milestones below the full budget (the same arithmetic as its ``_Bracket``)."""
        n = int(math.log(self.full / self.first_rung) / math.log(self.eta) + 1)
        return [m for m in (self.first_rung * self.eta ** k for k in range(n)) if m < self.full]


def method_of(study: Study, cell: Cell) -> str:
    labels = {k: v for k, v in cell.labels.items() if k != study.seed_axis}
    return cell_id(labels) if labels else "all"


def make_plan(study: Study, cells: List[Cell]) -> Plan:
    spec = dict(study.halving)
    unknown = set(spec) - {"first_rung", "keep", "metric", "mode"}
    if unknown:
        raise GannormError(f"unknown halving key(s) {', '.join(sorted(unknown))}; valid: first_rung, keep, metric, mode")
    fulls = {c.config.train.iterations for c in study.cells}
    if len(fulls) != 1:
        raise GannormError(f"successive halving needs one budget for every cell; train.iterations takes "
                           f"{sorted(fulls)} in this study")
    full = fulls.pop()
    interval = {c.config.eval.test_interval for c in study.cells}
    metric = str(spec.get("metric", "recon_running"))
    keep = float(spec.get("keep", 0.5))
    eta = round(1 / keep) if 0 < keep < 1 else 0
    if eta < 2 or abs(eta * keep - 1) > 1e-6:
        raise GannormError(f"halving.keep must be 1/n for an integer n >= 2 (0.5, 0.333...), got {keep}")
    step = max(interval) if metric == "recon_running" else 1
    if metric == "recon_running" and (len(interval) != 1 or step <= 0):
        raise GannormError("halving on recon_running needs one eval.test_interval > 0 for every cell")
    first = int(spec.get("first_rung") or max(step, (full // 8) // step * step))
    if first <= 0 or first >= full or first % step:
        raise GannormError(f"halving.first_rung must be below train.iterations ({full}) and a multiple of "
                           f"eval.test_interval ({step}) so the metric is measured there; got {first}")
    mode = str(spec.get("mode", "min"))
    if mode not in ("min", "max"):
        raise GannormError(f"halving.mode must be min or max, got {mode!r}")
    methods: Dict[str, List[Cell]] = {}
    for c in study.cells:
        methods.setdefault(method_of(study, c), []).append(c)
    todo = {c.id for c in cells}
    methods = {m: cs for m, cs in methods.items() if any(c.id in todo for c in cs)}
    return Plan(metric, mode, first, eta, full, methods)


def _value_at(metrics: List[Dict], key: str, it: int) -> Optional[float]:
    vals = [m[key] for m in metrics if key in m and m["iteration"] <= it]
    return float(vals[-1]) if vals else None


def train_method(config: Dict, plan: Plan, runs: str, final: Dict, threads: int) -> None:
    """A Tune trial: every seed of one method, rung by rung, reporting the mean over seeds."""
    import torch
    from ray import tune

    torch.set_num_threads(max(1, threads))
    cells = plan.methods[config["method"]]
    errors: Dict[str, str] = {}
    bad = math.inf if plan.mode == "min" else -math.inf
    history = []
    for m in plan.rungs + [plan.full]:
        values, payload = [], {}
        for c in cells:
            run_dir = Path(runs) / c.id
            if c.id not in errors:
                try:
                    if m < plan.full:
                        make_trainer(c.config, run_dir, quiet=True, resume=RunDir(run_dir).latest.exists()).train(until=m)
                    else:
                        cfg_path = run_dir / "cell.yaml"
                        atomic_write_text(cfg_path, yaml.safe_dump(c.config.to_dict(), sort_keys=False))
                        payload[c.id] = {"result": cell_mod.run_cell(str(cfg_path), str(run_dir), **final)}
                except GannormError as e:
                    errors[c.id] = f"gannorm: error: {e}"
            metrics = read_metrics(run_dir / "metrics.jsonl") if (run_dir / "metrics.jsonl").exists() else []
            v = None if c.id in errors else _value_at(metrics, plan.metric, m)
            values.append(bad if v is None or not math.isfinite(v) else v)
            payload.setdefault(c.id, {}).update(metrics=metrics, error=errors.get(c.id),
                                                iterations=metrics[-1]["iteration"] if metrics else 0)
        mean = sum(values) / len(values)
        history.append([m, mean])
        tune.report({"iteration": m, "value": mean, "history": json.dumps(history), "cells": json.dumps(payload)})


def run_halving(study: Study, cells: List[Cell], paths: Dict[str, Path], store: Store, opts,
                on_done: Optional[Callable[[Dict], None]] = None) -> List[Dict]:
    plan = make_plan(study, cells)
    res = cell_resources(opts.resources)
    runs = storage_dir(opts.storage, paths["runs"])
    final = {"spec": study.final_test, "diversity_samples": study.diversity_samples}
    with connected(opts.address) as ray:
        check_resources(ray, res)
        from ray import tune
        from ray.tune.schedulers import ASHAScheduler

        scheduler = ASHAScheduler(time_attr="iteration", metric="value", mode=plan.mode, max_t=plan.full,
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
    outcomes = {}
    for r in grid:
        method = r.config["method"]
        last = r.metrics or {}
        outcomes[method] = {"history": json.loads(last.get("history", "[]")), "cells": json.loads(last.get("cells", "{}")),
                            "error": f"{type(r.error).__name__}: {r.error}".splitlines()[0] if r.error else None}
    decisions = selection.decide(plan.rungs, plan.full, plan.mode,
                                 {m: o["history"] for m, o in outcomes.items()})
    rows = []
    for method, o in outcomes.items():
        stopped = next((d for d in decisions if d["method"] == method and d["decision"] == "stopped"), None)
        for c in plan.methods[method]:
            p = o["cells"].get(c.id, {})
            if p.get("error") or o["error"] or not o["history"]:
                status, error = "failed", p.get("error") or o["error"] or "the trial reported nothing"
            elif stopped:
                status, error = "stopped", selection.why(stopped, plan.metric, plan.eta)
            else:
                status, error = "done", None
            result = dict(p.get("result") or {})
            if status != "done":
                result = {"iterations": p.get("iterations")}
            row = put_cell(store, c, runs / c.id, status, error, result, p.get("metrics", []))
            rows.append(row)
            if on_done:
                on_done(row)
    used = sum(r["iterations"] or 0 for r in store.runs() if r["cell_id"] in {c.id for c in study.cells})
    selection.save(store, decisions, {"metric": plan.metric, "mode": plan.mode, "keep": f"1/{plan.eta}",
                                      "rungs": ",".join(map(str, plan.rungs)), "full_budget": plan.full,
                                      "iterations_used": used, "iterations_full_grid": plan.full * len(study.cells)})
    return rows
