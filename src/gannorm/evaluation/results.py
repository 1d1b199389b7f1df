"""Names of result files: a readable stem plus a digest of every setting that changes the figure.

Two evaluations that differ in any such setting (extractor and its input size or weights,
image counts, real split, seed, every metric option, checkpoint and iteration, reconstruction
steps...) get different files, so one never overwrites another's result; the same settings
give the same file, whose figures a rerun reproduces.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Dict


def slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "+.-" else "_" for c in str(text))


def settings_digest(settings: Dict[str, Any], n: int = 8) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:n]


def result_path(out_dir: Path, stem: str, settings: Dict[str, Any], suffix: str = ".json") -> Path:
    """``out_dir/<stem>-<digest of settings><suffix>``."""
    return Path(out_dir) / f"{slug(stem)}-{settings_digest(settings)}{suffix}"
