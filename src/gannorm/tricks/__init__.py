"""Training tricks and regularizers, registered by name in ``TRICKS``.

Each is a small object with the hooks of ``gannorm.hooks.Hooks`` and is switched on by one
config entry, ``train.tricks.<name>={option: value}`` (``{}`` for the defaults); any number
combine. ``gannorm list tricks`` prints them. Not here because they are settings already:
TTUR (``optim.g_lr`` / ``optim.d_lr``) and the EMA of G (``train.ema_decay``); the
truncation trick acts at sampling (``gannorm sample --truncation``, ``truncation.py``).
"""
from __future__ import annotations

from typing import Any, Dict

from ..errors import GannormError
from ..hooks import HookList
from ..registry import TRICKS
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
from .truncation import truncated_normal


def build_hooks(loss, tricks: Dict[str, Any] | None) -> HookList:
    """The loss followed by the tricks of ``train.tricks`` (name -> options)."""
    hooks, names = [loss], ["loss"]
    for name, args in (tricks or {}).items():
        if args is False:
            continue
        if args is None or args is True:
            args = {}
        if not isinstance(args, dict):
            raise GannormError(f"train.tricks.{name}: expected options like {{key: value}} ({{}} for the "
                               f"defaults), got {args!r}")
        hooks.append(TRICKS.build(name, **args))
        names.append(name)
    return HookList(hooks, names)


__all__ = ["build_hooks", "truncated_normal"]
