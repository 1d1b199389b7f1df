"""Layer, instance, group and virtual batch norm against independent references: a VBN
case computed by hand from Salimans et al.'s mixing formula, torch.nn.functional's
layer_norm / instance_norm / group_norm, and per-example independence."""
import copy
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from gannorm.errors import GannormError
from gannorm.nn import VirtualBatchNorm, build_norm, set_reference


def test_vbn_hand_computed_case():
    """Reference: by hand. Reference batch (N=2, 1 channel, 1x2 px) [1, 3] and [5, 7]:
    mu_R = 4, E_R[x^2] = 21. Example [2, 4]: mu_x = 3, E_x[x^2] = 10.
    mu = 3/3 + 2*4/3 = 11/3, E[x^2] = 10/3 + 2*21/3 = 52/3, var = 52/3 - 121/9 = 35/9."""
    net = nn.Sequential(VirtualBatchNorm(1))
    set_reference(net, torch.tensor([[[[1.0, 3.0]]], [[[5.0, 7.0]]]]))
    y = net(torch.tensor([[[[2.0, 4.0]]]]))
    std = math.sqrt(1e-5 + 35 / 9)
    expected = torch.tensor([[[[(2 - 11 / 3) / std, (4 - 11 / 3) / std]]]])
    torch.testing.assert_close(y, expected)


def test_vbn_examples_independent_and_affine_applied():
    """Reference: each example alone (VBN must not mix examples) and gamma*y + beta."""
    layer = VirtualBatchNorm(3)
    net = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), layer)
    set_reference(net, torch.randn(5, 2, 4, 4))
    x = torch.randn(4, 2, 4, 4)
    both = net(x)
    torch.testing.assert_close(both[1:2], net(x[1:2]))
    with torch.no_grad():
        layer.weight.fill_(2.0), layer.bias.fill_(0.5)
    torch.testing.assert_close(net(x), 2.0 * both + 0.5)


def test_vbn_reference_saved_restored_and_survives_deepcopy():
    """Reference: the original network's outputs (a fresh DCGAN G loading the state dict,
    and a deepcopy as EMA makes, must reproduce them)."""
    from gannorm.config import ModelConfig
    from gannorm.models.build import build_models

    cfg = ModelConfig(z_dim=8, base_features=4, g_norm="virtual_batch", d_norm="virtual_batch")
    g, _ = build_models(cfg, 16, 1)
    set_reference(g, torch.randn(6, 8))
    z = torch.randn(3, 8)
    out = g(z)
    assert out.shape == (3, 1, 16, 16)
    g2, _ = build_models(cfg, 16, 1)
    g2.load_state_dict(g.state_dict())
    set_reference(g2)
    torch.testing.assert_close(g2(z), out)
    g3 = copy.deepcopy(g)
    torch.testing.assert_close(g3(z), out)


def test_vbn_errors():
    """Reference: the message tells the fix."""
    net = nn.Sequential(VirtualBatchNorm(2))
    with pytest.raises(GannormError, match="set_reference"):
        net(torch.randn(2, 2, 3, 3))
    with pytest.raises(GannormError, match="no virtual batch norm"):
        set_reference(nn.Sequential(nn.ReLU()), torch.randn(2, 2))
    with pytest.raises(GannormError, match="reference_size"):
        build_norm("virtual_batch", {"reference_size": 0})


def test_layer_instance_group_match_torch_functional():
    """Reference: F.layer_norm over (C, H, W), F.instance_norm, F.group_norm (gamma 1, beta 0)."""
    x = torch.randn(3, 8, 5, 5)
    torch.testing.assert_close(build_norm("layer").norm_layer(8)(x), F.layer_norm(x, x.shape[1:]),
                               rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(build_norm("instance").norm_layer(8)(x), F.instance_norm(x),
                               rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(build_norm("group", {"num_groups": 4}).norm_layer(8)(x), F.group_norm(x, 4),
                               rtol=1e-4, atol=1e-5)


def test_group_defaults_and_errors():
    """Reference: Wu & He's 32 groups, else the largest divisor of C below 32."""
    assert build_norm("group").norm_layer(64).num_groups == 32
    assert build_norm("group").norm_layer(24).num_groups == 24
    assert build_norm("group").norm_layer(40).num_groups == 20
    with pytest.raises(GannormError, match="does not divide the 12 channels"):
        build_norm("group", {"num_groups": 5}).norm_layer(12)
    with pytest.raises(GannormError, match="num_groups"):
        build_norm("group", {"num_groups": 0})
