"""Instance noise (Sonderby et al. 2017; Arjovsky & Bottou 2017): every image D sees, real
or fake, in D's and G's steps, gets Gaussian noise whose std is annealed linearly to 0,

    x <- x + sigma_t n,   n ~ N(0, I),   sigma_t = sigma max(0, 1 - t / T)

so the two distributions overlap early on and D's gradients stay informative. T is
``anneal_iters`` (default: the run's ``train.iterations``, so a resume that raises
train.iterations stretches the rest of the schedule; set it to keep it fixed); sigma is in
image units (the DCGAN's images are in [0, 1]).
"""
from __future__ import annotations

import torch

from ..hooks import Hooks
from ..registry import TRICKS


@TRICKS.register("instance_noise", help="Gaussian noise on D's inputs, sigma 0.1 annealed to 0 (Sonderby 2017)",
                 phase="both")
class InstanceNoise(Hooks):
    def __init__(self, sigma: float = 0.1, anneal_iters: int | None = None):
        self.sigma = float(sigma)
        self.anneal_iters = anneal_iters

    def sigma_at(self, iteration: int, total: int) -> float:
        t_end = self.anneal_iters or total
        return self.sigma * max(0.0, 1.0 - iteration / max(t_end, 1))

    def d_input(self, x, ctx):
        s = self.sigma_at(ctx.iteration, ctx.iterations)
        ctx.logs["noise_sigma"] = torch.tensor(s)
        return x + s * torch.randn_like(x) if s > 0 else x
