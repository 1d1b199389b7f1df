"""Study cells as Ray tasks: any node of a cluster runs them, several share a GPU.

Each cell is one task with the study's per-cell resources (``resources: {cpu: 1, gpu: 0.25}``
packs four cells on a GPU). The task trains into ``STORAGE/<cell>`` and *returns* the cell's
result, metric rows and log text, so the driver writes ``study.db`` and ``logs/`` itself: a
worker on another machine needs no shared filesystem for the store.

A worker that dies mid-cell (node lost, OOM kill, SIGKILL) is retried by Ray (``max_retries``);
the retry resumes from the cell's last checkpoint when ``STORAGE`` is shared by the nodes (or
it lands on the same node), and starts the cell over otherwise.
"""
from __future__ import annotations

import io
import json
import os
import socket
import traceback
from pathlib import Path
from typing import Callable, Dict, List, Optional

import torch
import yaml

from ..errors import GannormError
from ..training import RunDir
from ..training.checkpoint import load_checkpoint
from ..utils.io import atomic_write_text
from . import cell as cell_mod
from .grid import Cell, Study
from .final_test import FinalTestSpec
from .ingest import put_cell, read_run
from .ray_cluster import check_resources, connected
from .store import Store


def execute_cell(config_text: str, run_dir: str, spec: FinalTestSpec, diversity_samples: int, threads: int) -> Dict:
    """Runs on a Ray worker: one cell, caught so that a user error is a result, not a retry."""
    torch.set_num_threads(max(1, threads))
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    latest = RunDir(run_dir).latest
    try:  # the package's reader: weights only, CRC-checked (a planted pickle never runs)
        resumed_from = int(load_checkpoint(latest)["iteration"]) if latest.exists() else 0
    except GannormError:
        resumed_from = 0  # the cell below meets the same file and reports it as its failure
    # where this attempt runs (host and process), for the log and for whoever must find it
    atomic_write_text(Path(run_dir) / "worker.json", json.dumps({"host": socket.gethostname(), "pid": os.getpid()}))
    log = io.StringIO()
    say = lambda *a, **_: print(*a, file=log)  # noqa: E731
    say(f"worker {socket.gethostname()} pid {os.getpid()}")
    status, error, result = "done", None, {}
    cfg_path = Path(run_dir) / "cell.yaml"
    atomic_write_text(cfg_path, config_text)
    try:
        result = cell_mod.run_logged(str(cfg_path), run_dir, spec, diversity_samples, say)
    except GannormError as e:
        status, error = "failed", f"gannorm: error: {e}"
        say(error)
    except Exception as e:  # a bug in a cell must not stop the study: record it with its traceback
        status, error = "failed", f"{type(e).__name__}: {e}"
        say(traceback.format_exc())
    on_disk, metrics = read_run(Path(run_dir), "failed")  # the metric rows (and a failed cell's own record)
    return {"status": status, "error": error, "result": result or on_disk,
            "metrics": metrics, "log": log.getvalue(), "resumed_from": resumed_from}


def storage_dir(storage: Optional[str], default: Path) -> Path:
    if not storage:
        return default
    if "://" in storage:
        raise GannormError(f"--storage {storage!r}: give a path every node can reach (e.g. a shared mount); "
                           f"URIs are not supported for run directories")
    return Path(storage).expanduser().resolve()


def cell_resources(resources: Dict[str, float]) -> Dict[str, float]:
    unknown = set(resources) - {"cpu", "gpu"}
    if unknown:
        raise GannormError(f"unknown resource(s) {', '.join(sorted(unknown))}; give cpu and/or gpu per cell")
    cpu, gpu = float(resources.get("cpu", 1)), float(resources.get("gpu", 0))
    if cpu <= 0 or gpu < 0:
        raise GannormError(f"resources per cell must be cpu > 0 and gpu >= 0, got cpu={cpu:g}, gpu={gpu:g}")
    return {"cpu": cpu, "gpu": gpu}


def run_cells(study: Study, cells: List[Cell], paths: Dict[str, Path], store: Store, opts,
              on_done: Optional[Callable[[Dict], None]] = None) -> List[Dict]:
    """Run ``cells`` as Ray tasks and ingest each as it returns (the caller skipped finished ones)."""
    res = cell_resources(opts.resources)
    runs = storage_dir(opts.storage, paths["runs"])
    rows = []
    with connected(opts.address) as ray:
        check_resources(ray, res)
        task = ray.remote(execute_cell).options(num_cpus=res["cpu"], num_gpus=res["gpu"],
                                                max_retries=opts.max_retries, retry_exceptions=False)
        pending = {}
        for c in cells:
            ref = task.remote(yaml.safe_dump(c.config.to_dict(), sort_keys=False), str(runs / c.id), study.final_test,
                              study.diversity_samples, max(1, int(res["cpu"])))
            pending[ref] = c
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                c = pending.pop(ready[0])
                try:
                    out = ray.get(ready[0])
                except ray.exceptions.RayError as e:  # retries used up: the worker kept dying
                    out = {"status": "failed", "error": f"Ray task failed after {opts.max_retries} retries: "
                                                        f"{str(e).strip().splitlines()[0]}",
                           "result": {}, "metrics": [], "log": str(e), "resumed_from": 0}
                (paths["logs"] / f"{c.id}.log").write_text(out["log"])
                row = put_cell(store, c, runs / c.id, out["status"], out["error"], out["result"], out["metrics"])
                row["resumed_from"] = out["resumed_from"]
                rows.append(row)
                if on_done:
                    on_done(row)
        finally:
            for ref in pending:  # interrupted: stop the rest; a rerun resumes them
                ray.cancel(ref, force=True)
    return rows
