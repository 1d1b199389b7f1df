"""Name -> builder registries, one per kind of plug-in.

Adding a normalization, loss, model, dataset or metric is one new file that decorates its
builder with ``@REGISTRY.register("name")`` plus one import line in its package's
``__init__``. Lookups of unknown names fail with the list of valid ones.
"""
from __future__ import annotations

import difflib
from typing import Any, Callable, Dict, Iterator, List

from .errors import GannormError


class Registry:
    """A named mapping from string keys to builders (classes or functions)."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: Dict[str, Callable[..., Any]] = {}
        self._help: Dict[str, str] = {}
        self._attrs: Dict[str, Dict[str, Any]] = {}

    def register(self, name: str, help: str | None = None, **attrs):
        """Decorator: ``@NORMS.register("weight")``. Names must be unique.

        Keyword arguments are properties of the entry that other parts ask about (e.g. a
        metric's CLI flag), read back with ``attr(name, key)``.
        """

        def deco(obj):
            if name in self._items and self._items[name] is not obj:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = obj
            doc = help or (obj.__doc__ or "").strip().splitlines()[0:1]
            self._help[name] = doc if isinstance(doc, str) else (doc[0] if doc else "")
            self._attrs[name] = dict(attrs)
            return obj

        return deco

    def get(self, name: str) -> Callable[..., Any]:
        try:
            return self._items[name]
        except KeyError:
            close = difflib.get_close_matches(str(name), self._items, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise GannormError(
                f"unknown {self.kind} {name!r}; valid: {', '.join(self.names())}.{hint}"
            ) from None

    def build(self, name: str, *args, **kwargs):
        builder = self.get(name)
        try:
            return builder(*args, **kwargs)
        except TypeError as e:
            # Bad keyword arguments from a config are a user error, not a bug.
            if "unexpected keyword" in str(e) or "positional argument" in str(e):
                raise GannormError(f"{self.kind} {name!r}: {e}") from None
            raise

    def attr(self, name: str, key: str, default: Any = None) -> Any:
        """The property ``key`` given at registration of ``name`` (``default`` when not given)."""
        self.get(name)
        return self._attrs.get(name, {}).get(key, default)

    def names(self) -> List[str]:
        return sorted(self._items)

    def help(self, name: str) -> str:
        return self._help.get(name, "")

    def __contains__(self, name: str) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


NORMS = Registry("normalization")
LOSSES = Registry("loss")
MODELS = Registry("model")
DATASETS = Registry("dataset")
METRICS = Registry("metric")
TRICKS = Registry("trick")
OPTIMIZERS = Registry("optimizer")
