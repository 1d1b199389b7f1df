"""Time one training iteration of the paper's DCGAN: gannorm (none / batch / weight) vs a
plain hand-written PyTorch DCGAN loop of the same shape, measured in the same run.

    python benchmarks/train_step.py [--size 64] [--batch 64] [--iters 6] [--rounds 3]

Baseline: ``plain`` below, nn.Conv2d/ConvTranspose2d + PReLU + BCE-with-logits + RMSProp,
written without any gannorm code, the same layer shapes as gannorm's ``none`` network.
Variants are interleaved round by round (so load on a shared machine hits all alike) and
the median seconds per iteration is reported. Targets: every normalization
within 1.25x of the plain loop; weight norm's overhead over none under 15%.
"""
from __future__ import annotations

import argparse
import tempfile

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from timing import add_timing_args, set_threads, time_variants

from gannorm import config
from gannorm.training import Trainer


def plain_dcgan(size, ch, nf, nz):
    n, s = 0, size
    while s >= 8:
        s, n = (s + 1) // 2, n + 1
    d_layers, f_prev, f = [], ch, nf
    for _ in range(n):
        d_layers += [nn.Conv2d(f_prev, f, 4, 2, 1), nn.PReLU(f)]
        f_prev, f = f, f * 2
    D = nn.Sequential(*d_layers, nn.Conv2d(f_prev, 1, s), nn.Flatten())
    top = nf * 2 ** (n - 1)
    g_layers, f = [], top
    for _ in range(n - 1):
        g_layers += [nn.ConvTranspose2d(f, f // 2, 4, 2, 1), nn.PReLU(f // 2)]
        f //= 2
    G = nn.Sequential(nn.Linear(nz, top * s * s), nn.Unflatten(1, (top, s, s)), nn.PReLU(top), *g_layers,
                      nn.ConvTranspose2d(f, ch, 4, 2, 1), nn.Sigmoid())
    return G, D


def plain_step_fn(images, size, batch, nf, nz):
    G, D = plain_dcgan(size, images.shape[1], nf, nz)
    og = torch.optim.RMSprop(G.parameters(), lr=1e-4, alpha=0.9, eps=1e-6)
    od = torch.optim.RMSprop(D.parameters(), lr=1e-4, alpha=0.9, eps=1e-6)
    rng = np.random.default_rng(0)

    def step():
        idx = np.sort(rng.choice(len(images), batch, replace=False))
        real = torch.from_numpy(images[idx]).float().div_(255)
        with torch.no_grad():
            fake = G(torch.randn(batch, nz))
        dr, df = D(real), D(fake)
        loss = F.binary_cross_entropy_with_logits(dr, torch.ones_like(dr)) + \
            F.binary_cross_entropy_with_logits(df, torch.zeros_like(df))
        od.zero_grad(set_to_none=True)
        loss.backward()
        od.step()
        D.requires_grad_(False)
        out = D(G(torch.randn(batch, nz)))
        gl = F.binary_cross_entropy_with_logits(out, torch.ones_like(out))
        og.zero_grad(set_to_none=True)
        gl.backward()
        og.step()
        D.requires_grad_(True)
    return step


def gannorm_step_fn(norm, size, batch, nf, nz, tmp):
    cfg = config.load(None, [f"g_norm={norm}", f"d_norm={norm}", f"data.image_size={size}", "data.channels=3",
                             f"batch_size={batch}", f"base_features={nf}", f"z_dim={nz}", "test_interval=0",
                             "sample_every=0", "device=cpu"])
    t = Trainer(cfg, f"{tmp}/{norm}", quiet=True)
    return t.step, t.data.images


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--features", type=int, default=64)
    ap.add_argument("--z", type=int, default=128)
    ap.add_argument("--norms", default="none,batch,weight")
    add_timing_args(ap, iters=6)
    a = ap.parse_args()
    set_threads(a)
    tmp = tempfile.mkdtemp()
    torch.manual_seed(0)
    steps = {}
    images = None
    for norm in a.norms.split(","):
        steps[norm], images = gannorm_step_fn(norm, a.size, a.batch, a.features, a.z, tmp)
    steps = {"plain": plain_step_fn(np.ascontiguousarray(images), a.size, a.batch, a.features, a.z), **steps}
    med = time_variants(steps, a)
    print(f"DCGAN {a.size}x{a.size}, batch {a.batch}, base features {a.features}, z {a.z}; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, device cpu, {a.clock} clock; "
          f"median of {a.rounds} rounds x {a.iters} iterations")
    print(f"{'variant':10s} {'s/iter':>9s} {'vs plain':>9s} {'vs none':>8s}")
    for k, v in med.items():
        vs_none = f"{v / med['none']:.3f}" if "none" in med else "-"
        print(f"{k:10s} {v:9.4f} {v / med['plain']:9.3f} {vs_none:>8s}")
    ok = all(med[k] <= 1.25 * med["plain"] for k in med if k != "plain")
    print(f"target every norm <= 1.25x plain: {'met' if ok else 'NOT met'}")
    if "weight" in med and "none" in med:
        print(f"target weight/none < 1.15: {med['weight'] / med['none']:.3f} "
              f"({'met' if med['weight'] < 1.15 * med['none'] else 'NOT met'})")


if __name__ == "__main__":
    main()
