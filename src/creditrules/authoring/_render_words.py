"""A condition (``when:``) in plain words, for readers who do not read the condition
language: ``account.named and account.owner == "acme"`` -> "the account is a named account
and the account's owner is Acme Pharma, Inc."."""

from __future__ import annotations

from collections.abc import Mapping

from creditrules.conditions._ast import (
    And,
    Compare,
    Count,
    Expr,
    Field,
    InList,
    Literal,
    Not,
    Or,
    Type,
)

__all__ = ["in_words"]

_OPS = {
    "==": "is",
    "!=": "is not",
    ">=": "is at least",
    "<=": "is at most",
    ">": "is more than",
    "<": "is less than",
}
_DATE_OPS = {">=": "is on or after", "<=": "is on or before", ">": "is after", "<": "is before"}
_FIELDS = {
    ("id",): "the deal id",
    ("date",): "the deal date",
    ("amount",): "the amount",
    ("currency",): "the currency",
    ("product",): "the product",
    ("account", "id"): "the account id",
    ("account", "owner"): "the account's owner",
    ("account", "named"): "the account is a named account",
    ("account", "segment"): "the account's segment",
    ("account", "territory"): "the account's territory",
    ("lead", "source"): "the lead's source",
    ("lead", "rep"): "the lead's rep",
    ("expense", "kind"): "the expense's kind",
    ("expense", "amount"): "the expense amount",
}
# Yes/no fields read as a statement rather than "is true".
_FLAGS = {
    ("account", "named"): ("the account is a named account", "the account is not a named account"),
    ("joint",): ("it was joint (reps of more than one partner took part)", "it was not joint"),
    ("owner",): ("the rep is the deal owner", "the rep is not the deal owner"),
}
_COLLECTIONS = {"activities": "activities", "reps": "reps", "attendees": "attendees"}


def in_words(expr: Expr | None, partners: Mapping[str, str]) -> str:
    """``expr`` as an English sentence fragment; partner ids become names."""
    if expr is None:
        return "always"
    return _words(expr, partners, top=True)


def _field(field: Field | Count, partners: Mapping[str, str]) -> str:
    if isinstance(field, Count):
        what = _COLLECTIONS.get(field.collection, field.collection)
        if field.where is None:
            return f"the number of {what}"
        return f"the number of {what} where {_words(field.where, partners)}"
    if field.path in _FIELDS:
        return _FIELDS[field.path]
    if field.path in _FLAGS:
        return _FLAGS[field.path][0]
    if field.path[0] == "attributes":
        return f"the deal's {' '.join(field.path[1:]).replace('_', ' ')}"
    return "the " + " ".join(field.path).replace("_", " ")


def _value(value: Literal | Field | Count, partners: Mapping[str, str]) -> str:
    if not isinstance(value, Literal):
        return _field(value, partners)
    if value.type is Type.TEXT:
        text = str(value.value)
        return partners.get(text, f'"{text}"')
    if value.type is Type.BOOL:
        return "true" if value.value else "false"
    return str(value.value)


def _words(expr: Expr, partners: Mapping[str, str], top: bool = False) -> str:
    if isinstance(expr, And | Or):
        joiner = " and " if isinstance(expr, And) else " or "
        text = joiner.join(_words(p, partners) for p in expr.parts)
        return text if top else f"({text})"
    if isinstance(expr, Not):
        return f"not {_words(expr.part, partners)}"
    if isinstance(expr, InList):
        options = ", ".join(_value(o, partners) for o in expr.options)
        verb = "is not one of" if expr.negated else "is one of"
        return f"{_field(expr.subject, partners)} {verb} {options}"
    assert isinstance(expr, Compare)
    subject = _field(expr.left, partners)
    right = expr.right
    if isinstance(right, Literal) and right.type is Type.BOOL and expr.op in ("==", "!="):
        yes = (right.value is True) == (expr.op == "==")
        if isinstance(expr.left, Field) and expr.left.path in _FLAGS:
            return _FLAGS[expr.left.path][0 if yes else 1]
        return f"{subject} is {'true' if yes else 'false'}"
    ops = _DATE_OPS if expr.left.type is Type.DATE else _OPS
    return f"{subject} {ops.get(expr.op, _OPS[expr.op])} {_value(right, partners)}"
