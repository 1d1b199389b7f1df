"""Historical averaging (Salimans et al. 2016): the running mean is the arithmetic mean of
the parameter snapshots (numpy), the penalty's gradient is 2 (theta - mean) (closed form),
and a step on it moves the parameters toward the mean."""
import numpy as np
import pytest
import torch

from gannorm.hooks import StepContext
from gannorm.tricks.historical_averaging import HistoricalAveraging, ParameterAverage


def test_running_mean_is_mean_of_snapshots():
    p = torch.nn.Parameter(torch.zeros(3, 2))
    avg = ParameterAverage()
    snaps = []
    rng = np.random.default_rng(1)
    for _ in range(7):
        with torch.no_grad():
            p.copy_(torch.from_numpy(rng.normal(size=(3, 2))).float())
        snaps.append(p.detach().numpy().copy())
        avg.update([p])
    assert np.allclose(avg.mean[0].numpy(), np.mean(snaps, 0), atol=1e-6)


def test_penalty_pulls_toward_running_mean():
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0, 0.5]))
    avg = ParameterAverage()
    avg.update([p])
    with torch.no_grad():
        p.add_(torch.tensor([3.0, 1.0, -1.0]))
    avg.update([p])  # mean = [2.5, -1.5, 0.0]
    mean = torch.tensor([2.5, -1.5, 0.0])
    pen = avg.penalty([p])
    assert float(pen) == pytest.approx(float((p.detach() - mean).pow(2).sum()))
    pen.backward()
    assert torch.allclose(p.grad, 2 * (p.detach() - mean))
    before = float((p.detach() - mean).norm())
    with torch.no_grad():
        p.sub_(0.1 * p.grad)
    assert float((p.detach() - mean).norm()) < before


def test_trick_penalises_each_player_and_updates_after_steps():
    """Through the hooks: d_penalty is weight * ||theta_D - mean||^2, zero right after the
    first snapshot; after_d_step adds a snapshot (the mean moves halfway to the new theta)."""
    g, d = torch.nn.Linear(2, 2), torch.nn.Linear(2, 1)
    trick = HistoricalAveraging(weight=0.5)
    ctx = StepContext(g, d, None, None)
    assert float(trick.d_penalty(ctx)) == 0.0
    theta0 = [q.detach().clone() for q in d.parameters()]
    with torch.no_grad():
        for q in d.parameters():
            q.add_(1.0)
    expected = 0.5 * sum(float((q.detach() - t).pow(2).sum()) for q, t in zip(d.parameters(), theta0))
    assert float(trick.d_penalty(ctx)) == pytest.approx(expected)
    trick.after_d_step(ctx)
    for m, q, t in zip(trick.avg["d"].mean, d.parameters(), theta0):
        assert torch.allclose(m, (q.detach() + t) / 2)
    assert trick.g_penalty(ctx) is not None and float(trick.g_penalty(ctx)) == 0.0
