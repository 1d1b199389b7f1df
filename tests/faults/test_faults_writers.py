"""Two writers on one run directory: the second is refused with the holder's PID, and a
kill -9 of the holder leaves no stale lock (the OS drops it with the process)."""
import json

from faultkit import TINY, assert_one_line_error, invoke, kill9, spawn, wait_for

from gannorm.training.checkpoint import load_checkpoint


def test_second_writer_is_refused_and_kill9_leaves_no_stale_lock(tmp_path):
    run = tmp_path / "run"
    first = spawn("train", *TINY, "iterations=100000", "checkpoint_every=1", "--run-dir", run, "--quiet",
                  log=tmp_path / "first.log")
    try:
        wait_for(lambda: (run / "checkpoints" / "latest.pt").exists(), first, what="the first checkpoint")
        code, _, err = invoke("train", "--resume", run, "train.iterations=1")
        assert_one_line_error(code, err, str(run), f"PID {first.pid}", "in use by another gannorm process")
    finally:
        kill9(first)
    # the killed writer left its lock file but no lock: resuming works at once
    at = load_checkpoint(run / "checkpoints" / "latest.pt")["iteration"]
    code, _, err = invoke("train", "--resume", run, f"train.iterations={at + 2}")
    assert code == 0, err
    its = [json.loads(l)["iteration"] for l in (run / "metrics.jsonl").read_text().splitlines()]
    assert its == list(range(1, at + 3))  # one writer at a time: no duplicated or garbled rows
