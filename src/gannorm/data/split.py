"""The held-out splits of the reconstruction metric (Xiang & Li 2017, authors' split_data),
and an optional validation split.

A random permutation of the dataset (seeded by ``data.split_seed``); its first ``holdout``
images are the final test set, the next ``validation`` images (``data.validation``, default
0) the validation set, the rest the training set. The running test takes the first
``running_holdout`` images of the validation set when there is one, else of the final test
set (the authors' protocol). No held-out or validation image is ever trained on, and with
``validation`` 0 the split is the one the package has always made.

Tuning and selection (drawn settings, successive halving, a seeds race) should score on the
validation set: choosing settings by the final test's own images biases the final verdict.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..config import REAL_SPLITS
from ..errors import GannormError


@dataclass
class Split:
    train: np.ndarray
    final_test: np.ndarray
    running_test: np.ndarray
    validation: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def indices(self, name: str) -> np.ndarray:
        """The sorted indices of split ``name`` (``train``, ``test``, ``validation``)."""
        if name == "train":
            return self.train
        if name == "test":
            return np.sort(self.final_test)
        if name == "validation":
            if not len(self.validation):
                raise GannormError("this run has no validation split (data.validation is 0); "
                                   "use test or train, or train with data.validation=N")
            return np.sort(self.validation)
        raise GannormError(f"unknown split {name!r}; valid: {', '.join(REAL_SPLITS)}")


def default_holdout(n: int) -> int:
    return min(2000, n // 5)


def holdout_split(n: int, holdout: int | None, running: int, seed: int, validation: int = 0,
                  max_train: int | None = None) -> Split:
    """``max_train``: train on only the first ``max_train`` images of the permutation after the
    held-out and validation images (a random subset, for limited-data studies); the held-out
    sets do not change."""
    holdout = default_holdout(n) if holdout is None else holdout
    validation = int(validation or 0)
    if validation < 0:
        raise GannormError(f"data.validation must be >= 0, got {validation}")
    if holdout + validation >= n:
        what = f"data.holdout={holdout}" + (f" and data.validation={validation}" if validation else "")
        raise GannormError(f"{what} {'leave' if validation else 'leaves'} no training images out of {n}; "
                           f"lower {'them' if validation else 'it'}")
    perm = np.random.RandomState(seed).permutation(n)
    final, val = perm[:holdout], perm[holdout:holdout + validation]
    running_from = val if validation else final
    rest = perm[holdout + validation:]
    train = rest if max_train is None else rest[:max_train]
    return Split(train=np.sort(train), final_test=final,
                 running_test=running_from[:min(running, len(running_from))], validation=val)


def split_for(data_cfg, n: int) -> Split:
    """The split a run with data settings ``data_cfg`` (a ``DataConfig``) makes of ``n`` images."""
    return holdout_split(n, data_cfg.holdout, data_cfg.running_holdout, data_cfg.split_seed,
                         getattr(data_cfg, "validation", 0), getattr(data_cfg, "max_train", None))
