"""Reference statistics of real images, cached to a file so repeated evaluations skip them.

The file holds the mean and covariance (FID) and the features themselves (KID and
precision/recall need them), keyed by dataset, split, feature extractor (name and weights
digest), image count and a digest of the very images used, so a changed dataset or other
weights can never be served stale numbers. Files live under
``$GANNORM_CACHE/refstats/`` (default ``~/.cache/gannorm``) and load with
``torch.load(weights_only=True)``.
"""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import zipfile
from pathlib import Path
from typing import Dict, Optional

import numpy as np
import torch

from ..utils.io import atomic_torch_save
from ..utils.progress import ProgressArg
from .extractors import FeatureExtractor
from .features import extract_images
from .fidelity import FeatureSet, feature_statistics

FORMAT = "gannorm-refstats-1"


def images_digest(images: np.ndarray, chunk: int = 4096) -> str:
    h = hashlib.sha256(str(tuple(images.shape)).encode())
    for s in range(0, len(images), chunk):
        h.update(np.ascontiguousarray(images[s:s + chunk]).tobytes())
    return h.hexdigest()[:16]


def cache_root() -> Path:
    # the same root as the data caches ($GANNORM_CACHE), spelled out to keep metrics independent of data/
    return Path(os.environ.get("GANNORM_CACHE", Path.home() / ".cache" / "gannorm")) / "refstats"


def cache_key(dataset: str, split: str, extractor: FeatureExtractor, n: int, digest: str) -> Dict:
    return {"dataset": dataset, "split": split, "extractor": extractor.name,
            "extractor_weights": extractor.weights_id, "n": int(n), "images": digest}


def cache_path(key: Dict, root: Optional[Path] = None) -> Path:
    slug = "".join(c if c.isalnum() else "_" for c in f"{key['split']}-{key['extractor'].split(':')[0]}-{key['n']}")
    h = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return (root or cache_root()) / f"{slug}-{h}.pt"


def _read_cache(path: Path) -> Optional[dict]:
    """The cache file's contents; None when absent, truncated or not ours (then recomputed and
    overwritten). Other failures (permissions, a full disk) are not a stale cache and propagate."""
    if not path.exists() or not zipfile.is_zipfile(path):  # torch.save writes a zip archive
        return None
    try:
        s = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError):  # damaged archive, or objects not ours
        return None
    return s if isinstance(s, dict) else None


def reference_features(extractor: FeatureExtractor, images: np.ndarray, *, dataset: str, split: str,
                       batch_size: int = 64, use_cache: bool = True, root: Optional[Path] = None,
                       progress: ProgressArg = False) -> tuple[FeatureSet, bool, Path]:
    """(features of the real ``images``, whether they came from the cache, the cache file)."""
    key = cache_key(dataset, split, extractor, len(images), images_digest(images))
    path = cache_path(key, root)
    s = _read_cache(path) if use_cache else None
    # a cache written before the class logits were kept (is_ratio needs them) is made again
    if s is not None and s.get("format") == FORMAT and s.get("key") == key and "logits" in s:
        return FeatureSet(features=s["features"], logits=s["logits"], mu=s["mu"].numpy(), sigma=s["sigma"].numpy(),
                          n=int(s["key"]["n"])), True, path
    feats, logits = extract_images(extractor, images, batch_size, progress=progress)
    mu, sigma = feature_statistics(feats)
    if use_cache:
        atomic_torch_save({"format": FORMAT, "key": key, "mu": torch.from_numpy(mu),
                           "sigma": torch.from_numpy(sigma), "features": feats, "logits": logits}, path)
    return FeatureSet(features=feats, logits=logits, mu=mu, sigma=sigma), False, path
