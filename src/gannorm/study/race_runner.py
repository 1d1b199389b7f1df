"""Drive a seeds race (``gannorm.study.race``) through a study's cells.

The study's seed axis holds seeds 0 .. max-1 of every method; a round trains, for each method
still in the race, the seeds the next look needs (those already finished are skipped, so a
stopped race resumes where it was and reaches the same decisions). After each round the look
is decided from the stored final-test errors of the study's first checkpoint, recorded in the
store (``meta race``: one entry per look), and said in one line.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Callable, Dict, List, Optional, Tuple

from .. import outcomes
from ..store.labels import method_labels
from . import race as race_mod
from .grid import Cell, Study
from .ingest import put_cell
from ..store import Store


def methods_of(study: Study) -> "OrderedDict[str, Dict[int, Cell]]":
    """{method label: {i: cell}}: a method's label is its cell labels less the seed
    (``method_labels``), ``i`` the
    rank of the cell's seed among the method's (a study's race has seeds 0 .. max-1; a raced
    confirmation ``first`` .. ``first + max - 1``), so a look at n seeds takes ranks 0 .. n-1."""
    seeds: "OrderedDict[str, List[Tuple[int, Cell]]]" = OrderedDict()
    for c in study.cells:
        name = ",".join(f"{k}={v}" for k, v in method_labels(c.labels)) or "all"
        seeds.setdefault(name, []).append((int(c.labels["train.seed"]), c))
    return OrderedDict((m, {i: c for i, (_, c) in enumerate(sorted(cs, key=lambda sc: sc[0]))})
                       for m, cs in seeds.items())


def stored_values(store: Store, study: Study, cells: Dict[int, Cell]) -> Dict[int, float]:
    """{seed: final-test error on the study's first checkpoint} of the finished cells; a
    diverged cell is NaN (it counts against its method), a missing one is left out."""
    out, finals = {}, {}  # finals read once per key, not once per cell
    for seed, cell in cells.items():
        o = store.outcome(cell.id)
        if not o:
            continue
        if outcomes.is_failure(o["status"], o["stopped_by"]):
            out[seed] = float("nan")
            continue
        key = study.final_test.recon_keys(cell.config)[0]
        if key not in finals:
            finals[key] = store.finals(key)
        row = finals[key].get(cell.id, {}).get(key)
        if o["status"] == outcomes.DONE and row and row.get("value") is not None:
            out[seed] = float(row["value"])
    return out


def _hours(store: Store, methods) -> Optional[Tuple[float, float]]:
    """(hours used by the race's stored runs, the mean hours of one) from each run's recorded
    wall-clock time (the whole cell when recorded, else its training); None before any."""
    ids = {c.id for cs in methods.values() for c in cs.values()}
    secs = [r.get("cell_seconds") or r.get("train_seconds") for r in store.runs() if r["cell_id"] in ids]
    secs = [float(x) for x in secs if x]
    return (sum(secs) / 3600, sum(secs) / len(secs) / 3600) if secs else None


def _record(lk: race_mod.Look) -> Dict:
    return {"look": lk.index + 1, "level": lk.alpha, "seeds": lk.seeds, "means": lk.means, "leader": lk.leader,
            "told_apart": lk.told_apart, "decision": lk.decision, "reason": lk.reason, "next_round": lk.next_round,
            "comparisons": [{"a": c.a, "b": c.b, "diff": c.diff, "p": c.p, "p_holm": c.p_holm,
                             "significant": c.significant} for c in lk.comparisons]}


def run_race(study: Study, store: Store, pool, todo: List[Cell], on_done: Optional[Callable[[Dict], None]],
             say: Callable[[str], None]) -> List[Dict]:
    design = study.race
    methods = methods_of(study)
    want = {c.id for c in todo}
    rows: List[Dict] = []

    def on_result(cell, run_dir, outcome, result, metrics):
        outcome = outcome or outcomes.Outcome(outcomes.FAILED, "the cell ended without recording how")
        row = put_cell(store, cell, run_dir, outcome, result, metrics)
        rows.append(row)
        if on_done:
            on_done(row)

    active, history = list(methods), []
    looks = design.looks()
    for i, n in enumerate(looks):
        batch = [methods[m][s] for m in active for s in range(n) if methods[m][s].id in want]
        if batch:
            want -= {c.id for c in batch}  # a round trains a cell once; a rerun of the study resumes the rest
            pool.run([(c, None) for c in batch], on_result)
        values = {m: stored_values(store, study, {s: c for s, c in methods[m].items() if s < n}) for m in active}
        used = sum(1 for cs in methods.values() for c in cs.values() if store.outcome(c.id))
        lk = race_mod.look(values, active, design, i, used, _hours(store, methods))
        history.append(_record(lk))
        store.set_meta("race", {"design": {"start": design.start, "max": design.max, "step": design.step,
                                           "alpha": design.alpha, "spending": design.spending,
                                           "budget_runs": design.budget_runs,
                                           **({design.budget_unit: design.budget_hours}
                                              if design.budget_hours is not None else {})},
                                "looks": history, "runs": used})
        say(f"race look {i + 1} ({n} seeds): {lk.decision}" + (f": {lk.reason}" if lk.reason else
            f"; {', '.join(lk.next_round)} get more seeds" + (f", {', '.join(lk.told_apart)} told apart"
                                                             if lk.told_apart else "")))
        if lk.decision != "continue":
            break
        active = lk.next_round
    return rows
