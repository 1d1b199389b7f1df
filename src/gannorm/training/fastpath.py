"""The step's speed settings that change how G and D run, not what they compute.

- ``train.channels_last``: G, D and every batch in NHWC memory format. Tensor-core
  convolutions on recent GPUs want NHWC; on CPU oneDNN also prefers it.
- ``train.compile``: ``torch.compile`` of G's and D's forward for the training step. The
  compiled callables share parameters and buffers with the modules, so checkpoints, EMA,
  samples and the reconstruction test use the plain modules (state-dict keys unchanged,
  nothing recompiled for their shapes or eval mode).
- ``train.sync_bn``: with several processes, batch norm normalizes with the statistics of
  the global batch (``nn.SyncBatchNorm``) instead of each rank's slice; CUDA only (torch
  2.14's SyncBatchNorm refuses CPU tensors).
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn

from ..errors import GannormError


def to_channels_last(module: nn.Module) -> nn.Module:
    return module.to(memory_format=torch.channels_last)


def batch_to_channels_last(x: torch.Tensor) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x


def compiled(module: nn.Module, mode: str, backend: str = "inductor") -> Callable:
    """``module`` itself when mode is off, else ``torch.compile(module)`` sharing its weights."""
    if mode == "off":
        return module
    kw = {} if mode == "default" or backend != "inductor" else {"mode": mode}
    return torch.compile(module, backend=backend, **kw)


def compile_error(exc: BaseException, mode: str) -> GannormError | None:
    """A one-line error for a failed torch.compile, or None when ``exc`` is something else."""
    mod = type(exc).__module__ or ""
    if not (mod.startswith("torch._dynamo") or mod.startswith("torch._inductor")):
        return None
    def first_line(e):
        return next((ln.strip() for ln in str(e).splitlines() if ln.strip()), type(e).__name__)

    what = first_line(exc)
    cause = getattr(exc, "inner_exception", None) or exc.__cause__
    if cause is not None:  # dynamo's own line is "backend=... raised:"; the reason is the cause
        what = f"{what} {type(cause).__name__}: {first_line(cause)}"
    return GannormError(f"train.compile={mode}: torch.compile failed ({what[:300]}); "
                        f"run with train.compile=off, or compile_backend=aot_eager to locate the cause")


def sync_batchnorm(module: nn.Module, device: torch.device, world: int) -> nn.Module:
    if world <= 1:
        return module  # one process: nothing to synchronize
    if device.type != "cuda":
        raise GannormError("train.sync_bn=true needs CUDA devices (torch's SyncBatchNorm refuses CPU "
                           "tensors); on CPU batch norm is per rank, set train.sync_bn=false")
    return nn.SyncBatchNorm.convert_sync_batchnorm(module)
