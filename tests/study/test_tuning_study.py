"""A study that draws its settings: the draw axis in the grid (the same draws for every method,
validated before anything runs) and the report's tuning view from a store of planted scores,
checked against the expected-best formula computed here from the planted values."""
import re
import textwrap

import numpy as np
import pytest

from gannorm.errors import GannormError
from gannorm.report import analysis as A
from gannorm.report import build_report
from gannorm.store.final_test import FinalTestSpec
from gannorm.study.grid import load_study
from gannorm.study.search_space import parse
from gannorm.store import Store

STUDY = """
name: tuning
base:
  data: {{name: fashion_mnist_small, holdout: 200, validation: 100}}
  model: {{base_features: 8, z_dim: 16}}
  train: {{iterations: 10}}
axes:
{axes}
sample:
{sample}
"""
NORMS = "  norm:\n    none: {g_norm: none, d_norm: none}\n    weight: {g_norm: weight, d_norm: weight}"
SAMPLE = "  draws: 4\n  seed: 3\n  space:\n    optim.g_lr: {loguniform: [1.0e-5, 1.0e-3]}\n    optim.beta1: {choice: [0.0, 0.5]}"


def study(tmp_path, axes=NORMS, sample=SAMPLE):
    p = tmp_path / "s.yaml"
    p.write_text(STUDY.format(axes=axes, sample=sample))
    return load_study(p)


def test_every_method_gets_the_same_draws(tmp_path):
    s = study(tmp_path)
    assert [a.name for a in s.axes] == ["draw", "norm"] and len(s.cells) == 8
    drawn = parse({"draws": 4, "seed": 3, "space": {"optim.g_lr": {"loguniform": [1e-5, 1e-3]},
                                                     "optim.beta1": {"choice": [0.0, 0.5]}}}).settings()
    for c in s.cells:
        d = int(c.labels["draw"][1:])
        assert c.config.optim.g_lr == pytest.approx(drawn[d]["optim.g_lr"])
        assert c.config.optim.beta1 == drawn[d]["optim.beta1"]
    with_seeds = study(tmp_path, axes=NORMS + "\n  train.seed: [0, 1]")
    assert [a.name for a in with_seeds.axes] == ["norm", "train.seed", "draw"]  # draws inside whole seeds


@pytest.mark.parametrize("axes, sample, message", [
    (NORMS, "  draws: 0\n  space: {optim.g_lr: {uniform: [0.1, 0.2]}}", "draws must be"),
    (NORMS, "  draws: 2\n  space: {optim.g_lrr: {uniform: [0.1, 0.2]}}", "unknown config key"),
    (NORMS + "\n  optim.g_lr: [0.0001, 0.0002]", "  draws: 2\n  space: {optim.g_lr: {uniform: [0.1, 0.2]}}",
     "draw it or list it"),
])
def test_bad_sample_sections_fail_before_anything_runs(tmp_path, axes, sample, message):
    with pytest.raises(GannormError, match=message):
        study(tmp_path, axes, sample)


def _store(tmp_path, scores):
    """scores[method][draw] = the draw's best running error (None: the run diverged)."""
    st = Store(tmp_path / "study.db")
    st.set_meta("study", {"name": "tuning", "base": {"train": {"iterations": 10}},
                          "final_test": FinalTestSpec().to_dict(),
                          "axes": {"draw": {d: [f"optim.g_lr={1e-4 * (i + 1)}"] for i, d in
                                            enumerate(next(iter(scores.values())))}}})
    for m, per in scores.items():
        for d, v in per.items():
            cid = f"draw={d},norm={m}"
            st.put_run({"cell_id": cid, "labels": {"draw": d, "norm": m}, "status": "done" if v is not None else "diverged",
                        "error": None if v is not None else "losses stopped being finite", "run_dir": str(tmp_path / cid),
                        "iterations": 10, "best_running": v, "train_seconds": 1.0, "it_per_s": 10.0, "d_wins": 0,
                        "diversity": 0.9},
                       [{"iteration": 10, "recon_running": v if v is not None else float("nan")}], {})
    return st


def test_tuning_view_from_planted_scores(tmp_path):
    scores = {"weight": {"d0": 0.10, "d1": 0.30, "d2": 0.12, "d3": None},
              "none": {"d0": 0.20, "d1": 0.40, "d2": 0.25, "d3": 0.22}}
    st = _store(tmp_path, scores)
    tun = A.tuning(A.load(st))
    assert tun is not None and tun.failed_value[""] == pytest.approx(0.40)
    # reference: the expected best of k draws by enumeration of every k-tuple (k = 2)
    w = np.array([0.10, 0.30, 0.12, 0.40])  # the failed draw counts as the worst score
    brute = np.mean([min(a, b) for a in w for b in w])
    assert tun.curves[""]["weight"].mean[1] == pytest.approx(brute)
    st.close()
    page = build_report(tmp_path).read_text()
    assert "Tuning: how good each method gets" in page and "After 4 draws each, weight is expected best" in page
    row = re.search(r"<tr><td class='l'>weight</td><td>4</td><td>1</td><td>d0</td>", page)
    assert row, "the weight row: 4 draws, 1 failed, best draw d0"
    assert "running test, inside the held-out final test set" in page  # no validation split in these runs
    # the runs of a method differ by draw, not by seed: the page says so
    assert "4 draws per method (one run at each drawn setting)" in page and "seeds per method" not in page
    assert "Mean ± std over draws" in page and "over seeds" not in page


def test_no_tuning_view_without_draws(tmp_path):
    st = Store(tmp_path / "study.db")
    st.put_run({"cell_id": "norm=a", "labels": {"norm": "a"}, "status": "done", "run_dir": str(tmp_path),
                "iterations": 10, "best_running": 0.1}, [], {})
    assert A.tuning(A.load(st)) is None


def test_confirm_takes_each_methods_best_draw(tmp_path):
    """Reference: the planted scores themselves (lowest mean over a draw's runs); a method whose
    every draw failed is not confirmed."""
    from gannorm.study import tune_confirm as TC

    p = tmp_path / "s.yaml"
    p.write_text(STUDY.format(axes=NORMS, sample=SAMPLE) + "strategy: tune-confirm\nconfirm: {seeds: [100, 101], iterations: 20}\n")
    s = load_study(p)
    assert s.confirm == {"seeds": [100, 101], "iterations": 20}
    st = Store(tmp_path / "study.db")
    planted = {"none": {"d0": 0.3, "d1": 0.2, "d2": 0.25, "d3": 0.4}, "weight": {"d0": None, "d1": None, "d2": None, "d3": None}}
    for c in s.cells:
        v = planted[c.labels["norm"]][c.labels["draw"]]
        st.put_run({"cell_id": c.id, "labels": c.labels, "status": "done" if v is not None else "diverged",
                    "run_dir": "", "iterations": 10, "best_running": v}, [], {})
    cells, lines = TC.confirm_cells(s, st, s.confirm)
    assert sorted(c.id for c in cells) == ["phase=confirm,norm=none,seed=100,draw=d1",
                                           "phase=confirm,norm=none,seed=101,draw=d1"]
    c = cells[0]
    d1 = next(x for x in s.cells if x.labels == {"draw": "d1", "norm": "none"})
    assert c.config.optim.g_lr == d1.config.optim.g_lr and c.config.train.iterations == 20
    assert c.config.train.seed in (100, 101)
    assert any("weight" in l and "not confirmed" in l for l in lines)
    assert any("best draw d1" in l for l in lines)


@pytest.mark.parametrize("extra, message", [
    ("strategy: tune-confirm\nconfirm: {seeds: [1]}\n", "at least 2"),
    ("strategy: tune-confirm\nconfirm: {seeds: [1, 1]}\n", "repeats a seed"),
    ("strategy: tune-confirm\nconfirm: {seeds: [1, 2], iterations: 0}\n", "iterations must be"),
    ("confirm: {seeds: [1, 2]}\n", "goes with strategy: tune-confirm"),
])
def test_bad_confirm_settings(tmp_path, extra, message):
    p = tmp_path / "s.yaml"
    p.write_text(STUDY.format(axes=NORMS, sample=SAMPLE) + extra)
    with pytest.raises(GannormError, match=message):
        load_study(p)


def test_tune_confirm_needs_draws(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text(STUDY.format(axes=NORMS, sample=SAMPLE).split("sample:")[0] + "strategy: tune-confirm\n")
    with pytest.raises(GannormError, match="needs a sample section"):
        load_study(p)


def test_results_prints_the_tuning_view(tmp_path):
    """``gannorm results --tuning``: the table's numbers are the planted ones and the formula's."""
    import json

    from click.testing import CliRunner

    from gannorm.cli import cli

    scores = {"weight": {"d0": 0.10, "d1": 0.30, "d2": 0.12, "d3": None},
              "none": {"d0": 0.20, "d1": 0.40, "d2": 0.25, "d3": 0.22}}
    _store(tmp_path, scores).close()
    r = CliRunner().invoke(cli, ["results", str(tmp_path), "--tuning", "--format", "json"])
    assert r.exit_code == 0, r.output
    rows = {row["method"]: row for row in json.loads(r.output)}
    assert rows["weight"]["best_draw"] == "d0" and rows["weight"]["failed"] == 1
    assert rows["none"]["expected_best_k1"] == pytest.approx(np.mean([0.20, 0.40, 0.25, 0.22]))
    r = CliRunner().invoke(cli, ["results", str(tmp_path), "--tuning"])
    assert "After 4 draws each, weight is expected best" in r.output


def test_tune_confirm_end_to_end(tmp_path):
    """A real tune-confirm study: the draws run without a final test (their running score on
    the validation split picks the winner; a final test there would be paid for and never
    read), each method's best draw is retrained with the confirmation seeds, and only those
    runs carry the final test the verdict is made on."""
    import json

    from gannorm.study import run_study

    p = tmp_path / "s.yaml"
    p.write_text(STUDY.format(axes=NORMS, sample="  draws: 2\n  seed: 3\n  space:\n"
                                                  "    optim.g_lr: {loguniform: [1.0e-5, 1.0e-3]}")
                 .replace("{iterations: 10}", "{iterations: 6, log_every: 3, checkpoint_every: 3}\n"
                          "  eval: {test_interval: 3, test_steps: 2}")
                 .replace("validation: 100", "validation: 100, running_holdout: 20")
                 + "strategy: tune-confirm\nconfirm: {seeds: [100, 101]}\nfinal_test: {steps: 3, images: 20}\n")
    s = load_study(p)
    assert all(s.final_test_for(c).recon_keys(c.config) == [] for c in s.cells)
    lines = []
    run_study(s, tmp_path / "out", jobs=2, threads=1, say=lines.append)
    runs = sorted(d.name for d in (tmp_path / "out" / "runs").iterdir())
    confirm = [r for r in runs if r.startswith("phase=confirm")]
    assert len(runs) == 8 and len(confirm) == 4
    for r in runs:
        finals = json.loads((tmp_path / "out" / "runs" / r / "result.json").read_text())["finals"]
        assert bool(finals) == (r in confirm), r
    st = Store(tmp_path / "out" / "study.db")
    best = {}
    for m in ("none", "weight"):
        scores = {d: st.db.execute("SELECT best_running FROM runs WHERE cell_id = ?",
                                   (f"draw={d},norm={m}",)).fetchone()[0] for d in ("d0", "d1")}
        best[m] = min(scores, key=scores.get)
    st.close()
    assert sorted(confirm) == sorted(f"phase=confirm,norm={m},seed={sd},draw={best[m]}"
                                     for m in best for sd in (100, 101))
    assert any("confirmed with seeds 100, 101" in line for line in lines)
    page = build_report(tmp_path / "out").read_text()
    assert "the verdict above is on the confirmation runs only" in page


def test_a_draw_stopped_by_halving_keeps_its_score(tmp_path):
    """Successive halving over draws stops the worse ones early: they were paid for and scored at
    their rung, so they count with that score, not as failures (a failed draw counts as the worst)."""
    st = _store(tmp_path, {"weight": {"d0": 0.10, "d1": 0.30}, "none": {"d0": 0.20, "d1": 0.40}})
    st.put_run({"cell_id": "draw=d1,norm=weight", "labels": {"draw": "d1", "norm": "weight"}, "status": "stopped",
                "stopped_by": "selection", "error": "stopped by successive halving at iteration 4",
                "run_dir": str(tmp_path), "iterations": 4, "best_running": 0.25}, [], {})
    tun = A.tuning(A.load(st))
    assert tun.scores[""]["weight"] == {"d0": 0.10, "d1": 0.25}
    assert tun.curves[""]["weight"].mean[0] == pytest.approx((0.10 + 0.25) / 2)
    st.close()
