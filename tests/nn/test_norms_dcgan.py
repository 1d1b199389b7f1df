"""Every registered normalization builds the paper's DCGAN (Xiang & Li 2017 layout) at 28,
32 and 64 px, and a forward/backward works. References: the output shapes the DCGAN
contract promises (image batch from G, one logit per image from D), finite gradients
reaching every trainable parameter, and the one-line errors for bad settings."""
import copy

import numpy as np
import pytest
import torch

from gannorm.config import ModelConfig
from gannorm.errors import GannormError
from gannorm.models.build import build_models
from gannorm.nn import build_norm
from gannorm.data import reference_images
from gannorm.nn.prepare import prepare_norms

NORMS = ["spectral", "spectral_strict", "bssn", "gran", "gngan", "layer", "instance", "group", "virtual_batch"]
D_ONLY = {"gran", "gngan"}


@pytest.mark.parametrize("size", [28, 32, 64])
@pytest.mark.parametrize("norm", NORMS)
def test_norm_builds_dcgan_and_trains_one_step(norm, size):
    """Reference: the DCGAN output contract and finite gradients on every parameter."""
    cfg = ModelConfig(z_dim=8, base_features=4, g_norm="none" if norm in D_ONLY else norm, d_norm=norm)
    G, D = build_models(cfg, size, 3)
    imgs = np.random.default_rng(0).integers(0, 256, (10, 3, size, size), dtype=np.uint8)
    prepare_norms(G, D, reference_images(imgs, np.arange(10)), seed=0)
    fake = G(torch.randn(4, 8))
    assert fake.shape == (4, 3, size, size)
    real = torch.rand(4, 3, size, size)
    d_real, d_fake = D(real), D(fake.detach())
    assert d_real.shape == (4,) and d_fake.shape == (4,)
    (torch.nn.functional.softplus(-d_real).mean() + torch.nn.functional.softplus(d_fake).mean()).backward()
    grads = [p.grad for p in D.parameters() if p.requires_grad]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)
    torch.nn.functional.softplus(-D(G(torch.randn(4, 8)))).mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in G.parameters())
    ema = copy.deepcopy(G)  # the trainer's EMA copy must be usable and share buffer shapes
    for a, b in zip(ema.buffers(), G.buffers()):
        assert a.shape == b.shape
    assert ema(torch.randn(2, 8)).shape == (2, 3, size, size)


def test_every_norm_is_registered_with_help():
    """Reference: the config names the documentation lists (docs/normalizations/), each registered
    with help text for `gannorm list`."""
    from gannorm.registry import NORMS as REG

    for name in NORMS:
        assert name in REG and REG.help(name)


def test_bad_settings_give_one_line_errors():
    """Reference: the error names the option or the layer."""
    with pytest.raises(GannormError, match="c must be"):
        build_norm("bssn", {"c": 0})
    with pytest.raises(GannormError, match="bssn"):
        build_norm("bssn", {"gamma": 1.0})
    with pytest.raises(GannormError, match="use it as model.d_norm, not model.g_norm"):
        build_models(ModelConfig(z_dim=8, base_features=4, g_norm="gran", d_norm="none"), 32, 1)
    with pytest.raises(GannormError, match="ConvTranspose2d"):  # the norm itself, used without build_models
        build_norm("gran").conv_transpose(4, 2, 4, 2, 1)
    with pytest.raises(GannormError, match="K must be"):
        build_norm("gran", {"K": 0})
    with pytest.raises(GannormError, match="num_groups=3"):
        build_models(ModelConfig(z_dim=8, base_features=4, g_norm="group", d_norm="none",
                                 g_norm_args={"num_groups": 3}), 32, 1)
