"""A finished (or failed) cell into the study store, from its result and its metric rows.

The backends hand over what a cell produced as plain data (the local pool reads it from
the run directory; a Ray task returns it), so the store never needs the worker's disk.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from ..errors import GannormError

from ..training.logging import read_metrics
from .grid import Cell
from .store import Store

RESULT_KEYS = ("iterations", "final_recon", "final_steps", "final_images", "best_running",
               "best_iteration", "diversity", "d_wins", "worse_count", "seconds")


def study_paths(out_dir: Path) -> Dict[str, Path]:
    return {"db": out_dir / "study.db", "runs": out_dir / "runs", "configs": out_dir / "configs",
            "logs": out_dir / "logs"}


def read_cell_files(run_dir: Path, status: str, error: Optional[str]) -> Tuple[Dict, List[Dict], str, Optional[str]]:
    """(result, metrics, status, error) of a cell's run directory; damaged files make the
    cell ``failed`` with the reason instead of stopping the study."""
    res: Dict = {}
    metrics: List[Dict] = []
    try:
        if (run_dir / "result.json").exists() and status == "done":
            res = json.loads((run_dir / "result.json").read_text())
            if not isinstance(res, dict):
                raise ValueError("result.json does not hold a JSON object")
        if (run_dir / "metrics.jsonl").exists():
            metrics = read_metrics(run_dir / "metrics.jsonl")
    except (GannormError, OSError, ValueError) as e:
        return {}, metrics, "failed", f"damaged cell files in {run_dir}: {str(e).splitlines()[0]}"
    return res, metrics, status, error


def read_run(run_dir: Path, status: str) -> tuple:
    """(result, metrics) as a cell left them in its run directory (damaged files read as none)."""
    res, metrics, _, _ = read_cell_files(run_dir, status, None)
    return res, metrics


def put_cell(store: Store, cell: Cell, run_dir: str | Path, status: str, error: Optional[str],
             result: Dict, metrics: List[Dict]) -> Dict:
    row = {"cell_id": cell.id, "labels": cell.labels, "status": status, "error": error,
           "run_dir": str(run_dir), **{k: result.get(k) for k in RESULT_KEYS}}
    if status != "done" and metrics:
        row["iterations"] = metrics[-1]["iteration"]
    if isinstance(row.get("d_wins"), bool):
        row["d_wins"] = int(row["d_wins"])
    store.put_run(row, metrics)
    return row
