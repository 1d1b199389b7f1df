"""Weight normalization for GANs and the translated ReLU (Xiang & Li 2017, arXiv 1704.03971).

Strict weight-normalized layer (no scale, no bias), for each output unit k:

    y_k = (w_k . x) / ||w_k||,      ||w_k|| = sqrt(sum_j w_kj^2 + 1e-6)

the norm taken over the unit's fan-in (in_features, or in_channels * kh * kw for a conv).
Affine weight-normalized layer: y_k = gamma_k (w_k . x) / ||w_k|| + beta_k, gamma = 1 and
beta = 0 at initialisation.

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


class _TPReLUFunction(torch.autograd.Function):
    """PReLU(x - b; clamp(s, 0, 1)) + b with a hand-written backward.

    Autograd of the composed ops keeps three activation-sized tensors and makes three
    passes each way; this keeps one (x - b) and adds b in place, about 20% faster on CPU
    (the activations dominate a DCGAN step there). The backward uses differentiable ops,
    so double backprop (GraN, gradient penalties) works; the dependence of the PReLU
    derivative on x - b is zero almost everywhere, so not linking it loses nothing.
    """

    @staticmethod
    def forward(ctx, x, slope, shift):
        # Under autocast x may be 16-bit while the parameters stay float32: compute in x's
        # dtype (as autocast's own prelu does) and reduce the parameter gradients in float32.
        shape = (1, -1) + (1,) * (x.dim() - 2)
        b = shift.to(x.dtype).view(shape)
        d = x - b
        y = F.prelu(d, slope.clamp(0, 1).to(x.dtype))
        y.add_(b)
        ctx.save_for_backward(d, slope)
        return y

    @staticmethod
    def backward(ctx, grad):
        d, slope = ctx.saved_tensors
        shape = (1, -1) + (1,) * (d.dim() - 2)
        gd, gs = torch.ops.aten._prelu_kernel_backward(grad.to(d.dtype), d,
                                                       slope.clamp(0, 1).to(d.dtype).view(shape))
        dims = [0] + list(range(2, d.dim()))
        g_shift = grad.float().sum(dims) - gd.float().sum(dims)
        g_slope = gs.float().sum(dims) * ((slope >= 0) & (slope <= 1))  # clamp's gradient mask
        return gd, g_slope, g_shift


class TPReLU(nn.Module):
    """Translated parametric ReLU, the form in the authors' code (the default with WN).

        TPReLU(x) = PReLU(x - b; s) + b,     s clamped to [0, 1]

    b is a learned per-channel translation (init 0), s a learned per-channel slope (init 0.25).
    """

    def __init__(self, num_parameters: int = 1, init: float = 0.25):
        super().__init__()
        self.num_parameters = num_parameters
        self.weight = nn.Parameter(torch.full((num_parameters,), float(init)))
        self.bias = nn.Parameter(torch.zeros(num_parameters))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _TPReLUFunction.apply(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


class TReLU(nn.Module):
    """Translated ReLU of the paper: TReLU_a(x) = ReLU(x - a) + a, a learned per channel (init 0)."""

    def __init__(self, num_parameters: int = 1):
        super().__init__()
        self.num_parameters = num_parameters
        self.bias = nn.Parameter(torch.zeros(num_parameters))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.bias.view(1, -1, *([1] * (x.dim() - 2)))
        return F.relu(x - a) + a

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"
