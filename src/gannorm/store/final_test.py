"""What a study's final test measures, and the keys its results are stored under.

Study YAML::

    final_test:
      steps: 2000            # z-optimisation steps; default: each cell's eval.final_steps
      images: 2000           # held-out images; default: the whole held-out final set
      checkpoints: [best, latest]   # default [best], the authors' protocol
      ladder: [25, 50, 100, 200, 500, 1000, 2000]  # error recorded at these step budgets
      metrics: [fid, kid]    # sample-quality metrics (fid, kid, is, pr, dc); default none
      metric_options: {kid: {subset_size: 100}}   # per metric; default: its registered defaults
      extractor: efficientnet_lite0
      n_gen: 2000            # generated images per sample-quality metric
      n_real: null           # real images (default: all of real_split)
      real_split: train      # train (the images trained on) | all | test | validation

The defaults are the paper's protocol (Xiang & Li 2017): the best-running checkpoint scored
on the whole held-out set (2000 images) with the library's default final steps. Results are
stored per setting (``recon_key``, ``quality_key``: a metric's key names the options that
differ from its defaults), so changing the final test and running the study again scores
finished cells anew without retraining them, and keeps the old results beside the new ones.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from ..config import DEFAULT_EXTRACTOR, REAL_SPLITS, EvalConfig, changed_options, metric_options
from ..errors import GannormError
from ..metrics.extractors import validate_spec
from ..registry import EXTRACTORS

#: z-step budgets at which the final test records the mean error (up to its steps).
LADDER = (25, 50, 100, 200, 500, 1000, 2000)
#: the paper's final test set size (Xiang & Li 2017: 2000 held-out images)
PAPER_IMAGES = 2000
CHECKPOINTS = ("best", "latest")
KEYS = ("steps", "images", "checkpoints", "ladder", "metrics", "metric_options", "extractor", "n_gen", "n_real",
        "real_split")


@dataclass
class FinalTestSpec:
    steps: Optional[int] = None
    images: Optional[int] = None
    checkpoints: Tuple[str, ...] = ("best",)
    ladder: Tuple[int, ...] = LADDER
    metrics: Tuple[str, ...] = ()
    #: per metric, the options that differ from its registered defaults (validated by ``parse``)
    metric_options: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    extractor: str = DEFAULT_EXTRACTOR
    n_gen: int = 2000
    n_real: Optional[int] = None
    #: where the real images of the sample-quality metrics come from: ``train`` (the images the
    #: GAN trained on, the FID convention) or ``all`` (every image of the dataset, the ADA
    #: paper's choice for limited-data runs: Karras et al. 2020, section 3)
    real_split: str = "train"

    def steps_for(self, cfg) -> int:
        return int(self.steps or cfg.eval.final_steps)

    def budgets(self, steps: int) -> Tuple[List[int], List[int]]:
        """(kept, dropped): ladder budgets up to ``steps`` (plus ``steps`` itself), and those above."""
        kept = sorted({b for b in self.ladder if b <= steps} | {steps})
        return kept, sorted(b for b in self.ladder if b > steps)

    def recon_keys(self, cfg) -> List[str]:
        return [recon_key(c, self.steps_for(cfg), self.images) for c in self.checkpoints]

    def quality_key(self, checkpoint: str, metric: str) -> str:
        return quality_key(checkpoint, metric, self.extractor, self.n_gen, self.n_real,
                           self.metric_options.get(metric), self.real_split)

    def quality_keys(self) -> List[str]:
        return [self.quality_key(c, m) for c in self.checkpoints for m in self.metrics]

    def options_text(self, metric: str) -> str:
        """``subset_size=100``: the metric's options that differ from its defaults ('' if none)."""
        return ", ".join(f"{k}={v}" for k, v in sorted(self.metric_options.get(metric, {}).items()))

    def reduced(self, cfg, held_out: Optional[int] = None) -> List[str]:
        """How this test is smaller than the paper's protocol (empty when it is not)."""
        out = []
        default_steps = EvalConfig().final_steps
        if self.steps_for(cfg) < default_steps:
            out.append(f"{self.steps_for(cfg)} z-steps instead of the library default {default_steps}")
        n = self.images if self.images is not None else held_out
        if n is not None and n < PAPER_IMAGES:
            out.append(f"{n} held-out images instead of the paper's {PAPER_IMAGES}")
        return out

    def cli_args(self) -> List[str]:
        """How the study runner hands this spec to a cell process (``python -m gannorm.study.cell``)."""
        return ["--final-test", json.dumps(self.to_dict())]

    def to_dict(self) -> dict:
        """The one serialised form: what the store records (``meta study.final_test``) and what a
        cell process receives (``--final-test``); :meth:`from_dict` reads it back."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> "FinalTestSpec":
        """The inverse of :meth:`to_dict` (checked again as a study file's section is, since a
        store or a command line can be edited by hand); an empty ``checkpoints`` list means no
        final test (a tuning draw's cell)."""
        return parse(d, allow_none=True)


def recon_key(checkpoint: str, steps: int, images: Optional[int]) -> str:
    return f"recon|{checkpoint}|steps={steps}|images={images or 'all'}"


def quality_key(checkpoint: str, metric: str, extractor: str, n_gen: int, n_real: Optional[int],
                options: Optional[Dict[str, Any]] = None, real_split: str = "train") -> str:
    """The stored result's key; ``options``: those that differ from the metric's defaults, each
    named, and the real split when it is not ``train`` (so a result with the defaults keeps the
    key it had before metrics took options and before the split was a setting)."""
    extra = "".join(f"|{k}={v}" for k, v in sorted((options or {}).items()))
    split = "" if real_split == "train" else f"@{real_split}"
    return f"{metric}|{checkpoint}|{extractor}|gen={n_gen}|real={n_real or 'all'}{split}{extra}"


def parse(spec, allow_none: bool = False) -> FinalTestSpec:
    """A study's ``final_test`` mapping -> spec, checking every name before anything runs.
    ``allow_none``: an empty ``checkpoints`` list means no final test (what the runner hands
    a tuning draw's cell; a study file must name at least one checkpoint)."""
    spec = dict(spec or {})
    unknown = set(spec) - set(KEYS)
    if unknown:
        raise GannormError(f"unknown final_test key(s) {', '.join(sorted(unknown))}; valid: {', '.join(KEYS)}")
    out = FinalTestSpec()
    for k in ("steps", "images", "n_real"):
        if spec.get(k) is not None:
            v = spec[k]
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise GannormError(f"final_test.{k} must be a positive integer, got {v!r}")
            setattr(out, k, v)
    ckpts = _names(spec, "checkpoints", out.checkpoints)
    bad = [c for c in ckpts if c not in CHECKPOINTS]
    if bad or not (ckpts or allow_none):
        raise GannormError(f"final_test.checkpoints: unknown {bad or ckpts!r}; valid: {', '.join(CHECKPOINTS)}")
    out.checkpoints = tuple(dict.fromkeys(ckpts))
    ladder = spec.get("ladder", list(out.ladder))
    if not isinstance(ladder, list) or not all(isinstance(b, int) and not isinstance(b, bool) and b > 0 for b in ladder):
        raise GannormError(f"final_test.ladder must be a list of positive step counts, got {ladder!r}")
    out.ladder = tuple(sorted(set(ladder)))
    metrics = list(dict.fromkeys(m.lower() for m in _names(spec, "metrics", ())))
    opts = metric_options(metrics, spec.get("metric_options"), "final_test")
    out.metrics = tuple(metrics)
    out.metric_options = {m: c for m, o in opts.items() if (c := changed_options(o))}
    if "extractor" in spec:
        out.extractor = str(spec["extractor"])
        try:
            validate_spec(out.extractor)
        except GannormError:
            raise GannormError(f"final_test.extractor: unknown feature extractor {out.extractor!r}; valid: "
                               f"{', '.join(EXTRACTORS.names())} (with an optional :ARG)") from None
    if "real_split" in spec:
        if spec["real_split"] not in REAL_SPLITS:
            raise GannormError(f"final_test.real_split: unknown {spec['real_split']!r}; valid: {', '.join(REAL_SPLITS)}")
        out.real_split = spec["real_split"]
    if "n_gen" in spec:
        if not isinstance(spec["n_gen"], int) or spec["n_gen"] < 2:
            raise GannormError(f"final_test.n_gen must be an integer >= 2, got {spec['n_gen']!r}")
        out.n_gen = spec["n_gen"]
    return out


def _names(spec, key, default) -> List[str]:
    v = spec.get(key, list(default))
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, list):
        raise GannormError(f"final_test.{key} must be a list of names, got {v!r}")
    return [str(x) for x in v]


@dataclass
class Scored:
    """Which checkpoint a final test actually scored (a run may lack the one asked for)."""
    asked: str
    used: Optional[str]
    note: str = ""
    fields: dict = field(default_factory=dict)


def resolve_checkpoint(asked: str, have_best: bool, have_latest: bool) -> Scored:
    """``best`` without best.pt (no running test) scores ``latest`` and says so; ``latest``
    without latest.pt scores ``best``; neither: nothing to score."""
    have = {"best": have_best, "latest": have_latest}
    if have[asked]:
        return Scored(asked, asked)
    other = "latest" if asked == "best" else "best"
    if have[other]:
        return Scored(asked, other, f"no {asked} checkpoint in the run: scored the {other} one")
    return Scored(asked, None, "the run has no checkpoint to score")


def legacy_final(final_recon: float, steps: Optional[int], images: Optional[int], curve: List[float],
                 have_best: bool) -> Tuple[str, dict]:
    """A final result written by an earlier gannorm (one per run: the best checkpoint, falling
    back to the latest) as (key, entry), with its ladder read off the per-step curve."""
    used = "best" if have_best else "latest"
    budgets = FinalTestSpec().budgets(steps)[0] if steps else []
    return recon_key("best", steps, images), {
        "kind": "recon", "checkpoint": "best", "checkpoint_used": used, "steps": steps, "images": images,
        "n_images": images, "recon": final_recon,
        "note": "" if have_best else "no best checkpoint in the run: scored the latest one",
        "ladder": {str(b): float(curve[b]) for b in budgets if b < len(curve or [])}}
