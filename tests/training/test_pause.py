"""Trainer.train(until=N): pause at N with a checkpoint (successive halving trains rung by
rung this way); resuming gives the uninterrupted run (reference: that run, same config)."""
import json

from gannorm import config
from gannorm.training import RunDir, Trainer

TINY = ["base_features=8", "z_dim=16", "batch_size=8", "log_every=1", "sample_every=0", "test_interval=3",
        "test_steps=2", "running_holdout=8", "n_samples=4", "iterations=9", "checkpoint_every=0"]


def _rows(run):
    return [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]


def test_pause_then_resume_equals_the_uninterrupted_run(tmp_path, one_thread):
    cfg = config.load(None, TINY)
    Trainer(cfg, tmp_path / "full", quiet=True).train()
    res = Trainer(cfg, tmp_path / "paused", quiet=True).train(until=5)  # not a checkpoint or test point
    assert res.iteration == 5 and RunDir(tmp_path / "paused").latest.exists()
    assert not (tmp_path / "paused" / "samples" / "final.png").exists()  # not finished: no final grid
    Trainer(cfg, tmp_path / "paused", quiet=True, resume=True).train()
    keys = ("iteration", "d_loss", "g_loss", "recon_running")
    full, paused = _rows(tmp_path / "full"), _rows(tmp_path / "paused")
    assert [[r.get(k) for k in keys] for r in paused] == [[r.get(k) for k in keys] for r in full]
    assert [r["iteration"] for r in full if "recon_running" in r] == [3, 6, 9]
