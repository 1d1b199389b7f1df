"""Which settings a resumed run may change, and the record of the changes it made.

A checkpoint stores the config it was trained with. On ``--resume`` the config in force
(the run's ``config.yaml`` plus overrides) is compared with it key by key. The settings
in ``MAY_CHANGE_ON_RESUME`` decide how long, how often and how fast the run goes, not what
it learns, so they may differ; any other difference (a loss, a seed, a normalization edited
in ``config.yaml``) would make the run a mix of two experiments, and is refused unless
the user allows it (``--allow-config-change``). Every change is then recorded with the
iteration it took effect in ``RUN/config_changes.yaml``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List

import yaml

from ..config import Config
from ..errors import GannormError
from ..utils.io import atomic_write_text
from ..utils.safe_yaml import safe_load

#: Settings a resumed run may change freely: length, intervals, device and speed settings.
MAY_CHANGE_ON_RESUME = frozenset({
    "train.iterations", "train.log_every", "train.sample_every", "train.checkpoint_every",
    "eval.test_interval", "eval.metrics_interval", "eval.final_steps",
    "train.device", "train.amp", "train.channels_last", "train.compile", "train.compile_backend",
    "optim.impl",
    # what the run watches and reports, not what it learns
    "train.diagnostics_every", "train.health", "train.guard", "train.log_to",
})


def flatten(d: Dict[str, Any], prefix: str = "") -> Dict[str, Any]:
    """``{"train": {"loss": "hinge"}}`` -> ``{"train.loss": "hinge"}`` (option dicts stay whole)."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict) and not prefix and "." not in k:
            out.update(flatten(v, f"{k}."))
        else:
            out[prefix + k] = v
    return out


def config_changes(saved: Dict[str, Any], now: Dict[str, Any]) -> List[Dict[str, Any]]:
    """Every key whose value differs between two configs (as ``Config.to_dict()``)."""
    # a setting added after the checkpoint was written is absent from its config: it ran with
    # what is now that setting's default
    a, b = {**flatten(Config().to_dict()), **flatten(saved)}, flatten(now)
    return [{"key": k, "old": a.get(k), "new": b.get(k)} for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def check_resume_config(saved: Dict[str, Any] | None, now: Dict[str, Any], iteration: int,
                        allow_change: bool, checkpoint: Path) -> List[Dict[str, Any]]:
    """The changes to record, or a one-line error when a setting outside
    ``MAY_CHANGE_ON_RESUME`` differs and ``allow_change`` is off."""
    if saved is None:
        return []
    # a checkpoint from before a setting existed ran with its default
    defaults = flatten(Config().to_dict())
    saved = {**{k: defaults[k] for k in set(defaults) - set(flatten(saved))}, **flatten(saved)}
    changes = config_changes(saved, flatten(now))
    fixed = [c for c in changes if c["key"] not in MAY_CHANGE_ON_RESUME]
    if fixed and not allow_change:
        diff = "; ".join(f"{c['key']}: {c['old']!r} -> {c['new']!r}" for c in fixed)
        raise GannormError(f"the resumed config differs from the one {checkpoint} was trained with ({diff}); "
                           f"undo the change (config.yaml or the overrides), start a new run, or pass "
                           f"--allow-config-change to continue and record the change")
    iters = now.get("train", {}).get("iterations")
    if iters is not None and iters < iteration:
        raise GannormError(f"train.iterations={iters} but the run is already at iteration {iteration}; "
                           f"give train.iterations >= {iteration}")
    return [dict(c, iteration=iteration) for c in changes]


def record_changes(path: Path, changes: List[Dict[str, Any]]) -> None:
    """Append ``changes`` (each with the iteration it took effect) to the run's history."""
    if not changes:
        return
    history = []
    if path.exists():
        try:
            history = safe_load(path.read_text(), str(path)) or []
        except yaml.YAMLError as e:
            raise GannormError(f"{path} is not valid YAML ({str(e).splitlines()[0]}); fix or remove it") from None
    atomic_write_text(path, yaml.safe_dump(history + changes, sort_keys=False))
