"""The study's one set of outcomes: the runner's reading of a cell's end (a signal is
``killed`` with its reason; a crash without an outcome is ``failed`` with the log's last
line), run directories of an earlier gannorm (no outcome.json), and a version-2 store (no
``stopped_by`` column) read as before."""
import json
import sqlite3

from gannorm import outcomes
from gannorm.study.ingest import collect, derive_outcome
from gannorm.study.runner import cell_outcome
from gannorm.store import Store


def test_a_signal_is_killed_with_its_reason_and_a_crash_keeps_the_logs_last_line(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    o = cell_outcome(run, -9, None)
    assert (o.status, o.signal, o.reason) == ("killed", 9, outcomes.killed_reason(9))
    assert "out of memory" in o.reason
    log = tmp_path / "cell.log"
    log.write_text("Traceback (most recent call last):\n  ...\nRuntimeError: CUDA error: device-side assert\n\n")
    o = cell_outcome(run, 1, log)
    assert o.status == "failed" and o.reason.startswith("RuntimeError: CUDA error: device-side assert (log: ")
    outcomes.write(run, outcomes.Outcome("diverged", "a non-finite loss at iteration 7", iteration=7))
    assert cell_outcome(run, 3, log) is None  # the cell said how it ended: that is read, not the log
    got, _, _ = collect(run, cell_outcome(run, 3, log))
    assert (got.status, got.reason, got.iteration) == ("diverged", "a non-finite loss at iteration 7", 7)
    got, _, _ = collect(run, cell_outcome(run, -9, None))  # a signal wins over a file
    assert got.status == "killed"


def test_a_run_of_an_earlier_gannorm_is_read_from_its_result(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    assert derive_outcome(run, {}) is None
    assert derive_outcome(run, {"status": "done", "iterations": 9}).status == "done"
    o = derive_outcome(run, {"status": "diverged", "error": "the loss stopped being finite\nmore", "iterations": 4})
    assert (o.status, o.reason, o.iteration) == ("diverged", "the loss stopped being finite", 4)
    (run / "outcome.json").write_text("{not json")
    o = derive_outcome(run, {"status": "done"})
    assert o.status == "failed" and "outcome.json is damaged" in o.reason


def test_a_version_2_store_reads_its_stopped_rows_as_stopped_by_selection(tmp_path):
    db = tmp_path / "study.db"
    con = sqlite3.connect(db)
    con.executescript("""
    CREATE TABLE runs (cell_id TEXT PRIMARY KEY, labels TEXT NOT NULL, status TEXT NOT NULL, error TEXT, run_dir TEXT,
      iterations INTEGER, best_running REAL, best_iteration INTEGER, diversity REAL, d_wins INTEGER,
      worse_count INTEGER, train_seconds REAL, it_per_s REAL, cell_seconds REAL,
      updated TEXT DEFAULT CURRENT_TIMESTAMP);
    CREATE TABLE finals (cell_id TEXT NOT NULL, key TEXT NOT NULL, kind TEXT NOT NULL, metric TEXT NOT NULL,
      checkpoint TEXT, checkpoint_used TEXT, checkpoint_iteration INTEGER, steps INTEGER, images INTEGER,
      extractor TEXT, n_gen INTEGER, value REAL, seconds REAL, note TEXT, error TEXT, record TEXT,
      PRIMARY KEY (cell_id, key));
    PRAGMA user_version = 2;""")
    con.execute("INSERT INTO runs (cell_id, labels, status, error, iterations) VALUES (?,?,?,?,?)",
                ("a", json.dumps({"lr": "a"}), "stopped", "stopped by successive halving at iteration 10", 10))
    con.execute("INSERT INTO runs (cell_id, labels, status, error, iterations) VALUES (?,?,?,?,?)",
                ("b", json.dumps({"lr": "b"}), "failed", "bad", 3))
    con.commit()
    con.close()
    store = Store(db)
    assert store.outcome("a") == {"status": "stopped", "stopped_by": "selection",
                                  "error": "stopped by successive halving at iteration 10"}
    assert store.outcome("b")["stopped_by"] is None
    assert not store.needs_work("a", [], retry_failed=True)  # selection's decision stands
    assert store.needs_work("b", [], retry_failed=True) and not store.needs_work("b", [])
    assert [r["stopped_by"] for r in store.runs()] == ["selection", None]
    store.close()
