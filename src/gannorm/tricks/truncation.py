"""The truncation trick (Brock et al. 2019, BigGAN): sample z from a truncated normal,
re-drawing every coordinate with |z_i| > threshold, which trades variety for fidelity.
Used at sampling time only (``gannorm sample --truncation 0.5``).
"""
from __future__ import annotations

from typing import Optional

import torch

from ..errors import GannormError


def truncated_normal(n: int, dim: int, threshold: Optional[float] = None,
                     generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """(n, dim) standard-normal samples conditioned on |z_i| <= threshold (None = plain)."""
    z = torch.randn(n, dim, generator=generator)
    if threshold is None:
        return z
    if threshold <= 0:
        raise GannormError(f"truncation threshold must be > 0, got {threshold}")
    bad = z.abs() > threshold
    while bad.any():  # rejection: exact truncated normal; fast for thresholds above ~0.2
        z[bad] = torch.randn(int(bad.sum()), generator=generator)
        bad = z.abs() > threshold
    return z
