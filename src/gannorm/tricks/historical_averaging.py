"""Historical averaging (Salimans et al. 2016): each player's cost gets

    weight * || theta - (1/t) sum_{i<=t} theta[i] ||^2

the distance of its parameters to their running (uniform) mean over past updates
(the starting point counts as the first). The paper gives no weight; 1.0 is a choice.
"""
from __future__ import annotations

from typing import List, Optional

import torch

from ..hooks import Hooks
from ..registry import TRICKS


class ParameterAverage:
    """The uniform running mean of a list of parameters and the penalty toward it."""

    def __init__(self):
        self.mean: Optional[List[torch.Tensor]] = None
        self.count = 0

    @torch.no_grad()
    def update(self, params: List[torch.Tensor]) -> None:
        if self.mean is None:
            self.mean, self.count = [p.detach().clone() for p in params], 1
            return
        self.count += 1
        torch._foreach_lerp_(self.mean, [p.detach() for p in params], 1.0 / self.count)

    def penalty(self, params: List[torch.Tensor]) -> torch.Tensor:
        if self.mean is None:
            self.update(params)
        return sum((p - m).pow(2).sum() for p, m in zip(params, self.mean))

    def state_dict(self):
        return {"mean": self.mean, "count": self.count}

    def load_state_dict(self, s):
        self.mean, self.count = s["mean"], int(s["count"])


@TRICKS.register("historical_averaging", help="penalty to the running mean of past parameters (Salimans 2016)",
                 phase="both")
class HistoricalAveraging(Hooks):
    def __init__(self, weight: float = 1.0, players: str = "gd"):
        self.weight = float(weight)
        self.players = str(players).lower()
        self.avg = {"g": ParameterAverage(), "d": ParameterAverage()}

    def _penalty(self, who, net, ctx):
        if who not in self.players:
            return None
        p = self.avg[who].penalty(list(net.parameters()))
        ctx.logs[f"hist_avg_{who}"] = p.detach()
        return self.weight * p

    def d_penalty(self, ctx):
        return self._penalty("d", ctx.D, ctx)

    def g_penalty(self, ctx):
        return self._penalty("g", ctx.G, ctx)

    def after_d_step(self, ctx):
        if "d" in self.players:
            self.avg["d"].update(list(ctx.D.parameters()))

    def after_g_step(self, ctx):
        if "g" in self.players:
            self.avg["g"].update(list(ctx.G.parameters()))

    def state_dict(self):
        return {k: v.state_dict() for k, v in self.avg.items()}

    def load_state_dict(self, s):
        for k, v in s.items():
            self.avg[k].load_state_dict(v)
