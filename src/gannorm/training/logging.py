"""Where training numbers go: metrics.jsonl (one line per logged step), TensorBoard, tqdm."""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Dict


class MetricsLog:
    """Append-only JSON lines; on resume, lines past the checkpoint are dropped first."""

    def __init__(self, path: Path, resume_iteration: int | None = None, tensorboard_dir: Path | None = None):
        self.path = Path(path)
        if resume_iteration is not None and self.path.exists():
            keep = [l for l in self.path.read_text().splitlines()
                    if l.strip() and json.loads(l).get("iteration", 0) <= resume_iteration]
            self.path.write_text("".join(l + "\n" for l in keep))
        self._f = open(self.path, "a" if resume_iteration is not None else "w", buffering=1)
        self.tb = None
        if tensorboard_dir is not None:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(tensorboard_dir),
                                        purge_step=None if resume_iteration is None else resume_iteration + 1)
            except ImportError:  # tensorboard is a dependency, but keep training without it
                self.tb = None

    def log(self, iteration: int, values: Dict[str, float]) -> None:
        rec = {"iteration": iteration}
        for k, v in values.items():
            v = float(v)
            rec[k] = v if math.isfinite(v) else str(v)
        self._f.write(json.dumps(rec) + "\n")
        if self.tb is not None:
            for k, v in values.items():
                self.tb.add_scalar(k, float(v), iteration)

    def close(self) -> None:
        self._f.close()
        if self.tb is not None:
            self.tb.close()


def read_metrics(path: str | os.PathLike):
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]
