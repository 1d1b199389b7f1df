"""Minibatch discrimination (Salimans et al. 2016), as a D wrapper.

For D's features f(x_i) in R^A and a learned tensor T in R^{A x B x C}:

    M_i = f(x_i) T  (B x C),   c_b(i, j) = exp(-||M_{i,b} - M_{j,b}||_1),
    o(x_i)_b = sum_{j != i} c_b(i, j)

o(x_i) (B numbers) is concatenated to f(x_i) in front of D's last linear layer. Because
that layer is linear, concatenating is the same as adding a linear read-out of o to D's
own logit: D'(x_i) = D(x_i) + w . o(x_i) + b, which is what the wrapper computes (so D's
own head and its normalization are kept). A batch of near-identical samples makes every
o_b approach its maximum N - 1, which is the collapse signal D can punish. Defaults
B = 100, C = 5 (the paper's); T ~ N(0, 0.05^2) as the authors' code.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ..errors import GannormError
from ..hooks import DWrapper, Hooks, feature_shape
from ..registry import TRICKS


class MinibatchDiscrimination(nn.Module):
    """(N, A) features -> (N, B) closeness of each sample to the rest of the batch."""

    def __init__(self, in_features: int, B: int = 100, C: int = 5, init_std: float = 0.05):
        super().__init__()
        self.B, self.C = B, C
        self.T = nn.Parameter(torch.randn(in_features, B * C) * init_std)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        m = (f.flatten(1) @ self.T).view(-1, self.B, self.C)  # (N, B, C)
        l1 = (m.unsqueeze(0) - m.unsqueeze(1)).abs().sum(3)  # (N, N, B)
        c = torch.exp(-l1)
        return c.sum(1) - 1.0  # drop j = i, whose term is exp(0) = 1


class MinibatchDiscriminationD(DWrapper):
    def __init__(self, net: nn.Module, in_features: int, B: int = 100, C: int = 5):
        super().__init__(net)
        self.mbd = MinibatchDiscrimination(in_features, B, C)
        self.readout = nn.Linear(B, 1)
        nn.init.zeros_(self.readout.bias)

    def forward(self, x, y=None, return_features=False):
        out, h = self.inner(x, y)
        o = self.mbd(h)
        out = out + self.readout(o).squeeze(1)
        return (out, h) if return_features else out


def _check_logit(env, what: str):
    if getattr(env.loss, "d_output", "logit") != "logit":
        raise GannormError(f"trick {what} adds to D's logit, but loss {env.loss.name!r} gives D its own "
                           f"output ({env.loss.d_output}); use it with a logit loss (nonsaturating, hinge, ...)")


@TRICKS.register("minibatch_discrimination", help="Salimans' minibatch discrimination, B 100, C 5 (Salimans 2016)",
                 phase="model")
class MinibatchDiscriminationTrick(Hooks):
    order = 60

    def __init__(self, B: int = 100, C: int = 5):
        self.B, self.C = int(B), int(C)

    def setup(self, env):
        _check_logit(env, "minibatch_discrimination")
        n = 1
        for s in feature_shape(env.D, env.image_shape):
            n *= s
        env.D = MinibatchDiscriminationD(env.D, n, self.B, self.C)
