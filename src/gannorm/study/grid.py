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
                                           # the final test of every cell (gannorm.store.final_test);
                                           # default: the paper's protocol
    resources: {cpu: 1, gpu: 0.25}         # per cell, for --backend ray (4 cells share a GPU)
    strategy: halving                      # optional: successive halving (docs/halving.md)
    halving: {first_rung: 200, keep: 0.5, metric: recon_running, scheduler: sync}
    sample:                                # optional: draw settings instead of listing them
      draws: 8                             # per method, the same draws for every method
      seed: 0
      space: {optim.g_lr: {loguniform: [1.0e-5, 1.0e-3]}, optim.beta1: {choice: [0.0, 0.5]}}
                                           # gannorm.study.search_space; the draws become an
                                           # axis ``draw`` (d0, d1, ...), outermost after seeds
    seeds: {start: 3, max: 20, step: 2}    # optional: a seeds race (gannorm.study.race) instead
    race: {alpha: 0.05, spending: obrien_fleming}   # of a train.seed axis: seeds are added only
    budget: {runs: 60}                     # to methods not yet told apart from the leader

Every cell's config is built and validated before any run starts, so a typo in an axis
fails at once with the valid values.
"""
from __future__ import annotations

import dataclasses
import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import yaml

from .. import config as config_mod
from .. import plugins  # noqa: F401  (fills the registries that validation asks)
from ..errors import GannormError
from . import race as race_mod
from . import search_space
from ..store.final_test import FinalTestSpec, parse
from ..store.labels import DRAW_AXIS

#: how a study runs its cells: all of them, successive halving, or tune then confirm
STRATEGIES = ("grid", "halving", "tune-confirm")


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
    halving: Dict = field(default_factory=dict)  # first_rung, keep, metric, mode, scheduler
    race: Optional[race_mod.RaceDesign] = None  # a seeds race (the seed axis is then train.seed 0..max-1)
    confirm: Optional[Dict] = None  # strategy tune-confirm: {seeds, iterations} (gannorm.study.tune_confirm)
    cells: List[Cell] = field(default_factory=list)

    def final_test_for(self, cell: Cell) -> FinalTestSpec:
        """The final test a cell runs: the study's, except for the tuning draws of a
        tune-confirm study, which are judged on their running (validation) score and whose
        final test would be paid for and never read (the verdict uses the confirm runs)."""
        if self.strategy == "tune-confirm" and cell.labels.get("phase") != "confirm":
            return dataclasses.replace(self.final_test, checkpoints=(), metrics=(), metric_options={})
        return self.final_test

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


def study_name(name, path: Path) -> str:
    """The study's name, which becomes the folder ``studies/<name>``: a name, not a path, so a
    study file cannot make gannorm write outside that folder (``../x``, ``/etc``)."""
    if name is None or name == "":
        return path.stem
    name = str(name)
    if (name in (".", "..") or any(c in name for c in "/\\\0") or name != name.strip()
            or Path(name).is_absolute() or ":" in name):
        raise GannormError(f"{path}: study name {name!r} is not a plain name (no '/', '\\', ':', '..' or "
                           f"surrounding spaces); give a name like {re.sub(r'[^A-Za-z0-9_.-]+', '-', name).strip('.-') or 'my-study'!r}, "
                           f"and --out DIR to choose where the study goes")
    return name


def load_study(path: str | Path, extra_overrides: Optional[List[str]] = None) -> Study:
    """The study in ``path``; ``extra_overrides`` (``key=value``, as ``gannorm study --set``)
    are applied to every cell after the file's own ``overrides`` and before the axes, e.g.
    ``data.root=/data/cifar10`` for a study file that does not name a machine's path."""
    path = Path(path)
    spec = config_mod.load_yaml(path)
    valid = ("name", "base", "overrides", "axes", "final_test", "diversity_samples", "resources", "strategy",
             "halving", "sample", "seeds", "race", "budget", "confirm")
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
    study = Study(name=study_name(spec.get("name"), path), path=path, base=base,
                  overrides=[str(o) for o in spec.get("overrides") or []] + [str(o) for o in extra_overrides or []],
                  axes=[_axis(k, v) for k, v in axes_spec.items()],
                  final_test=final_test,
                  diversity_samples=int(spec.get("diversity_samples", 256)),
                  resources=dict(spec.get("resources") or {}), strategy=str(spec.get("strategy") or "grid"),
                  halving=dict(spec.get("halving") or {}))
    raced_confirm = study.strategy == "tune-confirm" and isinstance((spec.get("confirm") or {}).get("seeds"), dict)
    if spec.get("seeds") is not None:
        if study.strategy == "tune-confirm":
            raise GannormError(f"{path}: in a tune-confirm study the seeds race is the confirmation: give it as "
                               f"confirm: {{seeds: {{start: 3, max: 10}}}} instead of a seeds section")
        study.axes, study.race = _with_race(study.axes, spec, path)
    elif (spec.get("race") is not None or spec.get("budget") is not None) and not raced_confirm:
        raise GannormError(f"{path}: race and budget settings need a seeds section, e.g. seeds: {{start: 3, max: 20}}")
    if spec.get("sample") is not None:
        study.axes = _with_draws(study.axes, spec["sample"], path)
    if study.strategy not in STRATEGIES:
        raise GannormError(f"{path}: strategy must be one of {', '.join(STRATEGIES)}, got {study.strategy!r}")
    if study.strategy == "tune-confirm":
        if spec.get("sample") is None:
            raise GannormError(f"{path}: strategy tune-confirm needs a sample section (the settings to tune)")
        base_its = config_mod.from_dict(config_mod.apply_overrides(study.base, study.overrides)).train.iterations
        study.confirm = _confirm(spec.get("confirm"), base_its, path)
        if raced_confirm:
            try:
                study.race = race_mod.parse({k: v for k, v in spec["confirm"]["seeds"].items() if k != "first"},
                                            spec.get("race"), spec.get("budget"), where="confirm.seeds")
            except GannormError as e:
                raise GannormError(f"{path}: {e}") from None
            study.confirm["seeds"] = list(range(study.confirm["first"], study.confirm["first"] + study.race.max))
    elif spec.get("confirm") is not None:
        raise GannormError(f"{path}: a confirm section goes with strategy: tune-confirm")
    study.cells = expand(study)
    if study.race is not None:  # a budget that cannot fit the first round fails before anything runs
        methods = 1
        for a in study.axes:  # a raced confirmation has one draw per method
            methods *= len(a.values) if a.name not in ("train.seed", DRAW_AXIS) else 1
        try:
            study.race.check_budget(methods)
        except GannormError as e:
            raise GannormError(f"{path}: {e}") from None
    return study


def _axis_keys(axis: Axis) -> List[str]:
    """The config keys an axis sets (its overrides' keys)."""
    return sorted({o.split("=", 1)[0] for _, ov in axis.values for o in ov})


def parse_confirm(spec, base_iterations: int, where: str = "confirm") -> Dict:
    """A ``confirm`` mapping -> {seeds, iterations}, checked in one line. ``seeds`` is a list of
    seeds, or a race ``{start, max, step, first}`` (seeds ``first``, ``first + 1``, ... added
    only where the verdict is undecided, ``gannorm.study.race``; ``first`` defaults to 100)."""
    if not isinstance(spec, dict):
        raise GannormError(f"{where}: give a mapping, e.g. {{seeds: [100, 101, 102], iterations: 4000}}")
    unknown = set(spec) - {"seeds", "iterations"}
    if unknown:
        raise GannormError(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}; valid: seeds, iterations")
    seeds = spec.get("seeds")
    its = spec.get("iterations", base_iterations)
    if isinstance(its, bool) or not isinstance(its, int) or its < 1:
        raise GannormError(f"{where}.iterations must be a whole number >= 1, got {its!r}")
    if isinstance(seeds, dict):
        first = seeds.get("first", 100)
        if isinstance(first, bool) or not isinstance(first, int) or first < 0:
            raise GannormError(f"{where}.seeds.first must be a whole number >= 0 (the first seed), got {first!r}")
        return {"seeds": [], "first": first, "iterations": its, "race": True}
    if not isinstance(seeds, list) or len(seeds) < 2 or not all(isinstance(s, int) and not isinstance(s, bool)
                                                               and s >= 0 for s in seeds):
        raise GannormError(f"{where}.seeds: give at least 2 whole numbers >= 0 (the paired test needs 2), got {seeds!r}")
    if len(set(seeds)) != len(seeds):
        raise GannormError(f"{where}.seeds repeats a seed: {seeds}")
    return {"seeds": list(seeds), "iterations": its}


def _confirm(spec, base_iterations: int, path: Path) -> Dict:
    try:
        return parse_confirm(spec if spec is not None else {}, base_iterations)
    except GannormError as e:
        raise GannormError(f"{path}: {e}") from None


def _with_race(axes: List[Axis], spec: Dict, path: Path):
    """The axes with ``train.seed`` 0 .. max-1 outermost, and the race's design; a study with
    its own seed axis is refused (the race decides how many seeds each method gets)."""
    own = [a.name for a in axes if a.name in ("seed", "train.seed") or a.name.endswith(".seed")]
    if own:
        raise GannormError(f"{path}: a seeds section makes the seed axis itself; remove the axis {own[0]!r}")
    if spec.get("strategy") == "halving":
        raise GannormError(f"{path}: a seeds race and successive halving cannot be combined; choose one")
    try:
        design = race_mod.parse(spec["seeds"], spec.get("race"), spec.get("budget"))
    except GannormError as e:
        raise GannormError(f"{path}: {e}") from None
    seeds = Axis("train.seed", [(str(i), [f"train.seed={i}"]) for i in range(design.max)])
    return [seeds] + axes, design


def _with_draws(axes: List[Axis], spec, path: Path) -> List[Axis]:
    """The study's axes with the drawn settings as an axis ``draw``: after the seed axis when
    there is one (an interrupted study then has whole seeds), else outermost (whole draws of
    every method)."""
    if any(a.name == DRAW_AXIS for a in axes):
        raise GannormError(f"{path}: an axis is named {DRAW_AXIS!r}, which the sample section makes; rename it")
    try:
        space = search_space.parse(spec)
        search_space.check_against(space, [k for a in axes for k in _axis_keys(a)])
    except GannormError as e:
        raise GannormError(f"{path}: {e}") from None
    draw = Axis(DRAW_AXIS, list(zip(space.labels(), space.overrides())))
    seeds = [i for i, a in enumerate(axes) if a.name in ("seed", "train.seed") or a.name.endswith(".seed")]
    at = seeds[0] + 1 if seeds else 0
    return axes[:at] + [draw] + axes[at:]


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
