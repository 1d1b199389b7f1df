"""The DCGAN-like networks of Xiang & Li 2017 (layout of the authors' code).

D: 4x4 stride-2 convs with base_features, 2x, 4x ... channels until the map is under
8 px, then one conv covering the whole remaining map -> 1 logit.
G mirrors it: linear(z) -> f*h*w, 4x4 stride-2 transposed convs halving the channels,
a last transposed conv to the image channels, then sigmoid (images in [0, 1]).

The number of layers follows the authors' rule: s = image size; while s >= 8:
s = ceil(s/2), one more layer (64 px -> 4 layers, 32 -> 3, 28 -> 2). A map of size
2 mod 4 gets one extra pixel of padding so odd sizes never appear (their code again).

Placement of the normalization follows the code: a feature norm (BN) after G's linear
layer and every hidden transposed conv, and after every D conv but the first and the
last; the layer type itself comes from the Norm (strict WN in hidden layers, affine WN
in the last ones).

The paper's D ends in a sigmoid and trains with BCE; here D returns the logit and the
loss applies the sigmoid (BCE-with-logits), which is the same function, computed stably.
"""
from __future__ import annotations

from typing import List, Tuple

import torch
import torch.nn as nn

from ..errors import GannormError
from ..nn.activations import make_activation
from ..nn.norms import Norm
from ..registry import MODELS


def default_n_layers(image_size: int) -> int:
    n, s = 0, image_size
    while s >= 8:
        s = (s + 1) // 2
        n += 1
    return n


def _down_plan(size: int, n_layers: int) -> Tuple[List[int], int]:
    """Extra paddings of D's stride-2 convs and the final map size."""
    pads, s = [], size
    for i in range(n_layers):
        pad = 0 if i == n_layers - 1 else int(s % 4 == 2)
        pads.append(pad)
        s = (s + 2 * pad) // 2
    return pads, s


class DCGANDiscriminator(nn.Module):
    def __init__(self, image_size: int, channels: int, base_features: int = 64,
                 n_layers: int | None = None, norm: Norm | None = None, activation: str = "auto"):
        super().__init__()
        norm = norm or Norm()
        act = norm.activation if activation == "auto" else activation
        _check_size(image_size)
        n_layers = n_layers or default_n_layers(image_size)
        pads, final = _down_plan(image_size, n_layers)
        if final < 1:
            raise GannormError(f"model.n_layers={n_layers} is too deep for {image_size}px images")
        layers: List[nn.Module] = []
        f_prev, f = channels, base_features
        for i in range(n_layers):
            layers.append(norm.conv(f_prev, f, 4, 2, 1 + pads[i]))
            if i > 0:
                layers.append(norm.norm_layer(f))
            layers.append(make_activation(act, f))
            f_prev, f = f, f * 2
        self.features = nn.Sequential(*layers)
        self.head = norm.conv(f_prev, 1, final, last=True)
        self.feature_channels = f_prev

    def forward(self, x: torch.Tensor, return_features: bool = False):
        h = self.features(x)
        out = self.head(h).flatten(1).squeeze(1)
        return (out, h) if return_features else out


class DCGANGenerator(nn.Module):
    output_range = (0.0, 1.0)

    def __init__(self, image_size: int, channels: int, z_dim: int = 128, base_features: int = 64,
                 n_layers: int | None = None, norm: Norm | None = None, activation: str = "auto"):
        super().__init__()
        norm = norm or Norm()
        act = norm.activation if activation == "auto" else activation
        _check_size(image_size)
        self.z_dim = z_dim
        n_layers = n_layers or default_n_layers(image_size)
        pads, h = [], image_size
        for _ in range(n_layers - 1):
            pad = int(h % 4 == 2)
            pads.append(pad)
            h = (h + 2 * pad) // 2
        h //= 2
        pads.append(0)
        if h < 1:
            raise GannormError(f"model.n_layers={n_layers} is too deep for {image_size}px images")
        f = base_features * 2 ** (n_layers - 1)
        self.init_shape = (f, h, h)
        # The paper's code initialises G's first layer 100x smaller (init_factor 0.01) with WN.
        self.fc = norm.linear(z_dim, f * h * h, init_factor=0.01)
        self.fc_post = nn.Sequential(norm.norm_layer(f), make_activation(act, f))
        layers: List[nn.Module] = []
        for i in range(n_layers - 1):
            level = n_layers - 1 - i
            layers += [norm.conv_transpose(f, f // 2, 4, 2, 1 + pads[level]),
                       norm.norm_layer(f // 2), make_activation(act, f // 2)]
            f //= 2
        layers += [norm.conv_transpose(f, channels, 4, 2, 1 + pads[0], last=True), nn.Sigmoid()]
        self.body = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.fc(z).view(z.shape[0], *self.init_shape)
        return self.body(self.fc_post(x))


def _check_size(size: int):
    if size % 2 or size < 8:
        raise GannormError(f"the DCGAN needs an even image size >= 8, got {size}; set data.image_size")


@MODELS.register("dcgan", help="DCGAN-like G and D of Xiang & Li 2017 (authors' code layout)")
def build_dcgan(image_size: int, channels: int, z_dim: int, base_features: int, n_layers,
                g_norm: Norm, d_norm: Norm, activation: str = "auto"):
    g = DCGANGenerator(image_size, channels, z_dim, base_features, n_layers, g_norm, activation)
    d = DCGANDiscriminator(image_size, channels, base_features, n_layers, d_norm, activation)
    return g, d
