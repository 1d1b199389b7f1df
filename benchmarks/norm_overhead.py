"""Per-iteration cost of each D normalization of the paper's DCGAN, relative to ``none``,
and GraN relative to a WGAN-GP iteration of the same network, all measured in one run.

    python benchmarks/norm_overhead.py [--size 64] [--batch 64] [--iters 3] [--rounds 3]
                                       [--norms spectral,bssn,gran] [--threads N] [--clock cpu]

One iteration = what the trainer does: one D step (G(z) without grad, D(real), D(fake),
BCE-with-logits, RMSProp step), then one G step (D's weights frozen). G is the plain
(``none``) network throughout, so only D's normalization differs. ``wgan-gp`` is the
``none`` network with the WGAN loss plus Gulrajani et al.'s penalty
lambda (||grad D(x_hat)|| - 1)^2, x_hat = e x + (1 - e) x_fake, lambda = 10, computed here
(one D step per G step, to compare per iteration with GraN).

Variants are interleaved round by round so machine load hits all alike; the median seconds
per iteration is reported. Targets: spectral and bssn under 10% over none at
64 px, batch 64; gran within 1.5x of wgan-gp.
"""
from __future__ import annotations

import argparse

import numpy as np
import torch
import torch.nn.functional as F

from timing import add_timing_args, set_threads, time_variants

from gannorm.config import ModelConfig
from gannorm.data import reference_images
from gannorm.models.build import build_models
from gannorm.nn.prepare import prepare_norms

ALL = ["none", "spectral", "bssn", "spectral_strict", "gran", "gngan", "layer", "instance", "group",
       "virtual_batch", "batch", "weight", "wgan-gp"]


def gradient_penalty(D, real, fake, lam=10.0):
    e = torch.rand(real.shape[0], 1, 1, 1)
    x = (e * real + (1 - e) * fake).requires_grad_(True)
    (g,) = torch.autograd.grad(D(x).sum(), x, create_graph=True)
    return lam * (g.flatten(1).norm(dim=1) - 1).square().mean()


def make_step(variant, images, size, batch, nf, nz):
    norm = "none" if variant == "wgan-gp" else variant
    G, D = build_models(ModelConfig(z_dim=nz, base_features=nf, g_norm="none", d_norm=norm), size, 3)
    prepare_norms(G, D, reference_images(images, np.arange(len(images))), seed=0)
    og = torch.optim.RMSprop(G.parameters(), lr=1e-4, alpha=0.9, eps=1e-6)
    od = torch.optim.RMSprop(D.parameters(), lr=1e-4, alpha=0.9, eps=1e-6)
    real_all = torch.from_numpy(images).float() / 255.0
    gen = np.random.default_rng(0)

    def step():
        real = real_all[gen.integers(0, len(real_all), batch)]
        D.requires_grad_(True)
        with torch.no_grad():
            fake = G(torch.randn(batch, nz))
        d_real, d_fake = D(real), D(fake)
        if variant == "wgan-gp":
            d_loss = d_fake.mean() - d_real.mean() + gradient_penalty(D, real, fake)
        else:
            d_loss = F.softplus(-d_real).mean() + F.softplus(d_fake).mean()
        od.zero_grad(set_to_none=True)
        d_loss.backward()
        od.step()
        D.requires_grad_(False)
        out = D(G(torch.randn(batch, nz)))
        g_loss = -out.mean() if variant == "wgan-gp" else F.softplus(-out).mean()
        og.zero_grad(set_to_none=True)
        g_loss.backward()
        og.step()

    return step


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--features", type=int, default=64, help="D's first-layer channels (paper code: 64)")
    ap.add_argument("--z", type=int, default=128)
    ap.add_argument("--norms", default=",".join(ALL), help="comma-separated subset of: " + ", ".join(ALL))
    add_timing_args(ap, iters=3)
    args = ap.parse_args()
    set_threads(args)
    variants = [v.strip() for v in args.norms.split(",") if v.strip()]
    for must in ("none", "wgan-gp"):
        if must not in variants and ("gran" in variants or must == "none"):
            variants.insert(0, must)
    torch.manual_seed(0)
    images = np.random.default_rng(0).integers(0, 256, (512, 3, args.size, args.size), dtype=np.uint8)
    steps = {v: make_step(v, images, args.size, args.batch, args.features, args.z) for v in variants}
    med = time_variants(steps, args)
    print(f"DCGAN training step, {args.size}x{args.size}, batch {args.batch}, D features {args.features}, "
          f"torch threads {torch.get_num_threads()}, {args.clock} clock, {args.rounds} rounds x {args.iters} "
          f"iterations, median")
    print(f"{'d_norm':<16}{'s/iter':>9}{'vs none':>9}{'vs wgan-gp':>12}")
    for v in variants:
        gp = f"{med[v] / med['wgan-gp']:.2f}x" if "wgan-gp" in med else "-"
        print(f"{v:<16}{med[v]:>9.3f}{med[v] / med['none']:>8.2f}x{gp:>12}")
    checks = []
    for v in ("spectral", "bssn"):
        if v in med:
            checks.append((f"{v} overhead < 10%", med[v] / med["none"] - 1, med[v] / med["none"] < 1.10))
    if "gran" in med and "wgan-gp" in med:
        checks.append(("gran <= 1.5x wgan-gp", med["gran"] / med["wgan-gp"], med["gran"] / med["wgan-gp"] <= 1.5))
    for name, val, ok in checks:
        print(f"target {name}: {val:+.3f} {'OK' if ok else 'MISSED'}" if "overhead" in name
              else f"target {name}: {val:.2f}x {'OK' if ok else 'MISSED'}")


if __name__ == "__main__":
    main()
