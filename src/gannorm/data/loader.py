"""Batches drawn from a uint8 image array, in an order that is exactly resumable.

Each epoch is a permutation of the training indices drawn from a private
``torch.Generator``; its state, the current permutation and the position in it are the
loader's whole state (``state_dict``), so a resumed run sees the same batches.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch


def to_model_range(u8: torch.Tensor, out_range=(0.0, 1.0)) -> torch.Tensor:
    lo, hi = out_range
    return u8.float().mul_((hi - lo) / 255.0).add_(lo)


def reference_images(images: np.ndarray, indices,
                     out_range=(0.0, 1.0)) -> Callable[[int, torch.Generator], torch.Tensor]:
    """``draw(n, generator)``: n of the images at ``indices`` (uint8 N,C,H,W), chosen by
    ``generator`` and kept in index order, mapped to ``out_range`` like the training batches.
    What ``gannorm.nn.prepare.prepare_norms`` takes for D's virtual-batch-norm reference."""
    indices = np.asarray(indices)

    def draw(n: int, generator: torch.Generator) -> torch.Tensor:
        pick = torch.randperm(len(indices), generator=generator)[:n].numpy()
        idx = indices[np.sort(pick)]
        return to_model_range(torch.from_numpy(np.ascontiguousarray(images[idx])), out_range)

    return draw


class BatchLoader:
    def __init__(self, images: np.ndarray, indices: np.ndarray, batch_size: int, seed: int,
                 device: torch.device, out_range=(0.0, 1.0), labels: np.ndarray | None = None,
                 shard: tuple = (0, 1), xflip: bool = False):
        # batch_size is the global batch; with shard=(rank, world) this process keeps its
        # slice of every global batch, so N processes see exactly the images of one.
        self.rank, self.world = shard
        self.images, self.indices = images, np.asarray(indices)
        # xflip: each image also appears mirrored, as index + len(images) (StyleGAN2-ADA's --mirror)
        self.n_images = len(images)
        if xflip:
            self.indices = np.concatenate([self.indices, self.indices + self.n_images])
        self.labels = labels
        self.batch_size, self.device, self.out_range = batch_size, device, out_range
        self.gen = torch.Generator().manual_seed(seed)
        self.perm = self._new_perm()
        self.pos = 0

    def _new_perm(self) -> torch.Tensor:
        return torch.randperm(len(self.indices), generator=self.gen)

    def next_indices(self) -> np.ndarray:
        # Like the authors' loop: walk the permutation, reshuffle when it is used up.
        out = []
        need = self.batch_size
        while need:
            take = min(need, len(self.perm) - self.pos)
            out.append(self.perm[self.pos:self.pos + take].numpy())
            self.pos += take
            need -= take
            if self.pos == len(self.perm):
                self.perm, self.pos = self._new_perm(), 0
        return self.indices[np.concatenate(out)]

    def next(self):
        idx = self.next_indices()
        if self.world > 1:
            per = self.batch_size // self.world
            idx = idx[self.rank * per:(self.rank + 1) * per]
        # sorted reads are much faster from a memory map; the batch order does not matter
        flipped = idx >= self.n_images
        idx = idx % self.n_images
        order = np.argsort(idx, kind="stable")
        x = torch.from_numpy(np.ascontiguousarray(self.images[idx[order]]))
        if flipped.any():
            rows = torch.from_numpy(flipped[order])
            x[rows] = x[rows].flip(-1)
        x = to_model_range(x.to(self.device, non_blocking=True), self.out_range)
        y = None
        if self.labels is not None:
            y = torch.from_numpy(self.labels[idx[order]]).to(self.device)
        return x, y

    def state_dict(self):
        return {"gen": self.gen.get_state(), "perm": self.perm.clone(), "pos": self.pos}

    def load_state_dict(self, s):
        self.gen.set_state(s["gen"])
        self.perm, self.pos = s["perm"].clone(), int(s["pos"])
