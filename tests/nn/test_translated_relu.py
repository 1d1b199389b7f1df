"""TReLU and TPReLU (Xiang & Li 2017) against their formulas, the authors' code form
F.prelu(x - b, s.clamp(0, 1)) + b, torch's numerical derivatives, and the previous
hand-written TPReLU (kept in benchmarks/activations.py as the speed baseline)."""
import importlib.util
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from gannorm.nn import TPReLU, TReLU
from gannorm.nn.translated_relu import translated_prelu

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "activations.py"


@pytest.fixture(scope="module")
def previous():
    """The previous TPReLU autograd.Function, as the benchmark times it."""
    spec = importlib.util.spec_from_file_location("gannorm_bench_activations", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.PreviousTPReLUFunction.apply


def _per_channel(t, x):
    return t.view(1, -1, *([1] * (x.dim() - 2)))


def authors(x, s, b):
    """The authors' code (stormraiser/GAN-weight-norm, modules/TPReLU.py), plain autograd."""
    return F.prelu(x - _per_channel(b, x), s.clamp(0, 1)) + _per_channel(b, x)


def piecewise(x, s, b):
    """x if x > b else s (x - b) + b, plain autograd: one derivative convention at x == b
    (the lower piece) for every order."""
    bb = _per_channel(b, x)
    return torch.where(x > bb, x, _per_channel(s.clamp(0, 1), x) * (x - bb) + bb)


def tprelu(x, s, b):
    """gannorm's TPReLU module with slope s and shift b (s and b kept differentiable)."""
    act = TPReLU(s.numel())
    del act.weight, act.bias
    act.weight, act.bias = s, b
    return act(x)


def _params(*slopes, dtype=torch.float64, seed=0):
    gen = torch.Generator().manual_seed(seed)
    s = torch.tensor(slopes, dtype=dtype, requires_grad=True)
    b = torch.randn(len(slopes), generator=gen, dtype=dtype).requires_grad_(True)
    return s, b


def _input(shape, dtype=torch.float64, seed=1):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=dtype).requires_grad_(True)


def _grads(f, x, s, b, g):
    return torch.autograd.grad(f(x, s, b), (x, s, b), g)


def test_tprelu_formula():
    """TPReLU(x) = PReLU(x - b; s) + b with s clamped to [0, 1], written out piecewise."""
    act = TPReLU(3)
    act.bias.data = torch.tensor([0.0, 0.5, -1.0])
    act.weight.data = torch.tensor([0.25, 1.7, -0.3])  # clamps to 0.25, 1, 0
    x = torch.randn(4, 3, 5, 5) * 2
    b = act.bias.view(1, 3, 1, 1)
    s = torch.tensor([0.25, 1.0, 0.0]).view(1, 3, 1, 1)
    ref = torch.where(x - b > 0, x, s * (x - b) + b)
    torch.testing.assert_close(act(x), ref)


def test_trelu_formula():
    """TReLU_a(x) = max(x, a) = ReLU(x - a) + a."""
    act = TReLU(2)
    act.bias.data = torch.tensor([0.3, -0.7])
    x = torch.randn(5, 2)
    torch.testing.assert_close(act(x), torch.maximum(x, act.bias.view(1, 2)))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(3, 5), (2, 5, 4, 4)])
def test_forward_identical_to_previous_and_authors_first_derivatives_close(previous, dtype, shape):
    s, b = _params(0.25, 0.6, 1.5, -0.2, 0.9, dtype=dtype)  # inside, and clamped at both ends
    x = _input(shape, dtype)
    g = torch.randn(shape, dtype=dtype)
    y = tprelu(x, s, b)
    assert torch.equal(y, previous(x, s, b)) and torch.equal(y, authors(x, s, b))
    ours = _grads(tprelu, x, s, b, g)
    for a, r in zip(ours, _grads(authors, x, s, b, g)):
        torch.testing.assert_close(a, r)
    for a, r in zip(ours, _grads(previous, x, s, b, g)):  # it reduced in float32 even for float64
        torch.testing.assert_close(a, r, rtol=1e-5, atol=1e-5)


def test_slope_gradient_at_the_clamp_bounds_is_the_clamps(previous):
    """At s exactly 0 or 1 torch's clamp passes no gradient; the previous version passed it."""
    s, b = _params(0.0, 1.0, 0.5)
    x, g = _input((4, 3, 3, 3)), torch.randn(4, 3, 3, 3, dtype=torch.float64)
    ours, ref = _grads(tprelu, x, s, b, g)[1], _grads(authors, x, s, b, g)[1]
    assert torch.equal(ours, ref) and ours[0] == 0 and ours[1] == 0 and ours[2] != 0
    assert _grads(previous, x, s, b, g)[1][:2].abs().min() > 0  # what was fixed


@pytest.mark.parametrize("slopes", [(0.3, 0.7, 0.05), (0.0, 1.0, 0.4)])  # bounds: s as given, no clamp
def test_gradcheck_and_gradgradcheck_float64(slopes):
    s, b = _params(*slopes)
    x = _input((2, 3, 3, 2))
    torch.autograd.gradcheck(translated_prelu, (x, s, b))
    torch.autograd.gradgradcheck(translated_prelu, (x, s, b))
    if all(0 < v < 1 for v in slopes):  # through the clamp, away from its kinks
        torch.autograd.gradcheck(tprelu, (x, s, b))
        torch.autograd.gradgradcheck(tprelu, (x, s, b))


def test_gradgradcheck_at_x_equal_to_the_shift():
    """x == b is TPReLU's kink: derivatives in x and b do not exist there, those in s and in the
    incoming gradient do, and must agree with the first derivative's choice (the lower piece)."""
    s, b = _params(0.3, 0.0, 1.0)
    x = _per_channel(b, torch.empty(2, 3, 2, 2)).expand(2, 3, 2, 2).detach().clone()
    b = b.detach()
    torch.autograd.gradcheck(translated_prelu, (x, s, b))
    torch.autograd.gradgradcheck(translated_prelu, (x, s, b))


def _second_derivatives(f, x, s, b, g):
    """Derivatives of the squared first derivatives (in x and in s) with respect to everything,
    g included: what gradgradcheck compares, as plain tensors."""
    g = g.clone().requires_grad_(True)
    gx, gs = torch.autograd.grad(f(x, s, b), (x, s), g, create_graph=True)
    return torch.autograd.grad(gx.square().sum() + gs.square().sum(), (x, s, b, g),
                               allow_unused=True, materialize_grads=True)


@pytest.mark.parametrize("at_kink", [False, True])
def test_second_derivatives_match_plain_autograd(previous, at_kink):
    """Against the piecewise form's autograd, including x == b and the slope bounds; the
    previous version lost d(dL/ds)/dx and d(dL/ds)/db."""
    s, b = _params(0.3, 0.0, 1.0, 1.4, 0.8)
    x = _input((3, 5, 4, 4))
    if at_kink:
        with torch.no_grad():
            x[:, :, :2] = _per_channel(b, x)
    g = torch.randn(x.shape, dtype=torch.float64)
    ours = _second_derivatives(tprelu, x, s, b, g)
    for a, r in zip(ours, _second_derivatives(piecewise, x, s, b, g)):
        torch.testing.assert_close(a, r)
    old = _second_derivatives(previous, x, s, b, g)
    assert not torch.allclose(old[0], ours[0]) and not torch.allclose(old[2], ours[2])


def _small_d(act, seed=0):
    """A two-conv critic with TPReLU in between; returns (D, its parameters)."""
    gen = torch.Generator().manual_seed(seed)
    w1 = (torch.randn(6, 2, 3, 3, generator=gen, dtype=torch.float64) * 0.4).requires_grad_(True)
    w2 = (torch.randn(1, 6, 3, 3, generator=gen, dtype=torch.float64) * 0.4).requires_grad_(True)
    s = torch.tensor([0.0, 0.2, 1.0, 0.5, 1.3, -0.1], dtype=torch.float64, requires_grad=True)
    b = (torch.randn(6, generator=gen, dtype=torch.float64) * 0.3).requires_grad_(True)
    return (lambda x: F.conv2d(act(F.conv2d(x, w1, padding=1), s, b), w2).flatten(1).sum(1)), (w1, w2, s, b)


@pytest.mark.parametrize("penalty", ["wgan_gp", "r1"])
def test_gradient_penalty_through_a_net_matches_plain_autograd(penalty):
    """WGAN-GP (Gulrajani et al.: (||grad D(x_hat)|| - 1)^2 at interpolates) and R1 (Mescheder
    et al.: ||grad D(x)||^2 at reals): the parameters' gradients of the penalty are the same
    with TPReLU as with the authors' plain autograd form."""
    gen = torch.Generator().manual_seed(3)
    real = torch.randn(4, 2, 6, 6, generator=gen, dtype=torch.float64)
    fake = torch.randn(4, 2, 6, 6, generator=gen, dtype=torch.float64)

    def penalty_grads(act):
        D, params = _small_d(act)
        if penalty == "wgan_gp":
            e = torch.rand(4, 1, 1, 1, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
            x = (e * real + (1 - e) * fake).requires_grad_(True)
        else:
            x = real.clone().requires_grad_(True)
        gx, = torch.autograd.grad(D(x).sum(), x, create_graph=True)
        norm2 = gx.flatten(1).square().sum(1)
        loss = (norm2.sqrt() - 1).square().mean() if penalty == "wgan_gp" else norm2.mean()
        return torch.autograd.grad(loss, params)

    ours = penalty_grads(tprelu)
    for a, r in zip(ours, penalty_grads(authors)):
        torch.testing.assert_close(a, r)
    assert all(torch.count_nonzero(a) for a in ours[:2])
