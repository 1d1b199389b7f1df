"""Random-search axes: a study draws settings instead of listing them.

Study YAML::

    sample:
      draws: 8          # per method; every method gets the same draws (paired)
      seed: 0           # the draws are reproducible from it
      method: random    # independent uniform draws (default), or sobol (scrambled, draws a power of 2)
      space:
        optim.g_lr: {loguniform: [1.0e-5, 1.0e-3]}
        optim.d_lr: {loguniform: [1.0e-5, 1.0e-3]}
        optim.beta1: {choice: [0.0, 0.5]}
        train.d_steps: {choice: [1, 2, 5]}
        optim.beta2: {uniform: [0.9, 0.999]}
        train.batch_size: {int: [16, 64]}        # integers, both ends included

Independent random draws are the default because the expected-best-of-k view of a tuning
study (Dodge et al. 2019; Lucic et al. 2018) assumes them. A scrambled Sobol sequence
(``scipy.stats.qmc``; Owen scrambling) covers the space more evenly for the same number of
draws, at the price of that assumption. Each draw maps a point ``u`` of the unit cube to a
setting by the inverse CDF of each dimension's distribution:

- ``loguniform [a, b]``: ``exp(log a + u (log b - log a))``;
- ``uniform [a, b]``: ``a + u (b - a)``;
- ``int [a, b]``: ``a + floor(u (b - a + 1))``, clipped to ``b``;
- ``choice [v1 .. vm]``: ``v[floor(u m)]``.
"""
from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from typing import Any, Dict, List, Sequence

import numpy as np

from .. import config as config_mod
from ..errors import GannormError

KINDS = ("loguniform", "uniform", "int", "choice")
METHODS = ("random", "sobol")


@dataclass(frozen=True)
class Dimension:
    """One setting to draw: its config key, its distribution kind and its arguments."""
    key: str
    kind: str
    args: tuple

    def value(self, u: float) -> Any:
        """The setting at unit-cube coordinate ``u`` in [0, 1)."""
        if self.kind == "loguniform":
            lo, hi = map(math.log, self.args)
            return float(math.exp(lo + u * (hi - lo)))
        if self.kind == "uniform":
            lo, hi = self.args
            return float(lo + u * (hi - lo))
        if self.kind == "int":
            lo, hi = self.args
            return int(min(hi, lo + math.floor(u * (hi - lo + 1))))
        return self.args[min(len(self.args) - 1, int(math.floor(u * len(self.args))))]

    def describe(self) -> str:
        if self.kind == "choice":
            return f"{self.key} in {{{', '.join(map(str, self.args))}}}"
        return f"{self.key} ~ {self.kind}[{self.args[0]}, {self.args[1]}]"


@dataclass(frozen=True)
class SearchSpace:
    dimensions: tuple
    draws: int
    seed: int = 0
    method: str = "random"

    def unit_points(self) -> np.ndarray:
        """(draws, dims) points of the unit cube: independent uniform, or scrambled Sobol."""
        d = len(self.dimensions)
        if self.method == "sobol":
            from scipy.stats import qmc

            return qmc.Sobol(d, scramble=True, seed=self.seed).random(self.draws)
        return np.random.default_rng(self.seed).random((self.draws, d))

    def settings(self) -> List[Dict[str, Any]]:
        """The drawn settings, one ``{key: value}`` per draw, reproducible from the seed."""
        return [{dim.key: dim.value(float(u)) for dim, u in zip(self.dimensions, row)}
                for row in self.unit_points()]

    def overrides(self) -> List[List[str]]:
        """Each draw as ``key=value`` overrides (floats in full precision)."""
        return [[f"{k}={_literal(v)}" for k, v in s.items()] for s in self.settings()]

    def labels(self) -> List[str]:
        """A short label per draw (``d0``, ``d1``, ...): the settings themselves go in the store."""
        width = len(str(self.draws - 1))
        return [f"d{i:0{width}d}" for i in range(self.draws)]


def _literal(v: Any) -> str:
    return repr(float(v)) if isinstance(v, float) else str(v)


def _number(x, where: str) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
        raise GannormError(f"{where}: {x!r} is not a finite number")
    return x


def _dimension(key: str, spec: Any, where: str) -> Dimension:
    full = config_mod.resolve_key(key)
    if not isinstance(spec, dict) or len(spec) != 1:
        raise GannormError(f"{where}.{key}: give one distribution, e.g. {{loguniform: [1.0e-5, 1.0e-3]}} "
                           f"or {{choice: [1, 2]}}; valid kinds: {', '.join(KINDS)}")
    (kind, args), = spec.items()
    if kind not in KINDS:
        close = difflib.get_close_matches(str(kind), KINDS, n=1)
        raise GannormError(f"{where}.{key}: unknown distribution {kind!r}; valid: {', '.join(KINDS)}"
                           + (f". Did you mean {close[0]!r}?" if close else ""))
    if not isinstance(args, (list, tuple)):
        raise GannormError(f"{where}.{key}.{kind}: give a list, e.g. [1.0e-5, 1.0e-3]")
    if kind == "choice":
        if len(args) < 2:
            raise GannormError(f"{where}.{key}.choice has {len(args)} value(s): a choice needs at least 2 "
                               f"(a single value is a fixed setting: put it in the study's base)")
        if len(set(map(repr, args))) != len(args):
            raise GannormError(f"{where}.{key}.choice repeats a value: {list(args)}")
        return Dimension(full, kind, tuple(args))
    if len(args) != 2:
        raise GannormError(f"{where}.{key}.{kind}: give [low, high], got {list(args)}")
    lo, hi = (_number(a, f"{where}.{key}.{kind}") for a in args)
    if not lo < hi:
        raise GannormError(f"{where}.{key}.{kind}: the range [{lo}, {hi}] is empty; give low < high")
    if kind == "loguniform" and lo <= 0:
        raise GannormError(f"{where}.{key}.loguniform: bounds must be positive, got [{lo}, {hi}]")
    if kind == "int" and not (float(lo).is_integer() and float(hi).is_integer()):
        raise GannormError(f"{where}.{key}.int: bounds must be integers, got [{lo}, {hi}]")
    if kind == "int":
        lo, hi = int(lo), int(hi)
    return Dimension(full, kind, (lo, hi))


def parse(spec: Any, where: str = "sample") -> SearchSpace:
    """A study's ``sample`` mapping -> :class:`SearchSpace`, refusing bad input in one line."""
    if not isinstance(spec, dict):
        raise GannormError(f"{where}: give a mapping with draws, seed and space")
    unknown = set(spec) - {"draws", "seed", "method", "space"}
    if unknown:
        raise GannormError(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}; "
                           f"valid: draws, seed, method, space")
    draws = spec.get("draws")
    if isinstance(draws, bool) or not isinstance(draws, int) or draws < 1:
        raise GannormError(f"{where}.draws must be a whole number >= 1, got {draws!r}")
    seed = spec.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2 ** 32:
        raise GannormError(f"{where}.seed must be a whole number in [0, 2^32), got {seed!r}")
    method = spec.get("method", "random")
    if method not in METHODS:
        raise GannormError(f"{where}.method must be one of {', '.join(METHODS)}, got {method!r}")
    if method == "sobol" and draws & (draws - 1):
        lower = 1 << (draws.bit_length() - 1)
        raise GannormError(f"{where}: method sobol needs draws to be a power of 2 (its balance "
                           f"properties), got {draws}; use {lower} or {lower * 2}, or method random")
    space = spec.get("space")
    if not isinstance(space, dict) or not space:
        raise GannormError(f"{where}.space: give at least one setting to draw, e.g. "
                           f"optim.g_lr: {{loguniform: [1.0e-5, 1.0e-3]}}")
    dims = tuple(_dimension(str(k), v, f"{where}.space") for k, v in space.items())
    keys = [d.key for d in dims]
    if len(set(keys)) != len(keys):
        raise GannormError(f"{where}.space names a setting twice: {', '.join(keys)}")
    return SearchSpace(dims, draws, seed, method)


def check_against(space: SearchSpace, axis_keys: Sequence[str], where: str = "sample") -> None:
    """Refuse a drawn setting that an axis of the study also sets (the draws would be overwritten)."""
    clash = sorted({d.key for d in space.dimensions} & {config_mod.resolve_key(k) for k in axis_keys})
    if clash:
        raise GannormError(f"{where}.space draws {', '.join(clash)}, which an axis of the study also sets; "
                           f"draw it or list it, not both")
