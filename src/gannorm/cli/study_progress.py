"""What a user sees while a study runs: a line when a cell starts, and one progress bar per
running cell (iterations, rate, ETA) under the cells bar. Bars only on a terminal; the
"running ..." and "failed" lines always.

It watches the run directories (metrics.jsonl grows as a cell trains), so it follows the
local pool and Ray workers alike when the run directories are visible from here. Cells the
study makes as it goes (a tune-confirm study's confirmation runs) are found by their config
file in the study's ``configs/`` directory, which the runner writes before a cell runs.
"""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional

import yaml


def last_iteration(metrics: Path) -> int:
    """The iteration of the last complete line of a metrics.jsonl (0 when none)."""
    try:
        with open(metrics, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - 4096))
            lines = f.read().splitlines()
    except OSError:
        return 0
    for line in reversed(lines):
        try:
            return int(json.loads(line)["iteration"])
        except (ValueError, KeyError, TypeError):
            continue  # a line being written, or a partial first line of the window
    return 0


def _iterations(config: Path) -> Optional[int]:
    try:
        return int(yaml.safe_load(config.read_text())["train"]["iterations"])
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError):
        return None


class StudyProgress:
    def __init__(self, cells: List, runs: Path, total_cells: int, done_cells: int, every: float = 1.0,
                 configs: Optional[Path] = None):
        from tqdm import tqdm

        self.tqdm, self.runs, self.every = tqdm, runs, every
        self.cells = {c.id: c.config.train.iterations for c in cells}
        self.configs = configs
        self.found: Dict[str, Optional[int]] = {}  # cells found by their config file: their iterations
        self.t0 = time.time()
        self.bar = tqdm(total=total_cells, initial=done_cells, desc="cells", unit="run", disable=None,
                        dynamic_ncols=True)
        self.running: Dict[str, object] = {}
        self.finished = set()
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=5)
        for b in self.running.values():
            b.close()
        self.bar.close()

    def _started(self, run_dir: Path) -> bool:
        for f in (run_dir / "worker.json", run_dir / "metrics.jsonl"):
            try:
                if f.stat().st_mtime >= self.t0 - 1:
                    return True
            except OSError:
                pass
        return False

    def _watch(self):
        while not self.stop.wait(self.every):
            with self.lock:
                for cid, iterations in self._cells().items():
                    if cid in self.finished:
                        continue
                    run_dir = self.runs / cid
                    if cid not in self.running and self._started(run_dir):
                        self.write(f"running {cid}")
                        if cid not in self.cells:  # made by the study as it went: one more cell
                            self.cells[cid] = iterations
                            self.bar.total += 1
                            self.bar.refresh()
                        self.running[cid] = self.tqdm(total=iterations, desc=cid[:40], unit="it",
                                                      leave=False, disable=None, dynamic_ncols=True)
                    bar = self.running.get(cid)
                    if bar is not None:
                        it = last_iteration(run_dir / "metrics.jsonl")
                        if it > bar.n:
                            bar.update(it - bar.n)

    def _cells(self) -> Dict[str, Optional[int]]:
        """The study's cells, and those whose config appeared in ``configs/`` since (their
        iterations read from the file; None when it cannot be read yet)."""
        if self.configs is not None:  # each new file is read once (again only while unreadable)
            for f in self.configs.glob("*.yaml"):
                if f.stem not in self.cells and self.found.get(f.stem) is None:
                    self.found[f.stem] = _iterations(f)
        return {**self.found, **self.cells}

    def write(self, line: str):
        self.tqdm.write(line)

    def done(self, row: Dict):
        with self.lock:
            self.finished.add(row["cell_id"])
            bar = self.running.pop(row["cell_id"], None)
            if bar is not None:
                bar.close()
            self.bar.update(1)
            if row["status"] != "done":
                self.write(f"cell {row['cell_id']} {row['status']}: {row['error']}")
