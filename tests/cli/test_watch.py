"""`gannorm watch RUN`: a run's health from its files, also for runs from before the diagnostics."""
import json

from click.testing import CliRunner

from gannorm.cli import cli


def _watch(run, *args):
    r = CliRunner().invoke(cli, ["watch", str(run), *args])
    assert r.exit_code == 0, r.output
    return r.output


def test_watch_a_run_without_diagnostics(tmp_path, train_tiny_run):
    """A run from before the diagnostics (none logged, no health.jsonl): what it has."""
    run = tmp_path / "old"
    train_tiny_run(run, "train.iterations=6", "train.diagnostics_every=0", "eval.test_interval=3",
                   "eval.test_steps=2")
    assert not (run / "health.jsonl").exists()
    out = _watch(run, "--follow")  # a finished run: --follow prints once and returns
    assert f"run {run}: iteration 6 of 6; done" in out
    assert "running reconstruction error" in out and "diagnostics: none logged" in out
    assert "health now" not in out


def test_watch_shows_diagnostics_warnings_and_guard(tmp_path, train_tiny_run):
    run = tmp_path / "r"
    train_tiny_run(run, "train.iterations=20", "train.diagnostics_every=5", "train.checkpoint_every=5",
                   "eval.test_interval=0", "train.health.collapse_warn=10", "train.health.collapse_drop=10",
                   "train.health.patience=2", "train.guard.action=stop")
    out = _watch(run)
    last = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines() if "diag/r_t" in l][-1]
    assert "iteration 10 of 20; stopped: collapse" in out
    assert f"diagnostics (iteration {last['iteration']}): r_t {last['diag/r_t']:.3g}" in out
    assert "health now: WARNING collapse since iteration 5" in out
    assert "health warning: collapse since iteration 5" in out and "guard: stop on collapse" in out


def test_watch_refuses_a_folder_that_is_not_a_run(tmp_path):
    r = CliRunner().invoke(cli, ["watch", str(tmp_path)])
    assert r.exit_code == 2
    assert "not a gannorm run directory (no config.yaml)" in r.output and "Traceback" not in r.output
