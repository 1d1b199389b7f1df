"""Optimizers by name: the paper's RMSProp and Adam, with separate G and D learning rates."""
from __future__ import annotations

import torch

from ..config import OptimConfig
from ..registry import OPTIMIZERS


@OPTIMIZERS.register("rmsprop", help="RMSProp (the paper's code: lr 1e-4, alpha 0.9, eps 1e-6)")
def rmsprop(params, lr: float, cfg: OptimConfig):
    return torch.optim.RMSprop(params, lr=lr, alpha=cfg.alpha, eps=1e-6 if cfg.eps is None else cfg.eps, weight_decay=cfg.weight_decay)


@OPTIMIZERS.register("adam", help="Adam (DCGAN/SNGAN: beta1 0.5)")
def adam(params, lr: float, cfg: OptimConfig):
    return torch.optim.Adam(params, lr=lr, betas=(cfg.beta1, cfg.beta2), eps=1e-8 if cfg.eps is None else cfg.eps,
                            weight_decay=cfg.weight_decay)


def build_optimizers(g, d, cfg: OptimConfig):
    build = OPTIMIZERS.get(cfg.name)
    return build(g.parameters(), cfg.g_lr, cfg), build(d.parameters(), cfg.d_lr, cfg)
