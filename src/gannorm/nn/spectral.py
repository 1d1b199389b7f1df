"""Spectral normalization (Miyato et al. 2018, arXiv 1802.05957) and its strict variant.

``spectral_norm(module)``: W_SN = W / sigma(W), sigma estimated by power iteration with a
persistent vector u (Algorithm 1 of the paper), one iteration per training forward:

    v = W^T u / ||W^T u||,    u = W v / ||W v||,    sigma = u^T W v

with the kernel reshaped to a matrix (out, in * kh * kw); for a transposed conv the output
channels are dim 1 of the kernel, as in ``torch.nn.utils.parametrizations.spectral_norm``.
u and v are buffers (saved in ``state_dict``) and only move in training mode; in eval mode
sigma = u^T W v with the stored vectors, so eval outputs are deterministic.

When the stored vectors advance (``power_update``):

- ``forward`` (the default for ``spectral``): one step at every training-mode forward, as
  ``torch.nn.utils.parametrizations.spectral_norm`` and Miyato's Chainer code do. A D is
  run about three times per iteration (on real images, on fakes, in G's step), so u
  advances about three times per iteration, more with penalties that call D again.
- ``step`` (the authors' behaviour in Lin et al. 2021's code, github fjxmlzn/BSN, and the
  default for ``bssn``): the stored vectors advance once after each optimizer step of the
  network that holds the layer (``advance_power_iterations``, which the trainer calls after
  D's and G's updates), on the updated weight. A training forward uses one look-ahead step
  from the stored vectors, sigma = u'^T W v' with v' = W^T u / ||W^T u||,
  u' = W v' / ||W v'||, without storing it (the authors' TensorFlow graph computes sigma
  the same way and assigns u only in its update op, run after each D step).

``strict_spectral_norm(module)``: sigma is the true operator norm of the layer as a linear
map on images of one size, stride and padding included (the "SN-Conv" the paper mentions).
The same power iteration runs through the operator A = conv and its adjoint
A^T = conv_transpose (or the other way round for a transposed conv):

    v = A^T u / ||A^T u||,    u = A v / ||A v||,    sigma = <u, A v>

v lives in the input space (1, C_in, H, W), so the input size must be known: it is taken
from the first forward, or given as ``input_shape=(H, W)``. The reshaped-kernel sigma can
under- or over-estimate the operator norm by a factor up to sqrt(kh * kw / prod(stride)).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.modules.conv import _ConvNd
from torch.nn.utils import parametrize

from ..errors import GannormError
from ..registry import NORMS
from .norms import Norm
from .precision import eager_under_compile, full_precision
from .prepare import eval_mode

#: power iterations run once when the vectors are created, so the first forward already
#: has a good sigma (torch's spectral_norm does the same with 15)
WARMUP_ITERATIONS = 15


def layer_weight(module: nn.Module, name: str, who: str) -> torch.Tensor:
    """The module's weight, or a one-line error naming the layer and the fix."""
    w = getattr(module, name, None)
    if not isinstance(w, torch.Tensor):
        raise GannormError(f"{who}: layer {module!r} has no tensor {name!r}; wrap a Linear, Conv "
                           f"or ConvTranspose layer")
    if w.dim() < 2:
        raise GannormError(f"{who}: {name!r} of layer {module!r} is {w.dim()}-d; it needs a "
                           f"matrix or a kernel (Linear, Conv, ConvTranspose)")
    return w


def output_dim(module: nn.Module) -> int:
    """Which kernel dimension indexes output units: 1 for transposed convs, else 0."""
    return 1 if isinstance(module, _ConvNd) and module.transposed else 0


def as_matrix(weight: torch.Tensor, dim: int) -> torch.Tensor:
    """The kernel as a (weight.shape[dim], rest) matrix."""
    if dim:
        weight = weight.movedim(dim, 0)
    return weight.flatten(1)


@torch.no_grad()
def power_step(mat: torch.Tensor, u: torch.Tensor, v: torch.Tensor, n: int, eps: float) -> None:
    """n steps of Miyato's Algorithm 1, updating the buffers u and v in place."""
    for _ in range(n):
        v.copy_(F.normalize(mat.t().mv(u), dim=0, eps=eps))
        u.copy_(F.normalize(mat.mv(v), dim=0, eps=eps))


#: when the stored power-iteration vectors advance (module docstring)
POWER_UPDATES = ("forward", "step")


def check_power_update(who: str, power_update: str) -> str:
    if power_update not in POWER_UPDATES:
        raise GannormError(f"{who}: power_update must be one of {', '.join(POWER_UPDATES)}, got "
                           f"{power_update!r} (forward: every training forward, as torch's spectral_norm; "
                           f"step: once per optimizer step, as Lin et al. 2021's code)")
    return power_update


@torch.no_grad()
def lookahead(mat: torch.Tensor, u: torch.Tensor, v: torch.Tensor, n: int, eps: float):
    """(u', v') after n power steps from (u, v), the buffers left as they are."""
    u, v = u.clone(), v.clone()
    power_step(mat, u, v, n, eps)
    return u, v


@torch.no_grad()
def advance_power_iterations(net: nn.Module) -> int:
    """Advance the stored vectors of every ``power_update='step'`` layer of ``net`` once
    (by their ``n_power_iterations``), on the current weights; returns how many advanced.

    Called after each optimizer step of ``net`` (the trainer does it for D and G); a no-op
    for layers that advance at every forward.
    """
    count = 0
    for m in net.modules():
        if not isinstance(m, parametrize.ParametrizationList):
            continue
        x = m.original
        for i, p in enumerate(m):
            if getattr(p, "power_update", None) == "step":
                p.advance(x)
                count += 1
            if i + 1 < len(m):
                x = p(x)
    return count


def _check_options(who: str, module: nn.Module, n_power_iterations: int, eps: float) -> None:
    if int(n_power_iterations) < 1:
        raise GannormError(f"{who}: n_power_iterations must be >= 1, got {n_power_iterations} "
                           f"(layer {module!r})")
    if not eps > 0:
        raise GannormError(f"{who}: eps must be > 0, got {eps} (layer {module!r})")


class SpectralNorm(nn.Module):
    """The parametrization W -> W / sigma(W) of Miyato et al. (see the module docstring)."""

    def __init__(self, weight: torch.Tensor, dim: int = 0, n_power_iterations: int = 1,
                 eps: float = 1e-12, power_update: str = "forward"):
        super().__init__()
        self.dim, self.n_power_iterations, self.eps = dim, int(n_power_iterations), eps
        self.power_update = check_power_update("spectral_norm", power_update)
        mat = as_matrix(weight.detach(), dim)
        self.register_buffer("_u", F.normalize(mat.new_empty(mat.shape[0]).normal_(), dim=0, eps=eps))
        self.register_buffer("_v", F.normalize(mat.new_empty(mat.shape[1]).normal_(), dim=0, eps=eps))
        power_step(mat, self._u, self._v, WARMUP_ITERATIONS, eps)

    def advance(self, weight: torch.Tensor) -> None:
        """One stored step (``power_update='step'``), called after an optimizer step."""
        power_step(as_matrix(weight.detach(), self.dim), self._u, self._v, self.n_power_iterations, self.eps)

    def sigma(self, weight: torch.Tensor) -> torch.Tensor:
        mat = as_matrix(weight, self.dim)
        if self.training and self.power_update == "step":
            u, v = lookahead(mat.detach(), self._u, self._v, self.n_power_iterations, self.eps)
            return torch.dot(u, mat.mv(v))
        if self.training:
            power_step(mat.detach(), self._u, self._v, self.n_power_iterations, self.eps)
        # Clones: the buffers change in place at the next forward, while this graph
        # (e.g. D(real) before D(fake)) may still be waiting for its backward.
        return torch.dot(self._u.clone(memory_format=torch.contiguous_format),
                         mat.mv(self._v.clone(memory_format=torch.contiguous_format)))

    @eager_under_compile
    @full_precision
    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight / self.sigma(weight)


def spectral_norm(module: nn.Module, name: str = "weight", n_power_iterations: int = 1,
                  eps: float = 1e-12, power_update: str = "forward") -> nn.Module:
    """Register Miyato's spectral normalization on ``module.<name>``; returns the module.

    Same calling style as ``torch.nn.utils.parametrizations.spectral_norm``; the vectors
    are at ``module.parametrizations.<name>[0]._u`` / ``._v``. ``power_update``: when
    they advance (module docstring); ``forward`` is torch's behaviour.
    """
    w = layer_weight(module, name, "spectral_norm")
    _check_options("spectral_norm", module, n_power_iterations, eps)
    parametrize.register_parametrization(
        module, name, SpectralNorm(w, output_dim(module), n_power_iterations, eps, power_update))
    return module


# ----------------------------------------------------------------------------- strict SN

def _conv_fns(nd: int):
    return {1: (F.conv1d, F.conv_transpose1d), 2: (F.conv2d, F.conv_transpose2d),
            3: (F.conv3d, F.conv_transpose3d)}[nd]


class StrictSpectralNorm(nn.Module):
    """W -> W / ||A_W||, A_W the conv (or transposed conv) as an operator on one input size."""

    def __init__(self, module: _ConvNd, n_power_iterations: int = 1, eps: float = 1e-12,
                 input_shape: Sequence[int] | None = None):
        super().__init__()
        self.n_power_iterations, self.eps = int(n_power_iterations), eps
        self.nd = len(module.kernel_size)
        self.transposed = bool(module.transposed)
        self.stride, self.padding = tuple(module.stride), tuple(module.padding)
        self.dilation, self.groups = tuple(module.dilation), module.groups
        self.output_padding = tuple(module.output_padding)
        self.layer_repr = repr(module)
        # Empty until the input size is known; resized when a checkpoint is loaded.
        self.register_buffer("_u", torch.empty(0, device=module.weight.device))
        self.register_buffer("_v", torch.empty(0, device=module.weight.device))
        if input_shape is not None:
            self.init_vectors(module.weight.detach(), tuple(int(s) for s in input_shape))

    # A and its adjoint on a single example
    def _forward_op(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        conv, convt = _conv_fns(self.nd)
        if self.transposed:
            return convt(x, w, None, self.stride, self.padding, self.output_padding, self.groups, self.dilation)
        return conv(x, w, None, self.stride, self.padding, self.dilation, self.groups)

    def _adjoint(self, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        conv, convt = _conv_fns(self.nd)
        if self.transposed:
            return conv(y, w, None, self.stride, self.padding, self.dilation, self.groups)
        in_size = self._v.shape[2:]
        # output_padding restores the input size that the strided conv rounded away
        op = [in_size[i] - ((y.shape[2 + i] - 1) * self.stride[i] - 2 * self.padding[i]
                            + self.dilation[i] * (w.shape[2 + i] - 1) + 1) for i in range(self.nd)]
        return convt(y, w, None, self.stride, self.padding, tuple(op), self.groups, self.dilation)

    def _output_size(self, spatial: tuple, kernel) -> tuple:
        """The layer's output size for an input of ``spatial`` (torch's Conv/ConvTranspose formulas)."""
        reach = [d * (k - 1) for d, k in zip(self.dilation, kernel)]
        if self.transposed:
            return tuple((n - 1) * s - 2 * p + r + op + 1 for n, s, p, r, op
                         in zip(spatial, self.stride, self.padding, reach, self.output_padding))
        return tuple((n + 2 * p - r - 1) // s + 1 for n, s, p, r in zip(spatial, self.stride, self.padding, reach))

    @torch.no_grad()
    def init_vectors(self, weight: torch.Tensor, spatial: tuple) -> None:
        if len(spatial) != self.nd:
            raise GannormError(f"strict_spectral_norm: input_shape {spatial} has {len(spatial)} "
                               f"sizes but layer {self.layer_repr} is {self.nd}-d")
        out = self._output_size(spatial, weight.shape[2:])
        if min(spatial + out) < 1:
            raise GannormError(f"strict_spectral_norm: input size {spatial} does not fit layer "
                               f"{self.layer_repr} (output size {tuple(out)}); pass the size its "
                               f"input has in the network as input_shape=(H, W)")
        c_in = weight.shape[0] if self.transposed else weight.shape[1] * self.groups
        v = F.normalize(weight.new_empty(1, c_in, *spatial).normal_().flatten(), dim=0, eps=self.eps)
        self._v = v.view(1, c_in, *spatial)
        y = self._forward_op(self._v, weight)
        self._u = F.normalize(y.flatten(), dim=0, eps=self.eps).view_as(y)
        self._power(weight, 4 * WARMUP_ITERATIONS)

    @torch.no_grad()
    def _power(self, w: torch.Tensor, n: int) -> None:
        for _ in range(n):
            self._v.copy_(F.normalize(self._adjoint(self._u, w).flatten(), dim=0, eps=self.eps).view_as(self._v))
            self._u.copy_(F.normalize(self._forward_op(self._v, w).flatten(), dim=0, eps=self.eps).view_as(self._u))

    def pre_forward_hook(self, module: nn.Module, args) -> None:
        """Learns the input size at the module's first forward (a bound method: deepcopy-safe)."""
        if self._v.numel() == 0 and args:
            self.init_vectors(module.parametrizations.weight.original.detach(), tuple(args[0].shape[2:]))

    def sigma(self, weight: torch.Tensor) -> torch.Tensor:
        if self._v.numel() == 0:
            raise GannormError(f"strict_spectral_norm: the input size of layer {self.layer_repr} is "
                               f"not known yet; run one forward pass or pass input_shape=(H, W)")
        if self.training:
            self._power(weight.detach(), self.n_power_iterations)
        return (self._u.clone() * self._forward_op(self._v.clone(), weight)).sum()

    @eager_under_compile
    @full_precision
    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight / self.sigma(weight)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # A fresh layer has empty vectors until its first forward: take the saved shape.
        for key in ("_u", "_v"):
            saved = state_dict.get(prefix + key)
            if saved is not None and saved.shape != getattr(self, key).shape:
                setattr(self, key, torch.empty_like(saved, device=getattr(self, key).device))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


def strict_spectral_norm(module: nn.Module, n_power_iterations: int = 1, eps: float = 1e-12,
                         input_shape: Sequence[int] | None = None) -> nn.Module:
    """Normalize a conv / transposed conv by its true operator norm; a Linear gets plain SN.

    ``input_shape`` is the spatial size (H, W) of the layer's input; without it, the size of
    the first forward's input is used from then on (the norm is that of the operator on
    inputs of that size).
    """
    who = "strict_spectral_norm"
    layer_weight(module, "weight", who)
    _check_options(who, module, n_power_iterations, eps)
    if isinstance(module, nn.Linear):
        return spectral_norm(module, n_power_iterations=n_power_iterations, eps=eps)
    if not isinstance(module, _ConvNd):
        raise GannormError(f"{who}: layer {module!r} is not a Linear, Conv or ConvTranspose layer")
    if module.padding_mode != "zeros":
        raise GannormError(f"{who}: layer {module!r} uses padding_mode={module.padding_mode!r}; "
                           f"only zero padding has conv_transpose as its adjoint")
    if isinstance(module.padding, str):
        raise GannormError(f"{who}: layer {module!r} uses padding={module.padding!r}; give the "
                           f"padding as numbers")
    p = StrictSpectralNorm(module, n_power_iterations, eps, input_shape)
    # unsafe: the registration check would evaluate the weight before the input size is known
    parametrize.register_parametrization(module, "weight", p, unsafe=True)
    module.register_forward_pre_hook(p.pre_forward_hook)
    return module


# ----------------------------------------------------------------------------- registry

class _LayerwiseNorm(Norm):
    """Plain layers (with bias), each then given a weight parametrization by ``_apply_to``."""

    def linear(self, in_features, out_features, *, last=False, init_factor=1.0):
        # init_factor is irrelevant here: the normalization fixes the weight's scale
        return self._apply_to(nn.Linear(in_features, out_features))

    def conv(self, in_channels, out_channels, kernel_size, stride=1, padding=0, *, last=False):
        return self._apply_to(nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding))

    def conv_transpose(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                       output_padding=0, *, last=False):
        return self._apply_to(nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride, padding,
                                                 output_padding))

    def _apply_to(self, layer: nn.Module) -> nn.Module:
        raise NotImplementedError


@NORMS.register("spectral", help="spectral norm of every layer, reshaped kernel (Miyato et al. 2018)",
                rescales_weights=True)
class Spectral(_LayerwiseNorm):
    """Options: ``n_power_iterations``, ``eps``, ``power_update`` (forward: a step at every
    training forward, torch's and Miyato's behaviour, the default; step: once after each
    optimizer step, as Lin et al. 2021's code; see the module docstring)."""
    name = "spectral"

    def __init__(self, n_power_iterations: int = 1, eps: float = 1e-12, power_update: str = "forward"):
        self.n_power_iterations, self.eps = n_power_iterations, eps
        self.power_update = check_power_update(f"normalization {self.name!r}", power_update)

    def _apply_to(self, layer):
        return spectral_norm(layer, n_power_iterations=self.n_power_iterations, eps=self.eps,
                             power_update=self.power_update)


def prepare_shapes(net: nn.Module, ctx) -> None:
    """Preparation step of strict spectral norm (``gannorm.nn.prepare``): one tiny forward in
    eval mode fixes each layer's input size, so copies made before training (the EMA of G)
    hold power-iteration vectors of the right shape."""
    if any(isinstance(m, StrictSpectralNorm) and m._v.numel() == 0 for m in net.modules()):
        x = ctx.dry_input()
        with torch.no_grad(), eval_mode(net):
            net(x)


@NORMS.register("spectral_strict",
                help="spectral norm by the conv's true operator norm, stride and padding included",
                rescales_weights=True, prepare=prepare_shapes)
class SpectralStrict(Spectral):
    name = "spectral_strict"

    def __init__(self, n_power_iterations: int = 1, eps: float = 1e-12, power_update: str = "forward"):
        super().__init__(n_power_iterations, eps, power_update)
        if self.power_update != "forward":
            raise GannormError("normalization 'spectral_strict': power_update must be forward (its "
                               "operator power iteration advances at every training forward)")

    def _apply_to(self, layer):
        return strict_spectral_norm(layer, n_power_iterations=self.n_power_iterations, eps=self.eps)
