"""Run every cell of a study: several at once, skipping finished ones (and saying why),
resuming interrupted ones, recording failures without stopping the others, and stopping
cleanly when told (SIGTERM, Ctrl-C): running cells end, no queued cell starts, finished ones
are stored, and a rerun resumes the rest.

A cell is identified by its full resolved config: a run directory trained with other
settings than the study now gives its cell (``changed_cells``) is refused with the keys that
differ, or with ``allow_changes`` set aside and trained anew, so a changed study file never
answers with runs of the old one.
"""
from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import yaml

from .. import config as config_mod
from .. import outcomes
from ..errors import GannormError
from ..training.resume import MAY_CHANGE_ON_RESUME, flatten
from ..utils.lock import lock_dir
from . import backends, halving, race_runner, tune_confirm
from .cells import CellProcesses, StudyInterrupted, signal_name
from .grid import Cell, Study
from .ingest import collect, put_cell, study_paths
from .provenance import record_study
from ..store import Store


def final_keys(study: Study, cell: Cell) -> List[str]:
    """The stored results a finished cell must have for this study's final test."""
    spec = study.final_test_for(cell)
    return spec.recon_keys(cell.config) + spec.quality_keys()


def needs_work(store: Store, study: Study, cell: Cell, retry_failed: bool) -> bool:
    """Whether a cell must (still) run: as ``Store.needs_work`` says, or finished short of a
    ``train.iterations`` since raised (it resumes). A cell stopped by selection stays stopped."""
    if store.needs_work(cell.id, final_keys(study, cell), retry_failed):
        return True
    row = store.db.execute("SELECT status, iterations FROM runs WHERE cell_id = ?", (cell.id,)).fetchone()
    return bool(row and row[0] == "done" and (row[1] or 0) < cell.config.train.iterations)


def skipped(store: Store, study: Study, retry_failed: bool) -> List[str]:
    """One line per kind of cell a rerun skips although it did not finish: how many, why
    (the first reason), and the command that retries them."""
    by: Dict[Tuple[str, Optional[str]], List[Dict]] = {}
    for c in study.cells:
        o = store.outcome(c.id)
        if o and o["status"] != "done" and not needs_work(store, study, c, retry_failed):
            by.setdefault((o["status"], o["stopped_by"]), []).append({"id": c.id, **o})
    lines = []
    for (status, who), cs in sorted(by.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        what = f"{status} by {who}" if who else status
        first = f"{cs[0]['id']}: {cs[0]['error']}" if cs[0].get("error") else cs[0]["id"]
        how = "successive halving decided them; a new study directory (--out) runs them again" \
            if who == outcomes.BY_SELECTION else "rerun with --retry-failed to run them again"
        lines.append(f"skipping {len(cs)} {what} cell(s) (e.g. {first}); {how}")
    killed = [(c.id, o) for c in study.cells if (o := store.outcome(c.id)) and o["status"] == "killed"]
    if killed:
        lines.append(f"resuming {len(killed)} killed cell(s) from their last checkpoint "
                     f"(e.g. {killed[0][0]}: {killed[0][1]['error']})")
    return lines


def _default_flat() -> Dict:
    return flatten(config_mod.Config().to_dict())


def config_differences(saved: Dict, now: Dict, defaults: Optional[Dict] = None) -> List[str]:
    """The keys (outside ``MAY_CHANGE_ON_RESUME``) whose value in ``now`` differs from the
    run's saved config, as ``key: old -> new``. A key the saved config lacks (written by an
    earlier gannorm) counts as equal when its current value is the current default."""
    defaults = _default_flat() if defaults is None else defaults
    a, b = flatten(saved), flatten(now)
    out = []
    for k in sorted(set(a) | set(b)):
        if k in MAY_CHANGE_ON_RESUME or a.get(k) == b.get(k):
            continue
        if k not in a and k in defaults and b.get(k) == defaults[k]:
            continue
        out.append(f"{k}: {a.get(k)!r} -> {b.get(k)!r}")
    return out


def changed_cells(study: Study, runs: Path) -> Dict[str, List[str]]:
    """cell id -> the settings its run directory was trained with that the study now changes."""
    defaults = _default_flat()
    out = {}
    for c in study.cells:
        saved = runs / c.id / "config.yaml"
        if not saved.is_file():
            continue
        try:
            old = yaml.safe_load(saved.read_text()) or {}
        except (OSError, yaml.YAMLError) as e:
            out[c.id] = [f"its config.yaml cannot be read ({str(e).splitlines()[0]})"]
            continue
        diff = config_differences(old, c.config.to_dict(), defaults)
        if diff:
            out[c.id] = diff
    return out


def set_aside(store: Store, runs: Path, cell_ids: List[str]) -> List[Path]:
    """Move each changed cell's run directory to ``<cell>.replaced-<n>`` and forget its row,
    so it trains anew with the study's settings (the old run stays on disk)."""
    moved = []
    for cid in cell_ids:
        n = 1
        while (runs / f"{cid}.replaced-{n}").exists():
            n += 1
        dest = runs / f"{cid}.replaced-{n}"
        (runs / cid).rename(dest)
        moved.append(dest)
        with store.db:
            for table in ("runs", "finals", "ladder", "metrics"):
                store.db.execute(f"DELETE FROM {table} WHERE cell_id = ?", (cid,))
    return moved


def check_identity(study: Study, store: Store, runs: Path, allow_changes: bool, say) -> None:
    changed = changed_cells(study, runs)
    if not changed:
        return
    first, diff = next(iter(changed.items()))
    if not allow_changes:
        raise GannormError(
            f"{len(changed)} cell(s) of this study were trained with other settings than the study file gives them "
            f"(e.g. {first}: {'; '.join(diff[:4])}{'; ...' if len(diff) > 4 else ''}): restore the study file, "
            f"use a new --out, or pass --allow-changes to train the changed cells anew (the old runs are kept aside)")
    moved = set_aside(store, runs, list(changed))
    say(f"{len(changed)} changed cell(s) train anew (e.g. {first}: {'; '.join(diff[:4])}); "
        f"old runs kept as {moved[0].name} ...")


def cell_outcome(run_dir: Path, returncode: int, log: Optional[Path]) -> Optional[outcomes.Outcome]:
    """What the runner saw when a cell's process ended: killed by a signal (negative exit
    status), or a crash that wrote no outcome (its log's last line is the reason). None when
    the cell wrote its own outcome or paused at a rung (exit 0)."""
    if returncode < 0:
        return outcomes.Outcome(outcomes.KILLED, outcomes.killed_reason(-returncode), signal=-returncode)
    if returncode == 0:
        return None
    try:
        if outcomes.read(run_dir) is not None:
            return None
    except GannormError:
        return None  # ingest records the damaged file
    lines = [l for l in log.read_text(errors="replace").splitlines() if l.strip()] if log and log.exists() else []
    return outcomes.Outcome(outcomes.FAILED, f"{lines[-1] if lines else f'exit code {returncode}'} (log: {log})")


class LocalPool:
    """Cells as subprocesses on this machine, ``jobs`` at once; stops on SIGTERM/SIGINT/SIGHUP."""

    def __init__(self, study: Study, paths: Dict[str, Path], jobs: int, threads: Optional[int]):
        self.study, self.p, self.jobs = study, paths, max(1, jobs)
        # Split the cores among the cells: oversubscribed OpenMP threads spin and slow everyone.
        threads = threads or max(1, (os.cpu_count() or 1) // self.jobs)
        self.env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def _work(self, procs: CellProcesses, cell: Cell, until: Optional[int]):
        run_dir = self.p["runs"] / cell.id

        def before():
            run_dir.mkdir(parents=True, exist_ok=True)
            (run_dir / outcomes.FILENAME).unlink(missing_ok=True)  # what is there after the run is this attempt's

        # the package imports its cell module (halving uses it), which runpy would warn about in every log
        cmd = [sys.executable, "-W", "ignore::RuntimeWarning:runpy", "-m", "gannorm.study.cell", str(self.p["configs"] / f"{cell.id}.yaml"), str(run_dir),
               "--diversity-samples", str(self.study.diversity_samples), *self.study.final_test_for(cell).cli_args(),
               *(["--until", str(until)] if until is not None else [])]
        log = self.p["logs"] / f"{cell.id}.log"
        if procs.stopping:
            return cell, run_dir, None, log
        with open(log, "a" if until is not None else "w") as f:
            rc = procs.run(cmd, before, stdout=f, stderr=subprocess.STDOUT, env=self.env)
        return cell, run_dir, rc, log

    def run(self, batch: List[Tuple[Cell, Optional[int]]], on_result: Callable) -> None:
        """Run each ``(cell, until)``; ``on_result(cell, run_dir, outcome, result, metrics)``
        for each that ran to its end (outcome None: paused at ``until``), in the calling thread.
        A stop raises :class:`StudyInterrupted` once the finished ones are in."""
        stopped = 0
        with ThreadPoolExecutor(max_workers=self.jobs) as pool, CellProcesses() as procs:
            futs = [pool.submit(self._work, procs, c, u) for c, u in batch]
            for fut in as_completed(futs):
                cell, run_dir, rc, log = fut.result()
                if rc is None or (procs.stopping and rc < 0):
                    stopped += 1  # not started, or killed by this stop: a rerun resumes it
                    continue
                on_result(cell, run_dir, *collect(run_dir, cell_outcome(run_dir, rc, log)))
            if procs.stopped_by is not None:
                raise StudyInterrupted(
                    f"study stopped by {signal_name(procs.stopped_by)}: {len(batch) - stopped} cell(s) finished and "
                    f"stored, {stopped} stopped or not started; run the same command again to resume",
                    procs.stopped_by)


def _run_cells(study: Study, todo: List[Cell], backend: str, p: Dict[str, Path], store: Store,
               options: backends.BackendOptions, jobs: int, threads: Optional[int], on_done) -> List[Dict]:
    """Every cell of ``todo`` on the chosen backend, each stored as it ends."""
    if backend != "local":
        return backends.BACKENDS[backend](study, todo, p, store, options, on_done)
    rows = []

    def on_result(cell, run_dir, outcome, result, metrics):
        outcome = outcome or outcomes.Outcome(outcomes.FAILED, "the cell ended without recording how")
        row = put_cell(store, cell, run_dir, outcome, result, metrics)  # only this thread writes the store
        rows.append(row)
        if on_done:
            on_done(row)

    LocalPool(study, p, jobs, threads).run([(c, None) for c in todo], on_result)
    return rows


def _confirm(study: Study, store: Store, runs: Path, p: Dict[str, Path], backend: str,
             options: backends.BackendOptions, jobs: int, threads: Optional[int], on_done, retry_failed: bool,
             allow_changes: bool, say) -> List[Dict]:
    """The confirmation phase of a tune-confirm study: each method's best draw with fresh
    seeds at full length (``gannorm.study.tune_confirm``)."""
    cells, lines = tune_confirm.confirm_cells(study, store, study.confirm)
    for line in lines:
        say(line)
    store.set_meta("confirm", {"settings": study.confirm, "lines": lines})
    phase = dataclasses.replace(study, cells=cells)
    check_identity(phase, store, runs, allow_changes, say)
    todo = []
    for cell in cells:
        config_mod.save(cell.config, p["configs"] / f"{cell.id}.yaml")
        if needs_work(store, phase, cell, retry_failed):
            todo.append(cell)
    if study.race is not None:  # the confirmation is a seeds race: seeds only where still undecided
        pool = LocalPool(phase, p, jobs, threads) if backend == "local" else \
            backends.BACKENDS[backend].pool(phase, p, options)
        with pool:
            return race_runner.run_race(phase, store, pool, todo, on_done, say)
    return _run_cells(phase, todo, backend, p, store, options, jobs, threads, on_done)


def run_study(study: Study, out_dir: str | Path, jobs: int = 1, retry_failed: bool = False,
              on_done: Optional[Callable[[Dict], None]] = None, threads: Optional[int] = None,
              backend: str = "local", options: Optional[backends.BackendOptions] = None,
              allow_changes: bool = False, say: Callable[[str], None] = lambda s: print(s, file=sys.stderr)
              ) -> List[Dict]:
    options = options or backends.BackendOptions(resources=study.resources, halving=study.strategy == "halving")
    if backend not in ("local", *backends.BACKENDS):
        raise GannormError(f"unknown study backend {backend!r}; valid: local, {', '.join(backends.BACKENDS)}")
    plan = halving.make_plan(study, study.cells) if options.halving else None  # every setting checked first
    if plan and plan.scheduler == "asha" and backend == "local":
        raise GannormError("halving.scheduler: asha runs on Ray Tune: add --backend ray (pip install 'gannorm[ray]'), "
                           "or use the default synchronous scheduler")
    out_dir = Path(out_dir)
    p = study_paths(out_dir)
    for d in ("runs", "configs", "logs"):
        p[d].mkdir(parents=True, exist_ok=True)
    lock = lock_dir(out_dir, "study")  # one driver per study directory
    store = Store(p["db"])
    try:
        runs = backends.runs_dir(options, p)
        check_identity(study, store, runs, allow_changes, say)
        record_study(store, study)
        for line in skipped(store, study, retry_failed):
            say(line)
        todo = []
        for cell in study.cells:
            config_mod.save(cell.config, p["configs"] / f"{cell.id}.yaml")
            if needs_work(store, study, cell, retry_failed):
                todo.append(cell)
        if study.race is not None and study.strategy != "tune-confirm":
            pool = LocalPool(study, p, jobs, threads) if backend == "local" else \
                backends.BACKENDS[backend].pool(study, p, options)
            with pool:
                return race_runner.run_race(study, store, pool, todo, on_done, say)
        if plan is not None and plan.scheduler == "sync":
            pool = LocalPool(study, p, jobs, threads) if backend == "local" else \
                backends.BACKENDS[backend].pool(study, p, options)
            with pool:
                return halving.run_sync(study, plan, store, p, pool, todo, on_done, retry_failed)
        rows = _run_cells(study, todo, backend, p, store, options, jobs, threads, on_done)
        if study.strategy == "tune-confirm":
            rows += _confirm(study, store, runs, p, backend, options, jobs, threads, on_done, retry_failed,
                             allow_changes, say)
        return rows
    finally:
        store.close()
        lock.release()




