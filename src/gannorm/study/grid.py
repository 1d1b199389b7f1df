"""A study: one base config and axes of variation; every combination is one run (a cell).

Study YAML::

    name: dcgan-norms-fmnist
    base: ../configs/quickstart.yaml      # relative to this file; or an inline mapping
    overrides: [train.iterations=2000]     # applied to every cell
    axes:
      norm:                                # a named axis: label -> overrides
        none:   {g_norm: none,   d_norm: none}
        batch:  {g_norm: batch,  d_norm: batch}
        weight: {g_norm: weight, d_norm: weight}
      train.seed: [0, 1, 2]                # a config key: its values
    final_test: {steps: 2000, checkpoints: [best, latest], metrics: [fid, kid]}
                                           # the final test of every cell (gannorm.study.final_test);
                                           # default: the paper's protocol
    resources: {cpu: 1, gpu: 0.25}         # per cell, for --backend ray (4 cells share a GPU)
    strategy: halving                      # optional: successive halving (--backend ray)
    halving: {first_rung: 200, keep: 0.5, metric: recon_running}

Every cell's config is built and validated before any run starts, so a typo in an axis
fails at once with the valid values.
"""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import yaml

from .. import config as config_mod
from .. import plugins  # noqa: F401  (fills the registries that validation asks)
from ..errors import GannormError
from .final_test import FinalTestSpec, parse


@dataclass
class Axis:
    name: str
    values: List[Tuple[str, List[str]]]  # (label, overrides)


@dataclass
class Cell:
    id: str
    labels: Dict[str, str]
    overrides: List[str]
    config: config_mod.Config


@dataclass
class Study:
    name: str
    path: Path
    base: dict
    overrides: List[str]
    axes: List[Axis]
    final_test: FinalTestSpec = field(default_factory=FinalTestSpec)
    diversity_samples: int = 256
    resources: Dict[str, float] = field(default_factory=dict)  # per cell: cpu, gpu (Ray backend)
    strategy: str = "grid"  # grid | halving
    halving: Dict = field(default_factory=dict)  # first_rung, keep, metric, mode
    cells: List[Cell] = field(default_factory=list)

    @property
    def seed_axis(self) -> Optional[str]:
        """The axis that only repeats a method (its runs are averaged in the report)."""
        for a in self.axes:
            if a.name in ("seed", "train.seed") or a.name.endswith(".seed"):
                return a.name
        return None


def _axis(name: str, spec) -> Axis:
    if isinstance(spec, list):
        if not spec:
            raise GannormError(f"study axis {name!r} has no values")
        return Axis(name, [(str(v), [f"{name}={_fmt(v)}"]) for v in spec])
    if isinstance(spec, dict):
        vals = []
        for label, ov in spec.items():
            if isinstance(ov, dict):
                vals.append((str(label), [f"{k}={_fmt(v)}" for k, v in ov.items()]))
            elif isinstance(ov, list):
                vals.append((str(label), [str(o) for o in ov]))
            else:
                raise GannormError(f"study axis {name!r}, value {label!r}: give a mapping of config keys")
        return Axis(name, vals)
    raise GannormError(f"study axis {name!r} must be a list of values or a mapping label -> overrides")


def _fmt(v) -> str:
    return yaml.safe_dump(v, default_flow_style=True).strip().removesuffix("\n...").strip() \
        if isinstance(v, (dict, list)) else str(v)


def cell_id(labels: Dict[str, str]) -> str:
    raw = ",".join(f"{k.split('.')[-1]}={v}" for k, v in labels.items())
    return re.sub(r"[^A-Za-z0-9_.,=+-]", "_", raw)


def load_study(path: str | Path, extra_overrides: Optional[List[str]] = None) -> Study:
    """The study in ``path``; ``extra_overrides`` (``key=value``, as ``gannorm study --set``)
    are applied to every cell after the file's own ``overrides`` and before the axes, e.g.
    ``data.root=/data/cifar10`` for a study file that does not name a machine's path."""
    path = Path(path)
    spec = config_mod.load_yaml(path)
    valid = ("name", "base", "overrides", "axes", "final_test", "diversity_samples", "resources", "strategy",
             "halving")
    unknown = set(spec) - set(valid)
    if unknown:
        raise GannormError(f"unknown study key(s) {', '.join(sorted(unknown))} in {path}; valid: {', '.join(valid)}")
    base = spec.get("base") or {}
    if isinstance(base, str):
        bp = (path.parent / base) if not Path(base).is_absolute() else Path(base)
        base = config_mod.load_yaml(bp)
    axes_spec = spec.get("axes") or {}
    if not isinstance(axes_spec, dict) or not axes_spec:
        raise GannormError(f"{path}: 'axes' must map axis names to values, e.g. d_norm: [none, batch]")
    try:
        final_test = parse(spec.get("final_test"))
    except GannormError as e:
        raise GannormError(f"{path}: {e}") from None
    study = Study(name=str(spec.get("name") or path.stem), path=path, base=base,
                  overrides=[str(o) for o in spec.get("overrides") or []] + [str(o) for o in extra_overrides or []],
                  axes=[_axis(k, v) for k, v in axes_spec.items()],
                  final_test=final_test,
                  diversity_samples=int(spec.get("diversity_samples", 256)),
                  resources=dict(spec.get("resources") or {}), strategy=str(spec.get("strategy") or "grid"),
                  halving=dict(spec.get("halving") or {}))
    if study.strategy not in ("grid", "halving"):
        raise GannormError(f"{path}: strategy must be grid or halving, got {study.strategy!r}")
    study.cells = expand(study)
    return study


def expand(study: Study) -> List[Cell]:
    cells = []
    for combo in itertools.product(*[a.values for a in study.axes]):
        labels = {a.name: label for a, (label, _) in zip(study.axes, combo)}
        overrides = study.overrides + [o for _, ov in combo for o in ov]
        try:
            data = config_mod.apply_overrides(study.base, overrides)
            cfg = config_mod.from_dict(data)
            config_mod.validate(cfg)
        except GannormError as e:
            raise GannormError(f"study cell {cell_id(labels)}: {e}") from None
        cells.append(Cell(cell_id(labels), labels, overrides, cfg))
    ids = [c.id for c in cells]
    if len(set(ids)) != len(ids):
        raise GannormError("two study cells get the same name; give the axes distinct labels")
    return cells
