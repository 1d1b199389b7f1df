"""Cost of the live diagnostics at their default interval, as a share of a training step (CPU).

    python benchmarks/diagnostics_overhead.py [--threads 1] [--rounds 5] [--steps 50]

One process, one run (configs/quickstart.yaml: DCGAN, 32 base features, batch 32, weight
norm): rounds alternate ``--steps`` plain training steps with one diagnostic, so a change
in the machine's load hits both alike. Overhead = (mean diagnostic time / interval) / mean
step time, the averaged extra time per step at ``train.diagnostics_every`` (default 100).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--d-norm", default="weight")
    a = ap.parse_args()
    import torch

    from gannorm import config, plugins  # noqa: F401
    from gannorm.training import Trainer
    from gannorm.training.diagnostics import finish

    torch.set_num_threads(a.threads)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = config.load(ROOT / "configs/quickstart.yaml", ["train.device=cpu", f"d_norm={a.d_norm}"])
        interval = cfg.train.diagnostics_every
        t = Trainer(cfg, Path(tmp) / "run", quiet=True)
        for _ in range(5):  # warm-up
            t.step()
            t.iteration += 1
        finish(t.diagnostics.collect(t.G, t.D, t.sample_generator))
        steps, diags = [], []
        for _ in range(a.rounds):
            t0 = time.perf_counter()
            for _ in range(a.steps):
                out = t.step()
                t.iteration += 1
            float(out["d_loss"])  # wait for the device as the loop's sync point does
            steps.append((time.perf_counter() - t0) / a.steps)
            t0 = time.perf_counter()
            finish(t.diagnostics.collect(t.G, t.D, t.sample_generator))
            diags.append(time.perf_counter() - t0)
        t.close()
    step, diag = statistics.mean(steps), statistics.mean(diags)
    print(f"| {a.d_norm} | {a.threads} | {step * 1000:.1f} ms | {diag * 1000:.1f} ms | {interval} | "
          f"{diag / interval / step:.2%} |")


if __name__ == "__main__":
    main()
