"""The one YAML reader for files a user writes (run configs, study files, ``key=value`` values).

``yaml.safe_load`` builds no objects but has two traps for a config:

- **Aliases multiply.** ``a: &a [x, x, ...]``, ``b: &b [*a, *a, ...]``, ... nine levels of
  nine references name 9**9 (387 million) leaves in a file of a few hundred bytes. PyYAML
  shares the aliased object, so loading is quick, but anything that walks the result
  (copying, validating, saving the resolved config) expands it. Here the size a document
  would have with every alias expanded is counted on the composed node graph before
  anything is built (each node is visited once: ``size(n) = 1 + sum(size(child))``,
  memoized by node identity) and a document over ``MAX_NODES`` is refused. Anchors and
  aliases of ordinary size keep working; a node that contains itself is refused.
- **Duplicate keys.** YAML leaves a repeated key in one mapping undefined; PyYAML keeps
  the last silently, so ``lr: 1e-4`` higher up is quietly ignored. Refused with both
  lines named. Keys brought in by a merge (``<<: *defaults``) may be overridden, as YAML
  intends.
"""
from __future__ import annotations

from typing import Any, Dict

import yaml

from ..errors import GannormError

#: the largest document, counted with every alias expanded (a config has a few hundred nodes)
MAX_NODES = 100_000


class _Loader(yaml.SafeLoader):
    pass


def _where(mark) -> str:
    return f"line {mark.line + 1}" if mark is not None else "?"


def _check_duplicates(loader, node: yaml.MappingNode) -> None:
    seen: Dict[Any, Any] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, yaml.ScalarNode):
            continue
        key = loader.construct_object(key_node)
        try:
            first = seen.get(key)
        except TypeError:  # an unhashable key: SafeLoader refuses it itself
            continue
        if first is not None:
            raise GannormError(f"duplicate key {key!r} ({_where(first.start_mark)} and "
                               f"{_where(key_node.start_mark)}); YAML keeps only one, so remove the other")
        seen[key] = key_node


def _construct_mapping(loader, node, deep=False):
    if isinstance(node, yaml.MappingNode):
        _check_duplicates(loader, node)
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_Loader.construct_mapping = _construct_mapping


def expanded_size(root: yaml.Node, limit: int = MAX_NODES) -> int:
    """Number of nodes ``root`` stands for with every alias expanded (stops counting past ``limit``)."""
    sizes: Dict[int, int] = {}
    on_path = set()

    def size(n) -> int:
        k = id(n)
        if k in sizes:
            return sizes[k]
        if k in on_path:
            raise GannormError(f"the alias at {_where(n.start_mark)} refers to a node that contains it; "
                               f"a config cannot be infinite: write the values out")
        on_path.add(k)
        total = 1
        if isinstance(n, yaml.SequenceNode):
            children = n.value
        elif isinstance(n, yaml.MappingNode):
            children = [c for kv in n.value for c in kv]
        else:
            children = []
        for c in children:
            total += size(c)
            if total > limit:
                break
        on_path.discard(k)
        sizes[k] = total = min(total, limit + 1)
        return total

    return size(root)


def safe_load(stream, where: str = "YAML") -> Any:
    """Like ``yaml.safe_load``, but refuses duplicate keys and documents that expand past
    ``MAX_NODES`` nodes (aliases counted expanded); each as one ``GannormError`` line
    naming ``where``. ``yaml.YAMLError`` passes through for the caller to word."""
    loader = _Loader(stream)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        try:
            n = expanded_size(node)
        except GannormError as e:
            raise GannormError(f"{where}: {e}") from None
        if n > MAX_NODES:
            raise GannormError(f"{where} expands to more than {MAX_NODES:,} values through its aliases "
                               f"(*name references to &name anchors); write the values out or use fewer "
                               f"nested aliases")
        try:
            return loader.construct_document(node)
        except GannormError as e:
            raise GannormError(f"{where}: {e}") from None
    finally:
        loader.dispose()
