"""The study's decision rule checked against its promises by simulation (Monte Carlo), the
way real runs are built: a run's score = its seed's effect (shared by every method run with
that seed: data order, z draws, held-out images) + its method's effect + the run's own noise.

- identical methods: the rule the report uses (``statistics.verdict``) names a false best in
  at most alpha of the studies (+ 3 Monte Carlo standard errors), with 2 to 4 methods, 3 to
  6 seeds and a tenth of the runs missing (killed);
- a planted difference at the number of seeds ``seeds_needed`` gives for it: the pair is
  found (and the better method named best) with the promised power 0.8;
- ``seeds_needed`` over a grid of effect sizes, paired and Welch: its n reaches power 0.8 in
  an independent simulation of the t-test, and n - 1 does not.

Run as a script for the same checks with more repetitions and a table of the numbers:
``PYTHONPATH=src python tests/study/test_decision_simulation.py``.
"""
import math

import numpy as np
import pytest
from scipy import special

from gannorm.store import statistics as S

ALPHA, POWER = S.ALPHA, S.POWER
SEED_SD, RUN_SD = 1.0, 0.3  # seeds differ more than a method's runs on one seed, as in real studies


def _se(p, reps):
    return math.sqrt(p * (1 - p) / reps)


def _study(rng, method_effects, n, missing):
    """One simulated study: scores of the finished runs and every run's ending."""
    k = len(method_effects)
    vals = rng.normal(0, SEED_SD, n)[None, :] + np.asarray(method_effects)[:, None] + rng.normal(0, RUN_SD, (k, n))
    keep = rng.random_sample((k, n)) >= missing
    names = [f"m{j}" for j in range(k)]
    results = {m: {str(i): float(vals[j, i]) for i in range(n) if keep[j, i]} for j, m in enumerate(names)}
    ends = {m: [S.End("done") if keep[j, i] else S.End("killed") for i in range(n)] for j, m in enumerate(names)}
    return results, ends


def false_best_rate(k, reps, seed=0, missing=0.1, seeds=(3, 6)):
    """Share of studies of ``k`` identical methods in which the report's rule names a best."""
    rng = np.random.RandomState(seed)
    hits = 0
    for _ in range(reps):
        results, ends = _study(rng, [0.0] * k, rng.randint(seeds[0], seeds[1] + 1), missing)
        hits += S.verdict(results, ends, needed=False).best is not None
    return hits / reps


def pair_power(k, d, reps, seed=0):
    """Method m0 better than m1 by ``d`` standard deviations of a per-seed difference; the
    other methods (k > 2) far worse. At the n ``seeds_needed`` gives for the true values (at
    the Bonferroni level of the k(k-1)/2 comparisons): (n, share of studies where m0 - m1 is
    significant in the right direction, share where m0 is named best)."""
    sd_diff = RUN_SD * math.sqrt(2)
    m = k * (k - 1) // 2
    n = S.seeds_needed(d * sd_diff, sd_diff, None, ALPHA / m, POWER)
    rng = np.random.RandomState(seed)
    effects = [0.0, d * sd_diff] + [20.0 * RUN_SD] * (k - 2)
    found = best = 0
    for _ in range(reps):
        results, ends = _study(rng, effects, n, 0.0)
        v = S.verdict(results, ends, needed=False)
        c = next(c for c in v.comparisons if {c.a, c.b} == {"m0", "m1"})
        found += c.significant and (c.diff < 0) == (c.a == "m0")
        best += v.best == "m0"
    return n, found / reps, best / reps


def mc_power(kind, d, n, alpha, reps, rng, sd_ratio=1.0):
    """Independent simulation of the two-sided t-test at ``alpha`` with n runs per method and
    a true difference ``d`` (in units of the per-seed difference's sd for ``paired``, of the
    first method's sd for Welch; the second's sd is ``sd_ratio`` times it)."""
    if kind == "paired":
        x = rng.normal(d, 1.0, (reps, n))
        t = x.mean(1) / (x.std(1, ddof=1) / math.sqrt(n))
        df = n - 1
    else:
        a = rng.normal(0.0, 1.0, (reps, n))
        b = rng.normal(d, sd_ratio, (reps, n))
        va, vb = a.var(1, ddof=1) / n, b.var(1, ddof=1) / n
        t = (b.mean(1) - a.mean(1)) / np.sqrt(va + vb)
        df = (va + vb) ** 2 / ((va ** 2 + vb ** 2) / (n - 1))
    return float(np.mean(2 * special.stdtr(df, -np.abs(t)) < alpha))


GRID_D = (0.4, 0.8, 1.5, 3.0, 5.0, 8.0, 12.0)
GRID_KINDS = (("paired", 1.0), ("welch", 1.0), ("welch", 2.0))
GRID_ALPHAS = (ALPHA, ALPHA / 6)


def grid(reps, seed=0):
    """Rows (kind, sd ratio, alpha, d, n, power at n, power at n - 1 or None)."""
    rng = np.random.RandomState(seed)
    rows = []
    for kind, ratio in GRID_KINDS:
        for alpha in GRID_ALPHAS:
            for d in GRID_D:
                n = S.seeds_needed(d, 1.0, None, alpha) if kind == "paired" else S.seeds_needed(d, 1.0, ratio, alpha)
                at = mc_power(kind, d, n, alpha, reps, rng, ratio)
                below = mc_power(kind, d, n - 1, alpha, reps, rng, ratio) if n > 2 else None
                rows.append((kind, ratio, alpha, d, n, at, below))
    return rows


# ----------------------------------------------------------------------------- tests

@pytest.mark.parametrize("k", [2, 3, 4])
def test_identical_methods_rarely_get_a_best(k):
    reps = 1000
    rate = false_best_rate(k, reps, seed=k)
    assert rate <= ALPHA + 3 * _se(ALPHA, reps), rate
    if k == 2:  # two methods, no run missing: the rule is one two-sided test at alpha, not more cautious
        rate = false_best_rate(k, reps, seed=k, missing=0.0)
        assert ALPHA - 3 * _se(ALPHA, reps) <= rate <= ALPHA + 3 * _se(ALPHA, reps), rate


@pytest.mark.parametrize("k, d", [(2, 0.7), (2, 3.5), (3, 0.9)])
def test_a_planted_difference_is_found_with_the_promised_power(k, d):
    reps = 1500 if k == 2 else 800
    n, found, best = pair_power(k, d, reps, seed=k)
    assert n >= 2
    assert found >= POWER - 3 * _se(POWER, reps), (n, found)
    assert best >= POWER - 3 * _se(POWER, reps), (n, best)


def test_seeds_needed_reaches_the_power_over_a_grid():
    reps = 4000
    lo = POWER - 3 * _se(POWER, reps)
    hi = POWER + 3 * _se(POWER, reps)
    for kind, ratio, alpha, d, n, at, below in grid(reps):
        assert at >= lo, (kind, ratio, alpha, d, n, at)
        assert below is None or below < hi, (kind, ratio, alpha, d, n, below)  # and n is the smallest such


if __name__ == "__main__":
    import time

    t0 = time.time()
    print("false best among identical methods (alpha 0.05; 3-6 seeds, 10% of runs killed), 4000 studies each")
    for k in (2, 3, 4):
        r = false_best_rate(k, 4000, seed=100 + k)
        print(f"  {k} methods: {r:.4f}  (bound alpha + 3 SE = {ALPHA + 3 * _se(ALPHA, 4000):.4f})")
    print(f"  2 methods, no run missing: {false_best_rate(2, 4000, seed=110, missing=0.0):.4f}")
    print("planted difference at the n seeds_needed gives (power 0.8 promised), 4000 studies each")
    for k, d in ((2, 0.7), (2, 3.5), (3, 0.9)):
        n, found, best = pair_power(k, d, 4000, seed=200 + k)
        print(f"  {k} methods, d = {d}: n = {n}, pair significant {found:.3f}, better one named best {best:.3f}")
    print("seeds_needed grid (power at n / at n - 1), 20000 simulated tests per point")
    for kind, ratio, alpha, d, n, at, below in grid(20000, seed=300):
        name = kind if kind == "paired" else f"Welch sd ratio {ratio:g}"
        print(f"  {name:20s} alpha {alpha:.4f} d {d:5.1f}: n = {n:4d}  power {at:.3f}"
              + (f"  at n-1 {below:.3f}" if below is not None else ""))
    print(f"({time.time() - t0:.0f} s)")
