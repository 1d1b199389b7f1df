"""The reconstruction error (Xiang & Li 2017) against references that do not use our code."""
import numpy as np
import pytest
import torch
import torch.nn as nn

from gannorm.errors import GannormError
from gannorm.metrics import reconstruction_error
from gannorm.models.dcgan import DCGANGenerator


pytestmark = pytest.mark.usefixtures("one_thread")


class LinearG(nn.Module):
    """G(z) = A z + b, reshaped to (C,H,W): the optimal z is a least-squares solution."""

    output_range = (0.0, 1.0)

    def __init__(self, A, b, shape):
        super().__init__()
        self.A, self.b = nn.Parameter(A.clone()), nn.Parameter(b.clone())
        self.shape, self.z_dim = shape, A.shape[1]

    def forward(self, z):
        return (z @ self.A.T + self.b).view(len(z), *self.shape)


def _linear_problem(n=6, z_dim=8, shape=(1, 8, 8), noise=0.05, seed=0):
    g = torch.Generator().manual_seed(seed)
    d = int(np.prod(shape))
    A = torch.randn(d, z_dim, generator=g) * 0.05
    b = torch.full((d,), 0.5)
    z_true = torch.randn(n, z_dim, generator=g)
    x = (z_true @ A.T + b + noise * torch.randn(n, d, generator=g)).clamp(0, 1)
    return LinearG(A, b, shape), A, b, x.view(n, *shape), z_true


def _lstsq_reference(A, b, x):
    """Closed-form optimum: z* = argmin ||A z + b - x||^2 (numpy lstsq, float64)."""
    A64, b64 = A.double().numpy(), b.double().numpy()
    X = x.flatten(1).double().numpy()
    z_star = np.linalg.lstsq(A64, (X - b64).T, rcond=None)[0].T
    r_star = ((z_star @ A64.T + b64 - X) ** 2).mean(1)
    return z_star, r_star


def test_linear_generator_converges_to_least_squares_optimum():
    """Reference: numpy lstsq gives the exact minimiser of ||Az+b-x||^2 over z."""
    G, A, b, x, _ = _linear_problem()
    z_star, r_star = _lstsq_reference(A, b, x)
    res = reconstruction_error(G, x, steps=800, lr=0.01)
    np.testing.assert_allclose(res.per_image.numpy(), r_star, rtol=1e-2, atol=1e-6)
    np.testing.assert_allclose(res.z.numpy(), z_star, atol=0.05)
    # the curve starts at G(0) = b, whose error is plain arithmetic
    r0 = ((b.double().numpy() - x.flatten(1).double().numpy()) ** 2).mean(1).mean()
    assert res.curve[0] == pytest.approx(r0, rel=1e-5)
    assert res.curve[-1] == pytest.approx(res.mean, rel=1e-6)
    assert len(res.curve) == 801


def test_generator_containing_the_image_reconstructs_it():
    """Reference: x = A z_true + b exactly, so min_z error is 0 (lstsq residual 0)."""
    G, A, b, _, z_true = _linear_problem(noise=0.0)
    x = G(0.5 * z_true).detach()
    assert x.min() >= 0 and x.max() <= 1
    res = reconstruction_error(G, x, steps=800, lr=0.01)
    assert res.mean < 1e-5 and res.mean < 1e-3 * res.curve[0]


def test_dcgan_containing_the_image_drives_error_towards_zero():
    """Reference: x = G(z_true) for a fixed random DCGAN, so the minimum over z is exactly 0."""
    torch.manual_seed(1)
    G = DCGANGenerator(16, 1, z_dim=16, base_features=8).eval()
    z_true = 0.5 * torch.randn(8, 16)
    with torch.no_grad():
        x = G(z_true)
    res = reconstruction_error(G, x, steps=400, lr=0.01)
    assert res.mean < 0.01 * res.curve[0]
    assert (res.per_image < 0.05 * res.curve[0]).all()


def _authors_test(G, x, steps, batch=32, lr=0.01):
    """The authors' test() (stormraiser/GAN-weight-norm, pytorch/main.py), transcribed:
    batches of 32 one after another, z from 0, RMSProp(lr, eps 1e-6, alpha 0.9) on nn.MSELoss."""
    G.eval()
    for p in G.parameters():
        p.requires_grad = False
    errs, zs = [], []
    for i in range(0, len(x), batch):
        target = x[i:i + batch]
        code = torch.zeros(len(target), G.z_dim, requires_grad=True)
        opt = torch.optim.RMSprop([code], lr=lr, eps=1e-6, alpha=0.9)
        for _ in range(steps):
            loss = nn.MSELoss()(G(code), target)
            loss.backward()
            opt.step()
            code.grad.data.zero_()
        with torch.no_grad():
            errs.append(((G(code) - target) ** 2).flatten(1).mean(1))
        zs.append(code.detach())
    return torch.cat(errs), torch.cat(zs)


def test_default_protocol_matches_the_authors_code():
    """Reference: a transcription of the authors' test() loop (two full batches of 32)."""
    torch.manual_seed(2)
    G = DCGANGenerator(16, 1, z_dim=32, base_features=8)
    x = torch.rand(64, 1, 16, 16)
    ref_err, ref_z = _authors_test(G, x, steps=30)
    res = reconstruction_error(G, x, steps=30, chunk_size=64)
    np.testing.assert_allclose(res.per_image.numpy(), ref_err.numpy(), rtol=1e-4)
    np.testing.assert_allclose(res.z.numpy(), ref_z.numpy(), atol=1e-4)


def test_result_does_not_depend_on_chunk_size():
    """Reference: each image optimised alone (chunk 1) is the definition; 7 and all must agree."""
    torch.manual_seed(3)
    G = DCGANGenerator(16, 3, z_dim=16, base_features=8)
    x = (torch.rand(15, 3, 16, 16) * 255).to(torch.uint8)
    runs = {c: reconstruction_error(G, x, steps=25, chunk_size=c) for c in (1, 7, None)}
    assert runs[None].chunk_size == 15  # automatic: the whole set fits in memory
    for c in (7, None):
        np.testing.assert_allclose(runs[c].per_image.numpy(), runs[1].per_image.numpy(), rtol=1e-4, atol=1e-7)
        np.testing.assert_allclose(runs[c].z.numpy(), runs[1].z.numpy(), atol=1e-4)
        np.testing.assert_allclose(runs[c].curve, runs[1].curve, rtol=1e-4)


def test_restarts_never_worse_and_errors_match_returned_z():
    """Reference: the per-image error recomputed by hand from the returned z and G."""
    torch.manual_seed(4)
    G = DCGANGenerator(16, 1, z_dim=16, base_features=8)
    x = torch.rand(12, 1, 16, 16)
    plain = reconstruction_error(G, x, steps=20)
    multi = reconstruction_error(G, x, steps=20, restarts=3, seed=5)
    assert (multi.per_image <= plain.per_image + 1e-7).all()
    assert (multi.per_image < plain.per_image - 1e-6).any()  # a random start does help some
    with torch.no_grad():
        by_hand = ((G.eval()(multi.z) - x) ** 2).mean(dim=(1, 2, 3))
    np.testing.assert_allclose(multi.per_image.numpy(), by_hand.numpy(), rtol=1e-4)
    assert multi.curve == pytest.approx(plain.curve, rel=1e-6)  # the curve is the z = 0 start's


def test_error_is_on_the_unit_scale_whatever_the_output_range():
    """Reference: a tanh-range G' = 2G - 1 with output_range (-1,1) is the same model as G on
    [0,1]; the paper's error (pixels in [0,1]) must be identical, not 4x larger."""
    torch.manual_seed(5)
    G = DCGANGenerator(16, 1, z_dim=16, base_features=8)

    class Tanhish(nn.Module):
        output_range = (-1.0, 1.0)
        z_dim = 16

        def __init__(self, g):
            super().__init__()
            self.g = g

        def forward(self, z):
            return self.g(z) * 2 - 1

    x = torch.rand(6, 1, 16, 16)
    a = reconstruction_error(G, x, steps=15)
    b = reconstruction_error(Tanhish(G), x, steps=15)
    np.testing.assert_allclose(b.per_image.numpy(), a.per_image.numpy(), rtol=1e-4)


def test_clamp_keeps_z_in_the_box():
    """Reference: the box constraint itself, |z_i| <= clamp."""
    G, A, b, x, _ = _linear_problem()
    res = reconstruction_error(G, x, steps=300, lr=0.05, clamp=0.3)
    assert res.z.abs().max() <= 0.3 + 1e-7
    assert (res.z.abs() > 0.299).any()  # the unconstrained optimum lies outside the box


def test_generator_state_is_restored():
    """Reference: G's own flags before the call (train mode, trainable weights)."""
    G = DCGANGenerator(16, 1, z_dim=16, base_features=8).train()
    reconstruction_error(G, torch.rand(2, 1, 16, 16), steps=2)
    assert G.training and all(p.requires_grad for p in G.parameters())


@pytest.mark.parametrize("images, steps, match", [
    (torch.rand(4, 3, 16, 16), 5, "1x16x16"),  # wrong channels
    (torch.rand(4, 1, 32, 32), 5, "resize"),  # wrong size
    (torch.rand(4, 1, 16, 16) * 2 - 1, 5, r"\(x \+ 1\) / 2"),  # [-1,1] images
    (torch.rand(4, 1, 16, 16) * 255, 5, r"\[0,1\]"),  # 0..255 floats
    (torch.full((2, 1, 16, 16), float("nan")), 5, "NaN"),
    (torch.rand(0, 1, 16, 16), 5, "empty"),
    (torch.rand(1, 16, 16), 5, r"\(N,C,H,W\)"),
    (torch.rand(4, 1, 16, 16), 0, "steps"),
    (torch.rand(4, 1, 16, 16), -3, "steps"),
])
def test_bad_input_is_a_one_line_user_error(images, steps, match):
    """Reference: the shape G makes (1x16x16) and the [0,1] scale of the paper."""
    G = DCGANGenerator(16, 1, z_dim=16, base_features=8)
    with pytest.raises(GannormError, match=match) as e:
        reconstruction_error(G, images, steps=steps)
    assert "\n" not in str(e.value)


def _conditional_g(n_classes=3):
    from gannorm.tricks.conditional import ConditionalG

    torch.manual_seed(0)
    return ConditionalG(DCGANGenerator(16, 1, z_dim=8, base_features=8), n_classes, mode="concat").eval()


def test_conditional_score_does_not_depend_on_the_chunk_size():
    """Reference: the score's definition - each image's own min_z problem, which must not change
    with how the images are grouped; a chunk-local label rule (arange(chunk) % K) broke that."""
    g = _conditional_g()
    x = torch.from_numpy(np.random.RandomState(0).randint(0, 256, (10, 1, 16, 16), dtype=np.uint8))
    a = reconstruction_error(g, x, steps=3, chunk_size=3)
    b = reconstruction_error(g, x, steps=3, chunk_size=7)
    torch.testing.assert_close(a.per_image, b.per_image, rtol=1e-5, atol=1e-7)
    assert torch.equal(a.labels, torch.arange(10) % 3)  # the chunk-independent default: index mod K


def test_conditional_score_uses_the_given_labels():
    """Reference: each image reconstructed alone (chunk 1) as its own class; the labels must
    reach G (other labels give another score)."""
    g = _conditional_g()
    x = torch.from_numpy(np.random.RandomState(1).randint(0, 256, (6, 1, 16, 16), dtype=np.uint8))
    y = torch.tensor([2, 2, 0, 1, 0, 2])
    together = reconstruction_error(g, x, steps=3, chunk_size=4, labels=y)
    alone = torch.cat([reconstruction_error(g, x[i:i + 1], steps=3, labels=y[i:i + 1]).per_image for i in range(6)])
    torch.testing.assert_close(together.per_image, alone, rtol=1e-5, atol=1e-7)
    other = reconstruction_error(g, x, steps=3, labels=(y + 1) % 3)
    assert not torch.allclose(other.per_image, together.per_image)
    with pytest.raises(GannormError, match="classes in 0..2"):
        reconstruction_error(g, x, steps=1, labels=y + 5)
