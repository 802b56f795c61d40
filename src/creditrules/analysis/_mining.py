"""What the deal strategies mine from a ruleset's conditions: the literals worth trying
(with their neighbours) and the targets, ways of satisfying each rule's condition so that
generated deals reach it."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import attrs

from creditrules.agreement.ruleset import Ruleset
from creditrules.conditions import _conditions
from creditrules.conditions._ast import Count, Expr, Literal, Path, Type, Value


def _key(value: Value) -> tuple[str, str]:
    return (type(value).__name__, str(value))


@attrs.frozen
class Literals:
    """The values a ruleset's conditions compare against, with their neighbours.

    ``values``: deal fields (``("account", "segment")``, ``("amount",)``,
    ``("attributes", "arr")``, ``("expense", "kind")``...) to the values worth trying: each
    literal, and for numbers and dates the values one below and one above it.
    ``items``: the same for the item fields of a collection inside ``count(...)``, keyed by
    ``(collection, path)`` (``("activities", ("kind",))``). ``counts``: per collection, the
    item counts worth reaching (each threshold, one below and one above).
    """

    values: Mapping[Path, tuple[Value, ...]]
    items: Mapping[tuple[str, Path], tuple[Value, ...]]
    counts: Mapping[str, tuple[int, ...]]

    def of(self, path: Path) -> tuple[Value, ...]:
        """The literals compared with a deal field (``()`` when none)."""
        return self.values.get(path, ())

    def item(self, collection: str, path: Path) -> tuple[Value, ...]:
        """The literals compared with an item field inside ``count(collection, ...)``."""
        return self.items.get((collection, path), ())


def _conditions_of(ruleset: Ruleset) -> list[Expr]:
    exprs: list[Expr] = [r.when for r in ruleset.rules if r.when is not None]
    # Policy precedence and expense sharing rules (when the ruleset declares them).
    for name in ("policy_rules", "expense_rules"):
        for rule in getattr(ruleset, name, ()):
            when = getattr(rule, "when", None)
            if when is not None:
                exprs.append(when)
    return exprs


def _neighbours(value: Value, typ: Type, unit: Decimal | None) -> list[Value]:
    if typ is Type.NUMBER and isinstance(value, Decimal):
        near = [value - 1, value, value + 1]
        if unit is not None:
            near += [value - unit, value + unit]
        return list(near)
    if typ is Type.DATE and isinstance(value, dt.date):
        out: list[Value] = [value]
        for step in (-1, 1):
            with contextlib.suppress(OverflowError):
                out.append(value + dt.timedelta(days=step))
        return out
    return [value]


def literals(ruleset: Ruleset) -> Literals:
    """Mine the ruleset's conditions for the values worth generating (see :class:`Literals`).

    Walks every condition with :func:`creditrules.conditions._conditions.comparisons`, entering the
    predicates of ``count(...)``; a number compared with ``amount`` also gets its neighbours
    one currency unit away.
    """
    values: dict[Path, dict[tuple[str, str], Value]] = {}
    items: dict[tuple[str, Path], dict[tuple[str, str], Value]] = {}
    counts: dict[str, set[int]] = {}

    def walk(expr: Expr, collection: str | None) -> None:
        for left, _op, right in _conditions.comparisons(expr):
            for side in (left, right):
                if isinstance(side, Count) and side.where is not None:
                    walk(side.where, side.collection)
            if not isinstance(right, Literal):
                continue
            if isinstance(left, Count):
                if isinstance(right.value, Decimal):
                    n = int(right.value)
                    counts.setdefault(left.collection, set()).update(
                        k for k in (n - 1, n, n + 1, n + 2) if k >= 0)
                continue
            money = left.path in (("amount",), ("expense", "amount"))
            found = _neighbours(right.value, left.type, ruleset.unit if money else None)
            target = (values.setdefault(left.path, {}) if collection is None
                      else items.setdefault((collection, left.path), {}))
            for value in found:
                target.setdefault(_key(value), value)

    for expr in _conditions_of(ruleset):
        walk(expr, None)
    return Literals(
        values={p: tuple(v.values()) for p, v in sorted(values.items())},
        items={k: tuple(v.values()) for k, v in sorted(items.items())},
        counts={c: tuple(sorted(n)) for c, n in sorted(counts.items())},
    )


def _fresh(taken: Iterable[Value], base: str = "other") -> str:
    """A text value none of the conditions names (to fail every ``==``)."""
    names = {v for v in taken if isinstance(v, str)}
    candidate, n = base, 1
    while candidate in names:
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def _texts(values: Sequence[Value]) -> list[str]:
    return [v for v in values if isinstance(v, str)]


@attrs.frozen
class Target:
    """One way to satisfy a rule's condition, so that generated deals reach the rule and
    not only the defaults: deal field values, items to add to a collection (``(collection,
    item field values, how many)``) and a day inside the rule's window."""

    rule: str
    values: Mapping[Path, Value]
    counts: tuple[tuple[str, Mapping[Path, Value], int], ...] = ()
    day: dt.date | None = None
    # The deal needs an expense to reach the rule (a rule of the entertainment policy).
    expense: bool = False


_Witness = tuple[dict[Path, Value], list[tuple[str, Mapping[Path, Value], int]]]
_FLIP = {"==": "!=", "!=": "==", "<": ">=", ">=": "<", ">": "<=", "<=": ">"}
_MAX_WITNESSES = 8


def _differ(value: Value) -> Value:
    if isinstance(value, bool):
        return not value
    if isinstance(value, Decimal):
        return value + 1
    if isinstance(value, dt.date):
        return value + dt.timedelta(days=1)
    return _fresh([value])


def _satisfy(op: str, value: Value, step: Decimal) -> Value:
    if op in ("==", ">=", "<="):
        return value
    if op == "!=":
        return _differ(value)
    sign = 1 if op == ">" else -1
    if isinstance(value, Decimal):
        return value + sign * step
    if isinstance(value, dt.date):
        return value + dt.timedelta(days=sign)
    return value


def _negate(expr: Expr) -> Expr | None:
    from creditrules.conditions._ast import And, Compare, InList, Not, Or

    if isinstance(expr, Compare):
        return attrs.evolve(expr, op=_FLIP[expr.op])
    if isinstance(expr, InList):
        return attrs.evolve(expr, negated=not expr.negated)
    if isinstance(expr, Not):
        return expr.part
    parts = [_negate(p) for p in expr.parts]
    if any(p is None for p in parts):
        return None
    kind = Or if isinstance(expr, And) else And
    return kind(tuple(p for p in parts if p is not None), expr.text, expr.pos)


def _witnesses(expr: Expr, unit: Decimal) -> list[_Witness]:
    """Ways to make ``expr`` true (best effort: each atom on its own, conjunctions merged
    where they agree)."""
    from creditrules.conditions._ast import And, Compare, Field, InList, Not, Or

    if isinstance(expr, Or):
        return [w for part in expr.parts for w in _witnesses(part, unit)][:_MAX_WITNESSES]
    if isinstance(expr, And):
        combos: list[_Witness] = [({}, [])]
        for part in expr.parts:
            merged: list[_Witness] = []
            for values, counts in combos:
                for more_values, more_counts in _witnesses(part, unit):
                    clash = [k for k, v in more_values.items() if values.get(k, v) != v]
                    if not clash:
                        merged.append(({**values, **more_values}, counts + more_counts))
                    elif _holds(part, values):
                        # ``x >= a and x <= b``: the value chosen for ``a`` may do for both.
                        merged.append((values, counts + more_counts))
            combos = merged[:_MAX_WITNESSES]
        return combos
    if isinstance(expr, Not):
        negated = _negate(expr.part)
        return [] if negated is None else _witnesses(negated, unit)
    if isinstance(expr, InList):
        path = expr.subject.path
        if expr.negated:
            return [({path: _fresh([o.value for o in expr.options])}, [])]
        return [({path: o.value}, []) for o in expr.options]
    assert isinstance(expr, Compare)
    right = expr.right
    if not isinstance(right, Literal):
        return [({}, [])]
    if isinstance(expr.left, Field):
        money = expr.left.path in (("amount",), ("expense", "amount"))
        step = unit if money else Decimal(1)
        return [({expr.left.path: _satisfy(expr.op, right.value, step)}, [])]
    count = expr.left
    if not isinstance(right.value, Decimal):
        return [({}, [])]
    n = int(right.value)
    need = {">=": n, ">": n + 1, "==": n}.get(expr.op, 0)
    if need <= 0:
        return [({}, [])]
    items = _witnesses(count.where, unit) if count.where is not None else [({}, [])]
    return [({}, [(count.collection, values, need)]) for values, _ in items[:2]]


def _holds(expr: Expr, values: Mapping[Path, Value]) -> bool:
    from creditrules.conditions._ast import Facts

    try:
        return _conditions.evaluate(expr, Facts(dict(values), {}))
    except TypeError:
        return False


def targets(ruleset: Ruleset) -> tuple[Target, ...]:
    """A :class:`Target` per way of satisfying each rule's condition (credit, policy and
    expense rules), and one per rule window."""
    out: list[Target] = []
    rules: list[Any] = [*ruleset.rules, *getattr(ruleset, "policy_rules", ()),
                        *getattr(ruleset, "expense_rules", ())]
    for rule in rules:
        window = getattr(rule, "effective", None)
        day = window.start if window is not None else None
        when = rule.when
        found = _witnesses(when, ruleset.unit) if when is not None else []
        if not found and day is not None:
            found = [({}, [])]
        for values, counts in found:
            if values or counts or day is not None:
                out.append(Target(rule.id, values, tuple(counts), day))
        # A policy that follows the account owner or the lead: also try the deal that
        # names none, with an expense that needs the policy.
        missing = {"account_owner": ("account", "owner"), "lead_partner": ("lead", "source")}
        fact = missing.get(getattr(rule, "governs", ""))
        if fact is not None:
            for values, counts in found or [({}, [])]:
                out.append(Target(rule.id, {**values, fact: None}, tuple(counts), None,
                                  expense=getattr(rule, "topic", "") == "entertainment"))
    return tuple(out)


@attrs.frozen
class CountBound:
    """A threshold a condition compares a ``count(collection, ...)`` with: ``n``, and item
    field values that satisfy the count's predicate (so that items built from them are
    counted)."""

    collection: str
    values: Mapping[Path, Value]
    n: int


def count_bounds(ruleset: Ruleset) -> tuple[CountBound, ...]:
    """Every count threshold of the ruleset's conditions, whatever the comparison (upper
    bounds such as ``count(activities, kind == "joint_call") < 3`` included)."""
    out: dict[tuple[str, str, int], CountBound] = {}

    def walk(expr: Expr) -> None:
        for left, _op, right in _conditions.comparisons(expr):
            for side in (left, right):
                if isinstance(side, Count) and side.where is not None:
                    walk(side.where)
            if not (isinstance(left, Count) and isinstance(right, Literal)
                    and isinstance(right.value, Decimal)):
                continue
            items = (_witnesses(left.where, ruleset.unit)[:2] if left.where is not None
                     else [({}, [])])
            for values, _ in items:
                bound = CountBound(left.collection, values, int(right.value))
                key = (bound.collection, repr(sorted(values.items(), key=repr)), bound.n)
                out.setdefault(key, bound)

    for expr in _conditions_of(ruleset):
        walk(expr)
    return tuple(out[k] for k in sorted(out))
