"""Relativistic GANs (Jolicoeur-Martineau 2018), with C(x) D's logit:

RSGAN (pairs real x_r with fake x_f):
    L_D = E[softplus(-(C(x_r) - C(x_f)))]     L_G = E[softplus(-(C(x_f) - C(x_r)))]
RaGAN (relativistic average):
    L_D = E_r[softplus(-(C(x_r) - E_f C(x_f)))] + E_f[softplus(C(x_f) - E_r C(x_r))]
    L_G = E_f[softplus(-(C(x_f) - E_r C(x_r)))] + E_r[softplus(C(x_r) - E_f C(x_f))]
(softplus(-t) = -log sigmoid(t)). G's loss needs D on a real batch.
"""
from __future__ import annotations

import math

import torch.nn.functional as F

from ..registry import LOSSES
from .base import AdversarialLoss


@LOSSES.register("rsgan", help="relativistic standard GAN (Jolicoeur-Martineau 2018)")
class RSGAN(AdversarialLoss):
    name = "rsgan"
    needs_real_for_g = True
    chance_d_loss = math.log(2)  # D(x_r) - D(x_f) = 0: softplus(0)

    def d_loss(self, real_logits, fake_logits):
        return F.softplus(-(real_logits - fake_logits)).mean()

    def g_loss(self, fake_logits, real_logits=None):
        return F.softplus(-(fake_logits - real_logits)).mean()


@LOSSES.register("ragan", help="relativistic average GAN (Jolicoeur-Martineau 2018)")
class RaGAN(AdversarialLoss):
    name = "ragan"
    needs_real_for_g = True

    def d_loss(self, real_logits, fake_logits):
        return (F.softplus(-(real_logits - fake_logits.mean())).mean()
                + F.softplus(fake_logits - real_logits.mean()).mean())

    def g_loss(self, fake_logits, real_logits=None):
        return (F.softplus(-(fake_logits - real_logits.mean())).mean()
                + F.softplus(real_logits - fake_logits.mean()).mean())
