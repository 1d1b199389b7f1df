"""The held-out split of the reconstruction metric (Xiang & Li 2017, authors' split_data).

A random permutation of the dataset (seeded by ``data.split_seed``); its first ``holdout``
images are the final test set, the first ``running_holdout`` of those the running test
set; the rest is the training set. No held-out image is ever trained on.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import GannormError


@dataclass
class Split:
    train: np.ndarray
    final_test: np.ndarray
    running_test: np.ndarray


def default_holdout(n: int) -> int:
    return min(2000, n // 5)


def holdout_split(n: int, holdout: int | None, running: int, seed: int, max_train: int | None = None) -> Split:
    """``max_train``: train on only the first ``max_train`` images of the permutation after the
    holdout (a random subset, for limited-data studies); the held-out sets do not change."""
    holdout = default_holdout(n) if holdout is None else holdout
    if holdout >= n:
        raise GannormError(f"data.holdout={holdout} leaves no training images out of {n}; lower it")
    running = min(running, holdout)
    perm = np.random.RandomState(seed).permutation(n)
    train = perm[holdout:] if max_train is None else perm[holdout:holdout + max_train]
    return Split(train=np.sort(train), final_test=perm[:holdout], running_test=perm[:running])
