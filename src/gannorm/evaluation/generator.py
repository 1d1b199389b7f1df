"""A trained generator from a run directory, one of its checkpoints, or an exported file.

Checkpoints describe their generator (``training/generator_spec.py``), so rebuilding G needs
neither the run's config.yaml nor its data. ``export_generator`` writes the small file
``gannorm export`` makes: G's weights (the EMA copy by default) and that description, which
``load_generator`` reads with ``torch.load(weights_only=True)`` and which every command that
takes a run directory also takes.

Which checkpoint: ``best`` (lowest running reconstruction error, the paper's choice for the
final test) when the run has one, else ``latest``; a file name or path picks one.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Dict, Optional

import torch

from .. import config as config_mod
from ..data import load_data
from ..errors import GannormError
from ..nn.feature_norms import has_virtual_batch_norm, set_reference
from ..training.checkpoint import load_checkpoint
from ..training.generator_spec import build_generator, build_generator_for, check_spec, generator_spec, spec_config
from ..training.rundir import RunDir
from ..utils.io import atomic_torch_save

EXPORT_FORMAT = "gannorm-generator-1"
#: one rule for every command: the best checkpoint when the run has one, else the latest
DEFAULT_CHECKPOINT = "best"


@dataclass
class LoadedGenerator:
    G: torch.nn.Module  # in eval mode
    spec: Dict[str, Any]  # training/generator_spec.py
    config: config_mod.Config
    iteration: int
    used_ema: bool
    checkpoint: str  # "best", "latest", or the file name
    file: Path  # the file read
    run: Optional[RunDir]  # None for an exported file
    note: Optional[str] = None  # said once to the user (an older checkpoint format)

    @property
    def which(self) -> str:
        return f"{'EMA ' if self.used_ema else ''}generator, checkpoint {self.checkpoint} @ iteration {self.iteration}"

    @property
    def out_dir(self) -> Path:
        """Where results about this generator go: RUN/eval, or ``<file>-eval/`` beside an export."""
        return self.run.eval if self.run else self.file.with_name(self.file.stem + "-eval")


def is_run_dir(path: Path) -> bool:
    return path.is_dir() and ((path / "config.yaml").exists() or (path / "checkpoints").is_dir())


def resolve(path, checkpoint: str = DEFAULT_CHECKPOINT):
    """(run or None, the file to read, its label) for a run directory or a .pt file."""
    p = Path(path)
    if p.is_file():
        return None, p, p.name
    if not is_run_dir(p):
        what = "does not exist" if not p.exists() else "is neither a run directory nor a .pt file"
        raise GannormError(f"{path} {what}; give a run directory (with checkpoints/) or a file from "
                           f"`gannorm export`")
    run = RunDir(p)
    if checkpoint == "best" and not run.best.exists():
        checkpoint = "latest"  # runs without a running test have no best.pt
    f = run.checkpoint(checkpoint)
    return run, f, checkpoint if checkpoint in ("best", "latest") else f.name


def _read(file: Path, map_location) -> Dict[str, Any]:
    state = load_checkpoint(file, map_location=map_location)
    if not isinstance(state, dict) or not isinstance(state.get("G"), dict):
        raise GannormError(f"{file} is not a gannorm checkpoint or exported generator (no generator weights "
                           f"in it); give a run directory, RUN/checkpoints/*.pt, or a file from `gannorm export`")
    return state


def _spec_of_older(run: Optional[RunDir], file: Path, data_root: Optional[str]):
    """(spec, note) for a checkpoint written before checkpoints described their generator."""
    how = "`gannorm export RUN --out G.pt` with a newer gannorm where the run's config.yaml and data are present"
    if run is None or not run.config.exists():
        raise GannormError(f"{file} predates self-describing checkpoints and has no run directory (config.yaml) "
                           f"around it; re-export it: {how}")
    cfg = config_mod.load(run.config)
    data_cfg = cfg.data if data_root is None else replace(cfg.data, root=data_root)
    try:
        data = load_data(data_cfg, quiet=True)
    except GannormError as e:
        raise GannormError(f"{file} predates self-describing checkpoints and its run's data cannot be read "
                           f"to rebuild G ({e}); re-export it: {how}") from None
    spec = generator_spec(cfg, data, build_generator_for(cfg, data))
    note = (f"note: {file} predates self-describing checkpoints; G rebuilt from {run.config} and its data "
            f"({data.description}). `gannorm export {run.root} --out G.pt` writes a file that needs neither")
    return spec, note


def open_generator(path, checkpoint: str = DEFAULT_CHECKPOINT, *, ema: bool = True, device="cpu",
                   data_root: Optional[str] = None) -> LoadedGenerator:
    """G of a run directory's checkpoint (``best``/``latest``/file) or of a single .pt file,
    rebuilt from the checkpoint's own description; the EMA copy when ``ema`` and present."""
    run, file, label = resolve(path, checkpoint)
    state = _read(file, map_location=device)
    note = None
    if state.get("generator_spec") is None:
        spec, note = _spec_of_older(run, file, data_root)
    else:
        spec = check_spec(state["generator_spec"], str(file))
    g = build_generator(spec)
    if state.get("format") == EXPORT_FORMAT:
        weights, used_ema = state["G"], bool(state.get("ema"))
    else:
        used_ema = ema and state.get("G_ema") is not None
        weights = state["G_ema"] if used_ema else state["G"]
    try:
        g.load_state_dict(weights)
    except RuntimeError as e:
        raise GannormError(f"{file}: its generator weights do not fit the model its settings describe "
                           f"({str(e).splitlines()[0].strip()}); was it trained with another model config? "
                           f"Give the run directory it came from") from None
    if has_virtual_batch_norm(g):  # re-install the reference-batch hooks from the loaded buffer
        set_reference(g)
    g.to(device).eval()
    g.generator_spec = spec
    return LoadedGenerator(g, spec, spec_config(spec), int(state.get("iteration", 0)), used_ema, label, file,
                           run, note)


def load_generator(path, checkpoint: str = DEFAULT_CHECKPOINT, *, ema: bool = True, device="cpu") -> torch.nn.Module:
    """The trained G (eval mode, on ``device``) of a run directory, a checkpoint or an exported file.

    ``G(z)`` with ``z`` of shape (N, ``G.z_dim``) gives images in ``G.output_range``; a
    conditional G also takes ``y=labels``. ``G.generator_spec`` holds the image size,
    channels, classes and the settings it was trained with.
    """
    return open_generator(path, checkpoint, ema=ema, device=device).G


def export_generator(path, out, checkpoint: str = DEFAULT_CHECKPOINT, *, ema: bool = True,
                     log: Callable[[str], None] = lambda s: None) -> LoadedGenerator:
    """Write G's weights and description to ``out`` (loads with ``weights_only=True``)."""
    lg = open_generator(path, checkpoint, ema=ema)
    if lg.note:
        log(lg.note)
    state = {"format": EXPORT_FORMAT, "generator_spec": lg.spec, "iteration": lg.iteration, "ema": lg.used_ema,
             "source": f"{lg.file} ({lg.which})",
             "G": {k: v.detach().cpu().clone() for k, v in lg.G.state_dict().items()}}
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    atomic_torch_save(state, out)
    return lg
