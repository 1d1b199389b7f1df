"""Hinge loss (Lim & Ye 2017; Miyato et al. 2018's SN-GAN):

    L_D = E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))]       L_G = -E[D(G(z))]
"""
from __future__ import annotations

import torch.nn.functional as F

from ..registry import LOSSES
from .base import AdversarialLoss


@LOSSES.register("hinge", help="hinge loss (Lim & Ye 2017; SN-GAN)")
class Hinge(AdversarialLoss):
    name = "hinge"
    probabilistic = False
    chance_d_loss = 2.0  # D = 0 everywhere: relu(1) + relu(1)

    def d_loss(self, real_logits, fake_logits):
        return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()

    def g_loss(self, fake_logits, real_logits=None):
        return -fake_logits.mean()
