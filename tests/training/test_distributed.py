"""Data-parallel training with torchrun on CPU (gloo): a 2-process run gives the losses of a
1-process run with the same global batch (reference: that 1-process run), to float tolerance."""
import json
import shutil
import subprocess
import sys

import pytest

ARGS = ["base_features=8", "z_dim=16", "batch_size=8", "iterations=5", "log_every=1", "sample_every=0",
        "test_interval=5", "test_steps=2", "running_holdout=8", "n_samples=4", "g_norm=weight", "d_norm=spectral",
        "device=cpu"]


def _torchrun():
    exe = shutil.which("torchrun")
    return [exe] if exe else [sys.executable, "-m", "torch.distributed.run"]


def _rows(run):
    return [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]


def test_two_processes_match_one_process_with_the_same_global_batch(tmp_path):
    one = subprocess.run([sys.executable, "-m", "gannorm", "train", *ARGS, "--run-dir", str(tmp_path / "one"),
                          "--quiet"], capture_output=True, text=True, timeout=300)
    assert one.returncode == 0, one.stderr
    two = subprocess.run([*_torchrun(), "--standalone", "--nproc_per_node", "2", "-m", "gannorm", "train", *ARGS,
                          "--run-dir", str(tmp_path / "two"), "--quiet"], capture_output=True, text=True, timeout=300)
    assert two.returncode == 0, two.stderr[-2000:]
    a, b = _rows(tmp_path / "one"), _rows(tmp_path / "two")
    assert [r["iteration"] for r in a] == [r["iteration"] for r in b] == [1, 2, 3, 4, 5]
    for ra, rb in zip(a, b):
        for k in ("d_loss", "g_loss", "d_real", "d_fake"):
            assert rb[k] == pytest.approx(ra[k], rel=2e-3, abs=1e-5), (ra["iteration"], k)
    assert b[-1]["recon_running"] == pytest.approx(a[-1]["recon_running"], rel=1e-2)
    assert two.stdout.count("done: 5 iterations") == 1  # only rank 0 reports
    assert (tmp_path / "two" / "checkpoints" / "latest.pt").exists()


def test_batch_not_divisible_by_world_size_is_a_clear_error(tmp_path):
    p = subprocess.run([*_torchrun(), "--standalone", "--nproc_per_node", "2", "-m", "gannorm", "train",
                        *ARGS, "batch_size=7", "--run-dir", str(tmp_path / "r"), "--quiet"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode != 0
    assert "train.batch_size=7 is not divisible by the world size 2" in p.stderr


def test_two_process_resume_reproduces_the_uninterrupted_two_process_run(tmp_path):
    """Reference: the uninterrupted 2-process run; 3 iterations + resume to 5 give its losses
    and its weights bit for bit (rank 0's checkpoint carries everything every rank needs)."""
    import torch

    from gannorm.training.checkpoint import load_checkpoint

    def two(run, *extra):
        p = subprocess.run([*_torchrun(), "--standalone", "--nproc_per_node", "2", "-m", "gannorm", "train", *ARGS,
                            "checkpoint_every=3", "test_interval=0", *extra, "--run-dir", str(run), "--quiet"],
                           capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, p.stderr[-2000:]

    two(tmp_path / "full")
    two(tmp_path / "part", "iterations=3")
    two(tmp_path / "part", "--resume", str(tmp_path / "part"))
    a, b = _rows(tmp_path / "full"), _rows(tmp_path / "part")
    assert [r["iteration"] for r in b] == [1, 2, 3, 4, 5]
    assert [(r["d_loss"], r["g_loss"]) for r in a] == [(r["d_loss"], r["g_loss"]) for r in b]
    wa = load_checkpoint(tmp_path / "full" / "checkpoints" / "latest.pt")
    wb = load_checkpoint(tmp_path / "part" / "checkpoints" / "latest.pt")
    for net in ("G", "D"):
        for name in wa[net]:
            assert torch.equal(wa[net][name], wb[net][name]), f"{net}.{name}"
