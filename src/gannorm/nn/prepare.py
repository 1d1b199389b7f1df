"""One-time set-up that some norms need from data before training starts.

- Virtual batch norm (Salimans et al. 2016) needs its reference batch fixed at the start:
  a batch of z for G, a batch of training images for D, drawn from their own seeded
  generator so the training RNG streams do not move.
- Strict spectral norm learns each layer's input size at its first forward; one tiny
  forward of G and D fixes those sizes now, so that copies made before training (the EMA
  of G) hold vectors of the right shape.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn as nn

from .feature_norms import VirtualBatchNorm, set_reference
from .spectral import StrictSpectralNorm

REFERENCE_SEED_OFFSET = 7919  # keeps the reference draw apart from other seeded streams


def _vbn_size(net: nn.Module) -> int | None:
    sizes = [getattr(m, "reference_size", 64) for m in net.modules() if isinstance(m, VirtualBatchNorm)]
    return sizes[0] if sizes else None


def _needs_shapes(net: nn.Module) -> bool:
    return any(isinstance(m, StrictSpectralNorm) and m._v.numel() == 0 for m in net.modules())


def prepare_norms(G: nn.Module, D: nn.Module, images: np.ndarray, train_indices: Sequence[int], *,
                  seed: int = 0, out_range=(0.0, 1.0)) -> None:
    """Fix VBN reference batches and strict-SN input sizes of G and D; a no-op for other norms.

    ``images`` are uint8 (N, C, H, W), mapped to ``out_range`` like the training batches.
    """
    gen = torch.Generator().manual_seed(int(seed) + REFERENCE_SEED_OFFSET)
    device = next(G.parameters()).device
    n_g, n_d = _vbn_size(G), _vbn_size(D)
    if n_g:
        set_reference(G, torch.randn(n_g, G.z_dim, generator=gen).to(device))
    if n_d:
        from ..data import to_model_range

        pick = torch.randperm(len(train_indices), generator=gen)[:n_d].numpy()
        idx = np.asarray(train_indices)[np.sort(pick)]
        real = to_model_range(torch.from_numpy(np.ascontiguousarray(images[idx])), out_range)
        set_reference(D, real.to(next(D.parameters()).device))
    if _needs_shapes(G) or _needs_shapes(D):
        modes = [(m, m.training) for m in (G, D)]
        try:
            G.eval(), D.eval()  # no power-iteration step and no BN statistics from this dry run
            with torch.no_grad():
                D(G(torch.randn(2, G.z_dim, generator=gen).to(device)))
        finally:
            for m, was in modes:
                m.train(was)
