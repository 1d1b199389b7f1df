"""Adaptive discriminator augmentation, ADA (Karras, Aittala, Hellsten, Laine, Lehtinen &
Aila 2020, "Training Generative Adversarial Networks with Limited Data", StyleGAN2-ADA).

Every image D sees, real or fake, in D's step and in G's step, goes through a pipeline of
augmentations, each applied to each image independently with probability p (rotations with
p_rot = 1 - sqrt(1 - p) twice, so that at least one happens with probability p). The groups
and their parameter distributions are the paper's (Appendix B), in its order:

    blit   x-flip (u in {0, 1}); rotation by k * 90 deg (k in {0..3}); integer translation
           round(t * size), t ~ U(-1/8, 1/8) per axis
    geom   isotropic scaling s = 2^N(0, 0.2^2); rotation theta ~ U(-pi, pi) (p_rot);
           anisotropic scaling (s, 1/s), s = 2^N(0, 0.2^2); rotation again (p_rot);
           fractional translation t ~ N(0, 1/8^2) * size per axis
    color  brightness + b, b ~ N(0, 0.2^2); contrast * c, c = 2^N(0, 0.5^2); luma flip
           (I - 2 v v^T i), i in {0, 1}; hue rotation about v by theta ~ U(-pi, pi);
           saturation v v^T + (I - v v^T) s, s = 2^N(0, 1),   v = (1, 1, 1) / sqrt(3)

The geometric ops compose into one affine matrix per image, applied in one bilinear warp
(kornia ``warp_affine``) with mirror padding; the colour ops compose into one 4x4 matrix
on RGB (its rows averaged for a single channel), on images in [-1, 1].

p follows D's overfitting on the real images (paper, section 3): every ``interval`` D steps

    r_t = E[sign(D(x_real))]   (over those steps, all processes)
    p  <- max(0, p + sign(r_t - target) * batch * interval / (kimg * 1000))

with ``batch`` the global batch, so p can rise from 0 to 1 in ``kimg`` thousand real images
(500k by default); target 0.6. Only the lower bound is clamped, as in the paper; a p above 1
applies every augmentation. With ``target: null`` p stays fixed at its initial value.

Differences from the authors' implementation (measured in the tests and docs/stabilizers.md):
the warp is bilinear on the image itself, not their 2x upsampling with a wavelet filter, so
fine detail is blurred a little more by non-integer warps; the blit group alone is exact.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple

import torch

from ..errors import GannormError
from ..hooks import Hooks, base_module
from ..registry import TRICKS
from .augment import all_sum, draw, from_unit, rank_world, rt_sign, to_unit

GROUPS = ("blit", "geom", "color")


def ada_adjust(p: float, rt: float, target: float, batch: int, interval: int, kimg: float) -> float:
    """One update of p (the paper's rule): max(0, p + sign(r_t - target) * batch * interval / (kimg * 1000))."""
    step = (rt > target) - (rt < target)
    return max(p + step * (batch * interval) / (kimg * 1000.0), 0.0)


def _u(n, k, device):
    return draw(lambda m: torch.rand(m, k, device=device), n)


def _nrm(n, k, device):
    return draw(lambda m: torch.randn(m, k, device=device), n)


def _apply(value, identity, n, prob, device):
    """Each image keeps ``value`` with probability ``prob``, else ``identity`` (one draw per image)."""
    keep = _u(n, 1, device) < prob
    return torch.where(keep, value, torch.full_like(value, identity))


def _m3(n, device, rows):
    """(n, 3, 3) matrices from rows of (n,)-tensors / floats."""
    out = torch.zeros(n, 3, 3, device=device)
    for i, row in enumerate(rows):
        for j, v in enumerate(row):
            out[:, i, j] = v
    return out


def _scale_inv(sx, sy):
    n, dev = sx.shape[0], sx.device
    return _m3(n, dev, [[1 / sx, 0, 0], [0, 1 / sy, 0], [0, 0, 1]])


def _rot_inv(theta):
    c, s = torch.cos(theta), torch.sin(theta)
    return _m3(theta.shape[0], theta.device, [[c, s, 0], [-s, c, 0], [0, 0, 1]])  # R(-theta)


def _trans_inv(tx, ty):
    return _m3(tx.shape[0], tx.device, [[1, 0, -tx], [0, 1, -ty], [0, 0, 1]])


def geometry(n: int, H: int, W: int, p: float, groups: Sequence[str], device) -> torch.Tensor:
    """(n, 3, 3): output pixel -> input pixel, in coordinates centred on the image."""
    G = torch.eye(3, device=device).repeat(n, 1, 1)
    if "blit" in groups:
        i = _apply(torch.floor(_u(n, 1, device) * 2), 0.0, n, p, device)[:, 0]
        G = G @ _scale_inv(1 - 2 * i, torch.ones_like(i))
        k = _apply(torch.floor(_u(n, 1, device) * 4), 0.0, n, p, device)[:, 0]
        G = G @ _rot_inv(-math.pi / 2 * k)
        t = _apply((_u(n, 2, device) * 2 - 1) * 0.125, 0.0, n, p, device)
        G = G @ _trans_inv(torch.round(t[:, 0] * W), torch.round(t[:, 1] * H))
    if "geom" in groups:
        p_rot = 1 - math.sqrt(max(1 - p, 0.0))
        s = _apply(torch.exp2(_nrm(n, 1, device) * 0.2), 1.0, n, p, device)[:, 0]
        G = G @ _scale_inv(s, s)
        th = _apply((_u(n, 1, device) * 2 - 1) * math.pi, 0.0, n, p_rot, device)[:, 0]
        G = G @ _rot_inv(-th)
        s = _apply(torch.exp2(_nrm(n, 1, device) * 0.2), 1.0, n, p, device)[:, 0]
        G = G @ _scale_inv(s, 1 / s)
        th = _apply((_u(n, 1, device) * 2 - 1) * math.pi, 0.0, n, p_rot, device)[:, 0]
        G = G @ _rot_inv(-th)
        t = _apply(_nrm(n, 2, device) * 0.125, 0.0, n, p, device)
        G = G @ _trans_inv(t[:, 0] * W, t[:, 1] * H)
    return G


def color(n: int, p: float, device) -> torch.Tensor:
    """(n, 4, 4) colour matrices acting on (r, g, b, 1)."""
    C = torch.eye(4, device=device).repeat(n, 1, 1)
    v = torch.tensor([1.0, 1.0, 1.0, 0.0], device=device) / math.sqrt(3)
    vv = torch.outer(v, v)
    eye = torch.eye(4, device=device)
    b = _apply(_nrm(n, 1, device) * 0.2, 0.0, n, p, device)[:, 0]
    T = eye.repeat(n, 1, 1)
    T[:, :3, 3] = b[:, None]
    C = T @ C
    c = _apply(torch.exp2(_nrm(n, 1, device) * 0.5), 1.0, n, p, device)[:, 0]
    S = eye.repeat(n, 1, 1)
    S[:, 0, 0] = S[:, 1, 1] = S[:, 2, 2] = c
    C = S @ C
    i = _apply(torch.floor(_u(n, 1, device) * 2), 0.0, n, p, device)[:, 0]
    C = (eye - 2 * vv * i[:, None, None]) @ C
    th = _apply((_u(n, 1, device) * 2 - 1) * math.pi, 0.0, n, p, device)[:, 0]
    C = _rot_about(v[:3], th) @ C
    s = _apply(torch.exp2(_nrm(n, 1, device) * 1.0), 1.0, n, p, device)[:, 0]
    C = (vv + (eye - vv) * s[:, None, None]) @ C
    return C


def _rot_about(axis: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """(n, 4, 4) rotation by theta about a unit axis (Rodrigues): cos I + sin [a]x + (1 - cos) a a^T."""
    n = theta.shape[0]
    K = torch.zeros(3, 3, device=theta.device)
    x, y, z = axis.tolist()
    K[0, 1], K[0, 2], K[1, 0], K[1, 2], K[2, 0], K[2, 1] = -z, y, z, -x, -y, x
    c, s = torch.cos(theta)[:, None, None], torch.sin(theta)[:, None, None]
    R = c * torch.eye(3, device=theta.device) + s * K + (1 - c) * torch.outer(axis, axis)
    out = torch.eye(4, device=theta.device).repeat(n, 1, 1)
    out[:, :3, :3] = R
    return out


def warp(x: torch.Tensor, G: torch.Tensor) -> torch.Tensor:
    """Resample each image at G(output pixel) (centred coordinates), bilinear, mirrored border."""
    from kornia.geometry.transform import warp_affine

    n, _, H, W = x.shape
    c = torch.eye(3, device=x.device).repeat(n, 1, 1)
    c[:, 0, 2], c[:, 1, 2] = (W - 1) / 2, (H - 1) / 2
    c_inv = c.clone()
    c_inv[:, :2, 2] *= -1
    P = c @ G.to(torch.float32) @ c_inv  # output pixel -> input pixel, pixel centres at integers
    M = torch.linalg.inv(P)[:, :2, :]  # kornia takes the forward map (input -> output)
    return warp_affine(x, M.to(x.dtype), (H, W), mode="bilinear", padding_mode="reflection",
                       align_corners=True)


def ada_augment(x: torch.Tensor, p: float, groups: Sequence[str] = GROUPS) -> torch.Tensor:
    """The pipeline on a batch in [-1, 1]; the draws are made for every image even where p
    masks them out, so the RNG stream does not depend on p."""
    n, ch, H, W = x.shape
    if p <= 0:
        return x
    if "blit" in groups or "geom" in groups:
        x = warp(x, geometry(n, H, W, p, groups, x.device))
    if "color" in groups:
        C = color(n, p, x.device).to(x.dtype)
        if ch == 3:
            x = torch.einsum("nij,njhw->nihw", C[:, :3, :3], x) + C[:, :3, 3, None, None]
        elif ch == 1:  # grey: the mean of the rows, as for a grey image viewed as three equal channels
            Cg = C[:, :3, :].mean(dim=1)  # (n, 4)
            x = x * Cg[:, :3].sum(dim=1)[:, None, None, None] + Cg[:, 3, None, None, None]
        else:
            raise GannormError(f"ada's color group needs 1 or 3 channels, got {ch}; leave 'color' out of groups")
    return x


def check_options(p: float = 0.0, target: Optional[float] = 0.6, interval: int = 4, kimg: float = 500.0,
                  groups: Sequence[str] = GROUPS) -> None:
    if not 0.0 <= float(p) <= 1.0:
        raise GannormError(f"train.tricks.ada.p={p} must be in [0, 1] (the initial augmentation probability)")
    if target is not None and not 0.0 < float(target) < 1.0:
        raise GannormError(f"train.tricks.ada.target={target} must be in (0, 1) (the paper's: 0.6), "
                           f"or null for a fixed p")
    if int(interval) < 1 or float(kimg) <= 0:
        raise GannormError(f"train.tricks.ada: interval ({interval}) must be >= 1 and kimg ({kimg}) > 0")
    groups = [groups] if isinstance(groups, str) else list(groups)
    bad = [g for g in groups if g not in GROUPS]
    if bad or not groups:
        raise GannormError(f"train.tricks.ada.groups={groups}: use a non-empty subset of {', '.join(GROUPS)}")


@TRICKS.register("ada", help="adaptive augmentation of every image D sees, p steered by r_t=E[sign D(real)] "
                 "to 0.6 (Karras 2020)", phase="both", check=check_options)
class ADA(Hooks):
    def __init__(self, p: float = 0.0, target: Optional[float] = 0.6, interval: int = 4, kimg: float = 500.0,
                 groups: Sequence[str] = GROUPS):
        check_options(p, target, interval, kimg, groups)
        self.p = float(p)
        self.target = None if target is None else float(target)
        self.interval, self.kimg = int(interval), float(kimg)
        self.groups = tuple([groups] if isinstance(groups, str) else groups)
        self.out_range: Tuple[float, float] = (0.0, 1.0)
        self._sum = self._count = None  # signs of D(real) since the last update (device tensors)
        self._steps = 0
        self.rt: Optional[float] = None  # the last r_t that moved p

    def setup(self, env):
        self.out_range = tuple(float(v) for v in getattr(base_module(env.G), "output_range", (0.0, 1.0)))

    def d_input(self, x, ctx):
        return from_unit(ada_augment(to_unit(x, self.out_range), self.p, self.groups), self.out_range)

    def after_d_step(self, ctx):
        if self.target is None or ctx.d_real is None:
            ctx.logs["ada_p"] = torch.tensor(self.p)
            return
        d = ctx.d_real
        # the count of positive minus negative logits, an integer: float32's rounding of the
        # mean is undone so that r_t is exact and a tie with the target moves nothing
        s = (rt_sign(d).double() * d.numel()).round()
        c = torch.tensor(float(d.numel()), dtype=torch.float64, device=d.device)
        # summed over processes at every step (no host sync), so every process, and the
        # checkpoint rank 0 writes, holds the same accumulators: a resume mid-interval is exact
        s, c = all_sum(torch.stack([s, c]))
        self._sum = s if self._sum is None else self._sum.to(d.device) + s
        self._count = c if self._count is None else self._count.to(d.device) + c
        self._steps += 1
        if self._steps % self.interval == 0:
            rt = float(self._sum) / float(self._count)  # r_t over the interval's reals of every process (host sync)
            batch = ctx.real.shape[0] * rank_world()[1]
            self.p = ada_adjust(self.p, rt, self.target, batch, self.interval, self.kimg)
            self.rt = rt
            self._sum = self._count = None
        ctx.logs["ada_p"] = torch.tensor(self.p)  # after this step's update
        if self.rt is not None:
            ctx.logs["ada_rt"] = torch.tensor(self.rt)

    def state_dict(self):
        return {"p": self.p, "steps": self._steps, "rt": self.rt,
                "sum": None if self._sum is None else self._sum.cpu(),
                "count": None if self._count is None else self._count.cpu()}

    def load_state_dict(self, s):
        self.p, self._steps, self.rt = float(s["p"]), int(s["steps"]), s.get("rt")
        self._sum, self._count = s.get("sum"), s.get("count")


__all__ = ["ADA", "ada_adjust", "ada_augment", "rt_sign"]
