"""Sample-quality metrics during training (``eval.metrics`` every ``eval.metrics_interval``).

The trainer runs whatever callables it is given at its sync points; ``make_trainer`` gives
it ``PeriodicFidelity`` when the config asks for metrics, so the training loop itself never
imports the evaluation built on top of it.
"""
from __future__ import annotations

import json
import warnings
from typing import Dict

from ..registry import METRICS
from ..metrics.evaluate import evaluate_generator
from ..metrics.extractors import build_extractor
from ..metrics.fidelity import FidelityWarning
from ..training import Trainer
from .real_images import real_indices


class PeriodicFidelity:
    """Every ``eval.metrics_interval`` iterations (and at the last one), ``eval.metrics`` (with
    ``eval.metric_options``) with ``eval.extractor`` on ``eval.metrics_n`` samples; returns the values to log
    (``<result key>_<extractor>``, e.g. ``fid_domain``, ``recall_domain``) and appends the
    full records to ``RUN/eval/fidelity-training.jsonl``."""

    def __init__(self):
        self._state = None  # extractor and real images, made at the first evaluation

    def __call__(self, trainer, it: int, last: bool) -> Dict[str, float]:
        ev = trainer.cfg.eval
        if not ev.metrics or not ev.metrics_interval or not (it % ev.metrics_interval == 0 or last):
            return {}
        if self._state is None:
            d = trainer.cfg.data
            idx, where = real_indices(len(trainer.data), ev.metrics_real_split, d, ev.metrics_n,
                                      trainer.cfg.train.seed)
            self._state = {"ext": build_extractor(ev.extractor, trainer.device),
                           "real": trainer.data.images[idx], "where": where}
        st = self._state
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FidelityWarning)  # recorded in the jsonl; not once per interval
            records = evaluate_generator(trainer.sample_generator, st["real"], metrics=ev.metrics,
                                         options=ev.metric_options, extractor=st["ext"], n_gen=ev.metrics_n,
                                         dataset=trainer.data.description,
                                         real_split=f"{ev.metrics_real_split}: {st['where']}",
                                         seed=trainer.cfg.train.seed + it, device=trainer.device)
        tag = ev.extractor.split(":")[0]
        out = {}
        with open(trainer.run.eval / "fidelity-training.jsonl", "a") as f:
            for r in records:
                f.write(json.dumps({"iteration": it, **r}) + "\n")
                key = METRICS.attr(r["metric"], "key", r["metric"])
                for name in METRICS.attr(r["metric"], "logged", (key,)):
                    out[f"{name}_{tag}"] = r["value"] if name == key else r[name]
        return out


def make_trainer(cfg, run_dir, **kwargs) -> Trainer:
    """A ``Trainer`` with the periodic evaluation that ``cfg.eval.metrics`` asks for."""
    periodic = [PeriodicFidelity()] if cfg.eval.metrics else []
    return Trainer(cfg, run_dir, periodic=periodic, **kwargs)
