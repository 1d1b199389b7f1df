"""Weight-normalized layers for GANs (Xiang & Li 2017, arXiv 1704.03971); their activations,
TReLU and TPReLU, are in ``translated_relu.py``.

Strict weight-normalized layer (no scale, no bias), for each output unit k:

    y_k = (w_k . x) / ||w_k||,      ||w_k|| = sqrt(sum_j w_kj^2 + 1e-6)

the norm taken over the unit's fan-in (in_features, or in_channels * kh * kw for a conv).
Affine weight-normalized layer: y_k = gamma_k (w_k . x) / ||w_k|| + beta_k, gamma = init_scale
(default 1) at initialisation; beta = 0 for the convolutions, and for the linear layer uniform in
+-init_factor / sqrt(in_features), nn.Linear's bias range scaled like its weights.

Transposed convolution: each output pixel of a stride-s transposed conv sees only
1 / prod(s) of the kernel taps, so the squared norm is divided by prod(stride) before the
square root (as in the authors' code, github stormraiser/GAN-weight-norm, model WeightNormalizedConv.py).

Implementation note: instead of dividing the activations after the convolution (as the
authors' code does), the normalization and the scale are folded into the kernel:
W_eff[k] = gamma_k W[k] / ||W[k]||. The result is the same linear map, computed with one
conv call on a small tensor instead of an extra pass over the activations.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .precision import full_precision

WN_EPS = 1e-6  # inside the square root, as in the authors' code


def normalized_weight(weight: torch.Tensor, out_dim: int, factor: float = 1.0,
                      scale: torch.Tensor | None = None) -> torch.Tensor:
    """W_eff[k] = gamma_k W[k] / sqrt(factor * sum_j W[k, j]^2 + 1e-6), k indexing dim ``out_dim``.

    The one definition of the arithmetic, shared by the WN layers here and the
    parametrization of ``wn_param.py``. ``scale`` (gamma) broadcasts against ``weight``; it
    multiplies the per-unit factor before the weight, so the full-size tensor is touched once.
    """
    fan_in = tuple(d for d in range(weight.dim()) if d != out_dim)
    inv = torch.rsqrt(weight.pow(2).sum(dim=fan_in, keepdim=True) * factor + WN_EPS)
    return weight * (inv if scale is None else inv * scale)


class WNLinear(nn.Linear):
    """Weight-normalized linear layer; ``affine=True`` adds the per-unit gamma and beta.

    ``init_factor`` multiplies the initial uniform(-1/sqrt(in), 1/sqrt(in)) weights; the
    paper's generator uses 0.01 for its first (linear) layer.
    """

    def __init__(self, in_features: int, out_features: int, affine: bool = False,
                 init_factor: float = 1.0, init_scale: float = 1.0):
        super().__init__(in_features, out_features, bias=False)
        self.affine = affine
        stdv = init_factor / math.sqrt(in_features)
        with torch.no_grad():
            self.weight.uniform_(-stdv, stdv)
        if affine:
            self.scale = nn.Parameter(torch.full((out_features, 1), float(init_scale)))
            self.bias = nn.Parameter(torch.empty(out_features).uniform_(-stdv, stdv))
        else:
            self.register_parameter("scale", None)

    @full_precision
    def effective_weight(self) -> torch.Tensor:
        return normalized_weight(self.weight, 0, 1.0, self.scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.effective_weight(), self.bias)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", affine={self.affine}"


class WNConv2d(nn.Conv2d):
    """Weight-normalized 2-d convolution (strict, or affine with ``affine=True``)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, affine: bool = False, init_factor: float = 1.0, init_scale: float = 1.0):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, bias=False)
        self.affine = affine
        with torch.no_grad():
            self.weight.mul_(init_factor)
        if affine:
            self.scale = nn.Parameter(torch.full((out_channels, 1, 1, 1), float(init_scale)))
            self.bias = nn.Parameter(torch.zeros(out_channels))
        else:
            self.register_parameter("scale", None)

    @full_precision
    def effective_weight(self) -> torch.Tensor:
        # weight: (out, in, kh, kw): one unit per output channel, fan-in over the rest
        return normalized_weight(self.weight, 0, 1.0, self.scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.effective_weight(), self.bias)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", affine={self.affine}"


class WNConvTranspose2d(nn.ConvTranspose2d):
    """Weight-normalized transposed convolution; squared norm divided by prod(stride)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 output_padding=0, dilation=1, affine: bool = False, init_factor: float = 1.0,
                 init_scale: float = 1.0):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, output_padding,
                         groups=1, bias=False, dilation=dilation)
        self.affine = affine
        self.stride_factor = 1.0 / float(math.prod(self.stride))
        with torch.no_grad():
            self.weight.mul_(init_factor)
        if affine:
            self.scale = nn.Parameter(torch.full((1, out_channels, 1, 1), float(init_scale)))
            self.bias = nn.Parameter(torch.zeros(out_channels))
        else:
            self.register_parameter("scale", None)

    @full_precision
    def effective_weight(self) -> torch.Tensor:
        # weight: (in, out, kh, kw): output unit = dim 1
        return normalized_weight(self.weight, 1, self.stride_factor, self.scale)

    def forward(self, x: torch.Tensor, output_size=None) -> torch.Tensor:
        output_padding = self._output_padding(x, output_size, self.stride, self.padding,
                                              self.kernel_size, 2, self.dilation)
        return F.conv_transpose2d(x, self.effective_weight(), self.bias, self.stride, self.padding,
                                  output_padding, 1, self.dilation)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", affine={self.affine}"
