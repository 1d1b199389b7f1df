"""Bidirectional scaled spectral normalization, BSSN (Lin, Sekar & Fanti, NeurIPS 2021,
arXiv 2009.02773; code github fjxmlzn/BSN).

For a conv kernel W (c_out, c_in, kh, kw), two spectral norms, each from its own
persistent power-iteration vectors (Miyato's Algorithm 1):

    sigma1 = ||W reshaped (kh*kw*c_in) x c_out||_2     (the usual SN reshaping)
    sigma2 = ||W reshaped (kh*kw*c_out) x c_in||_2

    W_bar = c * W / ((sigma1 + sigma2) / 2)

A linear layer has one matrix, so W_bar = c * W / sigma(W). ``c = 1`` is BSN,
``bidirectional=False`` with c != 1 is SSN (scaled SN), both together BSSN. The paper picks
c by grid search (CIFAR-10 0.7 .. 4.0; STL-10 and CelebA 0.7 .. 1.6).

``power_update`` (see ``gannorm.nn.spectral``): ``step`` (the default) advances the stored
vectors once after each optimizer step of the network, as the authors' code does (its
update op runs after every D step; a forward uses one look-ahead step without storing it);
``forward`` advances them at every training-mode forward, as torch's spectral_norm does.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.modules.conv import _ConvNd
from torch.nn.utils import parametrize

from ..errors import GannormError
from ..registry import NORMS
from .precision import eager_under_compile, full_precision
from .spectral import (WARMUP_ITERATIONS, _LayerwiseNorm, as_matrix, check_power_update, layer_weight, lookahead,
                       output_dim, power_step)


class BSSN(nn.Module):
    """The parametrization W -> c W / ((sigma1 + sigma2) / 2), or c W / sigma1."""

    def __init__(self, weight: torch.Tensor, out_dim: int, c: float = 1.0, bidirectional: bool = True,
                 n_power_iterations: int = 1, eps: float = 1e-12, power_update: str = "step"):
        super().__init__()
        self.c, self.n_power_iterations, self.eps = float(c), int(n_power_iterations), eps
        self.power_update = check_power_update("bssn", power_update)
        self.out_dim = out_dim
        # the second direction exists only for kernels; a matrix has just one spectral norm
        self.bidirectional = bool(bidirectional) and weight.dim() > 2
        self._init_vectors(weight.detach(), out_dim, "1")
        if self.bidirectional:
            self._init_vectors(weight.detach(), 1 - out_dim, "2")

    def _init_vectors(self, weight, dim, tag):
        mat = as_matrix(weight, dim)
        u = F.normalize(mat.new_empty(mat.shape[0]).normal_(), dim=0, eps=self.eps)
        v = F.normalize(mat.new_empty(mat.shape[1]).normal_(), dim=0, eps=self.eps)
        self.register_buffer("_u" + tag, u)
        self.register_buffer("_v" + tag, v)
        power_step(mat, u, v, WARMUP_ITERATIONS, self.eps)

    def _sigma(self, weight, dim, tag):
        mat = as_matrix(weight, dim)
        u, v = getattr(self, "_u" + tag), getattr(self, "_v" + tag)
        if self.training and self.power_update == "step":
            u, v = lookahead(mat.detach(), u, v, self.n_power_iterations, self.eps)
            return torch.dot(u, mat.mv(v))
        if self.training:
            power_step(mat.detach(), u, v, self.n_power_iterations, self.eps)
        return torch.dot(u.clone(), mat.mv(v.clone()))

    @torch.no_grad()
    def advance(self, weight: torch.Tensor) -> None:
        """One stored step of each direction (``power_update='step'``), after an optimizer step."""
        weight = weight.detach()
        power_step(as_matrix(weight, self.out_dim), self._u1, self._v1, self.n_power_iterations, self.eps)
        if self.bidirectional:
            power_step(as_matrix(weight, 1 - self.out_dim), self._u2, self._v2, self.n_power_iterations, self.eps)

    def sigmas(self, weight: torch.Tensor):
        """(sigma1, sigma2); sigma2 is None when not bidirectional. In training, advances the
        stored vectors (``forward``) or uses a look-ahead step from them (``step``)."""
        s1 = self._sigma(weight, self.out_dim, "1")
        s2 = self._sigma(weight, 1 - self.out_dim, "2") if self.bidirectional else None
        return s1, s2

    @eager_under_compile
    @full_precision
    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        s1, s2 = self.sigmas(weight)
        sigma = s1 if s2 is None else (s1 + s2) / 2
        return weight * (self.c / sigma)

    def extra_repr(self) -> str:
        return f"c={self.c}, bidirectional={self.bidirectional}"


def bssn(module: nn.Module, c: float = 1.0, bidirectional: bool = True, n_power_iterations: int = 1,
         eps: float = 1e-12, power_update: str = "step") -> nn.Module:
    """Register BSN / SSN / BSSN on a Linear, Conv or ConvTranspose layer; returns it.

    The vectors are ``module.parametrizations.weight[0]._u1, _v1`` (sigma1, rows = output
    channels) and ``_u2, _v2`` (sigma2, rows = input channels).
    """
    w = layer_weight(module, "weight", "bssn")
    if not isinstance(module, (nn.Linear, _ConvNd)):
        raise GannormError(f"bssn: layer {module!r} is not a Linear, Conv or ConvTranspose layer")
    if not c > 0:
        raise GannormError(f"bssn: c must be > 0, got {c} (layer {module!r}); the paper uses 0.7 .. 4")
    if int(n_power_iterations) < 1 or not eps > 0:
        raise GannormError(f"bssn: n_power_iterations must be >= 1 and eps > 0 (layer {module!r})")
    parametrize.register_parametrization(
        module, "weight", BSSN(w, output_dim(module), c, bidirectional, n_power_iterations, eps, power_update))
    return module


@NORMS.register("bssn", help="bidirectional scaled SN; options c, bidirectional, power_update (Lin et al. 2021)",
                rescales_weights=True)
class BSSNNorm(_LayerwiseNorm):
    """Options: ``c``, ``bidirectional``, ``n_power_iterations``, ``power_update`` (step: once
    per optimizer step, the authors' behaviour and the default; forward: every training forward)."""
    name = "bssn"

    def __init__(self, c: float = 1.0, bidirectional: bool = True, n_power_iterations: int = 1,
                 power_update: str = "step"):
        if not isinstance(c, (int, float)) or isinstance(c, bool) or not c > 0:
            raise GannormError(f"normalization 'bssn': c must be a number > 0, got {c!r} "
                               f"(the paper searches 0.7 .. 4)")
        self.c, self.bidirectional, self.n_power_iterations = float(c), bool(bidirectional), n_power_iterations
        self.power_update = check_power_update("normalization 'bssn'", power_update)

    def _apply_to(self, layer):
        return bssn(layer, self.c, self.bidirectional, self.n_power_iterations, power_update=self.power_update)
