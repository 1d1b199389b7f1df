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

from .. import outcomes
from ..errors import DivergedError, GannormError
from ..training import RunDir
from ..training.checkpoint import load_checkpoint
from ..utils.io import atomic_write_text
from . import cell as cell_mod
from .backends import storage_dir  # noqa: F401  (re-exported: the CLI asks here)
from .cells import StudyInterrupted, raise_on_stop, signal_name
from .grid import Cell, Study
from ..store.final_test import FinalTestSpec
from .ingest import collect, put_cell
from .ray_cluster import check_resources, connected
from ..store import Store


def execute_cell(config_text: str, run_dir: str, spec: FinalTestSpec, diversity_samples: int, threads: int,
                 until: Optional[int] = None) -> Dict:
    """Runs on a Ray worker: one cell (to ``until`` only: a halving rung), caught so that a
    user error is a result, not a retry. Returns its outcome (None: paused at ``until``),
    result, metric rows and log, so the driver needs no shared disk."""
    torch.set_num_threads(max(1, threads))
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    (Path(run_dir) / outcomes.FILENAME).unlink(missing_ok=True)
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
    cfg_path = Path(run_dir) / "cell.yaml"
    atomic_write_text(cfg_path, config_text)
    try:
        cell_mod.run_logged(str(cfg_path), run_dir, spec, diversity_samples, say, until=until)
    except DivergedError as e:  # its outcome.json is written by the cell
        say(f"diverged: {e}")
    except GannormError as e:
        outcomes.write(run_dir, outcomes.Outcome(outcomes.FAILED, str(e).splitlines()[0]))
        say(f"gannorm: error: {e}")
    except Exception as e:  # a bug in a cell must not stop the study: record it with its traceback
        outcomes.write(run_dir, outcomes.Outcome(outcomes.FAILED, f"{type(e).__name__}: {e}".splitlines()[0]))
        say(traceback.format_exc())
    outcome, result, metrics = collect(Path(run_dir))
    return {"outcome": outcome.__dict__ if outcome else None, "result": result,
            "metrics": metrics, "log": log.getvalue(), "resumed_from": resumed_from}


def _outcome(d: Optional[Dict]) -> Optional[outcomes.Outcome]:
    return outcomes.Outcome(**d) if d else None


def cell_resources(resources: Dict[str, float]) -> Dict[str, float]:
    unknown = set(resources) - {"cpu", "gpu"}
    if unknown:
        raise GannormError(f"unknown resource(s) {', '.join(sorted(unknown))}; give cpu and/or gpu per cell")
    cpu, gpu = float(resources.get("cpu", 1)), float(resources.get("gpu", 0))
    if cpu <= 0 or gpu < 0:
        raise GannormError(f"resources per cell must be cpu > 0 and gpu >= 0, got cpu={cpu:g}, gpu={gpu:g}")
    return {"cpu": cpu, "gpu": gpu}


class RayPool:
    """Cells as Ray tasks for synchronous successive halving: ``run(batch, on_result)`` trains
    each ``(cell, until)`` and calls ``on_result(cell, run_dir, outcome, result, metrics)`` in
    the driver as each returns; a stop (SIGTERM, Ctrl-C) cancels the rest and raises
    :class:`StudyInterrupted`."""

    def __init__(self, study: Study, paths: Dict[str, Path], opts):
        self.study, self.paths, self.opts = study, paths, opts
        self._conn = None

    def __enter__(self):  # one Ray connection for every rung
        self._conn = connected(self.opts.address)
        check_resources(self._conn.__enter__(), cell_resources(self.opts.resources))
        return self

    def __exit__(self, *exc):
        return self._conn.__exit__(*exc)

    def run(self, batch, on_result) -> None:
        if not batch:
            return
        runs = storage_dir(self.opts.storage, self.paths["runs"])

        def done(c, out):
            on_result(c, runs / c.id, _outcome(out["outcome"]), out["result"], out["metrics"])

        _run_tasks(self.study, batch, self.paths, self.opts, done)


def _run_tasks(study: Study, batch, paths: Dict[str, Path], opts, done) -> None:
    """Each ``(cell, until)`` as a Ray task; ``done(cell, out)`` in the driver as each returns."""
    res = cell_resources(opts.resources)
    runs = storage_dir(opts.storage, paths["runs"])
    with connected(opts.address) as ray, raise_on_stop():
        check_resources(ray, res)
        task = ray.remote(execute_cell).options(num_cpus=res["cpu"], num_gpus=res["gpu"],
                                                max_retries=opts.max_retries, retry_exceptions=False)
        pending = {}
        for c, until in batch:
            ref = task.remote(yaml.safe_dump(c.config.to_dict(), sort_keys=False), str(runs / c.id), study.final_test_for(c),
                              study.diversity_samples, max(1, int(res["cpu"])), until)
            pending[ref] = c
        finished = 0
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                c = pending.pop(ready[0])
                try:
                    out = ray.get(ready[0])
                except ray.exceptions.RayError as e:  # retries used up: the worker kept dying
                    out = {"outcome": {"status": outcomes.FAILED,
                                       "reason": f"Ray task failed after {opts.max_retries} retries: "
                                                 f"{str(e).strip().splitlines()[0]}"},
                           "result": {}, "metrics": [], "log": str(e), "resumed_from": 0}
                (paths["logs"] / f"{c.id}.log").write_text(out["log"])
                done(c, out)
                finished += 1
        except StudyInterrupted as e:
            raise StudyInterrupted(f"study stopped by {signal_name(e.signum)}: {finished} cell(s) finished and "
                                   f"stored, {len(pending)} stopped or not started; run the same command again "
                                   f"to resume", e.signum) from None
        finally:
            for ref in pending:  # interrupted: stop the rest; a rerun resumes them
                ray.cancel(ref, force=True)


def run_cells(study: Study, cells: List[Cell], paths: Dict[str, Path], store: Store, opts,
              on_done: Optional[Callable[[Dict], None]] = None) -> List[Dict]:
    """Run ``cells`` as Ray tasks and ingest each as it returns (the caller skipped finished ones)."""
    runs = storage_dir(opts.storage, paths["runs"])
    rows = []

    def done(c, out):
        o = _outcome(out["outcome"]) or outcomes.Outcome(outcomes.FAILED, "the cell ended without recording how")
        row = put_cell(store, c, runs / c.id, o, out["result"], out["metrics"])
        row["resumed_from"] = out["resumed_from"]
        rows.append(row)
        if on_done:
            on_done(row)

    _run_tasks(study, [(c, None) for c in cells], paths, opts, done)
    return rows
