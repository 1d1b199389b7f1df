"""The run directory: the unit every command reads and writes.

    RUN/config.yaml           the resolved config
    RUN/checkpoints/latest.pt the newest full state (resume); best.pt lowest running error
    RUN/metrics.jsonl         one JSON line per logged step
    RUN/tb/                   TensorBoard events
    RUN/samples/              grids at fixed z over training; final.png at the end
    RUN/eval/                 results of gannorm eval
    RUN/config_changes.yaml   settings changed on resume, each with the iteration it took effect
    RUN/.gannorm.lock         held (flock) by the process writing the run
"""
from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..config import Config
from ..errors import GannormError
from ..utils.io import remove_stale_temps
from ..utils.lock import FileLock, lock_dir


@dataclass
class RunDir:
    root: Path

    def __post_init__(self):
        self.root = Path(self.root)

    config = property(lambda self: self.root / "config.yaml")
    checkpoints = property(lambda self: self.root / "checkpoints")
    latest = property(lambda self: self.root / "checkpoints" / "latest.pt")
    best = property(lambda self: self.root / "checkpoints" / "best.pt")
    metrics = property(lambda self: self.root / "metrics.jsonl")
    tb = property(lambda self: self.root / "tb")
    samples = property(lambda self: self.root / "samples")
    eval = property(lambda self: self.root / "eval")
    config_changes = property(lambda self: self.root / "config_changes.yaml")

    def open(self, lock: bool = True) -> Optional[FileLock]:
        """Create the directory and take the writer's lock (a second writer gets an error
        naming the holder's PID); then delete the temporary files a killed save left."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise GannormError(f"cannot create the run directory {self.root}: {e.strerror}") from None
        if not lock:
            return None
        held = lock_dir(self.root, "training")
        remove_stale_temps(self.root, self.checkpoints)
        return held

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def make(self):
        for d in (self.checkpoints, self.samples, self.eval, self.tb):
            d.mkdir(parents=True, exist_ok=True)
        return self

    def checkpoint(self, which: str = "latest") -> Path:
        """``latest``, ``best``, or a file name / path."""
        if which in ("latest", "best"):
            p = self.latest if which == "latest" else self.best
        else:
            p = Path(which) if Path(which).exists() else self.checkpoints / which
        if not p.exists():
            have = ", ".join(sorted(x.name for x in self.checkpoints.glob("*.pt"))) or "none"
            raise GannormError(f"no checkpoint {which!r} in {self.root} (have: {have})")
        return p

    @staticmethod
    def existing(path) -> "RunDir":
        r = RunDir(Path(path))
        if not r.config.exists():
            raise GannormError(f"{path} is not a gannorm run directory (no config.yaml)")
        return r


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+]+", "_", text).strip("_.") or "x"


def run_name(cfg: Config) -> str:
    """What a run is, from its resolved config (not the config file's name, which overrides
    may contradict): ``<data>[-<root folder>][-<model>]-<norm>[-<loss>]``.

    ``<norm>`` is the normalization when G and D share it, else ``<G norm>-<D norm>``; the
    model and the loss appear only when they differ from the defaults (dcgan, nonsaturating).
    E.g. ``folder-shapes-spectral``, ``cifar10-sngan_cnn-none-spectral-hinge``.
    """
    default = Config()
    parts = [cfg.data.name]
    if cfg.data.root:
        root = Path(cfg.data.root)
        parts.append(root.name.split(".")[0] or root.resolve().name)
    if cfg.model.name != default.model.name:
        parts.append(cfg.model.name)
    m = cfg.model
    parts += [m.g_norm] if m.g_norm == m.d_norm else [m.g_norm, m.d_norm]
    if cfg.train.loss != default.train.loss:
        parts.append(cfg.train.loss)
    return "-".join(_slug(p) for p in parts)


def new_run_dir(cfg: Config, parent: Path = Path("runs")) -> Path:
    """``parent/<run_name>-NNNN`` with the next free number, created here (``mkdir`` fails if
    another process took the number first, which then moves on to the next)."""
    name = run_name(cfg)
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    pattern = re.compile(re.escape(name) + r"-(\d{4,})")
    taken = [int(m.group(1)) for p in parent.iterdir() if (m := pattern.fullmatch(p.name))]
    n = max(taken, default=0) + 1
    while True:
        path = parent / f"{name}-{n:04d}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            n += 1
