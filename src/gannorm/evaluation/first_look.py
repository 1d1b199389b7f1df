"""The sample-quality figure that ``gannorm train`` prints at the end of a run: the classifier
Inception Score of the final generator as a fraction of the real images' (``is_ratio`` with the
Fashion-MNIST classifier shipped with gannorm, ``fashion_mnist_cnn``).

It answers "do the samples look like garments yet?" objectively and in seconds: 1.0 means the
classifier is as sure of the samples' classes, and finds them as evenly spread over the ten
classes, as for real images. A confidence threshold alone cannot answer it (the classifier is
more confident on some noise images than on early samples, and far from always confident on
real ones); the IS ratio also rewards variety, and real images fix its scale.

The figure is a courtesy: when it cannot be computed (data that is not Fashion-MNIST, a missing
or damaged classifier file) the run still ends normally and the summary says why.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, Optional

import numpy as np
import torch

from ..data import ImageData
from ..errors import GannormError
from ..metrics.evaluate import evaluate_generator
from ..metrics.extractors import build_extractor
from ..utils.images import seeded_subset

EXTRACTOR = "fashion_mnist_cnn"
RESULT_FILE = "classifier_is.json"
#: what uniform noise scores with the shipped classifier (2,000 images against 2,000 real ones;
#: benchmarks/classifier_is.py measures it, and a test checks this value), printed for scale
NOISE_IS_RATIO = 0.14


def classifier_is(generator: torch.nn.Module, data: ImageData, *, n: int = 2000, seed: int = 0,
                  device: Optional[torch.device] = None, extractor: str = EXTRACTOR) -> Dict:
    """``{"available": True, "record": ...}`` with the ``is_ratio`` record of ``generator``
    against up to ``n`` real images of ``data`` (as many samples as real images), or
    ``{"available": False, "reason": ...}`` when the figure cannot be computed."""
    try:
        ext = build_extractor(extractor, device or "cpu")
    except Exception as e:  # the run is done whatever this figure's fate: say why it is missing
        return {"available": False, "reason": _reason(e)}
    classes = list(getattr(ext, "meta", {}).get("class_names", []))
    if data.images.shape[1] != ext.channels or list(data.class_names) != classes:
        return {"available": False,
                "reason": f"the classifier knows Fashion-MNIST's classes and this run's data is {data.description}; "
                          f"for other data train one (gannorm features train) and use "
                          f"gannorm eval RUN --is_ratio --extractor domain:PATH"}
    # a seeded subset of every image: IS describes the images, so which split they belong to does not matter
    idx = seeded_subset(len(data), n, seed)
    where = "all images" + (f", random {len(idx)} (seed {seed})" if len(idx) < len(data) else "")
    try:
        (record,) = evaluate_generator(generator, data.images[idx], metrics=["is_ratio"], extractor=ext,
                                       n_gen=len(idx), dataset=data.description, real_split=f"all: {where}",
                                       seed=seed, device=device, use_cache=False)
    except Exception as e:
        return {"available": False, "reason": _reason(e)}
    return {"available": True, "record": record}


def _reason(e: BaseException) -> str:
    text = str(e).splitlines()[0] if str(e) else ""
    return text if isinstance(e, GannormError) else f"{type(e).__name__}: {text}"[:300]


def summary_line(result: Dict) -> str:
    """One line for the end-of-training summary."""
    if not result["available"]:
        return f"sample quality (classifier IS): unavailable: {result['reason']}"
    r = result["record"]
    return (f"sample quality (classifier IS, {r['n_gen']} samples vs {r['n_real']} real images): "
            f"{r['value']:.2f} of the real images' score (IS {r['is']:.2f} vs {r['is_real']:.2f}; "
            f"1 = as real images, uniform noise {NOISE_IS_RATIO:.2f})")


def save_result(result: Dict, eval_dir: Path) -> Path:
    eval_dir.mkdir(parents=True, exist_ok=True)
    path = eval_dir / RESULT_FILE
    path.write_text(json.dumps(result, indent=1, default=lambda o: o.item() if isinstance(o, np.generic) else str(o)))
    return path
