"""The speed settings on a CUDA GPU (run with `pytest -m gpu`, e.g. by scripts/gpu_check.sh).
Reference for each: the same tiny run on the same GPU with the setting off (float32, eager,
contiguous), which must give the same losses to the setting's precision."""
import pytest
import torch

from steps import losses as _losses, trainer as _make

pytestmark = pytest.mark.gpu

TINY = ["base_features=8", "z_dim=16", "batch_size=16", "log_every=1", "sample_every=0", "test_interval=0",
        "n_samples=4", "device=cuda", "d_norm=spectral"]


def _trainer(tmp_path, *over, name="run"):
    return _make(tmp_path, TINY, *over, name=name)


def test_the_gpu_is_used(tmp_path):
    t = _trainer(tmp_path)
    assert torch.cuda.is_available() and next(t.G.parameters()).is_cuda and next(t.D.parameters()).is_cuda


@pytest.mark.parametrize("mode", ["bf16", "fp16"])
def test_amp_on_cuda_tracks_float32(tmp_path, mode):
    ref = _losses(_trainer(tmp_path, name="ref"))
    t = _trainer(tmp_path, f"amp={mode}", name=mode)
    got = _losses(t)
    torch.testing.assert_close(got, ref, rtol=3e-2, atol=3e-2)
    assert not torch.equal(got, ref)  # autocast really ran
    assert all(p.dtype == torch.float32 for p in list(t.G.parameters()) + list(t.D.parameters()))
    assert t.amp.scalers["d"].is_enabled() == (mode == "fp16")


def test_channels_last_on_cuda_gives_the_same_losses(tmp_path):
    ref = _losses(_trainer(tmp_path, name="ref"))
    torch.testing.assert_close(_losses(_trainer(tmp_path, "channels_last=true", name="cl")), ref,
                               rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("norms", [["g_norm=weight", "d_norm=spectral"], ["g_norm=batch", "d_norm=bssn"],
                                   ["g_norm=none", "d_norm=none"]])
def test_inductor_compile_on_cuda_matches_eager(tmp_path, norms):
    """SN and BSSN keep their power iteration in float32 buffers under inductor (nn/precision.py)."""
    ref = _losses(_trainer(tmp_path, *norms, name="ref"))
    t = _trainer(tmp_path, *norms, "compile=default", name="c")
    torch.testing.assert_close(_losses(t), ref, rtol=1e-3, atol=1e-4)
    us = [b for n, b in t.D.named_buffers() if n.endswith("_u")]
    assert all(torch.isfinite(u).all() for u in us)
    if "d_norm=none" not in norms:
        assert us  # the normalization's state is there and finite


def test_a_short_run_on_cuda_trains_and_tests(tmp_path):
    t = _trainer(tmp_path, "iterations=20", "test_interval=10", "test_steps=5", "running_holdout=16",
                 "amp=bf16", "channels_last=true", name="short")
    res = t.train()
    assert res.iteration == 20 and res.best_recon is not None and 0 < res.best_recon < 1
