"""Weight normalization as a parametrization (Xiang & Li 2017) against independent
references: torch.nn.utils.parametrizations.weight_norm with g = 1 (strict WN up to the
1e-6 inside the root), unit fan-in norms computed directly, and the class-based WN layers."""
import pytest
import torch
import torch.nn as nn
from torch.nn.utils.parametrizations import weight_norm as torch_wn

from gannorm.errors import GannormError
from gannorm.nn import WNConvTranspose2d, weight_norm


@pytest.mark.parametrize("make", [lambda: nn.Linear(9, 4, bias=False), lambda: nn.Conv2d(3, 5, 3, bias=False)])
def test_strict_matches_torch_weight_norm_with_unit_gain(make):
    """Reference: torch's weight_norm (w = g v / ||v||, norm over all dims but 0) with g = 1."""
    ours = weight_norm(make())
    ref = torch_wn(make(), dim=0)
    v = ours.parametrizations.weight.original.detach()
    with torch.no_grad():
        ref.parametrizations.weight.original1.copy_(v)
        ref.parametrizations.weight.original0.fill_(1.0)
    torch.testing.assert_close(ours.weight, ref.weight, rtol=1e-5, atol=1e-6)


def test_affine_scales_rows_and_uses_bias():
    """Reference: row norms computed directly equal gamma; a bias is created for beta."""
    layer = weight_norm(nn.Conv2d(3, 4, 3, bias=False), affine=True)
    assert layer.bias is not None and torch.all(layer.bias == 0)
    with torch.no_grad():
        layer.parametrizations.weight[0].scale.copy_(torch.tensor([1.0, 2.0, 0.5, 3.0]).view(4, 1, 1, 1))
    norms = layer.weight.detach().flatten(1).norm(dim=1)
    torch.testing.assert_close(norms, torch.tensor([1.0, 2.0, 0.5, 3.0]), rtol=1e-5, atol=1e-5)


def test_transposed_conv_stride_factor_matches_wn_layer():
    """Reference: the class-based WNConvTranspose2d (nn/weight_norm.py) and the closed form
    sum of squares over (in, kh, kw) of each output unit = prod(stride) = 4."""
    ref = WNConvTranspose2d(4, 3, 4, 2, 1)
    ours = weight_norm(nn.ConvTranspose2d(4, 3, 4, 2, 1, bias=False))
    with torch.no_grad():
        ours.parametrizations.weight.original.copy_(ref.weight)
    x = torch.randn(2, 4, 5, 5)
    torch.testing.assert_close(ours(x), ref(x))
    sq = ours.weight.detach().square().sum(dim=(0, 2, 3))
    torch.testing.assert_close(sq, torch.full((3,), 4.0), rtol=1e-4, atol=1e-4)


def test_bad_input():
    """Reference: the message names the layer."""
    with pytest.raises(GannormError, match="LeakyReLU"):
        weight_norm(nn.LeakyReLU())


@pytest.mark.parametrize("kind", ["linear", "conv", "conv_transpose"])
@pytest.mark.parametrize("affine", [False, True])
def test_layers_and_parametrization_share_one_formula(kind, affine):
    """Reference: the hand formula gamma_k W[k] / sqrt(f * sum_j W[k, j]^2 + 1e-6), written
    here with an explicit loop over output units, for the WN layers and the parametrization;
    and torch's weight_norm (g = gamma * ||v|| / sqrt(f ||v||^2 + eps)) for the same W."""
    from gannorm.nn import WNConv2d, WNLinear

    torch.manual_seed(0)
    layer, plain, out_dim, f = {
        "linear": (WNLinear(6, 4, affine=affine), nn.Linear(6, 4, bias=False), 0, 1.0),
        "conv": (WNConv2d(3, 4, 3, affine=affine), nn.Conv2d(3, 4, 3, bias=False), 0, 1.0),
        "conv_transpose": (WNConvTranspose2d(3, 4, 4, 2, 1, affine=affine),
                           nn.ConvTranspose2d(3, 4, 4, 2, 1, bias=False), 1, 0.25),
    }[kind]
    param = weight_norm(plain, affine=affine)
    gamma = torch.tensor([0.5, 1.0, 2.0, 3.0])
    with torch.no_grad():
        param.parametrizations.weight.original.copy_(layer.weight)
        if affine:
            layer.scale.copy_(gamma.view(layer.scale.shape))
            param.parametrizations.weight[0].scale.copy_(gamma.view(layer.scale.shape))
    w = layer.weight.detach().double()
    expected = torch.empty_like(w)
    for k in range(w.shape[out_dim]):
        row = w.select(out_dim, k)
        g = gamma[k].item() if affine else 1.0
        expected.select(out_dim, k).copy_(g * row / torch.sqrt(f * row.square().sum() + 1e-6))
    torch.testing.assert_close(layer.effective_weight().double(), expected, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(param.weight.double(), expected, rtol=1e-5, atol=1e-7)
    v = w.movedim(out_dim, 0).flatten(1)
    g_torch = (gamma.double() if affine else 1.0) * v.norm(dim=1) / torch.sqrt(f * v.square().sum(1) + 1e-6)
    torch_ref = torch._weight_norm(w, g_torch.view([-1 if d == out_dim else 1 for d in range(w.dim())]), out_dim)
    torch.testing.assert_close(torch_ref, expected, rtol=1e-6, atol=1e-9)
