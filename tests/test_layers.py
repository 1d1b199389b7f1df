"""The package's layers depend one way (docs/ARCHITECTURE.md), checked on the source with ``ast``.

Every ``import`` of a gannorm module, at module level or inside a function, must go to a
lower layer, to the same sub-package, or along one of the few sideways edges allowed below.
A top-level module or sub-package missing from ``LAYERS`` fails the test, so a new one must
be placed on purpose.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "gannorm"

#: top-level module or sub-package of gannorm -> its layer; a module may import lower layers only
LAYERS = {
    "errors": 0,                      # the error type
    "version": 0,                     # the package's version
    "utils": 1,                       # atomic file writes, directory locks, progress bars
    "registry": 1, "hooks": 1,        # name -> builder tables; the step-hook protocol of losses and tricks
    "health": 1,                      # stability signals, their thresholds and rules (live monitor, watch, study)
    "outcomes": 2,                    # how a run or study cell ended, and what it means for a verdict
    "config": 2,                      # typed settings; validation asks the registries
    "registry_index": 2,              # the registered names read from the plug-ins' source (no torch)
    "nn": 3, "models": 3, "losses": 3, "tricks": 3, "data": 3, "metrics": 3,  # plug-ins, pure metrics
    "training": 4,                    # the trainer, checkpoints, optimizers
    "plugins": 5,                     # imports every plug-in package: fills the registries
    "evaluation": 6,                  # run-level: a run directory, its checkpoints, periodic metrics
    "store": 7,                       # the study store, final-test keys, the statistics runner and report share
    "study": 8,                       # runs a study's grid of cells into the store (no edge to report)
    "report": 8,                      # reads a store, renders its report (no edge to study)
    "cli": 9, "__main__": 10,         # the command line, and `python -m gannorm`
    "": 11,                           # the package's own __init__: the public face
}

#: edges between different packages of the same layer that are allowed (importer, imported)
SIDEWAYS = {
    ("models", "nn"),      # architectures are built from the norms' layers
    ("tricks", "losses"),  # gradient penalties shared by a loss (wgan_gp) and tricks (gp, r1, dragan)
}

#: gannorm names a lower module may import from the package root itself: none (the version
#: has a module of its own)
ROOT_NAMES: set = set()

#: back-edges that remain (importing module, imported module): none
KNOWN: set = set()


#: packages whose function-local imports of gannorm modules are lazy on purpose: the command
#: line answers --help and list without importing torch through the package
LAZY_OK = {"cli", ""}

#: function-local imports of gannorm modules that remain (importing module, imported module):
#: the extractor <-> domain classifier pair (each builds the other), and the Ray backends, loaded
#: only when a study asks for them (they import Ray, an optional extra)
KNOWN_LOCAL = {
    ("gannorm.metrics.extractors", "gannorm.metrics.domain_classifier"),
    ("gannorm.metrics.domain_classifier", "gannorm.metrics.extractors"),
    ("gannorm.study.backends", "gannorm.study.halving"), ("gannorm.study.backends", "gannorm.study.ray_backend"),
}


def modules(src: Path = SRC):
    """(dotted name, package the module's relative imports start from, path) of every module."""
    for path in sorted((src / PACKAGE).rglob("*.py")):
        parts = path.relative_to(src).with_suffix("").parts
        if parts[-1] == "__init__":
            name = ".".join(parts[:-1])
            yield name, name, path
        else:
            name = ".".join(parts)
            yield name, name.rpartition(".")[0], path


def function_bodies(tree: ast.AST):
    """The function definitions of the tree (their imports run at call time, not import time)."""
    return [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


def imported(tree: ast.AST, package: str):
    """(line, dotted gannorm module or root name) of every import in the tree, at any depth."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = ".".join(base[:len(base) - node.level + 1])
            else:
                base = ""
            mod = ".".join(p for p in (base, node.module) if p)
            if node.module is None:  # from . import a, b: each name may be a module
                for alias in node.names:
                    yield node.lineno, f"{mod}.{alias.name}"
            else:
                yield node.lineno, mod


def resolve(name: str, src: Path = SRC) -> str:
    """The module ``name`` refers to: itself if it is a module or package, else its parent
    (``gannorm.nn.Norm`` -> ``gannorm.nn``)."""
    parts = name.split(".")
    while len(parts) > 1:
        p = src.joinpath(*parts)
        if p.with_suffix(".py").is_file() or (p / "__init__.py").is_file():
            break
        parts.pop()
    return ".".join(parts)


def top(module: str) -> str:
    """``gannorm.nn.prepare`` -> ``nn``; the package root -> ``""``."""
    return module.split(".")[1] if "." in module else ""


def violations(src: Path = SRC, known=frozenset()):
    bad = []
    for name, package, path in modules(src):
        src_top = top(name)
        if src_top not in LAYERS:
            bad.append(f"{name}: {src_top!r} has no layer; add it to LAYERS in {Path(__file__).name}")
            continue
        for line, target in imported(ast.parse(path.read_text(encoding="utf-8")), package):
            if target != PACKAGE and not target.startswith(PACKAGE + "."):
                continue
            mod = resolve(target, src)
            dst_top = top(mod)
            where = f"{path.relative_to(src)}:{line}: {name} imports {target}"
            if mod == PACKAGE and target != PACKAGE and target.rpartition(".")[2] in ROOT_NAMES:
                continue
            if dst_top not in LAYERS:
                bad.append(f"{where}: {dst_top!r} has no layer; add it to LAYERS")
            elif (name, mod) in known or src_top == dst_top:
                continue
            elif LAYERS[dst_top] > LAYERS[src_top]:
                bad.append(f"{where}: upward ({src_top} is below {dst_top or 'the package root'})")
            elif LAYERS[dst_top] == LAYERS[src_top] and (src_top, dst_top) not in SIDEWAYS:
                bad.append(f"{where}: sideways ({src_top} and {dst_top} are both layer {LAYERS[src_top]})")
    return bad


def test_imports_go_down_the_layers():
    bad = violations(known=KNOWN)
    assert not bad, "imports against the layers:\n" + "\n".join(bad)


def local_imports(src: Path = SRC, known=frozenset()):
    """Function-local imports of gannorm modules outside the lazy command line: each one either
    dodges an import cycle or could simply sit at the top of its module."""
    bad = []
    for name, package, path in modules(src):
        if top(name) in LAZY_OK:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        seen = set()
        for fn in function_bodies(tree):
            for line, target in imported(fn, package):
                if target.startswith(PACKAGE + ".") and line not in seen:
                    seen.add(line)
                    if (name, resolve(target, src)) not in known:
                        bad.append(f"{path.relative_to(src)}:{line}: {name} imports {target} inside a function")
    return bad


def test_no_function_local_imports_below_the_command_line():
    bad = local_imports(known=KNOWN_LOCAL)
    assert not bad, "move these imports to the top of their module:\n" + "\n".join(bad)


def test_config_imports_only_the_bottom():
    """config reads names from the registries (and the health rules' signal names and
    thresholds, a layer-1 vocabulary); it imports no plug-in, metric or trainer."""
    tree = ast.parse((SRC / PACKAGE / "config.py").read_text(encoding="utf-8"))
    targets = {top(resolve(t)) for _, t in imported(tree, PACKAGE) if t.startswith(PACKAGE + ".")}
    assert targets <= {"errors", "registry", "utils", "health"}, targets


def _write(root: Path, rel: str, text: str):
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)


@pytest.mark.parametrize("rel,text,match", [
    ("gannorm/nn/bad.py", "from ..data import load_data\n", "nn.bad imports gannorm.data: sideways"),
    ("gannorm/nn/bad.py", "def f():\n    from ..training import Trainer\n", "upward"),
    ("gannorm/config.py", "def v():\n    from .metrics import evaluate\n", "upward"),
    ("gannorm/newpkg/__init__.py", "", "'newpkg' has no layer"),
    ("gannorm/losses/bad.py", "import gannorm.cli\n", "upward"),
    # the runner and the report meet only in the store
    ("gannorm/report/bad.py", "from ..study.grid import load_study\n", "report.bad imports gannorm.study.grid: sideways"),
    ("gannorm/study/bad.py", "def f():\n    from ..report import build_report\n", "sideways"),
    ("gannorm/store/bad.py", "from ..report import analysis\n", "upward"),
])
def test_the_check_sees_a_bad_edge(tmp_path, rel, text, match):
    """The checker on a toy tree: each planted import is reported, function-local ones too."""
    for d in ("gannorm", "gannorm/nn", "gannorm/data", "gannorm/training", "gannorm/metrics",
              "gannorm/losses", "gannorm/cli", "gannorm/store", "gannorm/study", "gannorm/report"):
        _write(tmp_path, f"{d}/__init__.py", "")
    _write(tmp_path, "gannorm/config.py", "from .errors import GannormError\n")
    _write(tmp_path, "gannorm/errors.py", "")
    assert violations(tmp_path) == []
    _write(tmp_path, rel, text)
    bad = violations(tmp_path)
    assert any(match in b for b in bad), bad
