"""BigGAN's orthogonal regularization (Brock et al. 2019):

    L_G += beta * sum_layers || W W^T * (1 - I) ||_F^2,    beta 1e-4

(W: a layer's filters as rows). It keeps G amenable to the truncation trick. ``nets``
says which players get it: "g" (BigGAN), "d" or "gd".
"""
from __future__ import annotations

from ..hooks import Hooks
from ..losses.penalties import orthogonal_penalty
from ..registry import TRICKS


@TRICKS.register("orthogonal", help="BigGAN orthogonal regularization of G, beta 1e-4 (Brock 2019)", phase="g")
class OrthogonalRegularization(Hooks):
    def __init__(self, beta: float = 1e-4, nets: str = "g"):
        self.beta, self.nets = float(beta), str(nets).lower()

    def _penalty(self, who, net, ctx):
        if who not in self.nets:
            return None
        r = orthogonal_penalty(net)
        ctx.logs[f"ortho_{who}"] = r.detach()
        return self.beta * r

    def g_penalty(self, ctx):
        return self._penalty("g", ctx.G, ctx)

    def d_penalty(self, ctx):
        return self._penalty("d", ctx.D, ctx)
