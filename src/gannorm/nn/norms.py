"""How each normalization builds a network's layers.

A model asks its ``Norm`` for every weight layer (``linear``, ``conv``, ``conv_transpose``)
and for the feature-normalization layer that follows a hidden layer (``norm_layer``); a
norm that acts on the whole network (gradient normalization) overrides ``wrap``. The
base class builds plain layers, so a new normalization overrides only what it changes
and registers itself with ``@NORMS.register(name)``.

``last=True`` marks the output layer of G or D, which the paper's code treats differently
(affine instead of strict WN, never followed by a feature norm).
"""
from __future__ import annotations

import torch.nn as nn

from ..registry import NORMS
from .weight_norm import WNConv2d, WNConvTranspose2d, WNLinear


class Norm:
    """No normalization: plain layers with bias. Subclasses override what differs."""

    name = "none"
    #: the activation the paper pairs with this normalization (``activation: auto``)
    activation = "prelu"
    #: whether ``norm_layer`` returns a real layer (then D's first layer skips it, as in DCGAN)
    has_norm_layer = False

    def linear(self, in_features, out_features, *, last=False, init_factor=1.0) -> nn.Module:
        return nn.Linear(in_features, out_features)

    def conv(self, in_channels, out_channels, kernel_size, stride=1, padding=0, *, last=False) -> nn.Module:
        return nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding)

    def conv_transpose(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                       output_padding=0, *, last=False) -> nn.Module:
        return nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride, padding, output_padding)

    def norm_layer(self, channels: int) -> nn.Module:
        return nn.Identity()

    def wrap(self, net: nn.Module) -> nn.Module:
        """Whole-network normalizations (GraN) wrap D here; others return it unchanged."""
        return net

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


NORMS.register("none", help="no normalization (the paper's 'vanilla')")(Norm)


@NORMS.register("batch", help="batch normalization after hidden layers (Ioffe & Szegedy 2015)")
class BatchNorm(Norm):
    name = "batch"
    has_norm_layer = True

    def __init__(self, momentum: float = 0.1, eps: float = 1e-5):
        self.momentum, self.eps = momentum, eps

    def norm_layer(self, channels: int) -> nn.Module:
        return nn.BatchNorm2d(channels, eps=self.eps, momentum=self.momentum)


@NORMS.register("weight", help="strict weight normalization + TPReLU (Xiang & Li 2017)",
                rescales_weights=True)
class WeightNorm(Norm):
    """Strict WN in hidden layers, affine WN in the last layer of G and D (paper's code)."""

    name = "weight"
    activation = "tprelu"

    def __init__(self, affine_hidden: bool = False):
        """``affine_hidden=False``: hidden layers strict (no gamma, no beta), as in the paper.
        ``True``: hidden layers affine too, a learned gamma (init 1) and beta per output unit.
        The last layer of G and D is affine either way; the activation stays TPReLU."""
        self.affine_hidden = affine_hidden

    def linear(self, in_features, out_features, *, last=False, init_factor=1.0):
        return WNLinear(in_features, out_features, affine=last or self.affine_hidden, init_factor=init_factor)

    def conv(self, in_channels, out_channels, kernel_size, stride=1, padding=0, *, last=False):
        return WNConv2d(in_channels, out_channels, kernel_size, stride, padding,
                        affine=last or self.affine_hidden)

    def conv_transpose(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                       output_padding=0, *, last=False):
        return WNConvTranspose2d(in_channels, out_channels, kernel_size, stride, padding, output_padding,
                                 affine=last or self.affine_hidden)


def build_norm(name: str, args: dict | None = None) -> Norm:
    return NORMS.build(name, **(args or {}))
