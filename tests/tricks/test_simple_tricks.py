"""Instance noise, feature matching, label smoothing and truncation, each against an
independent reference (empirical statistics, a manual forward pass, the BCE formula)."""
import math

import numpy as np
import pytest
import torch
import torch.nn as nn

from gannorm.errors import GannormError
from gannorm.hooks import Setup, StepContext
from gannorm.registry import LOSSES
from gannorm.tricks import truncated_normal
from gannorm.tricks.feature_matching import FeatureMatching
from gannorm.tricks.instance_noise import InstanceNoise
from gannorm.tricks.label_smoothing import LabelSmoothing


class TinyD(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 3, 3, 2, 1), nn.Tanh(), nn.Conv2d(3, 5, 3, 2, 1), nn.Tanh())
        self.head = nn.Linear(5 * 2 * 2, 1)

    def forward(self, x, return_features=False):
        h = self.features(x)
        out = self.head(h.flatten(1)).squeeze(1)
        return (out, h) if return_features else out


@pytest.mark.parametrize("it,frac", [(0, 1.0), (500, 0.5), (1000, 0.0), (1500, 0.0)])
def test_instance_noise_anneals_linearly(it, frac):
    """The added noise has std sigma (1 - t/T), measured empirically on 200k values."""
    trick = InstanceNoise(sigma=0.2)
    x = torch.zeros(50, 1, 40, 100)
    ctx = StepContext(None, None, x, x, iteration=it, iterations=1000)
    noise = trick.d_input(x, ctx)
    assert float(noise.std()) == pytest.approx(0.2 * frac, abs=2e-3)
    assert trick.sigma_at(250, 1000) == pytest.approx(0.15)


def test_feature_matching_loss_default_and_named_layer():
    """||mean f(real) - mean f(fake)||^2 with f computed by running the layers by hand:
    the default is D's returned feature map; layer='features.1' is the first Tanh."""
    d = TinyD()
    real, fake = torch.rand(6, 1, 8, 8), torch.rand(6, 1, 8, 8) * 0.5
    ctx = StepContext(None, d, real, fake, phase="g")
    with torch.no_grad():
        f_r, f_f = d.features(real), d.features(fake)
        g_r, g_f = d.features[:2](real), d.features[:2](fake)
    ref = float(((f_r.flatten(1).mean(0) - f_f.flatten(1).mean(0)) ** 2).sum())
    ref_layer = float(((g_r.flatten(1).mean(0) - g_f.flatten(1).mean(0)) ** 2).sum())
    assert float(FeatureMatching(weight=2.0).g_penalty(ctx).detach()) == pytest.approx(2 * ref, rel=1e-5)
    assert float(FeatureMatching(layer="features.1").g_penalty(ctx).detach()) == pytest.approx(ref_layer, rel=1e-5)
    assert ref != pytest.approx(ref_layer)
    with pytest.raises(GannormError, match="no layer"):
        FeatureMatching(layer="nope").g_penalty(ctx)


def test_feature_matching_gradient_reaches_only_the_fakes():
    """The real statistics are a constant target: the gradient flows into the fake images."""
    d = TinyD()
    real = torch.rand(4, 1, 8, 8, requires_grad=True)
    fake = torch.rand(4, 1, 8, 8, requires_grad=True)
    FeatureMatching().g_penalty(StepContext(None, d, real, fake)).backward()
    assert real.grad is None and fake.grad is not None and float(fake.grad.abs().sum()) > 0


def test_label_smoothing_trick_sets_real_target_only():
    """After setup, nonsaturating's D loss is BCE(real, 0.9) + BCE(fake, 0) (hand-written)."""
    loss = LOSSES.build("nonsaturating")
    LabelSmoothing(0.9).setup(Setup(None, None, loss))
    r, f = np.array([1.0, -0.5, 2.0]), np.array([-1.0, 0.3, 0.0])
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    ref = -(0.9 * np.log(sig(r)) + 0.1 * np.log(1 - sig(r))).mean() - np.log(1 - sig(f)).mean()
    assert float(loss.d_loss(torch.tensor(r), torch.tensor(f))) == pytest.approx(ref)
    ls = LOSSES.build("lsgan")
    LabelSmoothing(0.9).setup(Setup(None, None, ls))
    assert (ls.a, ls.b, ls.c) == (0.0, 0.9, 1.0)
    with pytest.raises(GannormError, match="real target"):
        LabelSmoothing().setup(Setup(None, None, LOSSES.build("hinge")))


def test_truncated_normal():
    """All |z| <= t; the kept values follow the truncated normal, whose variance is
    1 - 2 t phi(t) / (2 Phi(t) - 1) (closed form); threshold None = plain randn."""
    t = 0.5
    z = truncated_normal(4000, 64, t, generator=torch.Generator().manual_seed(0))
    assert float(z.abs().max()) <= t
    phi = math.exp(-t * t / 2) / math.sqrt(2 * math.pi)
    Phi = 0.5 * (1 + math.erf(t / math.sqrt(2)))
    assert float(z.var()) == pytest.approx(1 - 2 * t * phi / (2 * Phi - 1), rel=0.01)
    a = truncated_normal(3, 5, None, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, torch.randn(3, 5, generator=torch.Generator().manual_seed(1)))
    with pytest.raises(GannormError):
        truncated_normal(2, 2, 0.0)
