"""Statistics across seeds, checked against scipy on fixed numbers and against published
sample-size tables (Cohen 1988; G*Power's t-test tables)."""
import math

import numpy as np
import pytest
from scipy import stats as sps

from gannorm.store import statistics as S


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


def _mc_paired_power(d, n, alpha, reps=20000, seed=0):
    """Independent power check: simulate paired experiments (differences ~ N(d, 1)) and count
    two-sided t-test rejections."""
    x = np.random.RandomState(seed).normal(d, 1.0, size=(reps, n))
    t = x.mean(1) / (x.std(1, ddof=1) / np.sqrt(n))
    return float(np.mean(2 * sps.t.sf(np.abs(t), n - 1) < alpha))


def test_seeds_needed_at_a_large_effect_does_not_undercount():
    """A = {0.10, 0.11}, B = {0.12, 0.135}: paired differences -0.02, -0.025 (d = 6.4). scipy's
    noncentral t gives NaN for one tail at this effect; the estimate then fell back to the
    normal approximation (2 seeds, the study's own n, though Holm p = 0.07). At 2 pairs the
    real power is ~0.5; the returned n must reach 0.8 and n - 1 must not."""
    v = S.verdict({"a": {"0": 0.10, "1": 0.11}, "b": {"0": 0.12, "1": 0.135}})
    c = v.comparisons[0]
    assert c.test == "paired t" and not c.significant and c.p == pytest.approx(0.0704, abs=1e-3)
    d = abs(c.diff) / np.std([-0.02, -0.025], ddof=1)
    assert c.seeds_needed > 2
    se = math.sqrt(0.8 * 0.2 / 20000)
    assert _mc_paired_power(d, c.seeds_needed, 0.05) >= 0.8 - 3 * se
    assert _mc_paired_power(d, c.seeds_needed - 1, 0.05) < 0.8 + 3 * se
    for delta in (6.0, 7.5, 9.0, 12.0, 30.0):  # the power itself is a number between 0 and 1 everywhere
        for df_n in (2, 3, 6):
            pw = S._power(df_n, delta / math.sqrt(df_n), 1.0, None, 0.05)
            assert 0 < pw <= 1 and math.isfinite(pw)


def test_one_failed_seed_keeps_the_pairing():
    """Six seeds of a, five of b (one run of b failed): paired on the 5 seeds both finished,
    not Welch's test over everything."""
    rng = np.random.RandomState(4)
    seed_effect = rng.normal(0, 1.0, 6)
    a = {str(k): float(seed_effect[k] + rng.normal(0, 0.05)) for k in range(6)}
    b = {str(k): float(seed_effect[k] + 0.2 + rng.normal(0, 0.05)) for k in range(5)}
    c = S.compare(a, b, "a", "b")
    shared = [str(k) for k in range(5)]
    assert c.test == "paired t" and c.pairs == 5 and (c.n_a, c.n_b) == (6, 5)
    ref = sps.ttest_rel([a[k] for k in shared], [b[k] for k in shared])
    assert c.p == pytest.approx(ref.pvalue) and c.p < 0.01
    assert c.diff == pytest.approx(np.mean([a[k] - b[k] for k in shared]))
    assert sps.ttest_ind(list(a.values()), list(b.values()), equal_var=False).pvalue > 0.1  # what Welch would say
    v = S.verdict({"a": a, "b": b}, {"a": [S.End("done")] * 6, "b": [S.End("done")] * 5 + [S.End("failed")]})
    assert v.best == "a" and "1 of 6 runs failed" in v.ends["b"]
    # a seed each: no pairs left, Welch's test
    w = S.compare({"0": 1.0, "1": 2.0, "2": 1.5}, {"2": 1.1, "3": 2.2, "4": 1.7})
    assert w.test == "Welch t" and w.pairs is None
    assert w.p == pytest.approx(sps.ttest_ind([1.0, 2.0, 1.5], [1.1, 2.2, 1.7], equal_var=False).pvalue)


def _ends(*spec):
    out = []
    for status, k, *rest in spec:
        out += [S.End(status, *rest)] * k
    return out


def test_a_method_that_diverged_or_was_stopped_has_lost_and_the_others_decide():
    rng = np.random.RandomState(0)
    base = rng.normal(0, 1, 5)
    bn = {str(k): base[k] + 0.0 + rng.normal(0, 0.05) for k in range(5)}
    wn = {str(k): base[k] + 0.5 + rng.normal(0, 0.05) for k in range(5)}
    # sn diverged in every run: it lost; bn is significantly better than wn, the only other one left
    v = S.verdict({"bn": bn, "wn": wn, "sn": {}},
                  {"bn": _ends(("done", 5)), "wn": _ends(("done", 5)), "sn": _ends(("diverged", 5))})
    assert v.best == "bn" and not v.by_elimination and v.lost == {"sn": "diverged in 5 of 5 runs"}
    assert v.untestable == [] and v.worse == ["wn"]
    # every other method stopped by successive halving: bn is best by elimination
    v = S.verdict({"bn": bn, "wn": {}, "sn": {}},
                  {"bn": _ends(("done", 5)), "wn": _ends(("stopped", 5, "selection", 200)),
                   "sn": _ends(("diverged", 3), ("stopped", 2, "guard", 50))})
    assert v.best == "bn" and v.by_elimination
    assert v.lost["wn"] == "stopped by successive halving at iteration 200"
    assert v.lost["sn"] == "3 of 5 runs diverged, 2 of 5 runs stopped by its stability guard at iteration 50" \
        or v.lost["sn"].startswith("3 of 5 runs diverged, 2 of 5 runs stopped by its stability guard")
    # killed runs are missing data, not a loss: a method with one finished run and four killed blocks a best
    v = S.verdict({"bn": bn, "wn": wn, "kn": {"0": 5.0}},
                  {"bn": _ends(("done", 5)), "wn": _ends(("done", 5)), "kn": _ends(("done", 1), ("killed", 4))})
    assert v.best is None and v.untestable == ["kn"] and not v.lost and "4 of 5 runs killed" in v.ends["kn"]


def test_a_method_with_a_third_of_its_runs_failed_cannot_be_best():
    rng = np.random.RandomState(1)
    base = rng.normal(0, 1, 6)
    good = {str(k): base[k] + rng.normal(0, 0.02) for k in range(6)}
    flaky = {str(k): base[k] - 1.0 + rng.normal(0, 0.02) for k in range(4)}  # far lower error on what finished
    mid = {str(k): base[k] + 0.3 + rng.normal(0, 0.02) for k in range(6)}
    ends = {"good": _ends(("done", 6)), "mid": _ends(("done", 6)), "flaky": _ends(("done", 4), ("diverged", 2))}
    v = S.verdict({"good": good, "flaky": flaky, "mid": mid}, ends)
    assert v.out == {"flaky": "2 of 6 runs diverged"} and v.best == "good" and v.leader == "good"
    # the comparison with it is still made and shown
    assert any({c.a, c.b} == {"good", "flaky"} and c.significant for c in v.comparisons)
    # one of six diverged (< 1/3): still in the race, its failure stated
    ends["flaky"] = _ends(("done", 4), ("diverged", 1), ("killed", 1))
    v = S.verdict({"good": good, "flaky": flaky, "mid": mid}, ends)
    assert v.best == "flaky" and v.ends["flaky"].startswith("1 of 6 runs diverged, 1 of 6 runs killed")


def test_verdict_takes_nan_and_none_scores():
    """verdict() called directly with missing scores: they are left out, never a crash."""
    nan = float("nan")
    res = {"a": {"0": 0.10, "1": None, "2": 0.12, "3": nan, "4": 0.11},
           "b": {"0": 0.13, "1": 0.12, "2": 0.16, "3": 0.14, "4": nan}}
    v = S.verdict(res)
    c = v.comparisons[0]
    assert c.test == "paired t" and c.pairs == 2 and (c.n_a, c.n_b) == (3, 4)
    assert c.p == pytest.approx(sps.ttest_rel([0.10, 0.12], [0.13, 0.16]).pvalue)
    assert not c.significant and c.seeds_needed is not None and c.seeds_needed > 2
    assert v.summaries["a"].n == 3 and v.summaries["b"].n == 4
    assert S.seeds_needed(nan, 1.0) is None and S.seeds_needed(0.1, nan) is None
    assert S.seeds_needed(0.1, 1.0, nan) is None and S.seeds_needed(0.1, 1.0, None) is not None
    assert S.verdict({"a": {"0": None}, "b": {}}).leader is None
    # the same seeds missing on both sides, not significant: the seeds-needed estimate takes the finite pairs
    v = S.verdict({"a": {"0": 0.10, "1": 0.13, "2": None}, "b": {"0": 0.11, "1": 0.12, "2": nan}})
    assert v.comparisons[0].pairs == 2 and v.comparisons[0].seeds_needed is None  # mean difference 0
    v = S.verdict({"a": {"0": 0.10, "1": 0.13, "2": None}, "b": {"0": 0.12, "1": 0.14, "2": nan}})
    assert v.comparisons[0].seeds_needed > 2


def _exact_spearman_p(x, y):
    """Independent reference: rho (scipy) and the fraction of the orderings of y's ranks,
    listed by itertools, whose rank correlation with x's ranks is at least as large in size."""
    import itertools

    rho = sps.spearmanr(x, y).statistic
    rx, ry = sps.rankdata(x), sps.rankdata(y)
    perms = np.array(list(itertools.permutations(ry)))
    r = np.array([np.corrcoef(rx, p)[0, 1] for p in perms]) if len(perms) <= 120 else \
        ((perms - perms.mean(1, keepdims=True)) @ (rx - rx.mean())) / (
            np.linalg.norm(perms - perms.mean(1, keepdims=True), axis=1) * np.linalg.norm(rx - rx.mean()))
    return rho, np.mean(np.abs(r) >= abs(rho) - 1e-12)


def test_spearman_p_is_the_exact_permutation_p_for_few_runs():
    rho, p, n = S.spearman([1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5, 6])
    assert (rho, n) == (1.0, 6) and p == pytest.approx(2 / 720)  # scipy's t approximation gives ~0
    assert S.spearman([1, 2, 3, 4], [1, 2, 3, 4])[1] == pytest.approx(2 / 24)
    rng = np.random.RandomState(2)
    for n in (3, 4, 5, 6, 7):
        for _ in range(3):
            x = list(rng.normal(size=n))
            y = list(np.round(rng.normal(size=n), 0))  # ties on one side
            if len(set(y)) == 1:
                continue
            rho, p, m = S.spearman(x, y)
            ref_rho, ref_p = _exact_spearman_p(x, y)
            assert m == n and rho == pytest.approx(ref_rho) and p == pytest.approx(ref_p)


def test_spearman_ignores_missing():
    x, y = [1, 2, 3, 4, float("nan"), None], [2.0, 1.0, 4.0, 3.0, 5.0, 1.0]
    rho, p, n = S.spearman(x, y)
    ref = sps.spearmanr(x[:4], y[:4])
    assert n == 4 and rho == pytest.approx(ref.statistic) and p == pytest.approx(_exact_spearman_p(x[:4], y[:4])[1])
    assert S.spearman([1, 2], [1, 2])[0] is None and not math.isnan(S.summarise([1, 2]).mean)
    assert S.spearman([1, 2, 3], [5, 5, 5]) == (None, None, 3)  # one side constant: no correlation to give
    # above the exact range: scipy's approximation
    x = list(range(12))
    y = [0, 2, 1, 3, 5, 4, 6, 8, 7, 9, 11, 10]
    assert S.spearman(x, y)[1] == pytest.approx(sps.spearmanr(x, y).pvalue)
