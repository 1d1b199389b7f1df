"""The guard: what a run does when a health signal warns (``train.guard``).

- ``warn``: the warning is logged (console, the progress bar, ``RUN/health.jsonl``), nothing else;
- ``stop``: the run ends there with the outcome ``stopped: <reason> at <iteration>``
  (``RUN/outcome.json``, ``by="guard"``); its checkpoints, best.pt included, stay;
- ``rollback``: the run returns to the newest checkpoint saved *before* the warning's onset
  (the first diagnostic of its streak) and continues with every learning rate times
  ``lr_factor`` (compounding, on top of the configured rates), at most ``max_rollbacks``
  times; the warning after that stops the run. A non-finite loss counts as a divergence
  warning whose onset is its iteration.

To have a checkpoint from before any onset, a rollback guard keeps hard links to the
periodic checkpoints in ``RUN/checkpoints/guard/iter_NNNNNNN.pt`` (one at iteration 0): the
newest one from before the earliest running streak's onset and every newer one; older ones
are deleted as soon as a newer healthy one exists.
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any, Dict, List, Optional

from .. import health
from ..config import GuardConfig

_NAME = re.compile(r"^iter_(\d+)\.pt$")


class Guard:
    def __init__(self, cfg: GuardConfig, folder: Path):
        self.cfg = cfg
        self.folder = Path(folder)
        self.rollbacks: List[Dict[str, Any]] = []  # one record per rollback: iteration, to, onset, signal, lr_scale
        self.lr_scale = 1.0

    @property
    def rolls_back(self) -> bool:
        return self.cfg.action == "rollback" and bool(self.cfg.on)

    def acts_on(self, signal: str) -> bool:
        return signal in self.cfg.on and self.cfg.action != "warn"

    # ------------------------------------------------------------------ state
    def state_dict(self) -> Dict[str, Any]:
        return {"rollbacks": [dict(r) for r in self.rollbacks], "lr_scale": self.lr_scale}

    def load_state_dict(self, s: Dict[str, Any]) -> None:
        self.rollbacks = [dict(r) for r in (s or {}).get("rollbacks", [])]
        self.lr_scale = float((s or {}).get("lr_scale", 1.0))

    # ------------------------------------------------------------------ kept checkpoints
    def kept(self) -> Dict[int, Path]:
        if not self.folder.is_dir():
            return {}
        out = {}
        for p in self.folder.iterdir():
            m = _NAME.match(p.name)
            if m:
                out[int(m.group(1))] = p
        return dict(sorted(out.items()))

    def keep(self, checkpoint: Path, iteration: int) -> None:
        """Keep the checkpoint just written (a hard link: the next atomic save of latest.pt
        replaces the file, not this copy)."""
        if not self.rolls_back:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        dst = self.folder / f"iter_{iteration:07d}.pt"
        if dst.exists():
            dst.unlink()
        try:
            os.link(checkpoint, dst)
        except OSError:  # a file system without hard links
            shutil.copyfile(checkpoint, dst)

    def forget_after(self, iteration: int) -> None:
        """Drop kept checkpoints newer than ``iteration`` (after a resume or a rollback there)."""
        for it, p in self.kept().items():
            if it > iteration:
                p.unlink(missing_ok=True)

    def prune(self, onset: Optional[int]) -> None:
        """Keep the newest checkpoint from before ``onset`` (the earliest running streak;
        None: none runs, so the newest of all) and every newer one."""
        kept = self.kept()
        if not kept:
            return
        before = [it for it in kept if onset is None or it < onset]
        if not before:
            return
        anchor = max(before)
        for it, p in kept.items():
            if it < anchor:
                p.unlink(missing_ok=True)

    def healthy(self, onset: int) -> Optional[tuple]:
        """``(iteration, path)`` of the newest kept checkpoint from before ``onset``."""
        before = [(it, p) for it, p in self.kept().items() if it < onset]
        return before[-1] if before else None

    # ------------------------------------------------------------------ decisions
    def decide(self, event: health.Event) -> Optional[str]:
        """``stop``, ``rollback`` or None (warn only) for a warning."""
        if event.kind != "warning" or not self.acts_on(event.signal):
            return None
        if self.cfg.action == "stop":
            return "stop"
        if len(self.rollbacks) >= self.cfg.max_rollbacks or self.healthy(event.onset) is None:
            return "stop"
        return "rollback"

    def stop_reason(self, event: health.Event) -> str:
        why = f"{event.signal} ({event.text}) since iteration {event.onset}"
        if self.cfg.action == "rollback":
            if len(self.rollbacks) >= self.cfg.max_rollbacks:
                why += f", after {len(self.rollbacks)} rollback(s) (train.guard.max_rollbacks={self.cfg.max_rollbacks})"
            else:
                why += ", and no checkpoint from before its onset to return to"
        return why
