"""Penalties on D (and G's weights), as plain functions usable without the trainer.

``critic`` is any callable image batch -> D output (one score per image, or a vector
per image, whose sum is differentiated). Each returns the penalty (a scalar to add to the
loss, before its weight) and, for the gradient penalties, the per-sample gradient norms.
"""
from __future__ import annotations

from typing import Callable, Tuple

import torch
import torch.nn as nn

Critic = Callable[[torch.Tensor], torch.Tensor]


def _grad_norms(critic: Critic, x: torch.Tensor) -> torch.Tensor:
    x = x.detach().requires_grad_(True)
    out = critic(x)
    (g,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    # the tiny constant keeps the gradient of the norm finite where grad D = 0
    return (g.flatten(1).pow(2).sum(1) + 1e-12).sqrt()


def _per_sample(shape, like: torch.Tensor) -> torch.Tensor:
    return torch.rand(shape[0], *([1] * (len(shape) - 1)), device=like.device, dtype=like.dtype)


def gradient_penalty(critic: Critic, real: torch.Tensor, fake: torch.Tensor, *, center: float = 1.0,
                     one_sided: bool = False) -> Tuple[torch.Tensor, torch.Tensor]:
    """WGAN-GP (Gulrajani et al. 2017): E[(||grad D(x_hat)||_2 - 1)^2] with
    x_hat = e x + (1 - e) x_fake, e ~ U[0, 1] per sample.

    ``one_sided=True`` penalises only norms above the target, E[max(0, ||grad|| - 1)^2]
    (the one-sided variant discussed in the WGAN-GP paper; Petzka et al. 2018's WGAN-LP).
    """
    e = _per_sample(real.shape, real)
    norms = _grad_norms(critic, e * real.detach() + (1 - e) * fake.detach())
    d = norms - center
    if one_sided:
        d = d.clamp(min=0)
    return d.pow(2).mean(), norms.detach()


def r1_penalty(critic: Critic, real: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """R1 (Mescheder et al. 2018): E_real[||grad_x D(x)||^2]; the loss adds gamma/2 times it."""
    norms = _grad_norms(critic, real)
    return norms.pow(2).mean(), norms.detach()


def dragan_penalty(critic: Critic, real: torch.Tensor, *, c: float = 0.5,
                   center: float = 1.0) -> Tuple[torch.Tensor, torch.Tensor]:
    """DRAGAN (Kodali et al. 2017, authors' code): x_p = x + c * std(x) * U[0,1),
    x_hat = x + a (x_p - x), a ~ U[0,1] per sample; penalty E[(||grad D(x_hat)|| - 1)^2]."""
    real = real.detach()
    x_p = real + c * real.std() * torch.rand_like(real)
    a = _per_sample(real.shape, real)
    norms = _grad_norms(critic, real + a * (x_p - real))
    return (norms - center).pow(2).mean(), norms.detach()


def weight_matrices(module: nn.Module):
    """(name, W) for every linear/conv layer, W reshaped to (out units, fan-in); layers that
    expose ``effective_weight()`` (weight normalization) give that."""
    for name, m in module.named_modules():
        if isinstance(m, (nn.Linear, nn.modules.conv._ConvNd)) and getattr(m, "weight", None) is not None:
            w = m.effective_weight() if hasattr(m, "effective_weight") else m.weight
            if isinstance(m, nn.modules.conv._ConvTransposeNd):
                w = w.transpose(0, 1)  # ConvTranspose stores (in, out, ...)
            yield name, w.flatten(1)


def orthogonal_penalty(module: nn.Module) -> torch.Tensor:
    """BigGAN's orthogonal regularization (Brock et al. 2019), summed over layers:
    R(W) = ||W W^T * (1 - I)||_F^2 with the rows of W the layer's filters; the loss adds
    beta (BigGAN: 1e-4) times it. Only the off-diagonal is penalised, so filter norms are free."""
    total = None
    for _, w in weight_matrices(module):
        gram = w @ w.t()
        off = gram - torch.diag_embed(torch.diagonal(gram))
        r = off.pow(2).sum()
        total = r if total is None else total + r
    if total is None:
        return torch.zeros(())
    return total
