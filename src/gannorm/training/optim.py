"""Optimizers by name: the paper's RMSProp and Adam, with separate G and D learning rates.

``optim.impl`` picks torch's implementation: ``auto`` (torch's choice: foreach on GPU,
a per-tensor loop on CPU), ``foreach`` (one multi-tensor kernel per op), ``fused`` (one
kernel for the whole update; Adam only in torch 2.14) or ``for_loop``. They compute the
same update up to float rounding.
"""
from __future__ import annotations

import inspect
import math

import torch

from ..config import OptimConfig
from ..errors import GannormError
from ..registry import OPTIMIZERS

_IMPL = {"auto": {}, "foreach": {"foreach": True}, "fused": {"fused": True}, "for_loop": {"foreach": False}}


@OPTIMIZERS.register("rmsprop", help="RMSProp (the paper's code: lr 1e-4, alpha 0.9, eps 1e-6)")
def rmsprop(params, lr: float, cfg: OptimConfig):
    return torch.optim.RMSprop(params, lr=lr, alpha=cfg.alpha, eps=1e-6 if cfg.eps is None else cfg.eps,
                               weight_decay=cfg.weight_decay, **_impl(cfg, "rmsprop", torch.optim.RMSprop))


@OPTIMIZERS.register("adam", help="Adam (DCGAN/SNGAN: beta1 0.5)")
def adam(params, lr: float, cfg: OptimConfig):
    return torch.optim.Adam(params, lr=lr, betas=(cfg.beta1, cfg.beta2), eps=1e-8 if cfg.eps is None else cfg.eps,
                            weight_decay=cfg.weight_decay, **_impl(cfg, "adam", torch.optim.Adam))


def _impl(cfg: OptimConfig, name: str, cls) -> dict:
    kw = _IMPL[cfg.impl]
    missing = [k for k in kw if k not in inspect.signature(cls).parameters]
    if missing:
        raise GannormError(f"optim.impl={cfg.impl}: torch {torch.__version__}'s {cls.__name__} has no "
                           f"{missing[0]} implementation; use optim.impl=foreach (or optim.name=adam for fused)")
    return kw


def build_optimizers(g, d, cfg: OptimConfig):
    build = OPTIMIZERS.get(cfg.name)
    return build(g.parameters(), cfg.g_lr, cfg), build(d.parameters(), cfg.d_lr, cfg)


def lr_factor(schedule: str, t: int, total: int) -> float:
    """The learning rate's share of its configured value at iteration ``t`` (0-based) of a
    schedule ``total`` iterations long; past the end it stays at its last value.

    constant  1
    linear    1 - t / T                     (decay to zero: Mimicry's SNGAN/WGAN-GP default, Lee & Town 2020)
    cosine    (1 + cos(pi t / T)) / 2       (Loshchilov & Hutter 2017, SGDR without restarts)
    """
    if schedule == "constant":
        return 1.0
    s = min(max(t, 0) / max(total, 1), 1.0)
    if schedule == "linear":
        return 1.0 - s
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * s))
    raise GannormError(f"unknown learning-rate schedule {schedule!r}; use constant, linear or cosine")


def warmup_factor(t: int, warmup: int) -> float:
    """Linear warm-up (Goyal et al. 2017, "Accurate, large minibatch SGD"): ``min(1, (t+1)/W)``
    at iteration ``t`` (0-based), so the first step already moves and step W-1 reaches the full rate."""
    return min(1.0, (max(t, 0) + 1) / warmup) if warmup else 1.0


def apply_schedules(opt_g, opt_d, cfg: OptimConfig, iteration: int, iterations: int, scale: float = 1.0) -> None:
    """Set each optimizer's learning rate for ``iteration``: the configured rate times its
    schedule's factor times ``scale`` (the stability guard's reduction after a rollback), a
    function of the iteration and the scale alone, so a resumed run gets the same rates as one
    never interrupted. ``optim.warmup_iters`` W multiplies both by ``min(1, (t+1)/W)``."""
    total = cfg.schedule_iters or iterations
    warmup = getattr(cfg, "warmup_iters", 0)
    warm = warmup_factor(iteration, warmup)
    for opt, base, name in ((opt_g, cfg.g_lr, cfg.g_schedule), (opt_d, cfg.d_lr, cfg.d_schedule)):
        if name == "constant" and scale == 1.0 and iteration >= warmup:
            continue  # the warm-up's last step (warmup - 1) already set the full rate
        lr = base * lr_factor(name, iteration, total) * scale * warm
        for group in opt.param_groups:
            group["lr"] = lr
