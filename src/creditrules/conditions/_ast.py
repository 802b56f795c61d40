"""The typed syntax tree of the ``when:`` condition language, and the facts it reads.

The parser (``_conditions``) turns condition text into these nodes after type checking
against a :class:`Schema`; the reference evaluator and the durable_rules compiler both
consume them. Nodes are frozen and carry the source text they came from, so explanations
quote the author's own words.

Semantics every consumer must share (the reference evaluator is the definition):

* ``==`` is true only when both sides are present and equal; ``!=`` is its negation
  (so a missing value is ``!=`` to everything);
* ordering comparisons (``< <= > >=``) are false when either side is missing; they apply to
  numbers and dates only, and one side is always a literal;
* ``x in [..]`` is true when ``x`` is present and equal to one of the options; ``not in``
  is its negation;
* a bare boolean field means ``field == true``;
* ``count(collection, predicate)`` counts the items of a collection for which the
  predicate (over the item's own fields) is true; ``count(collection)`` counts them all.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from decimal import Decimal

import attrs

__all__ = [
    "And",
    "Compare",
    "Count",
    "Expr",
    "Facts",
    "Field",
    "InList",
    "Literal",
    "Not",
    "Or",
    "Path",
    "Pos",
    "Schema",
    "Type",
    "Value",
]

Path = tuple[str, ...]
Value = Decimal | str | bool | dt.date | None


class Type(enum.Enum):
    """The value types a condition can compare."""

    NUMBER = "number"
    TEXT = "text"
    BOOL = "bool"
    DATE = "date"

    def __str__(self) -> str:
        return self.value


@attrs.frozen
class Pos:
    """A position inside condition text: 1-based line and column."""

    line: int = 1
    column: int = 1


@attrs.frozen
class Literal:
    """A constant: a Decimal, a string, a bool or a date."""

    value: Decimal | str | bool | dt.date
    type: Type
    text: str
    pos: Pos = Pos()


@attrs.frozen
class Field:
    """A field read from the deal (or, inside ``count``, from the collection item)."""

    path: Path
    type: Type
    text: str
    pos: Pos = Pos()


@attrs.frozen
class Count:
    """``count(collection[, where])``: the number of items satisfying ``where``."""

    collection: str
    where: Expr | None
    text: str
    pos: Pos = Pos()
    type: Type = Type.NUMBER


@attrs.frozen
class Compare:
    """``left op right``; normalised so that ``left`` is never a literal."""

    op: str  # one of == != < <= > >=
    left: Field | Count
    right: Literal | Field | Count
    text: str
    pos: Pos = Pos()


@attrs.frozen
class InList:
    """``subject in [options]`` (or ``not in`` when ``negated``)."""

    subject: Field
    options: tuple[Literal, ...]
    negated: bool
    text: str
    pos: Pos = Pos()


@attrs.frozen
class And:
    parts: tuple[Expr, ...]
    text: str
    pos: Pos = Pos()


@attrs.frozen
class Or:
    parts: tuple[Expr, ...]
    text: str
    pos: Pos = Pos()


@attrs.frozen
class Not:
    part: Expr
    text: str
    pos: Pos = Pos()


Expr = Compare | InList | And | Or | Not


@attrs.frozen
class Schema:
    """What conditions may read: deal fields and, per collection, the item fields."""

    fields: Mapping[Path, Type]
    collections: Mapping[str, Mapping[Path, Type]]
    # Text fields whose values are partner ids (item fields as ("activities", "partner")):
    # literals compared with them must name a partner.
    partner_fields: frozenset[Path] = frozenset()
    partners: frozenset[str] = frozenset()


@attrs.frozen
class Facts:
    """The values of one deal as conditions see them: scalars by path, collections of items."""

    scalars: Mapping[Path, Value]
    collections: Mapping[str, tuple[Mapping[Path, Value], ...]]
