"""SNGAN networks. Reference: the layer table of Miyato et al. 2018 (Table 3),
written out literally below, and Table 4's CIFAR ResNet map sizes (32 -> 16 -> 8 -> 8 -> 8)."""
import pytest
import torch
import torch.nn as nn
from norm_matrix import check_norm, norm_params

from gannorm.config import ModelConfig
from gannorm.errors import GannormError
from gannorm.models import build_models

# Miyato et al. 2018, Table 3: D convs (kernel, stride, out channels), then dense 1; LeakyReLU 0.1
SPEC_D = [(3, 1, 64), (4, 2, 64), (3, 1, 128), (4, 2, 128), (3, 1, 256), (4, 2, 256), (3, 1, 512)]
# G: dense -> 4x4x512, deconv 4x4 s2 (BN, ReLU) 256/128/64, conv 3x3 -> 3, tanh
SPEC_G_DECONV = [(512, 256), (256, 128), (128, 64)]


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    yield


def build(name, size=32, bf=64, g_norm="batch", d_norm="none", activation="auto", **args):
    cfg = ModelConfig(name=name, z_dim=128, base_features=bf, g_norm=g_norm, d_norm=d_norm,
                      activation=activation, args=args)
    return build_models(cfg, size, 3)


def test_standard_cnn_matches_the_papers_table():
    g, d = build("sngan_cnn")
    convs = [m for m in d.modules() if isinstance(m, nn.Conv2d)]
    assert [(m.kernel_size[0], m.stride[0], m.out_channels) for m in convs] == SPEC_D
    (head,) = [m for m in d.modules() if isinstance(m, nn.Linear)]
    assert (head.in_features, head.out_features) == (512 * 4 * 4, 1)
    acts = [m for m in d.modules() if isinstance(m, nn.LeakyReLU)]
    assert len(acts) == 7 and all(a.negative_slope == 0.1 for a in acts)
    (fc,) = [m for m in g.modules() if isinstance(m, nn.Linear)]
    assert (fc.in_features, fc.out_features) == (128, 4 * 4 * 512)
    deconvs = [m for m in g.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [(m.in_channels, m.out_channels) for m in deconvs] == SPEC_G_DECONV
    assert all(m.kernel_size == (4, 4) and m.stride == (2, 2) for m in deconvs)
    last = [m for m in g.modules() if isinstance(m, nn.Conv2d)]
    assert [(m.kernel_size, m.out_channels) for m in last] == [((3, 3), 3)]
    assert sum(isinstance(m, nn.BatchNorm2d) for m in g.modules()) == 4  # after dense + 3 deconvs
    assert sum(isinstance(m, nn.ReLU) for m in g.modules()) == 4 and isinstance(list(g.modules())[-1], nn.Tanh)
    x = g(torch.randn(2, 128))
    assert x.shape == (2, 3, 32, 32) and g.output_range == (-1.0, 1.0) and x.abs().max() < 1
    out, h = d(x, return_features=True)
    assert out.shape == (2,) and h.shape == (2, 512, 4, 4)


def test_resnet_32_layout():
    """CIFAR ResNet (base_features 128): G 4x4x256 -> 3 up blocks -> 32x32; D maps 32->16->8->8->8."""
    g, d = build("sngan_resnet", bf=128, d_norm="spectral")
    assert g.init_shape == (256, 4, 4) and len(g.blocks) == 3
    sizes = []
    h = torch.randn(2, 3, 32, 32)
    for blk in d.features:
        h = blk(h)
        sizes.append((h.shape[1], h.shape[2]))
    assert sizes == [(128, 16), (128, 8), (128, 8), (128, 8)]
    x = g(torch.randn(2, 128))
    assert x.shape == (2, 3, 32, 32) and d(x).shape == (2,)


def test_resnet_64_layout():
    """64x64 ResNet: G 4x4x16bf -> 8bf, 4bf, 2bf, bf at 64x64; D ends at 4x4x16bf."""
    g, d = build("sngan_resnet", size=64, bf=4)
    assert g.init_shape == (64, 4, 4) and len(g.blocks) == 4
    x = g(torch.randn(2, 128))
    out, h = d(x, return_features=True)
    assert x.shape == (2, 3, 64, 64) and out.shape == (2,) and h.shape == (2, 64, 4, 4)


def test_activation_auto_is_the_papers():
    """auto = the paper's activations (ReLU in both ResNets), whatever the norm pairs with in
    Xiang & Li's nets; an explicit model.activation replaces them in G and D."""
    g, d = build("sngan_resnet", bf=4, g_norm="weight", d_norm="weight")
    assert not any(type(m).__name__ in ("TPReLU", "PReLU") for m in list(g.modules()) + list(d.modules()))
    g, d = build("sngan_cnn", bf=4, activation="lrelu")
    assert all(a.negative_slope == 0.2 for a in d.modules() if isinstance(a, nn.LeakyReLU))


@pytest.mark.parametrize("name,size,args,match", [
    ("sngan_cnn", 30, {}, "divisible by 8"),
    ("sngan_resnet", 72, {}, "divisible by 16"),
    ("sngan_cnn", 32, {"depth": 3}, "has no option .depth."),
    ("sngan_resnet", 64, {"g_channels": 40}, "multiple of 16"),
])
def test_bad_settings_are_clear_errors(name, size, args, match):
    with pytest.raises(GannormError, match=match):
        build(name, size=size, bf=2, **args)
    if name == "sngan_cnn" and not args:
        with pytest.raises(GannormError, match="n_layers"):
            cfg = ModelConfig(name=name, base_features=2, n_layers=4)
            build_models(cfg, 32, 3)


@norm_params
@pytest.mark.parametrize("model", ["sngan_cnn", "sngan_resnet"])
def test_every_registered_norm_builds_and_trains(model, norm):
    check_norm(model, 16, norm)


def test_spectral_norm_in_d_bounds_each_layer():
    """With d_norm spectral every weight layer of the CNN's D has largest singular value ~1
    (reshaped kernel, torch.linalg.matrix_norm(ord=2) as reference) after power iterations."""
    torch.manual_seed(0)
    _, d = build("sngan_cnn", size=16, bf=4, d_norm="spectral")
    x = torch.randn(4, 3, 16, 16)
    for _ in range(30):  # each forward in training mode runs one power iteration per layer
        d(x)
    d.eval()
    layers = [m for m in d.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert len(layers) == 8
    for m in layers:
        w = m.weight.detach().reshape(m.weight.shape[0], -1)
        assert abs(torch.linalg.matrix_norm(w, ord=2).item() - 1.0) < 0.05
