"""Located YAML: the only module that talks to the YAML parser.

Documents are *composed* (never constructed) with PyYAML's safe loader, so every scalar keeps
its raw text (``0.1`` stays ``"0.1"``, ``no`` stays ``"no"``) and its line and column. The
schema layer then converts each field by its declared type. Anchors and aliases are refused
(they buy rulesets nothing and open the door to billion-laughs inputs), as are duplicate keys
and absurd nesting.
"""

from __future__ import annotations

from collections.abc import Iterator

import attrs
import yaml  # noqa: TID251  (this module is the YAML seam)

from creditrules.errors import Location, Problem, RulesetError

__all__ = ["MapNode", "Node", "ScalarNode", "SeqNode", "compose"]

_MAX_DEPTH = 32


@attrs.frozen
class ScalarNode:
    """A scalar's raw text; ``quoted`` when written with quotes or as a block (always text)."""

    text: str
    loc: Location
    quoted: bool = False
    # Where the scalar's content starts, for mapping positions inside it (conditions).
    style: str = ""
    indent: int = 0

    @property
    def is_null(self) -> bool:
        return not self.quoted and self.text in ("", "~", "null", "Null", "NULL")


@attrs.frozen
class SeqNode:
    items: tuple[Node, ...]
    loc: Location


@attrs.frozen
class MapNode:
    """A mapping with scalar keys, in file order (duplicates already refused)."""

    items: tuple[tuple[ScalarNode, Node], ...]
    loc: Location

    def keys(self) -> list[str]:
        return [k.text for k, _ in self.items]

    def get(self, key: str) -> Node | None:
        for k, v in self.items:
            if k.text == key:
                return v
        return None

    def key_node(self, key: str) -> ScalarNode | None:
        for k, _ in self.items:
            if k.text == key:
                return k
        return None

    def __iter__(self) -> Iterator[tuple[ScalarNode, Node]]:
        return iter(self.items)


Node = ScalarNode | SeqNode | MapNode


def _loc(file: str, mark: yaml.Mark | None) -> Location:
    if mark is None:
        return Location(file)
    return Location(file, mark.line + 1, mark.column + 1)


def compose(text: str, file: str) -> Node | None:
    """Compose one YAML document into located nodes; ``None`` for an empty document.

    Raises :class:`RulesetError` with located problems for syntax errors, anchors, aliases,
    duplicate keys, non-scalar keys and over-deep nesting.
    """
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = exc.problem or exc.context or "invalid YAML"
        raise RulesetError([Problem("yaml-syntax", f"YAML syntax error: {what}",
                                    _loc(file, mark))]) from None
    except yaml.YAMLError as exc:  # e.g. more than one document
        raise RulesetError([Problem("yaml-syntax", f"YAML error: {exc}", Location(file))]) from None
    if root is None:
        return None
    problems: list[Problem] = []
    lines = text.splitlines()
    node = _convert(root, file, lines, problems, 0, set())
    if problems:
        raise RulesetError(problems)
    return node


def _convert(node: yaml.Node, file: str, lines: list[str], problems: list[Problem], depth: int,
             seen: set[int]) -> Node:
    loc = _loc(file, node.start_mark)
    if depth > _MAX_DEPTH:
        problems.append(Problem("yaml-depth", f"nesting deeper than {_MAX_DEPTH} levels", loc))
        return ScalarNode("", loc)
    # An alias composes to the very same node object as its anchor: refuse reuse.
    if id(node) in seen or getattr(node, "anchor", None):
        problems.append(Problem("yaml-alias", "anchors and aliases are not allowed in rulesets",
                                loc))
        return ScalarNode("", loc)
    seen.add(id(node))
    if isinstance(node, yaml.ScalarNode):
        style = node.style or ""
        indent = 0
        if style in ("|", ">") and node.start_mark.line + 1 < len(lines):
            nxt = lines[node.start_mark.line + 1]
            indent = len(nxt) - len(nxt.lstrip(" "))
        return ScalarNode(str(node.value), loc, quoted=bool(style), style=style, indent=indent)
    if isinstance(node, yaml.SequenceNode):
        return SeqNode(tuple(_convert(n, file, lines, problems, depth + 1, seen)
                             for n in node.value), loc)
    assert isinstance(node, yaml.MappingNode)
    items: list[tuple[ScalarNode, Node]] = []
    first: dict[str, Location] = {}
    for knode, vnode in node.value:
        key = _convert(knode, file, lines, problems, depth + 1, seen)
        if not isinstance(key, ScalarNode):
            problems.append(Problem("yaml-key", "mapping keys must be plain names", key.loc))
            continue
        if key.text in first:
            problems.append(Problem(
                "duplicate-key", f"duplicate key {key.text!r} (first given at line "
                f"{first[key.text].line})", key.loc))
            continue
        first[key.text] = key.loc
        items.append((key, _convert(vnode, file, lines, problems, depth + 1, seen)))
    return MapNode(tuple(items), loc)
