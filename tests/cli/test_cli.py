"""The command line end to end on the bundled data, and its one-line errors for bad input."""
import json
import subprocess
import sys

import pytest
from click.testing import CliRunner
from PIL import Image

from gannorm.cli import cli

TINY = ["base_features=8", "z_dim=16", "batch_size=8", "iterations=4", "log_every=1",
        "sample_every=2", "test_interval=2", "test_steps=2", "running_holdout=8", "n_samples=4"]


def run(args):
    """Run ``python -m gannorm`` as a user would: exit code, stdout, stderr."""
    p = subprocess.run([sys.executable, "-m", "gannorm", *args], capture_output=True, text=True, timeout=300)
    return p.returncode, p.stdout, p.stderr


def test_train_sample_eval_end_to_end(tmp_path):
    rd = tmp_path / "run"
    code, out, err = run(["train", *TINY, "--run-dir", str(rd), "--quiet"])
    assert code == 0, err
    assert f"samples: {rd / 'samples' / 'final.png'}" in out
    assert "sample quality (classifier IS, 2000 samples vs 2000 real images): " in out  # the bundled data
    assert json.loads((rd / "eval" / "classifier_is.json").read_text())["record"]["metric"] == "is_ratio"
    for f in ("config.yaml", "metrics.jsonl", "checkpoints/latest.pt", "checkpoints/best.pt",
              "samples/iter_0000000.png", "samples/iter_0000004.png"):
        assert (rd / f).exists(), f
    assert any(p.name.startswith("events.out.tfevents") for p in (rd / "tb").iterdir())
    lines = [json.loads(l) for l in (rd / "metrics.jsonl").read_text().splitlines()]
    assert [l["iteration"] for l in lines] == [1, 2, 3, 4] and "recon_running" in lines[1]

    r = CliRunner().invoke(cli, ["sample", str(rd), "-n", "9", "--out", str(tmp_path / "s.png")])
    assert r.exit_code == 0, r.output
    w, h = Image.open(tmp_path / "s.png").size
    assert (w, h) == (3 * 28 + 4 * 2, 3 * 28 + 4 * 2)  # 3x3 grid with torchvision's 2 px padding

    r = CliRunner().invoke(cli, ["eval", str(rd), "--recon", "--steps", "2", "--n-images", "8"])
    assert r.exit_code == 0, r.output
    assert "reconstruction error:" in r.output

    # resume to a longer run: continues from iteration 4
    code, out, err = run(["train", "--resume", str(rd), "iterations=6", "--quiet"])
    assert code == 0, err and "done: 6 iterations" in out


@pytest.mark.parametrize("args,message", [
    (["d_norm=wieght"], "unknown normalization 'wieght'; valid: batch"),
    (["data.name=folder", "data.root=/nonexistent/imgs"], "image folder not found: /nonexistent/imgs"),
    (["data.name=fashion_mnist", "data.root=/nonexistent"], "looked in: /nonexistent"),
    (["device=cuda:3"], None),  # either no GPU (error) or no such GPU: must be one line, no traceback
    (["nosuchkey=1"], "unknown config key 'nosuchkey'"),
])
def test_bad_input_is_one_line_without_traceback(tmp_path, args, message):
    code, out, err = run(["train", *TINY, *args, "--run-dir", str(tmp_path / "r"), "--quiet"])
    assert code == 2
    assert "Traceback" not in err
    assert err.startswith("gannorm: error: ") and err.count("\n") == 1
    if message:
        assert message in err


def test_unreadable_image_names_the_file(tmp_path):
    root = tmp_path / "imgs" / "cls"
    root.mkdir(parents=True)
    for i in range(3):
        Image.new("RGB", (16, 16), (i * 40, 0, 0)).save(root / f"{i}.png")
    (root / "3.png").write_bytes(b"not a png")
    code, out, err = run(["train", *TINY, "data.name=folder", f"data.root={tmp_path / 'imgs'}",
                          "--run-dir", str(tmp_path / "r"), "--quiet"])
    assert code == 2 and "Traceback" not in err
    assert "cannot read image" in err and "3.png" in err


def test_nan_loss_stops_with_iteration_and_keeps_checkpoint(tmp_path, monkeypatch):
    """A loss that turns NaN at iteration 3 stops the run; the iteration-2 checkpoint is intact."""
    import torch

    from gannorm import config
    from gannorm.errors import GannormError
    from gannorm.training import Trainer
    from gannorm.training.checkpoint import load_checkpoint

    t = Trainer(config.load(None, TINY + ["checkpoint_every=2", "test_interval=0"]), tmp_path, quiet=True)
    orig = t.loss.d_loss
    calls = {"n": 0}

    def d_loss(r, f):
        calls["n"] += 1
        return orig(r, f) * (float("nan") if calls["n"] == 3 else 1.0)

    t.loss.d_loss = d_loss
    with pytest.raises(GannormError, match=r"d_loss stopped being finite at iteration 3 \(now nan\); "
                                           r"the last good checkpoint .* is intact"):
        t.train()
    assert load_checkpoint(tmp_path / "checkpoints" / "latest.pt")["iteration"] == 2


def test_nan_between_sync_points_is_named_and_never_saved(tmp_path):
    """The step does not sync to check losses; a NaN at iteration 3 is found at the next
    sync point (iteration 4: a checkpoint is due), reported as iteration 3, and the
    iteration-4 checkpoint is NOT written over the good iteration-2 one."""
    from gannorm import config
    from gannorm.errors import GannormError
    from gannorm.training import Trainer
    from gannorm.training.checkpoint import load_checkpoint

    t = Trainer(config.load(None, TINY + ["checkpoint_every=2", "log_every=100", "test_interval=0",
                                          "sample_every=0"]), tmp_path, quiet=True)
    orig, calls = t.loss.g_loss, {"n": 0}

    def g_loss(f, r):
        calls["n"] += 1
        return orig(f, r) * (float("nan") if calls["n"] == 3 else 1.0)

    t.loss.g_loss = g_loss
    with pytest.raises(GannormError, match=r"g_loss stopped being finite at iteration 3 "):
        t.train()
    assert t.iteration == 4  # it ran on to the sync point
    assert load_checkpoint(tmp_path / "checkpoints" / "latest.pt")["iteration"] == 2


def test_help_lists_every_config_key_and_choices():
    r = CliRunner().invoke(cli, ["train", "--help"])
    assert r.exit_code == 0
    for key in ("model.d_norm", "train.iterations", "eval.test_interval", "optim.g_lr"):
        assert key in r.output
    from gannorm.registry import NORMS

    text = " ".join(r.output.split())  # click wraps long lines
    assert f"choices: {', '.join(NORMS.names())}" in text


def test_train_finishes_when_the_classifier_is_damaged_and_says_where_to_look_next(tmp_path, monkeypatch):
    """Reference: a damaged classifier file must not fail a finished run; the summary names the
    figure as unavailable with the reason, and the run ends by pointing at the next steps."""
    from gannorm.metrics import extractors

    bad = tmp_path / "classifier.pt"
    bad.write_bytes(b"not a weights file")
    monkeypatch.setattr(extractors, "FASHION_MNIST_CNN", bad)
    rd = tmp_path / "run"
    r = CliRunner().invoke(cli, ["train", *TINY, "--run-dir", str(rd)])
    assert r.exit_code == 0, r.output
    assert "sample quality (classifier IS): unavailable: the Fashion-MNIST classifier shipped with gannorm is " \
           "unusable (cannot load domain classifier" in r.output
    assert "reinstall gannorm" in r.output and (rd / "samples" / "final.png").exists()
    assert "next:" in r.output and f"tensorboard --logdir {rd.parent}" in r.output and "gannorm eval" in r.output
