"""One-time set-up that some norms need from data before training starts.

A norm that needs it says so in its registration: ``@NORMS.register(name, prepare=step)``,
where ``step(net, ctx)`` takes the network (G or D) built with that norm and a
:class:`Preparation`. ``build_models`` records each network's norm name (``net.norm_name``);
:func:`prepare_norms` runs G's step, then D's. Today's steps:

- virtual batch norm (Salimans et al. 2016) fixes its reference batch: a batch of z for G,
  a batch of training images for D, drawn from their own seeded generator so the training
  RNG streams do not move;
- strict spectral norm learns each layer's input size at its first forward; one tiny
  forward fixes those sizes now, so that copies made before training (the EMA of G) hold
  vectors of the right shape.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import torch
import torch.nn as nn

from ..registry import NORMS

REFERENCE_SEED_OFFSET = 7919  # keeps the reference draw apart from other seeded streams

#: draws ``n`` real training images in G's output range with the given generator
ReferenceImages = Callable[[int, torch.Generator], torch.Tensor]


@dataclass
class Preparation:
    """What a norm's preparation step may use: both networks (``role`` says which one it
    prepares), a seeded generator of its own, and ``reference(n, generator)``, real training
    images in G's output range (None when the caller has no data)."""
    G: nn.Module
    D: nn.Module
    role: str
    generator: torch.Generator
    reference: Optional[ReferenceImages] = None

    def dry_input(self, n: int = 2) -> torch.Tensor:
        """A small input for the network being prepared: z for G, G's images for D."""
        z = torch.randn(n, self.G.z_dim, generator=self.generator).to(next(self.G.parameters()).device)
        if self.role == "g":
            return z
        with torch.no_grad(), eval_mode(self.G):
            return self.G(z)


class eval_mode:
    """Puts a module in eval mode for a block (no power-iteration step, no BN statistics)."""

    def __init__(self, module: nn.Module):
        self.module, self.was = module, module.training

    def __enter__(self):
        self.module.eval()
        return self.module

    def __exit__(self, *exc):
        self.module.train(self.was)


def prepare_norms(G: nn.Module, D: nn.Module, reference: Optional[ReferenceImages] = None, *,
                  seed: int = 0) -> None:
    """Run the registered preparation step of G's norm, then of D's; a no-op for other norms.

    ``reference(n, generator)`` returns real training images (the data layer's
    ``reference_images`` builds one); only a step that needs data (D's virtual batch norm) asks.
    """
    gen = torch.Generator().manual_seed(int(seed) + REFERENCE_SEED_OFFSET)
    for net, role in ((G, "g"), (D, "d")):
        name = getattr(net, "norm_name", None)
        step = NORMS.attr(name, "prepare") if name in NORMS else None
        if step is not None:
            step(net, Preparation(G, D, role, gen, reference))
