"""Successive halving vs the full grid on the same study: the winner of each and the training
iterations each used, measured in one run.

Study: DCGAN on the 2,500 bundled Fashion-MNIST images, --methods of {none, batch, weight,
spectral D} normalization x --seeds seeds, --iterations each. The full grid trains every cell
to the end; halving (Ray Tune ASHA, keep 1/2, first rung --first-rung iterations, judged on
the running reconstruction error averaged over a method's seeds) stops the rest early. The
winner of each is the method with the lowest mean final-test reconstruction error over its
seeds among the cells that finished. Target: the same winner with <= 40% of the iterations.

    python benchmarks/halving.py [--iterations 400] [--first-rung 50] [--seeds 2] [--methods 4] [--cpus-per-cell 1]
"""
from __future__ import annotations

import argparse
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

NORMS = {"none": {"g_norm": "none", "d_norm": "none"}, "batch": {"g_norm": "batch", "d_norm": "batch"},
         "weight": {"g_norm": "weight", "d_norm": "weight"}, "spectral": {"g_norm": "none", "d_norm": "spectral"}}


def winner(db: Path):
    rows = sqlite3.connect(db).execute("SELECT labels, status, final_recon, iterations FROM runs").fetchall()
    by = {}
    for labels, status, final, _ in rows:
        if status == "done" and final is not None:
            by.setdefault(yaml.safe_load(labels)["norm"], []).append(final)
    means = {m: statistics.mean(v) for m, v in by.items()}
    return min(means, key=means.get), means, sum(r[3] or 0 for r in rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--iterations", type=int, default=400)
    ap.add_argument("--first-rung", type=int, default=50)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--methods", type=int, default=4, choices=range(2, 5))
    ap.add_argument("--cpus-per-cell", type=float, default=1)
    a = ap.parse_args()
    spec = {"name": "halving-bench", "base": {
        "data": {"name": "fashion_mnist_small", "holdout": 300, "running_holdout": 64},
        "model": {"name": "dcgan", "base_features": 16, "z_dim": 64},
        "train": {"iterations": a.iterations, "batch_size": 32, "log_every": 25, "sample_every": 0,
                  "checkpoint_every": a.first_rung},
        "eval": {"test_interval": a.first_rung, "test_steps": 30}},
        "axes": {"norm": dict(list(NORMS.items())[:a.methods]), "train.seed": list(range(a.seeds))},
        "final_test": {"steps": 50, "images": 200}, "diversity_samples": 64,
        "halving": {"first_rung": a.first_rung, "keep": 0.5}}
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "study.yaml"
        p.write_text(yaml.safe_dump(spec))
        for name, extra in (("full grid", []), ("halving", ["--halving"])):
            t0 = time.perf_counter()
            r = subprocess.run([sys.executable, "-m", "gannorm", "study", str(p), "--out", f"{tmp}/{name[0]}",
                                "--backend", "ray", "--cpus-per-cell", str(a.cpus_per_cell), "--no-report", *extra],
                               capture_output=True, text=True)
            if r.returncode:
                raise SystemExit(f"{name} failed:\n{r.stderr[-3000:]}")
            out[name] = (*winner(Path(tmp) / name[0] / "study.db"), time.perf_counter() - t0)
            if name == "halving":
                con = sqlite3.connect(Path(tmp) / "h" / "study.db")
                rungs = con.execute("SELECT iteration, method, value, rank, of, decision FROM rungs "
                                    "ORDER BY iteration, rank").fetchall()
    print(f"study: DCGAN f16 on the bundled Fashion-MNIST (2,500 images), {a.methods} methods x {a.seeds} seeds, "
          f"{a.iterations} iterations; final test = 50 z-steps on 200 held-out images (MSE per pixel on [0,1]); "
          f"halving: ASHA keep 1/2, first rung {a.first_rung}, mean running recon over seeds")
    print(f"{'strategy':10s} {'winner':8s} {'iterations':>10s} {'seconds':>8s}  mean final recon per finished method")
    for name, (w, means, its, secs) in out.items():
        print(f"{name:10s} {w:8s} {its:10d} {secs:8.0f}  " + ", ".join(f"{m} {v:.5f}" for m, v in sorted(means.items())))
    print("halving rungs (iteration, method, mean running recon, rank, decision):")
    for it, m, v, rank, of, d in rungs:
        print(f"  {it:5d} {m:16s} {v if v is not None else float('nan'):.5f} {rank}/{of} {d}")
    (fw, _, fits, _), (hw, _, hits, _) = out["full grid"], out["halving"]
    print(f"same winner: {fw == hw}; iterations halving / full grid: {hits / fits:.2f} (target <= 0.40)")


if __name__ == "__main__":
    main()
