"""The study's results store: one SQLite file.

Tables (schema version 3, ``PRAGMA user_version``):

- ``runs``: one row per cell: its labels, status (``gannorm.outcomes``: ``done``,
  ``diverged``, ``stopped`` with ``stopped_by`` = ``selection`` or ``guard``, ``killed``,
  ``failed``) with its one-line reason in ``error``, training figures and cost.
- ``finals``: one row per cell and final-test setting (``final_test.recon_key`` /
  ``quality_key``): the reconstruction error or a sample-quality figure, the checkpoint
  asked for and the one scored, or the reason a metric could not be computed.
- ``ladder``: the final test's mean error at each z-step budget.
- ``metrics``: every logged training number (iteration, key, value).
- ``meta``: the study's settings and provenance (JSON values).
- ``rungs`` / ``selection``: successive halving's decisions, written by ``study.selection``
  (the report shows a "Selection" section when they hold rows).

SQLite commits are atomic and durable, so a crash mid-study loses at most the cell that was
running; each cell's raw files stay in its run directory and can be ingested again. A store
written by an earlier gannorm (one ``runs`` table with a single final result per cell) is
migrated in place on opening (``_migrate_v1``); a version-2 store gains the ``stopped_by``
column, its ``stopped`` rows (written only by successive halving then) read as stopped by
selection.
"""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Dict, Iterable, List, Optional

from ..errors import GannormError
from .final_test import legacy_final
from .stability import train_seconds

VERSION = 3

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
  cell_id TEXT PRIMARY KEY, labels TEXT NOT NULL, status TEXT NOT NULL, error TEXT, run_dir TEXT,
  iterations INTEGER, best_running REAL, best_iteration INTEGER, diversity REAL, d_wins INTEGER,
  worse_count INTEGER, train_seconds REAL, it_per_s REAL, cell_seconds REAL,
  updated TEXT DEFAULT CURRENT_TIMESTAMP, stopped_by TEXT);
CREATE TABLE IF NOT EXISTS finals (
  cell_id TEXT NOT NULL, key TEXT NOT NULL, kind TEXT NOT NULL, metric TEXT NOT NULL, checkpoint TEXT,
  checkpoint_used TEXT, checkpoint_iteration INTEGER, steps INTEGER, images INTEGER, extractor TEXT,
  n_gen INTEGER, value REAL, seconds REAL, note TEXT, error TEXT, record TEXT, PRIMARY KEY (cell_id, key));
CREATE TABLE IF NOT EXISTS ladder (
  cell_id TEXT NOT NULL, key TEXT NOT NULL, budget INTEGER NOT NULL, value REAL,
  PRIMARY KEY (cell_id, key, budget));
CREATE TABLE IF NOT EXISTS metrics (
  cell_id TEXT NOT NULL, iteration INTEGER NOT NULL, key TEXT NOT NULL, value REAL);
CREATE INDEX IF NOT EXISTS metrics_cell ON metrics(cell_id, key);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
"""

RUN_FIELDS = ["cell_id", "labels", "status", "error", "run_dir", "iterations", "best_running", "best_iteration",
              "diversity", "d_wins", "worse_count", "train_seconds", "it_per_s", "cell_seconds", "stopped_by"]
FINAL_FIELDS = ["cell_id", "key", "kind", "metric", "checkpoint", "checkpoint_used", "checkpoint_iteration", "steps",
                "images", "extractor", "n_gen", "value", "seconds", "note", "error", "record"]
SETTLED = ("done", "failed", "diverged", "stopped", "killed")


#: how long a write waits for another process's transaction before giving up (seconds)
LOCK_TIMEOUT_S = 10.0


def _store_error(path: Path, e: sqlite3.Error) -> GannormError:
    """One line naming the store and the fix, for each way SQLite can fail on a user's file.
    SQLite rolls a failed transaction back, so the store is as it was before the write."""
    msg = str(e)
    low = msg.lower()
    if "locked" in low or "busy" in low:
        why = (f"is locked by another process (waited {LOCK_TIMEOUT_S:g} s); wait for the other gannorm "
               f"command on this study to finish, or stop it")
    elif "not a database" in low or "file is encrypted" in low:
        why = "is not a gannorm study store (not an SQLite database); move it away and run the study again"
    elif "malformed" in low or "corrupt" in low:
        why = (f"is damaged ({msg}); move it away and run the study again: the cells' run directories "
               f"are kept and are read back in without training again")
    elif "readonly" in low or "read-only" in low:
        why = "is read-only; make it (and its folder) writable, or copy the study somewhere writable"
    elif "disk is full" in low or "disk i/o" in low or "file too large" in low:
        why = (f"could not be written ({msg}): the disk is full or the file may not grow; free some space "
               f"and run again (the store is unchanged: the write was rolled back)")
    elif "unable to open" in low:
        why = f"cannot be opened ({msg}); check that its folder exists and is readable"
    else:
        why = f"failed: {msg}"
    return GannormError(f"study store {path} {why}")


class _Connection(sqlite3.Connection):
    """A connection whose every SQLite failure is one ``GannormError`` line naming the file."""
    store_path: Path = Path("study.db")

    def _guard(self, f, *a):
        try:
            return f(*a)
        except sqlite3.Error as e:
            raise _store_error(self.store_path, e) from None

    def execute(self, *a):
        return self._guard(super().execute, *a)

    def executemany(self, *a):
        return self._guard(super().executemany, *a)

    def executescript(self, *a):
        return self._guard(super().executescript, *a)

    def commit(self):
        return self._guard(super().commit)

    def __exit__(self, *exc):
        return self._guard(super().__exit__, *exc)


def _connect(path: Path, readonly: bool) -> _Connection:
    try:
        if readonly:  # a reader never writes, so a read-only file or folder is fine
            db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=LOCK_TIMEOUT_S,
                                 factory=_Connection)
        else:
            db = sqlite3.connect(path, timeout=LOCK_TIMEOUT_S, factory=_Connection)
    except sqlite3.Error as e:
        raise _store_error(path, e) from None
    db.store_path = path
    return db


class Store:
    def __init__(self, path: str | Path, readonly: bool = False):
        """The store at ``path``, created if missing; ``readonly`` opens it for reading only
        (``gannorm results``, the report), so a read-only file or folder is no obstacle."""
        self.path = Path(path)
        if readonly:
            if not self.path.is_file():
                raise GannormError(f"study store {self.path} does not exist; run 'gannorm study' first")
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = _connect(self.path, readonly)
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        self.db.execute("SELECT count(*) FROM sqlite_master").fetchone()  # reads the schema: damage shows now
        if readonly:
            if version < VERSION:
                raise GannormError(f"study store {self.path} was written by an earlier gannorm; run "
                                   f"'gannorm study' on it once (where it is writable) to update it")
            return
        if version < VERSION and ("final_recon" in self._columns("runs") or self._columns("runs_v1")):
            _migrate_v1(self)
        self.db.executescript(SCHEMA)
        if "stopped_by" not in self._columns("runs"):  # version 2: stopped rows were halving's
            with self.db:
                self.db.execute("ALTER TABLE runs ADD COLUMN stopped_by TEXT")
                self.db.execute("UPDATE runs SET stopped_by = 'selection' WHERE status = 'stopped'")
        self.db.execute(f"PRAGMA user_version = {VERSION}")

    def _columns(self, table: str) -> List[str]:
        return [r[1] for r in self.db.execute(f"PRAGMA table_info({table})")]

    # ------------------------------------------------------------------ writing
    def put_run(self, row: Dict, metrics: Optional[Iterable[Dict]] = None, finals: Optional[Dict[str, Dict]] = None):
        """One cell: its run row and, when given, all its final tests and its logged metrics
        (each replacing what the store held for the cell); all in one transaction."""
        row = {k: row.get(k) for k in RUN_FIELDS}
        row["labels"] = json.dumps(row["labels"] or {}, sort_keys=True)
        if isinstance(row["d_wins"], bool):
            row["d_wins"] = int(row["d_wins"])
        with self.db:  # the run, its finals and its metrics land together or not at all
            self.db.execute(f"INSERT OR REPLACE INTO runs ({','.join(RUN_FIELDS)}) VALUES "
                            f"({','.join('?' * len(RUN_FIELDS))})", [row[k] for k in RUN_FIELDS])
            if finals is not None:  # the run's results as a whole: none left from an earlier model
                self.db.execute("DELETE FROM finals WHERE cell_id = ?", (row["cell_id"],))
                self.db.execute("DELETE FROM ladder WHERE cell_id = ?", (row["cell_id"],))
            for key, f in (finals or {}).items():
                self._put_final(row["cell_id"], key, f)
            if metrics is not None:
                self.db.execute("DELETE FROM metrics WHERE cell_id = ?", (row["cell_id"],))
                self.db.executemany(
                    "INSERT INTO metrics VALUES (?,?,?,?)",
                    [(row["cell_id"], int(m["iteration"]), k, _num(v)) for m in metrics
                     for k, v in m.items() if k != "iteration"])

    def _put_final(self, cell_id: str, key: str, f: Dict) -> None:
        recon = f.get("kind") == "recon"
        rec = {"cell_id": cell_id, "key": key, "kind": f.get("kind"), "metric": "recon" if recon else f.get("metric"),
               "checkpoint": f.get("checkpoint"), "checkpoint_used": f.get("checkpoint_used"),
               "checkpoint_iteration": f.get("checkpoint_iteration") or (f.get("record") or {}).get("iteration"),
               "steps": f.get("steps"), "images": f.get("n_images") if recon else f.get("n_real"),
               "extractor": f.get("extractor"), "n_gen": f.get("n_gen"),
               "value": f.get("recon") if recon else f.get("value"), "seconds": f.get("seconds"),
               "note": f.get("note") or None, "error": f.get("error"),
               "record": json.dumps(f.get("record")) if f.get("record") else None}
        if recon and rec["value"] is None and rec["error"] is None:
            rec["error"] = rec["note"] or "not scored"
        self.db.execute(f"INSERT OR REPLACE INTO finals ({','.join(FINAL_FIELDS)}) VALUES "
                        f"({','.join('?' * len(FINAL_FIELDS))})", [rec[k] for k in FINAL_FIELDS])
        self.db.execute("DELETE FROM ladder WHERE cell_id = ? AND key = ?", (cell_id, key))
        self.db.executemany("INSERT INTO ladder VALUES (?,?,?,?)",
                            [(cell_id, key, int(b), float(v)) for b, v in (f.get("ladder") or {}).items()])

    def set_meta(self, key: str, value) -> None:
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value)))

    # ------------------------------------------------------------------ reading
    def runs(self, where: Optional[Dict[str, str]] = None) -> List[Dict]:
        cur = self.db.execute(f"SELECT {','.join(RUN_FIELDS)} FROM runs ORDER BY cell_id")
        out = []
        for r in cur.fetchall():
            d = dict(zip(RUN_FIELDS, r))
            d["labels"] = json.loads(d["labels"])
            if where and any(label_of(d["labels"], k) != v for k, v in where.items()):
                continue
            out.append(d)
        return out

    def status(self, cell_id: str) -> Optional[str]:
        r = self.db.execute("SELECT status FROM runs WHERE cell_id = ?", (cell_id,)).fetchone()
        return r[0] if r else None

    def outcome(self, cell_id: str) -> Optional[Dict]:
        """The cell's stored ``status``, ``stopped_by`` and ``error`` (its reason), or None."""
        r = self.db.execute("SELECT status, stopped_by, error FROM runs WHERE cell_id = ?", (cell_id,)).fetchone()
        return dict(zip(("status", "stopped_by", "error"), r)) if r else None

    def needs_work(self, cell_id: str, final_keys: Iterable[str], retry_failed: bool = False) -> bool:
        """Whether a cell must run: never run, interrupted or killed (resumed by any rerun),
        failed, diverged or stopped by its guard (with ``retry_failed``), or finished but
        without a result for one of ``final_keys``. A cell stopped by selection stays stopped."""
        o = self.outcome(cell_id) or {}
        st = o.get("status")
        if st == "stopped":
            return retry_failed and o.get("stopped_by") == "guard"
        if st in ("failed", "diverged"):
            return retry_failed
        if st != "done":
            return True
        have = {k for (k,) in self.db.execute("SELECT key FROM finals WHERE cell_id = ?", (cell_id,))}
        return not set(final_keys) <= have

    def finals(self, key: Optional[str] = None) -> Dict[str, Dict[str, Dict]]:
        """{cell_id: {key: row}} (or only rows of ``key``), each row with its ``ladder``."""
        q = f"SELECT {','.join(FINAL_FIELDS)} FROM finals" + (" WHERE key = ?" if key else "")
        out: Dict[str, Dict[str, Dict]] = {}
        for r in self.db.execute(q, (key,) if key else ()):
            d = dict(zip(FINAL_FIELDS, r))
            d["record"] = json.loads(d["record"]) if d["record"] else None
            d["ladder"] = dict(self.db.execute("SELECT budget, value FROM ladder WHERE cell_id = ? AND key = ? "
                                               "ORDER BY budget", (d["cell_id"], d["key"])).fetchall())
            out.setdefault(d["cell_id"], {})[d["key"]] = d
        return out

    def meta(self, key: str, default=None):
        r = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(r[0]) if r else default

    def series(self, cell_id: str, key: str) -> List[tuple]:
        return self.db.execute("SELECT iteration, value FROM metrics WHERE cell_id = ? AND key = ? "
                               "ORDER BY iteration", (cell_id, key)).fetchall()

    def close(self):
        self.db.close()


def _migrate_v1(store: Store) -> None:
    """A version-1 store (one final result per run in ``runs``) -> version 2: run rows keep their figures; each final result becomes a ``finals`` row under
    the key of the settings it was computed with (the best checkpoint, its steps and images),
    with its z-step ladder taken from the run's result.json when it is there. Version 1 kept
    no divergence status: a failed run whose recorded error is the trainer's non-finite-loss
    message becomes ``diverged`` (the only place that message is read). Training seconds
    come from the logged rate (``stability.train_seconds``). The D-wins flag of version 1 judged
    every loss as BCE: it is dropped (shown as not available until the cell runs again). The old table is dropped last,
    so an interrupted migration starts again from it."""
    db = store.db
    if not store._columns("runs_v1"):
        with db:
            db.execute("ALTER TABLE runs RENAME TO runs_v1")
    cols = store._columns("runs_v1")
    rows = [dict(zip(cols, r)) for r in db.execute(f"SELECT {','.join(cols)} FROM runs_v1")]
    db.executescript(SCHEMA)
    for r in rows:
        status = r["status"]
        if status == "failed" and "stopped being finite" in (r.get("error") or ""):
            status = "diverged"
        run_dir = Path(r["run_dir"]) if r.get("run_dir") else None
        res = _read_json(run_dir / "result.json") if run_dir else {}
        rate = [{"iteration": i, "it_per_s": v} for i, v in store.series(r["cell_id"], "it_per_s")]
        seconds = train_seconds(rate)
        row = {**{k: r.get(k) for k in RUN_FIELDS if k in r}, "status": status, "labels": json.loads(r["labels"]),
               "cell_seconds": r.get("seconds"), "train_seconds": seconds, "d_wins": None,
               "it_per_s": r.get("iterations") / seconds if seconds and r.get("iterations") else None}
        finals = {}
        if r.get("final_recon") is not None:
            key, entry = legacy_final(r["final_recon"], r.get("final_steps"), r.get("final_images"),
                                      res.get("final_curve") or [],
                                      run_dir is None or (run_dir / "checkpoints" / "best.pt").exists())
            finals[key] = entry
        store.put_run(row, None, finals)
    with db:
        db.execute("DROP TABLE runs_v1")


def _read_json(path: Path) -> Dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def label_of(labels: Dict[str, str], key: str):
    """A run's label on an axis, by its full name (``train.seed``) or its last part (``seed``)."""
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
