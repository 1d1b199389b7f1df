"""The WN ResNet of Xiang & Li 2017 (the ResNet version of their code). References: its
formulas written out here (merge (a r + b s)/sqrt(a^2 + b^2 + 1e-6) with (a, b) = (0, 1) at
init; TPReLU with slope 0.25 and offset 0 at init), the layer-counting rule documented in
resnet_wn.py, and the requested image sizes."""
import math

import pytest
import torch
import torch.nn as nn
from norm_matrix import check_norm, norm_params

from gannorm.errors import GannormError
from gannorm.models.resnet_wn import DownBlock, ResNetWNDiscriminator, ResNetWNGenerator, UpBlock, WNAddition
from gannorm.nn.norms import WeightNorm
from gannorm.nn.weight_norm import WNConv2d, WNConvTranspose2d, WNLinear

WEIGHTED = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    yield


def main_path_layers(net):
    """Weighted layers on the longest path: 2 in each residual branch, + D's head or G's fc."""
    blocks = [m for m in net.modules() if isinstance(m, (DownBlock, UpBlock))]
    per_block = [sum(isinstance(m, WEIGHTED) for m in b.residual.modules()) for b in blocks]
    assert set(per_block) == {2}
    return sum(per_block) + 1, len(blocks)


def test_default_is_21_layers_at_64px_with_expected_shapes():
    """64x64: 21 layers (10 blocks, 5 levels down to 2x2) in G and D; WN layers everywhere."""
    g = ResNetWNGenerator(64, 3, z_dim=8, base_features=4, norm=WeightNorm())
    d = ResNetWNDiscriminator(64, 3, base_features=4, norm=WeightNorm())
    assert main_path_layers(g) == (21, 10) and main_path_layers(d) == (21, 10)
    x = g(torch.randn(2, 8))
    assert x.shape == (2, 3, 64, 64) and 0 <= x.min() and x.max() <= 1  # sigmoid output
    out, h = d(x, return_features=True)
    assert out.shape == (2,) and h.shape == (2, 32, 2, 2)  # 4 * 2^4 capped at 8 * 4 channels, 64 / 2^5 px
    kinds = {type(m) for m in list(g.modules()) + list(d.modules()) if isinstance(m, WEIGHTED)}
    assert kinds <= {WNConv2d, WNConvTranspose2d, WNLinear}


@pytest.mark.parametrize("size,n_layers,levels,blocks", [(32, 13, None, 6), (32, None, None, 8), (28, 7, 3, 3)])
def test_depth_is_a_setting(size, n_layers, levels, blocks):
    """n_layers = 2 * blocks + 1 in G and D; odd sizes (28 -> 14 -> 8 -> 4, padded) come out right."""
    kw = dict(n_layers=n_layers, norm=WeightNorm(), levels=levels)
    g = ResNetWNGenerator(size, 1, z_dim=4, base_features=2, **kw)
    d = ResNetWNDiscriminator(size, 1, base_features=2, **kw)
    want = n_layers or 2 * blocks + 1
    assert main_path_layers(g) == (want, blocks) and main_path_layers(d) == (want, blocks)
    x = g(torch.randn(2, 4))
    assert x.shape == (2, 1, size, size) and d(x).shape == (2,)


@pytest.mark.parametrize("n_layers", [20, 5])
def test_bad_depth_is_a_clear_error(n_layers):
    with pytest.raises(GannormError, match=f"n_layers={n_layers}"):
        ResNetWNDiscriminator(64, 3, base_features=2, n_layers=n_layers)


@pytest.mark.parametrize("block", ["down", "up"])
def test_block_starts_as_identity(block):
    """Same channels, stride 1, no post-activation: y = x / sqrt(1 + 1e-6) at init; with the
    (default) post-activation y = TPReLU(x) = max(x, 0.25 x)."""
    torch.manual_seed(1)
    x = torch.randn(2, 6, 5, 5)
    cls = DownBlock if block == "down" else UpBlock
    plain = cls(6, 6, 1, 0, WeightNorm(), "tprelu", post_activation=False)
    torch.testing.assert_close(plain(x), x / math.sqrt(1 + 1e-6), rtol=0, atol=1e-6)
    post = cls(6, 6, 1, 0, WeightNorm(), "tprelu")
    torch.testing.assert_close(post(x), torch.where(x > 0, x, 0.25 * x) / math.sqrt(1 + 1e-6), rtol=0, atol=1e-6)


def test_merge_weights_are_normalized_per_channel():
    """(a, b) = (3, 4) in channel 0 and (1, 1) in channel 1 give 0.6 r + 0.8 s and (r + s)/sqrt(2)."""
    m = WNAddition(2)
    assert m.weight.tolist() == [[0.0, 0.0], [1.0, 1.0]]
    with torch.no_grad():
        m.weight.copy_(torch.tensor([[3.0, 1.0], [4.0, 1.0]]))
    r, s = torch.randn(1, 2, 3, 3), torch.randn(1, 2, 3, 3)
    y = m(r, s)
    torch.testing.assert_close(y[:, 0], (3 * r[:, 0] + 4 * s[:, 0]) / math.sqrt(25 + 1e-6))
    torch.testing.assert_close(y[:, 1], (r[:, 1] + s[:, 1]) / math.sqrt(2 + 1e-6))


def test_downsampling_block_shortcut_is_avgpool_plus_1x1():
    """At init a channel-changing stride-2 block outputs act(1x1 WN conv of the 2x2 average)."""
    torch.manual_seed(2)
    b = DownBlock(3, 4, 2, 0, WeightNorm(), "tprelu", post_activation=False)
    x = torch.randn(2, 3, 8, 8)
    conv = b.shortcut[-1]
    w = conv.weight / conv.weight.pow(2).sum((1, 2, 3), keepdim=True).add(1e-6).sqrt()
    ref = nn.functional.conv2d(nn.functional.avg_pool2d(x, 2), w) / math.sqrt(1 + 1e-6)
    torch.testing.assert_close(b(x), ref, rtol=1e-5, atol=1e-6)


@norm_params
def test_every_registered_norm_builds_and_trains(norm):
    check_norm("resnet_wn", 16, norm)
