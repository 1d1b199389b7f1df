"""Feature matching (Salimans et al. 2016): G matches the mean of an intermediate D layer,

    L_G += weight * || E f(x) - E f(G(z)) ||_2^2

f = ``layer`` of D (a name from the base D's ``named_modules()``, e.g. ``features.2``), or
by default the feature map of ``D(x, return_features=True)`` (the DCGAN's last one). The
real statistics are a fixed target (no gradient). Salimans et al. train G on this loss
alone; here it is added to the adversarial G loss (set the weight to taste).
"""
from __future__ import annotations

from typing import Optional

import torch

from ..hooks import Hooks
from ..registry import TRICKS


def feature_matching_loss(f_real: torch.Tensor, f_fake: torch.Tensor) -> torch.Tensor:
    return (f_real.flatten(1).mean(0) - f_fake.flatten(1).mean(0)).pow(2).sum()


@TRICKS.register("feature_matching", help="G matches mean D features of real data (Salimans 2016)", phase="g")
class FeatureMatching(Hooks):
    def __init__(self, weight: float = 1.0, layer: Optional[str] = None):
        self.weight, self.layer = float(weight), layer

    def g_penalty(self, ctx):
        with torch.no_grad():
            f_real = ctx.features(ctx.real, self.layer)
        fm = feature_matching_loss(f_real, ctx.features(ctx.fake, self.layer))
        ctx.logs["feature_matching"] = fm.detach()
        return self.weight * fm
