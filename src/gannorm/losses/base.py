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

import math
from typing import Optional

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

    #: D's loss when it cannot tell real from fake (every output on the decision boundary,
    #: e.g. logit 0 for BCE: 2 ln 2); None when the loss has no such level (unbounded critics)
    chance_d_loss: Optional[float] = 2 * math.log(2)
    #: D "wins outright" when its loss stays below this share of ``chance_d_loss``
    WIN_SHARE = 0.02

    #: whether g_loss needs D's outputs on a real batch (relativistic losses)
    needs_real_for_g = False

    @property
    def g_needs_real(self) -> bool:  # type: ignore[override]
        return self.needs_real_for_g

    def d_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def g_loss(self, fake_logits: torch.Tensor, real_logits: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    def d_wins(self, d_loss: float) -> Optional[bool]:
        """Whether D wins outright at a logged step, on this loss's own scale:
        ``d_loss < WIN_SHARE * chance_d_loss`` (for BCE, 0.028: D(real) ~ 0.986 and D(fake) ~
        0.014 on average, where G's gradient vanishes; Arjovsky & Bottou 2017). None when the
        loss has no chance level (WGAN's critic, MMD, BEGAN). The logged D loss includes
        penalties (gradient penalty, R1), so a penalised D is flagged only when both are ~0."""
        if self.chance_d_loss is None or not math.isfinite(d_loss):
            return None
        return d_loss < self.WIN_SHARE * self.chance_d_loss

    def summary(self, out: torch.Tensor) -> torch.Tensor:
        """One number for the logs (d_real / d_fake): mean D(x) as a probability or a score."""
        out = out.detach()
        return torch.sigmoid(out).mean() if self.probabilistic else out.float().mean()

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
