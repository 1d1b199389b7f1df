"""Successive halving vs the full grid on the same study: the winner of each and the training
iterations each used, measured in one run.

Study: DCGAN on the 2,500 bundled Fashion-MNIST images, the first --methods of {none, batch,
weight, spectral D, layer, spectral_strict D, bssn D, group, instance} normalization x --seeds
seeds, --iterations each. The full grid trains every cell to the end; halving (Ray Tune ASHA,
keep --keep, first rung --first-rung iterations, judged on the running reconstruction error
averaged over a method's seeds) stops the rest early. ASHA decides each method when it reaches
a rung, against those already there (the first one there always goes on), so its saving grows
with the number of methods; give every method its share of the CPUs (--cpus-per-cell
CPUS/METHODS) so that all reach a rung together. The
winner of each is the method with the lowest mean final-test reconstruction error over its
seeds among the cells that finished. Target: the same winner with <= 40% of the iterations.

    python benchmarks/halving.py [--iterations 400] [--first-rung 50] [--seeds 2] [--methods 4] [--keep 0.5]
                                 [--cpus-per-cell 1]
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

from gannorm.study.store import Store

NORMS = {"none": {"g_norm": "none", "d_norm": "none"}, "batch": {"g_norm": "batch", "d_norm": "batch"},
         "weight": {"g_norm": "weight", "d_norm": "weight"}, "spectral": {"g_norm": "none", "d_norm": "spectral"},
         "layer": {"g_norm": "layer", "d_norm": "layer"}, "spectral_strict": {"g_norm": "none", "d_norm": "spectral_strict"},
         "bssn": {"g_norm": "none", "d_norm": "bssn"}, "group": {"g_norm": "group", "d_norm": "group"},
         "instance": {"g_norm": "instance", "d_norm": "instance"}}


def winner(db: Path):
    """(method with the lowest mean final recon over its finished seeds, those means, iterations trained)."""
    store = Store(db)
    finals, by = store.finals(), {}
    runs = store.runs()
    for r in runs:
        f = [e["value"] for e in finals.get(r["cell_id"], {}).values() if e["kind"] == "recon" and e["value"] is not None]
        if r["status"] == "done" and f:
            by.setdefault(r["labels"]["norm"], []).append(f[0])
    store.close()
    means = {m: statistics.mean(v) for m, v in by.items()}
    return min(means, key=means.get), means, sum(r["iterations"] or 0 for r in runs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--iterations", type=int, default=400)
    ap.add_argument("--first-rung", type=int, default=50)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--methods", type=int, default=4, choices=range(2, len(NORMS) + 1))
    ap.add_argument("--keep", type=float, default=0.5, help="fraction kept at each rung: 1/2, 1/3, ...")
    ap.add_argument("--workdir", help="keep the two studies here (default: a temporary folder)")
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
        "halving": {"first_rung": a.first_rung, "keep": a.keep}}
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = a.workdir or tmp
        Path(tmp).mkdir(parents=True, exist_ok=True)
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
          f"halving: ASHA keep 1/{round(1 / a.keep)}, first rung {a.first_rung}, mean running recon over seeds; "
          f"{a.cpus_per_cell} CPU per trial")
    print(f"{'strategy':10s} {'winner':15s} {'iterations':>10s} {'seconds':>8s}  mean final recon per finished method")
    for name, (w, means, its, secs) in out.items():
        print(f"{name:10s} {w:15s} {its:10d} {secs:8.0f}  " + ", ".join(f"{m} {v:.5f}" for m, v in sorted(means.items())))
    print("halving rungs (iteration, method, mean running recon, rank, decision):")
    for it, m, v, rank, of, d in rungs:
        print(f"  {it:5d} {m:16s} {v if v is not None else float('nan'):.5f} {rank}/{of} {d}")
    (fw, _, fits, _), (hw, _, hits, _) = out["full grid"], out["halving"]
    print(f"same winner: {fw == hw}; iterations halving / full grid: {hits / fits:.2f} (target <= 0.40)")


if __name__ == "__main__":
    main()
