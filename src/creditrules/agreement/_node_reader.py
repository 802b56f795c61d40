"""The reader the schema layer builds on (:class:`_Reader`): located YAML nodes converted
by declared shape and type from the scalars' raw text, each problem gathered (with its
location and code) instead of raised."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from fractions import Fraction
from typing import TypeVar

from creditrules.agreement._yaml import MapNode, Node, ScalarNode, SeqNode
from creditrules.agreement.ruleset import DateRange, Partner
from creditrules.base._dates import parse_iso_date
from creditrules.base._money import MoneyError, parse_share
from creditrules.base._wording import date_hint, percent_hint
from creditrules.errors import Location, Problem, suggest

_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")

T = TypeVar("T")


class _Reader:
    """Converts nodes, collecting problems instead of stopping at the first."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def problem(self, code: str, message: str, loc: Location) -> None:
        self.problems.append(Problem(code, message, loc))

    # -- shapes ---------------------------------------------------------------------------
    def mapping(self, node: Node | None, what: str, loc: Location) -> MapNode | None:
        if node is None:
            return None
        if isinstance(node, MapNode):
            return node
        if isinstance(node, ScalarNode) and node.is_null:
            return MapNode((), node.loc)
        self.problem("bad-value", f"{what} must be a mapping (key: value lines)", node.loc)
        return None

    def sequence(self, node: Node | None, what: str) -> tuple[Node, ...]:
        if node is None:
            return ()
        if isinstance(node, SeqNode):
            return node.items
        if isinstance(node, ScalarNode) and node.is_null:
            return ()
        self.problem("bad-value", f"{what} must be a list", node.loc)
        return ()

    def keys(self, node: MapNode, allowed: tuple[str, ...], what: str) -> None:
        for key, _ in node:
            if key.text not in allowed:
                self.problem(
                    "unknown-key",
                    f"unknown key {key.text!r} in {what}" + suggest(key.text, allowed),
                    key.loc,
                )

    def required(self, node: MapNode, key: str, what: str) -> Node | None:
        value = node.get(key)
        if value is None or (isinstance(value, ScalarNode) and value.is_null):
            self.problem("missing-key", f"{what} needs {key!r}", node.loc)
            return None
        return value

    # -- scalars --------------------------------------------------------------------------
    def scalar(self, node: Node | None, what: str) -> ScalarNode | None:
        if node is None:
            return None
        if isinstance(node, ScalarNode):
            return node
        self.problem("bad-value", f"{what} must be a single value", node.loc)
        return None

    def text(self, node: Node | None, what: str) -> str | None:
        s = self.scalar(node, what)
        return None if s is None or s.is_null else s.text

    def name(self, node: Node | None, what: str, pattern: re.Pattern[str] = _NAME) -> str | None:
        s = self.scalar(node, what)
        if s is None:
            return None
        if not pattern.match(s.text):
            self.problem(
                "bad-name",
                f"{what} {s.text!r} must be a short name: lower-case letters, digits, '-' or '_'",
                s.loc,
            )
            return None
        return s.text

    def boolean(self, node: Node | None, what: str) -> bool | None:
        s = self.scalar(node, what)
        if s is None:
            return None
        if not s.quoted and s.text in ("true", "false"):
            return s.text == "true"
        self.problem("bad-value", f"{what} must be true or false, got {s.text!r}", s.loc)
        return None

    def date(self, node: Node | None, what: str) -> dt.date | None:
        s = self.scalar(node, what)
        if s is None or s.is_null:
            return None
        try:
            return parse_iso_date(s.text)
        except ValueError:
            hint = date_hint(s.text)
            self.problem(
                "bad-date",
                f"{what} must be a date YYYY-MM-DD, got {s.text!r}" + (f": {hint}" if hint else ""),
                s.loc,
            )
            return None

    def share(
        self, node: Node | None, what: str, *, limit: Fraction | None = None
    ) -> Fraction | None:
        s = self.scalar(node, what)
        if s is None:
            return None
        try:
            value = parse_share(s.text)
        except MoneyError as exc:
            self.problem("bad-share", f"{what}: {exc}", s.loc)
            return None
        if limit is not None and value > limit:
            self.problem(
                "bad-share",
                f"{what} {s.text} is above {limit * 100}%" + percent_hint(s.text),
                s.loc,
            )
            return None
        return value

    def date_range(self, node: Node | None, what: str) -> DateRange:
        m = self.mapping(node, what, Location(""))
        if m is None:
            return DateRange()
        self.keys(m, ("from", "to"), what)
        start = self.date(m.get("from"), f"{what} 'from'")
        end = self.date(m.get("to"), f"{what} 'to'")
        if start and end and end < start:
            self.problem("bad-effective", f"{what} ends ({end}) before it starts ({start})", m.loc)
        return DateRange(start, end)

    def partner_map(
        self,
        node: Node | None,
        what: str,
        partners: Mapping[str, Partner],
        convert: Callable[[Node, str], T | None],
    ) -> dict[str, T] | None:
        m = self.mapping(node, what, Location(""))
        if m is None:
            return None
        out: dict[str, T] = {}
        for key, value in m:
            if key.text not in partners:
                self.problem(
                    "unknown-partner",
                    f"unknown partner {key.text!r}" + suggest(key.text, partners),
                    key.loc,
                )
                continue
            converted = convert(value, f"{what} for {key.text}")
            if converted is not None:
                out[key.text] = converted
        return out
