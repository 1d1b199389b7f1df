"""The registered names and their help, read from the plug-ins' source without importing them.

``gannorm --help``, ``gannorm train --help`` and ``gannorm list`` show every registry's names;
importing the plug-ins to fill the registries would import torch (seconds). The
registrations are literal decorators in the source (``@NORMS.register("weight", help=...)``
above a documented builder, or ``NORMS.register("none", help=...)(Norm)``), so they are
read from there: the names are written once, at the builder. A test checks that this index
equals the registries after ``gannorm.plugins`` is imported.
"""
from __future__ import annotations

import ast
import functools
from pathlib import Path
from typing import Dict, Optional, Tuple

from . import registry

PACKAGE_ROOT = Path(__file__).resolve().parent
#: The modules and packages whose import fills the registries (``gannorm.plugins`` imports these).
PLUGIN_MODULES = ("data", "losses", "metrics", "models", "nn", "tricks", "training.optim")


def registry_variables() -> Dict[str, registry.Registry]:
    """The registries by the variable name plug-ins decorate with (NORMS, LOSSES, ...)."""
    return {k: v for k, v in vars(registry).items() if isinstance(v, registry.Registry)}


def _plugin_files():
    for mod in PLUGIN_MODULES:
        path = PACKAGE_ROOT.joinpath(*mod.split("."))
        yield from sorted(path.rglob("*.py")) if path.is_dir() else [path.with_suffix(".py")]


def _first_doc_line(node: Optional[ast.AST]) -> str:
    doc = ast.get_docstring(node, clean=False) if node is not None else None
    lines = (doc or "").strip().splitlines()
    return lines[0] if lines else ""


#: registering shorthands: ``@feature_metric("name", help=...)`` is ``METRICS.register("name", ...)``
SHORTHANDS = {"feature_metric": "METRICS"}


def _register_call(node, variables) -> bool:
    f = getattr(node, "func", None)
    named = isinstance(node, ast.Call) and bool(node.args) and isinstance(node.args[0], ast.Constant) \
        and isinstance(node.args[0].value, str)
    if named and isinstance(f, ast.Name) and f.id in SHORTHANDS:
        return True
    return (named and isinstance(f, ast.Attribute) and f.attr == "register"
            and isinstance(f.value, ast.Name) and f.value.id in variables)


def _registry_of(call) -> str:
    f = call.func
    return SHORTHANDS[f.id] if isinstance(f, ast.Name) else f.value.id


def _registrations(tree: ast.Module, variables):
    """(variable, name, help, literal attributes) of every ``VAR.register("name", help=...)`` at a module's top
    level: decorating a definition, or called on one (``REG.register("x")(Builder)``)."""
    defs = {n.name: n for n in tree.body if isinstance(n, (ast.ClassDef, ast.FunctionDef))}
    found = []  # (register call, the definition it registers)
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            found += [(d, node) for d in node.decorator_list if _register_call(d, variables)]
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) \
                and _register_call(node.value.func, variables):
            arg = node.value.args[0] if node.value.args else None
            found.append((node.value.func, defs.get(arg.id) if isinstance(arg, ast.Name) else None))
    for call, definition in found:
        given = [k.value for k in call.keywords if k.arg == "help"] or call.args[1:2]
        text = given[0].value if given and isinstance(given[0], ast.Constant) else _first_doc_line(definition)
        literal = {k.arg: k.value.value for k in call.keywords
                   if k.arg and k.arg != "help" and isinstance(k.value, ast.Constant)}
        yield _registry_of(call), call.args[0].value, text, literal


@functools.lru_cache(maxsize=1)
def _index() -> Tuple[Dict[str, Dict[str, str]], Dict[str, Dict[str, Dict]]]:
    """({registry variable: {name: help}}, {registry variable: {name: literal attributes}})."""
    variables = registry_variables()
    helps: Dict[str, Dict[str, str]] = {v: {} for v in variables}
    attrs: Dict[str, Dict[str, Dict]] = {v: {} for v in variables}
    for path in _plugin_files():
        src = path.read_text(encoding="utf-8")
        if ".register(" not in src:
            continue
        for var, name, text, literal in _registrations(ast.parse(src, str(path)), variables):
            helps[var][name] = text
            attrs[var][name] = literal
    return helps, attrs


def declared() -> Dict[str, Dict[str, str]]:
    """{registry variable: {name: help}} for every registration in the plug-in modules."""
    return _index()[0]


def literal_attr(variable: str, name: str, key: str, default=None):
    """An attribute given as a literal at registration (e.g. a trick's ``phase="d"``)."""
    return _index()[1][variable].get(name, {}).get(key, default)


def names(variable: str):
    """Sorted registered names of the registry ``variable`` ("NORMS", "LOSSES", ...)."""
    return sorted(declared()[variable])


def help_text(variable: str, name: str) -> str:
    return declared()[variable].get(name, "")
