"""The original GAN losses (Goodfellow et al. 2014), on logits.

D maximises E[log sigmoid(D(x))] + E[log(1 - sigmoid(D(G(z))))], i.e. minimises the
binary cross-entropy with targets real = 1, fake = 0:

    L_D = E[softplus(-D(x))] + E[softplus(D(G(z)))]

non-saturating G (the paper's code: BCE of D(G(z)) against 1):  L_G = E[softplus(-D(G(z)))]
minimax (saturating) G:                                         L_G = -E[softplus(D(G(z)))]
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..registry import LOSSES
from .base import AdversarialLoss


@LOSSES.register("nonsaturating", help="BCE; G maximises log D(G(z)) (Goodfellow 2014; the paper's code)")
class NonSaturating(AdversarialLoss):
    name = "nonsaturating"

    def __init__(self, real_label: float = 1.0):
        # real_label < 1 is one-sided label smoothing (Salimans et al. 2016): fake stays 0
        self.real_label = float(real_label)

    def d_loss(self, real_logits, fake_logits):
        if self.real_label == 1.0:
            real = F.softplus(-real_logits).mean()
        else:
            real = F.binary_cross_entropy_with_logits(real_logits, torch.full_like(real_logits, self.real_label))
        return real + F.softplus(fake_logits).mean()

    def g_loss(self, fake_logits, real_logits=None):
        return F.softplus(-fake_logits).mean()


@LOSSES.register("minimax", help="BCE; G minimises log(1 - D(G(z))) (saturating, Goodfellow 2014)")
class Minimax(NonSaturating):
    name = "minimax"

    def g_loss(self, fake_logits, real_logits=None):
        return -F.softplus(fake_logits).mean()
