"""One study cell, run in its own process: train (or resume, or nothing when finished), then
the final tests the study asks for that the run does not have yet, and the diversity.

    python -m gannorm.study.cell CONFIG.yaml RUN_DIR [--final-test JSON] [--diversity-samples N]
                                 [--until ITERATION]

RUN_DIR/result.json (written atomically) holds the training figures and cost, and one entry
per final-test setting (``final_test.recon_key`` / ``quality_key``), so a changed final test
adds entries and a finished run is never trained again. How the cell ended is written beside
it as ``outcome.json`` (``gannorm.outcomes``: ``done``, ``diverged`` on a non-finite loss,
``failed`` with the one-line reason), which the runner reads: nobody parses a log. With
``--until`` (a rung of successive halving) the cell trains to that iteration, saves its
checkpoint and exits 0 without an outcome: it is paused, not finished. A user error prints
one line on stderr and exits 2; divergence exits 3.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import torch

from .. import config as config_mod
from .. import outcomes
from .. import plugins  # noqa: F401  (fills the registries that validation asks)
from ..data import split_for
from ..errors import DivergedError, GannormError
from ..evaluation import evaluate_run, final_recon_test, load_real_images, make_trainer, open_generator
from ..metrics.fidelity import FidelityWarning
from ..registry import LOSSES
from ..training import RunDir
from ..training.checkpoint import load_checkpoint
from ..training.logging import read_metrics
from ..utils.io import atomic_write_text
from ..store import stability
from ..store.final_test import FinalTestSpec, recon_key, resolve_checkpoint
from .ingest import RESULT_VERSION, read_result
from ..utils.images import seeded_subset, unit_range

PAIRS = 8  # real / reconstruction pairs kept for the report


def _write(run_dir: Path, res: Dict) -> None:
    atomic_write_text(run_dir / "result.json", json.dumps(res, indent=1))


def _training(cfg, run_dir: Path, res: Dict, until: Optional[int] = None) -> Dict:
    """Train to cfg.train.iterations (or to ``until``) unless the checkpoint is there already;
    the figures and cost."""
    run = RunDir(run_dir)
    done_it = int(load_checkpoint(run.latest)["iteration"]) if run.latest.exists() else 0
    seconds = res.get("train_seconds")
    stop = cfg.train.iterations if until is None else min(until, cfg.train.iterations)
    if done_it < stop:
        before = (seconds or 0.0) if done_it > 0 else 0.0  # a resumed run adds to its earlier sessions
        t0 = time.perf_counter()
        trainer = make_trainer(cfg, run_dir, quiet=True, resume=run.latest.exists())
        try:
            trainer.train(until=until)
        finally:  # a diverged run's time counts too
            seconds = res["train_seconds"] = before + time.perf_counter() - t0
        done_it = trainer.iteration
    metrics = read_metrics(run.metrics) if run.metrics.exists() else []
    if seconds is None:  # trained before the cell recorded its time: from the logged rate
        seconds = stability.train_seconds(metrics)
    running = [(m["iteration"], float(m["recon_running"])) for m in metrics if "recon_running" in m]
    best = min(running, key=lambda r: r[1]) if running else (None, None)
    return {"iterations": done_it, "train_seconds": seconds,
            "it_per_s": done_it / seconds if seconds else None,
            "best_running": best[1], "best_iteration": best[0],
            "d_wins": stability.d_wins(metrics, _loss(cfg)),
            "worse_count": stability.worse_count([v for _, v in running])}


def _loss(cfg):
    return LOSSES.build(cfg.train.loss, **(cfg.train.loss_args or {}))


class _RunImages:
    """The run's real images at G's size, read once per cell (the pairs of every checkpoint
    and the diversity use the same data)."""

    def __init__(self, run_dir: Path, cfg):
        self.run_dir, self.cfg, self._data = run_dir, cfg, None

    @property
    def data(self):
        if self._data is None:
            self._data = load_real_images(open_generator(self.run_dir, "latest").spec, self.cfg)
        return self._data


def _checkpoint_iterations(res: Dict) -> Dict[str, Optional[int]]:
    """The iteration of each checkpoint, from the training figures: latest.pt is the last
    iteration trained; best.pt was written by the first running test with the lowest error."""
    return {"best": res.get("best_iteration"), "latest": res.get("iterations")}


def _recon(run_dir: Path, spec: FinalTestSpec, cfg, asked: str, have: Dict, images: _RunImages,
           iterations: Dict[str, Optional[int]]) -> Dict:
    steps = spec.steps_for(cfg)
    run = RunDir(run_dir)
    sc = resolve_checkpoint(asked, run.best.exists(), run.latest.exists())
    entry = {"kind": "recon", "checkpoint": asked, "checkpoint_used": sc.used, "note": sc.note,
             "steps": steps, "images": spec.images}
    if sc.used is None:
        return entry
    iteration = iterations.get(sc.used)
    same = next((e for e in have.values() if e.get("kind") == "recon" and "recon" in e
                 and e.get("steps") == steps and e.get("images") == spec.images
                 and (e.get("checkpoint_used") == sc.used
                      or (iteration is not None and e.get("checkpoint_iteration") == iteration))), None)
    if same:  # the same file, or best.pt and latest.pt of one iteration (the same weights): score once
        note = sc.note or ("" if same.get("checkpoint_used") == sc.used else
                           f"best and latest are both iteration {iteration}: scored once")
        return {**same, "checkpoint": asked, "checkpoint_used": sc.used, "note": note}
    t0 = time.perf_counter()
    ft = final_recon_test(run_dir, steps=steps, checkpoint=sc.used, n_images=spec.images)
    kept, dropped = spec.budgets(steps)
    entry.update(recon=ft.result.mean, n_images=int(ft.result.per_image.numel()),
                 checkpoint_iteration=ft.iteration,
                 ladder={str(b): float(ft.result.curve[b]) for b in kept},
                 dropped_budgets=dropped, seconds=time.perf_counter() - t0, json=str(ft.json_path))
    _save_pairs(run_dir, sc.used, ft.result.z[:PAIRS], cfg, images)
    return entry


def _save_pairs(run_dir: Path, checkpoint: str, z: torch.Tensor, cfg, images: _RunImages) -> None:
    """The first held-out images and their reconstructions, for the report's labelled pairs."""
    g, data = open_generator(run_dir, checkpoint, ema=False).G, images.data
    split = split_for(cfg.data, len(data))
    real = np.ascontiguousarray(data.images[split.final_test[:len(z)]])
    with torch.no_grad():
        rec = unit_range(g(z.to(next(g.parameters()).device)), getattr(g, "output_range", (0.0, 1.0))).cpu()
    out = Path(run_dir) / "final"
    out.mkdir(exist_ok=True)
    np.savez_compressed(out / f"pairs-{checkpoint}.npz", real=real, recon=(rec * 255).round().byte().numpy())


def _quality(run_dir: Path, spec: FinalTestSpec, asked: str, metrics: List[str]) -> Dict[str, Dict]:
    """Sample-quality metrics of one checkpoint; a metric that cannot be computed for this run
    (too few images, ...) is recorded with its reason and the others still go."""
    run = RunDir(run_dir)
    sc = resolve_checkpoint(asked, run.best.exists(), run.latest.exists())
    base = {"kind": "quality", "checkpoint": asked, "checkpoint_used": sc.used, "note": sc.note,
            "extractor": spec.extractor, "n_gen": spec.n_gen, "n_real": spec.n_real,
            "real_split": spec.real_split}
    out = {}
    if sc.used is None:
        return {spec.quality_key(asked, m): {**base, "metric": m, "error": sc.note} for m in metrics}
    groups = [metrics] if len(metrics) > 1 else []
    groups += [[m] for m in metrics]
    for group in groups:
        if all(spec.quality_key(asked, m) in out for m in group):
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FidelityWarning)  # kept in each record's "warnings"
                records, _ = evaluate_run(run_dir, metrics=group, checkpoint=sc.used, extractor=spec.extractor,
                                          n_gen=spec.n_gen, n_real=spec.n_real, real_split=spec.real_split,
                                          options={m: spec.metric_options[m] for m in group if m in spec.metric_options},
                                          options_where="final_test.metric_options.{m}")
        except GannormError as e:
            if len(group) == 1:
                out[spec.quality_key(asked, group[0])] = {**base, "metric": group[0], "error": str(e)}
            continue  # all at once failed: each on its own finds the one that cannot be computed
        for r in records:
            out[spec.quality_key(asked, r["metric"])] = {**base, "metric": r["metric"], "value": r["value"], "record": r}
    return out


def _diversity(run_dir: Path, cfg, n: int, images: _RunImages) -> float:
    """Diversity of the final (EMA) generator against real training images, both on [0,1]."""
    g, data = open_generator(run_dir, "latest", ema=True).G, images.data
    with torch.no_grad():
        z = torch.randn(n, g.z_dim, generator=torch.Generator().manual_seed(0))
        fake = unit_range(g(z.to(next(g.parameters()).device)), getattr(g, "output_range", (0.0, 1.0))).cpu()
    pick = seeded_subset(split_for(cfg.data, len(data)).train, n, seed=0)
    real = torch.from_numpy(np.ascontiguousarray(data.images[pick])).float() / 255
    return stability.diversity_ratio(fake, real)


def run_cell(config_path: str, run_dir: str, spec: Optional[FinalTestSpec] = None,
             diversity_samples: int = 256, until: Optional[int] = None) -> Dict:
    """Train (to ``until`` only: a paused cell, no final tests) and test one cell. Its
    ``outcome.json`` is removed at the start and written at the end (``done``; ``diverged``
    on a non-finite loss, which is raised again), so what is there is this attempt's."""
    spec = spec or FinalTestSpec()
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / outcomes.FILENAME).unlink(missing_ok=True)
    res = read_result(run_dir)
    res.update(version=RESULT_VERSION, status="running", error=None)
    res.setdefault("finals", {})
    _write(run_dir, res)  # from here on a stale status cannot be mistaken for this attempt's
    cfg = config_mod.load(config_path)
    t0 = time.perf_counter()
    before = res.get("iterations")
    try:
        res.update(_training(cfg, run_dir, res, until))
        if res["iterations"] != before:  # the model changed: earlier final tests describe another one
            res.update(finals={}, diversity=None)
    except DivergedError as e:
        metrics = read_metrics(RunDir(run_dir).metrics) if RunDir(run_dir).metrics.exists() else []
        res.update(status="diverged", error=str(e), train_seconds=res.get("train_seconds"))
        _write(run_dir, res)
        outcomes.write(run_dir, outcomes.Outcome(outcomes.DIVERGED, str(e).splitlines()[0],
                                                 iteration=metrics[-1]["iteration"] if metrics else None))
        raise
    if until is not None and res["iterations"] < cfg.train.iterations:
        res.update(status="paused")
        _write(run_dir, res)
        return res
    finals = res["finals"]
    images = _RunImages(run_dir, cfg)
    for asked in spec.checkpoints:
        key = recon_key(asked, spec.steps_for(cfg), spec.images)
        if "recon" not in finals.get(key, {}):
            finals[key] = _recon(run_dir, spec, cfg, asked, finals, images, _checkpoint_iterations(res))
            _write(run_dir, res)  # each finished test is kept even if a later one is interrupted
        missing = [m for m in spec.metrics if "value" not in finals.get(spec.quality_key(asked, m), {})]
        if missing:
            finals.update(_quality(run_dir, spec, asked, missing))
            _write(run_dir, res)
    if res.get("diversity") is None:
        res["diversity"] = _diversity(run_dir, cfg, diversity_samples, images)
    res.update(status="done", cell_seconds=time.perf_counter() - t0)
    _write(run_dir, res)
    outcomes.write(run_dir, outcomes.Outcome(outcomes.DONE, iteration=res["iterations"]))
    return res


def run_logged(config_path: str, run_dir: str, spec: Optional[FinalTestSpec] = None,
               diversity_samples: int = 256, say=print, until: Optional[int] = None) -> Dict:
    """``run_cell`` with a line at the start (resumed or not) and one at the end, for the cell's log."""
    latest = RunDir(run_dir).latest
    start = f"resuming from its last checkpoint ({latest})" if latest.exists() else "from scratch"
    say(f"cell {run_dir}: config {config_path}, {start}" + (f", to iteration {until}" if until else ""), flush=True)
    out = run_cell(config_path, run_dir, spec, diversity_samples, until)
    if out["status"] == "paused":
        say(f"paused at iteration {out['iterations']} ({out.get('train_seconds') or 0:.1f} s of training)", flush=True)
        return out
    recon = [f"{e['recon']:.5f} ({e['checkpoint']}, {e.get('n_images')} held-out images, {e['steps']} steps)"
             for e in out["finals"].values() if e.get("kind") == "recon" and e.get("recon") is not None]
    say(f"done: {out['iterations']} iterations in {out.get('train_seconds') or 0:.1f} s of training; "
        f"final test {'; '.join(recon) or 'none'}; diversity {out['diversity']:.3f}", flush=True)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("config")
    ap.add_argument("run_dir")
    ap.add_argument("--final-test", default="{}", help="the study's final_test as JSON")
    ap.add_argument("--diversity-samples", type=int, default=256)
    ap.add_argument("--until", type=int, default=None, help="train to this iteration only (a halving rung)")
    a = ap.parse_args(argv)
    try:
        run_logged(a.config, a.run_dir, FinalTestSpec.from_dict(json.loads(a.final_test)), a.diversity_samples, until=a.until)
    except DivergedError as e:  # its outcome is written by run_cell
        print(f"gannorm: error: {e}", file=sys.stderr)
        sys.exit(3)
    except GannormError as e:
        _failed(a.run_dir, str(e))
        print(f"gannorm: error: {e}", file=sys.stderr)
        sys.exit(2)
    except Exception as e:  # a bug: its traceback goes to the log, its one line to the outcome
        _failed(a.run_dir, f"{type(e).__name__}: {e}")
        raise


def _failed(run_dir: str, reason: str) -> None:
    try:
        outcomes.write(run_dir, outcomes.Outcome(outcomes.FAILED, (reason.strip().splitlines() or ["error"])[0]))
    except OSError:  # a full disk or a vanished directory: the runner falls back on the exit status
        pass


if __name__ == "__main__":
    main()
