"""Collapse, domination and instability signals for the study report.

The rules and thresholds live in :mod:`gannorm.health`, the one place the live monitor of a
training run, ``gannorm watch`` and this table share; this module names them for the study:

- divergence: a non-finite loss stopped the run; the cell records the status ``diverged``
  (the trainer raises ``DivergedError``), the report counts that status.
- D wins outright (:func:`gannorm.health.d_wins`): over the last logged steps D's loss stays
  below a small share of its value at chance, on the loss's own scale. Losses whose D has no
  chance level (WGAN's critic, MMD, BEGAN) get no flag (None), not a false one.
- loss of diversity (mode collapse): :func:`gannorm.health.diversity_ratio` below
  ``COLLAPSE_RATIO`` (``HealthConfig.collapse_ratio``).
- instability of the running reconstruction error: how often it got worse by more than
  ``WORSE_BY`` (relative) from one test to the next (:func:`gannorm.health.worse_count`).
"""
from __future__ import annotations

import math
from typing import Dict, List, Optional

from ..health import HealthConfig, d_wins, diversity_ratio, mean_pairwise_distance, worse_count  # noqa: F401

COLLAPSE_RATIO = HealthConfig.collapse_ratio
WORSE_BY = HealthConfig.worse_by
LAST_STEPS = HealthConfig.last_steps


def train_seconds(metrics: List[Dict]) -> Optional[float]:
    """Training wall-clock seconds from the logged rate: iterations / it_per_s of the last
    logged step (the trainer logs it_per_s = iterations so far / seconds so far). Exact for
    a run trained in one go; after a resume the rate is the last session's."""
    rows = [m for m in metrics if m.get("it_per_s")]
    if not rows:
        return None
    rate = float(rows[-1]["it_per_s"])
    return float(rows[-1]["iteration"]) / rate if rate > 0 and math.isfinite(rate) else None
