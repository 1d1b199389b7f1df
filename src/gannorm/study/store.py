"""The study's results store: one SQLite file, one row per run and per logged metric.

SQLite commits are atomic and durable, so a crash mid-study loses at most the cell that
was running; each cell's raw files stay in its run directory and can be ingested again.
"""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Dict, Iterable, List, Optional

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
  cell_id TEXT PRIMARY KEY, labels TEXT NOT NULL, status TEXT NOT NULL, error TEXT,
  run_dir TEXT, iterations INTEGER, final_recon REAL, final_steps INTEGER, final_images INTEGER,
  best_running REAL, best_iteration INTEGER, diversity REAL, d_wins INTEGER, worse_count INTEGER,
  seconds REAL, updated TEXT DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE IF NOT EXISTS metrics (
  cell_id TEXT NOT NULL, iteration INTEGER NOT NULL, key TEXT NOT NULL, value REAL);
CREATE INDEX IF NOT EXISTS metrics_cell ON metrics(cell_id, key);
"""

RUN_FIELDS = ["cell_id", "labels", "status", "error", "run_dir", "iterations", "final_recon", "final_steps",
              "final_images", "best_running", "best_iteration", "diversity", "d_wins", "worse_count", "seconds"]


class Store:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path)
        self.db.executescript(SCHEMA)

    def put_run(self, row: Dict, metrics: Optional[Iterable[Dict]] = None) -> None:
        row = {k: row.get(k) for k in RUN_FIELDS}
        row["labels"] = json.dumps(row["labels"] or {}, sort_keys=True)
        with self.db:  # one transaction: the run and its metrics land together or not at all
            self.db.execute(f"INSERT OR REPLACE INTO runs ({','.join(RUN_FIELDS)}) VALUES "
                            f"({','.join('?' * len(RUN_FIELDS))})", [row[k] for k in RUN_FIELDS])
            if metrics is not None:
                self.db.execute("DELETE FROM metrics WHERE cell_id = ?", (row["cell_id"],))
                self.db.executemany(
                    "INSERT INTO metrics VALUES (?,?,?,?)",
                    [(row["cell_id"], int(m["iteration"]), k, _num(v)) for m in metrics
                     for k, v in m.items() if k != "iteration"])

    def runs(self, where: Optional[Dict[str, str]] = None) -> List[Dict]:
        cur = self.db.execute(f"SELECT {','.join(RUN_FIELDS)} FROM runs ORDER BY cell_id")
        out = []
        for r in cur.fetchall():
            d = dict(zip(RUN_FIELDS, r))
            d["labels"] = json.loads(d["labels"])
            if where and any(_label(d["labels"], k) != v for k, v in where.items()):
                continue
            out.append(d)
        return out

    def status(self, cell_id: str) -> Optional[str]:
        r = self.db.execute("SELECT status FROM runs WHERE cell_id = ?", (cell_id,)).fetchone()
        return r[0] if r else None

    def series(self, cell_id: str, key: str) -> List[tuple]:
        return self.db.execute("SELECT iteration, value FROM metrics WHERE cell_id = ? AND key = ? "
                               "ORDER BY iteration", (cell_id, key)).fetchall()

    def close(self):
        self.db.close()


def _label(labels: Dict[str, str], key: str):
    if key in labels:
        return labels[key]
    for k, v in labels.items():
        if k.split(".")[-1] == key:
            return v
    return None


def _num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")
