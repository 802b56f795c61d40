"""Located YAML: the only module that talks to the YAML parser.

Documents are *composed* (never constructed) with PyYAML's safe loader, so every scalar keeps
its raw text (``0.1`` stays ``"0.1"``, ``no`` stays ``"no"``) and its line and column. The
schema layer then converts each field by its declared type. Anchors and aliases are refused
(they buy rulesets nothing and open the door to billion-laughs inputs), as are duplicate keys
and absurd nesting.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Protocol

import attrs
import yaml  # noqa: TID251  (this module is the YAML seam)

from creditrules.errors import Location, Problem, RulesetError

__all__ = ["MapNode", "Node", "ScalarNode", "SeqNode", "compose"]

_MAX_DEPTH = 32
_BREAKS = "\n\x85\u2028\u2029"  # and a lone "\r", as PyYAML counts lines
_ESCAPE_CODES: dict[str, int] = dict(yaml.scanner.Scanner.ESCAPE_CODES)
_ESCAPE_REPLACEMENTS: dict[str, str] = dict(yaml.scanner.Scanner.ESCAPE_REPLACEMENTS)


@attrs.frozen
class ScalarNode:
    """A scalar's raw text; ``quoted`` when written with quotes or as a block (always text)."""

    text: str
    loc: Location
    quoted: bool = False
    # Where the scalar's content starts, for mapping positions inside it (conditions).
    style: str = ""
    indent: int = 0
    # The scalar as written in the file: quotes, escapes, folded lines, block header.
    source: str = attrs.field(default="", repr=False, eq=False)

    @property
    def is_null(self) -> bool:
        return not self.quoted and self.text in ("", "~", "null", "Null", "NULL")

    def location_at(self, offset: int) -> Location:
        """The file location of character ``offset`` of :attr:`text` (``len(text)``: just
        after the last character).

        Folding, indentation and escapes change only how the text is laid out in the file:
        the non-blank characters of ``text`` appear in :attr:`source` in the same order, so
        the n-th non-blank character of one is the n-th of the other.
        """
        text = self.text
        offset = max(0, min(offset, len(text)))
        spans = self._content_spans()
        if not self.source or len(spans) != sum(1 for ch in text if not ch.isspace()):
            return self.loc  # not composed from a file: no better place than the start
        where = self._source_positions()
        k = sum(1 for ch in text[:offset] if not ch.isspace())
        if offset < len(text) and not text[offset].isspace():
            line, column = where[spans[k][0]]
            return Location(self.loc.file, line, column)
        if k == 0:  # blank text, or blanks before the first character
            line, column = where[spans[0][0]] if spans else (self.loc.line, self.loc.column)
            return Location(self.loc.file, line, column)
        # On a blank or at the end: as far after the previous character as in the text.
        prev = offset - 1
        while text[prev].isspace():
            prev -= 1
        line, column = where[spans[k - 1][1]]
        return Location(self.loc.file, line, column + offset - prev - 1)

    def _source_positions(self) -> list[tuple[int, int]]:
        """(line, column) of each character of :attr:`source`, and of its end."""
        line, column = self.loc.line, self.loc.column
        where = []
        src = self.source
        for i, ch in enumerate(src):
            where.append((line, column))
            if ch in _BREAKS or (ch == "\r" and src[i + 1 : i + 2] != "\n"):
                line, column = line + 1, 1
            else:
                column += 1
        where.append((line, column))
        return where

    def _content_spans(self) -> list[tuple[int, int]]:
        """Where in :attr:`source` each non-blank character of :attr:`text` is written."""
        src, style = self.source, self.style
        i, end = 0, len(src)
        if style in ("'", '"'):
            i, end = 1, len(src) - 1
        elif style in ("|", ">"):  # skip the header line (indicator and comment)
            while i < end and src[i] not in _BREAKS and src[i] != "\r":
                i += 1
        spans = []
        while i < end:
            ch, width = src[i], 1
            if style == '"' and ch == "\\":
                code = src[i + 1 : i + 2]
                if code in _ESCAPE_CODES:
                    width = 2 + _ESCAPE_CODES[code]
                    try:
                        ch = chr(int(src[i + 2 : i + width], 16))
                    except ValueError:
                        ch = "?"
                else:  # a replacement, or an escaped line break (which adds nothing)
                    width = 2
                    ch = _ESCAPE_REPLACEMENTS.get(code, " ")
            elif style == "'" and ch == "'":
                width = 2  # '' is one quote
            if not ch.isspace():
                spans.append((i, i + width))
            i += width
        return spans


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


class _Mark(Protocol):
    line: int
    column: int


def _loc(file: str, mark: _Mark | None) -> Location:
    if mark is None:
        return Location(file)
    return Location(file, mark.line + 1, mark.column + 1)


def compose(text: str, file: str) -> Node | None:
    """Compose one YAML document into located nodes; ``None`` for an empty document.

    Raises :class:`RulesetError` with located problems for syntax errors, anchors, aliases,
    duplicate keys, non-scalar keys and over-deep nesting.
    """
    try:
        # Refused before composing: the composer would expand nothing, but it recurses once
        # per nesting level, so a deeply nested file would exhaust Python's stack.
        _check_events(text, file)
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark, what = _syntax_problem(exc, text)
        raise RulesetError([Problem("yaml-syntax", f"YAML syntax error: {what}",
                                    _loc(file, mark))]) from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow
        raise RulesetError([_reader_problem(exc, text, file)]) from None
    except yaml.YAMLError as exc:  # e.g. more than one document
        raise RulesetError([Problem("yaml-syntax", f"YAML error: {exc}", Location(file))]) from None
    if root is None:
        return None
    problems: list[Problem] = []
    node = _convert(root, file, text, problems, 0, set())
    if problems:
        raise RulesetError(problems)
    return node


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _key_column(line: str) -> int:
    """Where the first key of a line starts: after any list dashes (``  - id: a`` -> 4)."""
    column = _indent(line)
    while line[column : column + 2] == "- ":
        column += 2
        column += _indent(line[column:])
    return column


def _line_above(lines: list[str], row: int) -> tuple[int, str | None]:
    """The nearest line above ``row`` with content (comments and blank lines skipped), and
    its row."""
    for above_row in range(min(row, len(lines)) - 1, -1, -1):
        above = lines[above_row]
        if above.strip() and not above.lstrip().startswith("#"):
            return above_row, above
    return -1, None


class _At:
    """A parser-style mark (0-based line and column) of our own."""

    def __init__(self, line: int, column: int) -> None:
        self.line = line
        self.column = column


def _unclosed_quote(lines: list[str]) -> tuple[int, int] | None:
    """The first line whose value opens a quote it does not close (a quoted text may run
    over several lines, so the parser complains only where it finally ends)."""
    for row, line in enumerate(lines):
        value = line.split("#", 1)[0] if '"' not in line else line
        start = value.find('"')
        if start >= 0 and value.replace('\\"', "").count('"') % 2:
            return row, start
        stripped = re.sub(r"^\s*(- )*([^:'\"]+:\s+)?", "", value)
        if stripped.startswith("'") and stripped.replace("''", "").count("'") % 2:
            return row, len(value) - len(stripped)
    return None


def _syntax_problem(exc: yaml.MarkedYAMLError, text: str) -> tuple[_Mark | None, str]:
    """The parser's complaint in an author's terms, with the fix: where it is and what to
    do, rather than the grammar's view (``mapping values are not allowed here``)."""
    mark = exc.problem_mark or exc.context_mark
    what = exc.problem or exc.context or "invalid YAML"
    if exc.context and what.startswith("but "):
        what = f"{exc.context}, {what}"
    if mark is None:
        return mark, what
    lines = text.splitlines()
    line = lines[mark.line] if mark.line < len(lines) else ""
    above_row, above = _line_above(lines, mark.line)
    more = above is not None and _indent(line) > _key_column(above) \
        and not above.rstrip().endswith((":", "|", ">", "|-", ">-"))
    if "'\\t'" in what or "\t" in what:
        return mark, ("a tab ('\\t') cannot indent YAML or separate a key from its value: "
                      "use spaces")
    opened = _unclosed_quote(lines[: mark.line + 1])
    if opened is not None and not what.startswith("found unexpected end of stream"):
        row, column = opened
        return _At(row, column), (f"the quote opened at line {row + 1} is not closed on that "
                                  "line, so the text runs on to the next quote: close it")
    if what == "mapping values are not allowed here":
        if ": " in line[: mark.column] or line[: mark.column].rstrip().endswith(":"):
            return mark, ("a colon followed by a space starts a new key, so this text reads "
                          "as a second key on one line: put the text in quotes "
                          "(text: \"Note: ...\"), or write it as a block (text: >-, then the "
                          "text on the next lines, indented)")
        if more:
            assert above is not None
            return mark, (f"this line is indented more than the key above it (line "
                          f"{above_row + 1}): line it up with that key, at column "
                          f"{_key_column(above) + 1}")
    if what.startswith("expected <block end>") and above is not None:
        column = _key_column(above)
        where = mark.line + 1
        if _indent(line) > column:
            return mark, (f"line {where} is indented more than the key above it: line it "
                          f"up with that key, at column {column + 1}, or indent it under a "
                          "key that ends with a colon")
        if above.lstrip().startswith("- ") and _indent(line) == _indent(above):
            return mark, (f"line {where} lines up with the '-' of the list item above but "
                          "does not start a new item: indent it to line up with the item's "
                          f"first key (column {column + 1}), or start a new item with '- '")
        return mark, (f"line {where} is indented less than the key above it but does not "
                      "line up with any key of the level above: line it up with the key "
                      f"above (column {column + 1}) or with its parent")
    if what == "found unexpected end of stream" and exc.context \
            and "quoted scalar" in exc.context:
        return exc.context_mark, "this quote is never closed: add the closing quote"
    if what == "could not find expected ':'":
        start = exc.context_mark or mark
        return start, ("this line has no colon: each entry of a mapping is 'key: value'; if "
                       "it continues the text above, put that text in quotes or write it "
                       "as a block (>-)")
    return mark, what


def _check_events(text: str, file: str) -> None:
    """Refuse anchors, aliases and over-deep nesting from the parser's flat event stream."""
    problems: list[Problem] = []
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
            continue
        if not isinstance(event, yaml.NodeEvent):
            continue
        loc = _loc(file, event.start_mark)
        problems.extend(_tag_problems(event, loc))
        if event.anchor is not None:  # an anchor (&name) or an alias (*name)
            problems.append(Problem("yaml-alias", "anchors and aliases are not allowed in "
                                    "rulesets", loc))
        if depth > _MAX_DEPTH:
            problems.append(Problem("yaml-depth", f"nesting deeper than {_MAX_DEPTH} levels",
                                    loc))
            break
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
    if problems:
        raise RulesetError(problems)


def _reader_problem(exc: yaml.reader.ReaderError, text: str, file: str) -> Problem:
    """A character YAML refuses (NUL, other control characters), at its line and column
    (PyYAML gives only an offset)."""
    at = max(0, min(int(exc.position), len(text)))
    line = text.count("\n", 0, at) + 1
    column = at - (text.rfind("\n", 0, at) + 1) + 1
    code = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1] or "?")
    return Problem("yaml-syntax", f"character U+{code:04X} is not allowed in YAML",
                   Location(file, line, column))


def _tag_problems(event: yaml.NodeEvent, loc: Location) -> list[Problem]:
    """A tag on any node (``!!binary``, ``!!python/...``, ``!custom``, even ``!!str``) is
    refused: a ruleset's values are read by their declared types, and a dropped tag would
    silently change what the author wrote."""
    tag = getattr(event, "tag", None)
    if tag is None:
        return []
    shown = tag if len(tag) <= 40 else tag[:40] + "..."
    return [Problem("yaml-tag", f"YAML tags are not allowed (found {shown!r}); write the "
                    "value as plain text", loc)]


def _convert(node: yaml.Node, file: str, text: str, problems: list[Problem], depth: int,
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
        source = text[node.start_mark.index:node.end_mark.index]
        indent = 0
        if style in ("|", ">"):  # the indentation of the first non-blank content line
            content = source.splitlines()[1:]
            head = next((ln for ln in content if ln.strip()), "")
            indent = len(head) - len(head.lstrip(" "))
        return ScalarNode(str(node.value), loc, quoted=bool(style), style=style, indent=indent,
                          source=source)
    if isinstance(node, yaml.SequenceNode):
        return SeqNode(tuple(_convert(n, file, text, problems, depth + 1, seen)
                             for n in node.value), loc)
    assert isinstance(node, yaml.MappingNode)
    items: list[tuple[ScalarNode, Node]] = []
    first: dict[str, Location] = {}
    for knode, vnode in node.value:
        key = _convert(knode, file, text, problems, depth + 1, seen)
        if not isinstance(key, ScalarNode):
            problems.append(Problem("yaml-key", "mapping keys must be plain names", key.loc))
            continue
        if key.text in first:
            problems.append(Problem(
                "duplicate-key", f"duplicate key {key.text!r} (first given at line "
                f"{first[key.text].line})", key.loc))
            continue
        first[key.text] = key.loc
        items.append((key, _convert(vnode, file, text, problems, depth + 1, seen)))
    return MapNode(tuple(items), loc)
