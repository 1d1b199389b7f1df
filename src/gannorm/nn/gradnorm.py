"""Gradient normalization of a whole discriminator: GraN and GN-GAN.

GraN (Bhaskara et al., WACV 2022, arXiv 2111.03162), with f the raw discriminator:

    g(x) = K * f(x) * ||grad_x f(x)|| / (||grad_x f(x)||^2 + eps)

For a piecewise-linear f (ReLU / LeakyReLU / PReLU nets, no batch norm) grad f = a is
constant on each linear piece, so there grad g = K a ||a|| / (||a||^2 + eps) and
||grad g|| = K ||a||^2 / (||a||^2 + eps) <= K: g is piecewise K-Lipschitz. Here K is a
factor on the output and eps defaults to 1e-4; both are settings (``d_norm_args: {K: .., eps: ..}``).

GN-GAN (Wu et al., ICCV 2021), a different method:

    g(x) = f(x) / (||grad_x f(x)|| + |f(x)|)

For piecewise-linear f: grad g = a ||a|| / (||a|| + |f|)^2, so ||grad g|| <= 1, and |g| < 1.

Both need grad_x f inside the forward (double backprop: create_graph=True). The gradient
is taken of sum_i f(x_i), which gives each example's own gradient only if D treats the
examples independently (no batch norm in D: use these with a D built without it).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ..errors import GannormError
from ..registry import NORMS
from .norms import Norm
from .precision import full_precision

MODES = ("gran", "gngan")


class GradNorm(nn.Module):
    """Wraps a discriminator so its output is gradient-normalized; usable without the trainer.

    ``forward(x, return_features=False, **kw)`` passes everything on to the wrapped D and
    returns the normalized logits (and D's features, untouched, when asked). Works when
    ``x`` does not require grad (real images) and under ``torch.no_grad()`` (the gradient
    is then taken internally and the output is detached).
    """

    def __init__(self, discriminator: nn.Module, mode: str = "gran", eps: float | None = None,
                 K: float = 1.0):
        super().__init__()
        if mode not in MODES:
            raise GannormError(f"GradNorm: mode must be one of {', '.join(MODES)}, got {mode!r}")
        if eps is None:
            # GN-GAN's formula has no eps; a tiny one only guards f = grad f = 0
            eps = 1e-4 if mode == "gran" else 1e-12
        if not eps > 0:
            raise GannormError(f"GradNorm: eps must be > 0, got {eps}")
        if not K > 0:
            raise GannormError(f"GradNorm: K must be > 0, got {K}")
        self.net, self.mode, self.eps, self.K = discriminator, mode, float(eps), float(K)

    def __getattr__(self, name):
        # Lets callers read D's own attributes (feature_channels, ...) through the wrapper.
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(super().__getattr__("net"), name)

    def forward(self, x: torch.Tensor, *args, **kwargs):
        outer_grad = torch.is_grad_enabled()
        if not x.requires_grad:
            x = x.detach().requires_grad_(True)
        with torch.enable_grad():
            out = self.net(x, *args, **kwargs)
            f, rest = (out[0], out[1:]) if isinstance(out, tuple) else (out, None)
            (grad,) = torch.autograd.grad(f.sum(), x, create_graph=outer_grad)
            gnorm = grad.flatten(1).norm(dim=1).view(f.shape[0], *([1] * (f.dim() - 1)))
            g = self.normalize(f, gnorm)
        if not outer_grad:
            g = g.detach()
            rest = tuple(r.detach() if torch.is_tensor(r) else r for r in rest) if rest else rest
        return (g, *rest) if rest is not None else g

    @full_precision
    def normalize(self, f: torch.Tensor, gnorm: torch.Tensor) -> torch.Tensor:
        """g from f and ||grad_x f|| (per example)."""
        if self.mode == "gran":
            return self.K * f * gnorm / (gnorm.square() + self.eps)
        return self.K * f / (gnorm + f.abs() + self.eps)

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}, eps={self.eps}, K={self.K}"


@NORMS.register("gran", help="GraN: D's output gradient-normalized, options eps, K (Bhaskara et al. 2022)",
                gradient_norm=True, inner_gradient=True)
class GraNNorm(Norm):
    """Plain layers; ``wrap`` puts the whole D inside ``GradNorm``. D only."""

    name = "gran"
    mode = "gran"

    def __init__(self, eps: float | None = None, K: float = 1.0):
        for key, v in (("eps", eps), ("K", K)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0):
                raise GannormError(f"normalization {self.name!r}: {key} must be a number > 0, got {v!r}")
        self.eps, self.K = eps, K

    def conv_transpose(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                       output_padding=0, *, last=False):
        layer = nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride, padding, output_padding)
        raise GannormError(f"normalization {self.name!r} normalizes a whole discriminator and cannot apply "
                           f"to the generator layer {layer!r}; use it as model.d_norm, not model.g_norm")

    def wrap(self, net: nn.Module) -> nn.Module:
        return GradNorm(net, self.mode, self.eps, self.K)


@NORMS.register("gngan", help="GN-GAN: f / (||grad f|| + |f|) on D's output (Wu et al. 2021)",
                gradient_norm=True, inner_gradient=True)
class GNGANNorm(GraNNorm):
    name = "gngan"
    mode = "gngan"

    def __init__(self, eps: float | None = None):
        super().__init__(eps=eps, K=1.0)
