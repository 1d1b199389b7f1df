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
