"""Spectral normalization (Miyato et al. 2018) and strict SN, against independent references:
torch.nn.utils.parametrizations.spectral_norm, torch.linalg.svdvals, and the explicit
matrix of a convolution built by applying it to basis images."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.parametrizations import spectral_norm as torch_sn

from gannorm.errors import GannormError
from gannorm.nn import spectral_norm, strict_spectral_norm


def _explicit_matrix(layer_fn, in_shape):
    """Columns = layer(e_i) for every basis image e_i: the operator as a dense matrix."""
    n = int(torch.tensor(in_shape).prod())
    basis = torch.eye(n).view(n, *in_shape)
    with torch.no_grad():
        cols = layer_fn(basis).flatten(1)
    return cols.t()


def test_sn_equals_torch_in_eval_given_same_vectors():
    """Reference: torch's spectral_norm parametrization; with the same (u, v) and no update,
    both compute W / (u^T W v)."""
    ours = spectral_norm(nn.Conv2d(3, 5, 3))
    ref = torch_sn(nn.Conv2d(3, 5, 3))
    with torch.no_grad():
        ref.parametrizations.weight.original.copy_(ours.parametrizations.weight.original)
        ref.parametrizations.weight[0]._u.copy_(ours.parametrizations.weight[0]._u)
        ref.parametrizations.weight[0]._v.copy_(ours.parametrizations.weight[0]._v)
    ours.eval(), ref.eval()
    torch.testing.assert_close(ours.weight, ref.weight)


def test_sn_training_step_matches_torch_u_update():
    """Reference: torch's power step u <- normalize(W v) with v = normalize(W^T u_old) is
    Miyato's step from u_old; so our new u equals torch's new u, and our sigma equals
    u_new^T W v computed by hand."""
    ours = spectral_norm(nn.Linear(7, 4))
    ref = torch_sn(nn.Linear(7, 4))
    W = ours.parametrizations.weight.original.detach()
    p = ours.parametrizations.weight[0]
    u0 = F.normalize(torch.randn(4), dim=0)
    with torch.no_grad():
        p._u.copy_(u0)
        ref.parametrizations.weight.original.copy_(W)
        ref.parametrizations.weight[0]._v.copy_(F.normalize(W.t() @ u0, dim=0))
    w_ours = ours.weight  # training mode: one power step
    _ = ref.weight
    torch.testing.assert_close(p._u, ref.parametrizations.weight[0]._u)
    v = F.normalize(W.t() @ u0, dim=0)
    u1 = F.normalize(W @ v, dim=0)
    torch.testing.assert_close(w_ours, W / (u1 @ W @ v))


@pytest.mark.parametrize("make", [lambda: nn.Linear(20, 9), lambda: nn.Conv2d(4, 6, 3),
                                  lambda: nn.ConvTranspose2d(6, 4, 4, 2, 1)])
def test_sigma_converges_to_largest_singular_value(make):
    """Reference: torch.linalg.svdvals of the reshaped kernel (out x rest; dim 1 first for a
    transposed conv, as torch does)."""
    layer = spectral_norm(make(), n_power_iterations=1)
    W = layer.parametrizations.weight.original.detach()
    mat = W.movedim(1, 0).flatten(1) if isinstance(layer, nn.ConvTranspose2d) else W.flatten(1)
    for _ in range(200):
        w = layer.weight
    sigma = (W / w.detach()).flatten()[0]
    torch.testing.assert_close(sigma, torch.linalg.svdvals(mat)[0], rtol=1e-4, atol=0)
    assert torch.linalg.svdvals(w.detach().movedim(1, 0).flatten(1) if isinstance(layer, nn.ConvTranspose2d)
                                else w.detach().flatten(1))[0] == pytest.approx(1.0, rel=1e-4)


def test_u_not_updated_in_eval_and_updated_in_train():
    """Reference: the buffer's own previous value (eval must leave it bit-identical)."""
    layer = spectral_norm(nn.Conv2d(3, 8, 3))
    p = layer.parametrizations.weight[0]
    x = torch.randn(2, 3, 6, 6)
    layer.eval()
    before = p._u.clone()
    layer(x)
    assert torch.equal(p._u, before)
    layer.train()
    with torch.no_grad():
        p._u.copy_(F.normalize(torch.randn(8), dim=0))  # far from converged
    before = p._u.clone()
    layer(x)
    assert not torch.equal(p._u, before)


def test_u_saved_and_restored_via_state_dict():
    """Reference: the saved tensors themselves; a fresh layer loading them gives the same
    eval output as the original."""
    a = spectral_norm(nn.Conv2d(3, 8, 3))
    for _ in range(3):
        a(torch.randn(2, 3, 6, 6))
    sd = a.state_dict()
    assert "parametrizations.weight.0._u" in sd and "parametrizations.weight.0._v" in sd
    b = spectral_norm(nn.Conv2d(3, 8, 3))
    b.load_state_dict(sd)
    assert torch.equal(b.parametrizations.weight[0]._u, a.parametrizations.weight[0]._u)
    a.eval(), b.eval()
    x = torch.randn(2, 3, 6, 6)
    torch.testing.assert_close(a(x), b(x))


@pytest.mark.parametrize("spec", [
    ("conv", dict(in_channels=2, out_channels=3, kernel_size=3, stride=1, padding=1), (2, 6, 6)),
    ("conv", dict(in_channels=2, out_channels=3, kernel_size=4, stride=2, padding=1), (2, 8, 8)),
    ("convt", dict(in_channels=3, out_channels=2, kernel_size=4, stride=2, padding=1), (3, 4, 4)),
])
def test_strict_sn_converges_to_operator_norm(spec):
    """Reference: largest singular value (torch.linalg.svdvals) of the conv's explicit matrix,
    built by applying the conv (stride and padding included) to every basis image."""
    kind, kw, in_shape = spec
    layer = (nn.Conv2d if kind == "conv" else nn.ConvTranspose2d)(**kw)
    W = layer.weight.detach().clone()
    fn = (lambda x: F.conv2d(x, W, None, kw["stride"], kw["padding"])) if kind == "conv" else \
        (lambda x: F.conv_transpose2d(x, W, None, kw["stride"], kw["padding"]))
    op_norm = torch.linalg.svdvals(_explicit_matrix(fn, in_shape))[0]
    strict_spectral_norm(layer, input_shape=in_shape[1:])
    for _ in range(300):
        w = layer.weight
    sigma = (W / w.detach()).flatten()[0]
    torch.testing.assert_close(sigma, op_norm, rtol=1e-3, atol=0)
    # the reshaped-kernel sigma differs, so this is not plain SN in disguise
    mat = W.flatten(1) if kind == "conv" else W.movedim(1, 0).flatten(1)
    assert abs(float(torch.linalg.svdvals(mat)[0]) - float(op_norm)) > 1e-2


def test_strict_sn_learns_shape_at_first_forward_and_reloads():
    """Reference: the input size of the first forward (the vector's shape), and a fresh layer
    loading the state dict reproduces the eval output."""
    a = strict_spectral_norm(nn.Conv2d(2, 4, 4, 2, 1))
    a(torch.randn(3, 2, 10, 10))
    assert tuple(a.parametrizations.weight[0]._v.shape) == (1, 2, 10, 10)
    b = strict_spectral_norm(nn.Conv2d(2, 4, 4, 2, 1))
    b.load_state_dict(a.state_dict())
    a.eval(), b.eval()
    x = torch.randn(1, 2, 10, 10)
    torch.testing.assert_close(a(x), b(x))


def test_strict_sn_on_linear_is_plain_sn():
    """Reference: torch.linalg.svdvals (a linear map's operator norm is its matrix's)."""
    layer = strict_spectral_norm(nn.Linear(6, 5))
    for _ in range(100):
        w = layer.weight
    assert torch.linalg.svdvals(w.detach())[0] == pytest.approx(1.0, rel=1e-4)


def test_bad_input_names_the_layer():
    """Reference: the layer's repr must appear in the one-line GannormError."""
    with pytest.raises(GannormError, match="ReLU"):
        spectral_norm(nn.ReLU())
    with pytest.raises(GannormError, match="BatchNorm2d"):
        spectral_norm(nn.BatchNorm2d(3))
    with pytest.raises(GannormError, match="padding_mode"):
        strict_spectral_norm(nn.Conv2d(2, 2, 3, padding=1, padding_mode="reflect"))
    with pytest.raises(GannormError, match="n_power_iterations"):
        spectral_norm(nn.Linear(2, 2), n_power_iterations=0)
    layer = strict_spectral_norm(nn.Conv2d(2, 2, 3))
    with pytest.raises(GannormError, match="input size"):
        layer.weight


def test_strict_sn_moves_with_the_module():
    """Reference: torch's dtype conversion; the vectors follow .double() like any buffer
    (a method named _apply once shadowed nn.Module._apply and broke .to())."""
    layer = strict_spectral_norm(nn.ConvTranspose2d(3, 2, 4, 2, 1), input_shape=(4, 4)).double()
    assert layer.parametrizations.weight[0]._v.dtype == torch.float64
    assert layer(torch.randn(1, 3, 4, 4, dtype=torch.float64)).dtype == torch.float64


@pytest.mark.parametrize("make, size", [(lambda: nn.Conv2d(2, 2, 5), (3, 3)),
                                        (lambda: nn.Conv2d(2, 2, 3, stride=2, dilation=2), (4, 9)),
                                        (lambda: nn.ConvTranspose2d(2, 2, 1, padding=1), (1, 2))])
def test_strict_sn_refuses_an_input_size_the_layer_cannot_take(make, size):
    """Reference: the layer itself fails on an input of that size."""
    with pytest.raises(RuntimeError):
        make()(torch.zeros(1, 2, *size))
    with pytest.raises(GannormError, match=r"^strict_spectral_norm: input size .* does not fit layer"):
        strict_spectral_norm(make(), input_shape=size)


@pytest.mark.parametrize("make", [lambda: nn.Conv2d(2, 3, 3, stride=2, dilation=2, padding=1),
                                  lambda: nn.ConvTranspose2d(2, 3, 4, 2, 1, output_padding=1)])
def test_strict_sn_output_size_is_the_layers(make):
    layer = make()
    p = strict_spectral_norm(make(), input_shape=(7, 8)).parametrizations.weight[0]
    assert p._output_size((7, 8), layer.weight.shape[2:]) == tuple(layer(torch.zeros(1, 2, 7, 8)).shape[2:])


def test_strict_sn_does_not_relabel_other_errors(monkeypatch):
    """Only a size the layer cannot take is a user error; anything else the conv raises (out of
    memory, a device or dtype mismatch) reaches the caller as it is."""
    from gannorm.nn import spectral as mod

    def broken(*a, **k):
        raise RuntimeError("not a size problem")
    monkeypatch.setattr(mod, "_conv_fns", lambda nd: (broken, broken))
    with pytest.raises(RuntimeError, match="not a size problem"):
        strict_spectral_norm(nn.Conv2d(2, 2, 3), input_shape=(6, 6))
