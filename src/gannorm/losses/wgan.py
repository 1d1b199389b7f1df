"""Wasserstein GAN losses (Arjovsky et al. 2017; Gulrajani et al. 2017), on critic scores.

    L_D = E[D(G(z))] - E[D(x)]        L_G = -E[D(G(z))]

``wgan``: D's weights are clipped to [-clip, clip] after every D update (paper: clip
0.01, n_critic 5, RMSProp lr 5e-5). ``wgan_gp``: no clipping; the gradient penalty
lambda * E[(||grad D(x_hat)|| - 1)^2] is added to L_D (paper: lambda 10, n_critic 5, Adam
lr 1e-4, betas (0, 0.9)). The trainer's ``train.d_steps`` stays the user's setting: set
``d_steps=5`` for the papers' n_critic.
"""
from __future__ import annotations

import torch

from ..errors import GannormError
from ..hooks import warn
from ..registry import LOSSES, NORMS
from .base import AdversarialLoss
from .penalties import gradient_penalty

PAPER_N_CRITIC = 5


class _Wasserstein(AdversarialLoss):
    probabilistic = False
    chance_d_loss = None  # the critic's loss is unbounded below: no level where D 'wins'

    def d_loss(self, real_logits, fake_logits):
        return fake_logits.mean() - real_logits.mean()

    def g_loss(self, fake_logits, real_logits=None):
        return -fake_logits.mean()


@LOSSES.register("wgan", help="Wasserstein loss + weight clipping 0.01 (Arjovsky 2017; paper n_critic 5)")
class WGAN(_Wasserstein):
    name = "wgan"

    def __init__(self, clip: float = 0.01):
        if clip <= 0:
            raise GannormError(f"loss wgan: clip must be > 0, got {clip}")
        self.clip = float(clip)

    def setup(self, env):
        norm = env.cfg.model.d_norm if env.cfg is not None else None
        # norms registered with rescales_weights: clipping the raw parameters does not bound D
        if norm is not None and NORMS.attr(norm, "rescales_weights", False):
            warn(f"loss wgan clips D's raw parameters, but d_norm={norm} rescales each weight, so the "
                 f"clipping does not bound D's Lipschitz constant as in the paper (it only clamps the "
                 f"free scales and biases); use d_norm=none or loss=wgan_gp")

    @torch.no_grad()
    def after_d_step(self, ctx):
        for p in ctx.D.parameters():
            p.clamp_(-self.clip, self.clip)


@LOSSES.register("wgan_gp", help="Wasserstein loss + gradient penalty, lambda 10 (Gulrajani 2017)",
                 inner_gradient=True)
class WGANGP(_Wasserstein):
    name = "wgan_gp"

    def __init__(self, lambda_gp: float = 10.0, one_sided: bool = False):
        self.lambda_gp, self.one_sided = float(lambda_gp), bool(one_sided)

    def setup(self, env):
        check_no_gradient_norm(env, "loss wgan_gp")

    def d_penalty(self, ctx):
        gp, norms = gradient_penalty(ctx.d, ctx.real, ctx.fake, one_sided=self.one_sided)
        ctx.logs["gp"] = gp.detach()
        ctx.logs["grad_norm"] = norms.mean()
        return self.lambda_gp * gp


def check_no_gradient_norm(env, what: str):
    """Refuse a penalty on D's input gradient when D's norm (``gradient_norm``) bounds it already."""
    norm = env.cfg.model.d_norm if env.cfg is not None else None
    if norm is not None and NORMS.attr(norm, "gradient_norm", False):
        raise GannormError(
            f"{what} penalises D's input gradient, but d_norm={norm} already normalizes it (the "
            f"penalty would need a third-order backward and fight the norm's own bound); "
            f"drop the penalty or choose another d_norm")
