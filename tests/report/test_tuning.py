"""Expected best after k draws (Dodge et al. 2019): the closed form against brute-force
enumeration of every k-tuple and against Monte Carlo, the band's coverage, the edge cases."""
import itertools

import numpy as np
import pytest

from gannorm.report.tuning import expected_best, expected_best_curve, verdict_at


@pytest.mark.parametrize("n, k", [(1, 1), (2, 3), (3, 2), (4, 3), (5, 4)])
@pytest.mark.parametrize("lower", [True, False])
def test_closed_form_equals_enumeration(n, k, lower):
    """Reference: the mean over every ordered k-tuple of draws (with replacement), ties included."""
    v = np.random.default_rng(n * 10 + k).integers(0, 4, n).astype(float)  # ties on purpose
    best = min if lower else max
    brute = np.mean([best(t) for t in itertools.product(v, repeat=k)])
    assert expected_best(v, k, lower) == pytest.approx(brute, rel=1e-12)


def test_closed_form_equals_monte_carlo():
    v = np.random.default_rng(0).normal(size=9)
    rng = np.random.default_rng(1)
    for k in (1, 2, 5, 20):
        mc = rng.choice(v, size=(200_000, k)).min(axis=1).mean()
        assert expected_best(v, k) == pytest.approx(mc, abs=0.01)
    assert expected_best(v, 1) == pytest.approx(v.mean())
    assert expected_best(v, 10_000) == pytest.approx(v.min(), abs=1e-9)


def test_monotone_in_k():
    v = np.random.default_rng(2).normal(size=12)
    c = expected_best_curve(v, bootstrap=0)
    assert all(a >= b - 1e-15 for a, b in zip(c.mean, c.mean[1:]))
    c = expected_best_curve(v, lower_is_better=False, bootstrap=0)
    assert all(a <= b + 1e-15 for a, b in zip(c.mean, c.mean[1:]))


def test_failed_draws():
    v = [0.3, float("nan"), 0.1, None, float("inf")]
    assert expected_best(v, 1) == pytest.approx(0.2)  # left out
    assert expected_best(v, 1, failed_value=0.5) == pytest.approx((0.3 + 0.1 + 3 * 0.5) / 5)
    assert np.isnan(expected_best([float("nan")], 2))
    with pytest.raises(ValueError):
        expected_best([1.0], 0)


def test_band_covers_the_population_value():
    """Reference: the population's expected best of k (a large-sample Monte Carlo); the 90% band
    from 12 draws covers it in about 90% of repeated studies (bootstrap coverage is approximate:
    accept 75 to 99%)."""
    rng = np.random.default_rng(5)
    k = 3
    truth = rng.lognormal(size=(400_000, k)).min(axis=1).mean()
    hits = 0
    trials = 120
    for t in range(trials):
        c = expected_best_curve(rng.lognormal(size=12), ks=[k], bootstrap=300, level=0.9, seed=t)
        hits += c.low[0] <= truth <= c.high[0]
    assert 0.75 <= hits / trials <= 0.99


def test_verdict_sentence():
    a = expected_best_curve([0.1, 0.11, 0.12, 0.1], seed=0)
    b = expected_best_curve([0.3, 0.31, 0.29, 0.3], seed=0)
    s = verdict_at({"weight": a, "batch": b}, 2)
    assert s.startswith("After 2 draws each, weight is expected best") and "do not overlap" in s
    c = expected_best_curve([0.1, 0.3, 0.12, 0.29], seed=0)
    assert "overlap: at this budget" in verdict_at({"weight": a, "none": c}, 1)
    assert verdict_at({"weight": a}, 2) is None
