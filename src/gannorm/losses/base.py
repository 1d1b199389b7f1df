"""The interface every adversarial loss implements.

A loss turns D's logits into the two players' objectives. Losses that need more than the
logits (a gradient penalty needs D and the images) get them through ``d_extra``, which the
trainer calls with a small context after the logits are computed.
"""
from __future__ import annotations

import torch


class AdversarialLoss:
    """Base class: subclasses implement ``d_loss`` and ``g_loss`` on logits."""

    name = "base"

    def d_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def g_loss(self, fake_logits: torch.Tensor, real_logits: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    #: whether g_loss needs D's logits on a real batch (relativistic losses)
    needs_real_for_g = False

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
