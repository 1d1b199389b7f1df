"""The cell labels with a role beyond naming a setting, shared by the runner that writes them
and the report that reads them.

``draw``: the axis of a study's drawn settings (its ``sample`` section); ``phase=confirm``:
a tune-confirm study's confirmation runs (the best draw of each method retrained on fresh
seeds), which carry their draw too.
"""
from __future__ import annotations

from typing import Dict, Iterable, Optional, Tuple

#: the axis of a study's drawn settings (``sample``)
DRAW_AXIS = "draw"
#: the label of a tune-confirm study's confirmation runs
PHASE, CONFIRM = "phase", "confirm"


def is_seed(key: str) -> bool:
    """Whether an axis is a seed axis (``seed``, ``train.seed`` or any ``*.seed``)."""
    return key in ("seed", "train.seed") or key.endswith(".seed")


def method_labels(labels: Dict[str, str], drop: Iterable[Optional[str]] = ()) -> Tuple[Tuple[str, str], ...]:
    """A cell's method: its labels less those that repeat a method (its seed, its draw, its
    phase) and any axis in ``drop`` (a report's panel axis, say), in the labels' order. The
    seeds race, tune-confirm's choice of best draw and the report's tuning view all group
    cells by it."""
    drop = set(drop)
    return tuple((k, v) for k, v in labels.items() if not is_seed(k) and k not in (DRAW_AXIS, PHASE) and k not in drop)
