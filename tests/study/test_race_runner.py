"""A seeds race driven through a study's cells (a pool that stores planted final errors instead
of training): only methods not told apart get more seeds, every look is recorded, a rerun
resumes to the same decisions without training anything again, and the study file's race
settings are checked before anything runs."""
import numpy as np
import pytest

from gannorm.errors import GannormError
from gannorm.study import race_runner
from gannorm.study.grid import load_study
from gannorm.store import Store

STUDY = """
name: race
base:
  data: {{name: fashion_mnist_small, holdout: 200}}
  model: {{base_features: 8, z_dim: 16}}
  train: {{iterations: 10}}
axes:
  norm:
    good: {{g_norm: none, d_norm: none}}
    close: {{g_norm: weight, d_norm: weight}}
    bad: {{g_norm: batch, d_norm: batch}}
{extra}
final_test: {{steps: 10, images: 50}}
"""
MEANS = {"good": 0.10, "close": 0.1003, "bad": 1.0}


def study(tmp_path, extra="seeds: {start: 3, max: 7, step: 2}"):
    p = tmp_path / "s.yaml"
    p.write_text(STUDY.format(extra=extra))
    return load_study(p)


class PlantedPool:
    """Stores each cell as done with a planted final error (seed effect shared across methods)."""

    def __init__(self, study, store, diverge=()):
        self.study, self.store, self.diverge, self.ran = study, store, set(diverge), []
        rng = np.random.default_rng(0)
        self.seed_effect = rng.normal(scale=0.01, size=50)
        self.noise = {m: rng.normal(scale=0.0005, size=50) for m in MEANS}

    def run(self, batch, on_result):
        for cell, _ in batch:
            self.ran.append(cell.id)
            m, s = cell.labels["norm"], int(cell.labels["train.seed"])
            key = self.study.final_test.recon_keys(cell.config)[0]
            v = MEANS[m] + self.seed_effect[s] + self.noise[m][s]
            div = cell.id in self.diverge
            self.store.put_run({"cell_id": cell.id, "labels": cell.labels, "status": "diverged" if div else "done",
                                "run_dir": "", "iterations": 10, "best_running": v},
                               [], {} if div else {key: {"kind": "recon", "checkpoint": "best", "checkpoint_used": "best",
                                                          "steps": 10, "n_images": 50, "recon": v, "ladder": {"10": v},
                                                          "checkpoint_iteration": 10}})


def test_seeds_go_only_where_the_verdict_is_undecided(tmp_path):
    s = study(tmp_path)
    assert [a.name for a in s.axes][0] == "train.seed" and len(s.cells) == 7 * 3
    store = Store(tmp_path / "study.db")
    pool = PlantedPool(s, store)
    said = []
    race_runner.run_race(s, store, pool, list(s.cells), None, said.append)
    race = store.meta("race")
    first = race["looks"][0]
    assert first["seeds"] == {"norm=good": 3, "norm=close": 3, "norm=bad": 3}
    assert "norm=bad" in first["told_apart"] and "norm=bad" not in first["next_round"]
    bad_runs = [c for c in pool.ran if "norm=bad" in c]
    assert len(bad_runs) == 3  # never another seed once told apart
    assert race["looks"][-1]["decision"] in ("undecided", "futile", "best")
    assert race["runs"] == len(pool.ran) < 7 * 3
    assert said[0].startswith("race look 1 (3 seeds): continue")
    # a rerun with everything stored trains nothing and reaches the same decisions
    again = PlantedPool(s, store)
    race_runner.run_race(s, store, again, [c for c in s.cells if not store.outcome(c.id)], None, lambda _: None)
    assert again.ran == [] and store.meta("race")["looks"] == race["looks"]


def test_a_diverged_method_leaves_the_race(tmp_path):
    s = study(tmp_path)
    store = Store(tmp_path / "study.db")
    pool = PlantedPool(s, store, diverge={c.id for c in s.cells if c.labels["norm"] == "good"})
    race_runner.run_race(s, store, pool, list(s.cells), None, lambda _: None)
    first = store.meta("race")["looks"][0]
    assert "norm=good" in first["told_apart"]


@pytest.mark.parametrize("extra, message", [
    ("seeds: {start: 3, max: 7}\nstrategy: halving", "cannot be combined"),
    ("race: {alpha: 0.05}", "need a seeds section"),
    ("seeds: {start: 3, max: 7}\nbudget: {runs: 5}", "cannot fit the first round"),
    ("seeds: {start: 1, max: 7}", "at least 2"),
])
def test_bad_race_settings_fail_at_load(tmp_path, extra, message):
    with pytest.raises(GannormError, match=message):
        study(tmp_path, extra)


def test_a_study_with_its_own_seed_axis_is_refused(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text(STUDY.format(extra="seeds: {start: 3, max: 7}").replace(
        "    bad: {g_norm: batch, d_norm: batch}", "    bad: {g_norm: batch, d_norm: batch}\n  train.seed: [0, 1]"))
    with pytest.raises(GannormError, match="makes the seed axis itself"):
        load_study(p)


TUNED = STUDY.replace("{extra}", "sample:\n  draws: 3\n  seed: 0\n  space: {{optim.g_lr: {{loguniform: [1.0e-5, 1.0e-3]}}}}\n"
                      "strategy: tune-confirm\nconfirm: {{seeds: {{start: 3, max: 7, step: 2, first: 100}}}}\n{extra}")


class TwoPhasePool(PlantedPool):
    """Tuning draws: a planted validation score (draw d2 best for every method); confirmation
    cells: the planted final error of PlantedPool, by the rank of the seed from 100. Results go
    through the runner's own ``on_result``, as the local pool's do."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def run(self, batch, on_result):
        from gannorm import outcomes

        for cell, _ in batch:
            self.ran.append(cell.id)
            m = cell.labels["norm"]
            if cell.labels.get("phase") != "confirm":
                v = {"d0": 0.3, "d1": 0.2, "d2": 0.1}[cell.labels["draw"]]
                on_result(cell, "", outcomes.Outcome(outcomes.DONE), {"iterations": 10, "best_running": v},
                          [{"iteration": 10, "recon_running": v}])
                continue
            s = int(cell.labels["train.seed"]) - 100
            key = self.study.final_test.recon_keys(cell.config)[0]
            v = MEANS[m] + self.seed_effect[s] + self.noise[m][s]
            on_result(cell, "", outcomes.Outcome(outcomes.DONE),
                      {"iterations": 10, "best_running": v,
                       "finals": {key: {"kind": "recon", "checkpoint": "best", "checkpoint_used": "best", "steps": 10,
                                        "n_images": 50, "recon": v, "ladder": {"10": v}, "checkpoint_iteration": 10}}},
                      [{"iteration": 10, "recon_running": v}])


def test_a_raced_confirmation_adds_seeds_only_where_undecided(tmp_path, monkeypatch):
    """tune-confirm with ``confirm.seeds: {start, max, step, first}``: every method's best draw
    enters a seeds race from seed 100; the clearly worse method stops at the first look."""
    from gannorm.study import runner

    p = tmp_path / "s.yaml"
    p.write_text(TUNED.format(extra=""))
    s = load_study(p)
    assert s.race is not None and s.confirm["seeds"] == list(range(100, 107)) and len(s.cells) == 9
    pools = []
    monkeypatch.setattr(runner, "LocalPool", lambda study, *a: pools.append(TwoPhasePool(study, None)) or pools[-1])
    runner.run_study(s, tmp_path / "out", say=lambda _: None)
    ran = [c for pool in pools for c in pool.ran]
    assert len([c for c in ran if "phase" not in c]) == 9
    confirm = [c for c in ran if c.startswith("phase=confirm")]
    assert all(",draw=d2" in c for c in confirm)  # each method's best draw
    assert sorted(c for c in confirm if "norm=bad" in c) == [f"phase=confirm,norm=bad,seed={sd},draw=d2"
                                                              for sd in (100, 101, 102)]
    store = Store(tmp_path / "out" / "study.db")
    race = store.meta("race")
    # a method is named by its labels less seed, draw and phase (store.labels.method_labels)
    assert race["looks"][0]["seeds"] == {"norm=good": 3, "norm=close": 3, "norm=bad": 3}
    assert race["runs"] == len(confirm) < 7 * 3
    store.close()
    from gannorm.report import build_report

    page = build_report(tmp_path / "out").read_text()
    assert "in a seeds race from seed 100 (seeds added only while the verdict was undecided" in page
    assert f"Runs used: {len(confirm)} (a fixed design of 7 seeds for every method would use 21)" in page


@pytest.mark.parametrize("extra, message", [
    ("seeds: {start: 3, max: 7}", "the seeds race is the confirmation"),
    ("budget: {runs: 5}", "cannot fit the first round"),
])
def test_raced_confirmation_settings_fail_before_anything_runs(tmp_path, extra, message):
    p = tmp_path / "s.yaml"
    p.write_text(TUNED.format(extra=extra))
    with pytest.raises(GannormError, match=message):
        load_study(p)
