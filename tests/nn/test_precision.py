"""Float32 islands under autocast (gannorm.nn.precision). Reference: the same computation
with autocast off, which must come out identical, while the undecorated op really is
lowered to bf16 (so these tests can fail)."""
import copy

import pytest
import torch
import torch.nn as nn

from gannorm.nn.bssn import bssn
from gannorm.nn.precision import full_precision
from gannorm.nn.spectral import spectral_norm, strict_spectral_norm
from gannorm.nn.translated_relu import TPReLU
from gannorm.nn.weight_norm import WNConv2d, WNConvTranspose2d, WNLinear
from gannorm.nn.wn_param import weight_norm

BF16 = dict(device_type="cpu", dtype=torch.bfloat16)


def test_full_precision_turns_autocast_off_and_casts_inputs():
    a, b = torch.randn(16, 16), torch.randn(16, 16)
    with torch.autocast(**BF16):
        lowered = torch.mm(a, b)
        kept = full_precision(torch.mm)(a, b)
        from_bf16 = full_precision(torch.mm)(a.bfloat16(), b)
    assert lowered.dtype == torch.bfloat16  # the op autocast lowers on CPU
    assert kept.dtype == torch.float32 and torch.equal(kept, torch.mm(a, b))
    assert from_bf16.dtype == torch.float32


def test_strict_sn_power_iteration_stays_float32_under_autocast():
    """Strict SN's power step is a conv (lowered on CPU): sigma and u/v must match fp32."""
    torch.manual_seed(0)
    ref = strict_spectral_norm(nn.Conv2d(3, 8, 3, padding=1), input_shape=(8, 8))
    amp = copy.deepcopy(ref)
    for _ in range(3):
        w_ref = ref.weight
        with torch.autocast(**BF16):
            w_amp = amp.weight
    assert w_amp.dtype == torch.float32
    assert torch.equal(w_ref, w_amp)
    for (n, a), (_, b) in zip(ref.named_buffers(), amp.named_buffers()):
        assert a.dtype == torch.float32 and torch.equal(a, b), n


@pytest.mark.parametrize("make", [
    lambda: spectral_norm(nn.Conv2d(4, 8, 4)),
    lambda: bssn(nn.ConvTranspose2d(8, 4, 4)),
    lambda: weight_norm(nn.Linear(16, 8)),
    lambda: WNConv2d(4, 8, 3),
    lambda: WNConvTranspose2d(8, 4, 4, 2, 1),
    lambda: WNLinear(16, 8, affine=True),
], ids=["spectral", "bssn", "wn_param", "WNConv2d", "WNConvTranspose2d", "WNLinear"])
def test_reparametrized_weights_are_float32_and_unchanged_under_autocast(make):
    torch.manual_seed(0)
    ref = make()
    amp = copy.deepcopy(ref)
    get = (lambda m: m.effective_weight()) if hasattr(ref, "effective_weight") else (lambda m: m.weight)
    w_ref = get(ref)
    with torch.autocast(**BF16):
        w_amp = get(amp)
    assert w_amp.dtype == torch.float32 and torch.equal(w_ref, w_amp)
    for a, b in zip(ref.buffers(), amp.buffers()):
        assert torch.equal(a, b)


def test_tprelu_under_autocast_keeps_parameter_gradients_float32():
    """Reference: the fp32 TPReLU on the same (bf16-rounded) input."""
    torch.manual_seed(0)
    act = TPReLU(6)
    with torch.no_grad():
        act.bias.normal_()
    x = torch.randn(4, 6, 5, 5).bfloat16().float()
    ref = copy.deepcopy(act)
    ref(x).square().sum().backward()
    with torch.autocast(**BF16):
        y = act(x.bfloat16())
    assert y.dtype == torch.bfloat16
    y.float().square().sum().backward()
    for p, q in zip(act.parameters(), ref.parameters()):
        assert p.grad.dtype == torch.float32
        torch.testing.assert_close(p.grad, q.grad, rtol=3e-2, atol=3e-2)
