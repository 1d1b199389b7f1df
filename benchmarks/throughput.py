"""Training throughput (images/s) of gannorm's step against a plain PyTorch loop, per model
x normalization, with and without the fast settings; torch's own spectral_norm for SN's
cost; a peer GAN library where one still runs on current torch.

    python benchmarks/throughput.py [--device cpu|cuda] [--models dcgan] [--norms none,batch,weight,spectral]
                                    [--size 32] [--batch 64] [--fast channels_last,foreach,compile]
                                    [--threads 1 --clock cpu] [--iters 3 --rounds 3] [--peer]

Variants of every (model, norm) cell, all on the SAME G and D modules (built by
gannorm.models, so the networks are identical and only the loop differs):

- ``plain``       a hand-written loop: batch, G(z), D(real), D(fake), softplus losses,
                  RMSProp -- no gannorm training code (the baseline of the ratios);
- ``gannorm``     ``Trainer.step`` with default settings;
- ``plain+fast``  the hand-written loop with the fast settings applied by hand
                  (channels_last / foreach / torch.compile / autocast);
- ``gannorm+fast`` ``Trainer.step`` with the same settings as config keys.

Extra rows: for ``spectral``, ``torch-sn`` is the plain loop on the same network with
torch.nn.utils.parametrizations.spectral_norm instead of gannorm's SN (same layers, one
power iteration); for dcgan/none, ``handwritten`` is a DCGAN written with nn.Sequential
(benchmarks/train_step.py) to show gannorm's network itself costs nothing extra;
``--peer`` tries the peer libraries in PEERS and prints why each cannot run.

Timing: variants are interleaved round by round (load on a shared machine hits all
alike), median seconds per iteration; ``--clock cpu`` uses this process's CPU time
(robust on a busy machine; use with --threads 1). On CUDA the clock is wall time after
torch.cuda.synchronize(). Targets: CPU, gannorm+fast <= 1.05x plain+fast's
time; GPU, gannorm+fast >= 1.3x plain's images/s.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import sys
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import add_timing_args, set_threads, time_variants  # noqa: E402
from train_step import plain_dcgan  # noqa: E402  (the hand-written DCGAN of train_step.py)

from gannorm import config  # noqa: E402
from gannorm.data import reference_images  # noqa: E402
from gannorm.models import build_models  # noqa: E402
from gannorm.nn.prepare import prepare_norms  # noqa: E402
from gannorm.training import Trainer  # noqa: E402

#: peer GAN libraries that were tried (see RESULTS.md): pip name -> import name. Only torchgan
#: both imports on torch 2.14 and lets its trainer drive any network (torch-mimicry 0.1.16:
#: ``No module named 'torch._six'``; lightning-bolts' and pytorch-gan-zoo's DCGANs are fixed networks).
PEERS = {"torch-mimicry==0.1.16": "torch_mimicry", "torchgan==0.1.0": "torchgan"}


# ----------------------------------------------------------------------------- variants
def fast_settings(names, device):
    """Config overrides for the fast settings named on the command line."""
    out = []
    for n in names:
        if n == "channels_last":
            out.append("channels_last=true")
        elif n == "foreach":
            out.append("optim.impl=foreach")
        elif n == "fused":
            out.append("optim.impl=fused")
        elif n.startswith("compile"):
            out.append("compile=" + (n.split("=", 1)[1] if "=" in n else "default"))
        elif n.startswith("amp="):
            out.append("train." + n)
        else:
            raise SystemExit(f"unknown fast setting {n!r}: channels_last, foreach, fused, compile[=MODE], amp=bf16|fp16")
    return out


def base_overrides(model, norm, a):
    return [f"model.name={model}", f"g_norm={norm}", f"d_norm={norm}", f"data.image_size={a.size}",
            "data.channels=3", f"batch_size={a.batch}", f"base_features={a.features}", f"z_dim={a.z}",
            "test_interval=0", "sample_every=0", "n_samples=4", f"device={a.device}"]


def gannorm_step(model, norm, a, fast, tmp):
    cfg = config.load(None, base_overrides(model, norm, a) + fast)
    t = Trainer(cfg, Path(tmp) / f"{model}-{norm}-{len(fast)}", quiet=True)
    return t.step


def batch_source(a, device, out_range):
    """Random real batches in G's output range (the network's cost does not depend on content)."""
    images = torch.randint(0, 256, (512, 3, a.size, a.size), dtype=torch.uint8, device=device)
    lo, hi = out_range
    return lambda: images[torch.randint(len(images), (a.batch,), device=device)].float().mul_((hi - lo) / 255).add_(lo)


def plain_step(G, D, a, device, *, channels_last=False, foreach=None, compile_mode=None, amp=None,
               out_range=(0.0, 1.0)):
    """One hand-written iteration on the given modules (see the module docstring)."""
    G.to(device)
    D.to(device)
    cl = torch.channels_last
    if channels_last:
        G.to(memory_format=cl)
        D.to(memory_format=cl)
    og = torch.optim.RMSprop(G.parameters(), lr=1e-4, alpha=0.9, eps=1e-6, foreach=foreach)
    od = torch.optim.RMSprop(D.parameters(), lr=1e-4, alpha=0.9, eps=1e-6, foreach=foreach)
    g = torch.compile(G) if compile_mode else G
    d = torch.compile(D) if compile_mode else D
    next_batch = batch_source(a, device, out_range)

    def autocast():
        return torch.autocast(device.type, dtype=amp) if amp is not None else contextlib.nullcontext()

    def step():
        real = next_batch()
        if channels_last:
            real = real.contiguous(memory_format=cl)
        with autocast():
            with torch.no_grad():
                fake = g(torch.randn(a.batch, a.z, device=device))
            loss = F.softplus(-d(real).float()).mean() + F.softplus(d(fake).float()).mean()
        od.zero_grad(set_to_none=True)
        loss.backward()
        od.step()
        D.requires_grad_(False)
        with autocast():
            gl = F.softplus(-d(g(torch.randn(a.batch, a.z, device=device))).float()).mean()
        og.zero_grad(set_to_none=True)
        gl.backward()
        og.step()
        D.requires_grad_(True)
    return step


def gannorm_modules(model, norm, a):
    cfg = config.load(None, base_overrides(model, norm, a))
    G, D = build_models(cfg.model, a.size, 3)
    images = torch.randint(0, 256, (64, 3, a.size, a.size), dtype=torch.uint8).numpy()
    prepare_norms(G, D, reference_images(images, range(64), G.output_range))
    return G, D


def with_torch_sn(model, a):
    """The ``none`` network with torch's spectral_norm on the layers gannorm's SN wraps."""
    from torch.nn.utils.parametrizations import spectral_norm

    torch.manual_seed(0)
    G, D = gannorm_modules(model, "none", a)
    for net in (G, D):
        for m in list(net.modules()):
            if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.Linear)):
                spectral_norm(m)
    return G, D


def peer_status():
    """{pip name: "ok" or why it cannot be imported here}."""
    out = {}
    for pip_name, mod in PEERS.items():
        try:
            importlib.import_module(mod)
            out[pip_name] = "ok"
        except Exception as e:  # noqa: BLE001  (a broken import raises anything)
            out[pip_name] = f"{type(e).__name__}: {str(e).splitlines()[0]}"
    return out


def torchgan_step(G, D, a, device, tmp, out_range=(0.0, 1.0)):
    """torchgan 0.1.0's own Trainer.train_iter (its G then D updates, its losses) driving the
    same G and D: the peer's loop on our network. Its full ``Trainer.__call__`` crashes on
    torchvision 0.29 (make_grid(range=...)); train_iter is what it runs per batch."""
    import os

    os.environ.setdefault("TENSORBOARD_LOGGING", "0")
    os.environ.setdefault("VISDOM_LOGGING", "0")
    from torchgan.losses import MinimaxDiscriminatorLoss, MinimaxGeneratorLoss
    from torchgan.models import Discriminator, Generator
    from torchgan.trainer import Trainer as TGTrainer

    class Gw(Generator):
        def __init__(self, net):
            super().__init__(net.z_dim)
            self.net = net

        def forward(self, z):
            return self.net(z)

    class Dw(Discriminator):
        def __init__(self, net):
            super().__init__(3)
            self.net = net

        def forward(self, x):
            return self.net(x).view(-1)

    rms = {"name": torch.optim.RMSprop, "args": {"lr": 1e-4, "alpha": 0.9, "eps": 1e-6}}
    tr = TGTrainer({"generator": {"name": Gw, "args": {"net": G}, "optimizer": rms},
                    "discriminator": {"name": Dw, "args": {"net": D}, "optimizer": rms}},
                   [MinimaxGeneratorLoss(), MinimaxDiscriminatorLoss()], device=device,
                   checkpoints=f"{tmp}/torchgan/gan", recon=f"{tmp}/torchgan/images")
    tr.batch_size = a.batch
    next_batch = batch_source(a, device, out_range)

    def step():
        tr.real_inputs = next_batch()
        tr.train_iter()
    return step


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--models", default="dcgan", help="comma list of MODELS names (dcgan, resnet_wn, sngan_cnn, ...)")
    ap.add_argument("--norms", default="none,batch,weight,spectral")
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--features", type=int, default=64)
    ap.add_argument("--z", type=int, default=128)
    ap.add_argument("--fast", default="channels_last,foreach,compile",
                    help="comma list: channels_last, foreach, fused, compile[=MODE], amp=bf16|fp16")
    add_timing_args(ap, iters=3, rounds=3, warmup=3)
    ap.add_argument("--peer", action="store_true",
                    help="add torchgan's trainer on the same network (pip install --no-deps torchgan==0.1.0)")
    a = ap.parse_args()
    set_threads(a)
    device = torch.device(a.device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit("--device cuda but no CUDA GPU is visible")
        a.clock = "wall"

        def sync():
            torch.cuda.synchronize()
    else:
        def sync():
            pass
    fast_names = [f for f in a.fast.split(",") if f]
    fast = fast_settings(fast_names, device)
    amp = next((torch.bfloat16 if f.endswith("bf16") else torch.float16 for f in fast_names if f.startswith("amp=")),
               None)
    plain_fast = dict(channels_last="channels_last" in fast_names,
                      foreach=True if "foreach" in fast_names else None,
                      compile_mode=next((f for f in fast_names if f.startswith("compile")), None), amp=amp)
    tmp = tempfile.mkdtemp()
    dev_name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)"
    print(f"# throughput: {a.size}x{a.size}, batch {a.batch}, base features {a.features}, z {a.z}, RMSProp, "
          f"nonsaturating loss; torch {torch.__version__}; device {dev_name}; {a.clock} clock; median of "
          f"{a.rounds} rounds x {a.iters} iterations after {a.warmup} warm-up; fast = {','.join(fast_names)}")
    peers = peer_status() if a.peer else {}
    for name, why in peers.items():
        print(f"# peer {name}: {'runs (row torchgan)' if why == 'ok' else 'cannot run: ' + why}")
    print(f"{'model':12s} {'norm':9s} {'variant':13s} {'s/iter':>9s} {'img/s':>9s} {'vs plain':>9s} "
          f"{'vs plain+fast':>13s}")
    verdicts = []
    for model in a.models.split(","):
        for norm in a.norms.split(","):
            torch.manual_seed(0)
            G, D = gannorm_modules(model, norm, a)
            steps = {"plain": plain_step(G, D, a, device, out_range=G.output_range)}
            G2, D2 = gannorm_modules(model, norm, a)
            steps["plain+fast"] = plain_step(G2, D2, a, device, out_range=G2.output_range, **plain_fast)
            steps["gannorm"] = gannorm_step(model, norm, a, [], tmp)
            steps["gannorm+fast"] = gannorm_step(model, norm, a, fast, tmp)
            if norm == "spectral":
                Gs, Ds = with_torch_sn(model, a)
                steps["torch-sn"] = plain_step(Gs, Ds, a, device, out_range=Gs.output_range)
            if model == "dcgan" and norm == "none":
                Gh, Dh = plain_dcgan(a.size, 3, a.features, a.z)
                steps["handwritten"] = plain_step(Gh, Dh, a, device)
            if a.peer and peers["torchgan==0.1.0"] == "ok":
                Gp, Dp = gannorm_modules(model, norm, a)
                steps["torchgan"] = torchgan_step(Gp, Dp, a, device, tmp, out_range=Gp.output_range)
            med = time_variants(steps, a, sync)
            for k, v in med.items():
                print(f"{model:12s} {norm:9s} {k:13s} {v:9.4f} {a.batch / v:9.1f} {v / med['plain']:9.3f} "
                      f"{v / med['plain+fast']:13.3f}", flush=True)
            verdicts.append((model, norm, med["gannorm+fast"] / med["plain+fast"], med["plain"] / med["gannorm+fast"],
                             med["gannorm"] / med["plain"]))
    print()
    print(f"{'model':12s} {'norm':9s} {'gannorm/plain':>13s} {'fast: gannorm/plain':>19s} {'speed-up':>9s}")
    for model, norm, overhead, speedup, base in verdicts:
        print(f"{model:12s} {norm:9s} {base:13.3f} {overhead:19.3f} {speedup:8.2f}x")
    worst = max(v[2] for v in verdicts)
    if device.type == "cpu":
        print(f"target (CPU) gannorm+fast <= 1.05x plain+fast time: worst {worst:.3f} "
              f"({'met' if worst <= 1.05 else 'NOT met'})")
    else:
        least = min(v[3] for v in verdicts)
        print(f"target (GPU) gannorm+fast >= 1.3x plain images/s: least {least:.2f}x "
              f"({'met' if least >= 1.3 else 'NOT met'})")


if __name__ == "__main__":
    main()
