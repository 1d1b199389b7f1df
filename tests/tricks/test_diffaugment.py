"""DiffAugment against an independent per-image reference written from the paper's and the
authors' description (DiffAugment_pytorch.py, mit-han-lab/data-efficient-gans): the same RNG
draws in the same order give the same images."""
import numpy as np
import pytest
import torch

import gannorm.plugins  # noqa: F401
from gannorm import config
from gannorm.errors import GannormError
from gannorm.tricks.diffaugment import diff_augment


def reference(x: torch.Tensor, policy, gen_seed: int) -> np.ndarray:
    """Per image, in float64 numpy, with torch's global RNG re-seeded to draw what the
    authors' code draws: 3 x U[0,1) (N,1,1,1) for color, 2 x randint for translation, 2 x for cutout."""
    torch.manual_seed(gen_seed)
    a = x.double().numpy().copy()
    n, c, H, W = a.shape
    for p in policy.split(","):
        if p == "color":
            b = torch.rand(n, 1, 1, 1, dtype=x.dtype).double().numpy()
            a = a + (b - 0.5)
            s = torch.rand(n, 1, 1, 1, dtype=x.dtype).double().numpy()
            for i in range(n):
                gray = a[i].mean(axis=0)
                a[i] = (a[i] - gray) * (2 * s[i, 0, 0, 0]) + gray
            k = torch.rand(n, 1, 1, 1, dtype=x.dtype).double().numpy()
            for i in range(n):
                m = a[i].mean()
                a[i] = (a[i] - m) * (k[i, 0, 0, 0] + 0.5) + m
        elif p == "translation":
            sh, sw = H // 8, W // 8
            th = torch.randint(-sh, sh + 1, (n, 1, 1)).view(n).numpy()
            tw = torch.randint(-sw, sw + 1, (n, 1, 1)).view(n).numpy()
            out = np.zeros_like(a)
            for i in range(n):
                for h in range(H):
                    for w in range(W):
                        hh, ww = h + th[i], w + tw[i]
                        if 0 <= hh < H and 0 <= ww < W:
                            out[i, :, h, w] = a[i, :, hh, ww]
            a = out
        elif p == "cutout":
            ch, cw = H // 2, W // 2
            oh = torch.randint(0, H + (1 - ch % 2), (n, 1, 1)).view(n).numpy()
            ow = torch.randint(0, W + (1 - cw % 2), (n, 1, 1)).view(n).numpy()
            for i in range(n):
                top, left = oh[i] - ch // 2, ow[i] - cw // 2
                a[i, :, max(top, 0):max(top + ch, 0), max(left, 0):max(left + cw, 0)] = 0.0
    return a


@pytest.mark.parametrize("policy", ["color", "translation", "cutout", "color,translation,cutout"])
@pytest.mark.parametrize("shape", [(6, 3, 32, 32), (5, 1, 28, 28), (4, 3, 9, 7)])
def test_diffaugment_equals_reference(policy, shape):
    for seed in range(3):  # several random draws per case
        x = torch.rand(shape, generator=torch.Generator().manual_seed(100 + seed)) * 2 - 1
        torch.manual_seed(seed)
        ours = diff_augment(x, policy)
        ref = reference(x, policy, seed)
        assert np.abs(ours.double().numpy() - ref).max() < 1e-5


def test_diffaugment_is_differentiable_and_changes_images():
    x = (torch.rand(4, 3, 16, 16) * 2 - 1).requires_grad_(True)
    torch.manual_seed(0)
    y = diff_augment(x)
    y.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert not torch.allclose(y, x)


def test_unknown_policy_is_a_one_line_error_before_training():
    with pytest.raises(GannormError, match="did you mean 'cutout'"):
        config.load(None, ["train.tricks.diffaugment={policy: 'color,cutot'}"])
