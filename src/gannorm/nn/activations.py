"""Activation builders by name, so models and norms can pick the paper's choice."""
from __future__ import annotations

import torch.nn as nn

from ..errors import GannormError
from .translated_relu import TPReLU, TReLU

_ACTIVATIONS = {
    "prelu": lambda c: nn.PReLU(c),  # the paper's vanilla and BN nets (per channel, init 0.25)
    "tprelu": lambda c: TPReLU(c),  # the paper's code with WN
    "trelu": lambda c: TReLU(c),  # the paper's text
    "relu": lambda c: nn.ReLU(),
    "lrelu": lambda c: nn.LeakyReLU(0.2),  # DCGAN (Radford et al.)
    "lrelu0.1": lambda c: nn.LeakyReLU(0.1),  # SNGAN's standard CNN
}


def activation_names():
    return sorted(_ACTIVATIONS)


def make_activation(name: str, channels: int) -> nn.Module:
    try:
        return _ACTIVATIONS[name](channels)
    except KeyError:
        raise GannormError(f"unknown activation {name!r}; valid: {', '.join(activation_names())}") from None
