"""Feature normalizations after hidden layers: layer, instance, group and virtual batch norm.

Layer norm (Ba et al. 2016) normalizes each example over (C, H, W); here it is
``GroupNorm(1, C)``: the same statistics, with a per-channel (not per-element) scale and
shift, so it does not depend on the image size. Instance norm (Ulyanov et al. 2016)
normalizes each (example, channel) over (H, W). Group norm (Wu & He 2018) over groups of
channels, 32 groups by default (the largest divisor of C up to 32 when 32 does not divide C).

Virtual batch norm (Salimans et al. 2016, "Improved techniques for training GANs"): each
example x is normalized with statistics that mix a reference batch R of N examples, fixed
once at the start, with the example itself:

    mu     = mu_x / (N + 1) + N mu_R / (N + 1)
    E[x^2] = E_x[x^2] / (N + 1) + N E_R[x^2] / (N + 1)
    y      = gamma (x - mu) / sqrt(1e-5 + E[x^2] - mu^2) + beta

per channel, where mu_x, E_x[x^2] average over the example's spatial positions and mu_R,
E_R[x^2] over the reference batch and positions. As in the authors' code the reference
batch goes through the network with every forward (its activations depend on the current
weights) and is itself normalized by its own statistics. Here the reference input is
prepended to every batch by hooks on the network (``set_reference``) and cut off its
output, so one forward pass serves both; the examples never see each other's statistics.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn

from ..errors import GannormError
from ..registry import NORMS
from .norms import Norm
from .precision import full_precision

VBN_EPS = 1e-5  # Salimans et al.'s epsilon inside the square root


class VirtualBatchNorm(nn.Module):
    """Virtual batch norm over channel dim 1 (any number of trailing spatial dims)."""

    def __init__(self, num_features: int, eps: float = VBN_EPS, affine: bool = True,
                 holds_reference: bool = False):
        super().__init__()
        self.num_features, self.eps = num_features, eps
        self.weight = nn.Parameter(torch.ones(num_features)) if affine else None
        self.bias = nn.Parameter(torch.zeros(num_features)) if affine else None
        self.ref_size: int | None = None  # set by the network's hooks during a forward
        if holds_reference:
            # the network's reference input; empty until set_reference, resized on load
            self.register_buffer("reference", torch.empty(0))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        saved = state_dict.get(prefix + "reference")
        if saved is not None and "reference" in self._buffers and saved.shape != self.reference.shape:
            self.reference = torch.empty_like(saved, device=self.reference.device)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _normalize(self, x, mean, mean_sq):
        shape = (1, -1) + (1,) * (x.dim() - 2)
        y = (x - mean) * torch.rsqrt((mean_sq - mean.square()).clamp_min(0) + self.eps)
        if self.weight is not None:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y

    @full_precision
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = self.ref_size
        if n is None:
            raise GannormError("virtual batch norm has no reference batch: call "
                               "gannorm.nn.set_reference(net, batch) on the whole network first "
                               "(or set_reference(net) after loading a checkpoint)")
        spatial = tuple(range(2, x.dim()))
        ref, ex = x[:n], x[n:]
        mean_r = ref.mean(dim=(0,) + spatial, keepdim=True)
        sq_r = ref.square().mean(dim=(0,) + spatial, keepdim=True)
        new = 1.0 / (n + 1)
        if spatial:
            mean_x, sq_x = ex.mean(dim=spatial, keepdim=True), ex.square().mean(dim=spatial, keepdim=True)
        else:
            mean_x, sq_x = ex, ex.square()
        mean = new * mean_x + (1 - new) * mean_r
        mean_sq = new * sq_x + (1 - new) * sq_r
        return torch.cat([self._normalize(ref, mean_r, sq_r), self._normalize(ex, mean, mean_sq)])

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, affine={self.weight is not None}"


class _ReferenceHooks:
    """Prepends the reference input to a network's batch and cuts it off the output.

    A plain object whose bound methods are the hooks, so ``copy.deepcopy`` of the network
    (EMA) gives the copy its own hooks pointing at its own layers.
    """

    def __init__(self, layers, holder):
        self.layers, self.holder = layers, holder

    def pre(self, module, args, kwargs):
        ref = self.holder.reference
        x = args[0]
        n = ref.shape[0]
        for layer in self.layers:
            layer.ref_size = n
        return (torch.cat([ref.to(dtype=x.dtype, device=x.device), x]), *args[1:]), kwargs

    def post(self, module, args, kwargs, output):
        n = self.holder.reference.shape[0]
        for layer in self.layers:
            layer.ref_size = None
        if isinstance(output, tuple):
            return tuple(o[n:] if torch.is_tensor(o) else o for o in output)
        return output[n:]


def set_reference(net: nn.Module, batch: torch.Tensor | None = None) -> nn.Module:
    """Fix ``batch`` as the reference input of every VirtualBatchNorm in ``net``.

    ``batch`` is what ``net`` takes as its first argument (z for G, images for D). Without
    it, the reference already stored in the network (loaded from a checkpoint) is used.
    The reference is a buffer, saved in the state dict. Returns ``net``.
    """
    layers = [m for m in net.modules() if isinstance(m, VirtualBatchNorm)]
    if not layers:
        raise GannormError(f"set_reference: {type(net).__name__} has no virtual batch norm layer")
    holder = next((m for m in layers if "reference" in m._buffers), layers[0])
    if batch is not None:
        if not torch.is_tensor(batch) or batch.dim() < 2 or batch.shape[0] < 1:
            raise GannormError("set_reference: the reference batch must be a tensor of shape (N, ...)")
        ref = batch.detach().clone()
        if "reference" in holder._buffers:
            holder.reference = ref
        else:
            holder.register_buffer("reference", ref)
    elif "reference" not in holder._buffers or holder.reference.numel() == 0:
        raise GannormError("set_reference: no reference batch stored in the network; pass one")
    if getattr(net, "_vbn_hooks", None) is None:
        hooks = _ReferenceHooks(layers, holder)
        net.register_forward_pre_hook(hooks.pre, with_kwargs=True)
        net.register_forward_hook(hooks.post, with_kwargs=True)
        net._vbn_hooks = hooks
    return net


def has_virtual_batch_norm(net: nn.Module) -> bool:
    return any(isinstance(m, VirtualBatchNorm) for m in net.modules())


# ----------------------------------------------------------------------------- registry

@NORMS.register("layer", help="layer norm after hidden layers, GroupNorm(1, C) (Ba et al. 2016)")
class LayerNorm(Norm):
    name = "layer"
    has_norm_layer = True

    def __init__(self, eps: float = 1e-5):
        self.eps = eps

    def norm_layer(self, channels: int) -> nn.Module:
        return nn.GroupNorm(1, channels, eps=self.eps)


@NORMS.register("instance", help="instance norm after hidden layers (Ulyanov et al. 2016)")
class InstanceNorm(Norm):
    name = "instance"
    has_norm_layer = True

    def __init__(self, eps: float = 1e-5):
        self.eps = eps

    def norm_layer(self, channels: int) -> nn.Module:
        return nn.InstanceNorm2d(channels, eps=self.eps, affine=True)


@NORMS.register("group", help="group norm after hidden layers; option num_groups (Wu & He 2018)")
class GroupNorm(Norm):
    name = "group"
    has_norm_layer = True

    def __init__(self, num_groups: int | None = None, eps: float = 1e-5):
        if num_groups is not None and (not isinstance(num_groups, int) or num_groups < 1):
            raise GannormError(f"normalization 'group': num_groups must be a positive integer, got {num_groups!r}")
        self.num_groups, self.eps = num_groups, eps

    def norm_layer(self, channels: int) -> nn.Module:
        g = self.num_groups
        if g is None:  # Wu & He's 32, or the largest divisor of C below it
            g = max(d for d in range(1, min(32, channels) + 1) if channels % d == 0)
        elif channels % g:
            raise GannormError(f"normalization 'group': num_groups={g} does not divide the {channels} "
                               f"channels of a layer; use a divisor of {channels}, e.g. {math.gcd(g, channels)}")
        return nn.GroupNorm(g, channels, eps=self.eps)


def prepare_reference(net: nn.Module, ctx) -> None:
    """Preparation step of virtual batch norm (``gannorm.nn.prepare``): fix the network's
    reference batch once, z for G and real training images for D (Salimans et al. 2016)."""
    n = next((getattr(m, "reference_size", 64) for m in net.modules() if isinstance(m, VirtualBatchNorm)), None)
    if n is None:
        return
    if ctx.role == "g":
        batch = torch.randn(n, ctx.G.z_dim, generator=ctx.generator)
    elif ctx.reference is None:
        raise GannormError("D has virtual batch norm, which needs a reference batch of real images; "
                           "pass prepare_norms(G, D, reference_images(images, indices, out_range))")
    else:
        batch = ctx.reference(n, ctx.generator)
    set_reference(net, batch.to(next(net.parameters()).device))


@NORMS.register("virtual_batch", help="virtual batch norm with a fixed reference batch (Salimans et al. 2016)",
                prepare=prepare_reference)
class VirtualBatch(Norm):
    """The first VBN layer built holds the network's reference input (so checkpoints have it)."""

    name = "virtual_batch"
    has_norm_layer = True

    def __init__(self, reference_size: int = 64, eps: float = VBN_EPS):
        if not isinstance(reference_size, int) or reference_size < 1:
            raise GannormError(f"normalization 'virtual_batch': reference_size must be a positive integer, "
                               f"got {reference_size!r}")
        self.reference_size, self.eps = reference_size, eps
        self._built = 0

    def norm_layer(self, channels: int) -> nn.Module:
        layer = VirtualBatchNorm(channels, eps=self.eps, holds_reference=self._built == 0)
        layer.reference_size = self.reference_size
        self._built += 1
        return layer
