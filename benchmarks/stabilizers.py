"""Per-iteration overhead of each stabilizer switch: one gannorm training step of the
DCGAN on the bundled Fashion-MNIST with the switch on, against the same step with none,
measured in the same run (variants interleaved round by round, median seconds per step).

    python benchmarks/stabilizers.py [--batch 32] [--features 32] [--iters 5] [--rounds 3] \
        [--threads 1] [--clock cpu]

No target: the table says what each switch costs, so a user can weigh it.
"""
from __future__ import annotations

import argparse
import tempfile
import warnings

import torch

from timing import add_timing_args, set_threads, time_variants

import gannorm.plugins  # noqa: F401
from gannorm import config
from gannorm.training import Trainer

VARIANTS = {
    "none": [],
    "diffaugment": ["train.tricks.diffaugment={}"],
    "ada (p=0.5)": ["train.tricks.ada={p: 0.5}"],
    "ada (p=0)": ["train.tricks.ada={}"],
    "lecam": ["train.tricks.lecam={}"],
    "lecam+diffaugment": ["train.tricks={lecam: {}, diffaugment: {}}"],
    "bcr": ["train.tricks.bcr={}"],
    "zcr": ["train.tricks.zcr={}"],
    "r1": ["train.tricks.r1={}"],
    "r1 lazy (k=16)": ["train.tricks.r1={every: 16}"],
    "r2": ["train.tricks.r2={}"],
    "linear lr schedule": ["optim.g_schedule=linear", "optim.d_schedule=linear"],
    "data.xflip": ["data.xflip=true"],
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--features", type=int, default=32)
    ap.add_argument("--only", default=None, help="comma-separated variant names (none is always included)")
    add_timing_args(ap, iters=5)
    a = ap.parse_args()
    set_threads(a)
    tmp = tempfile.mkdtemp()
    names = ["none"] + [n for n in VARIANTS if n != "none" and (a.only is None or n in a.only.split(","))]
    steps = {}
    for name in names:
        cfg = config.load(None, [f"batch_size={a.batch}", f"base_features={a.features}", "test_interval=0",
                                 "sample_every=0", "device=cpu", "train.iterations=1000000", *VARIANTS[name]])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = Trainer(cfg, f"{tmp}/{len(steps)}", quiet=True)

        def step(t=t):
            t.step()
            t.iteration += 1
        steps[name] = step
    med = time_variants(steps, a)
    print(f"DCGAN 28x28 (bundled Fashion-MNIST), batch {a.batch}, base features {a.features}; torch "
          f"{torch.__version__}, {torch.get_num_threads()} threads, cpu, {a.clock} clock; median of {a.rounds} rounds "
          f"x {a.iters} steps")
    print(f"| switch | s/step | vs none |\n|---|---:|---:|")
    for k, v in med.items():
        print(f"| {k} | {v:.4f} | {v / med['none']:.2f} |")


if __name__ == "__main__":
    main()
