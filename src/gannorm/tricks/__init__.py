"""Training tricks and regularizers, registered by name in ``TRICKS``.

Each is a small object with the hooks of ``gannorm.hooks.Hooks`` and is switched on by one
config entry, ``train.tricks.<name>={option: value}`` (``{}`` for the defaults); any number
combine. ``gannorm list tricks`` prints them. Not here because they are settings already:
TTUR (``optim.g_lr`` / ``optim.d_lr``) and the EMA of G (``train.ema_decay``); the
truncation trick acts at sampling (``gannorm sample --truncation``, ``truncation.py``).
"""
from __future__ import annotations

import warnings
from typing import Any, Dict, Optional

from ..config import trick_options
from ..hooks import CompatibilityWarning, HookList, Setup
from ..registry import LOSSES, TRICKS
from . import gradient_penalty  # noqa: F401
from . import r1  # noqa: F401
from . import dragan  # noqa: F401
from . import label_smoothing  # noqa: F401
from . import instance_noise  # noqa: F401
from . import feature_matching  # noqa: F401
from . import minibatch_discrimination  # noqa: F401
from . import minibatch_stddev  # noqa: F401
from . import historical_averaging  # noqa: F401
from . import replay  # noqa: F401
from . import orthogonal  # noqa: F401
from . import conditional  # noqa: F401
from . import diffaugment  # noqa: F401
from . import ada  # noqa: F401
from . import lecam  # noqa: F401
from . import consistency  # noqa: F401
from .truncation import truncated_normal


def build_hooks(loss, tricks: Dict[str, Any] | None) -> HookList:
    """The loss followed by the tricks of ``train.tricks`` (name -> options)."""
    hooks, names = [loss], ["loss"]
    for name, args in (tricks or {}).items():
        args = trick_options(name, args)
        if args is None:
            continue
        hooks.append(TRICKS.build(name, **args))
        names.append(name)
    return HookList(hooks, names)


def n_classes(data) -> Optional[int]:
    """Number of classes of an ``ImageData`` or ``ImageSpec`` (None when it has no labels)."""
    return data.n_classes


def setup_models(cfg, G, D, data, *, warn: bool = True):
    """(G, D, loss, hooks): the run's loss and tricks built and set up on the models, exactly
    as the trainer does, so a checkpoint's G and D load into the same (wrapped) modules.
    ``data`` is the ``ImageData`` or only its ``ImageSpec`` (size, channels, classes)."""
    loss = LOSSES.build(cfg.train.loss, **cfg.train.loss_args)
    hooks = build_hooks(loss, cfg.train.tricks)
    with warnings.catch_warnings():
        if not warn:
            warnings.simplefilter("ignore", CompatibilityWarning)
        env = hooks.setup(Setup(G, D, loss, cfg, (data.channels, data.size, data.size), n_classes(data)))
    return env.G, env.D, loss, hooks


def wrap_generator(cfg, G, data):
    """G as ``setup_models`` leaves it, built alone: only the tricks registered with
    ``wraps_g=True`` change G at set-up (the others wrap D, act in the steps or only read G),
    so G is wrapped by their ``wrap_g(G, n_classes)``, innermost first, and no loss, D wrapper
    or other trick is built. What sampling, export and evaluation use to rebuild a trained G."""
    tricks = [TRICKS.build(name, **args) for name, raw in (cfg.train.tricks or {}).items()
              if (args := trick_options(name, raw)) is not None and TRICKS.attr(name, "wraps_g", False)]
    for t in sorted(tricks, key=lambda t: t.order):  # setup_models's order (HookList.setup)
        G = t.wrap_g(G, n_classes(data))
    return G


__all__ = ["build_hooks", "setup_models", "n_classes", "truncated_normal", "wrap_generator"]
