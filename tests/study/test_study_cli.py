"""`gannorm study` as a user sees it: a line when each cell starts, a non-empty log per cell,
no progress bars when the output is not a terminal, and --dry-run checking each cell's data."""
import json

import yaml
from click.testing import CliRunner

from gannorm.cli import cli
from gannorm.cli.study_progress import last_iteration

TINY = {"model": {"base_features": 8, "z_dim": 16},
        "train": {"iterations": 8, "batch_size": 8, "log_every": 2, "sample_every": 0, "n_samples": 4},
        "eval": {"test_interval": 4, "test_steps": 2}, "data": {"name": "fashion_mnist_small", "running_holdout": 8}}


def _write(tmp_path, axes):
    p = tmp_path / "study.yaml"
    p.write_text(yaml.safe_dump({"name": "t", "base": TINY, "axes": axes, "final_test": {"steps": 2, "images": 8},
                                 "diversity_samples": 8}))
    return p


def test_study_prints_running_lines_writes_logs_and_no_bars_off_a_terminal(tmp_path):
    r = CliRunner().invoke(cli, ["study", str(_write(tmp_path, {"train.seed": [0]})), "--out", str(tmp_path / "o"),
                                 "--no-report"])
    assert r.exit_code == 0, r.output
    assert "running seed=0" in r.output
    assert "cells:" not in r.output and "it/s" not in r.output  # not a TTY: no bars
    log = (tmp_path / "o" / "logs" / "seed=0.log").read_text()
    assert "from scratch" in log and "done: 8 iterations" in log


def test_dry_run_checks_that_each_cells_data_exists(tmp_path):
    axes = {"data": {"ok": {"data.name": "fashion_mnist_small"},
                     "gone": {"data.name": "folder", "data.root": str(tmp_path / "nope")}}}
    r = CliRunner().invoke(cli, ["study", str(_write(tmp_path, axes)), "--dry-run"])
    assert r.exit_code != 0
    assert "data=gone: " in r.output and f"[data: {tmp_path / 'nope'} does not exist]" in r.output
    assert "1 of 2 cells have no data" in r.output and "Traceback" not in r.output
    assert "[data:" not in next(l for l in r.output.splitlines() if l.strip().startswith("data=ok"))
    ok = CliRunner().invoke(cli, ["study", str(_write(tmp_path, {"data": {"ok": axes["data"]["ok"]}})), "--dry-run"])
    assert ok.exit_code == 0 and "data found for all 1 cells" in ok.output
    assert not (tmp_path / "studies").exists()  # a dry run runs nothing


def test_last_iteration_reads_the_last_complete_line(tmp_path):
    m = tmp_path / "metrics.jsonl"
    assert last_iteration(m) == 0
    m.write_text("".join(json.dumps({"iteration": i, "d_loss": 0.5}) + "\n" for i in range(1, 2000)) + '{"iterat')
    assert last_iteration(m) == 1999  # a line being written is skipped; only the file's tail is read


def test_progress_announces_cells_the_study_makes_as_it_goes(tmp_path):
    """A tune-confirm study's confirmation cells are not in the grid: their config file in
    configs/ makes the progress print a running line for them and count them."""
    import time
    from types import SimpleNamespace

    from gannorm.cli.study_progress import StudyProgress

    runs, configs = tmp_path / "runs", tmp_path / "configs"
    configs.mkdir()
    grid = SimpleNamespace(id="draw=d0", config=SimpleNamespace(train=SimpleNamespace(iterations=10)))
    lines = []
    with StudyProgress([grid], runs, 1, 1, every=0.05, configs=configs) as progress:
        progress.write = lines.append
        (configs / "draw=d0.yaml").write_text("train: {iterations: 10}\n")
        (configs / "phase=confirm,seed=1.yaml").write_text("train: {iterations: 30}\n")
        (configs / "phase=confirm,seed=2.yaml").write_text("train: {iterations: 30}\n")  # not started yet
        (runs / "phase=confirm,seed=1").mkdir(parents=True)
        (runs / "phase=confirm,seed=1" / "metrics.jsonl").write_text('{"iteration": 5}\n')
        deadline = time.time() + 10
        while "phase=confirm,seed=1" not in progress.running and time.time() < deadline:
            time.sleep(0.05)
        assert lines == ["running phase=confirm,seed=1"]
        assert progress.bar.total == 2 and progress.running["phase=confirm,seed=1"].total == 30
