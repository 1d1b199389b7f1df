"""Gradient penalties and orthogonal regularization against closed forms.

A linear D(x) = <w, x> + b has grad_x D = w everywhere, so ||grad|| = ||w|| on any
interpolate; a quadratic D(x) = ||x||^2 / 2 has grad_x D = x."""
import itertools

import numpy as np
import pytest
import torch

from gannorm.losses.penalties import dragan_penalty, gradient_penalty, orthogonal_penalty, r1_penalty


def linear_d(w, b=0.3):
    return lambda x: x.flatten(1) @ w + b


@pytest.mark.parametrize("scale", [0.5, 2.0])
def test_gp_on_linear_d_is_closed_form(scale):
    """(||w|| - 1)^2 for two-sided; max(0, ||w|| - 1)^2 for one-sided; grad norms = ||w||."""
    w = torch.randn(2 * 3 * 4, dtype=torch.float64)
    w = w / w.norm() * scale
    real, fake = torch.randn(5, 2, 3, 4, dtype=torch.float64), torch.randn(5, 2, 3, 4, dtype=torch.float64)
    gp, norms = gradient_penalty(linear_d(w), real, fake)
    assert torch.allclose(norms, torch.full((5,), scale, dtype=torch.float64), atol=1e-9)
    assert float(gp) == pytest.approx((scale - 1) ** 2, abs=1e-9)
    gp1, _ = gradient_penalty(linear_d(w), real, fake, one_sided=True)
    assert float(gp1) == pytest.approx(max(0.0, scale - 1) ** 2, abs=1e-9)


def test_gp_backpropagates_to_d_weights():
    """d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w|| (closed form) through create_graph."""
    w = torch.randn(6, dtype=torch.float64) * 2
    w.requires_grad_(True)
    gp, _ = gradient_penalty(linear_d(w), torch.randn(4, 6, dtype=torch.float64), torch.randn(4, 6, dtype=torch.float64))
    gp.backward()
    wd = w.detach()
    assert torch.allclose(w.grad, 2 * (wd.norm() - 1) * wd / wd.norm(), atol=1e-8)


def test_gp_uses_interpolates():
    """With the quadratic D the gradient at x_hat is x_hat itself, so each norm lies between
    the norms' envelope of its real/fake pair: ||x_hat|| <= max(||x||, ||x_fake||) (convexity)."""
    real, fake = torch.randn(64, 10, dtype=torch.float64), 3 * torch.randn(64, 10, dtype=torch.float64)
    _, norms = gradient_penalty(lambda x: 0.5 * x.pow(2).sum(1), real, fake)
    upper = torch.maximum(real.norm(dim=1), fake.norm(dim=1))
    assert (norms <= upper + 1e-9).all()
    assert not torch.allclose(norms, real.norm(dim=1)) and not torch.allclose(norms, fake.norm(dim=1))


def test_r1_on_quadratic_d():
    """R1 = E||grad D(x)||^2 = E||x||^2 for D(x) = ||x||^2 / 2 (Mescheder et al. 2018)."""
    x = torch.randn(7, 3, 2, 2, dtype=torch.float64)
    r1, norms = r1_penalty(lambda v: 0.5 * v.flatten(1).pow(2).sum(1), x)
    assert float(r1.detach()) == pytest.approx(float(x.flatten(1).pow(2).sum(1).mean()), rel=1e-9)
    assert torch.allclose(norms, x.flatten(1).norm(dim=1))


def test_dragan_on_linear_d():
    """DRAGAN's penalty is (||w|| - 1)^2 for a linear D wherever it is evaluated."""
    w = torch.randn(12, dtype=torch.float64)
    p, norms = dragan_penalty(linear_d(w), torch.rand(6, 12, dtype=torch.float64))
    assert float(p.detach()) == pytest.approx(float((w.norm() - 1) ** 2), rel=1e-9)


def test_orthogonal_penalty_matches_pairwise_sum():
    """sum_{i != j} (w_i . w_j)^2 over each layer's filters, by a loop in numpy; zero for
    orthonormal rows (BigGAN: only the off-diagonal is penalised)."""
    net = torch.nn.Sequential(torch.nn.Linear(5, 3), torch.nn.Conv2d(2, 4, 3), torch.nn.ConvTranspose2d(4, 2, 2))
    ref = 0.0
    for w in (net[0].weight, net[1].weight.flatten(1), net[2].weight.transpose(0, 1).flatten(1)):
        a = w.detach().double().numpy()
        ref += sum(float(a[i] @ a[j]) ** 2 for i, j in itertools.product(range(len(a)), repeat=2) if i != j)
    assert float(orthogonal_penalty(net).detach()) == pytest.approx(ref, rel=1e-5)
    q, _ = torch.linalg.qr(torch.randn(6, 4))
    lin = torch.nn.Linear(6, 4)
    with torch.no_grad():
        lin.weight.copy_(q.t() * 3.0)  # orthogonal rows of norm 3: still no penalty
    assert float(orthogonal_penalty(lin).detach()) == pytest.approx(0.0, abs=1e-8)
