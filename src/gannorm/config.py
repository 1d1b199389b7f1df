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
import math
import os
import typing
import warnings
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, Dict, List, Optional

import yaml

from .errors import GannormError
from .health import ACTIONS, SIGNALS, HealthConfig, check_health_config
from .registry import DATASETS, EXTRACTORS, LOSSES, METRICS, MODELS, NORMS, OPTIMIZERS, TRICKS
from .utils.io import atomic_write_text
from .utils.safe_yaml import safe_load


#: the feature extractor of the sample-quality metrics unless one is named (offline, any image size)
DEFAULT_EXTRACTOR = "efficientnet_lite0"
#: generated images of ``gannorm eval``'s sample-quality metrics unless told (FID: 10k+ by convention)
EVAL_N_GEN = 10_000


@dataclass
class DataConfig:
    name: str = "fashion_mnist_small"  # a DATASETS registry name
    root: Optional[str] = None  # where the files are; None = the dataset's default place
    image_size: Optional[int] = None  # resize (square); None = the dataset's own size
    channels: Optional[int] = None  # 1 or 3 to convert; None = the dataset's own
    holdout: Optional[int] = None  # final-test images never trained on; None = min(2000, N/5)
    running_holdout: int = 200  # the first images of the holdout (of the validation set if any), for the running test
    validation: int = 0  # validation images, disjoint from training and the final test (tuning scores on them); 0 = none
    split_seed: int = 0  # the permutation that carves out the holdout
    download: bool = False  # fetch the dataset (cifar10, cifar100, stl10) to $GANNORM_CACHE when data.root lacks it
    xflip: bool = False  # also train on every image mirrored left-right (doubles the set; StyleGAN2-ADA's --mirror)
    max_train: Optional[int] = None  # train on a random subset of this many images (limited-data studies); None = all
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
    g_schedule: str = "constant"  # G's learning-rate schedule: constant | linear (decay to 0) | cosine (to 0)
    d_schedule: str = "constant"  # D's learning-rate schedule, as g_schedule
    schedule_iters: Optional[int] = None  # iterations over which a schedule reaches 0; None = train.iterations
    warmup_iters: int = 0  # linear warm-up: both rates rise as (t+1)/W over the first W iterations, then follow their schedule (Goyal et al. 2017); 0 = none


@dataclass
class GuardConfig:
    """What a run does when a health signal warns (``gannorm.health``): ``warn`` only logs it,
    ``stop`` ends the run (status ``stopped``, its best checkpoint kept), ``rollback`` returns
    to the newest checkpoint saved before the warning's onset and continues with every
    learning rate times ``lr_factor``, at most ``max_rollbacks`` times (then it stops)."""
    on: List[str] = field(default_factory=lambda: ["divergence", "collapse", "overfit"])  # signals the guard acts on: divergence, collapse, overfit, d_wins
    action: str = "warn"  # warn | stop | rollback
    lr_factor: float = 0.5  # rollback: learning rates times this after each rollback (0 < f <= 1)
    max_rollbacks: int = 2  # rollback: at most this many; the next warning stops the run


#: where the training numbers go besides metrics.jsonl
LOG_SINKS = ("tensorboard", "mlflow")


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
    diagnostics_every: int = 100  # stability diagnostics (singular values, gradient norms, r_t, diversity) every N iterations; 0 = off
    health: HealthConfig = field(default_factory=HealthConfig)  # thresholds of the health warnings (docs/diagnostics.md)
    guard: GuardConfig = field(default_factory=GuardConfig)  # what a health warning does: warn | stop | rollback
    log_to: List[str] = field(default_factory=lambda: ["tensorboard"])  # tensorboard, mlflow (MLflow's local store unless MLFLOW_TRACKING_URI)


@dataclass
class EvalConfig:
    test_interval: int = 1000  # running reconstruction test every N iterations; 0 = off
    test_steps: int = 50  # z-optimisation steps of the running test (paper's code: 50)
    test_lr: float = 0.01
    final_steps: int = 2000  # steps of the final test (gannorm eval --recon); why 2000: benchmarks/recon_steps.py
    metrics: List[str] = field(default_factory=list)  # sample-quality metrics during training: fid, kid, is, pr, dc
    # options of eval.metrics, per metric: {kid: {subset_size: 100}}; the defaults are the metric's
    # registration (``gannorm eval --help`` lists them); only those that differ need be given
    metric_options: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    metrics_interval: int = 0  # compute eval.metrics every N iterations (and at the end); 0 = off
    extractor: str = DEFAULT_EXTRACTOR  # their features: efficientnet_lite0[:SIZE], inception:PATH, domain:PATH
    metrics_n: int = 2000  # generated images per evaluation, and at most as many real ones
    metrics_real_split: str = "train"  # real images: train, test (the held-out final test set), validation or all


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


def _coerce(value: Any, tp: Any, where: str, off: bool = False) -> Any:
    """``value`` as type ``tp``; ``off``: the field takes the name "off", which YAML 1.1 reads
    unquoted as the boolean false."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Union:  # Optional[X]
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null", "~")):
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], where, off)
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
            f = _finite(float(value), where)
        except (TypeError, ValueError):
            raise GannormError(f"{where}: expected an integer, got {value!r}") from None
        if f != int(f):
            raise GannormError(f"{where}: expected an integer, got {value!r}")
        return int(f)
    if tp is float:
        try:
            return _finite(float(value), where)
        except (TypeError, ValueError):
            raise GannormError(f"{where}: expected a number, got {value!r}") from None
    if tp is str:
        if isinstance(value, bool):  # YAML 1.1 reads off/on/no/yes/true/false unquoted as booleans
            if off and not value:
                return "off"
            words = "true, yes or on" if value else "false, no or off"
            raise GannormError(f"{where}: {words} unquoted is a boolean in YAML, a name is needed here, not a "
                               f"boolean; write the name{' (or off)' if off else ''}, in quotes if it is one "
                               f"of those words")
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


def _finite(f: float, where: str) -> float:
    # inf/nan would pass every range check (nan compares False) and only fail deep in training
    if not math.isfinite(f):
        raise GannormError(f"{where}: expected a finite number, got {f}")
    return f


def _from_dict(cls, data: Dict[str, Any], where: str = ""):
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise GannormError(f"config section {where or 'root'!r} must be a mapping, got {data!r}")
    hints = _hints(cls)
    names = [f.name for f in fields(cls)]
    offs = {f.name for f in fields(cls) if f.default == "off"}
    kwargs = {}
    for key, value in data.items():
        if key is True and "on" in names:  # YAML 1.1 reads the key `on:` as true
            key = "on"
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
            kwargs[key] = _coerce(value, tp, path, off=key in offs)
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
        try:
            value = safe_load(raw, f"override {item!r}") if raw != "" else None
        except yaml.YAMLError as e:
            raise GannormError(f"override {item!r}: the value is not valid YAML ({str(e).splitlines()[0]}); "
                               f"write mappings whole, e.g. {key}={{size: 64}}, and quote the argument") from None
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
            data = safe_load(f, f"config file {path}") or {}
    except FileNotFoundError:
        raise GannormError(f"config file not found: {path}") from None
    except yaml.YAMLError as e:
        raise GannormError(f"config file {path} is not valid YAML: {str(e).splitlines()[0]}") from None
    except UnicodeDecodeError as e:
        raise GannormError(f"config file {path} is not UTF-8 text (byte {e.start}); save it as UTF-8") from None
    except IsADirectoryError:
        raise GannormError(f"config file {path} is a directory; give a .yaml file") from None
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
    atomic_write_text(path, yaml.safe_dump(cfg.to_dict(), sort_keys=False))


def _positive(where: str, v, allow_zero=False):
    if v is None:
        return
    if v < 0 or (v == 0 and not allow_zero):
        raise GannormError(f"{where} must be {'>= 0' if allow_zero else '> 0'}, got {v}")


def _one_of(where: str, v: str, valid) -> None:
    if v not in valid:
        raise GannormError(f"{where}={v!r} is not valid; use one of: {', '.join(valid)}")


#: arguments the model builders receive from the config's own fields, not from model.args
MODEL_SUPPLIED = ("image_size", "channels", "z_dim", "base_features", "n_layers", "g_norm", "d_norm", "activation")
#: arguments ``load_data`` gives a dataset builder from data.root / image_size / channels / download
DATA_SUPPLIED = ("root", "image_size", "channels", "quiet", "download")
#: where the real images of eval.metrics come from
#: names of the real-image splits an evaluation may compare with (gannorm.data.split makes them)
REAL_SPLITS = ("train", "test", "validation", "all")
#: learning-rate schedules (optim.g_schedule / d_schedule); their formulas: gannorm.training.optim.lr_factor
SCHEDULES = ("constant", "linear", "cosine")


def trick_options(name: str, args: Any) -> Dict[str, Any] | None:
    """The options of ``train.tricks.<name>``: a mapping, ``{}`` for ``None``/``true``, None when off."""
    if args is False:
        return None
    if args is None or args is True:
        return {}
    if not isinstance(args, dict):
        raise GannormError(f"train.tricks.{name}: expected options like {{key: value}} ({{}} for the "
                           f"defaults), got {args!r}")
    return args


def inner_gradient_terms(cfg: Config) -> List[str]:
    """The settings that take a gradient w.r.t. D's input with ``create_graph`` (double backprop):
    the loss, tricks and norms registered with ``inner_gradient=True``."""
    tc, mc = cfg.train, cfg.model
    terms = [f"loss={tc.loss}"] if LOSSES.attr(tc.loss, "inner_gradient", False) else []
    terms += [f"tricks.{t}" for t, a in tc.tricks.items()
              if trick_options(t, a) is not None and TRICKS.attr(t, "inner_gradient", False)]
    terms += [f"{w}={n}" for w, n in (("d_norm", mc.d_norm), ("g_norm", mc.g_norm))
              if NORMS.attr(n, "inner_gradient", False)]
    return terms


def check_norm_roles(mc: ModelConfig) -> None:
    """A norm registered with ``gradient_norm`` wraps D's output: refused as g_norm on every model."""
    if NORMS.attr(mc.g_norm, "gradient_norm", False):
        raise GannormError(f"normalization {mc.g_norm!r} normalizes a whole discriminator by its input "
                           f"gradient and cannot apply to the generator; use it as model.d_norm, not model.g_norm")


#: the largest seed: torch, numpy (seed mod 2**32) and python all take it, with room for the
#: offsets added to it for the sample and test generators
MAX_SEED = 2**62
#: the largest float32: a learning rate past it is infinite in the optimizer's arithmetic
FLOAT32_MAX = 3.4028234663852886e38


def LIMITS(cfg: Config):
    """Upper bounds far beyond any run that fits in memory or trains at all, so that a typo
    (``base_features=100000``, ``g_lr=1e39``) is refused at once instead of by the memory
    estimate after the data is read (``training.memory``) or by a NaN at the first step."""
    return [
        ("train.batch_size", cfg.train.batch_size, 2**20), ("model.z_dim", cfg.model.z_dim, 2**16),
        ("model.base_features", cfg.model.base_features, 2**14), ("data.image_size", cfg.data.image_size, 4096),
        ("optim.g_lr", cfg.optim.g_lr, FLOAT32_MAX), ("optim.d_lr", cfg.optim.d_lr, FLOAT32_MAX),
        ("train.n_samples", cfg.train.n_samples, 2**16), ("train.d_steps", cfg.train.d_steps, 10**4),
        ("model.n_layers", cfg.model.n_layers, 64), ("train.iterations", cfg.train.iterations, 10**12),
        ("eval.test_steps", cfg.eval.test_steps, 10**7), ("eval.final_steps", cfg.eval.final_steps, 10**7),
    ]


def validate(cfg: Config) -> None:
    """Check every name and option dictionary against its registry, every number against its range.

    The registries fill themselves from the installed plug-ins on first use; nothing is built or loaded.
    """
    DATASETS.get(cfg.data.name)
    MODELS.get(cfg.model.name)
    if cfg.data.download and "download" not in inspect.signature(DATASETS.get(cfg.data.name)).parameters:
        can = [n for n in DATASETS.names() if "download" in inspect.signature(DATASETS.get(n)).parameters]
        raise GannormError(f"data.download=true but {cfg.data.name} cannot be downloaded (only {', '.join(can)}); "
                           f"set data.root to its files and data.download=false")
    LOSSES.get(cfg.train.loss)
    OPTIMIZERS.get(cfg.optim.name)
    DATASETS.check_options(cfg.data.name, cfg.data.args, "data.args", supplied=DATA_SUPPLIED)
    MODELS.check_options(cfg.model.name, cfg.model.args, "model.args", supplied=MODEL_SUPPLIED)
    for which in ("g_norm", "d_norm"):
        name = getattr(cfg.model, which)
        NORMS.check_options(name, getattr(cfg.model, which + "_args"), f"model.{which}_args")
    check_norm_roles(cfg.model)
    LOSSES.check_options(cfg.train.loss, cfg.train.loss_args, "train.loss_args")
    for trick, args in cfg.train.tricks.items():
        TRICKS.get(trick)
        TRICKS.check_options(trick, trick_options(trick, args) or {}, f"train.tricks.{trick}")
        check = TRICKS.attr(trick, "check")  # the trick's own value checks (ranges, names), before training
        if check is not None and trick_options(trick, args) is not None:
            check(**trick_options(trick, args))
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
        ("data.validation", cfg.data.validation), ("optim.warmup_iters", cfg.optim.warmup_iters),
    ]:
        _positive(where, v, allow_zero=True)
    for where, v, hi in LIMITS(cfg):
        if v is not None and v > hi:
            fmt = (lambda x: f"{x:,}") if isinstance(v, int) else (lambda x: f"{x:g}")
            raise GannormError(f"{where}={fmt(v)} is beyond any run a machine can train (at most {fmt(hi)}); "
                               f"lower it")
    if not 0 <= cfg.train.seed <= MAX_SEED:
        raise GannormError(f"train.seed must be an integer in [0, 2**62], got {cfg.train.seed}")
    _validate_eval(cfg.eval)
    _validate_health(cfg.train)
    if not 0.0 <= cfg.train.ema_decay < 1.0:
        raise GannormError(f"train.ema_decay must be in [0, 1), got {cfg.train.ema_decay}")
    if cfg.data.channels not in (None, 1, 3):
        raise GannormError(f"data.channels must be 1, 3 or null, got {cfg.data.channels}")
    _one_of("train.amp", cfg.train.amp, ("off", "bf16", "fp16"))
    _one_of("train.compile", cfg.train.compile, ("off", "default", "reduce-overhead", "max-autotune"))
    _one_of("optim.impl", cfg.optim.impl, ("auto", "foreach", "fused", "for_loop"))
    _validate_schedules(cfg)
    _positive("data.max_train", cfg.data.max_train)
    double = inner_gradient_terms(cfg)
    if cfg.train.compile != "off" and cfg.train.compile_backend != "eager" and double:
        raise GannormError(f"train.compile={cfg.train.compile} cannot run with {', '.join(double)}: an inner "
                           f"gradient needs a double backward, which torch.compile's {cfg.train.compile_backend} "
                           f"backend does not support; use train.compile=off")
    dev = cfg.train.device
    if not (dev in ("auto", "cpu", "cuda", "mps") or dev.startswith("cuda:")):
        raise GannormError(f"train.device must be auto, cpu, cuda or cuda:N, got {dev!r}")


def _validate_schedules(cfg: Config) -> None:
    for which in ("g_schedule", "d_schedule"):
        name = getattr(cfg.optim, which)
        if name not in SCHEDULES:
            close = difflib.get_close_matches(name, SCHEDULES, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise GannormError(f"optim.{which}={name!r} is not a schedule; use one of: {', '.join(SCHEDULES)}.{hint}")
    _positive("optim.schedule_iters", cfg.optim.schedule_iters)
    scheduled = {cfg.optim.g_schedule, cfg.optim.d_schedule} != {"constant"}
    if scheduled and cfg.optim.schedule_iters and cfg.optim.schedule_iters > cfg.train.iterations:
        warnings.warn(f"optim.schedule_iters={cfg.optim.schedule_iters} is longer than train.iterations="
                      f"{cfg.train.iterations}: the learning rate stops at "
                      f"{_end_share(cfg):.0%} of its start instead of reaching 0", UserWarning, stacklevel=3)


def _end_share(cfg: Config) -> float:
    t = cfg.train.iterations / cfg.optim.schedule_iters
    name = cfg.optim.d_schedule if cfg.optim.d_schedule != "constant" else cfg.optim.g_schedule
    return 1 - t if name == "linear" else 0.5 * (1 + math.cos(math.pi * t))


def _validate_health(tc: TrainConfig) -> None:
    """train.diagnostics_every, train.health, train.guard and train.log_to."""
    _positive("train.diagnostics_every", tc.diagnostics_every, allow_zero=True)
    check_health_config(tc.health)
    g = tc.guard
    for s in g.on:
        if s not in SIGNALS:
            close = difflib.get_close_matches(str(s), SIGNALS, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise GannormError(f"train.guard.on: unknown signal {s!r}; valid: {', '.join(SIGNALS)}.{hint}")
    if g.action not in ACTIONS:
        close = difflib.get_close_matches(str(g.action), ACTIONS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise GannormError(f"train.guard.action={g.action!r} is not valid; use one of: {', '.join(ACTIONS)}.{hint}")
    if not 0 < g.lr_factor <= 1:
        raise GannormError(f"train.guard.lr_factor must be in (0, 1] (the learning rates are multiplied by it "
                           f"after a rollback), got {g.lr_factor}")
    if g.max_rollbacks < 0:
        raise GannormError(f"train.guard.max_rollbacks must be >= 0, got {g.max_rollbacks}")
    if g.action != "warn" and g.on and not tc.diagnostics_every:
        raise GannormError(f"train.guard.action={g.action} needs the diagnostics it acts on: set "
                           f"train.diagnostics_every > 0 (e.g. 100) or train.guard.action=warn")
    if g.action == "rollback" and not tc.checkpoint_every:
        raise GannormError("train.guard.action=rollback needs checkpoints to return to: set "
                           "train.checkpoint_every > 0 (e.g. 500) or use train.guard.action=stop")
    for sink in tc.log_to:
        if sink not in LOG_SINKS:
            close = difflib.get_close_matches(str(sink), LOG_SINKS, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise GannormError(f"train.log_to: unknown destination {sink!r}; valid: {', '.join(LOG_SINKS)}.{hint}")


def _validate_eval(ev: EvalConfig) -> None:
    """The eval.metrics* fields: names against the METRICS and EXTRACTORS registries, options
    against each metric's registered options."""
    opts = metric_options(ev.metrics, ev.metric_options, "eval")
    for m in ev.metrics:
        check = METRICS.attr(m, "check")  # the same minimums as gannorm eval, before training rather than after
        if check is not None:
            check(ev.metrics_n if METRICS.attr(m, "needs_real", True) else None, ev.metrics_n,
                  {"n_gen": ev.metrics_n, "options": opts[m],
                   "generated_option": "eval.metrics_n", "real_option": "eval.metrics_n"})
    try:
        EXTRACTORS.get(str(ev.extractor).partition(":")[0])  # the name only: no weights are loaded
    except GannormError as e:
        raise GannormError(f"eval.extractor: {e}") from None
    _one_of("eval.metrics_real_split", ev.metrics_real_split, REAL_SPLITS)
    if ev.metrics_interval < 0 or ev.metrics_n < 2:
        raise GannormError(f"eval.metrics_interval must be >= 0 and eval.metrics_n >= 2, got "
                           f"{ev.metrics_interval} and {ev.metrics_n}")


# ----------------------------------------------------------------------------- metric options

def sample_quality_metrics() -> List[str]:
    """The registered metrics computed on extractor features (FID, KID, ... and plug-ins)."""
    return METRICS.having("kind", "features")


def check_metric_name(name: Any, where: str) -> str:
    """``name`` if a sample-quality metric is registered under it, else a one-line error with the
    valid names and a guess."""
    valid = sample_quality_metrics()
    if name not in valid:
        close = difflib.get_close_matches(str(name), valid, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise GannormError(f"{where}: unknown sample-quality metric {name!r}; valid: {', '.join(valid)}.{hint}")
    return name


def options_object(cls: type, given: Any, where: str, owner: str) -> Any:
    """``cls`` (an options dataclass: its fields are the options, their defaults the defaults)
    made from the mapping ``given``: an unknown option fails with the valid ones and a guess, a
    value of the wrong type in one line naming ``where``; the dataclass's own ``__post_init__``
    checks ranges (raising ``GannormError``)."""
    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise GannormError(f"{where}: expected options like {{key: value}}, got {given!r}")
    names, hints, kwargs = [f.name for f in fields(cls)], _hints(cls), {}
    for key, value in given.items():
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            takes = f"valid: {', '.join(names)}" if names else "it takes none"
            raise GannormError(f"{where}: {owner} has no option {key!r}; {takes}.{hint}")
        kwargs[key] = _coerce(value, hints[key], f"{where}.{key}")
    try:
        return cls(**kwargs)
    except GannormError as e:
        raise GannormError(f"{where}: {e}") from None


def metric_options(metrics: List[str], given: Any, where: str = "eval",
                   options_where: Optional[str] = None) -> Dict[str, Any]:
    """One validated options object per metric of ``metrics`` (None for a metric that declares
    no options), from ``given`` = ``{metric: {option: value}}``; the defaults are those of the
    metric's registered ``options`` dataclass. ``where`` names the settings in errors (``eval``
    for ``eval.metrics``); ``options_where`` the options of one metric, with ``{m}`` for its
    name (default ``<where>.metric_options.{m}``)."""
    opt_where = options_where or f"{where}.metric_options.{{m}}"
    given = {} if given is None else given
    if not isinstance(given, dict):
        raise GannormError(f"{opt_where.format(m='<metric>')}: expected {{metric: {{option: value}}}}, got {given!r}")
    for m in metrics:
        check_metric_name(m, f"{where}.metrics" if where != "" else "metrics")
    for m in given:
        check_metric_name(m, opt_where.format(m=m))
        if m not in metrics:
            raise GannormError(f"{opt_where.format(m=m)}: {m} is not among the metrics computed "
                               f"({', '.join(metrics) or 'none'}); add it there or drop its options")
    out = {}
    for m in metrics:
        cls, opts = METRICS.attr(m, "options"), given.get(m) or {}
        if cls is None:
            if opts:
                raise GannormError(f"{opt_where.format(m=m)}: metric {m!r} has no options, got "
                                   f"{', '.join(map(str, opts)) if isinstance(opts, dict) else repr(opts)}")
            out[m] = None
        else:
            out[m] = options_object(cls, opts, opt_where.format(m=m), f"metric {m!r}")
    return out


def changed_options(options: Any) -> Dict[str, Any]:
    """The fields of an options dataclass that differ from their defaults (what a result key
    must name so that a changed option is not mistaken for the default)."""
    if options is None:
        return {}
    default = type(options)()
    return {f.name: getattr(options, f.name) for f in fields(options)
            if getattr(options, f.name) != getattr(default, f.name)}


def options_dict(options: Any) -> Dict[str, Any]:
    """Every option of an options dataclass, as a plain dict ({} for None)."""
    return {} if options is None else dataclasses.asdict(options)
