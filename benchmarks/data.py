"""Is the data pipeline ever the bottleneck? Images/s of (a) reading batches from the
prepared cache the way training does (gannorm's BatchLoader on the uint8 memory map), versus
(b) decoding the JPEG files with PIL for every batch (what a loader without a cache does),
versus (c) the model's own training throughput (one gannorm DCGAN iteration, 32x32,
batch 64, WN), all measured in the same run on the same images.

    python benchmarks/data.py [--n 2000] [--batch 64] [--steps 5] [--rounds 3] [--workers 2]
                              [--threads N] [--device cpu|cuda]

Images: the first N files (sorted, over all classes) of ../shared/data/cifar10-jpeg/train.
Also reported: the one-time cost of building the cache (``gannorm data prepare``, with
``--workers`` decoding threads). Each figure is the median of ``--rounds`` rounds. The
target: the cache reads far faster than training consumes, so data is never the
bottleneck; decoding JPEGs per batch is the baseline it is compared with.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
CIFAR = ROOT.parent / "shared" / "data" / "cifar10-jpeg" / "train"


def first_files(n):
    files = sorted(p for c in sorted(CIFAR.iterdir()) for p in c.iterdir())
    return files[:n]


def link_subset(files, dest: Path):
    for f in files:
        (dest / f.parent.name).mkdir(parents=True, exist_ok=True)
        os.symlink(f, dest / f.parent.name / f.name)


def decode_all(files):
    from PIL import Image

    out = np.empty((len(files), 3, 32, 32), np.uint8)
    for i, f in enumerate(files):
        with Image.open(f) as im:
            out[i] = np.asarray(im.convert("RGB")).transpose(2, 0, 1)
    return out


def cache_gather(images, batch, n_batches):
    """The memory-map part alone: sorted fancy indexing of uint8 rows, as BatchLoader does."""
    rng = np.random.default_rng(0)
    t = time.perf_counter()
    for _ in range(n_batches):
        idx = np.sort(rng.choice(len(images), batch, replace=False))
        x = np.ascontiguousarray(images[idx])
    assert x.shape[0] == batch
    return n_batches * batch / (time.perf_counter() - t)


def cache_reads(images, batch, n_batches, device):
    from gannorm.data import BatchLoader

    loader = BatchLoader(images, np.arange(len(images)), batch, seed=0, device=torch.device(device))
    t = time.perf_counter()
    for _ in range(n_batches):
        x, _ = loader.next()
    if x.is_cuda:
        torch.cuda.synchronize()
    return n_batches * batch / (time.perf_counter() - t)


def train_rate(root, batch, steps, device):
    from gannorm import config
    from gannorm.training import Trainer

    cfg = config.load(None, ["data.name=folder", f"data.root={root}", "model.name=dcgan", "model.base_features=64",
                             "g_norm=weight", "d_norm=weight", f"train.batch_size={batch}", f"train.device={device}",
                             "eval.test_interval=0", "data.holdout=200"])
    with tempfile.TemporaryDirectory() as rd:
        t = Trainer(cfg, rd, quiet=True)
        t.step()  # warm-up
        start = time.perf_counter()
        for _ in range(steps):
            t.step()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        return steps * batch / (time.perf_counter() - start)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="where the batches go and the model trains (cpu, cuda)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    if not CIFAR.is_dir():
        sys.exit(f"needs {CIFAR}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ["GANNORM_CACHE"] = str(tmp / "cache")
        os.environ["GANNORM_DECODE_WORKERS"] = str(a.workers)
        files = first_files(a.n)
        link_subset(files, tmp / "imgs")
        from gannorm.data.folder import folder

        rows = {"JPEG decode per batch (PIL, 1 thread)": [], "cache build (data prepare)": [],
                "cache gather (uint8 memmap rows)": [], "cache batches (BatchLoader: gather+float)": [],
                "training (DCGAN WN 32px)": []}
        for r in range(a.rounds):
            t = time.perf_counter()
            decoded = decode_all(files)
            rows["JPEG decode per batch (PIL, 1 thread)"].append(len(files) / (time.perf_counter() - t))
            for p in (tmp / "cache").glob("*") if (tmp / "cache").exists() else []:
                for q in p.iterdir():
                    q.unlink()
                p.rmdir()
            t = time.perf_counter()
            data = folder(str(tmp / "imgs"), quiet=True)
            rows["cache build (data prepare)"].append(len(files) / (time.perf_counter() - t))
            data = folder(str(tmp / "imgs"), quiet=True)  # reopened as a memory map, as training does
            assert isinstance(data.images, np.memmap) and np.array_equal(np.asarray(data.images), decoded)
            rows["cache gather (uint8 memmap rows)"].append(cache_gather(data.images, a.batch, 300))
            rows["cache batches (BatchLoader: gather+float)"].append(cache_reads(data.images, a.batch, 300, a.device))
            rows["training (DCGAN WN 32px)"].append(train_rate(tmp / "imgs", a.batch, a.steps, a.device))
    med = {k: statistics.median(v) for k, v in rows.items()}
    train = med["training (DCGAN WN 32px)"]
    jpeg = med["JPEG decode per batch (PIL, 1 thread)"]
    print(f"{a.n} CIFAR-10 JPEGs (32x32), batch {a.batch}, torch threads {torch.get_num_threads()}, "
          f"{a.rounds} rounds (median), device {a.device}")
    print(f"{'pipeline':42s} {'images/s':>12s} {'x JPEG decode':>14s} {'x training':>11s}")
    for k, v in med.items():
        print(f"{k:42s} {v:12.0f} {v / jpeg:14.2f} {v / train:11.2f}")


if __name__ == "__main__":
    main()
