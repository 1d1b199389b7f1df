"""Will it fit? A memory estimate before a run starts, and one line instead of a dead process.

The kernel's out-of-memory killer ends a process without an exception to catch, so a run
whose settings cannot fit must be refused before it allocates. The estimate is a lower
bound, so it never refuses a run that would have fitted:

    bytes >= 4 * (3 * P + 2 * B * A)

with P the parameters of G and D (float32 weights, their gradients and at least one
optimizer state each), B the batch size and A the activations of one image through G and D
(every layer's output, kept for the backward pass and matched by a gradient of the same
size). P and A are counted exactly by building G and D on PyTorch's ``meta`` device, which
allocates nothing and draws no random numbers, and sending one image through them (the
activations with ``none`` normalization: norms only add to them). The available memory is
``MemAvailable`` of ``/proc/meminfo``, lowered to the cgroup's ``memory.max`` limit where a
container sets one, or the free memory of the GPU.

Errors name the setting that dominates the estimate, so the user knows what to lower.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional

import torch

from ..config import Config
from ..errors import GannormError
from ..models import build_models

BYTES = 4  # float32


def _read_int(path: str) -> Optional[int]:
    try:
        text = Path(path).read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def available_bytes(device: torch.device | str = "cpu") -> Optional[int]:
    """Memory a new allocation can still get on ``device``; None when it cannot be told."""
    device = torch.device(device)
    if device.type == "cuda":
        try:
            return int(torch.cuda.mem_get_info(device)[0])
        except (RuntimeError, AssertionError):
            return None
    if device.type != "cpu":
        return None
    avail = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                avail = int(line.split()[1]) * 1024
                break
    except (OSError, ValueError):
        pass
    if avail is None:
        try:
            import psutil

            avail = int(psutil.virtual_memory().available)
        except ImportError:
            return None
    limit, used = _read_int("/sys/fs/cgroup/memory.max"), _read_int("/sys/fs/cgroup/memory.current")
    if limit is not None and used is not None:  # a container's own limit comes first
        avail = min(avail, max(0, limit - used))
    return avail


@dataclass
class Estimate:
    parameters: int  # numbers in G and D
    activations_per_image: Optional[int]  # layer outputs of one image through G and D; None: not counted
    g_activations_per_image: Optional[int]  # through G alone (what sampling needs)
    g_parameters: int


def _count(cfg: Config, image_size: int, channels: int) -> Estimate:
    m = cfg.model
    with torch.device("meta"):
        G, D = build_models(m, image_size, channels)
        n_g = sum(p.numel() for p in G.parameters())
        n = n_g + sum(p.numel() for p in D.parameters())
        acts = None
        g_acts = None
        try:
            plain = dataclasses.replace(m, g_norm="none", d_norm="none", g_norm_args={}, d_norm_args={})
            G, D = build_models(plain, image_size, channels)
            counted = {"G": 0, "D": 0}

            def hook(name):
                def f(mod, inp, out):
                    if torch.is_tensor(out):
                        counted[name] += out.numel()
                return f

            for name, net in (("G", G), ("D", D)):
                for mod in net.modules():
                    if not any(True for _ in mod.children()):
                        mod.register_forward_hook(hook(name))
            with torch.no_grad():
                D(G(torch.zeros(1, m.z_dim)))
            acts, g_acts = counted["G"] + counted["D"], counted["G"]
        except Exception:  # a model that needs more than z (labels, a reference batch): parameters only
            pass
    return Estimate(n, acts, g_acts, n_g)


def estimate(cfg: Config, image_size: int, channels: int) -> Estimate:
    try:
        return _count(cfg, image_size, channels)
    except GannormError:
        raise
    except (RuntimeError, ValueError, TypeError, OverflowError, MemoryError):
        # a size no layer can take (torch refuses it even on meta): say so by the settings
        raise GannormError(f"the models of model.z_dim={cfg.model.z_dim}, model.base_features="
                           f"{cfg.model.base_features} at data.image_size={image_size} cannot be built; "
                           f"lower them") from None


def _gb(n: float) -> str:
    return f"{n / 2**30:.1f} GB" if n >= 2**30 else f"{n / 2**20:.0f} MB"


def check_training_fits(cfg: Config, image_size: int, channels: int, device: torch.device | str,
                        available: Optional[int] = None) -> Optional[int]:
    """Refuse, in one line naming the setting to lower, a run whose lower-bound estimate
    exceeds the available memory; returns the estimate in bytes."""
    avail = available_bytes(device) if available is None else available
    est = estimate(cfg, image_size, channels)
    params = BYTES * 3 * est.parameters
    acts = BYTES * 2 * cfg.train.batch_size * (est.activations_per_image or 0)
    need = params + acts
    if avail is None or need <= avail:
        return need
    if acts >= params:
        per = BYTES * 2 * (est.activations_per_image or 1)
        fix = (f"lower train.batch_size (at most about {max(1, (avail - params) // per):,} fit)"
               if params < avail else "lower train.batch_size, model.base_features or data.image_size")
    else:
        fix = "lower model.base_features" + (" or model.z_dim" if cfg.model.z_dim > 4096 else "") + \
              (" or data.image_size" if image_size > 256 else "")
    raise GannormError(f"this run needs at least {_gb(need)} of memory ({est.parameters:,} parameters: "
                       f"{_gb(params)}; activations of {cfg.train.batch_size:,} images of {image_size}x"
                       f"{image_size}: {_gb(acts)}) but {torch.device(device).type} has {_gb(avail)} "
                       f"available; {fix}")


def check_sampling_fits(spec: Dict, n: int, device: torch.device | str, option: str = "-n",
                        available: Optional[int] = None) -> None:
    """Refuse a grid of ``n`` images that cannot fit in memory. The images are generated in
    chunks, so what grows with ``n`` is z, the float32 images and their rescaled copies
    (``3 * 4 * C * S**2`` bytes an image), the padded three-channel grid ``save_image`` builds
    and scales (``2 * 4 * 3 * (S + 2)**2``) and its 8-bit copies (``2 * 3 * (S + 2)**2``).
    Measured: 30 kB an image for 28x28 grayscale (``/usr/bin/time`` peak between 20,000 and
    80,000 images); this formula gives 36 kB."""
    avail = available_bytes("cpu") if available is None else available
    if avail is None:
        return
    size, channels = int(spec.get("image_size") or 1), int(spec.get("channels") or 3)
    per = BYTES * int(spec.get("z_dim") or 0) + 3 * BYTES * channels * size ** 2 + 30 * (size + 2) ** 2
    if n * per > avail:
        raise GannormError(f"a grid of {n:,} images needs about {_gb(n * per)} of memory but the machine has "
                           f"{_gb(avail)} available; lower {option} (at most about {max(1, avail // per):,} fit)")
