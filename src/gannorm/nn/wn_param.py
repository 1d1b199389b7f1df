"""Weight normalization of Xiang & Li 2017 (arXiv 1704.03971) as a parametrization.

The same math as ``nn/weight_norm.py`` (WNLinear, WNConv2d, WNConvTranspose2d), offered in
the calling style of ``torch.nn.utils.parametrizations``: ``weight_norm(layer)`` turns an
existing Linear / Conv / ConvTranspose layer into a strict WN layer,

    W_eff[k] = W[k] / sqrt(sum_j W[k, j]^2 * f + 1e-6),

k an output unit, j its fan-in, f = 1 / prod(stride) for a transposed conv (each output
pixel sees only that share of the taps) and 1 otherwise. ``affine=True`` multiplies by a
learned per-unit gamma (init 1, at ``module.parametrizations.weight[0].scale``) and uses
the layer's bias as beta (a zero bias is added if the layer has none). Strict WN in the
paper has no bias: build the layer with ``bias=False`` for that.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
from torch.nn.modules.conv import _ConvNd
from torch.nn.utils import parametrize

from ..errors import GannormError
from .precision import full_precision
from .spectral import layer_weight, output_dim
from .weight_norm import normalized_weight


class WeightNormParam(nn.Module):
    """W -> gamma * W / ||W||, the norm over each output unit's fan-in (see module docstring)."""

    def __init__(self, weight: torch.Tensor, out_dim: int, factor: float = 1.0, affine: bool = False):
        super().__init__()
        self.out_dim, self.factor = out_dim, float(factor)
        if affine:
            shape = [1] * weight.dim()
            shape[out_dim] = weight.shape[out_dim]
            self.scale = nn.Parameter(torch.ones(shape, dtype=weight.dtype, device=weight.device))
        else:
            self.register_parameter("scale", None)

    @full_precision
    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return normalized_weight(weight, self.out_dim, self.factor, self.scale)


def weight_norm(module: nn.Module, affine: bool = False) -> nn.Module:
    """Register Xiang & Li's (strict or affine) weight normalization on ``module.weight``."""
    w = layer_weight(module, "weight", "weight_norm")
    if not isinstance(module, (nn.Linear, _ConvNd)):
        raise GannormError(f"weight_norm: layer {module!r} is not a Linear, Conv or ConvTranspose layer")
    transposed = isinstance(module, _ConvNd) and module.transposed
    factor = 1.0 / math.prod(module.stride) if transposed else 1.0
    if affine and getattr(module, "bias", None) is None:
        out = w.shape[output_dim(module)]
        module.bias = nn.Parameter(torch.zeros(out, dtype=w.dtype, device=w.device))
    parametrize.register_parametrization(module, "weight",
                                         WeightNormParam(w, output_dim(module), factor, affine))
    return module
