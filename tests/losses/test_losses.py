"""Every adversarial loss against its paper's formula, computed independently (numpy, with
log-sigmoid written out by hand) on fixed logits, plus the sign of each player's gradient."""
import math

import numpy as np
import pytest
import torch

from gannorm.losses.began import BEGAN
from gannorm.losses.mmd import mix_rbf_mmd2
from gannorm.registry import LOSSES
import gannorm.plugins  # noqa: F401

R = np.array([2.0, -0.5, 0.3, 1.2, -1.7, 0.8])
F = np.array([-1.0, 0.4, -2.2, 0.1, 1.5, -0.3])


def logsig(x):
    return np.array([math.log(1.0 / (1.0 + math.exp(-v))) for v in x])


def log1msig(x):  # log(1 - sigmoid(x))
    return np.array([math.log(1.0 - 1.0 / (1.0 + math.exp(-v))) for v in x])


REFERENCE = {
    # name: (L_D(r, f), L_G(f, r)), each straight from the paper's equation
    "nonsaturating": (lambda r, f: -logsig(r).mean() - log1msig(f).mean(), lambda f, r: -logsig(f).mean()),
    "minimax": (lambda r, f: -logsig(r).mean() - log1msig(f).mean(), lambda f, r: log1msig(f).mean()),
    "wgan": (lambda r, f: f.mean() - r.mean(), lambda f, r: -f.mean()),
    "wgan_gp": (lambda r, f: f.mean() - r.mean(), lambda f, r: -f.mean()),
    "lsgan": (lambda r, f: 0.5 * ((r - 1) ** 2).mean() + 0.5 * (f ** 2).mean(), lambda f, r: 0.5 * ((f - 1) ** 2).mean()),
    "hinge": (lambda r, f: np.maximum(0, 1 - r).mean() + np.maximum(0, 1 + f).mean(), lambda f, r: -f.mean()),
    "rsgan": (lambda r, f: -logsig(r - f).mean(), lambda f, r: -logsig(f - r).mean()),
    "ragan": (lambda r, f: -logsig(r - f.mean()).mean() - log1msig(f - r.mean()).mean(),
              lambda f, r: -logsig(f - r.mean()).mean() - log1msig(r - f.mean()).mean()),
}


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_loss_matches_formula(name):
    """d_loss and g_loss equal the paper's formula evaluated in numpy on fixed logits."""
    loss = LOSSES.build(name)
    r, f = torch.tensor(R), torch.tensor(F)
    ref_d, ref_g = REFERENCE[name]
    assert float(loss.d_loss(r, f)) == pytest.approx(ref_d(R, F), rel=1e-9, abs=1e-12)
    assert float(loss.g_loss(f, r)) == pytest.approx(ref_g(F, R), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_loss_gradient_signs(name):
    """Autograd: D lowers its loss by raising real scores and lowering fake ones (the
    direction every formula encodes); G lowers its loss by raising the fake scores."""
    loss = LOSSES.build(name)
    # scores inside (0, 1): between lsgan's targets and inside hinge's margins
    mid = np.array([0.2, 0.35, 0.5, 0.65, 0.8, 0.45])
    r = torch.tensor(mid, requires_grad=True)
    f = torch.tensor(mid[::-1].copy(), requires_grad=True)
    loss.d_loss(r, f).backward()
    assert (r.grad <= 0).all() and (r.grad < 0).any()
    assert (f.grad >= 0).all() and (f.grad > 0).any()
    f2 = torch.tensor(mid[::-1].copy(), requires_grad=True)
    loss.g_loss(f2, torch.tensor(mid)).backward()
    assert (f2.grad <= 0).all() and (f2.grad < 0).any()


def test_lsgan_abc_coding():
    """LSGAN with a=-1, b=1, c=0 (the paper's other coding) against its formula."""
    loss = LOSSES.build("lsgan", a=-1.0, b=1.0, c=0.0)
    r, f = torch.tensor(R), torch.tensor(F)
    assert float(loss.d_loss(r, f)) == pytest.approx(0.5 * ((R - 1) ** 2).mean() + 0.5 * ((F + 1) ** 2).mean())
    assert float(loss.g_loss(f)) == pytest.approx(0.5 * (F ** 2).mean())


def test_label_smoothing_changes_only_real_target():
    """Nonsaturating with real_label 0.9 equals BCE with targets 0.9 (real) and 0 (fake),
    written out by hand; the fake term and G's loss are those of the unsmoothed loss."""
    smooth, plain = LOSSES.build("nonsaturating", real_label=0.9), LOSSES.build("nonsaturating")
    r, f = torch.tensor(R), torch.tensor(F)
    ref = -(0.9 * logsig(R) + 0.1 * log1msig(R)).mean() - log1msig(F).mean()
    assert float(smooth.d_loss(r, f)) == pytest.approx(ref, rel=1e-9)
    # the difference depends on the real logits only: changing the fakes leaves it unchanged
    f2 = torch.tensor(F[::-1].copy() * 3)
    diff1 = float(smooth.d_loss(r, f) - plain.d_loss(r, f))
    diff2 = float(smooth.d_loss(r, f2) - plain.d_loss(r, f2))
    assert diff1 == pytest.approx(diff2, abs=1e-12) and abs(diff1) > 1e-3
    assert float(smooth.g_loss(f)) == float(plain.g_loss(f))


def test_began_loss_and_k_update():
    """BEGAN: L_D = L(x) - k L(G(z)), L_G = L(G(z)), k <- clip(k + lambda_k (gamma L(x) - L(G(z))), 0, 1)
    (Berthelot et al. 2017, eqs. in section 3.4) on fixed per-image reconstruction losses."""
    from gannorm.hooks import StepContext

    loss = BEGAN(gamma=0.5, lambda_k=0.1, k0=0.2)
    lx, lg = np.abs(R), np.abs(F)
    assert float(loss.d_loss(torch.tensor(lx), torch.tensor(lg))) == pytest.approx(lx.mean() - 0.2 * lg.mean())
    assert float(loss.g_loss(torch.tensor(lg))) == pytest.approx(lg.mean())
    ctx = StepContext(None, None, None, None)
    loss.after_d_step(ctx)
    assert loss.k == pytest.approx(min(max(0.2 + 0.1 * (0.5 * lx.mean() - lg.mean()), 0), 1))


def test_mmd_matches_pairwise_sum():
    """Unbiased MMD^2 with the Gaussian-mixture kernel vs a double loop over pairs (Gretton
    et al. 2012, eq. 3); the loss's D and G objectives are -MMD^2 and +MMD^2."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(5, 3)), rng.normal(size=(4, 3)) + 0.7
    sig = (1.0, 2.0)

    def k(a, b):
        d2 = float(((a - b) ** 2).sum())
        return sum(math.exp(-d2 / (2 * s * s)) for s in sig)

    n, m = len(x), len(y)
    kxx = sum(k(x[i], x[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    kyy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    kxy = sum(k(x[i], y[j]) for i in range(n) for j in range(m)) / (n * m)
    ref = kxx + kyy - 2 * kxy
    tx, ty = torch.tensor(x), torch.tensor(y)
    assert float(mix_rbf_mmd2(tx, ty, sig)) == pytest.approx(ref, rel=1e-6)
    loss = LOSSES.build("mmd", sigmas=list(sig))
    assert float(loss.d_loss(tx, ty)) == pytest.approx(-ref, rel=1e-6)
    assert float(loss.g_loss(ty, tx)) == pytest.approx(ref, rel=1e-6)


def test_wgan_clips_every_d_parameter():
    """After a D step WGAN clamps each D parameter to [-c, c] (Arjovsky et al. 2017, Alg. 1)."""
    from gannorm.hooks import StepContext

    d = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Linear(8, 1))
    with torch.no_grad():
        for p in d.parameters():
            p.normal_(0, 1)
    before = [p.detach().clone() for p in d.parameters()]
    LOSSES.build("wgan", clip=0.05).after_d_step(StepContext(None, d, None, None))
    for b, p in zip(before, d.parameters()):
        assert torch.equal(p.detach(), b.clamp(-0.05, 0.05))
