"""Where training numbers go: metrics.jsonl (one line per logged step), TensorBoard, tqdm.

TensorBoard gets the scalars, the sample grids (images), the resolved config (text) and, at
the end, the run's settings as hparams beside its final metrics, so runs compare in its
HPARAMS tab.
"""
from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from ..errors import GannormError
from ..utils.io import atomic_write_text


class MetricsLog:
    """Append-only JSON lines; on resume, lines past the checkpoint are dropped first (by an
    atomic rewrite: a kill during it leaves the old file whole)."""

    def __init__(self, path: Path, resume_iteration: int | None = None, tensorboard_dir: Path | None = None,
                 config_text: Optional[str] = None, mlflow=None):
        self.path = Path(path)
        self.mlflow = mlflow  # a gannorm.training.mlflow_log.MLflowSink, or None
        self._tb_dir = tensorboard_dir
        if resume_iteration is not None and self.path.exists():
            keep = [line for line, rec in _read_lines(self.path) if rec.get("iteration", 0) <= resume_iteration]
            atomic_write_text(self.path, "".join(line + "\n" for line in keep))
        self._f = open(self.path, "a" if resume_iteration is not None else "w", buffering=1)
        self.last: Dict[str, float] = {}  # the newest value of every logged key
        self.tb = None
        if tensorboard_dir is not None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as e:  # a dependency, but a broken install should not stop training
                warnings.warn(f"TensorBoard logging is off ({e}); metrics.jsonl is still written. "
                              f"Install it with: pip install tensorboard", RuntimeWarning, stacklevel=2)
            else:
                self.tb = SummaryWriter(str(tensorboard_dir),
                                        purge_step=None if resume_iteration is None else resume_iteration + 1)
                if config_text is not None:
                    # indented: TensorBoard renders text as markdown, and YAML needs its layout
                    self.tb.add_text("config", "".join(f"    {l}\n" for l in config_text.splitlines()),
                                     resume_iteration or 0)

    def log(self, iteration: int, values: Dict[str, float]) -> None:
        rec = {"iteration": iteration}
        for k, v in values.items():
            v = self.last[k] = float(v)
            rec[k] = v if math.isfinite(v) else str(v)
        self._f.write(json.dumps(rec) + "\n")
        if self.tb is not None:
            for k, v in values.items():
                self.tb.add_scalar(k, float(v), iteration)
        if self.mlflow is not None:
            self.mlflow.log(iteration, {k: v for k, v in rec.items() if k != "iteration" and not isinstance(v, str)})

    def event(self, kind: str, signal: str, iteration: int, line: str) -> None:
        """A health warning, its clearing or the guard's action, as TensorBoard text."""
        if self.tb is not None:
            self.tb.add_text(f"health/{kind}", line, iteration)

    def rewind(self, iteration: int) -> None:
        """Continue from ``iteration`` (the guard rolled the run back): later lines of
        metrics.jsonl are dropped, TensorBoard's later points purged."""
        self._f.close()
        keep = [line for line, rec in _read_lines(self.path) if rec.get("iteration", 0) <= iteration]
        atomic_write_text(self.path, "".join(line + "\n" for line in keep))
        self._f = open(self.path, "a", buffering=1)
        if self.tb is not None:
            from torch.utils.tensorboard import SummaryWriter

            self.tb.close()
            self.tb = SummaryWriter(str(self._tb_dir), purge_step=iteration + 1)

    def artifacts(self, paths, folder: str) -> None:
        """Files (checkpoints) into MLflow's artifacts of the run."""
        if self.mlflow is not None:
            self.mlflow.artifacts(paths, folder)

    def image(self, tag: str, png: Path, iteration: int) -> None:
        """A written image file (a sample grid) into TensorBoard (and MLflow's artifacts)."""
        if self.mlflow is not None:
            self.mlflow.artifact(png, tag)
        if self.tb is None:
            return
        import numpy as np
        from PIL import Image

        with Image.open(png) as im:
            self.tb.add_image(tag, np.asarray(im.convert("RGB")), iteration, dataformats="HWC")

    def hparams(self, settings: Dict[str, Any], metrics: Dict[str, float]) -> None:
        """The run's settings (flattened config, ``section.key``) with its final metrics."""
        if self.tb is None:
            return
        flat = {f"{section}.{k}": v if isinstance(v, (bool, int, float, str)) else json.dumps(v)
                for section, fields in settings.items() for k, v in fields.items()}
        final = {f"final/{k}": float(v) for k, v in metrics.items() if v is not None and math.isfinite(float(v))}
        self.tb.add_hparams(flat, final, run_name=".")

    def close(self) -> None:
        self._f.close()
        if self.tb is not None:
            self.tb.close()
        if self.mlflow is not None:
            self.mlflow.close()


def _read_lines(path: Path) -> List[Tuple[str, Dict]]:
    """(line, record) of every complete line. A damaged last line (a kill or a full disk
    while it was written) is dropped with a warning; damage before it is an error naming the line."""
    with open(path, encoding="utf-8", errors="replace", newline="\n") as f:
        lines = f.read().split("\n")
    complete = lines[:-1]  # what follows the last newline was never finished
    partial = lines[-1]
    out = []
    for n, line in enumerate(complete, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            if not isinstance(rec, dict):
                raise ValueError("not a JSON object")
        except ValueError as e:
            if n == len(complete) and not partial:
                partial = line
                break
            raise GannormError(f"{path} line {n} is damaged ({str(e)[:80]}): {line[:60]!r}...; repair or delete "
                               f"that line (every later line is kept) and run again") from None
        out.append((line, rec))
    if partial.strip():
        warnings.warn(f"{path}: dropped an unfinished last line ({len(partial)} characters, from an interrupted "
                      f"write)", stacklevel=3)
    return out


def read_metrics(path: str | os.PathLike) -> List[Dict]:
    """The records of metrics.jsonl (see ``_read_lines`` for damaged lines)."""
    return [rec for _, rec in _read_lines(Path(path))]
