"""Synchronous successive halving: the decisions depend on the values only, never on the order
cells finish (checked against every arrival order and against the rule computed by hand);
the margin of each cut against a from-scratch standard error; diverged seeds rank last and are
stored as diverged; an interrupted study resumes to the same decisions; the halving settings
are checked against what the runs log before anything starts; ASHA's score for a failed seed
keeps Ray's cut-off finite."""
import itertools
import math
import random
import statistics
import warnings

import pytest
import yaml

from gannorm import outcomes
from gannorm.errors import GannormError
from gannorm.report.page import selection_section
from gannorm.store import Store, selection
from gannorm.study import halving, load_study
from gannorm.study.cells import StudyInterrupted
from gannorm.study.halving import make_plan, run_sync

TINY = {"model": {"base_features": 8, "z_dim": 16},
        "train": {"iterations": 40, "batch_size": 8, "log_every": 10, "sample_every": 0, "checkpoint_every": 10},
        "eval": {"test_interval": 10, "test_steps": 2}, "data": {"running_holdout": 8}}


def _study(tmp_path, methods, seeds=(0, 1), halving_spec=None, base=None):
    p = tmp_path / "study.yaml"
    p.write_text(yaml.safe_dump({"name": "h", "base": base or TINY,
                                 "axes": {"lr": {m: {"optim.g_lr": 1e-4 * (i + 1)} for i, m in enumerate(methods)},
                                          "train.seed": list(seeds)},
                                 "strategy": "halving",
                                 "halving": halving_spec or {"first_rung": 10, "keep": 0.5}}))
    return load_study(p)


# ----------------------------------------------------------------------------- the rule


def _by_hand(values, keep, mode):
    """The synchronous rule written out: mean over seeds (a diverged seed: worst), best first."""
    n_keep = math.ceil(keep * len(values))
    def score(v):
        vals = list(v.values())
        return math.inf if any(not math.isfinite(x) for x in vals) else sum(vals) / len(vals)
    sign = 1 if mode == "min" else -1
    order = sorted(values, key=lambda m: (not math.isfinite(score(values[m])), sign * score(values[m])
                                          if math.isfinite(score(values[m])) else 0, m))
    return order[:n_keep], order[n_keep:]


@pytest.mark.parametrize("mode", ["min", "max"])
def test_every_arrival_order_gives_the_same_decisions(mode):
    values = {"a": {"0": 0.1}, "b": {"0": 0.2}, "c": {"0": 0.3}, "d": {"0": 0.4}, "e": {"0": 0.5}}
    seen = set()
    for order in itertools.permutations(values):
        rows, _ = selection.decide_rung(0, 10, {m: values[m] for m in order}, 0.5, mode)
        seen.add(tuple((r["method"], r["decision"]) for r in rows))
    assert len(seen) == 1
    kept = [m for m, d in seen.pop() if d == "continued"]
    assert kept == (["a", "b", "c"] if mode == "min" else ["e", "d", "c"])  # ceil(5 / 2) = 3 kept


def test_the_documented_asha_counterexample_is_decided_by_value():
    # ASHA with eta 2: arrivals 0.1, 0.2, 0.3, 0.4 stop 0.2; 0.5, 0.2, 0.3, 0.4 keep the worse 0.5
    for arrivals in ([0.1, 0.2, 0.3, 0.4], [0.5, 0.2, 0.3, 0.4]):
        values = {f"m{v}": {"0": v} for v in arrivals}
        rows, _ = selection.decide_rung(0, 10, values, 0.5, "min")
        kept = sorted(r["value"] for r in rows if r["decision"] == "continued")
        assert kept == sorted(arrivals)[:2]


def test_rule_against_hand_computation_on_random_rungs():
    rng = random.Random(3)
    for _ in range(300):
        n, seeds = rng.randint(1, 9), rng.randint(1, 3)
        keep = rng.choice([0.5, 1 / 3, 0.25])
        mode = rng.choice(["min", "max"])
        values = {f"m{i}": {str(s): (math.inf if rng.random() < 0.1 else round(rng.random(), 3))
                            for s in range(seeds)} for i in range(n)}
        rows, _ = selection.decide_rung(0, 10, values, keep, mode)
        kept, stopped = _by_hand(values, keep, mode)
        assert [r["method"] for r in rows if r["decision"] == "continued"] == kept
        assert [r["method"] for r in rows if r["decision"] == "stopped"] == stopped
        assert [r["rank"] for r in rows] == list(range(1, n + 1))


@pytest.mark.parametrize("n,keep,want", [(9, 1 / 3, 3), (5, 0.5, 3), (4, 0.5, 2), (1, 0.5, 1), (2, 1 / 3, 1),
                                         (3, 1 / 3, 1), (7, 0.25, 2)])
def test_kept_count_rounds_up(n, keep, want):
    assert selection.kept_count(n, keep) == want


def test_margin_and_its_standard_error_from_scratch():
    a = {"0": 0.30, "1": 0.34, "2": 0.29}  # last kept
    b = {"0": 0.33, "1": 0.35, "2": 0.36}  # first stopped
    c = selection.margin(a, b)
    d = [b[k] - a[k] for k in a]
    se = math.sqrt(sum((x - sum(d) / 3) ** 2 for x in d) / 2) / math.sqrt(3)
    assert c["paired"] and c["margin"] == pytest.approx(abs(sum(b.values()) / 3 - sum(a.values()) / 3))
    assert c["se"] == pytest.approx(se) and c["close"] == (c["margin"] < se)
    # no shared seeds: Welch's standard error of the difference of the means
    w = selection.margin({"0": 0.1, "1": 0.3}, {"2": 0.2, "3": 0.5, "4": 0.6})
    va, vb = statistics.variance([0.1, 0.3]), statistics.variance([0.2, 0.5, 0.6])
    assert not w["paired"] and w["se"] == pytest.approx(math.sqrt(va / 2 + vb / 3))
    assert w["margin"] == pytest.approx(abs((0.2 + 0.5 + 0.6) / 3 - 0.2)) and w["close"] == (w["margin"] < w["se"])
    one = selection.margin({"0": 0.1}, {"0": 0.2})
    assert one["se"] is None and not one["close"]  # one seed: no standard error, no claim


def test_a_close_cut_is_flagged_and_a_clear_one_is_not():
    _, cut = selection.decide_rung(0, 10, {"a": {"0": 0.30, "1": 0.40}, "b": {"0": 0.41, "1": 0.31}}, 0.5, "min")
    assert cut["close"] and cut["last_kept"] == "a" and cut["first_stopped"] == "b"
    _, clear = selection.decide_rung(0, 10, {"a": {"0": 0.10, "1": 0.11}, "b": {"0": 0.50, "1": 0.52}}, 0.5, "min")
    assert not clear["close"] and clear["margin"] > clear["se"]


# ----------------------------------------------------------------------------- ASHA's score of a failure


class _Trial:
    def __init__(self, i):
        self.trial_id, self.config = str(i), {"method": str(i)}


def _asha(arrivals, mode="min", rf=2):
    from ray.tune.schedulers import ASHAScheduler

    sch = ASHAScheduler(time_attr="iteration", metric="value", mode=mode, max_t=40, grace_period=10,
                        reduction_factor=rf, stop_last_trials=False)
    out = []
    for i, v in enumerate(arrivals):
        t = _Trial(i)
        sch.on_trial_add(None, t)
        out.append(sch.on_trial_result(None, t, {"iteration": 10, "value": v})[0])
    return "".join(out)


def test_asha_orders_a_failed_seed_as_the_worst_value():
    pytest.importorskip("ray")
    warnings.simplefilter("ignore")
    # a diverged method first, then 0.26, then another diverged one: the last must be stopped
    # (reported as +inf, Ray's percentile is NaN and everything continues)
    div = halving.asha_value([None], "min")
    assert math.isfinite(div) and _asha([div, 0.26, div]) == "CCS"
    rng = random.Random(0)
    for _ in range(400):
        mode, rf = rng.choice(["min", "max"]), rng.choice([2, 3])
        seeds = [[None if rng.random() < 0.35 else rng.random()] for _ in range(rng.randint(2, 6))]
        worst = 10.0 if mode == "min" else -10.0  # a value worse than every real one
        ours = [halving.asha_value(s, mode) for s in seeds]
        ref = [worst if s[0] is None else s[0] for s in seeds]
        assert _asha(ours, mode, rf) == _asha(ref, mode, rf), seeds


# ----------------------------------------------------------------------------- settings


def test_halving_settings_are_checked_against_what_the_runs_log(tmp_path):
    def err(spec, base=None):
        with pytest.raises(GannormError) as e:
            make_plan(s := _study(tmp_path, ["a", "b"], halving_spec=spec, base=base), s.cells)
        assert "\n" not in str(e.value)
        return str(e.value)

    assert "did you mean 'recon_running'" in err({"metric": "recon_runing"})
    assert "mode: min" in err({"metric": "recon_running", "mode": "max"})
    assert "valid: recon_running" in err({"metric": "fid"})  # not logged: no eval.metrics
    assert "scheduler" in err({"scheduler": "hyperband"})
    with_is = {**TINY, "eval": {**TINY["eval"], "metrics": ["fid", "is"], "metrics_interval": 10,
                                "extractor": "efficientnet_lite0"}}
    assert "mode: max" in err({"metric": "is", "mode": "min"}, base=with_is)  # would select the worst
    s = _study(tmp_path, ["a", "b"], halving_spec={"metric": "fid", "first_rung": 10}, base=with_is)
    plan = make_plan(s, s.cells)
    assert plan.metric == "fid_efficientnet_lite0" and plan.mode == "min"  # as the run logs it
    s = _study(tmp_path, ["a", "b"], halving_spec={"metric": "is", "first_rung": 10}, base=with_is)
    assert make_plan(s, s.cells).mode == "max"


# ----------------------------------------------------------------------------- the driver


class FakePool:
    """Trains nothing: each cell 'reaches' its rung with planted metric values, in a given
    order; optionally stops (as a SIGINT would) after some cells of one rung."""

    def __init__(self, values, order_seed=0, interrupt_at=None, diverge=()):
        self.values, self.rng, self.interrupt_at, self.diverge = values, random.Random(order_seed), interrupt_at, diverge
        self.calls = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def run(self, batch, on_result):
        batch = list(batch)
        self.rng.shuffle(batch)  # the order cells finish in
        self.calls.append(sorted((c.id, u) for c, u in batch))
        for i, (c, until) in enumerate(batch):
            if self.interrupt_at and until == self.interrupt_at[0] and i == self.interrupt_at[1]:
                raise StudyInterrupted("stopped", 2)
            top = until or 40
            if c.id in self.diverge:
                on_result(c, f"/nonexistent/{c.id}", outcomes.Outcome(outcomes.DIVERGED, "nan loss", iteration=top),
                          {}, [{"iteration": 10, "recon_running": float("nan")}])
                continue
            metrics = [{"iteration": it, "recon_running": self.values[c.id][it]} for it in (10, 20, 40) if it <= top]
            o = outcomes.Outcome(outcomes.DONE, iteration=40) if until is None else None
            on_result(c, f"/nonexistent/{c.id}", o, {"iterations": top}, metrics)


def _planted(study):
    rng = random.Random(1)
    return {c.id: {it: rng.random() for it in (10, 20, 40)} for c in study.cells}


def _decisions(store):
    rows, _ = selection.load(store)
    return [(r["iteration"], r["method"], r["rank"], r["decision"]) for r in rows]


def _drive(tmp_path, study, pool, name):
    store = Store(tmp_path / f"{name}.db")
    plan = make_plan(study, study.cells)
    todo = [c for c in study.cells if store.needs_work(c.id, [], False)]
    try:
        run_sync(study, plan, store, {"runs": tmp_path / "runs"}, pool, todo)
    finally:
        out = _decisions(store), {r["cell_id"]: (r["status"], r["stopped_by"]) for r in store.runs()}
        store.close()
    return out


def test_driver_decides_the_same_whatever_order_cells_finish(tmp_path):
    study = _study(tmp_path, ["a", "b", "c", "d", "e"])
    values = _planted(study)
    results = [_drive(tmp_path, study, FakePool(values, order_seed=k), f"o{k}") for k in range(6)]
    assert all(r == results[0] for r in results)
    decisions, status = results[0]
    # by hand: rung 10 keeps ceil(5/2) = 3 methods on the mean over both seeds, rung 20 keeps 2, 40 finishes them
    mean = lambda m, it: (values[f"lr={m},seed=0"][it] + values[f"lr={m},seed=1"][it]) / 2  # noqa: E731
    first = sorted("abcde", key=lambda m: mean(m, 10))[:3]
    second = sorted(first, key=lambda m: mean(m, 20))[:2]
    assert {m for it, m, _, d in decisions if it == 10 and d == "continued"} == {f"lr={m}" for m in first}
    assert {m for it, m, _, d in decisions if it == 40} == {f"lr={m}" for m in second}
    for cid, st in status.items():
        m = cid.split(",")[0][3:]
        assert st == (("done", None) if m in second else ("stopped", "selection"))


def test_a_diverged_seed_is_stored_as_diverged_and_its_method_ranks_last(tmp_path):
    study = _study(tmp_path, ["a", "b", "c", "d"])
    values = _planted(study)
    best = min("abcd", key=lambda m: values[f"lr={m},seed=0"][10] + values[f"lr={m},seed=1"][10])
    pool = FakePool(values, diverge={f"lr={best},seed=1"})
    decisions, status = _drive(tmp_path, study, pool, "div")
    assert status[f"lr={best},seed=1"] == ("diverged", None)  # not failed, not stopped
    assert status[f"lr={best},seed=0"] == ("stopped", "selection")
    assert [(m, d) for it, m, r, d in decisions if it == 10 and r == 4] == [(f"lr={best}", "stopped")]
    # the diverged seed is not trained again at later rungs
    assert not any(cid == f"lr={best},seed=1" for call in pool.calls[1:] for cid, _ in call)


@pytest.mark.parametrize("where", [(10, 3), (20, 1), (None, 2)])
def test_interrupted_mid_rung_resumes_to_the_same_decisions(tmp_path, where):
    study = _study(tmp_path, ["a", "b", "c", "d", "e"])
    values = _planted(study)
    whole = _drive(tmp_path, study, FakePool(values), "whole")
    with pytest.raises(StudyInterrupted):
        _drive(tmp_path, study, FakePool(values, order_seed=5, interrupt_at=where), "cut")
    store = Store(tmp_path / "cut.db")
    # nothing is recorded as stopped for the rung that was interrupted
    assert not any(it == (where[0] or 40) for it, *_ in _decisions(store))
    store.close()
    assert _drive(tmp_path, study, FakePool(values, order_seed=7), "cut") == whole


def test_no_finite_value_at_a_rung_is_an_error_not_a_silent_pass(tmp_path):
    study = _study(tmp_path, ["a", "b"], seeds=(0,))
    values = _planted(study)
    with pytest.raises(GannormError, match="no method has a finite recon_running"):
        _drive(tmp_path, study, FakePool(values, diverge={c.id for c in study.cells}), "alldiv")


def test_the_report_section_shows_each_cut_and_flags_a_close_call(tmp_path):
    store = Store(tmp_path / "s.db")
    rows, cut = selection.decide_rung(0, 10, {"a": {"0": 0.30, "1": 0.40}, "b": {"0": 0.41, "1": 0.31}}, 0.5, "min")
    selection.save(store, rows, {f"margin@10": cut, "scheduler": "sync", "metric": "recon_running"})
    page = selection_section(store)
    assert "Synchronous successive halving" in page
    assert "iteration 10: a kept, b stopped, margin 0.01" in page and "close call" in page
    rows, cut = selection.decide_rung(0, 20, {"a": {"0": 0.1, "1": 0.11}, "b": {"0": 0.5, "1": 0.52}}, 0.5, "min")
    store.db.execute("DELETE FROM selection")
    selection.save(store, rows, {f"margin@20": cut})
    assert "close call" not in selection_section(store)
    store.close()


@pytest.mark.slow  # six cell processes one after another (~1-2 min on a busy 2-core machine)
def test_synchronous_halving_on_the_local_pool_end_to_end(tmp_path):
    from gannorm.study import run_study

    base = {**TINY, "train": {**TINY["train"], "iterations": 20, "checkpoint_every": 5, "log_every": 5},
            "eval": {"test_interval": 5, "test_steps": 2}}
    p = tmp_path / "study.yaml"
    p.write_text(yaml.safe_dump({"name": "h", "base": base, "strategy": "halving",
                                 "axes": {"lr": {"good": {"optim.g_lr": 2e-4}, "slow": {"optim.g_lr": 1e-5},
                                                 "huge": {"optim.g_lr": 50.0, "optim.d_lr": 50.0}}},
                                 "halving": {"first_rung": 5, "keep": 0.5},
                                 "final_test": {"steps": 2, "images": 8}, "diversity_samples": 8}))
    study = load_study(p)
    out = tmp_path / "out"
    rows = run_study(study, out, jobs=2, threads=1)
    store = Store(out / "study.db")
    decisions = _decisions(store)
    runs = {r["cell_id"]: r for r in store.runs()}
    # rung 5: ceil(3/2) = 2 continue; rung 10: 1 continues; it finishes at 20
    assert [d for it, *_, d in decisions if it == 5].count("continued") == 2
    assert [d for it, *_, d in decisions if it == 10] == ["continued", "stopped"]
    winner = [m for it, m, _, d in decisions if it == 20]
    assert len(winner) == 1 and runs[winner[0]]["status"] == "done" and runs[winner[0]]["iterations"] == 20
    for cid, r in runs.items():
        if cid != winner[0]:
            assert (r["status"], r["stopped_by"]) in (("stopped", "selection"), ("diverged", None)), r
            o = outcomes.read(out / "runs" / cid)
            assert o.status == r["status"] and o.by == r["stopped_by"]
            assert r["iterations"] in (5, 10) or r["status"] == "diverged"
    # a rerun has nothing to do and says why it skips the stopped cells
    lines = []
    assert run_study(study, out, say=lines.append) == []
    assert any("stopped by selection" in l for l in lines), lines
    store.close()
    assert sum(r["iterations"] for r in rows) < 3 * 20


def test_direction_comes_from_the_metric_registrations():
    """Which way is better is each metric's registered ``better``, for every value it logs."""
    from gannorm.registry import METRICS
    from gannorm.study.halving import direction

    assert direction("recon_running") == "min"
    assert [direction(n) for n in ("fid", "kid", "is", "precision", "recall", "density", "coverage")] == \
        ["min", "min", "max", "max", "max", "max", "max"]
    assert direction("no_such_value") is None
    for m in METRICS.names():  # every built-in metric says which way is better, and has a label
        assert METRICS.attr(m, "better") in ("lower", "higher") and METRICS.attr(m, "label")


def _drawn(tmp_path, halving_spec, methods=("a", "b", "c")):
    p = tmp_path / "drawn.yaml"
    p.write_text(yaml.safe_dump({"name": "h", "base": TINY,
                                 "axes": {"norm": {m: {"train.seed": 0} for m in methods}},
                                 "sample": {"draws": 4, "seed": 0, "space": {"optim.g_lr": {"loguniform": [1e-5, 1e-3]}}},
                                 "strategy": "halving", "halving": halving_spec}))
    return load_study(p)


def test_drawn_settings_are_halved_within_each_method(tmp_path):
    """With a sample section each method halves its own draws (bracket: method, the default), so
    every method keeps the same number of draws at every rung: checked by hand per method."""
    study = _drawn(tmp_path, {"first_rung": 10, "keep": 0.5})
    assert make_plan(study, study.cells).bracket == "method"
    values = _planted(study)
    decisions, status = _drive(tmp_path, study, FakePool(values), "drawn")
    for m in ("a", "b", "c"):
        ids = [f"draw=d{d},norm={m}" for d in range(4)]
        first = sorted(ids, key=lambda c: values[c][10])[:2]
        second = sorted(first, key=lambda c: values[c][20])[:1]
        assert {c for it, c, _, d in decisions if it == 10 and d == "continued" and c in ids} == set(first)
        assert {c for it, c, _, d in decisions if it == 40 and c in ids} == set(second)
        assert sum(status[c] == ("done", None) for c in ids) == 1
    everyone = _drive(tmp_path, _drawn(tmp_path, {"first_rung": 10, "keep": 0.5, "bracket": "all"}),
                      FakePool(values), "all")[0]
    assert len([1 for it, *_ in everyone if it == 40]) == 3  # one bracket of 12: 6, then 3 finish


@pytest.mark.parametrize("spec, base_axes, message", [
    ({"bracket": "seed"}, False, "bracket must be method or all"),
    ({"bracket": "method"}, True, "needs a sample section"),
    ({"bracket": "method", "scheduler": "asha"}, False, "needs scheduler: sync"),
])
def test_bad_brackets_fail_before_anything_runs(tmp_path, spec, base_axes, message):
    study = _study(tmp_path, ["a", "b"], halving_spec={"first_rung": 10, "keep": 0.5, **spec}) if base_axes \
        else _drawn(tmp_path, {"first_rung": 10, "keep": 0.5, **spec})
    with pytest.raises(GannormError, match=message):
        make_plan(study, study.cells)
