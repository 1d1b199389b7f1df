"""DiffAugment (Zhao, Liu, Lin, Zhu & Han 2020, "Differentiable Augmentation for
Data-Efficient GAN Training"): the same differentiable augmentation T is applied to every
image D sees, real and fake, in D's step and in G's step,

    L_D = f(D(T(x))) + h(D(T(G(z)))),   L_G = g(D(T(G(z)))),

so G's gradient flows through T. Policies (the authors' three, each a new draw per image):

    color        brightness x + (u - 0.5); saturation (x - mean_c) * 2u + mean_c;
                 contrast (x - mean_chw) * (u + 0.5) + mean_chw,  u ~ U[0, 1)
    translation  integer shift of up to 1/8 of the side in each axis, zero padded
    cutout       a square of half the side, centred uniformly, set to zero

All of it works on images in [-1, 1] (the authors' range: brightness +-0.5, zero = grey);
images in another range (the DCGAN's [0, 1]) are mapped there and back. The random draws
come in the authors' order (brightness, saturation, contrast, shift h, shift w, cutout h,
cutout w), so with the same RNG state the output equals theirs.
"""
from __future__ import annotations

import difflib
from typing import Callable, Dict, List

import torch
import torch.nn.functional as F

from ..errors import GannormError
from ..hooks import Hooks, base_module
from ..registry import TRICKS
from .augment import draw, from_unit, to_unit


def _u(x: torch.Tensor) -> torch.Tensor:
    return draw(lambda m: torch.rand(m, 1, 1, 1, dtype=x.dtype, device=x.device), x.shape[0])


def brightness(x):
    return x + (_u(x) - 0.5)


def saturation(x):
    m = x.mean(dim=1, keepdim=True)
    return (x - m) * (_u(x) * 2) + m


def contrast(x):
    m = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - m) * (_u(x) + 0.5) + m


def _randint(lo: int, hi: int, n: int, device) -> torch.Tensor:
    """Integers in [lo, hi) per image, shape (n,)."""
    return draw(lambda m: torch.randint(lo, hi, (m, 1, 1), device=device), n).view(n)


def translation(x):
    """Shift each image by (dh, dw), |dh| <= H // 8, |dw| <= W // 8: out[h, w] = x[h + dh, w + dw],
    zero where that falls outside the image."""
    n, _, H, W = x.shape
    sh, sw = H // 8, W // 8
    dh = _randint(-sh, sh + 1, n, x.device)
    dw = _randint(-sw, sw + 1, n, x.device)
    # gather from a zero border wide enough for any shift
    pad = F.pad(x, (sw, sw, sh, sh))
    rows = (torch.arange(H, device=x.device).view(1, H) + dh.view(n, 1) + sh)  # (n, H)
    cols = (torch.arange(W, device=x.device).view(1, W) + dw.view(n, 1) + sw)  # (n, W)
    idx_r = rows.view(n, 1, H, 1).expand(n, x.shape[1], H, pad.shape[3])
    out = pad.gather(2, idx_r)
    idx_c = cols.view(n, 1, 1, W).expand(n, x.shape[1], H, W)
    return out.gather(3, idx_c)


def cutout(x):
    """Zero a (H//2, W//2) rectangle whose centre is uniform over the image (it may be cut
    by the border)."""
    n, _, H, W = x.shape
    ch, cw = H // 2, W // 2
    oh = _randint(0, H + (1 - ch % 2), n, x.device)
    ow = _randint(0, W + (1 - cw % 2), n, x.device)
    r = torch.arange(H, device=x.device).view(1, H) - (oh.view(n, 1) - ch // 2)  # row inside the box: 0 <= r < ch
    c = torch.arange(W, device=x.device).view(1, W) - (ow.view(n, 1) - cw // 2)
    inside = ((r >= 0) & (r < ch)).view(n, H, 1) & ((c >= 0) & (c < cw)).view(n, 1, W)
    return x * (~inside).to(x.dtype).unsqueeze(1)


POLICIES: Dict[str, List[Callable]] = {
    "color": [brightness, saturation, contrast],
    "translation": [translation],
    "cutout": [cutout],
}


def parse_policy(policy) -> List[str]:
    """``"color,translation,cutout"`` (or a list) -> names, each checked with "did you mean"."""
    names = [p.strip() for p in (policy.split(",") if isinstance(policy, str) else list(policy)) if str(p).strip()]
    for p in names:
        if p not in POLICIES:
            close = difflib.get_close_matches(p, POLICIES, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise GannormError(f"diffaugment policy {p!r} is unknown; use a comma-separated subset of "
                               f"{', '.join(POLICIES)}{hint}")
    return names


def diff_augment(x: torch.Tensor, policy="color,translation,cutout") -> torch.Tensor:
    """DiffAugment of a batch in [-1, 1] (N, C, H, W)."""
    for p in parse_policy(policy):
        for f in POLICIES[p]:
            x = f(x)
    return x


@TRICKS.register("diffaugment", help="DiffAugment: color, translation, cutout on every image D sees, "
                 "in D's and G's steps (Zhao 2020)", phase="both",
                 check=lambda policy="color,translation,cutout": parse_policy(policy))
class DiffAugment(Hooks):
    def __init__(self, policy: str = "color,translation,cutout"):
        self.policy = parse_policy(policy)
        self.out_range = (0.0, 1.0)

    def setup(self, env):
        self.out_range = tuple(float(v) for v in getattr(base_module(env.G), "output_range", (0.0, 1.0)))

    def d_input(self, x, ctx):
        return from_unit(diff_augment(to_unit(x, self.out_range), self.policy), self.out_range)
