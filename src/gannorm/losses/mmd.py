"""MMD-GAN (Li et al. 2017): a kernel two-sample statistic on D's features.

D is a feature map f (here: the model's D feature map, flattened and projected to
``dim`` numbers by a linear layer; the logit layer goes unused). With the Gaussian
mixture kernel k(a, b) = sum_s exp(-||a - b||^2 / (2 s^2)), s in ``sigmas`` (the
authors' code: 1, 2, 4, 8, 16),

    MMD^2 = E k(f(x), f(x')) + E k(f(G(z)), f(G(z'))) - 2 E k(f(x), f(G(z)))
    L_D = -MMD^2        L_G = MMD^2

estimated without the i = j terms (unbiased, Gretton et al. 2012) unless ``biased``.
Li et al. also train f as an auto-encoder and clip its weights; neither is done here:
combine with a penalty trick (e.g. ``tricks.gp``) to constrain D if training diverges.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn

from ..hooks import DWrapper, feature_shape
from ..registry import LOSSES
from .base import AdversarialLoss


class EmbeddingD(DWrapper):
    """D(x) = W flatten(features(x)) + b: a ``dim``-vector per image."""

    def __init__(self, net: nn.Module, n_features: int, dim: int = 16):
        super().__init__(net)
        self.proj = nn.Linear(n_features, dim)

    def forward(self, x, y=None, return_features=False):
        _, h = self.inner(x, y)
        out = self.proj(h.flatten(1))
        return (out, h) if return_features else out


def mix_rbf_mmd2(x: torch.Tensor, y: torch.Tensor, sigmas: Sequence[float] = (1, 2, 4, 8, 16),
                 biased: bool = False) -> torch.Tensor:
    """MMD^2 between samples x (n, d) and y (m, d) with a sum of Gaussian kernels."""
    z = torch.cat([x, y], 0)
    d2 = torch.cdist(z, z).pow(2)
    k = sum(torch.exp(-d2 / (2.0 * s * s)) for s in sigmas)
    n, m = len(x), len(y)
    kxx, kyy, kxy = k[:n, :n], k[n:, n:], k[:n, n:]
    if biased:
        return kxx.mean() + kyy.mean() - 2 * kxy.mean()
    sxx = (kxx.sum() - kxx.diagonal().sum()) / (n * (n - 1))
    syy = (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
    return sxx + syy - 2 * kxy.mean()


@LOSSES.register("mmd", help="MMD-GAN: Gaussian-mixture MMD on D's features (Li et al. 2017)")
class MMD(AdversarialLoss):
    name = "mmd"
    d_output = "embedding"
    probabilistic = False
    chance_d_loss = None  # -MMD^2 of D's embedding, no classifier level

    def __init__(self, sigmas: Sequence[float] = (1, 2, 4, 8, 16), dim: int = 16, biased: bool = False):
        self.sigmas, self.dim, self.biased = tuple(float(s) for s in sigmas), int(dim), bool(biased)

    def setup(self, env):
        n = 1
        for s in feature_shape(env.D, env.image_shape):
            n *= s
        env.D = EmbeddingD(env.D, n, self.dim)

    def d_loss(self, real_logits, fake_logits):
        return -mix_rbf_mmd2(real_logits.flatten(1), fake_logits.flatten(1), self.sigmas, self.biased)

    def g_loss(self, fake_logits, real_logits=None):
        return mix_rbf_mmd2(real_logits.flatten(1), fake_logits.flatten(1), self.sigmas, self.biased)

    needs_real_for_g = True
