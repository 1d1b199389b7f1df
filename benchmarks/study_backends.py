"""Wall time of one study on the local process pool vs on Ray, measured in the same run.

CPU (default): a study of --cells DCGAN cells on the bundled Fashion-MNIST, run by
``gannorm study`` as a fresh process each time (imports and, for Ray, starting a local Ray
instance are included), at the same parallelism: ``--jobs P --threads 1`` vs
``--backend ray --cpus-per-cell 1`` on a Ray instance of P CPUs. Target: Ray <= 1.15x local.

GPU (``--device cuda``): --cells cells (>= 8) packed on one GPU with ``--backend ray
--gpus-per-cell 1/cells`` vs the local pool one cell at a time (``--jobs 1``); the figure
is cells per hour. Target: packed >= 3x one at a time.

    python benchmarks/study_backends.py [--cells 4] [--parallel 2] [--iterations 300] [--device cpu]
                                        [--rounds 1] [--out DIR]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml


def study_file(folder: Path, cells: int, iterations: int, device: str, features: int) -> Path:
    spec = {"name": "bench", "base": {
        "data": {"name": "fashion_mnist_small", "holdout": 200, "running_holdout": 32},
        "model": {"name": "dcgan", "base_features": features, "z_dim": 64},
        "train": {"iterations": iterations, "batch_size": 32, "log_every": 50, "sample_every": 0,
                  "checkpoint_every": iterations, "device": device, "n_samples": 16},
        "eval": {"test_interval": iterations, "test_steps": 20}},
        "axes": {"train.seed": list(range(cells))}, "final_test": {"steps": 20, "images": 64},
        "diversity_samples": 64}
    p = folder / "bench.yaml"
    p.write_text(yaml.safe_dump(spec))
    return p


def run(args, out: Path) -> float:
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "gannorm", "study", *args, "--out", str(out), "--no-report"],
                       capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"study failed ({' '.join(args)}):\n{p.stderr[-3000:]}")
    return dt


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cells", type=int, default=4)
    ap.add_argument("--parallel", type=int, default=2, help="CPU: cells at once on both backends")
    ap.add_argument("--iterations", type=int, default=300)
    ap.add_argument("--features", type=int, default=32, help="DCGAN base features")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--rounds", type=int, default=1, help="alternating runs of each backend (min is kept)")
    ap.add_argument("--out", help="folder for the table (study_backends.txt)")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        spec = study_file(tmp, a.cells, a.iterations, a.device, a.features)
        if a.device == "cuda":
            base = ("local, one cell at a time", [str(spec), "--jobs", "1"])
            other = (f"ray, {a.cells} packed on one GPU",
                     [str(spec), "--backend", "ray", "--gpus-per-cell", f"{1 / a.cells:.6f}",
                      "--cpus-per-cell", f"{max(1, (os.cpu_count() or 1) // a.cells)}"])
        else:
            base = (f"local, --jobs {a.parallel} --threads 1", [str(spec), "--jobs", str(a.parallel), "--threads", "1"])
            # a fresh local Ray instance of P CPUs: the same parallelism, Ray start included
            other = (f"ray, {a.parallel} CPUs x 1 per cell", [str(spec), "--backend", "ray", "--cpus-per-cell",
                                                                f"{(os.cpu_count() or 1) / a.parallel:g}"])
        times = {base[0]: [], other[0]: []}
        for r in range(a.rounds):
            for name, args in (base, other) if r % 2 == 0 else (other, base):
                times[name].append(run(args, tmp / f"{len(times[name])}-{name.split(',')[0]}"))
        t_base, t_other = min(times[base[0]]), min(times[other[0]])
        lines = [f"study of {a.cells} DCGAN cells (base features {a.features}, {a.iterations} iterations, batch 32, "
                 f"bundled Fashion-MNIST), device {a.device}, {os.cpu_count()} cores; wall time of "
                 f"`gannorm study` from process start to exit, min of {a.rounds} round(s)",
                 f"{'backend':40s} {'seconds':>8s} {'cells/hour':>10s}"]
        for name, t in ((base[0], t_base), (other[0], t_other)):
            lines.append(f"{name:40s} {t:8.1f} {a.cells * 3600 / t:10.0f}")
        if a.device == "cuda":
            lines.append(f"throughput ratio packed / one at a time: {t_base / t_other:.2f}x (target >= 3x)")
        else:
            lines.append(f"wall-time ratio ray / local: {t_other / t_base:.3f}x (target <= 1.15x)")
    print("\n".join(lines))
    if a.out:
        Path(a.out).mkdir(parents=True, exist_ok=True)
        (Path(a.out) / "study_backends.txt").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
