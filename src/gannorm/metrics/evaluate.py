"""FID/KID/IS/PR of a generator against real images, with every figure's provenance.

One call, ``evaluate_generator``, serves ``gannorm eval --fid ...`` (through ``evaluate_run``)
and the periodic evaluation during training (``periodic_fidelity``). Each figure comes
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

import json
import warnings
import weakref
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

from ..errors import GannormError
from ..registry import METRICS
from ..utils.progress import ProgressArg
from .extractors import FeatureExtractor, build_extractor
from .features import QUANTIZATION, extract_generated
from .fidelity import FIDELITY_METRICS, FeatureSet, FidelityWarning
from .refstats import reference_features

SPLITS = ("train", "test", "all")
CIFAR_JPEG_CAVEAT = ("real images are the CIFAR-10 JPEG copy (quality 75, re-encoded): figures are NOT comparable "
                     "with published CIFAR-10 numbers")


def cifar_jpeg_caveat(*texts: Optional[str]) -> Optional[str]:
    """The caveat when the real data is the shared CIFAR-10 JPEG copy."""
    return CIFAR_JPEG_CAVEAT if any(t and "cifar10-jpeg" in str(t) for t in texts) else None


def real_indices(n_images: int, split: str, holdout: Optional[int], running: int, split_seed: int,
                 n: Optional[int] = None, seed: int = 0):
    """Indices of the real images and a description of where they came from.

    ``train``: the images the GAN trained on (the convention for FID); ``test``: the held-out
    final test set of the reconstruction metric, never trained on; ``all``: every image.
    ``n`` below the split's size takes a seeded random subset.
    """
    from ..data import holdout_split

    if split not in SPLITS:
        raise GannormError(f"real split must be one of {', '.join(SPLITS)}, got {split!r}")
    if split == "all":
        idx, what = np.arange(n_images), "all images"
    else:
        sp = holdout_split(n_images, holdout, running, split_seed)
        idx = sp.train if split == "train" else np.sort(sp.final_test)
        what = ("training split" if split == "train" else "held-out final test split") + f" (split_seed {split_seed})"
    if n is not None:
        if n < 1:
            raise GannormError(f"the number of real images must be >= 1, got {n}")
        if n < len(idx):
            idx = np.sort(np.random.RandomState(seed).choice(idx, n, replace=False))
            what += f", random {n} (seed {seed})"
    return idx, what


def evaluate_generator(generator: torch.nn.Module, real_images: np.ndarray, *, metrics: Sequence[str],
                       extractor: str | FeatureExtractor = "efficientnet_lite0", n_gen: int = 10_000,
                       dataset: str = "", real_split: str = "", seed: int = 0, batch_size: int = 64,
                       device: Optional[torch.device] = None, kid_subsets: int = 100, kid_subset_size: int = 1000,
                       use_cache: bool = True, progress: ProgressArg = False) -> List[Dict]:
    """Compute ``metrics`` (fid, kid, is, pr) of G's samples against ``real_images`` (uint8 N,C,H,W).

    Returns one record per metric; warnings (too few samples, reduced KID subsets) are raised
    as ``FidelityWarning`` and also stored in the records.
    """
    metrics = [m.lower() for m in metrics]
    for m in metrics:
        if m not in FIDELITY_METRICS:
            raise GannormError(f"unknown sample-quality metric {m!r}; valid: {', '.join(FIDELITY_METRICS)}")
    ext = extractor if isinstance(extractor, FeatureExtractor) else build_extractor(extractor, device or "cpu")
    dev = device or next(ext.parameters()).device
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FidelityWarning)
        need_real = any(m != "is" for m in metrics)
        real, cached, cache_file = (reference_features(ext, real_images, dataset=dataset, split=real_split,
                                                       batch_size=batch_size, use_cache=use_cache, progress=progress)
                                    if need_real else (None, False, None))
        feats, logits = extract_generated(ext, generator, n_gen, batch_size, seed, dev, progress)
        gen = FeatureSet(features=feats, logits=logits)
        results = {}
        for m in metrics:
            opts = {"kid": {"subsets": kid_subsets, "subset_size": kid_subset_size, "seed": seed}}.get(m, {})
            results[m] = METRICS.get(m)(real, gen, **opts)
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
        r = results[m]
        value = {"fid": "fid", "kid": "kid", "is": "is", "pr": "precision"}[m]
        records.append({"metric": m, "value": r[value], **{k: v for k, v in r.items() if k != value}, **base})
        if m == "is":
            records[-1].update(n_real=None, real_split=None)
    return records


def format_record(r: Dict) -> str:
    """One line: the figure and everything it depends on."""
    m = r["metric"]
    if m == "fid":
        fig = f"FID {r['value']:.4g}"
    elif m == "kid":
        fig = f"KID {r['value']:.4g} +- {r['kid_std']:.2g} ({r['kid_subsets']} subsets of {r['kid_subset_size']})"
    elif m == "is":
        fig = f"IS {r['value']:.4g} +- {r['is_std']:.2g} ({r['is_splits']} splits)"
    else:
        fig = f"precision {r['value']:.3f}, recall {r['recall']:.3f} (k={r['pr_k']})"
    real = f" vs {r['n_real']} real ({r['real_split']})" if r.get("n_real") else ""
    line = (f"{fig}  [extractor {r['extractor']}; {r['n_gen']} generated{real}; {r['dataset']}; "
            f"preprocessing: {r['preprocessing']}]")
    if r.get("caveat"):
        line += f"  NOTE: {r['caveat']}"
    return line


def evaluate_run(run_dir, *, metrics: Sequence[str], checkpoint: str = "latest", extractor: str = "efficientnet_lite0",
                 n_gen: int = 10_000, n_real: Optional[int] = None, real_split: str = "train", seed: int = 0,
                 batch_size: int = 64, kid_subsets: int = 100, kid_subset_size: int = 1000, use_cache: bool = True,
                 progress: ProgressArg = False, ema: bool = True):
    """Evaluate a run's generator; write ``RUN/eval/fidelity-*.json``. Returns (records, path)."""
    from ..training.load import load_generator as _load_generator
    from ..training import RunDir
    from ..utils.io import atomic_write_text

    if checkpoint == "best" and not RunDir.existing(run_dir).best.exists():
        checkpoint = "latest"  # runs without a running test have no best.pt
    run, cfg, state, data, g, used_ema = _load_generator(run_dir, checkpoint, ema=ema)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    g.to(device)
    idx, where = real_indices(len(data), real_split, cfg.data.holdout, cfg.data.running_holdout,
                              cfg.data.split_seed, n_real, seed)
    dataset = f"{data.description} [data.name={cfg.data.name}, data.root={cfg.data.root}]"
    records = evaluate_generator(g, data.images[idx], metrics=metrics, extractor=extractor, n_gen=n_gen,
                                 dataset=dataset, real_split=f"{real_split}: {where}", seed=seed,
                                 batch_size=batch_size, kid_subsets=kid_subsets, kid_subset_size=kid_subset_size,
                                 use_cache=use_cache, progress=progress, device=device)
    for r in records:
        r.update(checkpoint=checkpoint, iteration=int(state["iteration"]), generator="EMA" if used_ema else "G")
    ext_tag = "".join(c if c.isalnum() else "_" for c in extractor.split(":")[0])
    path = run.eval / f"fidelity-{checkpoint.replace('/', '_')}-{ext_tag}-{n_gen}gen-{real_split}.json"
    atomic_write_text(path, json.dumps(records, indent=1))
    return records, path


def evaluate_run_lines(run_dir, progress: ProgressArg = "auto", **kwargs) -> List[str]:
    """``evaluate_run`` for the CLI: the lines to print (warnings, one line per figure, the file)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FidelityWarning)  # printed below from the records, once
        records, path = evaluate_run(run_dir, progress=progress, **kwargs)
    lines = [f"warning: {w}" for w in records[0]["warnings"]]
    lines += [format_record(r) for r in records]
    lines.append(f"-> {path}")
    return lines


# ----------------------------------------------------------------------------- during training

_STATE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def periodic_fidelity(trainer, it: int, last: bool) -> Dict[str, float]:
    """The trainer's hook: every ``eval.metrics_interval`` iterations (and at the last one),
    compute ``eval.metrics`` with ``eval.extractor`` on ``eval.metrics_n`` samples; returns the
    values to log (``fid_<extractor>``, ...) and appends full records to
    ``RUN/eval/fidelity-training.jsonl``."""
    ev = trainer.cfg.eval
    if not ev.metrics or not ev.metrics_interval or not (it % ev.metrics_interval == 0 or last):
        return {}
    st = _STATE.get(trainer)
    if st is None:
        idx, where = real_indices(len(trainer.data), ev.metrics_real_split, trainer.cfg.data.holdout,
                                  trainer.cfg.data.running_holdout, trainer.cfg.data.split_seed, ev.metrics_n,
                                  trainer.cfg.train.seed)
        st = _STATE[trainer] = {"ext": build_extractor(ev.extractor, trainer.device),
                                "real": trainer.data.images[idx], "where": where}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FidelityWarning)  # recorded in the jsonl; not once per interval
        records = evaluate_generator(trainer.sample_generator, st["real"], metrics=ev.metrics, extractor=st["ext"],
                                     n_gen=ev.metrics_n, dataset=trainer.data.description,
                                     real_split=f"{ev.metrics_real_split}: {st['where']}",
                                     seed=trainer.cfg.train.seed + it, device=trainer.device)
    tag = ev.extractor.split(":")[0]
    out = {}
    with open(trainer.run.eval / "fidelity-training.jsonl", "a") as f:
        for r in records:
            f.write(json.dumps({"iteration": it, **r}) + "\n")
            out[f"{r['metric'] if r['metric'] != 'pr' else 'precision'}_{tag}"] = r["value"]
            if r["metric"] == "pr":
                out[f"recall_{tag}"] = r["recall"]
    return out


def validate_settings(ev) -> None:
    """Config validation of the eval.metrics* fields (names only; no weights are loaded)."""
    from .extractors import validate_spec

    for m in ev.metrics:
        if m not in FIDELITY_METRICS:
            raise GannormError(f"eval.metrics: unknown metric {m!r}; valid: {', '.join(FIDELITY_METRICS)}")
    if ev.metrics_real_split not in SPLITS:
        raise GannormError(f"eval.metrics_real_split must be one of {', '.join(SPLITS)}, got {ev.metrics_real_split!r}")
    if ev.metrics_interval < 0 or ev.metrics_n < 2:
        raise GannormError(f"eval.metrics_interval must be >= 0 and eval.metrics_n >= 2, got "
                           f"{ev.metrics_interval} and {ev.metrics_n}")
    validate_spec(ev.extractor)
