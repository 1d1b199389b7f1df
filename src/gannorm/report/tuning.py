"""How good a method gets for a given tuning budget: the expected best score after k draws.

Lucic et al. 2018 ("Are GANs created equal?") compare GANs by the distribution of their
score over random hyperparameter draws, and Dodge et al. 2019 ("Show your work") give its
closed form. With the n validation scores of a method's draws sorted so that ``v_(1)`` is
the worst and ``v_(n)`` the best, the expected best of k draws taken at random (with
replacement) from them is

    E[best of k] = sum_i v_(i) * ((i / n)^k - ((i - 1) / n)^k)

(Dodge et al. 2019, eq. 1). The band around it is a percentile bootstrap over the draws. A
verdict at equal budget compares methods' expected best at the same k; it is descriptive
(which method to tune, for a budget like the study's), not a significance test.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import numpy as np


def _finite(scores: Sequence[float]) -> np.ndarray:
    v = np.asarray([s for s in scores if s is not None], dtype=float)
    return v[np.isfinite(v)]


def expected_best(scores: Sequence[float], k: int, lower_is_better: bool = True,
                  failed_value: Optional[float] = None) -> float:
    """E[best of k draws with replacement] of the empirical score distribution (Dodge et al.
    2019, eq. 1). A draw whose run failed (NaN, inf, None) counts as ``failed_value`` when it is
    given (e.g. the worst finite score: a failed setting is a draw the budget paid for), and is
    left out otherwise. NaN when no score is left."""
    v = np.asarray([np.nan if s is None else s for s in scores], dtype=float)
    if failed_value is not None:
        v = np.where(np.isfinite(v), v, failed_value)
    v = v[np.isfinite(v)]
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if len(v) == 0:
        return float("nan")
    ordered = np.sort(-v if lower_is_better else v)  # ascending: worst first
    n = len(ordered)
    i = np.arange(1, n + 1)
    weights = (i / n) ** k - ((i - 1) / n) ** k
    best = float(np.sum(ordered * weights))
    return -best if lower_is_better else best


@dataclass
class Curve:
    """Expected best after k draws, k = 1..n, with a bootstrap band."""
    k: List[int]
    mean: List[float]
    low: List[float]
    high: List[float]
    n: int


def expected_best_curve(scores: Sequence[float], lower_is_better: bool = True, ks: Optional[Sequence[int]] = None,
                        bootstrap: int = 1000, level: float = 0.95, seed: int = 0,
                        failed_value: Optional[float] = None) -> Curve:
    """The expected-best curve over ``ks`` (default 1..n) with a percentile-bootstrap band:
    the draws resampled with replacement ``bootstrap`` times, the curve recomputed on each."""
    v = np.asarray([np.nan if s is None else s for s in scores], dtype=float)
    if failed_value is not None:
        v = np.where(np.isfinite(v), v, failed_value)
    v = v[np.isfinite(v)]
    n = len(v)
    ks = list(ks) if ks is not None else list(range(1, max(n, 1) + 1))
    mean = [expected_best(v, k, lower_is_better) for k in ks]
    if n < 2 or bootstrap < 1:
        return Curve(ks, mean, list(mean), list(mean), n)
    rng = np.random.default_rng(seed)
    boot = np.empty((bootstrap, len(ks)))
    for b in range(bootstrap):
        s = v[rng.integers(0, n, n)]
        boot[b] = [expected_best(s, k, lower_is_better) for k in ks]
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(boot, [tail, 100 - tail], axis=0)
    return Curve(ks, mean, lo.tolist(), hi.tolist(), n)


def verdict_at(curves: Dict[str, Curve], k: int, lower_is_better: bool = True) -> Optional[str]:
    """One sentence: which method is expected best after ``k`` draws each, and whether its
    bootstrap band separates it from the runner-up."""
    at = {}
    for m, c in curves.items():
        if k in c.k and c.n >= 1 and np.isfinite(c.mean[c.k.index(k)]):
            j = c.k.index(k)
            at[m] = (c.mean[j], c.low[j], c.high[j])
    if len(at) < 2:
        return None
    order = sorted(at, key=lambda m: at[m][0], reverse=not lower_is_better)
    best, second = order[0], order[1]
    b, s = at[best], at[second]
    apart = b[2] < s[1] if lower_is_better else b[1] > s[2]
    return (f"After {k} draws each, {best} is expected best ({b[0]:.4g}, band {b[1]:.4g} to {b[2]:.4g}); "
            f"{second} next ({s[0]:.4g}). "
            + ("The bootstrap bands do not overlap." if apart else
               "The bootstrap bands overlap: at this budget the tuning study does not separate them."))
