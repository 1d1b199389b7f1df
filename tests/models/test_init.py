"""model.args.init of the SNGAN models: the weights' distribution against scipy's
(truncated) normal by a Kolmogorov-Smirnov test, the bsn scheme's per-layer choice (Lin et
al. 2021's gan/op.py: conv truncated, deconv and dense plain normal), biases 0, the power
vectors re-converged on the new weights, and clear errors."""
import numpy as np
import pytest
import torch
import torch.nn as nn
from scipy import stats

from gannorm import config, plugins  # noqa: F401  (fills the registries)
from gannorm.errors import GannormError
from gannorm.models.build import build_models
from gannorm.models.init import plain_type


def _build(*over):
    cfg = config.load(None, ["model.name=sngan_cnn", "base_features=8", "z_dim=16", *over])
    torch.manual_seed(0)
    return build_models(cfg.model, 32, 3)


def _weights(net, kinds):
    out = []
    for m in net.modules():
        if plain_type(m) in kinds:
            w = m.parametrizations.weight.original if hasattr(m, "parametrizations") else m.weight
            out.append(w.detach().flatten())
    return torch.cat(out).double().numpy()


def test_truncated_normal_distribution():
    G, D = _build("model.args.init=truncated_normal", "g_norm=batch", "d_norm=spectral")
    w = np.concatenate([_weights(G, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)),
                        _weights(D, (nn.Linear, nn.Conv2d))])
    assert len(w) > 20000
    assert np.abs(w).max() <= 0.04 + 1e-9  # cut at 2 std
    ref = stats.truncnorm(-2, 2, loc=0, scale=0.02)
    assert stats.kstest(w, ref.cdf).pvalue > 1e-3
    # and it is not the untruncated normal
    assert stats.kstest(w, stats.norm(0, 0.02).cdf).pvalue < 1e-6
    np.testing.assert_allclose(w.std(), ref.std(), rtol=0.03)


def test_bsn_scheme_per_layer_kind_and_std():
    G, D = _build("model.args.init=bsn", "model.args.init_std=0.05", "g_norm=batch", "d_norm=bssn")
    conv = np.concatenate([_weights(G, (nn.Conv2d,)), _weights(D, (nn.Conv2d,))])
    plain = np.concatenate([_weights(G, (nn.ConvTranspose2d, nn.Linear)), _weights(D, (nn.Linear,))])
    assert stats.kstest(conv, stats.truncnorm(-2, 2, scale=0.05).cdf).pvalue > 1e-3
    assert stats.kstest(plain, stats.norm(0, 0.05).cdf).pvalue > 1e-3
    assert np.abs(plain).max() > 0.1  # beyond 2 std: really not truncated
    for net in (G, D):
        for m in net.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)) and m.bias is not None:
                assert torch.count_nonzero(m.bias) == 0


def test_power_vectors_reconverged_on_new_weights():
    """sigma from the stored vectors equals the largest singular value of the new weights."""
    _, D = _build("model.args.init=truncated_normal", "g_norm=batch", "d_norm=spectral")
    D.eval()
    for m in D.modules():
        if hasattr(m, "parametrizations"):
            p = m.parametrizations.weight[0]
            W = m.parametrizations.weight.original.detach()
            mat = W.flatten(1)
            ref = torch.linalg.svdvals(mat)[0]
            # 15 warm-up steps, as at construction: within a few percent of the top singular value
            torch.testing.assert_close(p.sigma(W), ref, rtol=5e-2, atol=0)


def test_default_is_torch_and_unchanged():
    a, _ = _build("g_norm=batch", "d_norm=spectral")
    b, _ = _build("g_norm=batch", "d_norm=spectral", "model.args.init=torch")
    for (n, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(x, y), n
    assert np.abs(_weights(a, (nn.Linear,))).max() < 0.3  # Kaiming-uniform bound 1/sqrt(fan_in)


def test_bad_init():
    with pytest.raises(GannormError, match="init must be one of torch, normal, truncated_normal, bsn"):
        _build("model.args.init=xavier")
    with pytest.raises(GannormError, match="init_std must be a number > 0"):
        _build("model.args.init=normal", "model.args.init_std=0")
    with pytest.raises(GannormError, match="plain, spectral and bssn layers"):
        _build("model.args.init=normal", "g_norm=weight")
