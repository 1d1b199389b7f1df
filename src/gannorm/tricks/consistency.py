"""Consistency regularization of D (Zhao, Singh, Lee, Zhang, Odena & Zhang 2021,
"Improved Consistency Regularization for GANs", AAAI):

bCR (balanced): D's output should not change under a semantics-preserving augmentation T
of real and of generated images,

    L_D += lambda_real * E||D(x) - D(T(x))||^2 + lambda_fake * E||D(G(z)) - D(T(G(z)))||^2,

lambda_real = lambda_fake = 10, T a random x-flip (probability 1/2) and an integer shift of up
to 1/8 of the side (the paper's "flipping and translation by a few pixels"; the border is
filled grey, the middle of the image range).

zCR (latent): a small change of z should change D's output little and G's output much,

    L_D += lambda_dis * E||D(G(z)) - D(G(z + dz))||^2,
    L_G -= lambda_gen * E||G(z) - G(z + dz)||^2,   dz ~ N(0, sigma^2 I),

sigma 0.03, lambda_dis 5, lambda_gen 0.5 (the paper's). D's output is a scalar per image;
G's difference is averaged over pixels. Both act on the images as G made them (before any
augmentation trick) so that they compose with DiffAugment or ADA.
"""
from __future__ import annotations

import torch

from ..errors import GannormError
from ..hooks import Hooks, base_module, call_g
from ..registry import TRICKS
from .augment import draw, from_unit, to_unit
from .diffaugment import translation


def bcr_transform(x: torch.Tensor, out_range=(0.0, 1.0)) -> torch.Tensor:
    """Random x-flip (probability 1/2 per image), then DiffAugment's integer translation."""
    flip = draw(lambda m: torch.rand(m, 1, 1, 1, device=x.device), x.shape[0]) < 0.5
    x = torch.where(flip, x.flip(3), x)
    return from_unit(translation(to_unit(x, out_range)), out_range)


def _sq(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    d = a - b
    return d.reshape(d.shape[0], -1).pow(2).sum(1).mean()


def _nonneg(**kw):
    bad = [f"{k}={v}" for k, v in kw.items() if float(v) < 0]
    if bad:
        raise GannormError(f"consistency regularization: {', '.join(bad)} must be >= 0")


def _check_bcr(lambda_real: float = 10.0, lambda_fake: float = 10.0):
    _nonneg(lambda_real=lambda_real, lambda_fake=lambda_fake)


def _check_zcr(lambda_dis: float = 5.0, lambda_gen: float = 0.5, sigma: float = 0.03):
    _nonneg(lambda_dis=lambda_dis, lambda_gen=lambda_gen, sigma=sigma)


@TRICKS.register("bcr", help="balanced consistency: D(x)~D(T(x)) on real and fake, T flip+shift, "
                 "lambda 10 (Zhao 2021)", phase="d", check=_check_bcr)
class BCR(Hooks):
    def __init__(self, lambda_real: float = 10.0, lambda_fake: float = 10.0):
        _check_bcr(lambda_real, lambda_fake)
        self.lambda_real, self.lambda_fake = float(lambda_real), float(lambda_fake)
        self.out_range = (0.0, 1.0)

    def setup(self, env):
        self.out_range = tuple(float(v) for v in getattr(base_module(env.G), "output_range", (0.0, 1.0)))

    def d_penalty(self, ctx):
        pr = _sq(ctx.d_real, ctx.d(bcr_transform(ctx.real.detach(), self.out_range)).float())
        pf = _sq(ctx.d_fake, ctx.d(bcr_transform(ctx.fake.detach(), self.out_range)).float())
        ctx.logs["bcr_real"], ctx.logs["bcr_fake"] = pr.detach(), pf.detach()
        return self.lambda_real * pr + self.lambda_fake * pf


@TRICKS.register("zcr", help="latent consistency: D(G(z))~D(G(z+dz)), G(z) far from G(z+dz), "
                 "sigma 0.03 (Zhao 2021)", phase="both", check=_check_zcr)
class ZCR(Hooks):
    def __init__(self, lambda_dis: float = 5.0, lambda_gen: float = 0.5, sigma: float = 0.03):
        _check_zcr(lambda_dis, lambda_gen, sigma)
        self.lambda_dis, self.lambda_gen, self.sigma = float(lambda_dis), float(lambda_gen), float(sigma)

    def _dz(self, z):
        return self.sigma * draw(lambda m: torch.randn(m, *z.shape[1:], device=z.device, dtype=z.dtype), z.shape[0])

    def d_penalty(self, ctx):
        if ctx.z is None:
            raise GannormError("trick zcr needs the step's z; train it with gannorm's trainer")
        with torch.no_grad():
            moved = call_g(ctx.G, ctx.z + self._dz(ctx.z), ctx.y)
        here = ctx.d_fake if ctx.fake is ctx.generated else ctx.d(ctx.generated.detach()).float()
        p = _sq(here, ctx.d(moved).float())
        ctx.logs["zcr_d"] = p.detach()
        return self.lambda_dis * p

    def g_penalty(self, ctx):
        if ctx.z is None:
            raise GannormError("trick zcr needs the step's z; train it with gannorm's trainer")
        moved = call_g(ctx.G, ctx.z + self._dz(ctx.z), ctx.y)
        p = (ctx.generated - moved).pow(2).mean()
        ctx.logs["zcr_g"] = p.detach()
        return -self.lambda_gen * p
