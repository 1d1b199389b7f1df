"""Bad input meets a one-line error before anything is lost: weights that an update made
non-finite are never saved, inf/nan and malformed values are refused while the config is
read, a resumed run cannot silently change what it trains, and a start that fails in its
set-up leaves no empty run directory behind."""
import math

import pytest
import torch
import yaml

from faultkit import TINY, assert_one_line_error, invoke

from gannorm.training import checkpoint


def test_nonfinite_tensors_matches_a_per_tensor_loop():
    """Reference: torch.isfinite(t).all() tensor by tensor."""
    g = torch.Generator().manual_seed(0)
    groups = {"G": {f"w{i}": torch.randn(5, 3, generator=g) * 10.0 ** (i % 30) for i in range(40)},
              "D": {"n": torch.tensor(7), "empty": torch.zeros(0), "big": torch.full((4,), 3e38)},
              "G_ema": None}
    groups["G"]["w3"][1, 2] = math.inf
    groups["G"]["w17"][0, 0] = -math.inf
    groups["G"]["w30"][4, 1] = math.nan
    groups["D"]["half"] = torch.tensor([1.0, math.nan], dtype=torch.float16)
    ref = [f"{k}.{n}" for k, sd in groups.items() if sd for n, t in sd.items()
           if t.is_floating_point() and not bool(torch.isfinite(t).all())]
    assert checkpoint.nonfinite_tensors(groups) == ref == ["G.w3", "G.w17", "G.w30", "D.half"]
    assert checkpoint.nonfinite_tensors({"G": {"a": torch.ones(3)}, "D": {"b": torch.full((2,), 3e38)}}) == []


def test_weights_made_nonfinite_by_a_huge_learning_rate_are_never_saved(tmp_path):
    run = tmp_path / "run"
    # the loss of iteration 1 is finite; the update it drives puts infinities in G
    code, _, err = invoke("train", *TINY, "optim.g_lr=2e38", "iterations=1", "--run-dir", run)
    assert_one_line_error(code, err, "weights stopped being finite by iteration 1", "latest.pt was not saved",
                          "no checkpoint was written yet")
    assert not (run / "checkpoints" / "latest.pt").exists()

    code, _, err = invoke("train", *TINY, "iterations=1", "--run-dir", tmp_path / "good")
    assert code == 0, err
    good = tmp_path / "good" / "checkpoints" / "latest.pt"
    code, _, err = invoke("train", "--resume", tmp_path / "good", "optim.g_lr=2e38", "train.iterations=2",
                          "--allow-config-change")
    assert_one_line_error(code, err, "weights stopped being finite by iteration 2",
                          f"the last good checkpoint ({good}, iteration 1) is intact")
    s = checkpoint.load_checkpoint(good)
    assert s["iteration"] == 1 and checkpoint.nonfinite_tensors({k: s[k] for k in ("G", "D")}) == []


@pytest.mark.parametrize("override,needle", [
    ("train.iterations=nan", "train.iterations: expected a finite number, got nan"),
    ("train.iterations=.inf", "train.iterations: expected a finite number, got inf"),
    ("optim.g_lr=nan", "optim.g_lr: expected a finite number, got nan"),
    ("optim.d_lr=-.inf", "optim.d_lr: expected a finite number, got -inf"),
    ("train.tricks.replay={size:", "override 'train.tricks.replay={size:': the value is not valid YAML"),
])
def test_bad_override_values_are_one_line_errors(tmp_path, override, needle):
    code, _, err = invoke("train", *TINY, "iterations=1", override, "--run-dir", tmp_path / "r")
    assert_one_line_error(code, err, needle)
    assert not (tmp_path / "r").exists()


def test_a_config_file_that_is_not_utf8(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_bytes("model:\n  g_norm: weight  # caf\u00e9\n".encode("latin-1"))
    code, _, err = invoke("train", p, "--run-dir", tmp_path / "r")
    assert_one_line_error(code, err, f"config file {p} is not UTF-8 text")


def test_a_start_that_fails_in_set_up_leaves_no_run_directory(tmp_path):
    run = tmp_path / "new" / "run"
    code, _, err = invoke("train", *TINY, "iterations=1", "data.name=folder", f"data.root={tmp_path / 'none'}",
                          "--run-dir", run)
    assert_one_line_error(code, err, "image folder not found")
    assert not run.exists()
    # a directory the user made beforehand is left as it was
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    code, _, err = invoke("train", *TINY, "iterations=1", "data.name=folder", f"data.root={tmp_path / 'none'}",
                          "--run-dir", mine)
    assert code == 2 and (mine / "notes.txt").read_text() == "keep"


def test_resume_refuses_config_changes_unless_allowed_and_records_them(tmp_path):
    run = tmp_path / "run"
    code, _, err = invoke("train", *TINY, "iterations=2", "--run-dir", run)
    assert code == 0, err
    code, _, err = invoke("train", "--resume", run, "train.loss=hinge", "train.seed=7", "train.iterations=4")
    assert_one_line_error(code, err, "train.loss: 'nonsaturating' -> 'hinge'", "train.seed: 0 -> 7")
    code, _, err = invoke("train", "--resume", run, "train.iterations=1")
    assert_one_line_error(code, err, "train.iterations=1 but the run is already at iteration 2")
    assert yaml.safe_load((run / "config.yaml").read_text())["train"]["iterations"] == 2
    # settings that only say how long, how often or how fast may change freely
    code, _, err = invoke("train", "--resume", run, "train.iterations=3", "train.log_every=2", "optim.impl=for_loop")
    assert code == 0, err
    code, _, err = invoke("train", "--resume", run, "train.seed=7", "train.iterations=4", "--allow-config-change")
    assert code == 0, err
    assert yaml.safe_load((run / "config.yaml").read_text())["train"]["seed"] == 7
    history = yaml.safe_load((run / "config_changes.yaml").read_text())
    assert {"key": "train.seed", "old": 0, "new": 7, "iteration": 3} in history
    assert {"key": "train.iterations", "old": 2, "new": 3, "iteration": 2} in history
