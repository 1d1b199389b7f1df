"""Name -> builder registries, one per kind of plug-in, with attributes per entry.

Adding a normalization, loss, trick, model, dataset or metric is one new file that
decorates its builder with ``@REGISTRY.register("name", **attributes)`` plus one import
line in its package's ``__init__``. Lookups of unknown names fail with the list of valid
ones.

Properties that other parts of the package ask about are attributes of the entry, given
at registration and read back with ``attr`` / ``having``, never name lists kept elsewhere:

- norms: ``rescales_weights`` (each weight is rescaled, so clipping raw parameters does
  not bound D), ``gradient_norm`` (normalizes D's output by its input gradient: D only),
  ``inner_gradient`` (takes a gradient w.r.t. the input with ``create_graph``);
- losses and tricks: ``inner_gradient``; tricks: ``phase`` (where it acts: ``"d"``, the D
  step; ``"g"``, the G step; ``"both"``; ``"model"``, it wraps G or D at set-up).

The registries fill themselves on first use: the first lookup imports every module named in
the ``gannorm.plugins`` entry-point group (:data:`ENTRY_POINT_GROUP`), the standard mechanism
of Python packaging. gannorm names its own ``gannorm.plugins`` module there (pyproject.toml),
and a package of one's own adds its module the same way::

    [project.entry-points."gannorm.plugins"]
    my_metrics = "my_package.metrics"

so its entries reach ``gannorm list``, config validation, ``gannorm eval`` and the study cells
(separate processes) without any import in user code.
"""
from __future__ import annotations

import difflib
import inspect
from importlib import metadata
from typing import Any, Callable, Dict, Iterable, Iterator, List

from .errors import GannormError


#: the entry-point group whose modules register plug-ins (gannorm's own included)
ENTRY_POINT_GROUP = "gannorm.plugins"
#: the distribution whose entry point is the package's built-in plug-ins
OWN_DISTRIBUTION = "gannorm"


def plugin_entry_points(external_only: bool = False) -> list:
    """The installed entry points of :data:`ENTRY_POINT_GROUP`, gannorm's own first;
    ``external_only``: those of other distributions."""
    eps = list(metadata.entry_points(group=ENTRY_POINT_GROUP))
    own = [ep for ep in eps if _distribution(ep) == OWN_DISTRIBUTION]
    others = [ep for ep in eps if _distribution(ep) != OWN_DISTRIBUTION]
    return others if external_only else own + others


def _distribution(ep) -> str:
    dist = getattr(ep, "dist", None)
    return (getattr(dist, "name", None) or "").lower().replace("_", "-")


class PluginLoader:
    """Imports every module of the entry-point group once, on the first lookup of any registry.

    A lookup made while the modules are being imported (a plug-in asking a registry at import
    time) sees what is registered so far instead of starting the import again."""

    def __init__(self):
        self.state = "empty"  # empty -> loading -> done

    def ensure(self) -> None:
        if self.state != "empty":
            return
        self.state = "loading"
        try:
            for ep in plugin_entry_points():
                try:
                    ep.load()
                except Exception as e:  # a broken third-party plug-in: name it, in one line
                    raise GannormError(f"the gannorm plug-in {ep.name!r} ({ep.value}) failed to import: "
                                       f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}; "
                                       f"fix or uninstall it") from e
        finally:
            self.state = "done"


#: the one loader every registry asks before a lookup
PLUGINS = PluginLoader()


class Registry:
    """A named mapping from string keys to builders (classes or functions) and their attributes."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: Dict[str, Callable[..., Any]] = {}
        self._help: Dict[str, str] = {}
        self._attrs: Dict[str, Dict[str, Any]] = {}

    def register(self, name: str, help: str | None = None, **attrs: Any):
        """Decorator: ``@NORMS.register("gran", gradient_norm=True)``. Names must be unique.

        Keyword arguments are properties of the entry that other parts ask about (e.g. a
        metric's CLI flag, whether a norm rescales weights), read back with ``attr(name, key)``.
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

    def unregister(self, name: str) -> None:
        """Remove an entry (a plug-in registered only for a while, e.g. in a test)."""
        for d in (self._items, self._help, self._attrs):
            d.pop(name, None)

    def get(self, name: str) -> Callable[..., Any]:
        PLUGINS.ensure()
        try:
            return self._items[name]
        except (KeyError, TypeError):
            if not self._items:
                raise GannormError(f"no {self.kind} is registered: gannorm's plug-ins were not found "
                                   f"(install the package with `pip install -e .`, or import "
                                   f"gannorm.plugins first)") from None
            close = difflib.get_close_matches(str(name), self._items, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise GannormError(
                f"unknown {self.kind} {name!r}; valid: {', '.join(self.names())}.{hint}"
            ) from None

    def attr(self, name: str, key: str, default: Any = None) -> Any:
        """Attribute ``key`` of entry ``name`` (``default`` when it was not given)."""
        self.get(name)
        return self._attrs[name].get(key, default)

    def having(self, key: str, value: Any = True) -> List[str]:
        """Names whose attribute ``key`` equals ``value``, sorted."""
        PLUGINS.ensure()
        return [n for n in self.names() if key in self._attrs[n] and self._attrs[n][key] == value]

    def options(self, name: str, supplied: Iterable[str] = ()) -> List[str] | None:
        """The keyword options a user may give entry ``name`` (its builder's parameters minus
        those the caller ``supplied`` itself); None when the builder takes any (``**kwargs``)."""
        sig = _signature(self.get(name))
        if sig is None or any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
            return None
        skip = set(supplied)
        return [n for n, p in sig.parameters.items()
                if n not in skip and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]

    def check_options(self, name: str, options: Dict[str, Any], where: str,
                      supplied: Iterable[str] = ()) -> None:
        """Refuse an option ``name``'s builder does not take, with the valid ones and a guess."""
        problem = self._unknown_option(name, options, supplied)
        if problem:
            raise GannormError(f"{where}: {problem}")

    def _unknown_option(self, name: str, options: Iterable[str], supplied: Iterable[str] = ()) -> str | None:
        valid = self.options(name, supplied)
        for key in (options if valid is not None else ()):
            if key not in valid:
                close = difflib.get_close_matches(str(key), valid, n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                takes = f"valid: {', '.join(valid)}" if valid else "it takes none"
                return f"{self.kind} {name!r} has no option {key!r}; {takes}.{hint}"
        return None

    def build(self, name: str, *args, **kwargs):
        """Call the builder; arguments that do not fit its signature are a user error (one line),
        anything the builder itself raises keeps its traceback."""
        builder = self.get(name)
        sig = _signature(builder)
        if sig is not None:
            problem = self._unknown_option(name, kwargs)
            if problem:
                raise GannormError(problem)
            try:
                sig.bind(*args, **kwargs)
            except TypeError as e:
                raise GannormError(f"{self.kind} {name!r}: {e}") from None
        return builder(*args, **kwargs)

    def names(self) -> List[str]:
        PLUGINS.ensure()
        return sorted(self._items)

    def help(self, name: str) -> str:
        PLUGINS.ensure()
        return self._help.get(name, "")

    def __contains__(self, name: str) -> bool:
        PLUGINS.ensure()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


def _signature(builder) -> inspect.Signature | None:
    """How the builder is called (a class: its ``__init__`` less ``self``); None if unknown."""
    try:
        return inspect.signature(builder)
    except (TypeError, ValueError):  # some builtins have no signature
        return None


NORMS = Registry("normalization")
LOSSES = Registry("loss")
MODELS = Registry("model")
DATASETS = Registry("dataset")
METRICS = Registry("metric")
EXTRACTORS = Registry("feature extractor")  # feature networks of the sample-quality metrics
TRICKS = Registry("trick")
OPTIMIZERS = Registry("optimizer")
