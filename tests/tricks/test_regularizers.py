"""LeCam (Tseng 2021), bCR/zCR (Zhao 2021), R2 and lazy R1/R2 (Mescheder 2018; Karras 2020)
against references written from the papers' formulas (and, for LeCam, the behaviour of the
authors' code: anchors start at 1000, take the batch before the penalty, decay 0 before start)."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import gannorm.plugins  # noqa: F401
from gannorm import config
from gannorm.errors import GannormError
from gannorm.registry import TRICKS


def ctx_of(**kw):
    base = dict(logs={}, iteration=0, y=None, z=None, generated=None)
    base.update(kw)
    return SimpleNamespace(**base)


def test_lecam_equals_reference_over_a_sequence():
    rng = np.random.default_rng(0)
    trick = TRICKS.build("lecam", weight=0.3, decay=0.9, start_iter=3)
    a_r = a_f = 1000.0
    worst = 0.0
    for it in range(12):
        dr, df = rng.normal(1, 2, 16), rng.normal(-1, 2, 16)
        d = 0.0 if it < 3 else 0.9
        a_r, a_f = a_r * d + dr.mean() * (1 - d), a_f * d + df.mean() * (1 - d)
        ref = 0.3 * (np.mean(np.maximum(dr - a_f, 0) ** 2) + np.mean(np.maximum(a_r - df, 0) ** 2))
        got = trick.d_penalty(ctx_of(d_real=torch.tensor(dr, dtype=torch.float32),
                                     d_fake=torch.tensor(df, dtype=torch.float32), iteration=it))
        worst = max(worst, abs(float(got) - ref) / max(1.0, abs(ref)))
    assert worst < 1e-5
    assert float(trick.anchors[0]) == pytest.approx(a_r, rel=1e-6)  # float32 logits


def quadratic(x):  # D(x) = 0.5 ||x||^2, grad = x
    return 0.5 * x.flatten(1).pow(2).sum(1)


@pytest.mark.parametrize("which", ["r1", "r2"])
@pytest.mark.parametrize("every", [1, 4])
def test_r1_r2_and_lazy_schedule(which, every):
    gen = torch.Generator().manual_seed(1)
    trick = TRICKS.build(which, gamma=2.0, every=every)
    for step in range(9):
        real, fake = torch.randn(5, 1, 3, 3, generator=gen), torch.randn(5, 1, 3, 3, generator=gen)
        p = trick.d_penalty(ctx_of(d=quadratic, real=real, fake=fake))
        p = None if p is None else p.detach()
        x = real if which == "r1" else fake
        expected = 0.5 * 2.0 * every * float(x.flatten(1).pow(2).sum(1).mean())
        if step % every == 0:
            assert float(p) == pytest.approx(expected, rel=1e-5)
        else:
            assert p is None


def np_translate(a, dh, dw, fill):
    out = np.full_like(a, fill)
    H, W = a.shape[-2:]
    for h in range(H):
        for w in range(W):
            if 0 <= h + dh < H and 0 <= w + dw < W:
                out[..., h, w] = a[..., h + dh, w + dw]
    return out


def test_bcr_equals_reference():
    torch.manual_seed(0)
    w = torch.randn(1, 2, 8, 8)
    D = lambda x: (x * w).flatten(1).sum(1)  # noqa: E731
    real, fake = torch.rand(6, 2, 8, 8), torch.rand(6, 2, 8, 8)
    trick = TRICKS.build("bcr", lambda_real=10.0, lambda_fake=3.0)
    torch.manual_seed(5)
    got = float(trick.d_penalty(ctx_of(d=D, real=real, fake=fake, d_real=D(real), d_fake=D(fake))))

    torch.manual_seed(5)
    wn = w.double().numpy()[0]

    def T(x):
        n = x.shape[0]
        flip = torch.rand(n, 1, 1, 1).view(n).numpy() < 0.5
        dh = torch.randint(-1, 2, (n, 1, 1)).view(n).numpy()
        dw = torch.randint(-1, 2, (n, 1, 1)).view(n).numpy()
        a = x.double().numpy()
        return [np_translate(a[k][..., ::-1] if flip[k] else a[k], dh[k], dw[k], 0.5) for k in range(n)]

    ref = 0.0
    for lam, x in ((10.0, real), (3.0, fake)):
        tx = T(x)
        d0 = (x.double().numpy() * wn).reshape(len(x), -1).sum(1)
        d1 = np.array([(t * wn).sum() for t in tx])
        ref += lam * np.mean((d0 - d1) ** 2)
    assert got == pytest.approx(ref, rel=1e-5)


def test_zcr_equals_reference():
    torch.manual_seed(0)
    A = torch.randn(4, 12)
    G = SimpleNamespace()
    g = lambda z: (z @ A).view(-1, 3, 2, 2)  # noqa: E731
    w = torch.randn(3, 2, 2)
    D = lambda x: (x * w).flatten(1).sum(1)  # noqa: E731
    z = torch.randn(7, 4)
    fake = g(z)
    trick = TRICKS.build("zcr", lambda_dis=5.0, lambda_gen=0.5, sigma=0.1)
    G = torch.nn.Module()
    G.forward = g
    torch.manual_seed(9)
    pd = float(trick.d_penalty(ctx_of(G=G, d=D, z=z, fake=fake, generated=fake, d_fake=D(fake))))
    pg = float(trick.g_penalty(ctx_of(G=G, d=D, z=z, fake=fake, generated=fake)))
    torch.manual_seed(9)
    dz1, dz2 = 0.1 * torch.randn(7, 4), 0.1 * torch.randn(7, 4)
    zn, An, wn = z.double().numpy(), A.double().numpy(), w.double().numpy().ravel()
    dn = lambda zz: (zz @ An) @ wn  # noqa: E731
    assert pd == pytest.approx(5.0 * np.mean((dn(zn) - dn(zn + dz1.double().numpy())) ** 2), rel=1e-4)
    ref_g = -0.5 * np.mean(((zn @ An) - (zn + dz2.double().numpy()) @ An) ** 2)
    assert pg == pytest.approx(ref_g, rel=1e-4)


@pytest.mark.parametrize("opt,msg", [("lecam={decay: 1.0}", "decay"), ("r2={every: 0}", "every"),
                                     ("bcr={lambda_real: -1}", ">= 0"), ("zcr={sigma: -0.1}", ">= 0")])
def test_bad_options_are_errors_before_training(opt, msg):
    with pytest.raises(GannormError, match=msg):
        config.load(None, [f"train.tricks.{opt}"])
