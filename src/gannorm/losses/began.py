"""BEGAN (Berthelot et al. 2017): D is an auto-encoder and its output is the per-image
reconstruction loss L(v) = mean |v - Dec(Enc(v))| (eta = 1).

    L_D = L(x) - k_t L(G(z))        L_G = L(G(z))
    k_{t+1} = clip(k_t + lambda_k (gamma L(x) - L(G(z))), 0, 1),   k_0 = 0

Defaults are the paper's: gamma 0.5 (the diversity ratio E[L(G(z))] / E[L(x)]),
lambda_k 0.001. k is updated after each D step from that step's batch (as common
implementations do; the paper writes it with the G step's L(G(z))). The logged
convergence measure is M = L(x) + |gamma L(x) - L(G(z))|.

k starts at 0, so early on D barely pushes L(G(z)) up: on dark-background data G can settle
on blank images, which the auto-encoder reconstructs almost perfectly (seen on the bundled
Fashion-MNIST in 1,000 quickstart iterations, k 0.02). BEGAN needs long runs; a larger
lambda_k (e.g. 0.01) lets k catch up sooner.

Its own D shape: ``AutoencoderD`` keeps the model's D as the encoder (its feature map,
``D(x, return_features=True)``; the logit layer goes unused) and adds a decoder of
nearest-upsampling 3x3 convs with ELU, as the paper's, back to the image size.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import GannormError
from ..hooks import DWrapper, feature_shape
from ..registry import LOSSES
from .base import AdversarialLoss


class AutoencoderD(DWrapper):
    """D(x) = mean |x - Dec(Enc(x))| per image; Enc = the wrapped D's feature map."""

    def __init__(self, net: nn.Module, image_shape, feature_shape):
        super().__init__(net)
        c_img, h_img, w_img = image_shape
        c, h, _ = feature_shape
        self.image_size = (h_img, w_img)
        layers = [nn.Conv2d(c, c, 3, 1, 1), nn.ELU()]
        while h < max(h_img, w_img):
            c_next = max(c // 2, 8)
            layers += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c, c_next, 3, 1, 1), nn.ELU()]
            c, h = c_next, h * 2
        self.decoder = nn.Sequential(*layers)
        self.to_image = nn.Conv2d(c, c_img, 3, 1, 1)

    def reconstruct(self, x, y=None):
        _, h = self.inner(x, y)
        r = self.decoder(h)
        if r.shape[-2:] != x.shape[-2:]:
            r = F.interpolate(r, size=x.shape[-2:], mode="nearest")
        return self.to_image(r), h

    def forward(self, x, y=None, return_features=False):
        r, h = self.reconstruct(x, y)
        out = (x - r).abs().flatten(1).mean(1)
        return (out, h) if return_features else out


@LOSSES.register("began", help="BEGAN: auto-encoder D, gamma 0.5, lambda_k 0.001 (Berthelot 2017)")
class BEGAN(AdversarialLoss):
    name = "began"
    d_output = "autoencoder"
    probabilistic = False
    chance_d_loss = None  # D is an auto-encoder balanced by k_t, not a classifier

    def __init__(self, gamma: float = 0.5, lambda_k: float = 0.001, k0: float = 0.0):
        if not 0 < gamma <= 1:
            raise GannormError(f"loss began: gamma must be in (0, 1], got {gamma}")
        self.gamma, self.lambda_k = float(gamma), float(lambda_k)
        # k and the last means stay on the device (float64, as the Python float they replace):
        # reading them every step would make the step wait for the GPU.
        self.k = torch.tensor(float(k0), dtype=torch.float64)
        self._last = None

    def setup(self, env):
        fs = feature_shape(env.D, env.image_shape)
        if len(fs) != 3:
            raise GannormError(f"loss began needs a D whose features are a (C, H, W) map, got {fs}")
        env.D = AutoencoderD(env.D, env.image_shape, fs)

    def d_loss(self, real_logits, fake_logits):
        lr, lf = real_logits.mean(), fake_logits.mean()
        self.k = self.k.to(lr.device)
        self._last = (lr.detach().double(), lf.detach().double())
        return lr - self.k.to(lr.dtype) * lf

    def g_loss(self, fake_logits, real_logits=None):
        return fake_logits.mean()

    def after_d_step(self, ctx):
        lr, lf = self._last
        self.k = (self.k + self.lambda_k * (self.gamma * lr - lf)).clamp(0.0, 1.0)
        ctx.logs["began_k"] = self.k.float()
        ctx.logs["began_M"] = (lr + (self.gamma * lr - lf).abs()).float()

    def state_dict(self):
        return {"k": float(self.k)}  # checkpoints are sync points anyway

    def load_state_dict(self, state):
        self.k = torch.tensor(float(state["k"]), dtype=torch.float64)
