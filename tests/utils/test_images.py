"""The two image helpers against the expressions they replace, over a grid of inputs."""
import numpy as np
import pytest
import torch

from gannorm.utils.images import seeded_subset, unit_range


@pytest.mark.parametrize("out_range", [(0.0, 1.0), (-1.0, 1.0), (-2.0, 3.0)])
def test_unit_range(out_range):
    lo, hi = out_range
    x = torch.linspace(lo - 1, hi + 1, 101)
    ref = torch.tensor([min(1.0, max(0.0, (float(v) - lo) / (hi - lo))) for v in x])
    assert torch.allclose(unit_range(x, out_range), ref, atol=1e-6)


@pytest.mark.parametrize("n", [0, 1, 5, 9, 10, 50])
@pytest.mark.parametrize("seed", [0, 3])
def test_seeded_subset(n, seed):
    idx = np.array([4, 8, 15, 16, 23, 42, 7, 9, 11, 2])
    out = seeded_subset(idx, n, seed)
    if n >= len(idx):
        assert np.array_equal(out, np.sort(idx))
    else:  # reference: numpy's RandomState draw, as every caller made it before
        assert np.array_equal(out, np.sort(np.random.RandomState(seed).choice(idx, n, replace=False)))
    assert np.array_equal(seeded_subset(10, n, seed), seeded_subset(np.arange(10), n, seed))
