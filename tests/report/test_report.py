"""The study report from a store filled with planted numbers: the statistics it shows, the
ranking-change sentence, curves that keep their length when a seed fails early, divergence
read from the recorded status, and the page's structure."""
import re

import numpy as np
import pytest

from gannorm.report import analysis as A
from gannorm.report import build_report
from gannorm.store.final_test import FinalTestSpec, recon_key
from gannorm.store import Store

SPEC = FinalTestSpec(steps=200, images=2000, checkpoints=("best",), ladder=(25, 50, 100, 200))
KEY = recon_key("best", 200, 2000)


def _store(tmp_path, finals, ladders=None, status=None, errors=None, curves_until=None):
    """finals[method][seed] = final error; ladders[method][seed] = {budget: error}."""
    st = Store(tmp_path / "study.db")
    st.set_meta("study", {"name": "planted", "final_test": SPEC.to_dict(), "base": {"train": {"iterations": 10}}})
    for m, per in finals.items():
        for seed, v in per.items():
            cid = f"norm={m},seed={seed}"
            s = (status or {}).get(cid, "done")
            its = (curves_until or {}).get(cid, 100)
            metrics = [{"iteration": i, "recon_running": v + 0.01 * (100 - i) / 100, "d_loss": 1.0, "g_loss": 1.0}
                       for i in range(10, its + 1, 10)]
            lad = ((ladders or {}).get(m) or {}).get(seed) or {200: v}
            st.put_run({"cell_id": cid, "labels": {"norm": m, "train.seed": str(seed)}, "status": s,
                        "error": (errors or {}).get(cid), "run_dir": str(tmp_path / "runs" / cid),
                        "iterations": its, "best_running": v, "train_seconds": 10.0, "it_per_s": 10.0,
                        "d_wins": 0, "diversity": 0.9},
                       metrics, {} if s != "done" else {KEY: {"kind": "recon", "checkpoint": "best",
                                                              "checkpoint_used": "best", "steps": 200, "n_images": 2000,
                                                              "recon": v, "ladder": {str(b): x for b, x in lad.items()},
                                                              "checkpoint_iteration": 100}})
    return st


def test_lowest_mean_inside_the_noise_is_not_marked_best(tmp_path):
    _store(tmp_path, {"batch": {0: 0.02507, 1: 0.02853}, "spectral": {0: 0.02754, 1: 0.02820}}).close()
    page = build_report(tmp_path).read_text()
    lead = re.search(r"<div class='lead'>(.*?)</div>", page, re.S).group(1)
    assert "cannot tell batch and spectral apart" in lead and "seeds per method would be needed" in lead
    assert "(best)" not in page and "(not told apart)" in page
    assert "panel" not in page.lower() and ">all<" not in page  # one panel: no panel labels


def test_significant_best_is_named_with_its_margin(tmp_path):
    _store(tmp_path, {"batch": {0: 1.00, 1: 2.00, 2: 3.00, 3: 4.00}, "weight": {0: 1.11, 1: 2.09, 2: 3.10, 3: 4.12}}).close()
    page = build_report(tmp_path).read_text()
    assert "Use batch:" in page and "batch (best)" in page and "paired t" in page


def test_ranking_sentence_for_a_planted_change_and_not_without_one():
    assert A.ranking_sentence({25: ["weight", "batch"], 100: ["weight", "batch"], 200: ["batch", "weight"],
                               500: ["batch", "weight"]}) == "batch is best from 200 steps on; weight is best below."
    assert A.ranking_sentence({25: ["a", "b"], 200: ["a", "b"]}) is None
    three = A.ranking_sentence({25: ["a", "b", "c"], 50: ["a", "c", "b"]})
    assert three.startswith("a is best at every budget, but the order behind it changes")


def test_report_shows_the_budget_ranking_change(tmp_path):
    lad = {"weight": {s: {25: 0.030, 50: 0.025, 100: 0.020, 200: 0.018} for s in range(3)},
           "batch": {s: {25: 0.040, 50: 0.030, 100: 0.019, 200: 0.015} for s in range(3)}}
    _store(tmp_path, {"weight": {s: 0.018 + 1e-4 * s for s in range(3)}, "batch": {s: 0.015 + 1e-4 * s for s in range(3)}},
           ladders=lad).close()
    page = build_report(tmp_path).read_text()
    assert "batch is best from 100 steps on; weight is best below." in page
    tmp2 = tmp_path / "same"
    tmp2.mkdir()
    same = {m: {s: {b: v * 1.0 for b, v in d.items()} for s, d in per.items()} for m, per in lad.items()}
    for s in range(3):
        same["batch"][s][100] = 0.021  # batch worse at every budget but the last ...
        same["batch"][s][200] = 0.019  # ... and the last: the ranking never changes
    _store(tmp2, {"weight": {s: 0.018 for s in range(3)}, "batch": {s: 0.019 for s in range(3)}}, ladders=same).close()
    page = build_report(tmp2).read_text()
    assert "is best from" not in page and "The ranking is the same at every budget." in page


def test_a_seed_that_stops_early_does_not_shorten_its_methods_curve(tmp_path):
    st = _store(tmp_path, {"batch": {0: 0.02, 1: 0.03, 2: 0.04}},
                status={"norm=batch,seed=1": "diverged"}, errors={"norm=batch,seed=1": "loss went wrong"},
                curves_until={"norm=batch,seed=1": 30})
    res = A.load(st)
    its, mean, std, n = A.curve(st, res.groups[""]["batch"], "recon_running")
    assert its[-1] == 100 and len(its) == 10
    assert list(n) == [3, 3, 3] + [2] * 7
    ref = np.mean([0.02 + 0.01 * 0.5, 0.04 + 0.01 * 0.5])  # iteration 50: the two runs still going
    assert mean[4] == pytest.approx(ref)
    row = A.method_row(res, "batch", res.groups[""]["batch"])
    assert row.diverged == 1 and row.failed == 0  # from the recorded status; the text has no "nan"/"inf"
    st.close()
    page = build_report(tmp_path).read_text()
    assert "1 of 3 diverged" in page


def test_failure_text_mentioning_nan_is_not_divergence(tmp_path):
    st = _store(tmp_path, {"batch": {0: 0.02, 1: 0.03}}, status={"norm=batch,seed=1": "failed"},
                errors={"norm=batch,seed=1": "image folder not found: /data/nan_inf_images"})
    res = A.load(st)
    row = A.method_row(res, "batch", res.groups[""]["batch"])
    assert (row.diverged, row.failed) == (0, 1)
    st.close()


def test_a_cells_results_replace_what_the_store_held(tmp_path):
    """A retrained run's result.json no longer holds the old model's final tests: neither does the store."""
    st = _store(tmp_path, {"batch": {0: 0.02}})
    assert KEY in st.finals()["norm=batch,seed=0"]
    st.put_run({"cell_id": "norm=batch,seed=0", "labels": {"norm": "batch"}, "status": "done"}, None, {})
    assert st.finals() == {} and st.db.execute("SELECT COUNT(*) FROM ladder").fetchone()[0] == 0
    st.close()


def _lead(page):
    return re.search(r"<div class='lead'>(.*?)</div>", page, re.S).group(1)


def test_a_method_that_diverged_everywhere_has_lost_and_does_not_block_the_verdict(tmp_path):
    rng = np.random.RandomState(0)
    base = rng.normal(0.03, 0.005, 5)
    finals = {"bn": {s: base[s] for s in range(5)}, "wn": {s: base[s] + 0.004 + rng.normal(0, 2e-4) for s in range(5)},
              "sn": {s: 0.5 for s in range(5)}}
    status = {f"norm=sn,seed={s}": "diverged" for s in range(5)}
    _store(tmp_path, finals, status=status, errors={c: "loss stopped being finite" for c in status}).close()
    page = build_report(tmp_path).read_text()
    lead = _lead(page)
    assert "Use bn:" in lead and "Lost: sn diverged in 5 of 5 runs." in lead and "cannot tell" not in lead
    assert "bn (best)" in page and "sn (lost)" in page
    assert "Significantly worse: wn." in lead
    assert "how each way a run can end enters it" in page  # the verdict rule in the method note


def test_methods_stopped_by_halving_leave_the_winner_by_elimination(tmp_path):
    finals = {"bn": {s: 0.02 + 0.001 * s for s in range(3)}, "sn": {s: 0.5 for s in range(3)},
              "wn": {s: 0.5 for s in range(3)}}
    why = "stopped by successive halving at iteration 40 (rung 1): mean recon 0.05, rank 2 of 3 there"
    status = {f"norm={m},seed={s}": "stopped" for m in ("sn", "wn") for s in range(3)}
    _store(tmp_path, finals, status=status, errors={c: why for c in status},
           curves_until={c: 40 for c in status}).close()
    lead = _lead(build_report(tmp_path).read_text())
    assert "Use bn: it is the only method left in the race" in lead
    assert "sn stopped by successive halving at iteration 40; wn stopped by successive halving at iteration 40" in lead


def test_failures_beside_a_method_and_pairs_in_the_table(tmp_path):
    rng = np.random.RandomState(4)
    base = rng.normal(0.03, 0.005, 6)
    finals = {"a": {s: base[s] for s in range(6)}, "b": {s: base[s] + 0.003 + rng.normal(0, 1e-4) for s in range(6)}}
    _store(tmp_path, finals, status={"norm=b,seed=5": "killed"}).close()
    page = build_report(tmp_path).read_text()
    assert "5 pairs (of 6, 5 runs)" in page and "1 of 6 runs killed" in page
    assert "Use a:" in _lead(page)


def test_report_survives_a_budget_whose_values_are_all_missing(tmp_path):
    lad = {m: {s: {25: 0.03, 50: 0.025, 200: 0.02 + 0.001 * s} for s in range(3)} for m in ("a", "b")}
    st = _store(tmp_path, {"a": {s: 0.02 + 0.001 * s for s in range(3)}, "b": {s: 0.021 + 0.001 * s for s in range(3)}},
                ladders=lad)
    with st.db:  # stored NULL: the values of b at budget 50
        st.db.execute("UPDATE ladder SET value = NULL WHERE budget = 50 AND cell_id LIKE 'norm=b,%'")
    res = A.load(st)
    t = A.budget_table(res, res.groups[""], "best")
    assert t.stats["b"][50].mean is None and t.rankings[50] == ["a", "b"]
    st.close()
    page = build_report(tmp_path).read_text()
    assert "<td class='l'>b –</td>" in page


def test_who_stopped_a_run_is_read_from_its_row_or_its_reason():
    assert A.run_end({"status": "stopped", "by": "guard", "iterations": 30}) == A.S.End("stopped", "guard", 30)
    # the store's own column (schema 3)
    assert A.run_end({"status": "stopped", "stopped_by": "guard", "error": "stopped by successive halving",
                      "iterations": 30}) == A.S.End("stopped", "guard", 30)
    assert A.run_end({"status": "stopped", "error": "stopped by the guard: D won outright"}).by == "guard"
    assert A.run_end({"status": "stopped", "error": "stopped by successive halving at iteration 40 (rung 1)"}
                     ).by == "selection"
    assert A.run_end({"status": "stopped"}).by == "selection"  # before the guard existed only halving stopped runs
    assert A.run_end({"status": "killed", "iterations": 7}) == A.S.End("killed", None, 7)


class _Scores:
    """A study whose finished runs score ``table[method][seed]`` under any metric."""

    def __init__(self, table):
        self.table = table

    def values(self, runs, checkpoint, metric="recon", field=None):
        return self.table[runs[0]["method"]]


def _verdict_for(values, metric):
    """``analysis.verdict`` on ``values`` as the scores of ``metric``: the direction is the
    metric's registration, not the caller's."""
    runs = {m: [{"status": "done", "method": m}] * len(r) for m, r in values.items()}
    return A.verdict(_Scores(values), runs, "best", needed=False, metric=metric)


def test_quality_metric_verdicts_read_the_metrics_direction():
    """Each sample-quality column gets the reconstruction error's tests; a metric where higher is
    better is tested on its negated values, so its best is the highest."""
    from gannorm.report.recommend import metric_sentence

    seeds = [str(i) for i in range(5)]
    low = {"a": dict(zip(seeds, [150.1, 151.0, 149.8, 150.5, 150.9])),
           "b": dict(zip(seeds, [180.2, 200.0, 190.5, 185.1, 210.3])),
           "c": dict(zip(seeds, [176.0, 190.0, 165.2, 181.3, 172.4]))}
    assert not A.higher_is_better("fid") and A.higher_is_better("dc")
    text = metric_sentence("FID", _verdict_for(low, "fid"), A.higher_is_better("fid"))
    assert text.startswith("FID (lower is better): best a, significantly lower than every other method")
    high = {"a": dict(zip(seeds, [0.005, 0.006, 0.0055, 0.0048, 0.0062])),
            "b": dict(zip(seeds, [0.001, 0.0012, 0.0009, 0.0011, 0.0013]))}
    assert metric_sentence("coverage", _verdict_for(high, "dc"), A.higher_is_better("dc")).startswith(
        "coverage (higher is better): best a, significantly higher")
    # the same numbers scored as a lower-is-better metric crown b: the registration decides
    assert "best b" in metric_sentence("x", _verdict_for(high, "fid"), A.higher_is_better("fid"))
    assert _verdict_for(high, "dc").best == "a" and _verdict_for(high, "fid").best == "b"
    tied = {"a": dict(zip(seeds, [1.0, 2.0, 3.0, 4.0, 5.0])), "b": dict(zip(seeds, [1.5, 1.9, 3.2, 4.4, 4.6]))}
    assert "leads; not told apart from it at α = 0.05:" in metric_sentence("FID", _verdict_for(tied, "fid"), False)
