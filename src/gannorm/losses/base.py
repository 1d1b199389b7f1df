"""The interface every adversarial loss implements.

A loss turns D's outputs into the two players' objectives: ``d_loss(real, fake)`` and
``g_loss(fake, real)``, each a scalar to minimise. Most losses read one logit per image;
a loss with "its own D shape" (BEGAN's auto-encoder, MMD-GAN's feature embedding) wraps D
in its ``setup`` hook so that D's output is what the loss reads.

A loss is also a ``Hooks`` object (see ``gannorm.hooks``): what needs more than D's
outputs (the gradient penalty of WGAN-GP needs D and the images, weight clipping acts
after D's update) goes through the same hooks as the training tricks, so the trainer has
no per-loss special cases.
"""
from __future__ import annotations

import torch

from ..hooks import Hooks


class AdversarialLoss(Hooks):
    """Base class: subclasses implement ``d_loss`` and ``g_loss`` on D's outputs."""

    name = "base"
    #: what D outputs for this loss: "logit" (one score per image) or the loss's own shape
    d_output = "logit"
    #: D's outputs read as probabilities through a sigmoid in the logs (BCE-family losses)
    probabilistic = True
    order = 10  # a loss's own D shape is set up before the tricks wrap D

    #: whether g_loss needs D's outputs on a real batch (relativistic losses)
    needs_real_for_g = False

    @property
    def g_needs_real(self) -> bool:  # type: ignore[override]
        return self.needs_real_for_g

    def d_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def g_loss(self, fake_logits: torch.Tensor, real_logits: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    def summary(self, out: torch.Tensor) -> torch.Tensor:
        """One number for the logs (d_real / d_fake): mean D(x) as a probability or a score."""
        out = out.detach()
        return torch.sigmoid(out).mean() if self.probabilistic else out.float().mean()

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
