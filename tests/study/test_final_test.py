"""The final test's z-step ladder: the error read at each budget of one optimisation equals a
separate test run with that many steps (same z initialisation at 0, same RMSProp)."""
import pytest
import torch

from gannorm.config import ModelConfig
from gannorm.metrics.reconstruction import reconstruction_error
from gannorm.models import build_models
from gannorm.store.final_test import FinalTestSpec, resolve_checkpoint


def test_ladder_equals_separate_runs_at_those_step_counts(one_thread):
    torch.manual_seed(0)
    g, _ = build_models(ModelConfig(name="dcgan", base_features=8, z_dim=16, g_norm="batch"), 32, 1)
    images = torch.randint(0, 256, (12, 1, 32, 32), dtype=torch.uint8)
    spec = FinalTestSpec(ladder=(2, 5, 10, 50))
    kept, dropped = spec.budgets(12)
    assert kept == [2, 5, 10, 12] and dropped == [50]  # the test's own steps close the ladder; 50 is above it
    long = reconstruction_error(g, images, steps=12, chunk_size=5)
    for b in kept:
        alone = reconstruction_error(g, images, steps=b, chunk_size=5)
        assert long.curve[b] == pytest.approx(alone.mean, rel=1e-5), b


def test_a_run_without_the_checkpoint_asked_for_is_scored_on_what_it_has():
    assert resolve_checkpoint("best", False, True).used == "latest"
    assert "no best checkpoint" in resolve_checkpoint("best", False, True).note
    assert resolve_checkpoint("latest", True, False).used == "best"
    assert resolve_checkpoint("latest", True, True).note == ""
    assert resolve_checkpoint("best", False, False).used is None


def test_a_final_result_of_an_earlier_gannorm_gets_its_ladder_from_the_curve():
    from gannorm.store.final_test import legacy_final

    curve = [1.0 / (1 + i) for i in range(201)]  # error after 0..200 steps
    key, e = legacy_final(curve[200], 200, 500, curve, have_best=False)
    assert key == "recon|best|steps=200|images=500"
    assert e["ladder"] == {"25": curve[25], "50": curve[50], "100": curve[100], "200": curve[200]}
    assert e["checkpoint_used"] == "latest" and "no best checkpoint" in e["note"]


def test_best_and_latest_of_one_iteration_are_scored_once(train_tiny_run, tmp_path, monkeypatch):
    """A run whose best running test is its last iteration has best.pt and latest.pt with the
    same weights: the second checkpoint name reuses the first score and says why."""
    from gannorm import config as config_mod
    from gannorm.study import cell
    from gannorm.training import RunDir
    from gannorm.training.checkpoint import load_checkpoint

    run = tmp_path / "run"
    train_tiny_run(run, "train.iterations=4", "eval.test_interval=4", "eval.test_steps=2",
                   "train.checkpoint_every=4")
    assert RunDir(run).best.exists() and RunDir(run).latest.exists()
    calls = []
    real = cell.final_recon_test
    monkeypatch.setattr(cell, "final_recon_test", lambda *a, **k: calls.append(k["checkpoint"]) or real(*a, **k))
    cfg = config_mod.load(run / "config.yaml", [])
    spec = FinalTestSpec(steps=3, images=8, checkpoints=("best", "latest"), ladder=(2,))
    images = cell._RunImages(run, cfg)
    have = {}
    iterations = cell._checkpoint_iterations(cell._training(cfg, run, {}))  # a finished run: no training
    on_disk = {c: int(load_checkpoint(getattr(RunDir(run), c))["iteration"]) for c in ("best", "latest")}
    assert iterations == on_disk == {"best": 4, "latest": 4}  # the figures name the checkpoints' own iterations
    have["b"] = cell._recon(run, spec, cfg, "best", have, images, iterations)
    have["l"] = cell._recon(run, spec, cfg, "latest", have, images, iterations)
    assert calls == ["best"]
    assert have["l"]["recon"] == have["b"]["recon"] and have["l"]["checkpoint_used"] == "latest"
    assert have["l"]["checkpoint_iteration"] == 4 and "both iteration 4: scored once" in have["l"]["note"]


@pytest.mark.parametrize("section", [
    {},
    {"steps": 500, "images": 1000, "checkpoints": ["best", "latest"], "ladder": [25, 100]},
    {"metrics": ["fid", "kid"], "metric_options": {"kid": {"subset_size": 100}}, "n_gen": 500, "n_real": 300},
    {"checkpoints": "latest", "metrics": "fid", "extractor": "efficientnet_lite0"},
    {"metrics": ["fid", "dc"], "real_split": "all", "n_real": 5000},
])
def test_one_serialised_form_round_trips(section):
    """A study file's section -> spec -> the dict the store records and the cell receives (as JSON)
    -> the same spec, with the same result keys."""
    import json

    from gannorm.config import Config
    from gannorm.store.final_test import FinalTestSpec, parse

    spec = parse(section)
    again = FinalTestSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again == spec
    assert again.recon_keys(Config()) + again.quality_keys() == spec.recon_keys(Config()) + spec.quality_keys()
    assert FinalTestSpec.from_dict({**spec.to_dict(), "checkpoints": []}).recon_keys(Config()) == []


def test_real_split_is_checked_and_named_in_the_key_only_when_not_train():
    from gannorm.errors import GannormError
    from gannorm.store.final_test import parse

    train = parse({"metrics": ["fid"], "n_real": 40})
    assert train.real_split == "train" and train.quality_keys() == ["fid|best|efficientnet_lite0|gen=2000|real=40"]
    assert parse({"metrics": ["fid"], "n_real": 40, "real_split": "all"}).quality_keys() == [
        "fid|best|efficientnet_lite0|gen=2000|real=40@all"]
    with pytest.raises(GannormError, match=r"final_test.real_split: unknown 'everything'; valid: train, test, validation, all"):
        parse({"real_split": "everything"})
