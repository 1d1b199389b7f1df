"""MkDocs hooks for gannorm's documentation site (``hooks:`` in mkdocs.yml).

- ``on_config``: every page in docs/ that the ``nav`` of mkdocs.yml does not list is added
  under "More", titled by its first heading, so a new page needs no edit of mkdocs.yml.
- ``on_page_markdown``: ``<!-- gannorm:settings -->`` in a page becomes the tables of every
  config key (default and meaning, from the dataclasses in ``gannorm.config``) and of every
  registered name (help text with its paper, and its options with their defaults), read from
  the registries after ``gannorm.plugins`` has filled them. The table is never written by hand,
  so it cannot fall behind the code.
"""
from __future__ import annotations

import inspect
import re
import sys
from dataclasses import MISSING, fields
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARKER = "<!-- gannorm:settings -->"


def _nav_files(nav) -> set:
    out = set()
    for item in nav or []:
        value = next(iter(item.values())) if isinstance(item, dict) else item
        if isinstance(value, list):
            out |= _nav_files(value)
        elif isinstance(value, str):
            out.add(value)
    return out


def _title(path: Path) -> str:
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return path.stem.replace("-", " ").replace("_", " ").capitalize()


def on_config(config, **kwargs):
    docs = Path(config["docs_dir"])
    listed = _nav_files(config["nav"])
    extra = [p.relative_to(docs).as_posix() for p in sorted(docs.rglob("*.md"))
             if p.relative_to(docs).as_posix() not in listed]
    if extra and config["nav"] is not None:
        config["nav"].append({"More": [{_title(docs / e): e} for e in extra]})
    return config


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _field_comments(cls) -> dict:
    src = inspect.getsource(cls)
    return {m.group(1): m.group(2).strip() for m in re.finditer(r"^\s+(\w+):[^#\n]*#\s*(.*)$", src, re.M)}


def _options(builder) -> str:
    try:
        sig = inspect.signature(builder)
    except (TypeError, ValueError):
        return ""
    skip = {"self", "root", "image_size", "channels", "args", "kwargs"}
    opts = [f"`{p.name}={p.default!r}`" for p in sig.parameters.values()
            if p.name not in skip and p.default is not inspect.Parameter.empty
            and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    return ", ".join(opts)


def settings_markdown() -> str:
    sys.path.insert(0, str(ROOT / "src"))
    from gannorm import config as config_mod
    from gannorm import plugins  # noqa: F401  (fills the registries)
    from gannorm.cli import CHOICES
    from gannorm.registry_index import registry_variables

    out = []
    cfg = config_mod.Config()
    for f in fields(cfg):
        section = getattr(cfg, f.name)
        comments = _field_comments(type(section))
        out += [f"### `{f.name}`", "", "| key | default | meaning |", "|---|---|---|"]
        for g in fields(section):
            path = f"{f.name}.{g.name}"
            meaning = comments.get(g.name, "")
            if path in CHOICES:
                meaning = (meaning + "; " if meaning else "") + f"names: [{CHOICES[path]}](#{CHOICES[path].lower()})"
            out.append(f"| `{path}` | `{getattr(section, g.name)!r}` | {_cell(meaning)} |")
        out.append("")
    out += ["## Registered names", "",
            "Each table is a registry: the names a setting accepts, what each is (with its paper), and "
            "its options with their defaults (given as `model.d_norm_args`, `train.loss_args`, "
            "`train.tricks.NAME`, `model.args`, `data.args`). `gannorm list` prints the same.", ""]
    for var, reg in sorted(registry_variables().items()):
        names = reg.names()
        if not names:
            continue
        out += [f"### {var}", "", "| name | what it is | options |", "|---|---|---|"]
        for n in names:
            out.append(f"| `{n}` | {_cell(reg.help(n))} | {_cell(_options(reg.get(n)))} |")
        out.append("")
    return "\n".join(out)


def on_page_markdown(markdown, page, config, files, **kwargs):
    if MARKER in markdown:
        markdown = markdown.replace(MARKER, settings_markdown())
    return markdown
