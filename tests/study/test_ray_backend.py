"""The Ray backend of `gannorm study`: the same rows as the local pool, a killed worker's cell
retried from its checkpoint, successive halving (Ray Tune ASHA) dropping a planted loser, and
the one-line errors (Ray missing, nobody at --address, resources no node has)."""
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from gannorm.cli import cli
from gannorm.errors import GannormError
from gannorm.report import build_report
from gannorm.study import load_study, run_study
from gannorm.study.backends import BackendOptions
from gannorm.store import Store

ray = pytest.importorskip("ray")

TINY = {"model": {"base_features": 8, "z_dim": 16},
        "train": {"iterations": 8, "batch_size": 8, "log_every": 2, "sample_every": 4, "n_samples": 4,
                  "checkpoint_every": 4},
        "eval": {"test_interval": 4, "test_steps": 2}, "data": {"name": "fashion_mnist_small", "running_holdout": 8}}
SRC = str(Path(__file__).resolve().parents[2] / "src")


def _write(tmp_path, axes, base=None, **extra):
    p = tmp_path / "study.yaml"
    p.write_text(yaml.safe_dump({"name": "t", "base": base or TINY, "axes": axes,
                                 "final_test": {"steps": 2, "images": 8}, "diversity_samples": 8, **extra}))
    return p


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ray_local():
    """One 2-CPU Ray instance for the module (starting Ray costs tens of seconds on 2 cores)."""
    os.environ["PYTHONPATH"] = os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")])  # workers import this tree
    os.environ.setdefault("RAY_raylet_start_wait_time_s", "180")  # a busy 2-core machine registers slowly
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)  # never join another
    yield ray
    ray.shutdown()


def _rows(db):
    con = sqlite3.connect(db)
    runs = con.execute("SELECT cell_id, labels, status, error, iterations, best_running, best_iteration, diversity, "
                       "d_wins, worse_count FROM runs ORDER BY cell_id").fetchall()
    finals = con.execute("SELECT f.cell_id, f.key, f.steps, f.images, f.value FROM finals f "
                         "ORDER BY f.cell_id, f.key").fetchall()
    runs = [r + tuple(v for f in finals if f[0] == r[0] for v in f[2:]) for r in runs]  # each run with its final tests
    metrics = con.execute("SELECT cell_id, iteration, key, value FROM metrics WHERE key != 'it_per_s' "
                          "ORDER BY cell_id, iteration, key").fetchall()
    return runs, metrics


def test_ray_study_rows_equal_the_local_backends(tmp_path, ray_local):
    s = load_study(_write(tmp_path, {"norm": {"none": {"g_norm": "none", "d_norm": "none"},
                                              "batch": {"g_norm": "batch", "d_norm": "batch"}},
                                     "train.seed": [0, 1]}))
    run_study(s, tmp_path / "local", jobs=2, threads=1)
    rows = run_study(s, tmp_path / "ray", backend="ray", options=BackendOptions(resources={"cpu": 1}))
    assert sorted(r["status"] for r in rows) == ["done"] * 4
    local, viaray = _rows(tmp_path / "local" / "study.db"), _rows(tmp_path / "ray" / "study.db")
    assert [r[:5] for r in viaray[0]] == [r[:5] for r in local[0]]
    for a, b in zip(viaray[0], local[0]):  # same seeds, one thread each: the same numbers
        assert a[5:] == pytest.approx(b[5:], rel=1e-5)
    assert len(viaray[1]) == len(local[1]) > 0
    assert [m[:3] for m in viaray[1]] == [m[:3] for m in local[1]]
    assert [m[3] for m in viaray[1]] == pytest.approx([m[3] for m in local[1]], rel=1e-5, nan_ok=True)
    # the driver wrote each cell's log from what the task returned
    assert "done: 8 iterations" in (tmp_path / "ray" / "logs" / "norm=batch,seed=1.log").read_text()
    assert "Final test" in build_report(tmp_path / "ray").read_text()
    # a rerun skips every finished cell
    assert run_study(s, tmp_path / "ray", backend="ray", options=BackendOptions(resources={"cpu": 1})) == []


def test_resources_no_node_has_fail_before_anything_runs(tmp_path, ray_local):
    s = load_study(_write(tmp_path, {"train.seed": [0]}))
    with pytest.raises(GannormError, match=r"no Ray node can hold one cell needing cpu=1, gpu=1 \(nodes: 2 CPU, 0 GPU\)"):
        run_study(s, tmp_path / "out", backend="ray", options=BackendOptions(resources={"cpu": 1, "gpu": 1}))
    with pytest.raises(GannormError, match="cpu=3"):
        run_study(s, tmp_path / "out", backend="ray", options=BackendOptions(resources={"cpu": 3}))
    assert not list((tmp_path / "out" / "runs").iterdir()) and Store(tmp_path / "out" / "study.db").runs() == []


@pytest.mark.slow  # ~3.5 min on a busy 2-core machine
def test_killed_worker_cell_is_retried_from_its_checkpoint(tmp_path, ray_local):
    base = {**TINY, "train": {**TINY["train"], "iterations": 400, "checkpoint_every": 10, "log_every": 10,
                              "sample_every": 0}, "eval": {"test_interval": 0}}
    s = load_study(_write(tmp_path, {"train.seed": [0]}, base=base))
    out = tmp_path / "out"
    run_dir = out / "runs" / "seed=0"
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("rows", run_study(
        s, out, backend="ray", options=BackendOptions(resources={"cpu": 1}, max_retries=2))))
    t.start()
    deadline = time.time() + 120
    while time.time() < deadline and not (run_dir / "checkpoints" / "latest.pt").exists():
        time.sleep(0.2)
    assert (run_dir / "checkpoints" / "latest.pt").exists(), "the cell never wrote a checkpoint"
    pid = yaml.safe_load((run_dir / "worker.json").read_text())["pid"]
    os.kill(pid, signal.SIGKILL)  # the worker dies mid-cell
    t.join(timeout=240)
    assert not t.is_alive()
    (row,) = result["rows"]
    assert row["status"] == "done" and row["iterations"] == 400
    assert row["resumed_from"] >= 10  # the retry continued from the checkpoint, not from scratch
    assert yaml.safe_load((run_dir / "worker.json").read_text())["pid"] != pid
    assert "resuming from its last checkpoint" in (out / "logs" / "seed=0.log").read_text()


@pytest.mark.slow  # ~5 min on a busy 2-core machine
@pytest.mark.parametrize("scheduler", ["sync", "asha"])
def test_halving_stops_the_planted_loser_at_the_first_rung(tmp_path, ray_local, scheduler):
    base = {**TINY, "train": {**TINY["train"], "iterations": 40, "checkpoint_every": 10}, "eval": {"test_interval": 10, "test_steps": 5}}
    axes = {"lr": {"good": {"optim.g_lr": 2e-4, "optim.d_lr": 2e-4}, "fine": {"optim.g_lr": 1e-4, "optim.d_lr": 1e-4},
                   "huge": {"optim.g_lr": 50.0, "optim.d_lr": 50.0}},  # the planted loser
            "train.seed": [0, 1]}
    s = load_study(_write(tmp_path, axes, base=base, strategy="halving",
                          halving={"first_rung": 10, "keep": 0.5, "scheduler": scheduler}))
    out = tmp_path / "out"
    rows = run_study(s, out, backend="ray", options=BackendOptions(resources={"cpu": 1}, halving=True))
    status = {r["cell_id"]: (r["status"], r["iterations"]) for r in rows}
    assert status["lr=huge,seed=0"][0] in ("stopped", "diverged") and status["lr=huge,seed=0"][1] <= 10
    assert status["lr=huge,seed=1"][1] <= 10
    assert any(v == ("done", 40) for v in status.values())  # somebody got the full budget
    con = sqlite3.connect(out / "study.db")
    first = dict(con.execute("SELECT method, decision FROM rungs WHERE iteration = 10").fetchall())
    assert first["lr=huge"] == "stopped"
    sel = dict(con.execute("SELECT key, value FROM selection").fetchall())
    used, full = int(sel["iterations_used"]), int(sel["iterations_full_grid"])
    assert full == 6 * 40 and used < full
    assert used == sum(r["iterations"] for r in rows)
    page = build_report(out).read_text()
    assert "Selection by successive halving" in page and "stopped" in page


def test_missing_ray_is_a_one_line_error_with_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    r = CliRunner().invoke(cli, ["study", str(_write(tmp_path, {"train.seed": [0]})), "--out", str(tmp_path / "o"),
                                 "--backend", "ray", "--no-report"])
    assert r.exit_code != 0
    assert "needs Ray, which is not installed; install it with: pip install 'gannorm[ray]'" in r.output
    assert "Traceback" not in r.output


@pytest.mark.parametrize("scheme", ["", "ray://"])
def test_unreachable_address_fails_in_bounded_time(tmp_path, scheme):
    t0 = time.time()
    r = CliRunner().invoke(cli, ["study", str(_write(tmp_path, {"train.seed": [0]})), "--out", str(tmp_path / "o"),
                                 "--backend", "ray", "--address", f"{scheme}127.0.0.1:{_free_port()}", "--no-report"])
    assert r.exit_code != 0 and "no Ray cluster reachable at" in r.output and "Traceback" not in r.output
    assert time.time() - t0 < 30


@pytest.mark.slow
def test_cluster_started_with_ray_start_and_joined_by_address(tmp_path):
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")]),
           "RAY_raylet_start_wait_time_s": "180",
           "RAY_AUTH_MODE": "disabled"}  # a throwaway local head: Ray's token authentication is not under test
    # --block: the head lives as long as this child, whose process group is ours to stop
    head = subprocess.Popen(["ray", "start", "--head", "--block", f"--port={port}", "--num-cpus=2",
                             "--include-dashboard=false", "--disable-usage-stats"], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 180
        while time.time() < deadline:
            with socket.socket() as sk:
                if sk.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(1)
        p = subprocess.run([sys.executable, "-m", "gannorm", "study", str(_write(tmp_path, {"train.seed": [0, 1]})),
                            "--out", str(tmp_path / "o"), "--backend", "ray", "--address", f"127.0.0.1:{port}",
                            "--no-report"], env=env, capture_output=True, text=True, timeout=400)
        assert p.returncode == 0, p.stderr[-2000:]
        rows = Store(tmp_path / "o" / "study.db").runs()
        assert [(r["cell_id"], r["status"], r["iterations"]) for r in rows] == [("seed=0", "done", 8), ("seed=1", "done", 8)]
    finally:
        head.terminate()  # `ray start --block` stops the processes it started
        try:
            head.wait(timeout=60)
        finally:
            os.killpg(head.pid, signal.SIGKILL) if head.poll() is None else None
