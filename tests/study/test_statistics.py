"""Statistics across seeds, checked against scipy on fixed numbers and against published
sample-size tables (Cohen 1988; G*Power's t-test tables)."""
import math

import numpy as np
import pytest
from scipy import stats as sps

from gannorm.study import statistics as S


def test_summary_matches_scipy_t_interval():
    v = [0.0268, 0.0245, 0.0291, 0.0273]
    s = S.summarise(v + [float("nan"), None])  # non-finite runs are not part of the sample
    assert s.n == 4 and s.mean == pytest.approx(np.mean(v)) and s.std == pytest.approx(np.std(v, ddof=1))
    lo, hi = sps.t.interval(0.95, 3, loc=np.mean(v), scale=sps.sem(v))
    assert s.ci == pytest.approx((lo, hi))
    one = S.summarise([0.5])
    assert (one.n, one.mean, one.std, one.ci) == (1, 0.5, None, None)


def test_holm_against_the_definition_by_hand():
    # sorted p: 0.01 (x3 = 0.03), 0.03 (x2 = 0.06), 0.04 (x1 = 0.04 -> running max 0.06)
    assert S.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert S.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1


def test_lowest_mean_is_not_marked_best_when_inside_the_noise():
    # a spread like the one users saw: batch 0.0268 +- 0.0025 vs spectral 0.0279 +- 0.0005 (2 seeds)
    res = {"batch": {"0": 0.02507, "1": 0.02853}, "spectral": {"0": 0.02754, "1": 0.02820},
           "none": {"0": 0.04007, "1": 0.04354}}  # always 0.0150 worse
    v = S.verdict(res)
    assert v.leader == "batch" and v.best is None
    assert set(v.group) == {"batch", "spectral"}  # "none" is worse, but batch vs spectral cannot be told apart
    c = next(c for c in v.comparisons if {c.a, c.b} == {"batch", "spectral"})
    assert c.test == "paired t"
    assert c.p == pytest.approx(sps.ttest_rel([0.02507, 0.02853], [0.02754, 0.02820]).pvalue)
    assert c.seeds_needed is not None and c.seeds_needed > 2  # says how many seeds would settle it


def test_pairing_makes_a_consistent_per_seed_difference_significant():
    a = [1.0, 2.0, 3.0, 4.0, 5.0]  # seeds differ a lot from each other ...
    b = [x + d for x, d in zip(a, [0.11, 0.09, 0.10, 0.12, 0.08])]  # ... but b is always ~0.1 worse
    paired = S.verdict({"a": dict(zip("01234", a)), "b": dict(zip("01234", b))})
    c = paired.comparisons[0]
    assert c.test == "paired t" and c.p == pytest.approx(sps.ttest_rel(a, b).pvalue) and c.p < 1e-3
    assert paired.best == "a" and paired.group == ["a"]
    # the same numbers without shared seeds: Welch's test, not significant, no best
    unpaired = S.verdict({"a": dict(zip("01234", a)), "b": dict(zip("56789", b))})
    c = unpaired.comparisons[0]
    assert c.test == "Welch t" and c.p == pytest.approx(sps.ttest_ind(a, b, equal_var=False).pvalue) and c.p > 0.5
    assert unpaired.best is None and set(unpaired.group) == {"a", "b"}


def test_holm_correction_can_remove_a_best():
    rng = np.random.RandomState(3)
    base = rng.normal(0, 1, 6)
    res = {"a": dict(enumerate(base)), "b": dict(enumerate(base + 0.9 + rng.normal(0, 0.5, 6))),
           "c": dict(enumerate(base + 3 + rng.normal(0, 0.5, 6)))}
    v = S.verdict(res)
    raw = {frozenset((c.a, c.b)): c.p for c in v.comparisons}
    ref = dict(zip(raw, S.holm(list(raw.values()))))
    for c in v.comparisons:
        assert c.p_holm == pytest.approx(ref[frozenset((c.a, c.b))]) and c.p_holm >= c.p


@pytest.mark.parametrize("d, paired, n", [(1.0, True, 10), (0.5, True, 34), (1.0, False, 17), (0.5, False, 64)])
def test_seeds_needed_matches_published_tables(d, paired, n):
    """Two-sided alpha 0.05, power 0.8: paired d=1 -> 10, d=0.5 -> 34; two groups d=1 -> 17,
    d=0.5 -> 64 per group (Cohen 1988, table 2.4.1; G*Power)."""
    got = S.seeds_needed(d, 1.0, None if paired else 1.0)
    # the Welch degrees of freedom with equal spreads equal the pooled test's 2n - 2
    assert got == n


def test_seeds_needed_power_by_simulation():
    """Independent check: simulate paired experiments at the returned n and count rejections."""
    n = S.seeds_needed(0.8, 1.0)
    rng = np.random.RandomState(0)
    d = rng.normal(0.8, 1.0, size=(20000, n))
    power = np.mean(sps.ttest_1samp(d, 0, axis=1).pvalue < 0.05)
    assert 0.79 < power < 0.86
    assert S.seeds_needed(0.0, 1.0) is None


def test_spearman_against_scipy_ignores_missing():
    x, y = [1, 2, 3, 4, float("nan")], [2.0, 1.0, 4.0, 3.0, 5.0]
    rho, p, n = S.spearman(x, y)
    ref = sps.spearmanr(x[:4], y[:4])
    assert n == 4 and rho == pytest.approx(ref.statistic) and p == pytest.approx(ref.pvalue)
    assert S.spearman([1, 2], [1, 2])[0] is None and not math.isnan(S.summarise([1, 2]).mean)
