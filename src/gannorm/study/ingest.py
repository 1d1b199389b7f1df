"""A cell's run directory -> the study store: its result.json (any version), metrics.jsonl
and the status the runner saw."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, Optional

from ..training.logging import read_metrics
from .final_test import legacy_final
from .store import Store

RESULT_VERSION = 2
ROW_KEYS = ("iterations", "best_running", "best_iteration", "diversity", "d_wins", "worse_count", "train_seconds",
            "it_per_s", "cell_seconds")


def read_result(run_dir) -> Dict:
    """RUN/result.json in the current layout (an earlier gannorm's is upgraded), or {}."""
    p = Path(run_dir) / "result.json"
    if not p.exists():
        return {}
    res = json.loads(p.read_text())
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


def ingest(store: Store, cell_id: str, labels: Dict[str, str], run_dir: Path, status: str,
           error: Optional[str]) -> Dict:
    """Store one cell. ``status`` is what the runner saw (``done`` or ``failed``); a cell
    that recorded ``diverged`` (a non-finite loss) is stored as diverged."""
    run_dir = Path(run_dir)
    res = read_result(run_dir)
    if status != "done" and res.get("status") == "diverged":
        status = "diverged"
    metrics = read_metrics(run_dir / "metrics.jsonl") if (run_dir / "metrics.jsonl").exists() else []
    row = {"cell_id": cell_id, "labels": labels, "status": status, "error": error, "run_dir": str(run_dir),
           **{k: res.get(k) for k in ROW_KEYS}}
    if status != "done" and metrics:
        row["iterations"] = metrics[-1]["iteration"]
    store.put_run(row, metrics, res.get("finals") or {})
    return row
