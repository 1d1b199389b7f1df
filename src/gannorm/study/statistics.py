"""Statistics across seeds: is one method better than the others, and how sure can we be?

The unit is a training run (one seed of one method), never an image: the images of one
run share its generator, so they are not independent evidence about the method.

Per method (``summarise``): mean, sample standard deviation s (ddof 1), n, and the 95%
t confidence interval  mean +- t_{1-a/2, n-1} s / sqrt(n).

Between two methods (``compare``):

- **paired t-test** (``scipy.stats.ttest_rel``) when both have finished runs with the same
  seeds (a seed fixes the data order, the z draws and the held-out images, so its runs
  share the noise that pairing removes): t = mean(d) / (s_d / sqrt(n)) over the per-seed
  differences d, n - 1 degrees of freedom. Not the Wilcoxon signed-rank test: with n pairs
  its smallest two-sided p-value is 2 / 2^n (0.25 for 3 seeds, 0.0625 for 5), so with the
  seed counts studies afford it could never call any difference significant. The t-test
  assumes the per-seed differences are roughly normal, which few seeds cannot check.
- **Welch's t-test** (``scipy.stats.ttest_ind(equal_var=False)``) otherwise: no equal
  variances assumed, Welch-Satterthwaite degrees of freedom.

Every pair of methods is compared and the p-values are corrected together by Holm's
step-down method (``holm``), which controls the family-wise error rate at ``alpha``.

A method is marked **best** only when it has the lowest mean and is significantly better
than every other method; otherwise ``verdict`` names the group that cannot be told apart
from the lowest mean. For each such pair ``seeds_needed`` estimates how many seeds would
show the observed difference at the observed spread (two-sided t-test, power 0.8, at the
Bonferroni level alpha / m of the m comparisons, which Holm's first step uses).
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np
from scipy import stats

ALPHA = 0.05
POWER = 0.8
MAX_SEEDS = 10_000  # beyond this the estimate reads "more than 10000"


@dataclass
class Summary:
    n: int
    mean: Optional[float]
    std: Optional[float]
    ci: Optional[tuple]  # (low, high) of the 95% t interval; None below 2 runs


def summarise(values: Sequence[float], level: float = 0.95) -> Summary:
    """Mean, sample std (ddof 1), n and the t confidence interval of finite ``values``."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=float)
    n = len(v)
    if n == 0:
        return Summary(0, None, None, None)
    mean = float(v.mean())
    if n == 1:
        return Summary(1, mean, None, None)
    std = float(v.std(ddof=1))
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * std / math.sqrt(n)
    return Summary(n, mean, std, (mean - half, mean + half))


@dataclass
class Comparison:
    a: str
    b: str
    test: str  # "paired t" or "Welch t"
    n_a: int
    n_b: int
    diff: float  # mean(a) - mean(b) (paired: mean of the per-seed differences)
    p: float
    p_holm: float = float("nan")
    significant: bool = False
    seeds_needed: Optional[int] = None  # to detect ``diff`` at the observed spread, power 0.8


def compare(a: Dict[str, float], b: Dict[str, float], name_a: str = "a", name_b: str = "b") -> Optional[Comparison]:
    """Two methods' results keyed by seed: paired t-test on the seeds both have (>= 2), else
    Welch's t-test. None when either side has fewer than 2 runs (no spread to test against)."""
    a = {k: v for k, v in a.items() if v is not None and math.isfinite(v)}
    b = {k: v for k, v in b.items() if v is not None and math.isfinite(v)}
    common = sorted(set(a) & set(b))
    if len(common) >= 2 and len(common) == len(a) == len(b):
        x, y = np.array([a[k] for k in common]), np.array([b[k] for k in common])
        d = x - y
        if np.all(d == d[0]):  # no spread in the differences: t is undefined (0/0 or inf)
            p = 1.0 if d[0] == 0 else 0.0
        else:
            p = float(stats.ttest_rel(x, y).pvalue)
        return Comparison(name_a, name_b, "paired t", len(x), len(y), float(d.mean()), p)
    if len(a) < 2 or len(b) < 2:
        return None
    x, y = np.array(list(a.values())), np.array(list(b.values()))
    if x.std() == 0 and y.std() == 0:
        p = 1.0 if x.mean() == y.mean() else 0.0
    else:
        p = float(stats.ttest_ind(x, y, equal_var=False).pvalue)
    return Comparison(name_a, name_b, "Welch t", len(x), len(y), float(x.mean() - y.mean()), p)


def holm(pvalues: Sequence[float]) -> List[float]:
    """Holm (1979) step-down adjusted p-values: sort p ascending, p_(i) * (m - i + 1) for the
    i-th smallest (1-based), made non-decreasing by a running maximum and capped at 1."""
    m = len(pvalues)
    order = np.argsort(pvalues, kind="stable")
    out = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * float(pvalues[i])))
        out[i] = running
    return out


def _power(n: int, diff: float, sd_a: float, sd_b: Optional[float], alpha: float) -> float:
    """Power of the two-sided t-test with n runs per method (paired when ``sd_b`` is None:
    ``sd_a`` is then the std of the per-seed differences). Noncentral t: power =
    P(|T| > t_{1-alpha/2, df}) with T ~ t'(df, delta), delta = diff / se."""
    if sd_b is None:
        se, df = sd_a / math.sqrt(n), n - 1
    else:
        va, vb = sd_a ** 2 / n, sd_b ** 2 / n
        se = math.sqrt(va + vb)
        df = (va + vb) ** 2 / (va ** 2 / (n - 1) + vb ** 2 / (n - 1))  # Welch-Satterthwaite
    delta = abs(diff) / se
    crit = stats.t.ppf(1 - alpha / 2, df)
    return float(stats.nct.sf(crit, df, delta) + stats.nct.cdf(-crit, df, delta))


def seeds_needed(diff: float, sd_a: float, sd_b: Optional[float] = None, alpha: float = ALPHA,
                 power: float = POWER) -> Optional[int]:
    """Smallest runs per method for a two-sided t-test at ``alpha`` to detect ``diff`` with
    ``power``, given the spread observed: ``sd_a`` alone = std of the paired differences;
    ``sd_a, sd_b`` = each method's std (Welch). Starts from the normal approximation

        n ~ (z_{1-alpha/2} + z_{power})^2 * sigma^2 / diff^2,
        sigma^2 = sd_a^2 (paired) or sd_a^2 + sd_b^2 (Welch),

    and steps n up until the noncentral-t power reaches ``power``. None when ``diff`` is 0
    (no difference to detect) or more than ``MAX_SEEDS`` would be needed.
    """
    if diff == 0 or not math.isfinite(diff):
        return None
    var = sd_a ** 2 + (0.0 if sd_b is None else sd_b ** 2)
    if var == 0:
        return 2
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    n = max(2, int(math.ceil(z ** 2 * var / diff ** 2)))
    if n > MAX_SEEDS:
        return None
    while _power(n, diff, sd_a, sd_b, alpha) < power:
        n += 1
        if n > MAX_SEEDS:
            return None
    # the normal approximation can overshoot by one when n is small; step back while it holds
    while n > 2 and _power(n - 1, diff, sd_a, sd_b, alpha) >= power:
        n -= 1
    return n


@dataclass
class Verdict:
    summaries: Dict[str, Summary]
    comparisons: List[Comparison]
    leader: Optional[str]  # the lowest mean
    best: Optional[str]  # the leader, only when significantly better than every other method
    group: List[str] = field(default_factory=list)  # methods not told apart from the leader
    untestable: List[str] = field(default_factory=list)  # methods with < 2 finished runs
    alpha: float = ALPHA


def verdict(results: Dict[str, Dict[str, float]], alpha: float = ALPHA, power: float = POWER) -> Verdict:
    """``results[method][seed] = score`` (lower is better) -> the statistics of the report."""
    summaries = {m: summarise(list(r.values())) for m, r in results.items()}
    ranked = sorted((s.mean, m) for m, s in summaries.items() if s.mean is not None)
    leader = ranked[0][1] if ranked else None
    comps = [c for a, b in itertools.combinations(results, 2)
             if (c := compare(results[a], results[b], a, b)) is not None]
    for c, p in zip(comps, holm([c.p for c in comps])):
        c.p_holm = p
        c.significant = p < alpha
    level = alpha / max(len(comps), 1)
    for c in comps:
        if not c.significant:
            c.seeds_needed = _needed(results[c.a], results[c.b], c, level, power)
    untestable = [m for m, s in summaries.items() if s.n < 2]
    group = [leader] if leader else []
    best = None
    if leader:
        for m, s in summaries.items():
            if m == leader or s.mean is None:
                continue
            c = next((c for c in comps if {c.a, c.b} == {leader, m}), None)
            better = c is not None and c.significant and (c.diff < 0 if c.a == leader else c.diff > 0)
            if not better:
                group.append(m)
        best = leader if len(group) == 1 and not untestable and len(ranked) > 1 else None
    return Verdict(summaries, comps, leader, best, group, untestable, alpha)


def _needed(a: Dict[str, float], b: Dict[str, float], c: Comparison, alpha: float, power: float) -> Optional[int]:
    if c.test == "paired t":
        d = np.array([a[k] - b[k] for k in sorted(a)])
        return seeds_needed(c.diff, float(d.std(ddof=1)), None, alpha, power)
    x, y = np.array(list(a.values())), np.array(list(b.values()))
    return seeds_needed(c.diff, float(x.std(ddof=1)), float(y.std(ddof=1)), alpha, power)


def spearman(x: Sequence[float], y: Sequence[float]):
    """Spearman's rank correlation of paired values (``scipy.stats.spearmanr``): (rho, p, n)
    over the pairs where both are finite; (None, None, n) below 3 pairs."""
    pairs = [(a, b) for a, b in zip(x, y) if a is not None and b is not None and math.isfinite(a) and math.isfinite(b)]
    if len(pairs) < 3:
        return None, None, len(pairs)
    r = stats.spearmanr([p[0] for p in pairs], [p[1] for p in pairs])
    return float(r.statistic), float(r.pvalue), len(pairs)
