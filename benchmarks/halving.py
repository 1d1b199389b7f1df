"""Successive halving vs the full grid on the same study: whether halving keeps the full grid's
winner, and the fraction of its training iterations it used, over several benchmark seeds.

Study: DCGAN on the 2,500 bundled Fashion-MNIST images, the first --methods of {none, batch,
weight, spectral D, layer, spectral_strict D, bssn D, group, instance} normalization, one
training seed per benchmark seed (``train.seed = s`` for s in --bench-seeds), --iterations
each. The full grid trains every cell to the end; halving (synchronous by default: every
method trains to the rung, the best ``keep`` fraction of the mean running reconstruction
error goes on; ``--scheduler asha`` for Ray Tune's asynchronous form) stops the rest early.
The winner of each is the method with the lowest final-test reconstruction error among the
cells that finished. Target: the full grid's winner survives with <= 40% of the iterations.

Both studies of a benchmark seed live in ``WORKDIR/seed<s>/{full,halving}``; a study already
finished there is not trained again (the runner skips finished cells), so an interrupted
benchmark resumes where it stopped.

    python benchmarks/halving.py [--iterations 360] [--first-rung 40] [--methods 9] [--keep 1/3]
                                 [--bench-seeds 0,1,2] [--scheduler sync|asha] [--workdir DIR]
                                 [--backend local|ray] [--jobs 1] [--cpus-per-cell 1]

(The ASHA runs in RESULTS.md from before 2026-12-05 used an earlier version of this script, with
``--seeds N`` seeds per method in one study and ASHA on Ray always.)
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import yaml

from gannorm.store import selection
from gannorm.store import Store

NORMS = {"none": {"g_norm": "none", "d_norm": "none"}, "batch": {"g_norm": "batch", "d_norm": "batch"},
         "weight": {"g_norm": "weight", "d_norm": "weight"}, "spectral": {"g_norm": "none", "d_norm": "spectral"},
         "layer": {"g_norm": "layer", "d_norm": "layer"}, "spectral_strict": {"g_norm": "none", "d_norm": "spectral_strict"},
         "bssn": {"g_norm": "none", "d_norm": "bssn"}, "group": {"g_norm": "group", "d_norm": "group"},
         "instance": {"g_norm": "instance", "d_norm": "instance"}}


def study_spec(iterations: int, first_rung: int, methods: int, seed: int, keep: float, scheduler: str) -> dict:
    return {"name": "halving-bench", "base": {
        "data": {"name": "fashion_mnist_small", "holdout": 300, "running_holdout": 64},
        "model": {"name": "dcgan", "base_features": 16, "z_dim": 64},
        "train": {"iterations": iterations, "batch_size": 32, "log_every": 25, "sample_every": 0,
                  "checkpoint_every": first_rung},
        "eval": {"test_interval": first_rung, "test_steps": 30}},
        "axes": {"norm": dict(list(NORMS.items())[:methods]), "train.seed": [seed]},
        "final_test": {"steps": 50, "images": 200}, "diversity_samples": 64,
        "halving": {"first_rung": first_rung, "keep": keep, "scheduler": scheduler}}


def winner(db: Path):
    """(method with the lowest mean final recon over its finished seeds, those means, iterations trained)."""
    store = Store(db)
    finals, by = store.finals(), {}
    runs = store.runs()
    for r in runs:
        f = [e["value"] for e in finals.get(r["cell_id"], {}).values() if e["kind"] == "recon" and e["value"] is not None]
        if r["status"] == "done" and f:
            by.setdefault(r["labels"]["norm"], []).append(f[0])
    rungs, _ = selection.load(store)
    store.close()
    means = {m: statistics.mean(v) for m, v in by.items()}
    return min(means, key=means.get), means, sum(r["iterations"] or 0 for r in runs), rungs


def run(study: Path, out: Path, a, extra) -> float:
    t0 = time.perf_counter()
    backend = ["--backend", a.backend] + (["--cpus-per-cell", str(a.cpus_per_cell)] if a.backend == "ray" else
                                          ["--jobs", str(a.jobs), "--threads", "1"])
    r = subprocess.run([sys.executable, "-m", "gannorm", "study", str(study), "--out", str(out), "--no-report",
                        *backend, *extra], capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(f"{out} failed:\n{r.stderr[-3000:]}")
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--iterations", type=int, default=360)
    ap.add_argument("--first-rung", type=int, default=40)
    ap.add_argument("--methods", type=int, default=9, choices=range(2, len(NORMS) + 1))
    ap.add_argument("--keep", default="1/3", help="fraction kept at each rung: 1/2, 1/3, ...")
    ap.add_argument("--bench-seeds", default="0,1,2", help="training seeds, one benchmark per seed")
    ap.add_argument("--scheduler", default="sync", choices=["sync", "asha"])
    ap.add_argument("--backend", default="local", choices=["local", "ray"])
    ap.add_argument("--jobs", type=int, default=1, help="local: cells at once")
    ap.add_argument("--cpus-per-cell", type=float, default=1, help="ray: CPUs per cell (ASHA: per method)")
    ap.add_argument("--only", choices=["full", "halving"], help="run one of the two studies only")
    ap.add_argument("--workdir", help="keep the studies here (default: a temporary folder)")
    a = ap.parse_args()
    keep = float(Fraction(a.keep))
    seeds = [int(s) for s in a.bench_seeds.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(a.workdir or tmp)
        for s in seeds:
            d = root / f"seed{s}"
            d.mkdir(parents=True, exist_ok=True)
            p = d / "study.yaml"
            p.write_text(yaml.safe_dump(study_spec(a.iterations, a.first_rung, a.methods, s, keep, a.scheduler)))
            res = {}
            for name, extra in (("full", []), ("halving", ["--halving"])):
                if a.only and a.only != name:
                    continue
                secs = run(p, d / name, a, extra)
                res[name] = (*winner(d / name / "study.db"), secs)
                print(f"seed {s} {name}: winner {res[name][0]}, {res[name][2]} iterations, {secs:.0f} s", flush=True)
            if len(res) == 2:
                rows.append((s, res))
    if not rows:
        return
    print(f"\nstudy: DCGAN f16 on the bundled Fashion-MNIST (2,500 images), {a.methods} methods x 1 seed, "
          f"{a.iterations} iterations; final test = 50 z-steps on 200 held-out images (MSE per pixel on [0,1]); "
          f"halving: {a.scheduler}, keep {a.keep}, first rung {a.first_rung}, running recon; backend {a.backend}")
    print(f"{'seed':>4s} {'grid winner':15s} {'halving winner':15s} {'survives':>8s} {'grid its':>8s} "
          f"{'halving its':>11s} {'fraction':>8s} {'grid s':>7s} {'halving s':>9s}")
    kept = 0
    for s, res in rows:
        (fw, fm, fits, _, fs), (hw, hm, hits, rungs, hs) = res["full"], res["halving"]
        survived = fw in hm
        kept += survived
        print(f"{s:4d} {fw:15s} {hw:15s} {str(survived):>8s} {fits:8d} {hits:11d} {hits / fits:8.2f} {fs:7.0f} {hs:9.0f}")
    print(f"full grid's winner kept by halving in {kept} of {len(rows)} benchmark seeds")
    for s, res in rows:
        print(f"seed {s} rungs (iteration, method, mean running recon, rank, decision):")
        for r in res["halving"][3]:
            v = r["value"] if r["value"] is not None else float("nan")
            print(f"  {r['iteration']:5d} {r['method']:22s} {v:.5f} {r['rank']}/{r['of']} {r['decision']}")


if __name__ == "__main__":
    main()
