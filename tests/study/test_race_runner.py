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
