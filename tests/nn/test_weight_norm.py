"""WN layers against the definitions of Xiang & Li 2017 (arXiv 1704.03971) and the
authors' code (normalisation applied to the activations after the convolution)."""
import pytest
import torch
import torch.nn.functional as F

from gannorm.nn import WNConv2d, WNConvTranspose2d, WNLinear


def _per_unit_norm(w, unit_dim):
    """Reference: the L2 norm of each output unit's weights, by an explicit loop."""
    return torch.stack([w.select(unit_dim, k).reshape(-1).norm() for k in range(w.shape[unit_dim])])


def test_linear_effective_weight_has_unit_norm():
    """Strict WN: ||w_eff_k|| = 1 for every output unit (up to the 1e-6 in the root)."""
    layer = WNLinear(13, 7)
    layer.weight.data.mul_(torch.rand(7, 1) * 5 + 0.1)  # units of very different scales
    n = _per_unit_norm(layer.effective_weight(), 0)
    torch.testing.assert_close(n, torch.ones(7), atol=1e-5, rtol=0)


def test_conv_effective_weight_has_unit_norm_over_fan_in():
    """Fan-in of a conv unit = in_channels * kh * kw."""
    layer = WNConv2d(3, 5, 4, 2, 1)
    layer.weight.data.mul_(torch.rand(5, 1, 1, 1) * 3 + 0.2)
    torch.testing.assert_close(_per_unit_norm(layer.effective_weight(), 0), torch.ones(5), atol=1e-5, rtol=0)


@pytest.mark.parametrize("stride", [1, 2, 3])
def test_transposed_conv_norm_divided_by_stride_product(stride):
    """Transposed conv: squared norm / prod(stride) before the root, so ||w_eff_k|| = stride."""
    layer = WNConvTranspose2d(6, 4, 4, stride, 1)
    n = _per_unit_norm(layer.effective_weight(), 1)
    torch.testing.assert_close(n, torch.full((4,), float(stride)), atol=1e-4, rtol=0)


def test_conv_matches_authors_formulation_divide_after_conv():
    """Authors' code: y = conv(x, W) / ||W_k|| * scale + bias (normalise the activations)."""
    layer = WNConv2d(3, 5, 3, 1, 1, affine=True)
    layer.scale.data.uniform_(0.5, 2)
    layer.bias.data.uniform_(-1, 1)
    x = torch.randn(2, 3, 8, 8)
    w = layer.weight
    norm = (w.pow(2).sum((1, 2, 3)) + 1e-6).sqrt()
    ref = F.conv2d(x, w, None, 1, 1) / norm.view(1, -1, 1, 1) * layer.scale.view(1, -1, 1, 1) + layer.bias.view(1, -1, 1, 1)
    torch.testing.assert_close(layer(x), ref, atol=1e-5, rtol=1e-5)


def test_transposed_conv_matches_authors_formulation():
    layer = WNConvTranspose2d(4, 3, 4, 2, 1)
    x = torch.randn(2, 4, 5, 5)
    w = layer.weight
    norm = (w.pow(2).sum((0, 2, 3)) / 4 + 1e-6).sqrt()
    ref = F.conv_transpose2d(x, w, None, 2, 1) / norm.view(1, -1, 1, 1)
    torch.testing.assert_close(layer(x), ref, atol=1e-5, rtol=1e-5)


def test_strict_layers_have_no_scale_or_bias_affine_init_identity():
    """Strict WN has no parameters but the weight; affine starts at gamma = 1, beta = 0."""
    assert [n for n, _ in WNConv2d(2, 3, 3).named_parameters()] == ["weight"]
    a = WNConv2d(2, 3, 3, affine=True)
    assert torch.all(a.scale == 1) and torch.all(a.bias == 0)


def test_output_is_invariant_to_weight_scale():
    """WN's defining property: rescaling a unit's weights does not change the output."""
    layer = WNLinear(10, 4)
    x = torch.randn(3, 10)
    y = layer(x)
    layer.weight.data.mul_(torch.tensor([[3.0], [0.1], [7.0], [1.0]]))
    torch.testing.assert_close(layer(x), y, atol=1e-5, rtol=1e-4)


def test_affine_init_as_documented():
    """gamma = init_scale; beta 0 for convolutions, uniform in +-init_factor/sqrt(in) for linear."""
    lin = WNLinear(16, 200, affine=True, init_factor=0.5, init_scale=2.0)
    assert torch.all(lin.scale == 2.0)
    assert lin.bias.abs().max() <= 0.5 / 4 and lin.bias.abs().max() > 0.1
    assert torch.all(WNConvTranspose2d(2, 3, 4, 2, 1, affine=True).bias == 0)


@pytest.mark.parametrize("affine_hidden", [False, True])
def test_affine_hidden_makes_hidden_layers_affine(affine_hidden):
    from gannorm.nn.norms import WeightNorm

    n = WeightNorm(affine_hidden=affine_hidden)
    hidden = [n.linear(4, 3), n.conv(2, 3, 3), n.conv_transpose(2, 3, 4, 2, 1)]
    last = [n.linear(4, 3, last=True), n.conv(2, 3, 3, last=True), n.conv_transpose(2, 3, 4, 2, 1, last=True)]
    assert [m.affine for m in hidden] == [affine_hidden] * 3 and all(m.affine for m in last)
