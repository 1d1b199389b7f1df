"""R1 regularization (Mescheder, Geiger & Nowozin 2018): a zero-centred gradient penalty
on real data only,

    L_D += gamma / 2 * E_real[||grad_x D(x)||^2],   gamma 10 (the paper's default).
"""
from __future__ import annotations

from ..hooks import Hooks
from ..losses.penalties import r1_penalty
from ..losses.wgan import check_no_gradient_norm
from ..registry import TRICKS


@TRICKS.register("r1", help="R1 penalty gamma/2 E||grad D(real)||^2, gamma 10 (Mescheder 2018)",
                 phase="d", inner_gradient=True)
class R1(Hooks):
    def __init__(self, gamma: float = 10.0):
        self.gamma = float(gamma)

    def setup(self, env):
        check_no_gradient_norm(env, "trick r1")

    def d_penalty(self, ctx):
        p, _ = r1_penalty(ctx.d, ctx.real)
        ctx.logs["r1"] = p.detach()
        return 0.5 * self.gamma * p
