"""Sample-quality metrics on features: FID, KID, IS, precision/recall.

All four take features (or class logits) that a feature extractor produced; which one is a
setting (``metrics/extractors.py``) and is named beside every figure. The formulas:

- FID (Heusel et al. 2017, arXiv 1706.08500): with (mu_r, C_r), (mu_g, C_g) the mean and
  covariance of real and generated features,
  ``FID = ||mu_r - mu_g||^2 + Tr(C_r + C_g - 2 (C_r C_g)^(1/2))``.
- KID (Binkowski et al. 2018, arXiv 1801.01401): the unbiased estimate of MMD^2 with the
  kernel ``k(x, y) = (x.y / d + 1)^3``, averaged over random subsets (100 of 1000); mean and
  std over the subsets.
- IS (Salimans et al. 2016, arXiv 1606.03498): ``exp(E_x KL(p(y|x) || p(y)))`` from class
  logits, over 10 splits; mean and std.
- Precision / recall (Kynkaanniemi et al. 2019, arXiv 1904.06991): the fraction of generated
  samples inside the union of k-NN balls (k = 3) of the real ones, and vice versa.

The arithmetic is torch-fidelity's (``torch_fidelity.metric_*``, the code the library's own
figures come from); what we add is input checking (a KID subset larger than the sample is
reduced with a warning instead of torch-fidelity's hard failure; too few samples for a
non-singular covariance warns with the count needed) and one calling convention, so the
metrics register in ``METRICS`` like any other plug-in. Each registered metric is
``fn(real: FeatureSet | None, gen: FeatureSet) -> dict`` of plain floats, or
``fn(real, gen, options)`` when it declares options; its registration carries what the rest
of the package asks about it (``feature_attrs``):

    options  a dataclass whose fields are the metric's options, their types and defaults (the
             one place they are written; ``KIDOptions``): ``eval.metric_options``, a study's
             ``final_test.metric_options`` and ``gannorm eval --metric-opt kid.subset_size=100``
             are validated against it (``config.metric_options``) and the metric receives an
             instance; its ``__post_init__`` refuses impossible values
    flag     the ``gannorm eval`` option that switches it on, e.g. ``--kid``
    key      the result key holding the figure (the record's ``value``)
    fmt      record -> the figure as printed, e.g. ``KID 0.012 +- 0.003 (100 subsets of 1000)``
    logged   result keys logged during training as ``<key>_<extractor>``
    needs_real   whether it compares with real images
    check    (n_real, n_gen, settings) -> None, raising before any feature is extracted;
             ``settings["options"]`` is the options instance
    label    the figure's name in tables and reports (``FID``, ``precision``)
    unit     its unit, when it has one, shown beside the label (``ms``, ``bits/dim``)
    better   ``lower`` or ``higher``: which way is better, for every value it logs (halving's
             mode, a report's "best")
"""
from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, fields, is_dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

import numpy as np
import torch

from ..errors import GannormError
from ..registry import METRICS


def feature_attrs(name: str, *, key: Optional[str] = None, fmt: Callable[[dict], str],
                  logged: Optional[Sequence[str]] = None, needs_real: bool = True,
                  options: Optional[type] = None,
                  check: Optional[Callable[[Optional[int], int, dict], None]] = None,
                  label: Optional[str] = None, unit: Optional[str] = None, better: Optional[str] = None) -> Dict:
    """The ``METRICS`` attributes of a sample-quality metric on features (see the module doc):
    ``@METRICS.register("fid", help=..., **feature_attrs("fid", fmt=..., better="lower"))``."""
    key = key or name
    if better not in ("lower", "higher", None):
        raise ValueError(f"metric {name!r}: better must be 'lower' or 'higher', got {better!r}")
    if options is not None:
        if not (isinstance(options, type) and is_dataclass(options)):
            raise ValueError(f"metric {name!r}: options must be a dataclass whose fields are its options "
                             f"(see KIDOptions), got {options!r}")
        missing = [f.name for f in fields(options)
                   if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
        if missing:
            raise ValueError(f"metric {name!r}: every option needs a default; {', '.join(missing)} has none")
    return dict(kind="features", flag=f"--{name}", key=key, fmt=fmt, logged=tuple(logged or (key,)),
                needs_real=needs_real, options=options, check=check, label=label or key, unit=unit, better=better)


def feature_metric(name: str, *, help: str, **attrs):
    """Register a sample-quality metric on features in ``METRICS`` (a plug-in's shorthand for
    ``METRICS.register(name, help=help, **feature_attrs(name, **attrs))``)."""
    return METRICS.register(name, help=help, **feature_attrs(name, **attrs))


def feature_metrics() -> List[str]:
    """Names of the registered sample-quality metrics (those computed on extractor features)."""
    return [n for n in METRICS.names() if METRICS.attr(n, "kind") == "features"]


def compute(name: str, real: Optional["FeatureSet"], gen: "FeatureSet", options: Any = None) -> Dict[str, float]:
    """Metric ``name`` of the feature sets, with its options object (None: it declares none)."""
    fn = METRICS.get(name)
    real = real if METRICS.attr(name, "needs_real", True) else None
    return fn(real, gen) if METRICS.attr(name, "options") is None else fn(real, gen, options)


def describe_options(name: str) -> str:
    """``subsets=100, subset_size=1000``: a metric's options and their defaults ('' if none)."""
    cls = METRICS.attr(name, "options")
    return ", ".join(f"{f.name}={getattr(cls(), f.name)!r}" for f in fields(cls)) if cls else ""


Count = Union[int, Callable[[Any], int]]


def _at_least(n_min: Count, what: Union[str, Callable[[Any], str]], real_too: bool = True):
    """A ``check``: at least ``n_min`` images on each side (either may be a function of the
    metric's options object, e.g. ``k + 1`` for k-NN balls)."""
    def check(n_real: Optional[int], n_gen: int, settings: dict) -> None:
        opts = settings.get("options")
        need = n_min(opts) if callable(n_min) else n_min
        text = what(opts) if callable(what) else what
        for count, side in ((n_gen, "generated"), (n_real if real_too else None, "real")):
            if count is not None and count < need:
                knob = settings.get(f"{side}_option", "--n-gen" if side == "generated" else "--n-real")
                raise GannormError(f"{text} needs at least {need} {side} images, got {count}; raise {knob}")
    return check


class FidelityWarning(UserWarning):
    """A figure was computed, but under conditions that bias it (few samples, reduced subsets)."""


@dataclass
class FeatureSet:
    """What a feature extractor produced for one set of images.

    ``mu``/``sigma`` may be given without ``features`` (FID from cached statistics); KID and
    precision/recall need ``features``, IS needs ``logits``.
    """

    features: Optional[torch.Tensor] = None  # (N, d) float
    logits: Optional[torch.Tensor] = None  # (N, classes) float, for IS
    mu: Optional[np.ndarray] = None  # (d,) float64
    sigma: Optional[np.ndarray] = None  # (d, d) float64
    n: Optional[int] = None  # number of images, when only statistics are kept
    seed: Optional[int] = None  # the seed the (generated) images were drawn with; random subsets start from it

    def __post_init__(self):
        if self.n is None:
            src = self.features if self.features is not None else self.logits
            self.n = int(src.shape[0]) if src is not None else None

    def stats(self):
        if self.mu is None:
            if self.features is None:
                raise GannormError("FID needs features or their mean and covariance; got neither")
            self.mu, self.sigma = feature_statistics(self.features)
        return self.mu, self.sigma


def _warn(msg: str):
    warnings.warn(msg, FidelityWarning, stacklevel=3)


def _check_features(x: torch.Tensor, what: str) -> torch.Tensor:
    if not torch.is_tensor(x):
        x = torch.as_tensor(np.asarray(x))
    if x.ndim != 2 or x.shape[0] == 0:
        raise GannormError(f"{what} must be a non-empty (N, d) matrix, got shape {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise GannormError(f"{what} hold NaN or inf: the images or the feature extractor are broken")
    return x.detach().cpu()


# ----------------------------------------------------------------------------- FID

def feature_statistics(features: torch.Tensor):
    """(mu, sigma): mean and unbiased covariance (N-1), float64, as the FID references."""
    from torch_fidelity.metric_fid import fid_features_to_statistics

    f = _check_features(features, "features")
    if f.shape[0] < 2:
        raise GannormError(f"FID needs at least 2 images to estimate a covariance, got {f.shape[0]}")
    s = fid_features_to_statistics(f.double())
    return s["mu"], np.atleast_2d(s["sigma"])


def fid_needed(dim: int) -> int:
    """Smallest sample count whose covariance estimate can be non-singular: d + 1."""
    return dim + 1


def fid_from_stats(mu1, sigma1, mu2, sigma2) -> float:
    """FID = ||mu1 - mu2||^2 + Tr(C1 + C2 - 2 (C1 C2)^(1/2)) (Heusel et al. 2017)."""
    from torch_fidelity.metric_fid import fid_statistics_to_metric

    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != mu1.shape * 2:
        raise GannormError(f"FID: real and generated statistics differ in dimension ({mu1.shape} vs "
                           f"{mu2.shape}); were they made with the same feature extractor?")
    out = fid_statistics_to_metric({"mu": mu1, "sigma": sigma1}, {"mu": mu2, "sigma": sigma2}, verbose=False)
    return float(out["frechet_inception_distance"])


@METRICS.register("fid", help="Frechet distance of feature Gaussians (Heusel et al. 2017); lower is better",
                  **feature_attrs("fid", fmt=lambda r: f"FID {r['value']:.4g}", check=_at_least(2, "FID"),
                                  label="FID", better="lower"))
def fid(real: FeatureSet, gen: FeatureSet) -> Dict[str, float]:
    """FID between two feature sets; warns when either has fewer than d + 1 samples."""
    mu_r, s_r = real.stats()
    mu_g, s_g = gen.stats()
    d = mu_r.shape[0]
    small = min(real.n or 0, gen.n or 0)
    if small < fid_needed(d):
        _warn(f"FID from {real.n} real and {gen.n} generated images of {d}-d features: the covariance is "
              f"singular below {fid_needed(d)} images and FID is biased upward; use at least "
              f"{fid_needed(d)} of each (conventionally 10,000+ generated)")
    return {"fid": fid_from_stats(mu_r, s_r, mu_g, s_g)}


# ----------------------------------------------------------------------------- KID

def kid_from_features(real: torch.Tensor, gen: torch.Tensor, subsets: int = 100, subset_size: int = 1000,
                      seed: int = 0) -> Dict[str, float]:
    """Unbiased MMD^2 with k(x,y) = (x.y/d + 1)^3 over random subsets (Binkowski et al. 2018).

    A ``subset_size`` above the smaller sample is reduced to it with a warning (torch-fidelity
    stops with an error there).
    """
    from torch_fidelity.metric_kid import kid_features_to_metric

    real, gen = _check_features(real, "real features"), _check_features(gen, "generated features")
    if real.shape[1] != gen.shape[1]:
        raise GannormError(f"KID: real features are {real.shape[1]}-d, generated {gen.shape[1]}-d; "
                           f"use the same feature extractor for both")
    if subsets < 1 or subset_size < 2:
        raise GannormError(f"KID needs subsets >= 1 and subset size >= 2, got {subsets} and {subset_size}")
    most = min(len(real), len(gen))
    if most < 2:
        raise GannormError(f"KID needs at least 2 real and 2 generated images, got {len(real)} and {len(gen)}")
    if subset_size > most:
        _warn(f"KID subset size {subset_size} is larger than the sample ({len(real)} real, {len(gen)} "
              f"generated); reduced to {most}")
        subset_size = most
    if subset_size == len(real) == len(gen):
        # every draw is then a permutation of both sets, and the estimate is permutation-invariant
        subsets = 1
    out = kid_features_to_metric(gen.float(), real.float(), kid_subsets=subsets, kid_subset_size=subset_size,
                                 rng_seed=seed, verbose=False)
    return {"kid": float(out["kernel_inception_distance_mean"]),
            "kid_std": float(out["kernel_inception_distance_std"]),
            "kid_subsets": subsets, "kid_subset_size": subset_size}


@dataclass(frozen=True)
class KIDOptions:
    """KID's options: the unbiased MMD^2 is averaged over ``subsets`` random draws of
    ``subset_size`` real and ``subset_size`` generated features (Binkowski et al. 2018 and
    torch-fidelity: 100 of 1000). The draws start from the generated images' seed."""

    subsets: int = 100
    subset_size: int = 1000

    def __post_init__(self):
        if self.subsets < 1 or self.subset_size < 2:
            raise GannormError(f"KID needs a subset size >= 2 and >= 1 subset, got subset_size={self.subset_size} "
                               f"and subsets={self.subsets}")


@METRICS.register("kid", help="Kernel distance, unbiased MMD^2 with a cubic kernel (Binkowski et al. 2018)",
                  **feature_attrs("kid", fmt=lambda r: f"KID {r['value']:.4g} +- {r['kid_std']:.2g} "
                                                       f"({r['kid_subsets']} subsets of {r['kid_subset_size']})",
                                  options=KIDOptions, label="KID", better="lower", check=_at_least(2, "KID")))
def kid(real: FeatureSet, gen: FeatureSet, opts: KIDOptions = KIDOptions()) -> Dict[str, float]:
    if real.features is None or gen.features is None:
        raise GannormError("KID needs the features themselves, not only their statistics; "
                           "recompute the reference statistics (they are cached with features)")
    return kid_from_features(real.features, gen.features, opts.subsets, opts.subset_size, gen.seed or 0)


# ----------------------------------------------------------------------------- IS

IS_SPLITS = 10


def inception_score_from_logits(logits: torch.Tensor, splits: int = IS_SPLITS, shuffle: bool = True,
                                seed: int = 2020) -> Dict[str, float]:
    """IS = exp(E_x KL(p(y|x) || p(y))) per split, p(y) the split's mean (Salimans et al. 2016).

    ``shuffle`` permutes the samples before splitting, as torch-fidelity does by default.
    """
    from torch_fidelity.metric_isc import isc_features_to_metric

    logits = _check_features(logits, "class logits")
    if splits < 1:
        raise GannormError(f"IS needs splits >= 1, got {splits}")
    if len(logits) < splits:
        # a split of one image has p(y) = p(y|x): KL 0 and IS exactly 1 whatever G makes
        raise GannormError(f"IS in {splits} splits needs at least {splits} images, got {len(logits)}")
    out = isc_features_to_metric(logits.float(), splits=splits, shuffle=shuffle, rng_seed=seed)
    return {"is": float(out["inception_score_mean"]), "is_std": float(out["inception_score_std"]),
            "is_splits": splits}


@dataclass(frozen=True)
class ISOptions:
    """The Inception Score's options: the samples are cut into ``splits`` parts, each scored
    with its own p(y) (Salimans et al. 2016: 10); mean and std over the parts. ``shuffle``
    permutes them first (seed 2020), as torch-fidelity does."""

    splits: int = IS_SPLITS
    shuffle: bool = True

    def __post_init__(self):
        if self.splits < 1:
            raise GannormError(f"IS needs splits >= 1, got {self.splits}")


_is_check = _at_least(lambda o: o.splits, lambda o: f"IS in {o.splits} splits", real_too=False)


@METRICS.register("is", help="Inception score from the extractor's class logits (Salimans et al. 2016); higher is better",
                  **feature_attrs("is", fmt=lambda r: f"IS {r['value']:.4g} +- {r['is_std']:.2g} ({r['is_splits']} splits)",
                                  needs_real=False, label="IS", better="higher", options=ISOptions, check=_is_check))
def inception_score(real: Optional[FeatureSet], gen: FeatureSet, opts: ISOptions = ISOptions()) -> Dict[str, float]:
    if gen.logits is None:
        raise GannormError("IS needs class logits and this feature extractor has no classifier head")
    return inception_score_from_logits(gen.logits, opts.splits, opts.shuffle)


def _is_ratio_fmt(r: dict) -> str:
    return (f"IS {r['is']:.3g} = {r['value']:.2f} of the real images' {r['is_real']:.3g} "
            f"({r['is_splits']} splits)")


@METRICS.register("is_ratio", help="IS of the samples as a fraction of the real images' IS, same extractor and "
                                   "splits (Salimans et al. 2016); 1 = as sure and as varied as real data",
                  **feature_attrs("is_ratio", fmt=_is_ratio_fmt, logged=("is_ratio", "is"), label="IS / real IS",
                                  better="higher", options=ISOptions,
                                  check=_at_least(lambda o: o.splits, lambda o: f"IS in {o.splits} splits")))
def inception_score_ratio(real: FeatureSet, gen: FeatureSet, opts: ISOptions = ISOptions()) -> Dict[str, float]:
    """``IS(generated) / IS(real)``, both ``exp(E_x KL(p(y|x) || p(y)))`` over ``splits`` splits.

    An IS alone has no scale: it lies between 1 and the number of classes, and what real images
    reach depends on the classifier and the dataset. Dividing by the real images' IS under the
    same classifier makes it readable: near 1, the classifier is as sure of the samples' classes,
    and finds the classes as evenly spread, as for real images; near ``1 / IS(real)``, it sees no
    class at all. With a classifier trained on the dataset itself (``fashion_mnist_cnn``, shipped
    with gannorm) it is a classifier IS on the dataset's own classes, where ImageNet networks see
    28x28 grayscale garments far from what they learned. Give as many real as generated images:
    IS depends on the split size.
    """
    if gen.logits is None or real is None or real.logits is None:
        raise GannormError("is_ratio needs class logits of real and generated images; use an extractor with a "
                           "classifier head (fashion_mnist_cnn, domain:PATH, efficientnet_lite0, inception)")
    g = inception_score_from_logits(gen.logits, opts.splits, opts.shuffle)
    r = inception_score_from_logits(real.logits, opts.splits, opts.shuffle)
    return {"is_ratio": g["is"] / r["is"], "is": g["is"], "is_std": g["is_std"], "is_real": r["is"],
            "is_real_std": r["is_std"], "is_splits": opts.splits}


# ----------------------------------------------------------------------------- precision / recall

PR_K = 3


def precision_recall_from_features(real: torch.Tensor, gen: torch.Tensor, k: int = PR_K) -> Dict[str, float]:
    """Improved precision/recall (Kynkaanniemi et al. 2019) with k-NN balls, k = 3."""
    from torch_fidelity.metric_prc import prc_features_to_metric

    real, gen = _check_features(real, "real features"), _check_features(gen, "generated features")
    if min(len(real), len(gen)) <= k:
        raise GannormError(f"precision/recall with k={k} needs more than {k} real and generated images, "
                           f"got {len(real)} and {len(gen)}")
    out = prc_features_to_metric(gen.float(), real.float(), prc_neighborhood=k, prc_batch_size=10000,
                                 save_cpu_ram=False, verbose=False)
    return {"precision": float(out["precision"]), "recall": float(out["recall"]), "pr_k": k}


@dataclass(frozen=True)
class KNNOptions:
    """Options of the k-NN-ball metrics: ``k``, the neighbour whose distance is each real
    feature's radius (precision/recall: 3, Kynkaanniemi et al. 2019; density/coverage: 5,
    Naeem et al. 2020)."""

    k: int = PR_K

    def __post_init__(self):
        if self.k < 1:
            raise GannormError(f"k must be >= 1 (the k-th nearest neighbour's distance is the radius), got {self.k}")


@METRICS.register("pr", help="Improved precision and recall, k-NN balls with k=3 (Kynkaanniemi et al. 2019)",
                  **feature_attrs("pr", key="precision", logged=("precision", "recall"), better="higher",
                                  fmt=lambda r: f"precision {r['value']:.3f}, recall {r['recall']:.3f} (k={r['pr_k']})",
                                  options=KNNOptions,
                                  check=_at_least(lambda o: o.k + 1, lambda o: f"precision/recall with k={o.k}")))
def precision_recall(real: FeatureSet, gen: FeatureSet, opts: KNNOptions = KNNOptions()) -> Dict[str, float]:
    if real.features is None or gen.features is None:
        raise GannormError("precision/recall needs the features themselves, not only their statistics")
    return precision_recall_from_features(real.features, gen.features, opts.k)
