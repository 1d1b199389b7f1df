"""Least-squares GAN (Mao et al. 2017), with the paper's a-b-c coding:

    L_D = 1/2 E[(D(x) - b)^2] + 1/2 E[(D(G(z)) - a)^2]       L_G = 1/2 E[(D(G(z)) - c)^2]

defaults a = 0 (fake), b = 1 (real), c = 1 (what G wants D to believe).
"""
from __future__ import annotations

from ..registry import LOSSES
from .base import AdversarialLoss


@LOSSES.register("lsgan", help="least squares, a=0 b=1 c=1 (Mao 2017)")
class LSGAN(AdversarialLoss):
    name = "lsgan"
    probabilistic = False

    def __init__(self, a: float = 0.0, b: float = 1.0, c: float = 1.0):
        self.a, self.b, self.c = float(a), float(b), float(c)

    @property
    def chance_d_loss(self) -> float:  # D = (a + b) / 2 everywhere
        return 0.25 * (self.b - self.a) ** 2

    @property
    def real_label(self) -> float:  # b is the real target: one-sided label smoothing moves it
        return self.b

    @real_label.setter
    def real_label(self, v: float) -> None:
        self.b = float(v)

    def d_loss(self, real_logits, fake_logits):
        return 0.5 * (real_logits - self.b).pow(2).mean() + 0.5 * (fake_logits - self.a).pow(2).mean()

    def g_loss(self, fake_logits, real_logits=None):
        return 0.5 * (fake_logits - self.c).pow(2).mean()
