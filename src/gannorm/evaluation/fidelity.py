"""``gannorm eval RUN --fid/--kid/--is/--pr``: sample-quality figures of a run's generator.

The generator comes from its checkpoint alone; the real images (FID/KID/PR) are read only
when a metric asks for them. Records go to ``RUN/eval/`` (or ``<file>-eval/`` for an
exported generator) under a name made from every setting that changes the figures.
"""
from __future__ import annotations

import json
import warnings
from typing import Any, Callable, List, Mapping, Optional, Sequence

import torch

from ..config import DEFAULT_EXTRACTOR, EVAL_N_GEN, options_dict
from ..registry import METRICS
from ..metrics.evaluate import check_settings, evaluate_generator, format_record
from ..metrics.extractors import build_extractor
from ..metrics.fidelity import FidelityWarning
from ..metrics.refstats import images_digest
from ..utils.io import atomic_write_text
from ..utils.progress import ProgressArg
from .generator import DEFAULT_CHECKPOINT, open_generator
from .real_images import load_real_images, real_indices
from .results import result_path, slug


def evaluate_run(run_dir, *, metrics: Sequence[str], options: Optional[Mapping[str, Any]] = None,
                 checkpoint: str = DEFAULT_CHECKPOINT, extractor: str = DEFAULT_EXTRACTOR, n_gen: int = EVAL_N_GEN,
                 n_real: Optional[int] = None, real_split: str = "train", seed: int = 0, batch_size: int = 64,
                 use_cache: bool = True, progress: ProgressArg = False, ema: bool = True,
                 device: Optional[torch.device] = None, data_root: Optional[str] = None,
                 options_where: str = "--metric-opt {m}", log: Callable[[str], None] = lambda s: None):
    """Evaluate a run's (or an exported file's) generator; write the records. Returns (records, path).

    ``options``: ``{metric: {option: value}}``, checked against each metric's registered
    options before the generator is loaded (``options_where`` names them in errors)."""
    metrics = [m.lower() for m in metrics]
    opts = check_settings(metrics, n_real, n_gen, options, options_where)
    device = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
    lg = open_generator(run_dir, checkpoint, ema=ema, device=device, data_root=data_root)
    if lg.note:
        log(lg.note)
    cfg = lg.config
    real, dataset, split_text = None, lg.spec.get("data_description", ""), None
    if any(METRICS.attr(m, "needs_real", True) for m in metrics):
        data = load_real_images(lg.spec, cfg, data_root, log)
        idx, where = real_indices(len(data), real_split, cfg.data, n_real, seed)
        real = data.images[idx]
        dataset = f"{data.description} [data.name={cfg.data.name}, data.root={data_root or cfg.data.root}]"
        split_text = f"{real_split}: {where}"
    ext = build_extractor(extractor, device)
    records = evaluate_generator(lg.G, real, metrics=metrics, extractor=ext, n_gen=n_gen, dataset=dataset,
                                 real_split=split_text or "", seed=seed, batch_size=batch_size,
                                 options={m: options_dict(o) for m, o in opts.items()}, use_cache=use_cache,
                                 progress=progress, device=device)
    for r in records:
        r.update(checkpoint=lg.checkpoint, checkpoint_file=str(lg.file), iteration=lg.iteration,
                 generator="EMA" if lg.used_ema else "G")
    settings = {"metrics": metrics, "file": lg.file.name, "iteration": lg.iteration, "ema": lg.used_ema,
                "extractor": extractor, "extractor_weights": ext.weights_id, "n_gen": n_gen, "seed": seed,
                # the very images compared with (not the data's description, which names caches)
                "real": [images_digest(real), split_text] if real is not None else None,
                "options": {m: options_dict(o) for m, o in opts.items() if o is not None}}
    kind, _, arg = extractor.partition(":")
    stem = (f"fidelity-{'+'.join(metrics)}-{lg.checkpoint}-it{lg.iteration}-{kind}{'_' + arg if arg.isdigit() else ''}-"
            f"{n_gen}gen" + (f"-{real_split}{len(real)}" if real is not None else ""))
    path = result_path(lg.out_dir, slug(stem), settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(records, indent=1))
    return records, path


def evaluate_run_lines(run_dir, log: Callable[[str], None] = lambda s: None, progress: ProgressArg = "auto",
                       **kwargs) -> List[str]:
    """``evaluate_run`` for the CLI: the lines to print (warnings, one line per figure, the file)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FidelityWarning)  # printed below from the records, once
        records, path = evaluate_run(run_dir, progress=progress, log=log, **kwargs)
    lines = [f"warning: {w}" for w in records[0]["warnings"]]
    lines += [format_record(r) + f"  ({r['generator']}, checkpoint {r['checkpoint']} @ iteration {r['iteration']})"
              for r in records]
    lines.append(f"-> {path}")
    return lines
