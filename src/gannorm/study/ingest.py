"""A finished (or failed) cell into the study store: its result.json (any version), its
metric rows and its outcome (``gannorm.outcomes``: what the cell wrote in ``outcome.json``, or
what the runner saw: a signal, a crash).

The backends hand over what a cell produced as plain data (the local pool reads it from
the run directory; a Ray task returns it), so the store never needs the worker's disk.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from .. import outcomes
from ..errors import GannormError
from ..training.logging import read_metrics
from ..store.final_test import legacy_final
from ..store import Store

RESULT_VERSION = 2
ROW_KEYS = ("iterations", "best_running", "best_iteration", "diversity", "d_wins", "worse_count", "train_seconds",
            "it_per_s", "cell_seconds")


def study_paths(out_dir: Path) -> Dict[str, Path]:
    return {"db": out_dir / "study.db", "runs": out_dir / "runs", "configs": out_dir / "configs",
            "logs": out_dir / "logs"}


def read_result(run_dir) -> Dict:
    """RUN/result.json in the current layout (an earlier gannorm's is upgraded), or {}."""
    p = Path(run_dir) / "result.json"
    if not p.exists():
        return {}
    res = json.loads(p.read_text())
    if not isinstance(res, dict):
        raise ValueError("result.json does not hold a JSON object")
    return res if res.get("version") == RESULT_VERSION else upgrade_result(res, run_dir)


def upgrade_result(res: Dict, run_dir) -> Dict:
    """An earlier gannorm's result.json (one final result, its whole per-step curve) in the
    current layout. The D-wins flag of that version judged every loss as BCE: dropped, so the
    next cell run recomputes it with the loss's own criterion."""
    out = {k: res.get(k) for k in ("status", "iterations", "best_running", "best_iteration", "diversity",
                                   "worse_count")}
    out.update(version=RESULT_VERSION, cell_seconds=res.get("seconds"), finals={})
    if res.get("final_recon") is not None:
        key, entry = legacy_final(res["final_recon"], res.get("final_steps"), res.get("final_images"),
                                  res.get("final_curve") or [], (Path(run_dir) / "checkpoints" / "best.pt").exists())
        out["finals"][key] = entry
    return out


def read_cell_files(run_dir: Path) -> Tuple[Dict, List[Dict], Optional[str]]:
    """(result, metrics, damage) of a cell's run directory; damaged files are returned as the
    one-line reason (the cell is then ``failed``) instead of stopping the study."""
    run_dir = Path(run_dir)
    res: Dict = {}
    metrics: List[Dict] = []
    try:
        res = read_result(run_dir)
        if (run_dir / "metrics.jsonl").exists():
            metrics = read_metrics(run_dir / "metrics.jsonl")
    except (GannormError, OSError, ValueError) as e:
        return {}, metrics, f"damaged cell files in {run_dir}: {str(e).splitlines()[0]}"
    return res, metrics, None


def read_run(run_dir: Path) -> tuple:
    """(result, metrics) as a cell left them in its run directory (damaged files read as none)."""
    res, metrics, _ = read_cell_files(run_dir)
    return res, metrics


def derive_outcome(run_dir: Path, result: Dict) -> Optional[outcomes.Outcome]:
    """A run's outcome: its ``outcome.json``, or for a run of an earlier gannorm (none
    written) what its result.json says (``done``, ``diverged``); None when neither tells."""
    try:
        o = outcomes.read(run_dir)
    except GannormError as e:
        return outcomes.Outcome(outcomes.FAILED, str(e))
    if o is not None:
        return o
    if result.get("status") == outcomes.DIVERGED:
        return outcomes.Outcome(outcomes.DIVERGED, (result.get("error") or "a non-finite loss").splitlines()[0],
                                iteration=result.get("iterations"))
    if result.get("status") == outcomes.DONE:
        return outcomes.Outcome(outcomes.DONE, iteration=result.get("iterations"))
    return None


def put_result(store: Store, cell_id: str, labels: Dict[str, str], run_dir: str | Path, outcome: outcomes.Outcome,
               result: Dict, metrics: List[Dict]) -> Dict:
    """Store one cell with its outcome (status, reason, and who stopped a stopped one)."""
    status = outcome.status
    row = {"cell_id": cell_id, "labels": labels, "status": status, "error": outcome.reason or None,
           "stopped_by": outcome.by, "run_dir": str(run_dir), **{k: result.get(k) for k in ROW_KEYS}}
    if status != "done" and metrics:
        row["iterations"] = metrics[-1]["iteration"]
    store.put_run(row, metrics, result.get("finals") or {})
    return row


def put_cell(store: Store, cell, run_dir: str | Path, outcome: outcomes.Outcome, result: Dict,
             metrics: List[Dict]) -> Dict:
    """``put_result`` for a study ``Cell``."""
    return put_result(store, cell.id, cell.labels, run_dir, outcome, result, metrics)


def collect(run_dir: Path, seen: Optional[outcomes.Outcome] = None
            ) -> Tuple[Optional[outcomes.Outcome], Dict, List[Dict]]:
    """(outcome, result, metrics) of a cell whose process ended. ``seen``: what the runner saw
    at its end (a signal: it wins over any file; a crash that wrote no outcome). The outcome is
    None for a cell paused at a halving rung; damaged files make it ``failed`` with the reason."""
    result, metrics, damage = read_cell_files(Path(run_dir))
    if damage:
        return outcomes.Outcome(outcomes.FAILED, damage), result, metrics
    if seen is not None and seen.status == outcomes.KILLED:
        return seen, result, metrics
    return derive_outcome(Path(run_dir), result) or seen, result, metrics


def ingest(store: Store, cell_id: str, labels: Dict[str, str], run_dir: Path,
           seen: Optional[outcomes.Outcome] = None) -> Dict:
    """Store one cell from what its run directory holds (see :func:`collect`)."""
    outcome, result, metrics = collect(Path(run_dir), seen)
    outcome = outcome or outcomes.Outcome(outcomes.FAILED, "the cell ended without recording how (no outcome.json)")
    return put_result(store, cell_id, labels, run_dir, outcome, result, metrics)
