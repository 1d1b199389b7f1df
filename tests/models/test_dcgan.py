"""The paper's DCGAN: shapes at 28/32/64 px and the layout of the authors' code
(github stormraiser/GAN-weight-norm, pytorch/model.py)."""
import pytest
import torch
import torch.nn as nn

from gannorm.config import ModelConfig
from gannorm.models import build_models
from gannorm.models.dcgan import default_n_layers
from gannorm.nn import TPReLU, WNConv2d, WNConvTranspose2d, WNLinear


@pytest.mark.parametrize("size,channels", [(28, 1), (32, 3), (64, 3)])
@pytest.mark.parametrize("norm", ["none", "batch", "weight"])
def test_shapes(size, channels, norm):
    g, d = build_models(ModelConfig(g_norm=norm, d_norm=norm, base_features=8, z_dim=16), size, channels)
    x = g(torch.randn(5, 16))
    assert x.shape == (5, channels, size, size)
    assert float(x.detach().min()) >= 0 and float(x.detach().max()) <= 1  # sigmoid output, images in [0,1]
    out = d(x)
    assert out.shape == (5,)
    out.sum().backward()


def test_layer_count_rule():
    """Authors' main.py: s = size; while s >= 8: s = ceil(s/2), n += 1."""
    assert [default_n_layers(s) for s in (28, 32, 64, 128)] == [2, 3, 4, 5]


def test_weight_norm_layout_64():
    """WN: strict WN + TPReLU in hidden layers, affine WN at the last layer of G and D;
    channels 64 -> 128 -> 256 -> 512 in D, final conv covers the 4x4 map."""
    g, d = build_models(ModelConfig(g_norm="weight", d_norm="weight"), 64, 3)
    convs = [m for m in d.features if isinstance(m, WNConv2d)]
    assert [c.out_channels for c in convs] == [64, 128, 256, 512]
    assert all(not c.affine for c in convs) and d.head.affine and d.head.kernel_size == (4, 4)
    assert sum(isinstance(m, TPReLU) for m in d.modules()) == 4
    assert isinstance(g.fc, WNLinear) and not g.fc.affine
    deconvs = [m for m in g.modules() if isinstance(m, WNConvTranspose2d)]
    assert [c.out_channels for c in deconvs] == [256, 128, 64, 3]
    assert deconvs[-1].affine and not any(c.affine for c in deconvs[:-1])
    assert not any(isinstance(m, nn.BatchNorm2d) for m in list(g.modules()) + list(d.modules()))


def test_batch_norm_placement():
    """BN: after G's linear layer and every hidden deconv; in D after every conv but the first."""
    g, d = build_models(ModelConfig(g_norm="batch", d_norm="batch"), 32, 3)
    feats = list(d.features)
    assert isinstance(feats[0], nn.Conv2d) and not isinstance(feats[1], nn.BatchNorm2d)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in d.modules()) == 2
    assert sum(isinstance(m, nn.BatchNorm2d) for m in g.modules()) == 3  # fc + 2 hidden deconvs
    assert sum(isinstance(m, nn.PReLU) for m in d.modules()) == 3


def test_odd_map_padding_28px():
    """28 px: 28 -> 14 -> 7, final 7x7 conv; G starts from 7x7."""
    g, d = build_models(ModelConfig(g_norm="none", d_norm="none", base_features=8), 28, 1)
    assert d.head.kernel_size == (7, 7)
    assert g.init_shape == (16, 7, 7)
