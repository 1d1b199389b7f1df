"""The study store (study.db, SQLite) when something is wrong with it: locked by another
process, not a database, truncated, read-only (``gannorm results`` only reads it, so it
works), a full disk during a write (``ulimit -f``). Each is one line naming the file and the
fix, and a failed write leaves the store as it was."""
import sqlite3
import subprocess
import sys
import time

import pytest

from faultkit import assert_one_line_error, env, file_size_limit, gannorm, read_only_preexec

from gannorm.store.db import LOCK_TIMEOUT_S, Store


def _store(d):
    d.mkdir(parents=True, exist_ok=True)
    s = Store(d / "study.db")
    s.put_run({"cell_id": "seed=0", "labels": {"train.seed": "0"}, "status": "done", "iterations": 2,
               "run_dir": str(d / "runs" / "seed=0")},
              metrics=[{"iteration": i, "d_loss": float(i)} for i in range(1, 4)])
    s.close()
    return d / "study.db"


def test_results_on_a_store_locked_by_another_process(tmp_path):
    db = _store(tmp_path / "s")
    holder = subprocess.Popen([sys.executable, "-c", f"""
import sqlite3, sys, time
c = sqlite3.connect({str(db)!r}, isolation_level=None)
c.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(240)
"""], stdout=subprocess.PIPE, text=True, env=env())
    try:
        assert holder.stdout.readline().strip() == "locked"
        t0 = time.monotonic()
        code, _, err = gannorm("results", tmp_path / "s", timeout=200)
        waited = time.monotonic() - t0
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert_one_line_error(code, err, str(db), "is locked by another process", f"waited {LOCK_TIMEOUT_S:g} s")
    assert waited >= LOCK_TIMEOUT_S


@pytest.mark.parametrize("damage,needle", [
    ("text", "is not a gannorm study store (not an SQLite database)"),
    ("truncated", "is damaged"),
])
def test_results_on_a_file_that_is_not_a_store(tmp_path, damage, needle):
    db = _store(tmp_path / "s")
    if damage == "text":
        db.write_text("notes about the study\n" * 100)
    else:
        db.write_bytes(db.read_bytes()[:db.stat().st_size // 2])
    code, _, err = gannorm("results", tmp_path / "s")
    assert_one_line_error(code, err, str(db), needle)


def test_results_reads_a_read_only_store(tmp_path):
    db = _store(tmp_path / "s")
    db.chmod(0o444)
    db.parent.chmod(0o555)
    try:
        p = subprocess.run([sys.executable, "-m", "gannorm", "results", str(db.parent)], capture_output=True,
                           text=True, timeout=120, env=env(), preexec_fn=read_only_preexec())
    finally:
        db.parent.chmod(0o755)
        db.chmod(0o644)
    assert p.returncode == 0, p.stderr
    assert "seed=0" in p.stdout and "done" in p.stdout


WRITE_BIG = r"""
import sys
from gannorm.errors import GannormError
from gannorm.store import Store
s = Store(sys.argv[1])
try:
    s.put_run({"cell_id": "seed=1", "labels": {"train.seed": "1"}, "status": "done", "iterations": 50000},
              metrics=[{"iteration": i, "d_loss": float(i), "g_loss": -float(i)} for i in range(1, 50001)])
except GannormError as e:
    print(f"gannorm: error: {e}", file=sys.stderr)
    sys.exit(2)
"""


def test_a_full_disk_during_a_write_leaves_the_store_intact(tmp_path):
    db = _store(tmp_path / "s")
    before = db.read_bytes()
    p = subprocess.run([sys.executable, "-c", WRITE_BIG, str(db)], capture_output=True, text=True, timeout=120,
                       env=env(), preexec_fn=file_size_limit(db.stat().st_size + 64 * 1024))
    assert_one_line_error(p.returncode, p.stderr, str(db), "free some space", "unchanged")
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert [r[0] for r in con.execute("SELECT cell_id FROM runs")] == ["seed=0"]
    assert con.execute("SELECT count(*) FROM metrics").fetchone()[0] == 3
    con.close()
    assert not (db.parent / "study.db-journal").exists() or db.read_bytes() == before
    code, out, err = gannorm("results", tmp_path / "s")  # and it still reads
    assert code == 0 and "seed=0" in out, err
