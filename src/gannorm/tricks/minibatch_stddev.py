"""Minibatch standard deviation (Karras et al. 2018, ProGAN), as a D wrapper.

Over groups of ``group_size`` samples, the standard deviation of every feature (channel
and position) across the group, averaged into one number s per group and given to each
of its samples:  s = mean_{c,h,w} sqrt(Var_group f(x)_{c,h,w} + 1e-8).
ProGAN appends s as a constant feature map before D's last layers; in front of a linear
head that is a linear read-out of s, so D'(x) = D(x) + w s + b. A collapsed batch has
s = 0.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ..hooks import DWrapper, Hooks
from ..registry import TRICKS
from .minibatch_discrimination import _check_logit


def minibatch_stddev(f: torch.Tensor, group_size: int = 4) -> torch.Tensor:
    """(N, ...) features -> (N,) the group's mean feature std, repeated for each member."""
    n = f.shape[0]
    g = min(group_size, n)
    while n % g:  # the batch must split into equal groups
        g -= 1
    x = f.flatten(1).reshape(g, n // g, -1)  # sample i belongs to group i % (n // g), as ProGAN
    s = (x.var(0, unbiased=False) + 1e-8).sqrt().mean(1)  # (n // g,)
    return s.repeat(g)


class MinibatchStdDevD(DWrapper):
    def __init__(self, net: nn.Module, group_size: int = 4):
        super().__init__(net)
        self.group_size = group_size
        self.readout = nn.Linear(1, 1)

    def forward(self, x, y=None, return_features=False):
        out, h = self.inner(x, y)
        out = out + self.readout(minibatch_stddev(h, self.group_size).unsqueeze(1)).squeeze(1)
        return (out, h) if return_features else out


@TRICKS.register("minibatch_stddev", help="minibatch standard deviation feature, group 4 (Karras 2018)",
                 phase="model")
class MinibatchStdDevTrick(Hooks):
    order = 60

    def __init__(self, group_size: int = 4):
        self.group_size = int(group_size)

    def setup(self, env):
        _check_logit(env, "minibatch_stddev")
        env.D = MinibatchStdDevD(env.D, self.group_size)
