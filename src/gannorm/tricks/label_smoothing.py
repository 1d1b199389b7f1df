"""One-sided label smoothing (Salimans et al. 2016): D's target for real images becomes
``real_label`` (0.9) while the fake target stays 0, e.g. for BCE

    L_D = -E[0.9 log s(D(x)) + 0.1 log(1 - s(D(x)))] - E[log(1 - s(D(G(z))))].

It sets the ``real_label`` of the loss, so it needs a loss with a real target
(nonsaturating, minimax; lsgan's b).
"""
from __future__ import annotations

from ..errors import GannormError
from ..hooks import Hooks
from ..registry import TRICKS


@TRICKS.register("label_smoothing", help="one-sided label smoothing: real target 0.9 (Salimans 2016)", phase="d")
class LabelSmoothing(Hooks):
    def __init__(self, real_label: float = 0.9):
        self.real_label = float(real_label)

    def setup(self, env):
        if not hasattr(env.loss, "real_label"):
            raise GannormError(f"trick label_smoothing needs a loss with a real target (nonsaturating, "
                               f"minimax, lsgan); loss {getattr(env.loss, 'name', env.loss)!r} has none")
        env.loss.real_label = self.real_label
