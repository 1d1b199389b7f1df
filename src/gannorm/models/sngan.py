"""The networks of SNGAN (Miyato et al. 2018, arXiv 1802.05957, Tables 3-4 and appendix B;
ResNets after Gulrajani et al. 2017 and the authors' chainer code pfnet-research/sngan_projection).

``sngan_cnn`` -- the standard CNN (M = image size, bf = model.base_features = 64)::

    G: z (128) -> dense -> (M/8) x (M/8) x 8bf, BN, ReLU
       deconv 4x4 s2 -> 4bf, BN, ReLU;  -> 2bf, BN, ReLU;  -> bf, BN, ReLU
       conv 3x3 s1 -> 3, tanh
    D: conv 3x3 s1 bf, conv 4x4 s2 bf, conv 3x3 s1 2bf, conv 4x4 s2 2bf,
       conv 3x3 s1 4bf, conv 4x4 s2 4bf, conv 3x3 s1 8bf   (each + LeakyReLU 0.1)
       dense -> 1

``sngan_resnet`` -- ReLU ResNets; G blocks: BN, ReLU, 2x nearest upsample, conv 3x3, BN,
ReLU, conv 3x3, shortcut upsample + 1x1 conv; D blocks: ReLU, conv 3x3, ReLU, conv 3x3,
2x2 avg-pool, shortcut 1x1 conv + avg-pool (D's first block: conv, ReLU, conv, pool;
shortcut pool + 1x1 conv). D ends in ReLU, a sum over the map, dense -> 1.

- images under 64 px (CIFAR-10, 32 px; Miyato Table 4): G dense -> 4x4 x gch, 3 up
  blocks of gch, BN, ReLU, conv 3x3 -> 3, tanh; D 4 blocks of bf channels (down, down,
  same, same). The paper's CIFAR net has gch = 256, D 128: set base_features 128
  (gch defaults to 2 * base_features; ``model.args.g_channels`` overrides it).
- 64 px and more (the 64x64 ResNet of the authors' code / Gulrajani et al.'s 64x64): G
  dense -> (M/16)^2 x 16bf, up blocks 16bf -> 8bf -> 4bf -> 2bf -> bf, BN, ReLU, conv 3x3,
  tanh; D blocks bf (first), 2bf, 4bf, 8bf (down) and 16bf (same size).

G ends in tanh: ``output_range = (-1, 1)``, so the data are scaled to match. Every weight
layer comes from the ``Norm``, and the paper's BN positions in G (and the feature-norm
positions in D) take ``norm.norm_layer``: SNGAN itself is ``g_norm: batch`` (BN in G,
plain layers) with ``d_norm: spectral``. ``activation: auto`` means the paper's
activations (ReLU in G, LeakyReLU 0.1 in the CNN's D, ReLU in the ResNet's D), not
Xiang & Li's TPReLU/PReLU pairing; any other value is used in both G and D.
The depth is fixed by the paper: ``model.n_layers`` must stay unset.

``model.args.init`` / ``init_std``: the weight initialisation (``gannorm.models.init``):
torch's layer defaults (the default), ``normal``, ``truncated_normal``, or ``bsn`` (Lin et
al. 2021's CNN code: conv weights truncated normal, transposed-conv and dense normal, std 0.02).
"""
from __future__ import annotations

from typing import List

import torch.nn as nn

from ..errors import GannormError
from ..nn.activations import make_activation
from ..nn.norms import Norm
from ..registry import MODELS
from .checks import check_input
from .init import check_init, init_weights


def _acts(activation: str, g_default: str, d_default: str):
    return (g_default, d_default) if activation == "auto" else (activation, activation)


# ----------------------------------------------------------------------------- standard CNN

class SNGANCNNGenerator(nn.Module):
    output_range = (-1.0, 1.0)

    def __init__(self, image_size: int, channels: int, z_dim: int = 128, base_features: int = 64,
                 norm: Norm | None = None, act: str = "relu"):
        super().__init__()
        norm = norm or Norm()
        self.z_dim = z_dim
        b, f = image_size // 8, base_features * 8
        self.init_shape = (f, b, b)
        self.fc = norm.linear(z_dim, f * b * b)
        self.fc_post = nn.Sequential(norm.norm_layer(f), make_activation(act, f))
        layers: List[nn.Module] = []
        for _ in range(3):
            layers += [norm.conv_transpose(f, f // 2, 4, 2, 1), norm.norm_layer(f // 2), make_activation(act, f // 2)]
            f //= 2
        layers += [norm.conv(f, channels, 3, 1, 1, last=True), nn.Tanh()]
        self.body = nn.Sequential(*layers)

    def forward(self, z):
        return self.body(self.fc_post(self.fc(z).view(z.shape[0], *self.init_shape)))


class SNGANCNNDiscriminator(nn.Module):
    def __init__(self, image_size: int, channels: int, base_features: int = 64, norm: Norm | None = None,
                 act: str = "lrelu0.1"):
        super().__init__()
        norm = norm or Norm()
        self.channels = channels
        bf = base_features
        # (out channels, kernel, stride) of the seven convs of Miyato et al. Table 3
        spec = [(bf, 3, 1), (bf, 4, 2), (2 * bf, 3, 1), (2 * bf, 4, 2), (4 * bf, 3, 1), (4 * bf, 4, 2), (8 * bf, 3, 1)]
        layers: List[nn.Module] = []
        cin = channels
        for i, (cout, k, s) in enumerate(spec):
            layers.append(norm.conv(cin, cout, k, s, 1))
            if i > 0:
                layers.append(norm.norm_layer(cout))
            layers.append(make_activation(act, cout))
            cin = cout
        self.features = nn.Sequential(*layers)
        b = image_size // 8
        self.head = norm.linear(cin * b * b, 1, last=True)
        self.feature_channels = cin

    def forward(self, x, return_features: bool = False):
        check_input(x, self.channels)
        h = self.features(x)
        out = self.head(h.flatten(1)).squeeze(1)
        return (out, h) if return_features else out


# ----------------------------------------------------------------------------- ResNet

class GBlock(nn.Module):
    def __init__(self, cin: int, cout: int, norm: Norm, act: str):
        super().__init__()
        self.residual = nn.Sequential(
            norm.norm_layer(cin), make_activation(act, cin), nn.Upsample(scale_factor=2, mode="nearest"),
            norm.conv(cin, cout, 3, 1, 1), norm.norm_layer(cout), make_activation(act, cout),
            norm.conv(cout, cout, 3, 1, 1))
        self.shortcut = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), norm.conv(cin, cout, 1, 1, 0))

    def forward(self, x):
        return self.residual(x) + self.shortcut(x)


class DBlock(nn.Module):
    def __init__(self, cin: int, cout: int, down: bool, norm: Norm, act: str, first: bool = False):
        super().__init__()
        pool = [nn.AvgPool2d(2)] if down else []
        if first:  # the "optimized" first block: no activation before the first conv, pool first on the shortcut
            self.residual = nn.Sequential(norm.conv(cin, cout, 3, 1, 1), make_activation(act, cout),
                                          norm.conv(cout, cout, 3, 1, 1), *pool)
            self.shortcut = nn.Sequential(*pool, norm.conv(cin, cout, 1, 1, 0))
        else:
            self.residual = nn.Sequential(
                norm.norm_layer(cin), make_activation(act, cin), norm.conv(cin, cout, 3, 1, 1),
                norm.norm_layer(cout), make_activation(act, cout), norm.conv(cout, cout, 3, 1, 1), *pool)
            learn = down or cin != cout
            self.shortcut = nn.Sequential(norm.conv(cin, cout, 1, 1, 0), *pool) if learn else nn.Identity()

    def forward(self, x):
        return self.residual(x) + self.shortcut(x)


def _resnet_plan(image_size: int, base_features: int, g_channels: int | None):
    if image_size < 64:
        if image_size % 8:
            raise GannormError(f"sngan_resnet needs an image size divisible by 8 (32 for CIFAR-10), got {image_size}")
        gch = int(g_channels or 2 * base_features)
        g_chs = [gch] * 4
        d_plan = [(base_features, True), (base_features, True), (base_features, False), (base_features, False)]
        return image_size // 8, g_chs, d_plan
    if image_size % 16:
        raise GannormError(f"sngan_resnet needs a 64+ px image size divisible by 16, got {image_size}")
    g_chs = [base_features * m for m in (16, 8, 4, 2, 1)]
    if g_channels:
        if int(g_channels) % 16:
            raise GannormError(f"model.args.g_channels={g_channels}: the 64 px layout halves it four "
                               f"times, so it must be a multiple of 16")
        g_chs = [int(g_channels) * m // 16 for m in (16, 8, 4, 2, 1)]
    d_plan = [(base_features * m, m < 16) for m in (1, 2, 4, 8, 16)]
    return image_size // 16, g_chs, d_plan


class SNGANResNetGenerator(nn.Module):
    output_range = (-1.0, 1.0)

    def __init__(self, image_size: int, channels: int, z_dim: int = 128, base_features: int = 64,
                 norm: Norm | None = None, act: str = "relu", g_channels: int | None = None):
        super().__init__()
        norm = norm or Norm()
        self.z_dim = z_dim
        b, chs, _ = _resnet_plan(image_size, base_features, g_channels)
        self.init_shape = (chs[0], b, b)
        self.fc = norm.linear(z_dim, chs[0] * b * b)
        self.blocks = nn.Sequential(*[GBlock(chs[i], chs[i + 1], norm, act) for i in range(len(chs) - 1)])
        self.out = nn.Sequential(norm.norm_layer(chs[-1]), make_activation(act, chs[-1]),
                                 norm.conv(chs[-1], channels, 3, 1, 1, last=True), nn.Tanh())

    def forward(self, z):
        return self.out(self.blocks(self.fc(z).view(z.shape[0], *self.init_shape)))


class SNGANResNetDiscriminator(nn.Module):
    def __init__(self, image_size: int, channels: int, base_features: int = 64, norm: Norm | None = None,
                 act: str = "relu"):
        super().__init__()
        norm = norm or Norm()
        self.channels = channels
        _, _, plan = _resnet_plan(image_size, base_features, None)
        blocks, cin = [], channels
        for i, (cout, down) in enumerate(plan):
            blocks.append(DBlock(cin, cout, down, norm, act, first=(i == 0)))
            cin = cout
        self.features = nn.Sequential(*blocks)
        self.act = make_activation(act, cin)
        self.head = norm.linear(cin, 1, last=True)
        self.feature_channels = cin

    def forward(self, x, return_features: bool = False):
        check_input(x, self.channels)
        h = self.features(x)
        out = self.head(self.act(h).sum(dim=(2, 3))).squeeze(1)
        return (out, h) if return_features else out


def _fixed_depth(name: str, n_layers):
    if n_layers is not None:
        raise GannormError(f"model {name!r} has the paper's fixed depth; leave model.n_layers unset")


@MODELS.register("sngan_cnn", help="SNGAN standard CNN (Miyato et al. 2018, Table 3), tanh output")
def build_sngan_cnn(image_size: int, channels: int, z_dim: int, base_features: int, n_layers,
                    g_norm: Norm, d_norm: Norm, activation: str = "auto", init: str = "torch",
                    init_std: float = 0.02):
    _fixed_depth("sngan_cnn", n_layers)
    check_init(init, init_std)
    if image_size % 8:
        raise GannormError(f"sngan_cnn needs an image size divisible by 8 (32 for CIFAR-10), got {image_size}")
    g_act, d_act = _acts(activation, "relu", "lrelu0.1")
    return (init_weights(SNGANCNNGenerator(image_size, channels, z_dim, base_features, g_norm, g_act), init, init_std),
            init_weights(SNGANCNNDiscriminator(image_size, channels, base_features, d_norm, d_act), init, init_std))


@MODELS.register("sngan_resnet", help="SNGAN ResNet (Miyato et al. 2018): CIFAR layout < 64 px, 64x64 layout above")
def build_sngan_resnet(image_size: int, channels: int, z_dim: int, base_features: int, n_layers,
                       g_norm: Norm, d_norm: Norm, activation: str = "auto", g_channels: int | None = None,
                       init: str = "torch", init_std: float = 0.02):
    _fixed_depth("sngan_resnet", n_layers)
    check_init(init, init_std)
    g_act, d_act = _acts(activation, "relu", "relu")
    return (init_weights(SNGANResNetGenerator(image_size, channels, z_dim, base_features, g_norm, g_act, g_channels),
                         init, init_std),
            init_weights(SNGANResNetDiscriminator(image_size, channels, base_features, d_norm, d_act), init, init_std))
