"""Density and coverage (Naeem et al. 2020) against the authors' ``prdc`` package on the same
features, on random draws and on edge cases (identical sets, disjoint sets)."""
import numpy as np
import pytest
import torch

import gannorm.plugins  # noqa: F401
from gannorm.errors import GannormError
from gannorm.metrics.density_coverage import density_coverage_from_features
from gannorm.registry import METRICS

prdc = pytest.importorskip("prdc")  # in the test extra


@pytest.mark.parametrize("seed,n_real,n_gen,dim,shift", [(0, 200, 150, 16, 0.0), (1, 100, 300, 8, 0.5),
                                                         (2, 60, 60, 32, 2.0), (3, 500, 500, 4, 0.1)])
def test_equals_the_authors_package(seed, n_real, n_gen, dim, shift):
    rng = np.random.default_rng(seed)
    real = rng.normal(size=(n_real, dim))
    gen = rng.normal(size=(n_gen, dim)) * 1.2 + shift
    ref = prdc.compute_prdc(real_features=real, fake_features=gen, nearest_k=5)
    ours = density_coverage_from_features(torch.from_numpy(real), torch.from_numpy(gen), k=5)
    assert abs(ours["density"] - ref["density"]) < 1e-12
    assert abs(ours["coverage"] - ref["coverage"]) < 1e-12


def test_edge_cases():
    x = torch.randn(50, 6, generator=torch.Generator().manual_seed(0))
    same = density_coverage_from_features(x, x.clone())
    assert same["coverage"] == 1.0  # each real point is inside its own ball (distance 0 < r)
    far = density_coverage_from_features(x, x + 1000)
    assert far["density"] == 0.0 and far["coverage"] == 0.0
    with pytest.raises(GannormError, match="needs more than 5 real"):
        density_coverage_from_features(x[:5], x)


def test_registered_like_the_other_feature_metrics():
    assert METRICS.attr("dc", "flag") == "--dc" and METRICS.attr("dc", "logged") == ("density", "coverage")
