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
from ..errors import GannormError
from ..utils.lock import lock_dir
from . import backends
from .cells import CellProcesses
from .grid import Cell, Study
from .ingest import ingest, study_paths
from .provenance import record_study
from .store import Store


def final_keys(study: Study, cell: Cell) -> List[str]:
    """The stored results a finished cell must have for this study's final test."""
    return study.final_test.recon_keys(cell.config) + study.final_test.quality_keys()


def needs_work(store: Store, study: Study, cell: Cell, retry_failed: bool) -> bool:
    """Whether a cell must (still) run; a cell stopped by successive halving stays stopped."""
    return store.status(cell.id) != "stopped" and store.needs_work(cell.id, final_keys(study, cell), retry_failed)


def run_study(study: Study, out_dir: str | Path, jobs: int = 1, retry_failed: bool = False,
              on_done: Optional[Callable[[Dict], None]] = None, threads: Optional[int] = None,
              backend: str = "local", options: Optional[backends.BackendOptions] = None) -> List[Dict]:
    options = options or backends.BackendOptions(resources=study.resources, halving=study.strategy == "halving")
    if backend not in ("local", *backends.BACKENDS):
        raise GannormError(f"unknown study backend {backend!r}; valid: local, {', '.join(backends.BACKENDS)}")
    if options.halving and backend == "local":
        raise GannormError("successive halving runs on Ray Tune: add --backend ray (pip install 'gannorm[ray]')")
    out_dir = Path(out_dir)
    p = study_paths(out_dir)
    for d in ("runs", "configs", "logs"):
        p[d].mkdir(parents=True, exist_ok=True)
    lock = lock_dir(out_dir, "study")  # one driver per study directory
    store = Store(p["db"])
    record_study(store, study)
    todo = []
    for cell in study.cells:
        if not needs_work(store, study, cell, retry_failed):
            continue
        cfg_path = p["configs"] / f"{cell.id}.yaml"
        config_mod.save(cell.config, cfg_path)
        todo.append(cell)
    if backend != "local":
        rows = backends.BACKENDS[backend](study, todo, p, store, options, on_done)
        store.close()
        return rows
    # Split the cores among the cells: oversubscribed OpenMP threads spin and slow everyone.
    threads = threads or max(1, (os.cpu_count() or 1) // max(jobs, 1))
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}

    def work(cell: Cell):
        run_dir = p["runs"] / cell.id
        cmd = [sys.executable, "-m", "gannorm.study.cell", str(p["configs"] / f"{cell.id}.yaml"), str(run_dir),
               "--diversity-samples", str(study.diversity_samples), *study.final_test.cli_args()]
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
            row = ingest(store, cell.id, cell.labels, run_dir, status, err)  # only this thread writes the store
            rows.append(row)
            if on_done:
                on_done(row)
    store.close()
    lock.release()
    return rows
