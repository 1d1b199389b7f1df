"""Data-parallel training with PyTorch's own torch.distributed (launched by torchrun).

    torchrun --nproc_per_node N -m gannorm train CONFIG.yaml [key=value ...]

Design (as stylegan2-ada-pytorch does for its two networks): G and D are not wrapped in
DistributedDataParallel; after each backward the gradients of the network being updated
are averaged across ranks with one all-reduce of a flattened buffer. That keeps the GAN
step (D frozen during G's step, several D steps, penalties with double backprop) exactly
as in one process, and every rank holds identical weights.

- Data: every rank draws the same global permutation and global batch (same seed) and
  keeps its slice, so an N-process run with global batch B sees the same images as a
  1-process run with batch B. z is drawn for the global batch and sliced the same way.
- Batch norm is local by default: statistics come from each rank's slice (as DDP without
  SyncBatchNorm), so results differ slightly from one process with the same global batch.
  ``train.sync_bn=true`` (CUDA only) uses nn.SyncBatchNorm: statistics of the global batch,
  as one process would compute them, at the price of one all-reduce per BN layer and pass.
- Power-iteration vectors (SN, BSSN) are updated from the weights alone, so identical
  weights keep them identical; they are broadcast from rank 0 once at the start.
- Only rank 0 writes logs, samples and checkpoints. At each sync point (iterations that
  log, test or save; the same on every rank) the losses are averaged and the first
  non-finite iteration is reduced across ranks, so all ranks stop together, never hang.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..errors import GannormError


@dataclass
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def env_rank() -> int:
    """This process's rank as torchrun sets it (0 when run alone), before any group exists."""
    return int(os.environ.get("RANK", "0"))


def init_from_env(device: torch.device) -> DistInfo:
    """Join the process group torchrun describes in the environment (or run alone)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    rank, local = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(local)
        dist.init_process_group(backend=backend)
    return DistInfo(rank, world, local)


def check_batch(batch_size: int, info: DistInfo) -> int:
    if batch_size % info.world:
        raise GannormError(f"train.batch_size={batch_size} is not divisible by the world size {info.world}; "
                           f"use a multiple of {info.world} (it is the global batch)")
    return batch_size // info.world


def broadcast_module(module: torch.nn.Module) -> None:
    for t in list(module.parameters()) + list(module.buffers()):
        dist.broadcast(t.data, src=0)


def average_gradients(module: torch.nn.Module, world: int) -> None:
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat.div_(world)
    offset = 0
    for g in grads:
        n = g.numel()
        g.copy_(flat[offset:offset + n].view_as(g))
        offset += n


def average_scalars(values: torch.Tensor) -> torch.Tensor:
    values = values.clone()
    dist.all_reduce(values)
    return values / dist.get_world_size()


def min_scalar(value: torch.Tensor) -> torch.Tensor:
    value = value.clone()
    dist.all_reduce(value, op=dist.ReduceOp.MIN)
    return value


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()  # nobody leaves while another rank still writes or reduces
        dist.destroy_process_group()
