"""Typed configuration: dataclasses, loaded from YAML, overridden by ``key=value``.

A run's resolved config is saved as ``config.yaml`` in its run directory, so every figure
can be traced to the exact settings that produced it.

Overrides accept dotted paths (``model.d_norm=batch``) or, when unambiguous, the bare
field name (``d_norm=batch``). Values are parsed as YAML and then coerced to the field's
declared type, so ``g_lr=1e-4`` is a float even though YAML 1.1 would read a string.
"""
from __future__ import annotations

import dataclasses
import difflib
import inspect
import os
import typing
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, Dict, List, Optional

import yaml

from .errors import GannormError


@dataclass
class DataConfig:
    name: str = "fashion_mnist_small"  # a DATASETS registry name
    root: Optional[str] = None  # where the files are; None = the dataset's default place
    image_size: Optional[int] = None  # resize (square); None = the dataset's own size
    channels: Optional[int] = None  # 1 or 3 to convert; None = the dataset's own
    holdout: Optional[int] = None  # final-test images never trained on; None = min(2000, N/5)
    running_holdout: int = 200  # the first images of the holdout, for the running test
    split_seed: int = 0  # the permutation that carves out the holdout
    download: bool = False  # fetch the dataset (cifar10, cifar100) to $GANNORM_CACHE when data.root lacks it
    args: Dict[str, Any] = field(default_factory=dict)  # dataset-specific options


@dataclass
class ModelConfig:
    name: str = "dcgan"  # a MODELS registry name
    z_dim: int = 128
    base_features: int = 64  # channels of D's first conv (and of G's last hidden layer)
    n_layers: Optional[int] = None  # down/up-sampling layers; None = from the image size
    g_norm: str = "weight"  # a NORMS registry name
    d_norm: str = "weight"
    g_norm_args: Dict[str, Any] = field(default_factory=dict)
    d_norm_args: Dict[str, Any] = field(default_factory=dict)
    activation: str = "auto"  # auto = the paper's: TPReLU with weight norm, else PReLU
    args: Dict[str, Any] = field(default_factory=dict)  # model-specific options


@dataclass
class OptimConfig:
    name: str = "rmsprop"  # rmsprop | adam
    g_lr: float = 1e-4
    d_lr: float = 1e-4
    alpha: float = 0.9  # RMSProp smoothing (the paper's code: 0.9)
    eps: Optional[float] = None  # None = 1e-6 for RMSProp (the paper's code), 1e-8 for Adam
    beta1: float = 0.5  # Adam
    beta2: float = 0.999  # Adam
    weight_decay: float = 0.0
    impl: str = "auto"  # torch's optimizer implementation: auto | foreach | fused | for_loop (fused: adam only)


@dataclass
class TrainConfig:
    iterations: int = 100_000
    batch_size: int = 32
    d_steps: int = 1  # D updates per G update
    loss: str = "nonsaturating"  # a LOSSES registry name
    loss_args: Dict[str, Any] = field(default_factory=dict)  # the loss's options, e.g. {clip: 0.01}
    tricks: Dict[str, Any] = field(default_factory=dict)  # TRICKS names -> options, e.g. tricks.r1={gamma: 10}
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    ema_decay: float = 0.0  # EMA copy of G; 0 = off
    log_every: int = 10
    sample_every: int = 500
    checkpoint_every: int = 1000
    n_samples: int = 64  # images in the fixed-z sample grids
    amp: str = "off"  # mixed precision of the G/D step: off | bf16 | fp16 (+grad scaler); norms and metrics stay fp32
    channels_last: bool = False  # NHWC memory format for G, D and the batches (faster convolutions on GPUs)
    compile: str = "off"  # torch.compile G and D for the step: off | default | reduce-overhead | max-autotune
    compile_backend: str = "inductor"  # torch.compile backend; eager / aot_eager help find what breaks a compile
    sync_bn: bool = False  # multi-GPU runs: batch-norm statistics over the global batch (SyncBatchNorm); CUDA only


@dataclass
class EvalConfig:
    test_interval: int = 1000  # running reconstruction test every N iterations; 0 = off
    test_steps: int = 50  # z-optimisation steps of the running test (paper's code: 50)
    test_lr: float = 0.01
    final_steps: int = 2000  # steps of the final test (gannorm eval --recon); why 2000: benchmarks/recon_steps.py
    metrics: List[str] = field(default_factory=list)  # sample-quality metrics during training: fid, kid, is, pr
    metrics_interval: int = 0  # compute eval.metrics every N iterations (and at the end); 0 = off
    extractor: str = "efficientnet_lite0"  # their features: efficientnet_lite0[:SIZE], inception:PATH, domain:PATH
    metrics_n: int = 2000  # generated images per evaluation, and at most as many real ones
    metrics_real_split: str = "train"  # real images: train, test (the held-out final test set) or all


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)


# ----------------------------------------------------------------------------- helpers

def _hints(cls) -> Dict[str, Any]:
    return typing.get_type_hints(cls)


def _coerce(value: Any, tp: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Union:  # Optional[X]
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null", "~")):
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], where)
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "1", "on", "false", "no", "0", "off"):
            return value.lower() in ("true", "yes", "1", "on")
        raise GannormError(f"{where}: expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, bool):
            raise GannormError(f"{where}: expected an integer, got {value!r}")
        try:
            f = float(value)
        except (TypeError, ValueError):
            raise GannormError(f"{where}: expected an integer, got {value!r}") from None
        if f != int(f):
            raise GannormError(f"{where}: expected an integer, got {value!r}")
        return int(f)
    if tp is float:
        try:
            return float(value)
        except (TypeError, ValueError):
            raise GannormError(f"{where}: expected a number, got {value!r}") from None
    if tp is str:
        if isinstance(value, bool):  # YAML 1.1 reads off/on/no/yes as booleans
            return "on" if value else "off"
        if isinstance(value, (dict, list)):
            raise GannormError(f"{where}: expected a name, got {value!r}")
        return str(value)
    if origin in (dict, Dict) or tp is dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise GannormError(f"{where}: expected a mapping like {{key: value}}, got {value!r}")
        return dict(value)
    if origin in (list, List):
        if not isinstance(value, (list, tuple)):
            value = [value]
        return [_coerce(v, args[0], where) for v in value] if args else list(value)
    return value


def _from_dict(cls, data: Dict[str, Any], where: str = ""):
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise GannormError(f"config section {where or 'root'!r} must be a mapping, got {data!r}")
    hints = _hints(cls)
    names = [f.name for f in fields(cls)]
    kwargs = {}
    for key, value in data.items():
        if key not in names:
            close = difflib.get_close_matches(key, names, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise GannormError(
                f"unknown config key {(where + '.' if where else '') + key!r}; valid: {', '.join(names)}.{hint}"
            )
        tp = hints[key]
        path = f"{where}.{key}" if where else key
        if is_dataclass(tp):
            kwargs[key] = _from_dict(tp, value, path)
        else:
            kwargs[key] = _coerce(value, tp, path)
    return cls(**kwargs)


def from_dict(data: Dict[str, Any]) -> Config:
    return _from_dict(Config, data)


def leaf_paths(cfg: Any = None, prefix: str = "") -> List[str]:
    """All dotted field paths, e.g. ``model.d_norm``."""
    cfg = Config() if cfg is None else cfg
    out = []
    for f in fields(cfg):
        v = getattr(cfg, f.name)
        p = f"{prefix}{f.name}"
        if is_dataclass(v):
            out += leaf_paths(v, p + ".")
        else:
            out.append(p)
    return out


def resolve_key(key: str) -> str:
    """Map ``d_norm`` or ``model.d_norm`` to its full dotted path, or fail with choices."""
    paths = leaf_paths()
    if key in paths:
        return key
    # dict-valued fields accept sub keys: model.d_norm_args.c=2
    for p in paths:
        if key.startswith(p + "."):
            return key
    matches = [p for p in paths if p.split(".")[-1] == key.split(".")[0]]
    if len(matches) == 1:
        rest = key.split(".", 1)[1:] 
        return matches[0] + ("." + rest[0] if rest else "")
    if len(matches) > 1:
        raise GannormError(f"config key {key!r} is ambiguous: use one of {', '.join(matches)}")
    close = difflib.get_close_matches(key, paths + [p.split('.')[-1] for p in paths], n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise GannormError(f"unknown config key {key!r}; see 'gannorm train --help' for the keys.{hint}")


def apply_overrides(data: Dict[str, Any], overrides: List[str]) -> Dict[str, Any]:
    """Apply ``key=value`` strings to a raw config dict (before typing)."""
    data = _deepcopy(data)
    for item in overrides:
        if "=" not in item:
            raise GannormError(f"override {item!r} is not key=value (e.g. model.d_norm=batch)")
        key, raw = item.split("=", 1)
        path = resolve_key(key.strip()).split(".")
        value = yaml.safe_load(raw) if raw != "" else None
        node = data
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise GannormError(f"override {item!r}: {part!r} is not a section")
        node[path[-1]] = value
    return data


def _deepcopy(d):
    if isinstance(d, dict):
        return {k: _deepcopy(v) for k, v in d.items()}
    if isinstance(d, list):
        return [_deepcopy(v) for v in d]
    return d


def load_yaml(path: str | os.PathLike) -> Dict[str, Any]:
    try:
        with open(path, "r", encoding="utf-8") as f:
            data = yaml.safe_load(f) or {}
    except FileNotFoundError:
        raise GannormError(f"config file not found: {path}") from None
    except yaml.YAMLError as e:
        raise GannormError(f"config file {path} is not valid YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise GannormError(f"config file {path} must hold a mapping of sections (data:, model:, ...)")
    return data


def load(path: str | os.PathLike | None = None, overrides: List[str] | None = None) -> Config:
    """Load a YAML config (or the defaults when ``path`` is None), apply overrides, validate."""
    data = load_yaml(path) if path else {}
    data = apply_overrides(data, list(overrides or []))
    cfg = from_dict(data)
    validate(cfg)
    return cfg


def save(cfg: Config, path: str | os.PathLike) -> None:
    from .utils.io import atomic_write_text

    atomic_write_text(path, yaml.safe_dump(cfg.to_dict(), sort_keys=False))


def _positive(where: str, v, allow_zero=False):
    if v is None:
        return
    if v < 0 or (v == 0 and not allow_zero):
        raise GannormError(f"{where} must be {'>= 0' if allow_zero else '> 0'}, got {v}")


def _one_of(where: str, v: str, valid) -> None:
    if v not in valid:
        raise GannormError(f"{where}={v!r} is not valid; use one of: {', '.join(valid)}")


def validate(cfg: Config) -> None:
    """Check every name against its registry and every number against its range."""
    from . import registry as R
    from . import plugins  # noqa: F401  (fills the registries)

    if cfg.data.download and "download" not in inspect.signature(R.DATASETS.get(cfg.data.name)).parameters:
        can = [n for n in R.DATASETS.names() if "download" in inspect.signature(R.DATASETS.get(n)).parameters]
        raise GannormError(f"data.download=true but {cfg.data.name} cannot be downloaded (only {', '.join(can)}); "
                           f"set data.root to its files and data.download=false")
    R.MODELS.get(cfg.model.name)
    R.NORMS.get(cfg.model.g_norm)
    R.NORMS.get(cfg.model.d_norm)
    R.LOSSES.get(cfg.train.loss)
    for trick in cfg.train.tricks:
        R.TRICKS.get(trick)
    R.OPTIMIZERS.get(cfg.optim.name)
    for where, v in [
        ("train.iterations", cfg.train.iterations), ("train.batch_size", cfg.train.batch_size),
        ("train.d_steps", cfg.train.d_steps), ("model.z_dim", cfg.model.z_dim),
        ("model.base_features", cfg.model.base_features), ("optim.g_lr", cfg.optim.g_lr),
        ("optim.d_lr", cfg.optim.d_lr), ("train.log_every", cfg.train.log_every),
        ("train.n_samples", cfg.train.n_samples), ("eval.test_steps", cfg.eval.test_steps),
        ("eval.final_steps", cfg.eval.final_steps), ("data.image_size", cfg.data.image_size),
        ("model.n_layers", cfg.model.n_layers), ("data.running_holdout", cfg.data.running_holdout),
    ]:
        _positive(where, v)
    for where, v in [
        ("train.sample_every", cfg.train.sample_every),
        ("train.checkpoint_every", cfg.train.checkpoint_every),
        ("eval.test_interval", cfg.eval.test_interval), ("data.holdout", cfg.data.holdout),
    ]:
        _positive(where, v, allow_zero=True)
    from .metrics.evaluate import validate_settings

    validate_settings(cfg.eval)
    if not 0.0 <= cfg.train.ema_decay < 1.0:
        raise GannormError(f"train.ema_decay must be in [0, 1), got {cfg.train.ema_decay}")
    if cfg.data.channels not in (None, 1, 3):
        raise GannormError(f"data.channels must be 1, 3 or null, got {cfg.data.channels}")
    _one_of("train.amp", cfg.train.amp, ("off", "bf16", "fp16"))
    _one_of("train.compile", cfg.train.compile, ("off", "default", "reduce-overhead", "max-autotune"))
    _one_of("optim.impl", cfg.optim.impl, ("auto", "foreach", "fused", "for_loop"))
    dev = cfg.train.device
    if not (dev in ("auto", "cpu", "cuda", "mps") or dev.startswith("cuda:")):
        raise GannormError(f"train.device must be auto, cpu, cuda or cuda:N, got {dev!r}")
