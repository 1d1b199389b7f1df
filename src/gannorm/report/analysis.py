"""The numbers behind a study's report, from its store: methods and panels, the final-test
results each report table uses, the statistics, the z-step budgets, stability and cost.

Methods are the cells with the seed axis removed (their runs over seeds are the sample);
panels split by the dataset axis when the study has one.
"""
from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

from .. import config as config_mod
from .. import outcomes as O
from ..errors import GannormError
from ..registry import METRICS
from ..store import statistics as S
from ..store.db import Store, label_of
from ..store.final_test import FinalTestSpec, recon_key
from ..store.labels import CONFIRM, DRAW_AXIS, PHASE, is_seed, method_labels
from ..store.stability import COLLAPSE_RATIO
from . import tuning as T


def seed_axis(labels: Dict[str, str]) -> Optional[str]:
    """The axis whose runs are a method's repeats: its seed axis, else (without one) its draws,
    paired across methods (every method gets the same draws)."""
    seed = next((k for k in labels if is_seed(k)), None)
    return seed or (DRAW_AXIS if DRAW_AXIS in labels else None)


def panel_axis(labels: Dict[str, str]) -> Optional[str]:
    return next((k for k in labels if k.split(".")[-1] in ("data", "dataset") or k == "data.name"), None)


def method_name(labels: Dict[str, str], seed_key, panel_key) -> str:
    confirmed = labels.get(PHASE) == CONFIRM  # a confirmation run: its method, less the phase and its draw
    return " / ".join(str(v) for k, v in labels.items() if k not in (seed_key, panel_key)
                      and not (confirmed and k in (PHASE, DRAW_AXIS))) or "all runs"


@dataclass
class StudyResults:
    """A loaded study: runs grouped as panels -> methods -> runs, and their final results."""
    store: Store
    runs: List[Dict]
    seed_key: Optional[str]
    panel_key: Optional[str]
    groups: "OrderedDict[str, OrderedDict[str, List[Dict]]]"
    spec: Optional[FinalTestSpec]
    finals: Dict[str, Dict[str, Dict]]  # cell_id -> key -> row
    meta: Dict = field(default_factory=dict)
    tuning_runs: List[Dict] = field(default_factory=list)  # the runs at drawn settings (tuning view)
    _configs: Dict = field(default_factory=dict)

    def config(self, run: Dict):
        """The run's saved config (the library defaults when its run directory has none)."""
        if run["cell_id"] not in self._configs:
            p = Path(run["run_dir"] or "") / "config.yaml"
            self._configs[run["cell_id"]] = config_mod.load(p) if p.is_file() else config_mod.Config()
        return self._configs[run["cell_id"]]

    @property
    def panels(self) -> List[str]:
        return list(self.groups)

    @property
    def replicate(self) -> str:
        """What repeats a method in this study: ``seed``, or ``draw`` when its runs differ by
        drawn settings instead (a tuning study without a seed axis)."""
        return "draw" if self.seed_key == DRAW_AXIS else "seed"

    def seed(self, run: Dict) -> str:
        return str(run["labels"].get(self.seed_key, run["cell_id"])) if self.seed_key else run["cell_id"]

    def checkpoints(self) -> List[str]:
        if self.spec:
            return list(self.spec.checkpoints)
        have = {f["checkpoint"] for fs in self.finals.values() for f in fs.values() if f["kind"] == "recon"}
        return [c for c in ("best", "latest") if c in have]

    def final(self, run: Dict, checkpoint: str, metric: str = "recon") -> Optional[Dict]:
        """The row of ``run``'s final test for this study's settings (or, for a study recorded
        before its settings were, the recon row of that checkpoint with the most steps)."""
        rows = self.finals.get(run["cell_id"], {})
        if metric == "recon":
            if self.spec:
                return rows.get(recon_key(checkpoint, self.spec.steps_for(self.config(run)), self.spec.images))
            cands = [r for r in rows.values() if r["kind"] == "recon" and r["checkpoint"] == checkpoint]
            return max(cands, key=lambda r: (r["steps"] or 0, r["images"] or 0), default=None)
        if not self.spec:
            return None
        return rows.get(self.spec.quality_key(checkpoint, metric))  # its key names every setting, options too

    def values(self, runs: List[Dict], checkpoint: str, metric: str = "recon",
               field: Optional[str] = None) -> Dict[str, float]:
        """{seed: value} over the finished runs that have the result; ``field``: one of the
        metric's other results in its record (``coverage`` beside density) instead of its value."""
        out = {}
        for r in runs:
            f = self.final(r, checkpoint, metric) if r["status"] == "done" else None
            v = None if not f else f["value"] if field is None else (f.get("record") or {}).get(field)
            if isinstance(v, (int, float)) and math.isfinite(v):
                out[self.seed(r)] = float(v)
        return out


def run_end(run: Dict) -> S.End:
    """How a stored run ended, for the verdict. Who stopped a ``stopped`` run comes from its
    row's ``stopped_by`` when the store records it, else from its recorded reason ("stopped by the
    guard" / "stopped by successive halving"); a stopped run that says neither was stopped by
    selection, the only thing that stopped runs before the guard did."""
    status = run.get("status") or O.FAILED
    by = None
    if status == O.STOPPED:
        by = run.get("stopped_by") or run.get("by")
        if by not in (O.BY_SELECTION, O.BY_GUARD):
            text = (run.get("error") or "").lower()
            by = O.BY_GUARD if "guard" in text and "halving" not in text else O.BY_SELECTION
    return S.End(status, by, run.get("iterations"))


def higher_is_better(metric: str) -> bool:
    """Whether ``metric``'s registration says higher values are better (IS, density, coverage,
    precision, recall); the reconstruction error and FID/KID are lower-is-better."""
    return METRICS.attr(metric, "better", "lower") == "higher"


def verdict(study: "StudyResults", runs: Dict[str, List[Dict]], checkpoint: str, needed: bool = True,
            metric: str = "recon", field: Optional[str] = None) -> S.Verdict:
    """The verdict on one panel's methods (``{method: runs}``) scored on ``checkpoint``: their
    finished runs' final errors (or ``metric``'s value, or its ``field``) and how every run
    ended. Where the metric's registration says higher is better, the tests, which crown the
    lowest, see the negated values."""
    sign = -1.0 if higher_is_better(metric) else 1.0
    return S.verdict({m: {k: sign * x for k, x in study.values(rs, checkpoint, metric, field).items()}
                      for m, rs in runs.items()},
                     {m: [run_end(r) for r in rs] for m, rs in runs.items()}, needed=needed)


def load(store: Store) -> StudyResults:
    every = store.runs()
    # a tune-confirm study's verdict is on its confirmation runs; its draws feed the tuning view
    confirmed = [r for r in every if r["labels"].get(PHASE) == CONFIRM]
    runs = confirmed or every
    labels = runs[0]["labels"] if runs else {}
    seed_key, panel_key = seed_axis(labels), panel_axis(labels)
    groups: "OrderedDict[str, OrderedDict[str, List[Dict]]]" = OrderedDict()
    for r in runs:
        panel = r["labels"].get(panel_key, "") if panel_key else ""
        groups.setdefault(panel, OrderedDict()).setdefault(method_name(r["labels"], seed_key, panel_key), []).append(r)
    meta = {k: store.meta(k) for k in ("study", "datasets", "provenance", "history", "race", "confirm")}
    spec = FinalTestSpec.from_dict(meta["study"]["final_test"]) if meta.get("study") else None
    return StudyResults(store, runs, seed_key, panel_key, groups, spec, store.finals(), meta,
                        tuning_runs=[r for r in every if r["labels"].get(PHASE) != CONFIRM])


# ----------------------------------------------------------------------------- budgets

@dataclass
class Budgets:
    budgets: List[int]
    stats: Dict[str, Dict[int, S.Summary]]  # method -> budget -> summary over seeds
    rankings: Dict[int, List[str]]  # budget -> methods, lowest mean first
    sentence: Optional[str]  # None when the ranking is the same at every budget


def budget_table(study: StudyResults, methods: Dict[str, List[Dict]], checkpoint: str) -> Optional[Budgets]:
    per: Dict[str, Dict[int, List[float]]] = {}
    for m, runs in methods.items():
        for r in runs:
            f = study.final(r, checkpoint) if r["status"] == "done" else None
            for b, v in ((f or {}).get("ladder") or {}).items():
                per.setdefault(m, {}).setdefault(int(b), []).append(v)
    if not per:
        return None
    common = sorted(set.intersection(*[set(d) for d in per.values()]))
    stats = {m: {b: S.summarise(d[b]) for b in common} for m, d in per.items()}
    # a method whose values at a budget are all missing (stored NULL) has no mean there: it is
    # ranked last, not compared with a number
    rankings = {b: sorted(stats, key=lambda m: (stats[m][b].mean is None, stats[m][b].mean or 0.0)) for b in common}
    return Budgets(common, stats, rankings, ranking_sentence(rankings))


def ranking_sentence(rankings: Dict[int, List[str]]) -> Optional[str]:
    """A plain sentence on how the ranking moves with the z-step budget; None if it does not.

    >>> ranking_sentence({50: ["weight", "batch"], 100: ["weight", "batch"], 200: ["batch", "weight"]})
    'batch is best from 200 steps on; weight is best below.'
    """
    budgets = sorted(rankings)
    if len({tuple(rankings[b]) for b in budgets}) <= 1:
        return None
    segs: List[Tuple[str, List[int]]] = []
    for b in budgets:
        lead = rankings[b][0]
        if segs and segs[-1][0] == lead:
            segs[-1][1].append(b)
        else:
            segs.append((lead, [b]))
    if len(segs) == 1:
        order: List[Tuple[Tuple[str, ...], List[int]]] = []
        for b in budgets:
            if order and order[-1][0] == tuple(rankings[b]):
                order[-1][1].append(b)
            else:
                order.append((tuple(rankings[b]), [b]))
        parts = [f"{' < '.join(o)} at {_span(bs, i == len(order) - 1)}" for i, (o, bs) in enumerate(order)]
        return f"{segs[0][0]} is best at every budget, but the order behind it changes: {'; '.join(parts)}."
    if len(segs) == 2:
        (low, _), (high, bs) = segs
        return f"{high} is best from {bs[0]} steps on; {low} is best below."
    return "The best method changes with the budget: " + "; ".join(
        f"{lead} at {_span(bs, i == len(segs) - 1)}" for i, (lead, bs) in enumerate(segs)) + "."


def _span(bs: List[int], last: bool) -> str:
    if last:
        return f"{bs[0]} steps and more"
    return f"{bs[0]} steps" if len(bs) == 1 else f"{bs[0]}-{bs[-1]} steps"


# ----------------------------------------------------------------------------- curves

def curve(store: Store, runs: List[Dict], key: str):
    """(iterations, mean, std, n) over the runs that logged ``key`` at each iteration: a run
    that stopped early leaves the mean over the others from there on, not a shorter curve."""
    series = [dict((i, v) for i, v in store.series(r["cell_id"], key) if v is not None and math.isfinite(v))
              for r in runs]
    series = [s for s in series if s]
    if not series:
        return None
    its = sorted(set().union(*series))
    vals = [[s[i] for s in series if i in s] for i in its]
    n = np.array([len(v) for v in vals])
    mean = np.array([np.mean(v) for v in vals])
    std = np.array([np.std(v, ddof=1) if len(v) > 1 else 0.0 for v in vals])
    return np.array(its), mean, std, n


# ----------------------------------------------------------------------------- stability and cost

@dataclass
class MethodRow:
    method: str
    runs: List[Dict]
    n_done: int
    diverged: int
    failed: int
    collapsed: int
    d_wins: Optional[int]  # None: the loss has no D-wins criterion
    worse: Optional[int]
    diversity: Optional[float]
    train_seconds: Optional[float]
    it_per_s: Optional[float]
    final_seconds: Optional[float]
    killed: int = 0
    stopped_guard: int = 0  # stopped by the run's stability guard: a failure of its method
    stopped_selection: int = 0  # stopped by successive halving: out of the race, not a failure


def method_row(study: StudyResults, method: str, runs: List[Dict]) -> MethodRow:
    flags = [r["d_wins"] for r in runs if r["status"] == "done"]
    worse = [r["worse_count"] for r in runs if r["worse_count"] is not None]
    fin = [f["seconds"] for r in runs for c in study.checkpoints() if (f := study.final(r, c)) and f["seconds"]]
    ends = [run_end(r) for r in runs]
    return MethodRow(
        method, runs, sum(r["status"] == "done" for r in runs), sum(r["status"] == "diverged" for r in runs),
        sum(r["status"] == "failed" for r in runs),
        sum(1 for r in runs if r["diversity"] is not None and r["diversity"] < COLLAPSE_RATIO),
        None if flags and all(f is None for f in flags) else sum(bool(f) for f in flags),
        sum(worse) if worse else None, S.summarise([r["diversity"] for r in runs]).mean,
        S.summarise([r["train_seconds"] for r in runs]).mean, S.summarise([r["it_per_s"] for r in runs]).mean,
        S.summarise(fin).mean, sum(r["status"] == O.KILLED for r in runs),
        sum(e.status == O.STOPPED and e.by == O.BY_GUARD for e in ends),
        sum(e.status == O.STOPPED and e.by == O.BY_SELECTION for e in ends))


#: which running-test figure goes with each checkpoint (see ``running_value``)
RUNNING_FIGURE = {"best": "lowest", "latest": "last"}


def running_value(study: StudyResults, run: Dict, checkpoint: str) -> Optional[float]:
    """The running test's figure that goes with a checkpoint: the lowest running error for
    ``best`` (the test that chose best.pt), the last one for ``latest``."""
    if checkpoint == "best":
        return run["best_running"]
    s = study.store.series(run["cell_id"], "recon_running")
    return s[-1][1] if s else None


def running_vs_final(study: StudyResults, checkpoint: str):
    """Spearman's rho between the running test and the final test over every finished run:
    for ``best``, the lowest running error (the one that chose best.pt); for ``latest``,
    the last running error. (rho, p, n)."""
    xs, ys = [], []
    for r in study.runs:
        f = study.final(r, checkpoint) if r["status"] == "done" else None
        if not f or f["value"] is None:
            continue
        xs.append(running_value(study, r, checkpoint))
        ys.append(f["value"])
    return S.spearman(xs, ys)


# ----------------------------------------------------------------------------- tables for `gannorm results`

def run_table(study: StudyResults, where: Optional[Dict[str, str]] = None) -> Tuple[List[str], List[Dict]]:
    """One row per run: status, final errors (one column per checkpoint), running test, cost."""
    ckpts = study.checkpoints() or ["best"]
    cols = (["cell_id", "status", "iterations"] + [f"final_{c}" for c in ckpts]
            + ["best_running", "best_iteration", "diversity", "train_seconds", "it_per_s", "error"])
    rows = []
    for r in study.runs:
        if where and any(label_of(r["labels"], k) != v for k, v in where.items()):
            continue
        row = {k: r.get(k) for k in cols}
        for c in ckpts:
            f = study.final(r, c)
            row[f"final_{c}"] = f["value"] if f else None
        rows.append(row)
    return cols, rows


def group_table(study: StudyResults, axis: str, where: Optional[Dict[str, str]] = None) -> Tuple[List[str], List[Dict]]:
    """One row per label of ``axis`` (a full or last-part axis name): n, mean, std and 95% CI
    of the final error (first checkpoint), and the mean training cost."""
    names = list(study.runs[0]["labels"]) if study.runs else []
    if not any(axis in (k, k.split(".")[-1]) for k in names):
        raise GannormError(f"--by {axis!r}: not an axis of this study; axes: {', '.join(names)}")
    c = (study.checkpoints() or ["best"])[0]
    groups: "OrderedDict[str, List[Dict]]" = OrderedDict()
    for r in study.runs:
        if where and any(label_of(r["labels"], k) != v for k, v in where.items()):
            continue
        groups.setdefault(label_of(r["labels"], axis), []).append(r)
    cols = [axis, "runs", "n", "mean", "std", "ci_low", "ci_high", "train_seconds", "it_per_s"]
    rows = []
    for label, runs in groups.items():
        s = S.summarise([f["value"] for r in runs if r["status"] == "done" and (f := study.final(r, c))
                         and f["value"] is not None])
        rows.append({axis: label, "runs": len(runs), "n": s.n, "mean": s.mean, "std": s.std,
                     "ci_low": s.ci[0] if s.ci else None, "ci_high": s.ci[1] if s.ci else None,
                     "train_seconds": S.summarise([r["train_seconds"] for r in runs]).mean,
                     "it_per_s": S.summarise([r["it_per_s"] for r in runs]).mean})
    return cols, rows



@dataclass
class Tuning:
    """A tuning study's validation scores: ``scores[panel][method]`` lists one score per draw
    (the mean over its seeds; NaN where every run of the draw failed), ``curves`` the expected
    best after k draws with its bootstrap band, ``on_validation`` whether the scores come from
    a validation split (``data.validation``) or from the running test inside the held-out set."""
    scores: Dict[str, Dict[str, Dict[str, float]]]
    curves: Dict[str, Dict[str, "T.Curve"]]
    on_validation: bool
    failed_value: Dict[str, Optional[float]]


def tuning(study: StudyResults) -> Optional[Tuning]:
    """The tuning view of a study with drawn settings (``sample``), else None. A draw's score
    is its runs' lowest running reconstruction error (on the validation split when there is
    one); a failed draw counts as the panel's worst finite score, since the budget paid for it
    (Dodge et al. 2019 count every draw). A draw stopped by successive halving keeps the score
    it had reached: it was stopped for being worse there, so it rarely decides a best-of-k."""
    draws = study.tuning_runs or study.runs
    if not any(DRAW_AXIS in r["labels"] for r in draws):
        return None
    raw: "OrderedDict[str, OrderedDict[str, Dict[str, List[float]]]]" = OrderedDict()
    for r in draws:
        lab = r["labels"]
        panel = lab.get(study.panel_key, "") if study.panel_key else ""
        method = " / ".join(str(v) for _, v in method_labels(lab, drop=(study.panel_key, study.seed_key))) \
            or "all runs"
        halved = r["status"] == O.STOPPED and r.get("stopped_by") == O.BY_SELECTION
        v = r.get("best_running") if r["status"] == O.DONE or halved else None
        raw.setdefault(panel, OrderedDict()).setdefault(method, {}).setdefault(lab[DRAW_AXIS], []).append(
            float(v) if v is not None and math.isfinite(v) else float("nan"))
    scores, curves, worst = OrderedDict(), OrderedDict(), {}
    for panel, methods in raw.items():
        scores[panel] = OrderedDict((m, {d: (float(np.nanmean(vs)) if np.isfinite(vs).any() else float("nan"))
                                         for d, vs in sorted(draws.items())}) for m, draws in methods.items())
        finite = [v for ds in scores[panel].values() for v in ds.values() if math.isfinite(v)]
        worst[panel] = max(finite) if finite else None
        curves[panel] = OrderedDict((m, T.expected_best_curve(list(ds.values()), failed_value=worst[panel]))
                                    for m, ds in scores[panel].items())
    on_val = any(study.config(r).data.validation for r in draws[:1])
    return Tuning(scores, curves, bool(on_val), worst)


def tuning_table(study: StudyResults) -> Tuple[List[str], List[Dict], List[str]]:
    """The tuning view as a table (one row per panel and method) and its verdict sentences, for
    ``gannorm results --tuning``; a study without drawn settings is a one-line error."""
    tun = tuning(study)
    if tun is None:
        raise GannormError("this study has no drawn settings (no sample: section), so there is no tuning view")
    cols = ["panel", "method", "draws", "failed", "best_draw", "best_score", "expected_best_k1", "k_half",
            "expected_best_k_half", "expected_best_all"]
    rows, sentences = [], []
    for panel, curves in tun.curves.items():
        for m, c in curves.items():
            scores = tun.scores[panel][m]
            finite = {d: v for d, v in scores.items() if math.isfinite(v)}
            best = min(finite, key=finite.get) if finite else None
            half = max(1, c.n // 2)
            rows.append({"panel": panel, "method": m, "draws": len(scores), "failed": len(scores) - len(finite),
                         "best_draw": best, "best_score": finite.get(best) if best else None,
                         "expected_best_k1": c.mean[0] if c.n else None, "k_half": half,
                         "expected_best_k_half": c.mean[half - 1] if c.n >= half else None,
                         "expected_best_all": c.mean[-1] if c.n else None})
        k = min((c.n for c in curves.values()), default=0)
        line = T.verdict_at(curves, k) if k else None
        if line:
            sentences.append((f"{panel}: " if panel else "") + line)
    return cols, rows, sentences
