"""Speed of the reconstruction test: ours vs the authors' way vs the floor, in one run.

Workload: the paper's DCGAN (Xiang & Li 2017, authors' code layout) at 32x32x3 with weight
normalization, z 128, 64 base features, untrained (speed does not depend on the weights);
2000 target images: the bundled Fashion-MNIST data resized to 32x32 and made RGB.

Rows, seconds per z-optimisation step for all 2000 images (min over --repeats runs of
--steps timed steps, after one warm-up run; for ours and the authors' the marginal cost
of a step, T(1 + steps) - T(1), so setup and the final scoring forward are left out):
  authors   their test(): batches of 32 one after another, batch-mean MSE, RMSProp each
  ours      gannorm.metrics.reconstruction_error at several chunk sizes (auto = default)
  floor     one forward + backward of G (w.r.t. z only, weights frozen) per step at the best
            batch size, no loss bookkeeping, no optimizer: the least a step can cost
Optional rows (--extras): ours with G in channels_last; ours with torch.compile(G).

    python benchmarks/recon.py [--steps 3] [--repeats 2] [--extras] [--device cuda]
"""
from __future__ import annotations

import argparse
import time

import torch
import torch.nn as nn


def build(n_images: int):
    from gannorm.config import DataConfig, ModelConfig
    from gannorm.data import load_data
    from gannorm.models import build_models

    data = load_data(DataConfig(image_size=32, channels=3), quiet=True)
    imgs = torch.from_numpy(data.images[:n_images].copy())
    torch.manual_seed(0)
    g, _ = build_models(ModelConfig(z_dim=128, base_features=64, g_norm="weight", d_norm="weight"), 32, 3)
    return g.eval().requires_grad_(False), imgs


def authors(g, x, steps, batch=32):
    """Transcription of the authors' test() loop (stormraiser/GAN-weight-norm pytorch/main.py)."""
    total = 0.0
    for i in range(0, len(x), batch):
        target = x[i:i + batch]
        code = torch.zeros(len(target), g.z_dim, device=target.device, requires_grad=True)
        opt = torch.optim.RMSprop([code], lr=0.01, eps=1e-6, alpha=0.9)
        for _ in range(steps):
            loss = nn.functional.mse_loss(g(code), target)
            loss.backward()
            opt.step()
            code.grad.zero_()
        with torch.no_grad():
            total += nn.functional.mse_loss(g(code), target).item() * len(target)
    return total / len(x)


def floor(g, n, steps, batch):
    z = torch.zeros(n, g.z_dim, device=next(g.parameters()).device)
    for _ in range(steps):
        for i in range(0, n, batch):
            zc = z[i:i + batch].requires_grad_(True)
            g(zc).sum().backward()


def timed(fn, steps, repeats, marginal=True):
    """Min over repeats of the seconds per step. ``marginal``: (T(1 + steps) - T(1)) / steps,
    so one-off work (setup, the final scoring forward) is not counted as step time."""
    if torch.cuda.is_available():  # time finished work, not queued kernels
        fn = (lambda f: lambda k: (f(k), torch.cuda.synchronize()))(fn)
    fn(1)  # warm-up: allocator, kernels, lazy init
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        if marginal:
            fn(1)
        t1 = time.perf_counter()
        fn(steps + marginal)
        t2 = time.perf_counter()
        best = min(best, ((t2 - t1) - (t1 - t0)) / steps)
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-images", type=int, default=2000)
    ap.add_argument("--steps", type=int, default=3, help="timed steps per measurement")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--chunks", default="250,2000", help="chunk sizes of ours to time, besides auto")
    ap.add_argument("--floor-batches", default="250,auto,2000")
    ap.add_argument("--extras", action="store_true", help="also time channels_last and torch.compile")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    a = ap.parse_args()
    dev = torch.device(a.device)
    if a.threads:
        torch.set_num_threads(a.threads)

    from gannorm.metrics.reconstruction import auto_chunk_size, reconstruction_error

    g, imgs = build(a.n_images)
    g, imgs = g.to(dev), imgs.to(dev)
    x = imgs.float() / 255
    n = len(imgs)
    print(f"torch {torch.__version__}, {dev}, {torch.get_num_threads()} threads, {n} images 3x32x32, "
          f"DCGAN WN z128 f64; s/step = min of {a.repeats} x {a.steps} steps")
    class Rows(list):
        def append(self, row):  # progress as we go: the whole run takes minutes
            print(f"  {row[0]}: {row[1]:.3f} s/step", flush=True)
            super().append(row)

    rows = Rows()

    def ours(chunk, gen=g):
        return lambda k: reconstruction_error(gen, imgs, steps=k, chunk_size=chunk)

    rows.append(("authors (32 at a time)", timed(lambda k: authors(g, x, k), a.steps, a.repeats)))
    auto = auto_chunk_size(g, n, dev)
    batches = [auto if b == "auto" else int(b) for b in a.floor_batches.split(",")]
    floors = {b: timed(lambda k, b=b: floor(g, n, k, b), a.steps, a.repeats, marginal=False) for b in batches}
    for b, t in floors.items():
        rows.append((f"floor fwd+bwd, batch {b}", t))
    fb = min(floors, key=floors.get)
    for c in [auto] + [int(c) for c in a.chunks.split(",") if int(c) != auto]:
        rows.append((f"ours chunk {c}{' (auto)' if c == auto else ''}", timed(ours(c), a.steps, a.repeats)))
    if a.extras:
        g_cl = g.to(memory_format=torch.channels_last)
        rows.append((f"ours chunk {auto}, channels_last", timed(ours(auto, g_cl), a.steps, a.repeats)))
        g.to(memory_format=torch.contiguous_format)
        try:
            gc = torch.compile(g)
            gc.z_dim, gc.output_range = g.z_dim, g.output_range
            t0 = time.perf_counter()
            reconstruction_error(gc, imgs[:auto], steps=1, chunk_size=auto)
            print(f"torch.compile: first call {time.perf_counter() - t0:.0f} s")
            rows.append((f"ours chunk {auto}, torch.compile", timed(ours(auto, gc), a.steps, a.repeats)))
        except Exception as e:  # no compiler, no triton...: report, do not fail the benchmark
            print(f"torch.compile unavailable: {type(e).__name__}: {str(e).splitlines()[0][:120]}")

    base_a, base_f = rows[0][1], floors[fb]
    print(f"\n{'method':<34} {'s/step':>8} {'vs authors':>11} {'vs floor':>9}")
    for name, t in rows:
        print(f"{name:<34} {t:>8.3f} {base_a / t:>10.2f}x {t / base_f:>8.2f}x")
    best = min((r for r in rows if r[0].startswith("ours")), key=lambda r: r[1])
    print(f"\nbest ours: {best[0]}: {base_a / best[1]:.2f}x faster than the authors' way, "
          f"{best[1] / base_f:.2f}x the floor (batch {fb}); targets: >= 1x and <= 1.2x")


if __name__ == "__main__":
    main()
