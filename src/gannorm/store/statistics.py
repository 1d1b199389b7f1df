"""Statistics across seeds: is one method better than the others, and how sure can we be?

The unit is a training run (one seed of one method), never an image: the images of one
run share its generator, so they are not independent evidence about the method.

Per method (``summarise``): mean, sample standard deviation s (ddof 1), n, and the 95%
t confidence interval  mean +- t_{1-a/2, n-1} s / sqrt(n).

Between two methods (``compare``):

- **paired t-test** (as ``scipy.stats.ttest_rel``) on the seeds both methods finished, when
  there are at least two (a seed fixes the data order, the z draws and the held-out images,
  so its runs share the noise that pairing removes; a seed only one method finished is left
  out of the pairing rather than throwing the pairing away): t = mean(d) / (s_d / sqrt(n))
  over the per-seed differences d, n - 1 degrees of freedom. Not the Wilcoxon signed-rank
  test: with n pairs its smallest two-sided p-value is 2 / 2^n (0.25 for 3 seeds, 0.0625
  for 5), so with the seed counts studies afford it could never call any difference
  significant. The t-test assumes the per-seed differences are roughly normal, which few
  seeds cannot check.
- **Welch's t-test** (as ``scipy.stats.ttest_ind(equal_var=False)``) otherwise: no equal
  variances assumed, Welch-Satterthwaite degrees of freedom.

Every pair of methods is compared and the p-values are corrected together by Holm's
step-down method (``holm``), which controls the family-wise error rate at ``alpha``.

How each run's ending (``gannorm.outcomes``) enters the verdict (``verdict``):

- ``done`` runs are the sample compared above;
- a method whose every run diverged, was stopped by its guard or by successive halving has
  **lost** (``outcomes.has_lost``): it is named with how it ended and the verdict is decided
  among the others;
- a method with a third or more of its runs failed (diverged or guard-stopped) cannot be
  recommended as best whatever its finished runs show (``outcomes.may_be_best``): it is
  **out of the race**, named with its failures ("2 of 5 runs diverged");
- ``killed`` and ``failed`` runs are missing data: reported, retried by a rerun.

A method is marked **best** only when, among the methods still in the race, it has the
lowest mean and is significantly better than every other one, and every one of them has at
least two finished runs (a method with fewer has no spread to test; it blocks the verdict).
When every other method has lost or is out of the race, the one left is best by
elimination. Otherwise ``verdict`` names the group that cannot be told apart from the
lowest mean. For each pair not told apart ``seeds_needed`` estimates how many seeds would
show the observed difference at the observed spread (two-sided t-test, power 0.8, at the
Bonferroni level alpha / m of the m comparisons, which Holm's first step uses).
"""
from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np
from scipy import integrate, special, stats

from .. import outcomes as O

ALPHA = 0.05
POWER = 0.8
MAX_SEEDS = 10_000  # beyond this the estimate reads "more than 10000"
#: up to this many pairs Spearman's p-value is the exact permutation p (n! orderings)
EXACT_SPEARMAN_N = 9


@dataclass
class Summary:
    n: int
    mean: Optional[float]
    std: Optional[float]
    ci: Optional[tuple]  # (low, high) of the 95% t interval; None below 2 runs


def _finite(x) -> bool:
    return x is not None and isinstance(x, (int, float, np.floating, np.integer)) and math.isfinite(x)


def summarise(values: Sequence[float], level: float = 0.95) -> Summary:
    """Mean, sample std (ddof 1), n and the t confidence interval of finite ``values``."""
    v = np.asarray([x for x in values if _finite(x)], dtype=float)
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
    n_a: int  # finished runs of a
    n_b: int
    diff: float  # mean(a) - mean(b) (paired: mean of the per-seed differences)
    p: float
    p_holm: float = float("nan")
    significant: bool = False
    seeds_needed: Optional[int] = None  # to detect ``diff`` at the observed spread, power 0.8
    pairs: Optional[int] = None  # paired: the seeds both finished (the test's n)

    @property
    def n(self) -> int:
        """The sample size per method the test used: the pairs, or the smaller group."""
        return self.pairs if self.pairs is not None else min(self.n_a, self.n_b)


def _clean(d: Dict) -> Dict:
    return {k: float(v) for k, v in (d or {}).items() if _finite(v)}


def compare(a: Dict[str, float], b: Dict[str, float], name_a: str = "a", name_b: str = "b") -> Optional[Comparison]:
    """Two methods' results keyed by seed: paired t-test on the seeds both have (>= 2), else
    Welch's t-test. None when either side has fewer than 2 runs (no spread to test against)."""
    a, b = _clean(a), _clean(b)
    common = sorted(set(a) & set(b))
    if len(common) >= 2:
        x, y = np.array([a[k] for k in common]), np.array([b[k] for k in common])
        d = x - y
        if np.all(d == d[0]):  # no spread in the differences: t is undefined (0/0 or inf)
            p = 1.0 if d[0] == 0 else 0.0
        else:
            p = _t_p(d.mean() / (d.std(ddof=1) / math.sqrt(len(d))), len(d) - 1)
        return Comparison(name_a, name_b, "paired t", len(a), len(b), float(d.mean()), p, pairs=len(common))
    if len(a) < 2 or len(b) < 2:
        return None
    x, y = np.array(list(a.values())), np.array(list(b.values()))
    if x.std() == 0 and y.std() == 0:
        p = 1.0 if x.mean() == y.mean() else 0.0
    else:
        va, vb = x.var(ddof=1) / len(x), y.var(ddof=1) / len(y)
        df = (va + vb) ** 2 / (va ** 2 / (len(x) - 1) + vb ** 2 / (len(y) - 1))  # Welch-Satterthwaite
        p = _t_p((x.mean() - y.mean()) / math.sqrt(va + vb), df)
    return Comparison(name_a, name_b, "Welch t", len(x), len(y), float(x.mean() - y.mean()), p)


def _t_p(t: float, df: float) -> float:
    """Two-sided p of Student's t with ``df`` degrees of freedom: 2 P(T < -|t|). The same
    number as ``scipy.stats.ttest_rel`` / ``ttest_ind(equal_var=False)`` (the tests check),
    without their per-call overhead, which the simulations of the decision rule would pay
    thousands of times."""
    return float(min(1.0, 2 * special.stdtr(df, -abs(float(t)))))


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


def _t_power_integral(crit: float, df: float, delta: float) -> float:
    """P(|T| > crit) for T = (Z + delta) / sqrt(V / df), Z ~ N(0, 1), V ~ chi2(df), by
    integrating the normal tails over V: E_V[Phi(delta - crit s) + Phi(-delta - crit s)],
    s = sqrt(V / df). Needs only the normal and chi-square densities, so it stays finite
    where scipy's noncentral t does not."""
    def f(v):
        s = math.sqrt(v / df)
        return (stats.norm.cdf(delta - crit * s) + stats.norm.cdf(-delta - crit * s)) * stats.chi2.pdf(v, df)
    lo, hi = stats.chi2.ppf([1e-14, 1 - 1e-14], df)
    return float(min(1.0, integrate.quad(f, lo, hi, limit=200, epsabs=1e-12)[0]))


#: up to this many runs per method the power of Welch's test is integrated exactly
EXACT_WELCH_N = 100


def _welch_power(n: int, diff: float, sd_a: float, sd_b: float, alpha: float) -> float:
    """Power of Welch's two-sided test with n runs per method, integrated over the sampling
    distribution of both sample variances (each sd^2 chi2(n-1)/(n-1), independent of the
    means): given them, the test rejects when |diff + Z se| > t_{1-alpha/2, df^} se^, with
    se^ and the Welch-Satterthwaite df^ from the sample variances and se the true standard
    error, so the power is E[Phi((|diff| - c se^)/se) + Phi((-|diff| - c se^)/se)].
    Generalised Gauss-Laguerre quadrature in each variance. The noncentral t with the true
    variances' df overstates it for few runs (n = 2, d = 8: 0.84 against 0.67): the df
    themselves are estimated."""
    k = n - 1
    nodes = 160 if n <= 4 else 64  # at 1-3 df the critical value moves steeply with df^
    x, w = special.roots_genlaguerre(nodes, k / 2 - 1)  # weight x^(k/2-1) e^-x: chi2(k) = 2x
    w = w / w.sum()
    ua = sd_a ** 2 * 2 * x / k / n  # the estimated variance of each mean
    ub = sd_b ** 2 * 2 * x / k / n
    ua, ub = ua[:, None], ub[None, :]
    se_hat = np.sqrt(ua + ub)
    df_hat = (ua + ub) ** 2 / ((ua ** 2 + ub ** 2) / k)
    crit = special.stdtrit(df_hat, 1 - alpha / 2)
    se = math.sqrt((sd_a ** 2 + sd_b ** 2) / n)
    d = abs(diff)
    p = special.ndtr((d - crit * se_hat) / se) + special.ndtr((-d - crit * se_hat) / se)
    return float(min(1.0, w @ p @ w))


def _power(n: int, diff: float, sd_a: float, sd_b: Optional[float], alpha: float) -> float:
    """Power of the two-sided t-test with n runs per method (paired when ``sd_b`` is None:
    ``sd_a`` is then the std of the per-seed differences). Paired: noncentral t, power =
    P(|T| > t_{1-alpha/2, n-1}) with T ~ t'(n-1, delta), delta = diff / (sd_a / sqrt(n)).
    Welch: integrated exactly up to ``EXACT_WELCH_N`` runs (``_welch_power``), above that the
    noncentral t with the Welch-Satterthwaite df of the given spreads.

    scipy's noncentral t returns NaN for one tail or the other at large delta (scipy 1.17:
    ``nct.cdf(-crit, df, delta)`` for delta >= ~7); both tails are taken as upper tails
    (``nct.sf`` at +delta and -delta), and where either is still not a number the power is
    integrated directly (``_t_power_integral``)."""
    if sd_b is None:
        se, df = sd_a / math.sqrt(n), n - 1
    else:
        if n <= EXACT_WELCH_N and sd_a + sd_b > 0:
            return _welch_power(n, diff, sd_a, sd_b, alpha)
        va, vb = sd_a ** 2 / n, sd_b ** 2 / n
        se = math.sqrt(va + vb)
        df = (va + vb) ** 2 / (va ** 2 / (n - 1) + vb ** 2 / (n - 1))  # Welch-Satterthwaite
    delta = abs(diff) / se
    crit = float(stats.t.ppf(1 - alpha / 2, df))
    upper, lower = float(stats.nct.sf(crit, df, delta)), float(stats.nct.sf(crit, df, -delta))
    if not (math.isfinite(upper) and math.isfinite(lower) and 0 <= upper <= 1 and 0 <= lower <= 1):
        return _t_power_integral(crit, df, delta)
    return min(1.0, upper + lower)


def seeds_needed(diff: float, sd_a: float, sd_b: Optional[float] = None, alpha: float = ALPHA,
                 power: float = POWER) -> Optional[int]:
    """Smallest runs per method for a two-sided t-test at ``alpha`` to detect ``diff`` with
    ``power``, given the spread observed: ``sd_a`` alone = std of the paired differences;
    ``sd_a, sd_b`` = each method's std (Welch). Starts from the normal approximation

        n ~ (z_{1-alpha/2} + z_{power})^2 * sigma^2 / diff^2,
        sigma^2 = sd_a^2 (paired) or sd_a^2 + sd_b^2 (Welch),

    and steps n up until the noncentral-t power reaches ``power``, then down while n - 1
    still reaches it. None when ``diff`` is 0 or not a number (no difference to detect), a
    spread is not a number, or more than ``MAX_SEEDS`` would be needed.
    """
    if not _finite(diff) or diff == 0 or not _finite(sd_a) or (sd_b is not None and not _finite(sd_b)):
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


# ----------------------------------------------------------------------------- outcomes

@dataclass(frozen=True)
class End:
    """How one run ended, as the verdict needs it: its ``status`` (``gannorm.outcomes``),
    who stopped a ``stopped`` run (``by``) and the iteration it reached."""
    status: str
    by: Optional[str] = None
    iteration: Optional[int] = None

    @property
    def pair(self) -> tuple:
        return self.status, self.by


def _iters(ends: List[End]) -> str:
    its = sorted({e.iteration for e in ends if e.iteration is not None})
    if not its:
        return ""
    return f" at iteration {its[0]}" if len(its) == 1 else f" at iterations {its[0]}-{its[-1]}"


def describe(ends: Sequence[End]) -> str:
    """How a method's runs ended, in words, leaving out the finished ones: 'diverged in 5 of
    5 runs', '2 of 5 runs diverged, 1 killed', 'stopped by successive halving at iteration
    200'. Empty when every run finished."""
    ends = list(ends)
    n = len(ends)
    div = [e for e in ends if e.status == O.DIVERGED]
    guard = [e for e in ends if e.status == O.STOPPED and e.by == O.BY_GUARD]
    sel = [e for e in ends if e.status == O.STOPPED and e.by != O.BY_GUARD]
    killed = sum(e.status == O.KILLED for e in ends)
    failed = sum(e.status == O.FAILED for e in ends)
    other = sum(e.status not in O.STATUSES for e in ends)
    parts = []
    if div:
        parts.append(f"diverged in {n} of {n} runs" if len(div) == n else f"{len(div)} of {n} runs diverged")
    if guard:
        parts.append(f"stopped by its stability guard in {len(guard)} of {n} runs" if len(guard) == n
                     else f"{len(guard)} of {n} runs stopped by its stability guard")
    if sel:
        parts.append(("stopped by successive halving" if len(sel) == n
                      else f"{len(sel)} of {n} runs stopped by successive halving") + _iters(sel))
    if killed:
        parts.append(f"{killed} of {n} runs killed")
    if failed:
        parts.append(f"{failed} of {n} runs failed with an error")
    if other:
        parts.append(f"{other} of {n} runs not finished")
    return ", ".join(parts)


def failures(ends: Sequence[End]) -> int:
    """Runs that count against their method: diverged or stopped by the guard."""
    return sum(O.is_failure(e.status, e.by) for e in ends)


# ----------------------------------------------------------------------------- verdict

@dataclass
class Verdict:
    summaries: Dict[str, Summary]
    comparisons: List[Comparison]
    leader: Optional[str]  # the lowest mean among the methods still in the race
    best: Optional[str]  # the leader, only when significantly better than every other method in the race
    group: List[str] = field(default_factory=list)  # methods in the race not told apart from the leader
    untestable: List[str] = field(default_factory=list)  # in the race with < 2 finished runs: block a best
    alpha: float = ALPHA
    lost: Dict[str, str] = field(default_factory=dict)  # every run failed or stopped by selection: how
    out: Dict[str, str] = field(default_factory=dict)  # >= 1/3 of its runs failed: cannot be best; how
    worse: List[str] = field(default_factory=list)  # in the race, significantly worse than the leader
    ends: Dict[str, str] = field(default_factory=dict)  # method -> how its unfinished runs ended ("" if all done)
    by_elimination: bool = False  # best because every other method lost or is out of the race

    @property
    def in_race(self) -> List[str]:
        return [m for m in self.summaries if m not in self.lost and m not in self.out]


def verdict(results: Dict[str, Dict[str, float]], ends: Optional[Dict[str, Sequence[End]]] = None,
            alpha: float = ALPHA, power: float = POWER, needed: bool = True) -> Verdict:
    """``results[method][seed] = score`` (lower is better) of the finished runs, and
    ``ends[method]`` how each of its runs ended (default: every run with a finite score is
    done) -> the statistics of the report. ``needed=False`` skips the seeds-needed estimates
    (they do not change the decision)."""
    results = {m: _clean(r) for m, r in results.items()}
    if ends is None:
        ends = {m: [End(O.DONE)] * len(r) for m, r in results.items()}
    ends = {m: list(ends.get(m, [End(O.DONE)] * len(results[m]))) for m in results}
    summaries = {m: summarise(list(r.values())) for m, r in results.items()}
    lost, out = {}, {}
    for m, es in ends.items():
        if O.has_lost([e.pair for e in es]):
            lost[m] = describe(es)
        elif es and failures(es) >= O.MAX_FAILED_FRACTION * len(es):
            out[m] = describe(es)
    race = [m for m in results if m not in lost and m not in out]

    comps = [c for a, b in itertools.combinations(results, 2)
             if (c := compare(results[a], results[b], a, b)) is not None]
    for c, p in zip(comps, holm([c.p for c in comps])):
        c.p_holm = p
        c.significant = p < alpha
    if needed:
        level = alpha / max(len(comps), 1)
        for c in comps:
            if not c.significant:
                c.seeds_needed = _needed(results[c.a], results[c.b], c, level, power)

    ranked = sorted((summaries[m].mean, m) for m in race if summaries[m].mean is not None)
    leader = ranked[0][1] if ranked else None
    untestable = [m for m in race if summaries[m].n < 2]
    group, worse = ([leader] if leader else []), []
    best, by_elim = None, False
    if leader:
        for _, m in ranked[1:]:
            c = next((c for c in comps if {c.a, c.b} == {leader, m}), None)
            better = c is not None and c.significant and (c.diff < 0 if c.a == leader else c.diff > 0)
            (worse if better else group).append(m)
        if len(group) == 1 and not untestable:
            if len(ranked) > 1:
                best = leader
            elif lost or out:  # every other method lost or is out of the race
                best, by_elim = leader, True
    return Verdict(summaries, comps, leader, best, group, untestable, alpha, lost, out, worse,
                   {m: describe(es) for m, es in ends.items()}, by_elim)


def _needed(a: Dict[str, float], b: Dict[str, float], c: Comparison, alpha: float, power: float) -> Optional[int]:
    if c.test == "paired t":
        d = np.array([a[k] - b[k] for k in sorted(set(a) & set(b))])
        return seeds_needed(c.diff, float(d.std(ddof=1)), None, alpha, power)
    x, y = np.array(list(a.values())), np.array(list(b.values()))
    return seeds_needed(c.diff, float(x.std(ddof=1)), float(y.std(ddof=1)), alpha, power)


# ----------------------------------------------------------------------------- rank correlation

@functools.lru_cache(maxsize=None)
def _orderings(n: int) -> np.ndarray:
    """All n! orderings of range(n), one per row: each ordering of range(k) with k inserted at
    every position, built in numpy (itertools takes a second for 9! rows)."""
    out = np.zeros((1, 1), dtype=np.int8)
    for k in range(1, n):
        rows = len(out)
        new = np.empty((rows * (k + 1), k + 1), dtype=np.int8)
        for pos in range(k + 1):
            block = new[pos * rows:(pos + 1) * rows]
            block[:, :pos], block[:, pos], block[:, pos + 1:] = out[:, :pos], k, out[:, pos:]
        out = new
    return out


def spearman(x: Sequence[float], y: Sequence[float]):
    """Spearman's rank correlation of paired values: (rho, p, n) over the pairs where both are
    finite; (None, None, n) below 3 pairs, p None when one side is constant.

    rho is Pearson's correlation of the (average, for ties) ranks, as ``scipy.stats.spearmanr``.
    The two-sided p-value is exact up to ``EXACT_SPEARMAN_N`` pairs: the fraction of the n!
    orderings of one side's ranks whose |rho| is at least the observed one (the permutation
    distribution under no association, ties kept). scipy's p uses a t approximation that is
    far off for few pairs (n = 6, rho = 1: it gives ~0, the exact p is 2/720 = 0.0028);
    above ``EXACT_SPEARMAN_N`` pairs that approximation is used."""
    pairs = [(a, b) for a, b in zip(x, y) if _finite(a) and _finite(b)]
    n = len(pairs)
    if n < 3:
        return None, None, n
    rx = stats.rankdata([p[0] for p in pairs])
    ry = stats.rankdata([p[1] for p in pairs])
    if np.all(rx == rx[0]) or np.all(ry == ry[0]):
        return None, None, n
    r = stats.spearmanr(rx, ry)
    rho = float(r.statistic)
    if n > EXACT_SPEARMAN_N:
        return rho, float(r.pvalue), n
    cx, cy = rx - rx.mean(), ry - ry.mean()
    denom = math.sqrt(float(cx @ cx) * float(cy @ cy))
    perm = cy[_orderings(n)] @ cx / denom  # rho of every ordering of y's ranks against x's
    p = float(np.mean(np.abs(perm) >= abs(rho) - 1e-12))
    return rho, p, n
