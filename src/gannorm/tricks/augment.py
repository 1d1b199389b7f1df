"""Shared pieces of the augmentations D sees (DiffAugment, ADA): random draws that are the
same whatever the number of processes, the image range they work in, and r_t.

Random draws: with data parallelism every process holds the same RNG state, so one that drew
only its own slice would repeat the other ranks' augmentations. ``draw`` takes the values for
the whole global batch and keeps this process's slice, as the trainer does for z.
"""
from __future__ import annotations

from typing import Callable, Tuple

import torch
import torch.distributed as tdist

from ..health import sign_rate


def rank_world() -> Tuple[int, int]:
    if tdist.is_available() and tdist.is_initialized():
        return tdist.get_rank(), tdist.get_world_size()
    return 0, 1


def draw(fn: Callable[[int], torch.Tensor], n: int) -> torch.Tensor:
    """``fn(n * world)`` (a draw for the global batch, first dimension its size) sliced to
    this process's ``n`` rows; ``fn(n)`` without a process group."""
    rank, world = rank_world()
    return fn(n) if world == 1 else fn(n * world)[rank * n:(rank + 1) * n]


def all_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum over processes (identity without a process group)."""
    if rank_world()[1] > 1:
        t = t.clone()
        tdist.all_reduce(t)
    return t


#: r_t = E[sign(D_train)], the overfitting heuristic of StyleGAN2-ADA (Karras et al. 2020, eq. 1):
#: one implementation, shared with the live diagnostics (gannorm.health.sign_rate)
rt_sign = sign_rate


def to_unit(x: torch.Tensor, out_range: Tuple[float, float]) -> torch.Tensor:
    """Images in ``out_range`` -> [-1, 1], the range the authors' augmentations assume."""
    lo, hi = out_range
    return x if (lo, hi) == (-1.0, 1.0) else (x - lo) * (2.0 / (hi - lo)) - 1.0


def from_unit(x: torch.Tensor, out_range: Tuple[float, float]) -> torch.Tensor:
    lo, hi = out_range
    return x if (lo, hi) == (-1.0, 1.0) else (x + 1.0) * ((hi - lo) / 2.0) + lo
