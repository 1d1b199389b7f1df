"""FID/KID/IS/PR of a generator against real images, with every figure's provenance.

One call, ``evaluate_generator``, serves ``gannorm eval --fid ...`` and the periodic
evaluation during training (both in ``gannorm.evaluation``, which knows about runs; this
module knows only a generator and images). Each figure comes
back as a record naming: the metric, the feature extractor, the number of real and
generated images, the split the real images came from, and the preprocessing
(quantization to uint8, resizing, scaling). Real images on the CIFAR-10 JPEG copy carry the
caveat that the figures are not comparable with published CIFAR-10 numbers.

Why not ``torch_fidelity.calculate_metrics`` end to end (we use its arithmetic and its
Inception port): its input cache is keyed by a name the caller invents, not by dataset,
split, image digest and extractor weights; it stops when the KID subset exceeds the
sample; and it cannot load the FID weights with ``weights_only=True``. Its loop and ours
run at the same images/s (benchmarks/metrics.py), and agree on the figures (tests).
"""
from __future__ import annotations

import warnings
from typing import Any, Dict, List, Mapping, Optional, Sequence

import numpy as np
import torch

from ..config import DEFAULT_EXTRACTOR, EVAL_N_GEN, check_metric_name, metric_options, options_dict
from ..errors import GannormError
from ..registry import METRICS
from ..utils.progress import ProgressArg
from .extractors import FeatureExtractor, build_extractor
from .features import QUANTIZATION, extract_generated
from .fidelity import FeatureSet, FidelityWarning, compute
from .refstats import reference_features

CIFAR_JPEG_CAVEAT = ("real images are the CIFAR-10 JPEG copy (quality 75, re-encoded): figures are NOT comparable "
                     "with published CIFAR-10 numbers")


def cifar_jpeg_caveat(*texts: Optional[str]) -> Optional[str]:
    """The caveat when the real data is the shared CIFAR-10 JPEG copy."""
    return CIFAR_JPEG_CAVEAT if any(t and "cifar10-jpeg" in str(t) for t in texts) else None


def evaluate_generator(generator: torch.nn.Module, real_images: np.ndarray, *, metrics: Sequence[str],
                       options: Optional[Mapping[str, Any]] = None,
                       extractor: str | FeatureExtractor = DEFAULT_EXTRACTOR, n_gen: int = EVAL_N_GEN,
                       dataset: str = "", real_split: str = "", seed: int = 0, batch_size: int = 64,
                       device: Optional[torch.device] = None, use_cache: bool = True,
                       progress: ProgressArg = False) -> List[Dict]:
    """Compute ``metrics`` (fid, kid, is, pr, or any registered sample-quality metric) of G's
    samples against ``real_images`` (uint8 N,C,H,W; None when no metric needs real images).

    ``options``: ``{metric: {option: value}}`` for the metrics that declare options (e.g.
    ``{"kid": {"subset_size": 100}}``); what is not given takes the registered default.
    Unknown options and settings that cannot give a figure (too few images, a KID subset of
    1) are refused before any feature is extracted. Returns one record per metric, each with
    every option it was computed with; warnings (too few samples for an unbiased figure,
    reduced KID subsets) are raised as ``FidelityWarning`` and also stored in the records.
    """
    metrics = [m.lower() for m in metrics]
    need_real = any(METRICS.attr(m, "needs_real", True) for m in check_metric_names(metrics))
    if need_real and real_images is None:
        raise GannormError(f"{', '.join(metrics)} compare with real images; none were given")
    opts = check_settings(metrics, len(real_images) if need_real else None, n_gen, options)
    ext = extractor if isinstance(extractor, FeatureExtractor) else build_extractor(extractor, device or "cpu")
    dev = device or next(ext.parameters()).device
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FidelityWarning)
        real, cached, cache_file = (reference_features(ext, real_images, dataset=dataset, split=real_split,
                                                       batch_size=batch_size, use_cache=use_cache, progress=progress)
                                    if need_real else (None, False, None))
        feats, logits = extract_generated(ext, generator, n_gen, batch_size, seed, dev, progress)
        gen = FeatureSet(features=feats, logits=logits, seed=seed)
        results = {m: compute(m, real, gen, opts[m]) for m in metrics}
    for w in caught:  # hand them on to the caller's filters too
        if not issubclass(w.category, FidelityWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    notes = [str(w.message) for w in caught if issubclass(w.category, FidelityWarning)]
    for n in notes:
        warnings.warn(n, FidelityWarning, stacklevel=2)
    caveat = cifar_jpeg_caveat(dataset)
    base = {**ext.record(), "n_real": None if real is None else int(real.n), "n_gen": int(n_gen),
            "real_split": real_split if need_real else None, "dataset": dataset,
            "preprocessing": f"{QUANTIZATION}; real and generated: {ext.preprocessing}",
            "generator_seed": seed, "reference_cache": str(cache_file) if cache_file else None,
            "reference_cached": cached, "warnings": notes, "caveat": caveat}
    records = []
    for m in metrics:
        r, value = results[m], METRICS.attr(m, "key", m)
        records.append({"metric": m, "value": r[value], **{k: v for k, v in r.items() if k != value},
                        "options": options_dict(opts[m]), **base})
        if not METRICS.attr(m, "needs_real", True):
            records[-1].update(n_real=None, real_split=None)
    return records


def check_settings(metrics: Sequence[str], n_real: Optional[int], n_gen: int,
                   options: Optional[Mapping[str, Any]] = None, where: str = "--metric-opt {m}",
                   knobs: Optional[Mapping[str, str]] = None) -> Dict[str, Any]:
    """Refuse options and settings no figure can come from (each metric's options dataclass
    and ``check``), before any work; ``n_real`` None skips the real-side checks. Returns each
    metric's options object (None for a metric without options). ``where`` names the options
    in errors; ``knobs`` the settings that raise the image counts (``generated_option``,
    ``real_option``)."""
    metrics = check_metric_names(metrics)
    opts = metric_options(metrics, {k.lower(): v for k, v in (options or {}).items()}, "", where)
    for m in metrics:
        check = METRICS.attr(m, "check")
        if check is not None:
            check(n_real if METRICS.attr(m, "needs_real", True) else None, n_gen,
                  {"n_gen": n_gen, "options": opts[m], **(knobs or {})})
    return opts


def check_metric_names(metrics: Sequence[str], where: str = "metrics") -> List[str]:
    """``metrics`` if each is a registered sample-quality metric, else a one-line error."""
    for m in metrics:
        check_metric_name(m, where)
    return list(metrics)


def format_record(r: Dict) -> str:
    """One line: the figure and everything it depends on."""
    fig = METRICS.attr(r["metric"], "fmt")(r)
    real = f" vs {r['n_real']} real ({r['real_split']})" if r.get("n_real") else ""
    line = (f"{fig}  [extractor {r['extractor']}; {r['n_gen']} generated{real}; {r['dataset']}; "
            f"preprocessing: {r['preprocessing']}]")
    if r.get("caveat"):
        line += f"  NOTE: {r['caveat']}"
    return line


