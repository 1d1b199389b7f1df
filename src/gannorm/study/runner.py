"""Run every cell of a study: several at once, skipping finished ones, resuming
interrupted ones, and recording failures without stopping the others."""
from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Callable, Dict, List, Optional

from .. import config as config_mod
from ..utils.lock import lock_dir
from .cells import CellProcesses, read_cell_files
from .grid import Cell, Study
from .store import Store


def study_paths(out_dir: Path):
    return {"db": out_dir / "study.db", "runs": out_dir / "runs", "configs": out_dir / "configs",
            "logs": out_dir / "logs"}


def _ingest(store: Store, cell: Cell, run_dir: Path, status: str, error: Optional[str]) -> Dict:
    res, metrics, status, error = read_cell_files(run_dir, status, error)
    row = {"cell_id": cell.id, "labels": cell.labels, "status": status, "error": error,
           "run_dir": str(run_dir), **{k: res.get(k) for k in (
               "iterations", "final_recon", "final_steps", "final_images", "best_running",
               "best_iteration", "diversity", "d_wins", "worse_count", "seconds")}}
    if status != "done" and metrics:
        row["iterations"] = metrics[-1]["iteration"]
    if isinstance(row.get("d_wins"), bool):
        row["d_wins"] = int(row["d_wins"])
    store.put_run(row, metrics)
    return row


def run_study(study: Study, out_dir: str | Path, jobs: int = 1, retry_failed: bool = False,
              on_done: Optional[Callable[[Dict], None]] = None, threads: Optional[int] = None) -> List[Dict]:
    out_dir = Path(out_dir)
    p = study_paths(out_dir)
    for d in ("runs", "configs", "logs"):
        p[d].mkdir(parents=True, exist_ok=True)
    lock = lock_dir(out_dir, "study")  # one driver per study directory
    store = Store(p["db"])
    todo = []
    for cell in study.cells:
        st = store.status(cell.id)
        if st == "done" or (st == "failed" and not retry_failed):
            continue
        cfg_path = p["configs"] / f"{cell.id}.yaml"
        config_mod.save(cell.config, cfg_path)
        todo.append(cell)
    # Split the cores among the cells: oversubscribed OpenMP threads spin and slow everyone.
    threads = threads or max(1, (os.cpu_count() or 1) // max(jobs, 1))
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}

    def work(cell: Cell):
        run_dir = p["runs"] / cell.id
        cmd = [sys.executable, "-m", "gannorm.study.cell", str(p["configs"] / f"{cell.id}.yaml"), str(run_dir),
               "--diversity-samples", str(study.diversity_samples)]
        if study.final_steps:
            cmd += ["--final-steps", str(study.final_steps)]
        if study.final_images:
            cmd += ["--final-images", str(study.final_images)]
        log = p["logs"] / f"{cell.id}.log"
        with open(log, "w") as f:
            returncode = cells.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env)
        if returncode == 0:
            return cell, run_dir, "done", None
        lines = [l for l in log.read_text().splitlines() if l.strip()]
        err = next((l for l in reversed(lines) if l.startswith("gannorm: error:")), None)
        err = err or (lines[-1] if lines else f"exit code {returncode}")
        return cell, run_dir, "failed", f"{err} (log: {log})"

    rows = []
    # cells are killed before the pool waits for them, whatever ends the driver
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool, CellProcesses() as cells:
        futs = [pool.submit(work, c) for c in todo]
        for fut in as_completed(futs):
            cell, run_dir, status, err = fut.result()
            row = _ingest(store, cell, run_dir, status, err)  # only this thread writes the store
            rows.append(row)
            if on_done:
                on_done(row)
    store.close()
    lock.release()
    return rows
