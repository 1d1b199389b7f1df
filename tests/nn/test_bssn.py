"""BSSN (Lin et al. 2021) against independent references: torch.linalg.svdvals of the two
kernel reshapings (kh*kw*c_in) x c_out and (kh*kw*c_out) x c_in, and the closed form
W_bar = c W / ((sigma1 + sigma2) / 2)."""
import pytest
import torch
import torch.nn as nn

from gannorm.errors import GannormError
from gannorm.nn import advance_power_iterations, bssn


def _converge(layer, steps=300):
    """Power-iterate the stored vectors (bssn's default power_update=step advances them only
    when asked, as after each optimizer step)."""
    for _ in range(steps):
        assert advance_power_iterations(layer) == 1
    return layer.weight.detach()


def _paper_reshapes(W):
    """The paper's matrices for a conv kernel W (c_out, c_in, kh, kw), built with permute."""
    c_out, c_in, kh, kw = W.shape
    m1 = W.permute(2, 3, 1, 0).reshape(kh * kw * c_in, c_out)
    m2 = W.permute(2, 3, 0, 1).reshape(kh * kw * c_out, c_in)
    return m1, m2


@pytest.mark.parametrize("c", [1.0, 0.7, 2.5])
def test_conv_sigmas_and_scale_match_svd(c):
    """Reference: svdvals of both reshapings; output = c W / mean(sigma1, sigma2)."""
    layer = bssn(nn.Conv2d(5, 3, 3), c=c)
    W = layer.parametrizations.weight.original.detach()
    w = _converge(layer)
    p = layer.parametrizations.weight[0]
    s1, s2 = p.sigmas(W)
    m1, m2 = _paper_reshapes(W)
    ref1, ref2 = torch.linalg.svdvals(m1)[0], torch.linalg.svdvals(m2)[0]
    torch.testing.assert_close(s1, ref1, rtol=1e-4, atol=0)
    torch.testing.assert_close(s2, ref2, rtol=1e-4, atol=0)
    assert abs(float(ref1 - ref2)) > 1e-3  # the two directions really differ
    torch.testing.assert_close(w, c * W / ((ref1 + ref2) / 2), rtol=1e-4, atol=1e-7)


def test_c_scales_the_output_linearly():
    """Reference: linearity, out(c) = c * out(1) for the same weights and vectors."""
    a = bssn(nn.Conv2d(2, 4, 3), c=1.0)
    b = bssn(nn.Conv2d(2, 4, 3), c=3.0)
    b.load_state_dict(a.state_dict())
    a.eval(), b.eval()
    x = torch.randn(2, 2, 5, 5)
    with torch.no_grad():
        a.bias.zero_(), b.bias.zero_()
    torch.testing.assert_close(b(x), 3.0 * a(x))


def test_linear_is_c_times_sn():
    """Reference: c W / svdvals(W)[0]."""
    layer = bssn(nn.Linear(6, 4), c=1.6)
    W = layer.parametrizations.weight.original.detach()
    torch.testing.assert_close(_converge(layer), 1.6 * W / torch.linalg.svdvals(W)[0], rtol=1e-4, atol=1e-7)


def test_not_bidirectional_is_scaled_sn():
    """Reference: SSN = c W / sigma1, sigma1 from svdvals of the usual reshaping."""
    layer = bssn(nn.Conv2d(3, 6, 4, 2, 1), c=2.0, bidirectional=False)
    W = layer.parametrizations.weight.original.detach()
    torch.testing.assert_close(_converge(layer), 2.0 * W / torch.linalg.svdvals(W.flatten(1))[0],
                               rtol=1e-4, atol=1e-7)


def test_transposed_conv_uses_both_channel_directions():
    """Reference: svdvals with output channels (dim 1) as rows and input channels (dim 0)."""
    layer = bssn(nn.ConvTranspose2d(4, 2, 4, 2, 1))
    W = layer.parametrizations.weight.original.detach()
    s_out = torch.linalg.svdvals(W.movedim(1, 0).flatten(1))[0]
    s_in = torch.linalg.svdvals(W.flatten(1))[0]
    torch.testing.assert_close(_converge(layer), W / ((s_out + s_in) / 2), rtol=1e-4, atol=1e-7)


def test_vectors_frozen_in_eval_and_in_state_dict():
    """Reference: the buffers' own values before an eval forward."""
    layer = bssn(nn.Conv2d(3, 3, 3))
    sd = layer.state_dict()
    for k in ("_u1", "_v1", "_u2", "_v2"):
        assert f"parametrizations.weight.0.{k}" in sd
    layer.eval()
    before = {k: v.clone() for k, v in layer.state_dict().items()}
    layer(torch.randn(1, 3, 5, 5))
    for k, v in layer.state_dict().items():
        assert torch.equal(v, before[k])


def test_bad_input():
    """Reference: the messages must name the option or the layer."""
    with pytest.raises(GannormError, match="c must be > 0"):
        bssn(nn.Conv2d(2, 2, 3), c=0)
    with pytest.raises(GannormError, match="c must be > 0"):
        bssn(nn.Conv2d(2, 2, 3), c=-1.0)
    with pytest.raises(GannormError, match="Tanh"):
        bssn(nn.Tanh())
