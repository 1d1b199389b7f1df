"""Weight initialisations of reference code, for the SNGAN models (``model.args.init``).

- ``torch`` (the default): each layer's own ``reset_parameters`` (Kaiming-uniform with
  a = sqrt(5) for Linear and Conv), as built.
- ``normal``: every Linear / Conv / ConvTranspose weight ~ N(0, std^2), biases 0.
- ``truncated_normal``: every such weight ~ N(0, std^2) truncated at +-2 std (values
  beyond are redrawn, as TensorFlow's ``truncated_normal_initializer``; the truncated
  distribution's own standard deviation is about 0.88 std), biases 0.
- ``bsn``: the initialisation of Lin et al. 2021's CNN code (github fjxmlzn/BSN,
  ``gan/op.py``): conv weights truncated normal, transposed-conv and dense weights
  normal, both with std 0.02 by default, biases 0.

``std`` is ``model.args.init_std`` (default 0.02, the value in that code and in DCGAN's).
A layer with spectral normalization or BSSN gets its raw weight initialised and its
power-iteration vectors run to convergence again on it, so that the first forward has
the right sigma, as after the layer's own construction.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
from torch.nn.modules.conv import _ConvNd
from torch.nn.utils import parametrize

from ..errors import GannormError
from ..nn.bssn import BSSN
from ..nn.spectral import WARMUP_ITERATIONS, SpectralNorm

INITS = ("torch", "normal", "truncated_normal", "bsn")
_PLAIN = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)


def check_init(init: str, std: float) -> None:
    if init not in INITS:
        raise GannormError(f"model.args.init must be one of {', '.join(INITS)}, got {init!r}")
    if not (isinstance(std, (int, float)) and not isinstance(std, bool) and math.isfinite(std) and std > 0):
        raise GannormError(f"model.args.init_std must be a number > 0, got {std!r}")


def plain_type(m: nn.Module) -> type:
    """The layer's class; for a parametrized layer the class torch's parametrize derived it from."""
    return type(m).__bases__[0] if parametrize.is_parametrized(m) else type(m)


def _kind(m: nn.Module, init: str) -> str:
    if init != "bsn":
        return init
    return "truncated_normal" if isinstance(m, _ConvNd) and not m.transposed else "normal"


@torch.no_grad()
def init_weights(net: nn.Module, init: str = "torch", std: float = 0.02) -> nn.Module:
    """Initialise every Linear / Conv / ConvTranspose of ``net`` by ``init`` (module docstring)."""
    check_init(init, std)
    if init == "torch":
        return net
    for m in net.modules():
        if not isinstance(m, (nn.Linear, _ConvNd)):
            continue
        if plain_type(m) not in _PLAIN:  # e.g. weight-normalized layers, whose scale is their own
            raise GannormError(f"model.args.init={init} applies to plain, spectral and bssn layers; "
                               f"{type(m).__name__} is not one; use init=torch with this normalization")
        if parametrize.is_parametrized(m, "weight"):
            plist = m.parametrizations.weight
            if not all(isinstance(p, (SpectralNorm, BSSN)) for p in plist):
                raise GannormError(f"model.args.init={init} applies to plain, spectral and bssn layers; "
                                   f"{m!r} has another weight parametrization; use init=torch with it")
            weight = plist.original
        else:
            weight = m.weight
        if _kind(m, init) == "normal":
            weight.normal_(0.0, std)
        else:
            nn.init.trunc_normal_(weight, 0.0, std, -2 * std, 2 * std)
        if getattr(m, "bias", None) is not None:
            m.bias.zero_()
        if parametrize.is_parametrized(m, "weight"):
            for _ in range(WARMUP_ITERATIONS):
                for p in m.parametrizations.weight:
                    p.advance(weight)
    return net
