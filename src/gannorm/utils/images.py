"""G's output range to pixels in [0, 1], and a seeded subset of images: one place for each."""
from __future__ import annotations

from typing import Sequence, Tuple, Union

import numpy as np


def unit_range(x, out_range: Tuple[float, float] = (0.0, 1.0)):
    """Images ``x`` (a tensor) in G's ``out_range`` -> [0, 1], clamped: what a PNG, a
    pixel-space distance or a reconstruction grid shows."""
    lo, hi = out_range
    return ((x - lo) / (hi - lo)).clamp(0, 1)


def seeded_subset(indices: Union[int, Sequence[int], np.ndarray], n: int, seed: int = 0) -> np.ndarray:
    """``n`` of ``indices`` (or of ``range(indices)`` for an int) drawn without replacement by
    ``numpy.random.RandomState(seed)``, sorted; all of them, sorted, when ``n`` is not smaller."""
    idx = np.arange(indices) if isinstance(indices, (int, np.integer)) else np.asarray(indices)
    if n >= len(idx):
        return np.sort(idx)
    return np.sort(np.random.RandomState(seed).choice(idx, n, replace=False))
