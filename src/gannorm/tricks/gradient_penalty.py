"""The WGAN-GP gradient penalty as a regularizer for any loss (Gulrajani et al. 2017).

    L_D += weight * E[(||grad_x D(x_hat)||_2 - 1)^2],  x_hat = e x + (1 - e) G(z), e ~ U[0,1]

``one_sided`` penalises only norms above 1: E[max(0, ||grad|| - 1)^2].
"""
from __future__ import annotations

from ..hooks import Hooks
from ..losses.penalties import gradient_penalty
from ..losses.wgan import check_no_gradient_norm
from ..registry import TRICKS


@TRICKS.register("gp", help="gradient penalty on interpolates, weight 10 (WGAN-GP, Gulrajani 2017)",
                 phase="d", inner_gradient=True)
class GradientPenalty(Hooks):
    def __init__(self, weight: float = 10.0, one_sided: bool = False, center: float = 1.0):
        self.weight, self.one_sided, self.center = float(weight), bool(one_sided), float(center)

    def setup(self, env):
        check_no_gradient_norm(env, "trick gp")

    def d_penalty(self, ctx):
        p, norms = gradient_penalty(ctx.d, ctx.real, ctx.fake, center=self.center, one_sided=self.one_sided)
        ctx.logs["gp"] = p.detach()
        ctx.logs["gp_grad_norm"] = norms.mean()
        return self.weight * p
