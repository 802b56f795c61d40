"""The reference evaluator of conditions (:func:`evaluate`, the definition of the
language's semantics) and the explanations of why a condition is false (:func:`explain`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from decimal import Decimal

from creditrules.conditions._ast import (
    And,
    Compare,
    Count,
    Expr,
    Facts,
    Field,
    InList,
    Literal,
    Not,
    Or,
    Path,
    Type,
    Value,
)


def _checked(value: object, field: Field) -> Value:
    """``value`` as the field's declared type; a wrongly typed fact is a caller bug."""
    type_ = field.type
    if type_ is Type.NUMBER and isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    ok = {
        Type.NUMBER: isinstance(value, Decimal),
        Type.TEXT: isinstance(value, str),
        Type.BOOL: isinstance(value, bool),
        # datetime is a date subclass but does not compare with dates.
        Type.DATE: isinstance(value, dt.date) and not isinstance(value, dt.datetime),
    }[type_]
    if not ok:
        raise TypeError(
            f"fact {field.text} is {value!r} ({type(value).__name__}), expected {type_}"
        )
    assert isinstance(value, Decimal | str | bool | dt.date)
    return value


def _value(
    operand: Field | Count | Literal, env: Mapping[Path, Value], facts: Facts
) -> Value:
    if isinstance(operand, Literal):
        return operand.value
    if isinstance(operand, Field):
        value = env.get(operand.path)
        return None if value is None else _checked(value, operand)
    items = facts.collections.get(operand.collection, ())
    where = operand.where
    if where is None:
        return Decimal(len(items))
    return Decimal(sum(1 for item in items if _eval(where, item, facts)))


def _equal(a: Value, b: Value) -> bool:
    # Python says True == 1; the language does not mix booleans and numbers.
    return (
        a is not None
        and b is not None
        and isinstance(a, bool) == isinstance(b, bool)
        and a == b
    )


def _holds(op: str, a: Value, b: Value) -> bool:
    if op == "==":
        return _equal(a, b)
    if op == "!=":
        return not _equal(a, b)
    if a is None or b is None:
        return False
    # Separate branches so each comparison is between two values of one type.
    if isinstance(a, Decimal) and isinstance(b, Decimal):  # noqa: SIM114
        sign = (a > b) - (a < b)
    elif isinstance(a, dt.date) and isinstance(b, dt.date):
        sign = (a > b) - (a < b)
    else:
        raise TypeError(f"cannot order {a!r} against {b!r}")
    return {"<": sign < 0, "<=": sign <= 0, ">": sign > 0, ">=": sign >= 0}[op]


def _eval(expr: Expr, env: Mapping[Path, Value], facts: Facts) -> bool:
    if isinstance(expr, Compare):
        return _holds(expr.op, _value(expr.left, env, facts), _value(expr.right, env, facts))
    if isinstance(expr, InList):
        value = _value(expr.subject, env, facts)
        return any(_equal(value, o.value) for o in expr.options) != expr.negated
    if isinstance(expr, And):
        return all(_eval(p, env, facts) for p in expr.parts)
    if isinstance(expr, Or):
        return any(_eval(p, env, facts) for p in expr.parts)
    if isinstance(expr, Not):
        return not _eval(expr.part, env, facts)
    raise TypeError(f"not a condition node: {expr!r}")


def evaluate(expr: Expr, facts: Facts) -> bool:
    """Whether ``expr`` holds for ``facts``: the reference semantics of the language.

    A scalar path absent from ``facts`` (or mapped to None) is missing; an absent
    collection has no items. Raises TypeError if a fact's value does not have its field's
    declared type (int is accepted for numbers).
    """
    return _eval(expr, facts.scalars, facts)


# ---------------------------------------------------------------------------------------
# Explanations


def _show(value: Value) -> str:
    if value is None:
        return "missing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, Decimal):
        return format(value, "f")
    return value.isoformat()


def _is_bare_bool(expr: Compare) -> bool:
    return (
        expr.op == "=="
        and isinstance(expr.left, Field)
        and expr.left.type is Type.BOOL
        and isinstance(expr.right, Literal)
        and expr.right.value is True
        and expr.text == expr.left.text
    )


def _sides(sides: tuple[Field | Count | Literal, ...], facts: Facts) -> str:
    counts = sum(isinstance(s, Count) for s in sides)
    shown = []
    for side in sides:
        if isinstance(side, Literal):
            continue
        # "count is 0" reads best; spell the count out only when two would be ambiguous.
        name = "count" if isinstance(side, Count) and counts == 1 else side.text
        shown.append(f"{name} is {_show(_value(side, facts.scalars, facts))}")
    return ", ".join(shown)


def _why_false(expr: Expr, facts: Facts) -> Iterator[str]:
    if isinstance(expr, Compare):
        if _is_bare_bool(expr):
            value = _value(expr.left, facts.scalars, facts)
            yield f"{expr.text} is {'missing' if value is None else 'false'}"
        else:
            yield f"{expr.text} is false: {_sides((expr.left, expr.right), facts)}"
    elif isinstance(expr, InList):
        yield f"{expr.text} is false: {_sides((expr.subject,), facts)}"
    elif isinstance(expr, And):
        for part in expr.parts:
            if not evaluate(part, facts):
                yield from _why_false(part, facts)
    elif isinstance(expr, Or):
        for part in expr.parts:
            yield from _why_false(part, facts)
    elif isinstance(expr, Not):
        # Quote what follows "not" in the source, parentheses included, so the
        # sentence reads unambiguously.
        inner = expr.text[3:].strip() if expr.text.startswith("not") else expr.part.text
        yield f"{inner or expr.part.text} is true"


def explain(expr: Expr, facts: Facts) -> tuple[str, ...]:
    """Why ``expr`` is false for ``facts``: one sentence per minimal false part.

    Returns ``()`` when the condition holds. Sentences quote the condition's own text and
    the actual values, e.g. ``account.owner == "acme" is false: account.owner is "beta"``;
    ``or`` explains every alternative, ``and`` only its false conjuncts.
    """
    if evaluate(expr, facts):
        return ()
    return tuple(dict.fromkeys(_why_false(expr, facts)))
