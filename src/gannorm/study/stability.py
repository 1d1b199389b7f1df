"""Collapse and divergence signals for the study report.

- divergence: a NaN/inf loss (the run stopped) or D winning outright: over the last logged
  steps D's mean probability on real images > 0.99 and on generated ones < 0.01, so G
  gets almost no gradient (Arjovsky & Bottou 2017).
- loss of diversity (mode collapse): the mean pairwise L2 distance among generated
  samples, relative to the same statistic on real images (1 = as diverse as the data;
  near 0 = G outputs nearly one image). Flagged below ``COLLAPSE_RATIO``.
- instability of the running reconstruction error: how often it got worse by more than
  ``WORSE_BY`` (relative) from one test to the next.
"""
from __future__ import annotations

import math
from typing import Dict, List

import torch

COLLAPSE_RATIO = 0.5
WORSE_BY = 0.10


def mean_pairwise_distance(x: torch.Tensor) -> float:
    x = x.flatten(1).double()
    d = torch.cdist(x, x)
    n = len(x)
    return float(d.sum() / (n * (n - 1)))


def diversity_ratio(generated: torch.Tensor, real: torch.Tensor) -> float:
    """Mean pairwise distance of generated / of real images (both on the [0,1] scale)."""
    return mean_pairwise_distance(generated) / max(mean_pairwise_distance(real), 1e-12)


def d_wins(metrics: List[Dict], last: int = 5) -> bool:
    rows = [m for m in metrics if "d_real" in m and "d_fake" in m][-last:]
    if not rows:
        return False
    return all(float(m["d_real"]) > 0.99 and float(m["d_fake"]) < 0.01 for m in rows)


def worse_count(values: List[float], by: float = WORSE_BY) -> int:
    return sum(1 for a, b in zip(values, values[1:]) if math.isfinite(a) and b > a * (1 + by))
