"""The residual G and D of Xiang & Li (arXiv 1704.03971 v4; code github
stormraiser/gan-weightnorm-resnet, ``model.py`` and ``modules/ResidueBlock.py``).

Residual block (D, downsampling by ``stride`` 2 or keeping the size with stride 1)::

    residual = conv_{k x k, stride}(x) -> act -> conv_3x3          k = stride + 2
    shortcut = [zero pad] -> [avg-pool 2x2] -> [1x1 conv if channels change]
    y = act( (a_c r + b_c s) / sqrt(a_c^2 + b_c^2 + 1e-6) )       per channel c

The transposed block of G mirrors it (3x3 conv -> act -> k x k stride-2 transposed conv;
shortcut: [1x1 transposed conv] -> [nearest 2x upsample] -> crop the padding). The merge
weights (a_c, b_c) start at (0, 1), so at initialisation every block outputs ``act`` of its
shortcut: an identity map (up to 1/sqrt(1 + 1e-6)) before the post-activation, which the
authors' code applies after the merge; ``model.args.post_activation: false`` drops it.
G's last block ends in a per-channel affine map instead (scale 1, bias 0), then sigmoid:
images in [0, 1]. As in the authors' ``main.py``, D sees its input mapped to [-1, 1].

Layers come from the ``Norm`` (strict WN convs with ``weight``, plain convs with
``none`` ...); a feature norm (BN) follows each residual conv except D's very first and
G's image-producing one. ``activation: auto`` is the norm's own (TPReLU with WN).

Depth (``model.n_layers``) counts the weighted layers on the longest path, as ResNet
depths are counted (He et al. 2016): two convs per residual block, plus D's final conv
(the one covering the remaining map) or G's first linear layer; 1x1 shortcut convs are
not counted. The paper's "21-layer ResNet" at 64x64 is read as 10 blocks: 5 resolution
levels (64 -> 2 px) of 2 blocks each -- an interpretation, since the paper does not say
how it counts. ``n_layers`` must be odd; blocks are spread evenly over the levels (any
remainder goes to the low-resolution levels). Options (``model.args``): ``levels``
(default: halvings until the map is 2-3 px, i.e. 5 at 64 px, 4 at 32 px), ``features``
(channels per level, default base_features * 2^i capped at 8 * base_features),
``post_activation``.
"""
from __future__ import annotations

from typing import List, Optional, Sequence

import torch
import torch.nn as nn

from ..errors import GannormError
from ..nn.activations import make_activation
from ..nn.norms import Norm
from ..registry import MODELS
from .dcgan import default_n_layers
from .checks import check_input

MERGE_EPS = 1e-6  # inside the square root, as the authors' WeightNormalizedAddition


class WNAddition(nn.Module):
    """y = (a r + b s) / sqrt(a^2 + b^2 + 1e-6), a learned (a, b) per channel, init (0, 1)."""

    def __init__(self, channels: int, init=(0.0, 1.0)):
        super().__init__()
        self.weight = nn.Parameter(torch.tensor(init, dtype=torch.float32).view(2, 1).repeat(1, channels))

    def forward(self, residual: torch.Tensor, shortcut: torch.Tensor) -> torch.Tensor:
        w = self.weight * torch.rsqrt(self.weight.pow(2).sum(0, keepdim=True) + MERGE_EPS)
        return residual * w[0].view(1, -1, 1, 1) + shortcut * w[1].view(1, -1, 1, 1)


class Affine(nn.Module):
    """Per-channel y = s_c x + t_c (s = 1, t = 0 at init): the end of G's last block."""

    def __init__(self, channels: int):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x):
        return x * self.scale.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


class DownBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, pad: int, norm: Norm, act: str,
                 first: bool = False, post_activation: bool = True):
        super().__init__()
        self.residual = nn.Sequential(
            norm.conv(cin, cout, stride + 2, stride, 1 + pad),
            nn.Identity() if first else norm.norm_layer(cout),
            make_activation(act, cout),
            norm.conv(cout, cout, 3, 1, 1),
            norm.norm_layer(cout),
        )
        sc: List[nn.Module] = []
        if pad:
            sc.append(nn.ZeroPad2d(pad))
        if stride == 2:
            sc.append(nn.AvgPool2d(2, 2))
        if cin != cout:
            sc.append(norm.conv(cin, cout, 1, 1, 0))
        self.shortcut = nn.Sequential(*sc)
        self.merge = WNAddition(cout)
        self.post = make_activation(act, cout) if post_activation else nn.Identity()

    def forward(self, x):
        return self.post(self.merge(self.residual(x), self.shortcut(x)))


class UpBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, pad: int, norm: Norm, act: str,
                 last: bool = False, post_activation: bool = True):
        super().__init__()
        self.residual = nn.Sequential(
            norm.conv_transpose(cin, cin, 3, 1, 1),
            norm.norm_layer(cin),
            make_activation(act, cin),
            norm.conv_transpose(cin, cout, stride + 2, stride, 1 + pad),
            nn.Identity() if last else norm.norm_layer(cout),
        )
        sc: List[nn.Module] = []
        if cin != cout:
            sc.append(norm.conv_transpose(cin, cout, 1, 1, 0))
        if stride == 2:
            sc.append(nn.Upsample(scale_factor=2, mode="nearest"))
        self.shortcut = nn.Sequential(*sc)
        self.pad = pad
        self.merge = WNAddition(cout)
        if last:
            self.post = Affine(cout)
        else:
            self.post = make_activation(act, cout) if post_activation else nn.Identity()

    def forward(self, x):
        s = self.shortcut(x)
        if self.pad:
            p = self.pad
            s = s[:, :, p:s.shape[2] - p, p:s.shape[3] - p]
        return self.post(self.merge(self.residual(x), s))


def default_levels(image_size: int) -> int:
    return default_n_layers(image_size) + 1


def plan(image_size: int, n_layers: Optional[int], levels: Optional[int], features: Optional[Sequence[int]],
         base_features: int):
    """(levels, blocks per level, features per level, paddings, final map size)."""
    levels = int(levels or default_levels(image_size))
    if features is None:
        features = [min(base_features * 2 ** i, base_features * 8) for i in range(levels)]
    features = [int(f) for f in features]
    if len(features) != levels:
        raise GannormError(f"model.args.features has {len(features)} entries for {levels} levels")
    n_layers = n_layers or 4 * levels + 1
    blocks = (n_layers - 1) // 2
    if n_layers % 2 == 0 or blocks < levels:
        raise GannormError(f"model.n_layers={n_layers}: resnet_wn needs an odd depth of at least "
                           f"{2 * levels + 1} (2 convs per block, one downsampling block per level, "
                           f"+1 final layer) for {levels} levels")
    per = [blocks // levels + (i >= levels - blocks % levels) for i in range(levels)]
    pads, s = [], image_size
    for i in range(levels):
        pad = 0 if i == levels - 1 else int(s % 4 == 2)
        pads.append(pad)
        s = (s + 2 * pad) // 2
    if s < 1 or image_size % 2:
        raise GannormError(f"resnet_wn: {levels} levels are too many for {image_size}px images; "
                           f"lower model.args.levels")
    return levels, per, features, pads, s


class ResNetWNDiscriminator(nn.Module):
    def __init__(self, image_size: int, channels: int, base_features: int = 64, n_layers: int | None = None,
                 norm: Norm | None = None, activation: str = "auto", levels: int | None = None,
                 features=None, post_activation: bool = True):
        super().__init__()
        norm = norm or Norm()
        act = norm.activation if activation == "auto" else activation
        levels, per, feats, pads, final = plan(image_size, n_layers, levels, features, base_features)
        self.channels = channels
        blocks: List[nn.Module] = []
        f_prev = channels
        for i in range(levels):
            for j in range(per[i]):
                down = j == 0
                blocks.append(DownBlock(f_prev if down else feats[i], feats[i], 2 if down else 1,
                                        pads[i] if down else 0, norm, act, first=(i == 0 and j == 0),
                                        post_activation=post_activation))
            f_prev = feats[i]
        self.features = nn.Sequential(*blocks)
        self.head = norm.conv(f_prev, 1, final, last=True)
        self.feature_channels = f_prev

    def forward(self, x: torch.Tensor, return_features: bool = False):
        check_input(x, self.channels)
        h = self.features(x * 2 - 1)  # the authors' D sees [-1, 1] (main.py: mul(2).sub(1))
        out = self.head(h).flatten(1).squeeze(1)
        return (out, h) if return_features else out


class ResNetWNGenerator(nn.Module):
    output_range = (0.0, 1.0)

    def __init__(self, image_size: int, channels: int, z_dim: int = 128, base_features: int = 64,
                 n_layers: int | None = None, norm: Norm | None = None, activation: str = "auto",
                 levels: int | None = None, features=None, post_activation: bool = True):
        super().__init__()
        norm = norm or Norm()
        act = norm.activation if activation == "auto" else activation
        levels, per, feats, pads, final = plan(image_size, n_layers, levels, features, base_features)
        self.z_dim = z_dim
        f = feats[-1]
        self.init_shape = (f, final, final)
        # small first layer, as the authors' (init_factor 0.01)
        self.fc = norm.linear(z_dim, f * final * final, init_factor=0.01)
        self.fc_post = nn.Sequential(norm.norm_layer(f), make_activation(act, f))
        blocks: List[nn.Module] = []
        for level in reversed(range(levels)):
            f = feats[level]
            f_next = channels if level == 0 else feats[level - 1]
            for j in range(per[level]):
                up = j == per[level] - 1
                blocks.append(UpBlock(f, f_next if up else f, 2 if up else 1, pads[level] if up else 0,
                                      norm, act, last=(up and level == 0), post_activation=post_activation))
        self.body = nn.Sequential(*blocks)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.fc(z).view(z.shape[0], *self.init_shape)
        return torch.sigmoid(self.body(self.fc_post(x)))


@MODELS.register("resnet_wn", help="residual G and D of Xiang & Li (WN ResNet; 21 layers at 64 px by default)")
def build_resnet_wn(image_size: int, channels: int, z_dim: int, base_features: int, n_layers,
                    g_norm: Norm, d_norm: Norm, activation: str = "auto", levels: int | None = None,
                    features=None, post_activation: bool = True):
    if features is not None and not isinstance(features, (list, tuple)):
        raise GannormError(f"model.args.features must be a list of channels per level, got {features!r}")
    kw = dict(levels=levels, features=features, post_activation=bool(post_activation))
    g = ResNetWNGenerator(image_size, channels, z_dim, base_features, n_layers, g_norm, activation, **kw)
    d = ResNetWNDiscriminator(image_size, channels, base_features, n_layers, d_norm, activation, **kw)
    return g, d
