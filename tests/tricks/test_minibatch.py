"""Minibatch discrimination and minibatch stddev react to a batch of identical samples,
checked against the formulas of Salimans et al. 2016 (sec. 3.2) and Karras et al. 2018
(sec. 3) computed by explicit loops."""
import math

import pytest
import torch
import torch.nn as nn

from gannorm.tricks.minibatch_discrimination import MinibatchDiscrimination, MinibatchDiscriminationD
from gannorm.tricks.minibatch_stddev import MinibatchStdDevD, minibatch_stddev


class TinyD(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3, 2, 1), nn.LeakyReLU(0.2))
        self.head = nn.Linear(4 * 4 * 4, 1)

    def forward(self, x, return_features=False):
        h = self.features(x)
        out = self.head(h.flatten(1)).squeeze(1)
        return (out, h) if return_features else out


def test_mbd_matches_loop_formula():
    """o(x_i)_b = sum_{j != i} exp(-sum_c |M_ibc - M_jbc|), M_i = f(x_i) T, by loops."""
    mbd = MinibatchDiscrimination(6, B=3, C=2, init_std=0.3).double()
    f = torch.randn(4, 6, dtype=torch.float64)
    m = (f @ mbd.T.detach()).view(4, 3, 2)
    ref = torch.zeros(4, 3, dtype=torch.float64)
    for i in range(4):
        for b in range(3):
            ref[i, b] = sum(math.exp(-float((m[i, b] - m[j, b]).abs().sum())) for j in range(4) if j != i)
    assert torch.allclose(mbd(f), ref, atol=1e-12)


def test_mbd_identical_batch_saturates():
    """Identical samples: every closeness is exp(0) = 1, so o = N - 1 exactly; a diverse
    batch gives less, and the wrapped D's score of the same image changes with its batch."""
    torch.manual_seed(0)
    mbd = MinibatchDiscrimination(10, B=100, C=5, init_std=1.0)
    same = torch.randn(1, 10).repeat(8, 1)
    assert torch.allclose(mbd(same), torch.full((8, 100), 7.0))
    diverse = torch.randn(8, 10) * 3
    assert (mbd(diverse) < 7.0 - 1e-3).all()

    d = MinibatchDiscriminationD(TinyD(), 64, B=20, C=5)
    with torch.no_grad():
        d.readout.weight.fill_(0.1)
    x0 = torch.rand(1, 1, 8, 8)
    with torch.no_grad():
        collapsed = d(x0.repeat(6, 1, 1, 1))
        mixed = d(torch.cat([x0, torch.rand(5, 1, 8, 8) * 4]))
        base = d.net(x0)
    assert torch.allclose(collapsed, collapsed[0].expand(6))  # identical inputs, identical scores
    assert abs(float(collapsed[0] - mixed[0])) > 1e-3  # the same image scores differently in a collapsed batch
    # and exactly by the readout of o = N - 1 versus the diverse batch's o
    assert float(collapsed[0]) == pytest.approx(float(base + 0.1 * 20 * 5 + d.readout.bias.detach()), rel=1e-5)


def test_mbstd_matches_numpy_and_collapse():
    """s = mean over features of the population std across the group (+1e-8 inside the
    sqrt), computed with numpy; an identical batch gives s = 1e-4 (= sqrt(1e-8))."""
    f = torch.randn(8, 3, 2, 2, dtype=torch.float64)
    s = minibatch_stddev(f, group_size=4)
    a = f.flatten(1).numpy()
    for i in range(8):
        group = [j for j in range(8) if j % 2 == i % 2]  # sample i is in group i mod (N / G)
        ref = ((a[group].var(0) + 1e-8) ** 0.5).mean()
        assert float(s[i]) == pytest.approx(ref, rel=1e-10)
    same = torch.randn(1, 3, 2, 2).repeat(8, 1, 1, 1)
    assert torch.allclose(minibatch_stddev(same), torch.full((8,), 1e-4), rtol=1e-3)
    d = MinibatchStdDevD(TinyD())
    with torch.no_grad():
        d.readout.weight.fill_(1.0)
        d.readout.bias.zero_()
    x0 = torch.rand(1, 1, 8, 8)
    with torch.no_grad():
        base = d.net(x0)
        collapsed = d(x0.repeat(4, 1, 1, 1))[0]
        mixed = d(torch.cat([x0, torch.rand(3, 1, 8, 8) * 4]))[0]
    assert float(collapsed - base) == pytest.approx(1e-4, rel=1e-3)  # D(x) + 1 * s, s = 1e-4
    assert float(mixed - base) > 1e-3  # a diverse batch raises s
