"""Collapse, domination and instability signals for the study report.

- divergence: a non-finite loss stopped the run; the cell records the status ``diverged``
  (the trainer raises ``DivergedError``), the report counts that status.
- D wins outright: over the last logged steps D's loss stays below a small share of its
  value at chance, on the loss's own scale (``AdversarialLoss.d_wins``: BCE's sigmoid
  probabilities, hinge's margins, LSGAN's targets). Losses whose D has no chance level
  (WGAN's critic, MMD, BEGAN) get no flag (None), not a false one.
- loss of diversity (mode collapse): the mean pairwise L2 distance among generated
  samples, relative to the same statistic on real images (1 = as diverse as the data;
  near 0 = G outputs nearly one image). Flagged below ``COLLAPSE_RATIO``.
- instability of the running reconstruction error: how often it got worse by more than
  ``WORSE_BY`` (relative) from one test to the next.
"""
from __future__ import annotations

import math
from typing import Dict, List, Optional

import torch

COLLAPSE_RATIO = 0.5
WORSE_BY = 0.10
LAST_STEPS = 5


def mean_pairwise_distance(x: torch.Tensor) -> float:
    x = x.flatten(1).double()
    d = torch.cdist(x, x)
    n = len(x)
    return float(d.sum() / (n * (n - 1)))


def diversity_ratio(generated: torch.Tensor, real: torch.Tensor) -> float:
    """Mean pairwise distance of generated / of real images (both on the [0,1] scale)."""
    return mean_pairwise_distance(generated) / max(mean_pairwise_distance(real), 1e-12)


def d_wins(metrics: List[Dict], loss, last: int = LAST_STEPS) -> Optional[bool]:
    """D wins outright at each of the ``last`` logged steps, judged by ``loss.d_wins``."""
    rows = [m for m in metrics if "d_loss" in m][-last:]
    if not rows:
        return False
    verdicts = [loss.d_wins(float(m["d_loss"])) for m in rows]
    if any(v is None for v in verdicts):
        return None
    return all(verdicts)


def worse_count(values: List[float], by: float = WORSE_BY) -> int:
    return sum(1 for a, b in zip(values, values[1:]) if math.isfinite(a) and b > a * (1 + by))


def train_seconds(metrics: List[Dict]) -> Optional[float]:
    """Training wall-clock seconds from the logged rate: iterations / it_per_s of the last
    logged step (the trainer logs it_per_s = iterations so far / seconds so far). Exact for
    a run trained in one go; after a resume the rate is the last session's."""
    rows = [m for m in metrics if m.get("it_per_s")]
    if not rows:
        return None
    rate = float(rows[-1]["it_per_s"])
    return float(rows[-1]["iteration"]) / rate if rate > 0 and math.isfinite(rate) else None
