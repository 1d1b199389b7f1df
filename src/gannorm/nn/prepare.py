"""One-time set-up that some norms need from data before training starts.

- Virtual batch norm (Salimans et al. 2016) needs its reference batch fixed at the start:
  a batch of z for G, a batch of training images for D, drawn from their own seeded
  generator so the training RNG streams do not move.
- Strict spectral norm learns each layer's input size at its first forward; one tiny
  forward of G and D fixes those sizes now, so that copies made before training (the EMA
  of G) hold vectors of the right shape.
"""
from __future__ import annotations

from typing import Callable, Optional

import torch
import torch.nn as nn

from ..errors import GannormError
from .feature_norms import VirtualBatchNorm, set_reference
from .spectral import StrictSpectralNorm

REFERENCE_SEED_OFFSET = 7919  # keeps the reference draw apart from other seeded streams


def _vbn_size(net: nn.Module) -> int | None:
    sizes = [getattr(m, "reference_size", 64) for m in net.modules() if isinstance(m, VirtualBatchNorm)]
    return sizes[0] if sizes else None


def _needs_shapes(net: nn.Module) -> bool:
    return any(isinstance(m, StrictSpectralNorm) and m._v.numel() == 0 for m in net.modules())


#: draws ``n`` real training images in G's output range with the given generator
ReferenceImages = Callable[[int, torch.Generator], torch.Tensor]


def prepare_norms(G: nn.Module, D: nn.Module, reference: Optional[ReferenceImages] = None, *,
                  seed: int = 0) -> None:
    """Fix VBN reference batches and strict-SN input sizes of G and D; a no-op for other norms.

    ``reference(n, generator)`` returns D's reference batch of real images (the data layer's
    ``reference_images`` builds one); it is needed only when D has virtual batch norm.
    """
    gen = torch.Generator().manual_seed(int(seed) + REFERENCE_SEED_OFFSET)
    device = next(G.parameters()).device
    n_g, n_d = _vbn_size(G), _vbn_size(D)
    if n_g:
        set_reference(G, torch.randn(n_g, G.z_dim, generator=gen).to(device))
    if n_d:
        if reference is None:
            raise GannormError("D has virtual batch norm, which needs a reference batch of real images; "
                               "pass prepare_norms(G, D, reference_images(images, indices, out_range))")
        set_reference(D, reference(n_d, gen).to(next(D.parameters()).device))
    if _needs_shapes(G) or _needs_shapes(D):
        modes = [(m, m.training) for m in (G, D)]
        try:
            G.eval(), D.eval()  # no power-iteration step and no BN statistics from this dry run
            with torch.no_grad():
                D(G(torch.randn(2, G.z_dim, generator=gen).to(device)))
        finally:
            for m, was in modes:
                m.train(was)
