"""Duplicate keys in a YAML file: a mapping that names a key twice is refused, not resolved.

PyYAML keeps the last value of a repeated key without a word, so a rule with ``threshold``
written twice would mean something its author did not see. ``duplicate_keys`` walks the
composed node tree (which still has every key and its line) and reports each repeat with
both lines; inside ``rules`` (or a tests file's ``tests``) the item is named by its ``name``.
"""

from __future__ import annotations

from collections.abc import Iterator

import yaml

from streams.policy.errors import Problem

__all__ = ["duplicate_keys"]

_Path = tuple[str | int, ...]


def duplicate_keys(
    text: str, source: str, items: str = "rules", item: str = "rule"
) -> list[Problem]:
    """Every key repeated inside one mapping of ``text``, as problems naming both lines.
    A text that is not valid YAML has none here (the parser reports it on its own)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return []
    if root is None:
        return []
    problems = []
    for path, key, first, again in _repeats(root, ()):
        label = None
        if len(path) >= 2 and path[0] == items and isinstance(path[1], int):
            label = _item_name(root, items, path[1])
            path = path[2:]
        field = ".".join(str(part) for part in (*path, key))
        message = (
            f"duplicate key {key!r} on lines {first} and {again}: "
            "write it once (YAML would silently keep the last value)"
        )
        problems.append(Problem(source, label, field, message, item=item))
    return problems


def _repeats(node: yaml.Node, path: _Path) -> Iterator[tuple[_Path, str, int, int]]:
    if isinstance(node, yaml.SequenceNode):
        for n, child in enumerate(node.value):
            yield from _repeats(child, (*path, n))
    elif isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value in node.value:
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in seen:
                yield path, key, seen[key], line
            else:
                seen[key] = line
            yield from _repeats(value, (*path, key))


def _item_name(root: yaml.Node, items: str, index: int) -> str:
    """The ``name`` of item ``index`` of the top-level list ``items`` ("#3" without one)."""
    for key_node, value in root.value if isinstance(root, yaml.MappingNode) else ():
        if key_node.value == items and isinstance(value, yaml.SequenceNode):
            entry = value.value[index]
            for name_key, name in entry.value if isinstance(entry, yaml.MappingNode) else ():
                if name_key.value == "name" and isinstance(name, yaml.ScalarNode) and name.value:
                    return str(name.value)
    return f"#{index + 1}"
