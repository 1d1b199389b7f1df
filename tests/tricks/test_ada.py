"""ADA (Karras et al. 2020) against references written from the paper's equations
(Appendix B and section 3): the p rule on fed r_t sequences, the blit, geometric and colour
groups on fixed inputs with the same random draws, and the bad-input errors."""
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import gannorm.plugins  # noqa: F401
from gannorm import config
from gannorm.errors import GannormError
from gannorm.tricks.ada import ADA, ada_augment
from gannorm.tricks.augment import rt_sign


# ----------------------------------------------------------------------------- p's rule

def paper_p(rts, batch, interval=4, kimg=500.0, target=0.6, p=0.0):
    """Section 3: p starts at 0, moves by a fixed step every `interval` minibatches toward
    the side r_t asks for, and is clamped from below at 0."""
    out = []
    for rt in rts:
        if rt > target:
            p += batch * interval / (kimg * 1000)
        elif rt < target:
            p -= batch * interval / (kimg * 1000)
        p = max(p, 0.0)
        out.append(p)
    return out


@pytest.mark.parametrize("interval,kimg,batch", [(4, 500.0, 64), (1, 0.1, 8), (3, 2.0, 5)])
def test_p_trajectory_equals_the_papers_rule(interval, kimg, batch):
    rng = np.random.default_rng(interval)
    ada = ADA(interval=interval, kimg=kimg)
    rts, got = [], []
    for k in range(60):
        # a drifting share of positive logits: r_t crosses the target both ways, with exact ties too
        share = 0.8 if (k // 15) % 2 == 0 else 0.4
        steps = []
        for _ in range(interval):
            logits = torch.from_numpy(np.where(rng.random(batch) < share, 1.0, -1.0) * rng.random(batch))
            steps.append(logits.float())
            ctx = SimpleNamespace(d_real=logits.float(), real=torch.zeros(batch, 1, 4, 4), logs={})
            ada.after_d_step(ctx)
        signs = np.concatenate([np.sign(s.numpy().astype(np.float64)) for s in steps])
        rts.append(float(signs.sum()) / signs.size)
        got.append(ada.p)
    assert got == pytest.approx(paper_p(rts, batch, interval, kimg), abs=1e-15)
    assert max(got) > 0


def test_p_rises_from_0_to_1_in_kimg_thousand_images():
    ada = ADA()
    ctx = SimpleNamespace(d_real=torch.ones(64), real=torch.zeros(64, 1, 4, 4), logs={})
    images = 0
    while ada.p < 1.0 - 1e-9:
        ada.after_d_step(ctx)
        images += 64
    assert images == 500_000 or abs(images - 500_000) <= 4 * 64


def test_rt_sign_is_mean_sign():
    d = torch.tensor([[2.0], [-1.0], [0.5], [0.0]])
    assert float(rt_sign(d)) == pytest.approx((1 - 1 + 1 + 0) / 4)


# ----------------------------------------------------------------------------- the pipeline

def reflect(i, n):
    """Mirror index about pixel centres 0 and n - 1 (period 2(n - 1))."""
    if n == 1:
        return 0
    period = 2 * (n - 1)
    i = np.mod(i, period)
    return np.where(i > n - 1, period - i, i)


def bilinear_mirror(img, G, H, W):
    """out[:, i, j] = img sampled bilinearly at G(centred (j, i)), mirrored border."""
    out = np.zeros_like(img)
    cx, cy = (W - 1) / 2, (H - 1) / 2
    for i in range(H):
        for j in range(W):
            u, v, _ = G @ np.array([j - cx, i - cy, 1.0])
            x, y = u + cx, v + cy
            x0, y0 = math.floor(x), math.floor(y)
            fx, fy = x - x0, y - y0
            acc = 0
            for dy, wy in ((0, 1 - fy), (1, fy)):
                for dx, wx in ((0, 1 - fx), (1, fx)):
                    if wx * wy == 0:
                        continue
                    acc = acc + wx * wy * img[:, reflect(y0 + dy, H), reflect(x0 + dx, W)]
            out[:, i, j] = acc
    return out


def R(t):
    return np.array([[math.cos(t), -math.sin(t), 0], [math.sin(t), math.cos(t), 0], [0, 0, 1.0]])


def S(sx, sy):
    return np.diag([sx, sy, 1.0])


def T(tx, ty):
    return np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1.0]])


def reference_geometry(n, H, W, p, groups):
    """Forward transforms of Appendix B in the paper's order (each new op applied after the
    previous ones), drawn as the pipeline draws them (value, then the keep draw); the
    sampling map is the forward map's inverse."""
    def keep(prob):
        return torch.rand(n, 1)[:, 0].numpy() < prob

    F = [np.eye(3) for _ in range(n)]

    def then(ops):
        for k in range(n):
            F[k] = F[k] @ ops[k]  # output = ... op_2 op_1 input: the sampling map G = F^-1 composes op_1^-1 op_2^-1 ...

    if "blit" in groups:
        i = np.floor(torch.rand(n, 1)[:, 0].numpy() * 2) * keep(p)
        then([np.linalg.inv(S(1 - 2 * i[k], 1)) for k in range(n)])
        r = np.floor(torch.rand(n, 1)[:, 0].numpy() * 4) * keep(p)
        then([np.linalg.inv(R(-math.pi / 2 * r[k])) for k in range(n)])
        t = (torch.rand(n, 2).numpy() * 2 - 1) * 0.125 * keep(p)[:, None]
        then([np.linalg.inv(T(round(t[k, 0] * W), round(t[k, 1] * H))) for k in range(n)])
    if "geom" in groups:
        prot = 1 - math.sqrt(1 - p)
        s = 2 ** (torch.randn(n, 1)[:, 0].numpy() * 0.2)
        s = np.where(keep(p), s, 1.0)
        then([np.linalg.inv(S(s[k], s[k])) for k in range(n)])
        th = (torch.rand(n, 1)[:, 0].numpy() * 2 - 1) * math.pi * keep(prot)
        then([np.linalg.inv(R(-th[k])) for k in range(n)])
        a = 2 ** (torch.randn(n, 1)[:, 0].numpy() * 0.2)
        a = np.where(keep(p), a, 1.0)
        then([np.linalg.inv(S(a[k], 1 / a[k])) for k in range(n)])
        th = (torch.rand(n, 1)[:, 0].numpy() * 2 - 1) * math.pi * keep(prot)
        then([np.linalg.inv(R(-th[k])) for k in range(n)])
        t = torch.randn(n, 2).numpy() * 0.125 * keep(p)[:, None]
        then([np.linalg.inv(T(t[k, 0] * W, t[k, 1] * H)) for k in range(n)])
    return F  # composed inverse ops = the sampling map


def reference_color(n, p):
    v = np.array([1, 1, 1, 0.0]) / math.sqrt(3)
    vv = np.outer(v, v)

    def keep(prob):
        return torch.rand(n, 1)[:, 0].numpy() < prob

    C = [np.eye(4) for _ in range(n)]
    b = torch.randn(n, 1)[:, 0].numpy() * 0.2 * keep(p)
    c = 2 ** (torch.randn(n, 1)[:, 0].numpy() * 0.5)
    c = np.where(keep(p), c, 1.0)
    for k in range(n):
        Tb = np.eye(4); Tb[:3, 3] = b[k]
        C[k] = np.diag([c[k], c[k], c[k], 1.0]) @ Tb
    i = np.floor(torch.rand(n, 1)[:, 0].numpy() * 2) * keep(p)
    th = (torch.rand(n, 1)[:, 0].numpy() * 2 - 1) * math.pi * keep(p)
    s = 2 ** (torch.randn(n, 1)[:, 0].numpy() * 1.0)
    s = np.where(keep(p), s, 1.0)
    for k in range(n):
        C[k] = (np.eye(4) - 2 * vv * i[k]) @ C[k]
        a = v[:3]
        K = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
        Rm = np.eye(4)
        Rm[:3, :3] = np.eye(3) + math.sin(th[k]) * K + (1 - math.cos(th[k])) * K @ K
        C[k] = Rm @ C[k]
        C[k] = (vv + (np.eye(4) - vv) * s[k]) @ C[k]
    return C


def reference_ada(x, p, groups, seed):
    torch.manual_seed(seed)
    n, ch, H, W = x.shape
    a = x.double().numpy().copy()
    if "blit" in groups or "geom" in groups:
        F = reference_geometry(n, H, W, p, groups)
        a = np.stack([bilinear_mirror(a[k], F[k], H, W) for k in range(n)])
    if "color" in groups:
        C = reference_color(n, p)
        for k in range(n):
            if ch == 3:
                a[k] = np.einsum("ij,jhw->ihw", C[k][:3, :3], a[k]) + C[k][:3, 3, None, None]
            else:
                m = C[k][:3].mean(axis=0)
                a[k] = a[k] * m[:3].sum() + m[3]
    return a


@pytest.mark.parametrize("groups,p,tol", [(("blit",), 1.0, 1e-5), (("blit",), 0.5, 1e-5),
                                          (("geom",), 0.7, 1e-4), (("color",), 0.8, 1e-5),
                                          (("blit", "geom", "color"), 0.6, 1e-4)])
@pytest.mark.parametrize("shape", [(5, 3, 12, 12), (4, 1, 9, 9)])
def test_pipeline_equals_the_papers_equations(groups, p, tol, shape):
    for seed in range(2):
        x = torch.rand(shape, generator=torch.Generator().manual_seed(seed)) * 2 - 1
        torch.manual_seed(seed)
        ours = ada_augment(x, p, groups).double().numpy()
        ref = reference_ada(x, p, groups, seed)
        assert np.abs(ours - ref).max() < tol, np.abs(ours - ref).max()


def test_blit_is_exact_pixel_moves():
    """x-flip, rot90 and integer shifts with p=1 only move pixels: every output value is an input value."""
    x = torch.randint(0, 255, (6, 3, 16, 16)).float() / 127.5 - 1
    torch.manual_seed(3)
    y = ada_augment(x, 1.0, ("blit",))
    for k in range(6):
        gap = (y[k].flatten()[:, None] - x[k].flatten()[None, :]).abs().min(dim=1).values
        assert gap.max() < 1e-5  # bilinear weights are 0/1 at integer positions
    assert not torch.allclose(y, x)


def test_p_zero_leaves_images_and_p_one_changes_them():
    x = torch.rand(4, 3, 8, 8) * 2 - 1
    assert torch.equal(ada_augment(x, 0.0), x)
    torch.manual_seed(0)
    assert not torch.allclose(ada_augment(x, 1.0), x)


@pytest.mark.parametrize("opt,msg", [("{p: 1.5}", "must be in \\[0, 1\\]"), ("{target: 1.0}", "must be in \\(0, 1\\)"),
                                     ("{target: 0}", "must be in \\(0, 1\\)"), ("{groups: [blit, colour]}", "subset of"),
                                     ("{kimg: 0}", "kimg")])
def test_bad_options_are_one_line_errors_before_training(opt, msg):
    with pytest.raises(GannormError, match=msg) as e:
        config.load(None, [f"train.tricks.ada={opt}"])
    assert "\n" not in str(e.value)
