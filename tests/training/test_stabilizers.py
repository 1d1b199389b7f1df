"""The stabilizer switches inside the trainer: exact resume on CPU (also under fp16 AMP),
learning-rate schedules against their formulas, dataset x-flip and a training subset, and
ADA's p and LeCam's anchors identical on every process of a 2-process (gloo) run."""
import json
import math
import shutil
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch

import gannorm.plugins  # noqa: F401
from gannorm import config
from gannorm.data import BatchLoader, ImageData
from gannorm.errors import GannormError
from gannorm.hooks import CompatibilityWarning
from gannorm.registry import DATASETS
from gannorm.training import Trainer
from gannorm.training.checkpoint import load_checkpoint
from gannorm.training.optim import lr_factor

TINY = ["base_features=8", "z_dim=16", "batch_size=8", "log_every=1", "sample_every=0", "diagnostics_every=0",
        "test_interval=0", "n_samples=4", "device=cpu"]

CASES = {
    "diffaugment": ["train.tricks.diffaugment={}"],
    "ada": ["train.tricks.ada={kimg: 0.05, interval: 2, target: 0.2}"],
    "lecam+diffaug": ["train.tricks={lecam: {start_iter: 2}, diffaugment: {policy: 'translation,cutout'}}"],
    "bcr+zcr": ["train.tricks={bcr: {}, zcr: {}}"],
    "lazy r1+r2": ["train.tricks={r1: {every: 3}, r2: {gamma: 1, every: 2}}"],
    "schedules+xflip": ["optim.g_schedule=linear", "optim.d_schedule=cosine", "optim.schedule_iters=8", "data.xflip=true",
                        "data.max_train=300"],
    "ada+diffaug fp16": ["train.tricks={ada: {kimg: 0.05, interval: 1, p: 0.3}, diffaugment: {}}", "amp=fp16"],
}


def _rows(run):
    return [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]


def _trainer(cfg, run, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CompatibilityWarning)
        return Trainer(cfg, run, quiet=True, **kw)


@pytest.mark.parametrize("case", list(CASES))
def test_resume_reproduces_uninterrupted_run(tmp_path, case):
    over = TINY + ["checkpoint_every=4"] + CASES[case]
    _trainer(config.load(None, over + ["iterations=8"]), tmp_path / "full").train()
    _trainer(config.load(None, over + ["iterations=4"]), tmp_path / "part").train()
    cfg = config.load(tmp_path / "part" / "config.yaml", ["iterations=8"])
    _trainer(cfg, tmp_path / "part", resume=True).train()
    a, b = _rows(tmp_path / "full"), _rows(tmp_path / "part")
    assert a == [dict(r, it_per_s=a[i]["it_per_s"]) for i, r in enumerate(b)]
    ca = load_checkpoint(tmp_path / "full" / "checkpoints" / "latest.pt")
    cb = load_checkpoint(tmp_path / "part" / "checkpoints" / "latest.pt")
    for net in ("G", "D"):
        for name in ca[net]:
            assert torch.equal(ca[net][name], cb[net][name]), f"{net}.{name}"
    assert repr(ca["hooks"]) == repr(cb["hooks"])
    if "ada" in case:
        assert "ada_p" in a[-1] and ca["hooks"]["ada"]["p"] == cb["hooks"]["ada"]["p"] > 0


def test_ada_p_moves_during_training_and_is_logged(tmp_path):
    t = _trainer(config.load(None, TINY + ["iterations=6", "train.tricks.ada={kimg: 0.016, interval: 1, target: 0.01}"]),
                 tmp_path / "r")
    t.train()
    rows = _rows(tmp_path / "r")
    p = 0.0
    for r in rows:  # the logged p after each update follows the logged r_t by the paper's rule (step 8/16)
        p = max(0.0, p + 0.5 * np.sign(r["ada_rt"] - 0.01))
        assert r["ada_p"] == pytest.approx(p, abs=1e-7)


@pytest.mark.parametrize("name", ["linear", "cosine"])
def test_schedule_formulas_and_rates_in_training(tmp_path, name):
    for T in (1, 7, 100):
        for t in range(0, T + 3):
            s = min(t / T, 1)
            expected = 1 - s if name == "linear" else (1 + math.cos(math.pi * s)) / 2
            assert lr_factor(name, t, T) == pytest.approx(expected, abs=1e-15)
    t = _trainer(config.load(None, TINY + ["iterations=5", f"optim.g_schedule={name}", "optim.g_lr=0.01",
                                           "optim.d_lr=0.02"]), tmp_path / "r")
    t.train()
    # the last step (iteration 4 of 5) ran with lr * factor(4, 5); D kept its constant rate
    assert t.opt_g.param_groups[0]["lr"] == pytest.approx(0.01 * lr_factor(name, 4, 5), abs=1e-15)
    assert t.opt_d.param_groups[0]["lr"] == 0.02


def test_warmup_rises_linearly_then_hands_over_to_the_schedule(tmp_path):
    from gannorm.training.optim import warmup_factor

    assert [warmup_factor(t, 4) for t in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert warmup_factor(0, 0) == 1.0
    over = TINY + ["optim.g_lr=0.01", "optim.d_lr=0.02", "optim.g_schedule=linear"]
    t = _trainer(config.load(None, over + ["iterations=3", "optim.warmup_iters=4"]), tmp_path / "a")
    t.train()  # the last step is iteration 2: 3/4 of the warm-up, times the schedule's factor for G
    assert t.opt_g.param_groups[0]["lr"] == pytest.approx(0.01 * lr_factor("linear", 2, 3) * 0.75, abs=1e-15)
    assert t.opt_d.param_groups[0]["lr"] == pytest.approx(0.02 * 0.75, abs=1e-15)
    t = _trainer(config.load(None, over + ["iterations=5", "optim.warmup_iters=2"]), tmp_path / "b")
    t.train()  # past the warm-up a constant rate is the configured one
    assert t.opt_d.param_groups[0]["lr"] == 0.02
    with pytest.raises(GannormError, match="optim.warmup_iters must be >= 0"):
        config.load(None, ["optim.warmup_iters=-1"])


def test_bad_schedule_and_a_schedule_longer_than_the_run():
    with pytest.raises(GannormError, match="Did you mean 'cosine'"):
        config.load(None, ["optim.d_schedule=cosin"])
    with pytest.warns(UserWarning, match="longer than train.iterations"):
        config.load(None, ["optim.g_schedule=linear", "optim.schedule_iters=2000", "train.iterations=1000"])


def test_xflip_shows_every_image_once_plain_and_once_mirrored_per_epoch():
    imgs = np.random.default_rng(0).integers(0, 255, (10, 1, 4, 5), dtype=np.uint8)
    loader = BatchLoader(imgs, np.arange(10), 4, seed=0, device=torch.device("cpu"), xflip=True)
    seen = torch.cat([loader.next()[0] for _ in range(5)])  # 20 = one epoch of the doubled set
    want = torch.from_numpy(imgs)
    want = torch.cat([want, want.flip(-1)]).float() / 255
    key = lambda t: sorted(tuple((x * 255).round().int().flatten().tolist()) for x in t)  # noqa: E731
    assert key(seen) == key(want)
    plain = BatchLoader(imgs, np.arange(10), 4, seed=0, device=torch.device("cpu"))
    ref = BatchLoader(imgs, np.arange(10), 4, seed=0, device=torch.device("cpu"), xflip=False)
    assert torch.equal(plain.next()[0], ref.next()[0])  # off = the loader as before


def test_xflip_warns_on_a_dataset_whose_labels_depend_on_orientation(tmp_path):
    @DATASETS.register("digits_like", help="test digits", orientation_labels=True)
    def digits_like():
        rng = np.random.default_rng(0)
        return ImageData(rng.integers(0, 255, (80, 1, 28, 28), dtype=np.uint8), None, [], "test digits")

    try:
        cfg = config.load(None, TINY + ["iterations=1", "data.name=digits_like", "data.xflip=true", "data.holdout=16",
                                        "running_holdout=8"])
        with pytest.warns(CompatibilityWarning, match="data.xflip=true on digits_like"):
            Trainer(cfg, tmp_path / "r", quiet=True).close()
    finally:
        DATASETS.unregister("digits_like")


def test_max_train_keeps_a_subset_and_the_same_holdout(tmp_path):
    a = _trainer(config.load(None, TINY + ["iterations=1", "data.max_train=500"]), tmp_path / "a")
    b = _trainer(config.load(None, TINY + ["iterations=1"]), tmp_path / "b")
    assert len(a.split.train) == 500 and set(a.split.train) <= set(b.split.train)
    assert np.array_equal(a.split.final_test, b.split.final_test)
    a.close(), b.close()


SCRIPT = """
import os, sys, gannorm.plugins
from gannorm import config
from gannorm.training import Trainer
cfg = config.load(None, sys.argv[2:])
t = Trainer(cfg, sys.argv[1], quiet=True)
t.train()
h = {n: k for n, k in zip(t.hooks.names, t.hooks.hooks)}
rank = os.environ["RANK"]  # (the process group is closed when train() returns)
open(sys.argv[1] + f"/state_{rank}.txt", "w").write(repr((h["ada"].p, h["lecam"].anchors.tolist())))
"""


def _torchrun():
    exe = shutil.which("torchrun")
    return [exe] if exe else [sys.executable, "-m", "torch.distributed.run"]


@pytest.mark.slow  # two torchrun processes: about a minute on 2 shared cores
def test_two_processes_share_ada_p_and_lecam_anchors(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    run = tmp_path / "r"
    p = subprocess.run([*_torchrun(), "--standalone", "--nproc_per_node", "2", str(script), str(run), *TINY,
                        "iterations=6", "train.tricks={ada: {kimg: 0.02, interval: 1, target: 0.3}, lecam: {start_iter: 2}}"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    s0, s1 = (run / "state_0.txt").read_text(), (run / "state_1.txt").read_text()
    assert s0 == s1
    assert eval(s0)[0] > 0  # p moved


def test_a_checkpoint_config_from_before_the_new_settings_resumes_without_a_change():
    from gannorm.training.resume import config_changes

    now = config.load(None, ["iterations=10"]).to_dict()
    old = config.load(None, ["iterations=10"]).to_dict()
    for section, key in (("data", "xflip"), ("data", "max_train"), ("optim", "g_schedule"),
                         ("optim", "d_schedule"), ("optim", "schedule_iters")):
        del old[section][key]
    assert config_changes(old, now) == []
    now["optim"]["g_schedule"] = "linear"
    assert [c["key"] for c in config_changes(old, now)] == ["optim.g_schedule"]


@pytest.mark.slow  # three 2-process torchrun runs: about two minutes on 2 shared cores
def test_two_process_resume_mid_interval_reproduces_the_uninterrupted_run(tmp_path):
    """Reference: the uninterrupted 2-process run. The checkpoint at iteration 3 falls inside
    ADA's 2-step interval, so its accumulators must be the same on both processes."""
    tricks = "train.tricks={ada: {kimg: 0.02, interval: 2, target: 0.3}, lecam: {start_iter: 2}, diffaugment: {}}"

    def two(run, *extra):
        p = subprocess.run([*_torchrun(), "--standalone", "--nproc_per_node", "2", "-m", "gannorm", "train", *TINY,
                            "iterations=6", "checkpoint_every=3", tricks, *extra, "--run-dir", str(run), "--quiet"],
                           capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, p.stderr[-2000:]

    two(tmp_path / "full")
    two(tmp_path / "part", "iterations=3")
    two(tmp_path / "part", "--resume", str(tmp_path / "part"))
    key = lambda r: (r["iteration"], r["d_loss"], r["g_loss"], r["ada_p"])  # noqa: E731
    assert [key(r) for r in _rows(tmp_path / "full")] == [key(r) for r in _rows(tmp_path / "part")]
    wa = load_checkpoint(tmp_path / "full" / "checkpoints" / "latest.pt")
    wb = load_checkpoint(tmp_path / "part" / "checkpoints" / "latest.pt")
    for name in wa["D"]:
        assert torch.equal(wa["D"][name], wb["D"][name]), name


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_every_new_switch_together_trains_under_amp(tmp_path, amp):
    cfg = config.load(None, TINY + ["iterations=3", f"amp={amp}", "optim.d_schedule=cosine", "data.xflip=true",
                                    "train.tricks={ada: {p: 0.5, interval: 1, kimg: 0.05}, diffaugment: {}, lecam: {},"
                                    " bcr: {}, zcr: {}, r2: {every: 2}}"])
    t = _trainer(cfg, tmp_path / "r")
    t.train()
    last = _rows(tmp_path / "r")[-1]
    assert all(math.isfinite(last[k]) for k in ("d_loss", "g_loss", "lecam", "bcr_real", "zcr_g", "ada_p"))
