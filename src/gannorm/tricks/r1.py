"""R1 and R2 regularization (Mescheder, Geiger & Nowozin 2018): zero-centred gradient
penalties on real data (R1) or on generated data (R2),

    R1: L_D += gamma / 2 * E_real[||grad_x D(x)||^2]
    R2: L_D += gamma / 2 * E_fake[||grad_x D(G(z))||^2],   gamma 10 (the paper's default).

Lazy regularization (Karras et al. 2020, StyleGAN2, section 4.1): with ``every: k`` the
penalty is computed only on every k-th D step and multiplied by k, so its average weight is
unchanged at 1/k of its cost (StyleGAN2: R1 every 16 minibatches). StyleGAN2 also rescales
Adam's learning rate and betas by k / (k + 1) for the lazily regularized network; that is
not done here (set optim.d_lr and optim.beta* yourself).
"""
from __future__ import annotations

from ..errors import GannormError
from ..hooks import Hooks
from ..losses.penalties import r1_penalty
from ..losses.wgan import check_no_gradient_norm
from ..registry import TRICKS


def check_options(gamma: float = 10.0, every: int = 1):
    if float(gamma) < 0 or int(every) < 1:
        raise GannormError(f"gamma ({gamma}) must be >= 0 and every ({every}) >= 1 (every: k = lazy "
                           f"regularization, the penalty on every k-th D step times k)")


class _ZeroCentred(Hooks):
    which = "r1"

    def __init__(self, gamma: float = 10.0, every: int = 1):
        check_options(gamma, every)
        self.gamma, self.every = float(gamma), int(every)
        self.d_steps = 0  # D steps taken; the lazy schedule's position (resumed)

    def setup(self, env):
        check_no_gradient_norm(env, f"trick {self.which}")

    def d_penalty(self, ctx):
        due = self.d_steps % self.every == 0
        self.d_steps += 1
        if not due:
            return None
        p, _ = r1_penalty(ctx.d, ctx.real if self.which == "r1" else ctx.fake)
        ctx.logs[self.which] = p.detach()
        return (0.5 * self.gamma * self.every) * p

    def state_dict(self):
        return {"d_steps": self.d_steps}

    def load_state_dict(self, s):
        self.d_steps = int(s.get("d_steps", 0))


@TRICKS.register("r1", help="R1 penalty gamma/2 E||grad D(real)||^2, gamma 10; every: k = lazy (Mescheder 2018)",
                 phase="d", inner_gradient=True, check=check_options)
class R1(_ZeroCentred):
    which = "r1"


@TRICKS.register("r2", help="R2 penalty gamma/2 E||grad D(fake)||^2, gamma 10; every: k = lazy (Mescheder 2018)",
                 phase="d", inner_gradient=True, check=check_options)
class R2(_ZeroCentred):
    which = "r2"
