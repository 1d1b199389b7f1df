"""Tune, then confirm: each method's best drawn setting re-run with fresh seeds at full length.

Study YAML::

    strategy: tune-confirm
    sample: {draws: 8, seed: 0, space: {...}}         # the tuning phase (gannorm.study.search_space)
    confirm: {seeds: [100, 101, 102], iterations: 4000}   # fresh seeds, the full length
    # or a seeds race as the confirmation (seeds added only while the verdict is undecided):
    # confirm: {seeds: {start: 3, max: 10, step: 2, first: 100}}  +  race: {...}, budget: {...}

The tuning phase trains every method at every draw (the study's cells). Then, per method,
the draw with the lowest mean validation score (the runs' lowest running error, on
``data.validation`` when it is set) wins, and the confirmation phase trains that method at
that draw with each confirmation seed and ``iterations`` (default: the base's). The final
verdict (paired tests, Holm, on the final test) is made on the confirmation runs only; the
tuning view shows the draws, and the report says which setting each method won with. A
method none of whose draws finished has lost and is not confirmed.
"""
from __future__ import annotations

import math
from collections import OrderedDict
from typing import Dict, List, Tuple

from .. import config as config_mod
from .. import outcomes
from ..store.labels import CONFIRM, DRAW_AXIS, PHASE, method_labels
from .grid import Cell, Study, cell_id


def best_draws(study: Study, store) -> Tuple["OrderedDict[tuple, Tuple[str, float]]", List[str]]:
    """Per method (its labels less draw and seed): the draw with the lowest mean validation
    score over its finished runs, and that score; plus one line per method with no finished draw."""
    scores: "OrderedDict[tuple, Dict[str, List[float]]]" = OrderedDict()
    stored = {r["cell_id"]: r for r in store.runs()}  # one read of the store, not two queries per cell
    for c in study.cells:
        r = stored.get(c.id)
        v = r["best_running"] if r and r["status"] == outcomes.DONE else None
        per = scores.setdefault(method_labels(c.labels), {}).setdefault(c.labels[DRAW_AXIS], [])
        if v is not None and math.isfinite(v):
            per.append(float(v))
    best, lost = OrderedDict(), []
    for m, draws in scores.items():
        means = {d: sum(vs) / len(vs) for d, vs in draws.items() if vs}
        if not means:
            lost.append(f"{', '.join(f'{k}={v}' for k, v in m)}: no draw finished, not confirmed")
            continue
        d = min(means, key=lambda k: (means[k], k))
        best[m] = (d, means[d])
    return best, lost


def confirm_cells(study: Study, store, confirm: Dict) -> Tuple[List[Cell], List[str]]:
    """The confirmation cells (each method at its best draw, each confirmation seed, the full
    length) and lines saying which draw each method won with."""
    best, lines = best_draws(study, store)
    by_method = {}
    for c in study.cells:
        by_method.setdefault((method_labels(c.labels), c.labels[DRAW_AXIS]), c)
    cells = []
    for m, (draw, score) in best.items():
        tuned = by_method[(m, draw)]
        seeds = confirm["seeds"]
        how = (f"raced from seed {seeds[0]} (seeds added only while undecided, at most {len(seeds)})"
               if confirm.get("race") else f"confirmed with seeds {', '.join(map(str, seeds))}")
        lines.append(f"{', '.join(f'{k}={v}' for k, v in m) or 'all'}: best draw {draw} (validation score "
                     f"{score:.5g}) {how}")
        for seed in confirm["seeds"]:
            labels = {PHASE: CONFIRM, **dict(m), "train.seed": str(seed), DRAW_AXIS: draw}
            overrides = [o for o in tuned.overrides if not o.startswith("train.seed=")] + \
                [f"train.seed={seed}", f"train.iterations={confirm['iterations']}"]
            data = config_mod.apply_overrides(study.base, overrides)
            cfg = config_mod.from_dict(data)
            config_mod.validate(cfg)
            cells.append(Cell(cell_id(labels), labels, overrides, cfg))
    return cells, lines
