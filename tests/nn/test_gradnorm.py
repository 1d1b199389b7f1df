"""GraN (Bhaskara et al. 2022) and GN-GAN (Wu et al. 2021) against independent references:
the closed-form input gradients of the normalized output for a piecewise-linear D
(GraN: ||grad g|| = K n^2 / (n^2 + eps) <= K; GN-GAN: ||grad g|| = n^2 / (n + |f|)^2 <= 1,
n = ||grad f||), with n computed separately by torch.func on the raw D, and finite
differences for the parameter gradient that double backprop must deliver."""
import pytest
import torch
import torch.nn as nn
from torch.func import grad, vmap

from gannorm.errors import GannormError
from gannorm.models.dcgan import DCGANDiscriminator
from gannorm.nn import GradNorm


def _relu_mlp(scale=1.0):
    net = nn.Sequential(nn.Flatten(), nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 16), nn.LeakyReLU(0.2),
                        nn.Linear(16, 1), nn.Flatten(0))
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(scale)
    return net


def _per_example_grad_norm(net, x):
    f1 = lambda xi: net(xi.unsqueeze(0)).squeeze(0)
    return vmap(grad(f1))(x).flatten(1).norm(dim=1)


@pytest.mark.parametrize("scale", [1.0, 0.3])
@pytest.mark.parametrize("K", [1.0, 2.5])
def test_gran_gradient_bound(scale, K):
    """Reference: closed form K n^2/(n^2+eps) with n from torch.func on the raw D; bound K."""
    net = _relu_mlp(scale)
    gn = GradNorm(net, "gran", eps=1e-4, K=K)
    x = torch.randn(64, 3, 2, 2, requires_grad=True)
    g = gn(x)
    (gx,) = torch.autograd.grad(g.sum(), x)
    norm_g = gx.flatten(1).norm(dim=1)
    n = _per_example_grad_norm(net, x.detach())
    torch.testing.assert_close(norm_g, K * n**2 / (n**2 + 1e-4), rtol=1e-4, atol=1e-6)
    assert torch.all(norm_g <= K * (1 + 1e-5))
    torch.testing.assert_close(g, K * net(x.detach()) * n / (n**2 + 1e-4), rtol=1e-4, atol=1e-6)


def test_gngan_gradient_bound_and_range():
    """Reference: closed form n^2/(n+|f|)^2 <= 1 (Wu et al. 2021) and |g| < 1."""
    net = _relu_mlp()
    gn = GradNorm(net, "gngan")
    x = torch.randn(64, 3, 2, 2, requires_grad=True)
    g = gn(x)
    (gx,) = torch.autograd.grad(g.sum(), x)
    f = net(x.detach())
    n = _per_example_grad_norm(net, x.detach())
    torch.testing.assert_close(gx.flatten(1).norm(dim=1), n**2 / (n + f.abs())**2, rtol=1e-4, atol=1e-6)
    assert torch.all(gx.flatten(1).norm(dim=1) <= 1 + 1e-6) and torch.all(g.abs() < 1)


def test_parameter_gradient_matches_finite_differences():
    """Reference: central finite differences (float64) of sum g w.r.t. one weight; needs
    create_graph=True so the gradient norm itself is differentiated."""
    net = _relu_mlp().double()
    gn = GradNorm(net, "gran", eps=1e-3)
    x = torch.randn(8, 3, 2, 2, dtype=torch.float64)  # does not require grad, like real images
    gn(x).sum().backward()
    w = net[3].weight
    analytic = w.grad[2, 5].item()
    h = 1e-6
    with torch.no_grad():
        w[2, 5] += h
        up = gn(x).sum().item()
        w[2, 5] -= 2 * h
        down = gn(x).sum().item()
        w[2, 5] += h
    assert analytic == pytest.approx((up - down) / (2 * h), rel=1e-4, abs=1e-7)


def test_dcgan_features_pass_through_and_no_grad_mode():
    """Reference: the raw D's own feature map, and the grad-mode output (no_grad must give
    the same values, detached)."""
    d = DCGANDiscriminator(16, 1, base_features=4)
    gn = GradNorm(d, "gran")
    x = torch.rand(3, 1, 16, 16)
    out, h = gn(x, return_features=True)
    torch.testing.assert_close(h, d(x, return_features=True)[1])
    with torch.no_grad():
        out2 = gn(x)
    assert not out2.requires_grad
    torch.testing.assert_close(out2, out.detach())
    assert gn.feature_channels == d.feature_channels


def test_bad_options():
    """Reference: the messages name the bad option."""
    with pytest.raises(GannormError, match="mode"):
        GradNorm(_relu_mlp(), "gradnorm")
    with pytest.raises(GannormError, match="eps"):
        GradNorm(_relu_mlp(), "gran", eps=0)
    with pytest.raises(GannormError, match="K"):
        GradNorm(_relu_mlp(), "gran", K=-1)
