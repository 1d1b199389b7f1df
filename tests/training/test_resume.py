"""Exact resume on CPU: an interrupted and resumed run reproduces the uninterrupted run's
losses and weights bit for bit (reference: the uninterrupted run itself)."""
import json

import pytest
import torch

from gannorm import config
from gannorm.training import Trainer
from gannorm.training.checkpoint import load_checkpoint

TINY = ["base_features=8", "z_dim=16", "batch_size=8", "log_every=1", "sample_every=0",
        "test_interval=5", "test_steps=3", "running_holdout=8", "n_samples=4"]


def _losses(run):
    return [(r["iteration"], r.get("d_loss"), r.get("g_loss"), r.get("recon_running"))
            for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())]


@pytest.mark.parametrize("norm,ema,extra", [("weight", 0.0, []), ("batch", 0.9, []),
                                            # fp16's grad scalers (scale, growth tracker) resume too
                                            ("spectral", 0.0, ["amp=fp16", "channels_last=true"])])
def test_resume_reproduces_uninterrupted_run(tmp_path, norm, ema, extra):
    over = TINY + [f"g_norm={norm}", f"d_norm={norm}", f"ema_decay={ema}", "checkpoint_every=5"] + extra
    full = Trainer(config.load(None, over + ["iterations=10"]), tmp_path / "full", quiet=True)
    full.train()

    # first leg: stops at 5, as if killed after the checkpoint
    part = Trainer(config.load(None, over + ["iterations=5"]), tmp_path / "part", quiet=True)
    part.train()
    cfg = config.load(tmp_path / "part" / "config.yaml", ["iterations=10"])
    resumed = Trainer(cfg, tmp_path / "part", quiet=True, resume=True)
    assert resumed.iteration == 5
    resumed.train()

    assert _losses(tmp_path / "full") == _losses(tmp_path / "part")
    a = load_checkpoint(tmp_path / "full" / "checkpoints" / "latest.pt")
    b = load_checkpoint(tmp_path / "part" / "checkpoints" / "latest.pt")
    for key in ("G", "D") + (("G_ema",) if ema else ()):
        for name in a[key]:
            assert torch.equal(a[key][name], b[key][name]), f"{key}.{name} differs after resume"
    assert a["amp"].keys() == b["amp"].keys() == ({"d", "g"} if "amp=fp16" in extra else set())
    for k in a["amp"]:
        assert a["amp"][k] == b["amp"][k]
    assert a["best"] == b["best"]


def test_checkpoint_holds_full_state_and_loads_weights_only(tmp_path):
    t = Trainer(config.load(None, TINY + ["iterations=2", "ema_decay=0.5", "d_norm=batch"]), tmp_path, quiet=True)
    t.train()
    s = torch.load(tmp_path / "checkpoints" / "latest.pt", weights_only=True)
    assert s["iteration"] == 2
    assert {"G", "D", "G_ema", "opt_G", "opt_D", "rng", "loader", "best", "fixed_z"} <= set(s)
    assert any("running_mean" in k for k in s["D"])  # BN statistics are saved
    assert s["opt_D"]["state"], "optimizer state (RMSProp square averages) must be saved"
