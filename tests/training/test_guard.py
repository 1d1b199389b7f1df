"""The guard (train.guard): bad settings refused before training, the kept checkpoints, and
real runs that warn, roll back (learning rates lowered, recorded) and stop with an outcome."""
import json

import pytest
import torch
import yaml

from gannorm import config, health, outcomes
from gannorm.config import GuardConfig
from gannorm.errors import GannormError
from gannorm.training import Trainer
from gannorm.training.guard import Guard

TINY = ["base_features=8", "z_dim=16", "batch_size=8", "log_every=5", "sample_every=0",
        "running_holdout=16", "n_samples=4", "device=cpu", "test_steps=2"]


@pytest.mark.parametrize("over,match", [
    (["train.guard.on=[divergense]"], "unknown signal 'divergense'.*Did you mean 'divergence'"),
    (["train.guard.action=rollbak"], "train.guard.action='rollbak' is not valid.*Did you mean 'rollback'"),
    (["train.guard.lr_factor=-0.5"], "lr_factor must be in \\(0, 1\\]"),
    (["train.guard.action=rollback", "train.checkpoint_every=0"], "rollback needs checkpoints"),
    (["train.guard.action=stop", "train.diagnostics_every=0"], "needs the diagnostics"),
    (["train.guard.max_rollbacks=-1"], "max_rollbacks must be >= 0"),
    (["train.log_to=[tensorbord]"], "unknown destination 'tensorbord'.*Did you mean 'tensorboard'"),
    (["train.health.patience=0"], "patience must be >= 1"),
    (["train.health.diverge_rise=1"], "diverge_rise must be > 1"),
    (["train.health.overfit_rt=1.5"], "overfit_rt must be in"),
    (["train.health.overfit_gap_alone=0"], "overfit_gap_alone must be > 0"),
])
def test_bad_settings_are_one_line_errors(over, match):
    with pytest.raises(GannormError, match=match) as e:
        config.load(None, over)
    assert "\n" not in str(e.value)


def test_yaml_on_key_is_the_signal_list(tmp_path):
    """YAML 1.1 reads `on:` as true; the guard's key still works as written in the docs."""
    p = tmp_path / "c.yaml"
    p.write_text("train:\n  guard: {on: [divergence], action: stop}\n")
    cfg = config.load(p)
    assert cfg.train.guard.on == ["divergence"] and cfg.train.guard.action == "stop"


def test_bad_guard_in_cli_is_one_line_before_training(tmp_path):
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "gannorm", "train", "train.guard.action=explode", "iterations=5",
                        "--run-dir", str(tmp_path / "r")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "train.guard.action='explode'" in r.stderr
    assert not (tmp_path / "r").exists()


def test_kept_checkpoints_follow_the_onset(tmp_path):
    import os

    g = Guard(GuardConfig(action="rollback"), tmp_path / "guard")
    src = tmp_path / "latest.pt"

    def save(it):  # as the trainer saves: a new file renamed over latest.pt
        (tmp_path / "tmp").write_text(str(it))
        os.replace(tmp_path / "tmp", src)

    for it in (0, 100, 200, 300):
        save(it)
        g.keep(src, it)
        g.prune(None)  # no streak: only the newest stays
    assert list(g.kept()) == [300]
    # a streak starts at 350: the newest before it (300) and every newer one stay
    for it in (400, 500):
        save(it)
        g.keep(src, it)
        g.prune(350)
    assert list(g.kept()) == [300, 400, 500]
    assert g.healthy(350)[0] == 300 and g.healthy(300) is None
    assert g.kept()[300].read_text() == "300"  # a link to the file as it was, not to latest.pt now
    g.forget_after(400)
    assert list(g.kept()) == [300, 400]


# a collapse rule that is always past its threshold: a deterministic warning every `patience` diagnostics
ALWAYS = ["train.health.collapse_warn=10", "train.health.collapse_drop=10", "train.health.patience=2",
          "train.guard.on=[collapse]", "diagnostics_every=5", "checkpoint_every=5", "test_interval=5"]


def test_rollback_then_stop_after_max_rollbacks(tmp_path, one_thread):
    cfg = config.load(None, TINY + ALWAYS + ["iterations=40", "train.guard.action=rollback",
                                             "train.guard.max_rollbacks=2", "train.guard.lr_factor=0.5"])
    t = Trainer(cfg, tmp_path, quiet=True)
    res = t.train()
    # diagnostics at 5 (onset) and 10 (warning): back to iteration 0, twice; the third warning stops
    assert [(r["iteration"], r["to"], r["onset"], r["lr_scale"]) for r in res.rollbacks] == [
        (10, 0, 5, 0.5), (10, 0, 5, 0.25)]
    assert res.status.startswith("stopped: collapse") and res.status.endswith("at 10")
    assert "after 2 rollback(s)" in res.status
    assert [g["lr"] for g in t.opt_g.param_groups] == [pytest.approx(cfg.optim.g_lr * 0.25)]
    assert [g["lr"] for g in t.opt_d.param_groups] == [pytest.approx(cfg.optim.d_lr * 0.25)]
    out = outcomes.read(tmp_path)
    assert out.status == outcomes.STOPPED and out.by == outcomes.BY_GUARD and out.iteration == 10
    assert out.is_failure
    changes = yaml.safe_load((tmp_path / "config_changes.yaml").read_text())
    assert [(c["key"], c["new"] / c["old"], c["iteration"]) for c in changes] == [
        ("optim.g_lr", pytest.approx(0.5), 0), ("optim.d_lr", pytest.approx(0.5), 0),
        ("optim.g_lr", pytest.approx(0.5), 0), ("optim.d_lr", pytest.approx(0.5), 0)]
    events = [json.loads(l) for l in (tmp_path / "health.jsonl").read_text().splitlines()]
    assert [e["event"] for e in events] == ["warning", "rollback", "warning", "rollback", "warning", "stop"]
    assert (tmp_path / "checkpoints" / "best.pt").exists()  # stop keeps the best checkpoint
    # the rolled-back stretch was taken out of metrics.jsonl: iterations never go back
    its = [json.loads(l)["iteration"] for l in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert its == sorted(its)
    s = torch.load(tmp_path / "checkpoints" / "latest.pt", weights_only=True)
    assert s["health"]["guard"]["lr_scale"] == 0.25  # a resume continues with the lowered rates


def test_rollback_resumes_with_lowered_rates(tmp_path, one_thread):
    over = TINY + ALWAYS + ["train.guard.action=rollback", "train.guard.max_rollbacks=1"]
    t = Trainer(config.load(None, over + ["iterations=40"]), tmp_path, quiet=True)
    t.train()
    assert t.stopped
    r = Trainer(config.load(tmp_path / "config.yaml", ["iterations=40", "train.guard.action=warn"]), tmp_path,
                quiet=True, resume=True)
    assert r.guard.lr_scale == 0.5 and r.opt_g.param_groups[0]["lr"] == pytest.approx(r.cfg.optim.g_lr * 0.5)


def test_stop_action_ends_the_run_with_its_outcome(tmp_path, one_thread):
    cfg = config.load(None, TINY + ALWAYS + ["iterations=40", "train.guard.action=stop"])
    res = Trainer(cfg, tmp_path, quiet=True).train()
    assert res.iteration == 10 and res.status.startswith("stopped: collapse") and not res.rollbacks
    assert outcomes.read(tmp_path).by == outcomes.BY_GUARD


def test_warn_action_only_warns(tmp_path, one_thread):
    cfg = config.load(None, TINY + ALWAYS + ["iterations=20"])
    res = Trainer(cfg, tmp_path, quiet=True).train()
    assert res.iteration == 20 and res.status == "done" and outcomes.read(tmp_path) is None
    events = [json.loads(l) for l in (tmp_path / "health.jsonl").read_text().splitlines()]
    assert [(e["event"], e["signal"], e["onset"], e["iteration"]) for e in events] == [("warning", "collapse", 5, 10)]
    assert events[0]["threshold"] == 10


def test_mlflow_gets_params_metrics_and_artifacts(tmp_path, one_thread, monkeypatch):
    from mlflow.tracking import MlflowClient

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = config.load(None, TINY + ["iterations=10", "diagnostics_every=5", "sample_every=10", "checkpoint_every=10",
                                    "test_interval=0", "train.log_to=[tensorboard, mlflow]"])
    Trainer(cfg, tmp_path / "run", quiet=True).train()
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    run_id = (tmp_path / "run" / "mlflow_run_id").read_text().strip()
    run = client.get_run(run_id)
    assert run.data.params["train.loss"] == "nonsaturating" and run.data.params["train.iterations"] == "10"
    assert run.info.status == "FINISHED"
    hist = client.get_metric_history(run_id, "diag/r_t")
    logged = [json.loads(l) for l in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [(m.step, m.value) for m in hist] == [(r["iteration"], pytest.approx(r["diag/r_t"]))
                                                 for r in logged if "diag/r_t" in r]
    arts = {a.path for a in client.list_artifacts(run_id, "checkpoints")}
    assert "checkpoints/latest.pt" in arts
    assert client.list_artifacts(run_id, "samples")


def test_train_cli_prints_the_status_and_the_rollbacks(tmp_path, one_thread):
    """`gannorm train`'s summary says how the run ended (stopped by the guard, why, where) and
    lists every rollback."""
    from click.testing import CliRunner

    from gannorm.cli import cli

    run = tmp_path / "r"
    over = TINY + ALWAYS + ["iterations=40", "train.guard.action=rollback", "train.guard.max_rollbacks=1"]
    r = CliRunner().invoke(cli, ["train", *over, "--run-dir", str(run), "--quiet"])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    status = next(l for l in lines if l.startswith("stopped: "))
    assert status.startswith("stopped: collapse (") and status.endswith(f"at 10; 10 iterations in {run}")
    assert "after 1 rollback(s)" in status
    assert "guard: 1 rollback(s)" in lines
    assert ("  rollback at iteration 10 on collapse (since iteration 5): back to iteration 0, learning rates x0.5"
            in lines)
    assert not any(l.startswith("done:") for l in lines)


def test_summary_of_a_finished_run_says_done():
    from pathlib import Path

    from gannorm.cli.train import summary_lines
    from gannorm.training.trainer import TrainResult

    res = TrainResult(Path("runs/x"), 200, None, None, None)
    assert summary_lines(res) == [f"done: 200 iterations in {Path('runs/x')}"]
    res = TrainResult(Path("runs/x"), 300, None, None, None, rollbacks=[
        {"iteration": 150, "to": 100, "signal": "divergence", "onset": 120, "lr_scale": 0.5}])
    assert summary_lines(res)[1:] == [
        "guard: 1 rollback(s)",
        "  rollback at iteration 150 on divergence (since iteration 120): back to iteration 100, learning rates x0.5"]
