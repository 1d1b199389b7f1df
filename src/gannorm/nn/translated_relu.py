"""Translated rectifiers of Xiang & Li 2017 ("On the effects of batch and weight normalization
in generative adversarial networks", arXiv 1704.03971), the activations of their WN networks.

The paper's text uses the translated ReLU, a learned per-channel translation a:

    TReLU_a(x) = ReLU(x - a) + a = max(x, a)

and the authors' code (github stormraiser/GAN-weight-norm, modules/TPReLU.py) the translated
parametric ReLU, a learned per-channel translation b and slope s:

    TPReLU(x) = PReLU(x - b; clamp(s, 0, 1)) + b  =  x               if x > b
                                                      s (x - b) + b   otherwise

TPReLU is written as two small autograd functions instead of the composed ops
``F.prelu(x - b, s.clamp(0, 1)) + b``: the output is made in place, the shift's gradient is
a reduction of the incoming gradient (no negated copy), and the parameter gradients are
reduced in the parameters' dtype (float32 under autocast) without a converted copy. The
backward is torch's fused PReLU backward kernel, wrapped in a function of its own whose
derivatives use the forward's mask, so second derivatives (gradient penalties, GraN) are
exact, also at x == b. The clamp is torch's own, outside the functions, so
the slope's gradient at s = 0 or 1 is the clamp's.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def _per_channel(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A (C,) parameter as a tensor broadcasting over ``like``'s channel dimension (dim 1)."""
    return t.to(like.dtype).view((1, -1) + (1,) * (like.dim() - 2))


def _channel_sum(g: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Sum over every dimension but the channel one, accumulated and returned in ``dtype``."""
    return g.sum([0] + list(range(2, g.dim())), dtype=dtype)


class _Shift(torch.autograd.Function):
    """d = x - b with b per channel."""

    @staticmethod
    def forward(ctx, x, shift):
        ctx.shift_dtype = shift.dtype
        return x - _per_channel(shift, x)

    @staticmethod
    def backward(ctx, grad):
        return grad, -_channel_sum(grad, ctx.shift_dtype) if ctx.needs_input_grad[1] else None


class _PReLUGradients(torch.autograd.Function):
    """PReLU's input and per-element slope gradients as a function of (grad, d, s):

        g_d = grad if d > 0 else s grad,        g_s = 0 if d > 0 else d grad

    computed by torch's fused kernel, and differentiated with the same mask d > 0 (torch's own
    PReLU double backward uses d >= 0, which disagrees with the first derivative at d == 0)."""

    @staticmethod
    def forward(ctx, grad, d, s):
        ctx.set_materialize_grads(False)  # a penalty on the input gradient leaves gg_s unset
        ctx.save_for_backward(grad, d, s)
        return torch.ops.aten._prelu_kernel_backward(grad, d, s)

    @staticmethod
    def backward(ctx, gg_d, gg_s):
        grad, d, s = ctx.saved_tensors
        need_grad, need_d, need_s = ctx.needs_input_grad
        positive = d > 0
        g_grad = g_d = g_s = None
        if gg_d is not None:
            if need_grad:
                g_grad = torch.where(positive, gg_d, gg_d * s)
            if need_s:  # (in place on a fresh product: one buffer fewer than torch.where)
                g_s = (grad * gg_d).masked_fill_(positive, 0.0)  # reduced to s's shape by autograd
        if gg_s is not None:
            if need_grad:
                g_grad = torch.where(positive, 0.0, gg_s * d) if g_grad is None else \
                    torch.where(positive, g_grad, g_grad + gg_s * d)
            if need_d:
                g_d = (grad * gg_s).masked_fill_(positive, 0.0)
        return g_grad, g_d, g_s


class _ShiftedPReLU(torch.autograd.Function):
    """y = PReLU(d; s) + b, given d = x - b and the already clamped slope s; saves d and s."""

    @staticmethod
    def forward(ctx, d, slope, shift):
        # Under autocast d may be 16-bit while the parameters stay float32: compute in d's
        # dtype, as autocast's own prelu does.
        y = F.prelu(d, slope.to(d.dtype))
        y.add_(_per_channel(shift, d))
        ctx.save_for_backward(d, slope)
        ctx.shift_dtype = shift.dtype
        return y

    @staticmethod
    def backward(ctx, grad):
        d, slope = ctx.saved_tensors
        g_d, g_s = _PReLUGradients.apply(grad.to(d.dtype), d, _per_channel(slope, d))
        _, need_s, need_b = ctx.needs_input_grad
        return (g_d, _channel_sum(g_s, slope.dtype) if need_s else None,
                _channel_sum(grad, ctx.shift_dtype) if need_b else None)


def translated_prelu(x: torch.Tensor, slope: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """PReLU(x - b; s) + b with per-channel (dim 1) slope s and shift b, s used as given
    (``TPReLU`` clamps it to [0, 1] first)."""
    return _ShiftedPReLU.apply(_Shift.apply(x, shift), slope, shift)


class TPReLU(nn.Module):
    """Translated parametric ReLU of the authors' code (the default activation with WN).

        TPReLU(x) = PReLU(x - b; s) + b,     s clamped to [0, 1]

    b is a learned per-channel translation (init 0), s a learned per-channel slope (init 0.25).
    """

    def __init__(self, num_parameters: int = 1, init: float = 0.25):
        super().__init__()
        self.num_parameters = num_parameters
        self.weight = nn.Parameter(torch.full((num_parameters,), float(init)))
        self.bias = nn.Parameter(torch.zeros(num_parameters))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return translated_prelu(x, self.weight.clamp(0, 1), self.bias)

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
