"""Density and coverage (Naeem, Oh, Uh, Choi & Yoo 2020, "Reliable Fidelity and Diversity
Metrics for Generative Models", arXiv 2002.09797), on the same extractor features as
precision/recall. With X_1..X_N real and Y_1..Y_M generated features, B(X_i, r_i) the ball
around X_i whose radius is the distance to its k-th nearest real neighbour (k = 5):

    density  = 1 / (k M) * sum_j sum_i 1[Y_j in B(X_i, r_i)]       (fidelity; 1 when Y ~ X)
    coverage = 1 / N * sum_i 1[exists j: Y_j in B(X_i, r_i)]        (diversity, in [0, 1])

Unlike precision, density counts how many real balls a sample falls in, so a few real
outliers with huge balls do not make every sample "precise"; coverage asks whether the
real modes are reached, from the real side. Distances are Euclidean; membership is strict
(``<``), as in the authors' ``prdc`` package.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict

import torch

from ..errors import GannormError
from ..registry import METRICS
from .fidelity import FeatureSet, KNNOptions, _at_least, _check_features, feature_attrs

DC_K = 5


def _kth_neighbour_radii(real: torch.Tensor, k: int, chunk: int = 4096) -> torch.Tensor:
    out = []
    for s in range(0, len(real), chunk):
        d = torch.cdist(real[s:s + chunk], real)
        out.append(d.kthvalue(k + 1, dim=1).values)  # the 0 distance to itself is the first
    return torch.cat(out)


def density_coverage_from_features(real: torch.Tensor, gen: torch.Tensor, k: int = DC_K) -> Dict[str, float]:
    real = _check_features(real, "real features").double()
    gen = _check_features(gen, "generated features").double()
    if len(real) <= k or len(gen) < 1:
        raise GannormError(f"density/coverage with k={k} needs more than {k} real images and at least one "
                           f"generated one, got {len(real)} and {len(gen)}")
    radii = _kth_neighbour_radii(real, k)
    inside_count = torch.zeros(len(gen), dtype=torch.float64)
    covered = torch.zeros(len(real), dtype=torch.bool)
    for s in range(0, len(gen), 4096):
        inside = torch.cdist(real, gen[s:s + 4096]) < radii[:, None]  # (N, chunk)
        inside_count[s:s + 4096] = inside.sum(0).double()
        covered |= inside.any(1)
    return {"density": float(inside_count.sum() / (k * len(gen))), "coverage": float(covered.double().mean()),
            "dc_k": k}


@dataclass(frozen=True)
class DCOptions(KNNOptions):
    """Density and coverage's ``k`` (Naeem et al. 2020: 5)."""

    k: int = DC_K


@METRICS.register("dc", help="Density and coverage, k-NN balls of the real features with k=5 (Naeem et al. 2020)",
                  **feature_attrs("dc", key="density", logged=("density", "coverage"), better="higher",
                                  fmt=lambda r: f"density {r['value']:.3f}, coverage {r['coverage']:.3f} (k={r['dc_k']})",
                                  options=DCOptions,
                                  check=_at_least(lambda o: o.k + 1, lambda o: f"density/coverage with k={o.k}")))
def density_coverage(real: FeatureSet, gen: FeatureSet, opts: DCOptions = DCOptions()) -> Dict[str, float]:
    if real.features is None or gen.features is None:
        raise GannormError("density/coverage needs the features themselves, not only their statistics")
    return density_coverage_from_features(real.features, gen.features, opts.k)
