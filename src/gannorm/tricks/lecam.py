"""LeCam regularization (Tseng, Jiang, Liu, Yang & Yang 2021, "Regularizing Generative
Adversarial Networks under Limited Data"): D's outputs are pulled toward moving anchors,
the exponential moving averages of its mean output on real (alpha_R) and fake (alpha_F)
images,

    L_D += lambda * ( E_real[relu(D(x) - alpha_F)^2] + E_fake[relu(alpha_R - D(G(z)))^2] ),
    alpha <- decay * alpha + (1 - decay) * mean D(.)   (decay 0 before ``start_iter``)

as in the authors' code (google/lecam-gan): the anchors take the current batch before the
penalty is computed, start at 1000, and follow the batch exactly before ``start_iter``;
lambda 0.3 and decay 0.99 are their CIFAR settings. With data parallelism the anchors take
the mean over all processes, so they are the same everywhere.
"""
from __future__ import annotations

import torch

from ..errors import GannormError
from ..hooks import Hooks
from ..registry import TRICKS
from .augment import all_sum, rank_world


def lecam_penalty(d_real: torch.Tensor, d_fake: torch.Tensor, anchor_real, anchor_fake) -> torch.Tensor:
    """E[relu(D(x) - alpha_F)^2] + E[relu(alpha_R - D(G(z)))^2] (before its weight)."""
    return (d_real - anchor_fake).relu().pow(2).mean() + (anchor_real - d_fake).relu().pow(2).mean()


def check_options(weight: float = 0.3, decay: float = 0.99, start_iter: int = 1000, init: float = 1000.0):
    if float(weight) < 0 or not 0.0 <= float(decay) < 1.0 or int(start_iter) < 0:
        raise GannormError(f"train.tricks.lecam: weight ({weight}) must be >= 0, decay ({decay}) in [0, 1) "
                           f"and start_iter ({start_iter}) >= 0")


@TRICKS.register("lecam", help="LeCam: D's outputs pulled to EMA anchors of its real/fake means, "
                 "lambda 0.3 (Tseng 2021)", phase="d", check=check_options)
class LeCam(Hooks):
    def __init__(self, weight: float = 0.3, decay: float = 0.99, start_iter: int = 1000, init: float = 1000.0):
        check_options(weight, decay, start_iter, init)
        self.weight, self.decay, self.start_iter = float(weight), float(decay), int(start_iter)
        self.anchors = torch.tensor([float(init), float(init)], dtype=torch.float64)  # (real, fake)

    def d_penalty(self, ctx):
        means = torch.stack([ctx.d_real.detach().double().mean(), ctx.d_fake.detach().double().mean()])
        world = rank_world()[1]
        if world > 1:
            means = all_sum(means) / world
        decay = self.decay if ctx.iteration >= self.start_iter else 0.0
        self.anchors = self.anchors.to(means.device) * decay + means * (1.0 - decay)
        a = self.anchors.to(ctx.d_real.dtype)
        p = lecam_penalty(ctx.d_real, ctx.d_fake, a[0], a[1])
        ctx.logs["lecam"] = p.detach()
        return self.weight * p

    def state_dict(self):
        return {"anchors": self.anchors.cpu()}

    def load_state_dict(self, s):
        self.anchors = s["anchors"].clone()
