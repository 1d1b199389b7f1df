"""A study directory has one driver; a killed driver takes its running cell down with it
(kill -9 included); a rerun records a cell with damaged files as failed and goes on."""
import dataclasses
import os
import signal
import time

import pytest
import yaml

from faultkit import alive, assert_one_line_error, cell_pids, gannorm, kill9, spawn, wait_for

from gannorm import outcomes
from gannorm.study import load_study, run_study
from gannorm.store import Store
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


def _queue_study(tmp_path, n_long=3):
    """One cell that finishes at once, then ``n_long`` that would run for hours."""
    sf = tmp_path / "queue.yaml"
    base = {**BASE, "train": {**BASE["train"], "iterations": 100000}}
    axes = {"length": {"a_short": {"train.iterations": 2}, **{f"b_long{i}": {"train.iterations": 100000}
                                                               for i in range(n_long)}}}
    sf.write_text(yaml.safe_dump({"name": "q", "base": base, "axes": axes,
                                  "final_test": {"steps": 2, "images": 8}, "diversity_samples": 8}))
    return sf


@pytest.mark.slow  # a driver and two cells start one after another (~1.5 min each on a busy 2-core machine)
@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 128 + 15), (signal.SIGINT, 128 + 2)])
def test_a_signal_stops_the_study_without_starting_queued_cells(tmp_path, sig, code):
    """SIGTERM or Ctrl-C: the running cell is killed, no queued cell starts, the driver exits
    within seconds saying how to resume, and the finished cell is stored."""
    sf = _queue_study(tmp_path)
    out = tmp_path / "out"
    study = load_study(sf)
    first_long = out / "runs" / study.cells[1].id
    driver = spawn("study", sf, "--out", out, "--no-report", "--jobs", "1", log=tmp_path / "driver.log")
    try:
        wait_for(lambda: (first_long / "checkpoints" / "latest.pt").exists(), driver, timeout=240,
                 what="the first long cell's first checkpoint")
        cells = cell_pids(first_long)
        driver.send_signal(sig)
        t0 = time.monotonic()
        driver.wait(timeout=30)
        took = time.monotonic() - t0
        log = (tmp_path / "driver.log").read_text()
        assert driver.returncode == code, log
        assert took < 15, took
        assert "run the same command again to resume" in log and "Traceback" not in log, log
        assert not any(alive(p) for p in cells)
        started = sorted(p.name for p in (out / "runs").iterdir())
        assert started == sorted(c.id for c in study.cells[:2]), started  # the queued cells never started
        store = Store(out / "study.db")
        assert {r["cell_id"]: r["status"] for r in store.runs()} == {study.cells[0].id: "done"}
        store.close()
    finally:
        kill9(driver)
        for pid in cell_pids(out / "runs"):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.slow  # a driver and two cells, then a rerun in this process
def test_a_cell_killed_from_outside_is_recorded_killed_and_a_rerun_says_what_it_skips(tmp_path):
    """SIGKILL (as the out-of-memory killer sends) is ``killed`` with the signal, not ``failed``
    with a log line; a plain rerun resumes it; a failed cell is skipped with the reason and the
    command that retries it."""
    sf = _queue_study(tmp_path, n_long=1)
    out = tmp_path / "out"
    study = load_study(sf)
    long_run = out / "runs" / study.cells[1].id
    driver = spawn("study", sf, "--out", out, "--no-report", "--jobs", "2", log=tmp_path / "driver.log")
    try:
        wait_for(lambda: (long_run / "checkpoints" / "latest.pt").exists() and cell_pids(long_run), driver,
                 timeout=240, what="the long cell's first checkpoint")
        for pid in cell_pids(long_run):
            os.kill(pid, signal.SIGKILL)  # from outside, as the OOM killer does
        driver.wait(timeout=240)
        log = (tmp_path / "driver.log").read_text()
        assert driver.returncode == 0, log
    finally:
        kill9(driver)
        for pid in cell_pids(out / "runs"):
            os.kill(pid, signal.SIGKILL)
    store = Store(out / "study.db")
    row = store.outcome(study.cells[1].id)
    assert row["status"] == "killed" and row["error"] == outcomes.killed_reason(9), row
    assert "out of memory" in row["error"]
    assert store.needs_work(study.cells[1].id, [])  # killed: a plain rerun resumes it
    # a failed cell is skipped by a plain rerun, which says so with the reason and the retry command
    with store.db:
        store.db.execute("UPDATE runs SET status = 'failed', error = 'bad data' WHERE cell_id = ?",
                         (study.cells[1].id,))
    store.close()
    lines = []
    run_study(study, out, say=lines.append)
    assert any("skipping 1 failed cell(s)" in l and "bad data" in l and "--retry-failed" in l for l in lines), lines


def _halving_study(tmp_path):
    sf = tmp_path / "halving.yaml"
    base = {**BASE, "train": {**BASE["train"], "iterations": 20, "checkpoint_every": 5, "log_every": 5},
            "eval": {"test_interval": 5, "test_steps": 2}}
    axes = {"lr": {"good": {"optim.g_lr": 2e-4, "optim.d_lr": 2e-4}, "slow": {"optim.g_lr": 1e-5, "optim.d_lr": 1e-5},
                   "fine": {"optim.g_lr": 1e-4, "optim.d_lr": 1e-4}}}
    sf.write_text(yaml.safe_dump({"name": "h", "base": base, "axes": axes, "strategy": "halving",
                                  "halving": {"first_rung": 5, "keep": 0.5},
                                  "final_test": {"steps": 2, "images": 8}, "diversity_samples": 8}))
    return sf


def _halving_record(out):
    store = Store(out / "study.db")
    rungs = store.db.execute("SELECT iteration, method, value, rank, decision FROM rungs ORDER BY iteration, rank").fetchall()
    runs = {r["cell_id"]: (r["status"], r["stopped_by"], r["iterations"]) for r in store.runs()}
    finals = {c: sorted((k, f["value"]) for k, f in v.items()) for c, v in store.finals().items()}
    store.close()
    return rungs, runs, finals


@pytest.mark.slow  # three Ray studies one after another (~4 min on a busy 2-core machine)
def test_halving_on_ray_interrupted_by_ctrl_c_resumes_to_the_same_decisions_and_winner(tmp_path):
    pytest.importorskip("ray")
    sf = _halving_study(tmp_path)
    args = ["--no-report", "--backend", "ray", "--cpus-per-cell", "1"]
    code, _, err = gannorm("study", sf, "--out", tmp_path / "whole", *args, timeout=600)
    assert code == 0, err
    whole = _halving_record(tmp_path / "whole")
    assert [d for *_, d in whole[0]].count("finished") == 1  # 3 methods -> 2 -> 1: the winner finishes
    out = tmp_path / "cut"
    driver = spawn("study", sf, "--out", out, *args, log=tmp_path / "cut.log")
    try:
        def first_rung_decided():
            try:
                return _halving_record(out)[0] != [] if (out / "study.db").exists() else False
            except Exception:  # the store is being created
                return False
        wait_for(first_rung_decided, driver, timeout=400, what="the first rung's decisions")
        driver.send_signal(signal.SIGINT)  # mid-way to the second rung
        driver.wait(timeout=60)
    finally:
        kill9(driver)
    log = (tmp_path / "cut.log").read_text()
    assert driver.returncode == 130 and "run the same command again" in log, log
    cut = _halving_record(out)
    assert not any(s == ("stopped", "selection", 10) for s in cut[1].values())  # nothing decided on the interrupt
    code, _, err = gannorm("study", sf, "--out", out, *args, timeout=600)
    assert code == 0, err
    assert _halving_record(out) == whole  # the same decisions, values and finished winner
