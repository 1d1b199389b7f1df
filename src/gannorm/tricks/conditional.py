"""Conditional GAN: class labels into G and D, as wrappers around any architecture.

G (``g``):
  concat  (Mirza & Osindero 2014): G(z, y) = G0(A [z; onehot(y)]). G0's first layer is
          linear in z, so this equals concatenating the one-hot label to z in front of it;
          A starts as [I | N(0, 1)] (z passes unchanged, each class adds an offset).
  cbn     conditional batch norm (de Vries et al. 2017; Miyato & Koyama 2018): every
          BatchNorm in G becomes BN without affine, followed by a per-class scale
          gamma_y (init 1) and shift beta_y (init 0). Needs a G with BN (g_norm=batch).
D (``d``):
  projection  (Miyato & Koyama 2018): D(x, y) = D0(x) + <e_y, phi(x)>, phi(x) = D's
              feature map summed over positions, e_y a learned class embedding.
  concat      one-hot label planes concatenated to the image, mixed back to the image's
              channels by a 1x1 conv (init: identity on the image, 0 on the labels) so
              any D takes them.
Without labels (``G(z)``, as sample grids and the reconstruction test call it) G uses
y_i = i mod n_classes, so a grid shows the classes in turn. In training, the fakes of a
step use the labels of that step's real batch.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import GannormError
from ..hooks import DWrapper, Hooks, feature_shape, warn
from ..registry import TRICKS


class ConditionalBatchNorm(nn.Module):
    """BN without affine, then gamma_y * x + beta_y; the labels are set by ConditionalG."""

    def __init__(self, bn: nn.modules.batchnorm._BatchNorm, n_classes: int):
        super().__init__()
        c = bn.num_features
        self.bn = type(bn)(c, eps=bn.eps, momentum=bn.momentum, affine=False)
        self.gamma = nn.Embedding(n_classes, c)
        self.beta = nn.Embedding(n_classes, c)
        nn.init.ones_(self.gamma.weight)
        nn.init.zeros_(self.beta.weight)
        self.y: Optional[torch.Tensor] = None

    def forward(self, x):
        h = self.bn(x)
        shape = (x.shape[0], -1) + (1,) * (x.dim() - 2)
        return self.gamma(self.y).view(shape) * h + self.beta(self.y).view(shape)


class ConditionalG(nn.Module):
    is_wrapper = True

    def __init__(self, net: nn.Module, n_classes: int, mode: str = "concat"):
        super().__init__()
        self.net, self.n_classes, self.mode = net, n_classes, mode
        self.z_dim = net.z_dim
        self.output_range = getattr(net, "output_range", (0.0, 1.0))
        if mode == "concat":
            self.embed = nn.Linear(self.z_dim + n_classes, self.z_dim, bias=False)
            with torch.no_grad():
                self.embed.weight.zero_()
                self.embed.weight[:, :self.z_dim] = torch.eye(self.z_dim)
                self.embed.weight[:, self.z_dim:] = torch.randn(self.z_dim, n_classes)
        elif mode == "cbn":
            self.cbns = []
            for name, m in list(net.named_modules()):
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    parent = net.get_submodule(name.rsplit(".", 1)[0]) if "." in name else net
                    cbn = ConditionalBatchNorm(m, n_classes)
                    setattr(parent, name.rsplit(".", 1)[-1], cbn)
                    self.cbns.append(cbn)
            if not self.cbns:
                raise GannormError("trick conditional g=cbn needs a G with batch norm (model.g_norm=batch); "
                                   "use g=concat for other norms")
        else:
            raise GannormError(f"trick conditional: g must be concat or cbn, got {mode!r}")

    def default_labels(self, n: int, device) -> torch.Tensor:
        return torch.arange(n, device=device) % self.n_classes

    def forward(self, z: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        if y is None:
            y = self.default_labels(z.shape[0], z.device)
        if self.mode == "concat":
            z = self.embed(torch.cat([z, F.one_hot(y, self.n_classes).to(z.dtype)], 1))
        else:
            for m in self.cbns:
                m.y = y
        return self.net(z)


class ConditionalD(DWrapper):
    def __init__(self, net: nn.Module, n_classes: int, mode: str, image_channels: int,
                 feature_channels: int):
        super().__init__(net)
        self.n_classes, self.mode = n_classes, mode
        if mode == "projection":
            self.embed = nn.Embedding(n_classes, feature_channels)
            nn.init.xavier_uniform_(self.embed.weight)
        elif mode == "concat":
            self.mix = nn.Conv2d(image_channels + n_classes, image_channels, 1)
            with torch.no_grad():
                self.mix.weight.zero_()
                self.mix.bias.zero_()
                self.mix.weight[:, :image_channels, 0, 0] = torch.eye(image_channels)
        else:
            raise GannormError(f"trick conditional: d must be projection or concat, got {mode!r}")

    def forward(self, x, y=None, return_features=False):
        if self.mode == "concat":
            if y is not None:
                planes = F.one_hot(y, self.n_classes).to(x.dtype)[:, :, None, None].expand(-1, -1, *x.shape[2:])
                x = self.mix(torch.cat([x, planes], 1))
            out, h = self.inner(x)
        else:
            out, h = self.inner(x)
            if y is not None:
                phi = h.sum(tuple(range(2, h.dim()))) if h.dim() > 2 else h
                out = out + (self.embed(y) * phi).sum(1)
        return (out, h) if return_features else out


@TRICKS.register("conditional", help="class labels into G (concat|cbn) and D (projection|concat)", phase="model",
                 wraps_g=True)
class Conditional(Hooks):
    needs_labels = True
    order = 90  # outermost: the labels reach every other wrapper's D through it

    def __init__(self, g: str = "concat", d: str = "projection"):
        self.g, self.d = g, d

    def wrap_g(self, G, n_classes, data_name: str = "the data"):
        """G as this trick's set-up wraps it (what a checkpoint's G weights belong to); also
        what ``tricks.wrap_generator`` calls to rebuild G alone for sampling."""
        if n_classes is None:
            raise GannormError(f"trick conditional needs class labels, but {data_name} has none; use a "
                               f"labelled dataset (class folders, fashion_mnist_small, cifar10)")
        return ConditionalG(G, n_classes, self.g)

    def setup(self, env):
        if env.n_classes is None:
            self.wrap_g(env.G, None, env.cfg.data.name if env.cfg is not None else "the data")  # its one-line error
        if env.n_classes < 2:
            warn("trick conditional: the data has a single class (a flat folder?), so the labels carry "
                 "no information")
        if self.d == "projection" and getattr(env.loss, "d_output", "logit") != "logit":
            raise GannormError(f"trick conditional d=projection adds to D's logit, but loss "
                               f"{env.loss.name!r} gives D its own output; use d=concat")
        fs = feature_shape(env.D, env.image_shape)
        env.G = self.wrap_g(env.G, env.n_classes)  # in the order of earlier versions: the same initial weights
        env.D = ConditionalD(env.D, env.n_classes, self.d, env.image_shape[0], fs[0])
