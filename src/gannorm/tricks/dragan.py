"""DRAGAN (Kodali et al. 2017): the gradient penalty around the real data,

    L_D += weight * E[(||grad D(x_hat)|| - 1)^2],  x_hat = x + a c std(x) u,  u, a ~ U[0,1]

weight 10, c 0.5 (the authors' code).
"""
from __future__ import annotations

from ..hooks import Hooks
from ..losses.penalties import dragan_penalty
from ..losses.wgan import check_no_gradient_norm
from ..registry import TRICKS


@TRICKS.register("dragan", help="DRAGAN penalty near real data, weight 10, c 0.5 (Kodali 2017)",
                 phase="d", inner_gradient=True)
class DRAGAN(Hooks):
    def __init__(self, weight: float = 10.0, c: float = 0.5):
        self.weight, self.c = float(weight), float(c)

    def setup(self, env):
        check_no_gradient_norm(env, "trick dragan")

    def d_penalty(self, ctx):
        p, _ = dragan_penalty(ctx.d, ctx.real, c=self.c)
        ctx.logs["dragan"] = p.detach()
        return self.weight * p
