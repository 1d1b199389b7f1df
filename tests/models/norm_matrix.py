"""Shared check: a normalization of the NORMS registry builds and trains in an architecture.

Not a test module itself; imported by tests/models/test_resnet_wn.py and test_sngan.py.
"""
import numpy as np
import pytest
import torch

from gannorm import plugins  # noqa: F401  (fills the registries)
from gannorm.config import ModelConfig
from gannorm.data import reference_images
from gannorm.errors import GannormError
from gannorm.models import build_models
from gannorm.nn.prepare import prepare_norms
from gannorm.registry import NORMS

ALL_NORMS = NORMS.names()  # read when the tests are collected, so new norms are included


def _pair(model, size, g_norm, d_norm, **args):
    cfg = ModelConfig(name=model, z_dim=4, base_features=2, g_norm=g_norm, d_norm=d_norm, args=args)
    g, d = build_models(cfg, size, 3)
    imgs = np.random.RandomState(0).randint(0, 256, (8, 3, size, size)).astype(np.uint8)
    prepare_norms(g, d, reference_images(imgs, np.arange(8), g.output_range))  # VBN references, strict-SN sizes
    return g, d


def _grads_ok(net):
    grads = [p.grad for p in net.parameters() if p.requires_grad and p.grad is not None]
    return bool(grads) and all(torch.isfinite(gr).all() for gr in grads) and any(gr.abs().sum() > 0 for gr in grads)


def check_norm(model, size, norm, **args):
    """D with ``norm`` runs forward/backward with finite, non-zero gradients; G with ``norm``
    does too, or refuses with a GannormError that points to model.d_norm (D-only norms)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # these tiny nets run several times faster on one thread
    try:
        _check_norm(model, size, norm, **args)
    finally:
        torch.set_num_threads(threads)


def _check_norm(model, size, norm, **args):
    torch.manual_seed(0)
    g, d = _pair(model, size, "none", norm, **args)
    out = d(g(torch.randn(3, 4)).detach())
    assert out.shape == (3,) and torch.isfinite(out).all()
    out.sum().backward()
    assert _grads_ok(d), f"{norm}: D gradients missing or not finite"
    try:
        g, d = _pair(model, size, norm, "none", **args)
    except GannormError as e:
        assert "d_norm" in str(e), f"{norm} refused in G without saying where it belongs: {e}"
        return
    x = g(torch.randn(3, 4))
    lo, hi = g.output_range
    assert x.shape == (3, 3, size, size) and bool(((x >= lo) & (x <= hi)).all())
    d(x).sum().backward()
    assert _grads_ok(g), f"{norm}: G gradients missing or not finite"


norm_params = pytest.mark.parametrize("norm", ALL_NORMS)


