"""The hook protocol that adversarial losses and training tricks share.

The trainer knows nothing about any particular loss, penalty or trick: it holds one
``HookList`` (the loss first, then the tricks of ``train.tricks``) and calls these hooks
at fixed points of an iteration::

    setup(env)            once, after the models are built: may wrap env.G / env.D
                          (minibatch discrimination, conditional GAN, BEGAN's auto-encoder)
                          or adjust env.loss (label smoothing)
    D step (x d_steps):   real, y = next batch;  fake = G(z, y)    (ctx.z, ctx.generated = z, fake)
                          fake  = d_fake(fake, ctx)          experience replay
                          x     = d_input(x, ctx)            every image D sees (instance noise,
                                                             DiffAugment, ADA; also in the G step)
                          L_D   = loss.d_loss(D(real), D(fake)) + sum d_penalty(ctx)
                          after_d_step(ctx)                  weight clipping, running means
    G step:               L_G   = loss.g_loss(D(G(z)), D(real)?) + sum g_penalty(ctx)
                          after_g_step(ctx)

D's features reach a hook through ONE documented call, ``ctx.features(x, layer=None)``:
by default the feature map that ``D(x, return_features=True)`` returns (the DCGAN's last
feature map, before the logit layer); ``layer`` names any sub-module of the base D (as in
``D.named_modules()``, e.g. ``features.2``) and is read with a forward hook.

Every hook is a no-op here, so a new trick overrides only the hooks it needs.
"""
from __future__ import annotations

import functools
import inspect
import warnings
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import torch
import torch.nn as nn

from .errors import GannormError


class CompatibilityWarning(UserWarning):
    """A combination that runs but may misbehave; the message says why."""


def warn(msg: str) -> None:
    warnings.warn(msg, CompatibilityWarning, stacklevel=3)


@dataclass
class Setup:
    """What ``setup`` hooks may read and replace before the optimizers are built."""

    G: nn.Module
    D: nn.Module
    loss: Any
    cfg: Any = None  # the run's Config (None outside the trainer)
    image_shape: Tuple[int, int, int] = (1, 28, 28)  # (C, H, W)
    n_classes: Optional[int] = None  # from the data's labels; None = unlabelled


@dataclass
class StepContext:
    """What the loss and tricks see during one D or G step."""

    G: nn.Module
    D: nn.Module
    real: torch.Tensor  # the real batch as D sees it (after d_input)
    fake: torch.Tensor  # the fake batch as D sees it (after d_fake and d_input)
    y: Optional[torch.Tensor] = None  # class labels of the batch (conditional GAN), else None
    d_real: Optional[torch.Tensor] = None  # D's output on real (None in the G step unless needed)
    d_fake: Optional[torch.Tensor] = None
    iteration: int = 0  # iterations completed before this one
    iterations: int = 1  # the run's total, for annealed tricks
    phase: str = "d"  # "d" or "g"
    logs: Dict[str, torch.Tensor] = field(default_factory=dict)  # scalars to log (detached)
    d_fn: Optional[Any] = None  # what computes D's output: D itself or its torch.compile (train.compile)
    z: Optional[torch.Tensor] = None  # the latent codes of this step's fakes
    generated: Optional[torch.Tensor] = None  # the fakes as G made them (before d_fake and d_input)

    def d(self, x: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        """D's output on ``x`` (with the batch's labels when D is conditional)."""
        return call_d(self.D if self.d_fn is None else self.d_fn, x, self.y if y is None else y)

    def features(self, x: torch.Tensor, layer: Optional[str] = None) -> torch.Tensor:
        """THE hook for D's features; see the module docstring."""
        return d_features(self.D, x, self.y, layer)


def call_d(D: nn.Module, x: torch.Tensor, y: Optional[torch.Tensor] = None, **kw):
    return D(x, y=y, **kw) if y is not None else D(x, **kw)


@functools.lru_cache(maxsize=None)
def _forward_takes_return_features(cls: type) -> bool:
    params = inspect.signature(cls.forward).parameters.values()
    return any(p.name == "return_features" or p.kind is p.VAR_KEYWORD for p in params)


def returns_features(D: nn.Module) -> bool:
    """Whether ``D(x, return_features=True)`` is part of D's signature. Asked of the signature,
    not by catching TypeError, so a TypeError raised inside D's forward stays a visible bug."""
    return _forward_takes_return_features(type(D))


def call_g(G: nn.Module, z: torch.Tensor, y: Optional[torch.Tensor] = None):
    return G(z, y=y) if y is not None else G(z)


def base_module(net: nn.Module) -> nn.Module:
    """The innermost network under gannorm's wrappers (each keeps it as ``.net``)."""
    while getattr(net, "is_wrapper", False):
        net = net.net
    return net


def d_features(D: nn.Module, x: torch.Tensor, y: Optional[torch.Tensor] = None,
               layer: Optional[str] = None) -> torch.Tensor:
    if layer is None:
        if not returns_features(D):
            raise GannormError(f"this D ({type(D).__name__}) cannot return its features; "
                               f"use the dcgan model or give the trick a layer name")
        return call_d(D, x, y, return_features=True)[1]
    names = dict(base_module(D).named_modules())
    if layer not in names:
        names = dict(D.named_modules())
    if layer not in names:
        valid = ", ".join(n for n in dict(base_module(D).named_modules()) if n)
        raise GannormError(f"D has no layer {layer!r}; valid: {valid}")
    box: List[torch.Tensor] = []
    handle = names[layer].register_forward_hook(lambda m, i, o: box.append(o))
    try:
        call_d(D, x, y)
    finally:
        handle.remove()
    return box[-1]


class Hooks:
    """Base of losses and tricks: every hook does nothing."""

    #: the trick needs class labels from the data (conditional GAN)
    needs_labels = False
    #: the G step also evaluates D on the last real batch (``ctx.d_real``)
    g_needs_real = False
    #: setup order: smaller first; wrappers that must see the others' D go last
    order = 50

    def setup(self, env: Setup) -> None:
        pass

    def d_fake(self, fake: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        return fake

    def d_input(self, x: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        return x

    def d_penalty(self, ctx: StepContext) -> Optional[torch.Tensor]:
        return None

    def g_penalty(self, ctx: StepContext) -> Optional[torch.Tensor]:
        return None

    def after_d_step(self, ctx: StepContext) -> None:
        pass

    def after_g_step(self, ctx: StepContext) -> None:
        pass

    def state_dict(self) -> Dict[str, Any]:
        return {}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        pass


class HookList:
    """Dispatches each hook to the loss and every trick, in order."""

    def __init__(self, hooks: List[Hooks], names: Optional[List[str]] = None):
        self.hooks = list(hooks)
        self.names = list(names) if names else [type(h).__name__ for h in hooks]

    @property
    def needs_labels(self) -> bool:
        return any(h.needs_labels for h in self.hooks)

    @property
    def g_needs_real(self) -> bool:
        return any(h.g_needs_real for h in self.hooks)

    def setup(self, env: Setup) -> Setup:
        for h in sorted(self.hooks, key=lambda h: h.order):
            h.setup(env)
        return env

    def d_fake(self, fake, ctx):
        for h in self.hooks:
            fake = h.d_fake(fake, ctx)
        return fake

    def d_input(self, x, ctx):
        for h in self.hooks:
            x = h.d_input(x, ctx)
        return x

    def _sum(self, what: str, ctx):
        total = None
        for h in self.hooks:
            p = getattr(h, what)(ctx)
            if p is not None:
                total = p if total is None else total + p
        return 0.0 if total is None else total

    def d_penalty(self, ctx):
        return self._sum("d_penalty", ctx)

    def g_penalty(self, ctx):
        return self._sum("g_penalty", ctx)

    def after_d_step(self, ctx):
        for h in self.hooks:
            h.after_d_step(ctx)

    def after_g_step(self, ctx):
        for h in self.hooks:
            h.after_g_step(ctx)

    def state_dict(self) -> Dict[str, Any]:
        return {n: h.state_dict() for n, h in zip(self.names, self.hooks)}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        for n, h in zip(self.names, self.hooks):
            if n in state:
                h.load_state_dict(state[n])


class DWrapper(nn.Module):
    """Base of D wrappers: keeps the wrapped D as ``.net`` and its calling convention
    ``D(x, y=None, return_features=False)``; features pass through unchanged."""

    is_wrapper = True

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def inner(self, x: torch.Tensor, y: Optional[torch.Tensor] = None):
        """(output, features) of the wrapped D."""
        return d_features_and_out(self.net, x, y)


def d_features_and_out(D: nn.Module, x: torch.Tensor, y: Optional[torch.Tensor] = None):
    if not returns_features(D):
        raise GannormError(f"this D ({type(D).__name__}) cannot return its features "
                           f"(D(x, return_features=True)); use a model that can, e.g. dcgan")
    return call_d(D, x, y, return_features=True)


@torch.no_grad()
def feature_shape(D: nn.Module, image_shape: Tuple[int, int, int], y_example: Optional[int] = None):
    """Shape (C, h, w) of D's features, by one forward pass in eval mode (no state changes)."""
    was = D.training
    D.eval()
    try:
        p = next(D.parameters(), None)
        x = torch.zeros(2, *image_shape, device=p.device if p is not None else "cpu")
        y = None if y_example is None else torch.full((2,), y_example, dtype=torch.long, device=x.device)
        _, h = d_features_and_out(D, x, y)
    finally:
        D.train(was)
    return tuple(h.shape[1:])
