"""A study directory has one driver; a killed driver takes its running cell down with it
(kill -9 included); a rerun records a cell with damaged files as failed and goes on."""
import dataclasses
import os
import signal

import pytest
import yaml

from faultkit import alive, assert_one_line_error, cell_pids, gannorm, kill9, spawn, wait_for

from gannorm.study import load_study, run_study
from gannorm.training import Trainer

BASE = {"model": {"base_features": 8, "z_dim": 16},
        "train": {"iterations": 100000, "batch_size": 8, "log_every": 1, "sample_every": 0, "n_samples": 4,
                  "checkpoint_every": 1},
        "eval": {"test_interval": 0}, "data": {"running_holdout": 8}}


def _study(tmp_path, iterations):
    sf = tmp_path / "study.yaml"
    base = {**BASE, "train": {**BASE["train"], "iterations": iterations}}
    sf.write_text(yaml.safe_dump({"name": "k", "base": base, "axes": {"train.seed": [0]},
                                  "final_test": {"steps": 2, "images": 8}, "diversity_samples": 8}))
    return sf


@pytest.mark.slow  # three interpreters start one after another (the driver, its cell, a second driver)
def test_killed_study_takes_its_cell_down_and_a_second_driver_is_refused(tmp_path):
    sf = _study(tmp_path, 100000)
    out = tmp_path / "out"
    run = out / "runs" / load_study(sf).cells[0].id
    driver = spawn("study", sf, "--out", out, "--no-report", log=tmp_path / "driver.log")
    try:
        wait_for(lambda: (run / "checkpoints" / "latest.pt").exists(), driver, timeout=400,
                 what="the cell's first checkpoint")
        cells = cell_pids(run)
        assert len(cells) == 1
        code, _, err = gannorm("study", sf, "--out", out, "--no-report", timeout=400)
        assert_one_line_error(code, err, str(out), f"PID {driver.pid}")
        kill9(driver)
        wait_for(lambda: not alive(cells[0]), timeout=60, what="the cell to die with its study")
    finally:
        kill9(driver)
        for pid in cell_pids(run):  # without the fix the cell lives on: do not leave it running
            os.kill(pid, signal.SIGKILL)


def test_rerun_records_a_cell_with_damaged_metrics_as_failed_and_goes_on(tmp_path):
    sf = _study(tmp_path, 2)
    out = tmp_path / "out"
    cell = load_study(sf).cells[0]
    run = out / "runs" / cell.id
    # the cell was interrupted after iteration 1, and its metrics damaged in the middle
    # (as two racing writers leave them)
    first_leg = dataclasses.replace(cell.config, train=dataclasses.replace(cell.config.train, iterations=1))
    Trainer(first_leg, run, quiet=True).train()
    text = (run / "metrics.jsonl").read_text()
    (run / "metrics.jsonl").write_text("\0\0{\"iteration\": 1, \"d_lo\n" + text)
    rows = run_study(load_study(sf), out)  # must not crash
    assert [r["status"] for r in rows] == ["failed"]
    assert "metrics.jsonl line 1 is damaged" in rows[0]["error"], rows[0]["error"]
