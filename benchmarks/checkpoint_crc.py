"""Cost of checking a checkpoint's CRC-32s before loading it.

``gannorm.training.checkpoint.load_checkpoint`` reads every member of the zip archive once
to compare it with the CRC-32 its header records, then ``torch.load``s it. This measures the
two against a plain ``torch.load(weights_only=True)`` of the same file, on checkpoints of the
paper's DCGAN at two image sizes (G, D, EMA, both RMSProp states, RNGs), with the file in the
page cache (the usual case: it was just written, or the check itself brings it there).

    python benchmarks/checkpoint_crc.py
"""
import statistics
import tempfile
import time
from pathlib import Path

import torch

from gannorm import config
from gannorm import plugins  # noqa: F401
from gannorm.training import Trainer
from gannorm.training.checkpoint import damaged_member, load_checkpoint


def best_of(f, n=7):
    ts = []
    for _ in range(n):
        t0 = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t0)
    return min(ts), statistics.median(ts)


def main():
    torch.set_num_threads(1)
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for size, feats in [(32, 64), (64, 64)]:
            run = Path(d) / f"r{size}"
            cfg = config.load(None, ["iterations=1", f"data.image_size={size}", f"base_features={feats}",
                                     "batch_size=8", "test_interval=0", "sample_every=0", "running_holdout=8",
                                     "n_samples=4", "log_every=1"])
            Trainer(cfg, run, quiet=True).train()
            f = run / "checkpoints" / "latest.pt"
            mb = f.stat().st_size / 2**20
            plain = best_of(lambda: torch.load(f, map_location="cpu", weights_only=True))
            crc = best_of(lambda: damaged_member(f))
            full = best_of(lambda: load_checkpoint(f))
            rows.append((size, feats, mb, plain[0], crc[0], full[0]))
    print("| image | base_features | file MB | torch.load ms | CRC check ms | load_checkpoint ms | overhead |")
    print("|---|---|---|---|---|---|---|")
    for size, feats, mb, plain, crc, full in rows:
        print(f"| {size}x{size} | {feats} | {mb:.1f} | {plain * 1e3:.1f} | {crc * 1e3:.1f} | {full * 1e3:.1f} | "
              f"{(full / plain - 1) * 100:+.0f}% |")


if __name__ == "__main__":
    main()
