"""The speed settings (training/fastpath.py, amp.py, optim.py): each changes how the step
runs, not what it computes. Reference for every setting: the same run with it off."""
import sys

import pytest
import torch

from gannorm import config
from gannorm.errors import GannormError
from gannorm.training import Trainer, fastpath
from gannorm.training.checkpoint import load_checkpoint
from steps import losses as _losses, trainer as _make

TINY = ["base_features=8", "z_dim=16", "batch_size=8", "log_every=1", "sample_every=0", "test_interval=0",
        "n_samples=4", "device=cpu", "d_norm=spectral"]


pytestmark = pytest.mark.usefixtures("one_thread")


def _trainer(tmp_path, *over, name="run"):
    return _make(tmp_path, TINY, *over, name=name)


# ----------------------------------------------------------------------------- no host syncs
class _SyncCounter:
    """Counts tensor -> Python conversions (each one waits for the device) made by gannorm code."""

    NAMES = ("item", "tolist", "__bool__", "__float__", "__int__", "__index__")

    def __init__(self, monkeypatch):
        self.n = 0
        for name in self.NAMES:
            orig = getattr(torch.Tensor, name)
            monkeypatch.setattr(torch.Tensor, name, self._wrap(orig))

    def _wrap(self, orig):
        def counted(t, *a, **k):
            if "gannorm" in sys._getframe(1).f_code.co_filename:
                self.n += 1
            return orig(t, *a, **k)
        return counted


@pytest.mark.parametrize("extra", [[], ["amp=bf16"], ["loss=began"]])  # BEGAN: k stays on the device
def test_training_loop_syncs_only_at_log_points(tmp_path, monkeypatch, extra):
    """Between logs the loop never converts a tensor to a Python value: the syncs of a run
    do not grow with its length (3 vs 9 iterations, one sync point at the end of each)."""
    quiet = ["log_every=1000", "checkpoint_every=0"] + extra
    counter = _SyncCounter(monkeypatch)
    counts = []
    for n in (3, 9):
        t = _trainer(tmp_path, f"iterations={n}", *quiet, name=f"r{n}")
        counter.n = 0
        t.train()
        counts.append(counter.n)
    assert counts[0] == counts[1], counts
    # and the counter does see the trainer's conversions: logging every step adds some
    t = _trainer(tmp_path, "iterations=9", "log_every=1", "checkpoint_every=0", name="logged")
    counter.n = 0
    t.train()
    assert counter.n > counts[1]


# ----------------------------------------------------------------------------- AMP
@pytest.mark.parametrize("mode", ["bf16", "fp16"])
def test_amp_step_tracks_float32_and_keeps_float32_state(tmp_path, mode):
    ref = _losses(_trainer(tmp_path, name="ref"))
    t = _trainer(tmp_path, f"amp={mode}", name=mode)
    got = _losses(t)
    torch.testing.assert_close(got, ref, rtol=3e-2, atol=3e-2)  # 16-bit convs, same data and z
    assert not torch.equal(got, ref)  # autocast really ran
    for p in list(t.G.parameters()) + list(t.D.parameters()):
        assert p.dtype == torch.float32
    for b in t.D.buffers():  # SN's u, v
        assert b.dtype == torch.float32
    assert t.amp.scalers["d"].is_enabled() == (mode == "fp16")


def test_fp16_with_a_gradient_penalty_warns_to_use_bf16(tmp_path):
    from gannorm.hooks import CompatibilityWarning

    with pytest.warns(CompatibilityWarning, match="amp=bf16"):
        _trainer(tmp_path, "amp=fp16", "loss=wgan_gp", "d_norm=none")


def test_amp_name_is_checked():
    with pytest.raises(GannormError, match=r"train.amp='fp8' is not valid; use one of: off, bf16, fp16"):
        config.load(None, ["amp=fp8"])
    assert config.load(None, ["amp=off"]).train.amp == "off"  # YAML's off is False: read back as "off"


# ----------------------------------------------------------------------------- memory format
def test_channels_last_gives_the_same_losses_and_portable_checkpoints(tmp_path):
    ref = _losses(_trainer(tmp_path, name="ref"))
    t = _trainer(tmp_path, "channels_last=true", name="cl")
    torch.testing.assert_close(_losses(t), ref, rtol=1e-5, atol=1e-6)
    conv = next(m for m in t.G.modules() if isinstance(m, torch.nn.ConvTranspose2d))
    w = conv.parametrizations.weight.original if hasattr(conv, "parametrizations") else conv.weight
    assert w.is_contiguous(memory_format=torch.channels_last)
    t.save(tmp_path / "cl.pt")
    plain = _trainer(tmp_path, name="plain")
    plain.G.load_state_dict(load_checkpoint(tmp_path / "cl.pt")["G"])  # a default run loads it


# ----------------------------------------------------------------------------- torch.compile
def test_compile_plumbing_with_the_aot_eager_backend(tmp_path):
    """aot_eager traces G and D as inductor would, without generating code (seconds, not a minute)."""
    ref = _losses(_trainer(tmp_path, name="ref"))
    t = _trainer(tmp_path, "compile=default", "compile_backend=aot_eager", name="c")
    assert t.G_fn is not t.G and t.D_fn is not t.D
    torch.testing.assert_close(_losses(t), ref, rtol=1e-4, atol=1e-5)
    keys = list(t.state_dict()["G"]) + list(t.state_dict()["D"])
    assert not any("_orig_mod" in k for k in keys)  # checkpoints do not depend on the setting


def test_inductor_compile_trains_and_matches_eager(tmp_path):
    """The real path: inductor generates C++ for the CPU step (needs a compiler; ~1 min).
    WN G (TPReLU's autograd.Function) and SN D: under inductor, SN's power iteration once
    failed with "modified by an inplace operation" at the first backward (nn/precision.py)."""
    ref = _losses(_trainer(tmp_path, "g_norm=weight", name="ref"), n=3)
    t = _trainer(tmp_path, "g_norm=weight", "compile=default", name="c")
    torch.testing.assert_close(_losses(t, n=3), ref, rtol=1e-4, atol=1e-5)
    ref_u = [b for n, b in t.D.named_buffers() if n.endswith("_u")]
    assert ref_u and all(torch.isfinite(u).all() for u in ref_u)


def test_a_failing_compile_is_one_clear_line(tmp_path):
    from torch._dynamo import register_backend

    @register_backend(name="gannorm_test_broken")
    def broken(gm, example_inputs):  # noqa: ARG001
        raise RuntimeError("no compiler here")

    t = _trainer(tmp_path, "iterations=2", "compile=default", "compile_backend=gannorm_test_broken")
    with pytest.raises(GannormError, match=r"^train.compile=default: torch.compile failed \(.*no compiler here.*\); "
                                           r"run with train.compile=off"):
        t.train()


def test_compile_error_ignores_other_exceptions():
    assert fastpath.compile_error(ValueError("x"), "default") is None


# ----------------------------------------------------------------------------- optimizers
def test_foreach_and_for_loop_optimizers_agree(tmp_path):
    a = _trainer(tmp_path, "optim.impl=foreach", name="a")
    _losses(a)  # each Trainer seeds the global RNG: build and run one after the other
    b = _trainer(tmp_path, "optim.impl=for_loop", name="b")
    _losses(b)
    for p, q in zip(a.G.parameters(), b.G.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-7)


def test_fused_needs_an_optimizer_that_has_it(tmp_path):
    with pytest.raises(GannormError, match=r"optim.impl=fused: .*RMSprop has no fused implementation"):
        _trainer(tmp_path, "optim.impl=fused")
    t = _trainer(tmp_path, "optim.impl=fused", "optim.name=adam", name="adam")
    assert t.opt_g.defaults["fused"] is True
    assert torch.isfinite(_losses(t)).all()


# ----------------------------------------------------------------------------- SyncBatchNorm
def test_sync_bn_is_refused_on_cpu_with_several_processes_and_a_no_op_alone():
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    assert fastpath.sync_batchnorm(net, torch.device("cpu"), 1) is net
    with pytest.raises(GannormError, match="train.sync_bn=true needs CUDA"):
        fastpath.sync_batchnorm(net, torch.device("cpu"), 2)


def test_amp_without_autocast_support_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.amp, "is_autocast_available", lambda device_type: False)
    with pytest.raises(GannormError, match=r"train.amp=bf16: torch has no autocast for device cpu; use train.amp=off"):
        _trainer(tmp_path, "amp=bf16")


@pytest.mark.parametrize("native", [False, True])
def test_amp_on_a_cpu_without_native_bf16_warns_that_it_is_slow(tmp_path, monkeypatch, native):
    """Measured on an AVX2 CPU: bf16 autocast ~20x slower than fp32 (benchmarks/RESULTS.md)."""
    import warnings

    from gannorm.training import amp

    monkeypatch.setattr(amp, "cpu_has_native", lambda dtype: native)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _trainer(tmp_path, "amp=bf16")
    slow = [w for w in caught if "without native bf16" in str(w.message)]
    assert len(slow) == (0 if native else 1)


@pytest.mark.parametrize("term", [{"train": {"tricks": {"gp": {}}}}, {"model": {"d_norm": "gngan"}}])
def test_compile_with_a_double_backward_is_refused_before_anything_is_built(tmp_path, term):
    """A Config built in code (no YAML, no config.load) is validated by the Trainer itself:
    torch.compile (aot/inductor) cannot take the double backward of gp or GN-GAN."""
    cfg = config.from_dict({**term, "train": {**term.get("train", {}), "compile": "default"}})
    with pytest.raises(GannormError, match=r"train.compile=default cannot run with .*double backward"):
        Trainer(cfg, tmp_path / "run", quiet=True)
    assert not (tmp_path / "run").exists()
