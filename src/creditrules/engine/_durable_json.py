"""The durable_rules JSON this package emits: the guard rule and fact fields, the chains of
engine tests for a condition in normal form, and the validation of a definition against
that subset (nothing here imports durable_rules)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from creditrules.engine._feature_encoding import (
    CompileError,
    Feature,
    Ranges,
    _In,
    _Junction,
    _missing_marker,
    _Node,
    _Ref,
)

#: The rule every deal fact matches, so an action always starts (only then is deleting
#: the session safe), and the field it tests.
GUARD = "guard"
GUARD_FIELD = "guard"
#: Added to a fact only when it is re-asserted after the engine refused it.
SALT_FIELD = "salt"
_RESERVED = frozenset({"id", "sid"})  # durable_rules' own message fields

_TEST_OPS = frozenset({"$eq", "$neq", "$lt", "$lte", "$gt", "$gte"})
_EXISTS_OPS = frozenset({"$ex", "$nex"})
_JUNCTIONS = frozenset({"$and", "$or"})

Json = dict[str, Any]


# ---------------------------------------------------------------------------------------
# Normal form -> durable_rules JSON


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _dumps_test(test: Json) -> str:
    """``_dumps`` of one engine test; a test of a feature against an integer (nearly all
    of them) is spelt directly, which is what keeps compiling 5,000 rules well under a
    second (feature names are plain identifiers: nothing to escape)."""
    if len(test) == 1:
        ((op, arg),) = test.items()
        if type(arg) is dict and len(arg) == 1:
            ((name, value),) = arg.items()
            if type(value) is int and name.isidentifier() and name.isascii():
                return f'{{"{op}":{{"{name}":{value}}}}}'
    return _dumps(test)


def _emit_set(name: str, values: Ranges, lo: int, hi: int) -> list[Json]:
    """Conjuncts testing ``name`` in ``values`` (neither empty nor the whole domain)."""
    excluded = values.complement(lo, hi)
    if len(excluded) == 1:
        return [{"$neq": {name: excluded.runs[0][0]}}]
    branches: list[list[Json]] = []
    for a, b in values.runs:
        if a == b:
            branches.append([{"$eq": {name: a}}])
        elif a == lo:
            branches.append([{"$lte": {name: b}}])
        elif b == hi:
            branches.append([{"$gte": {name: a}}])
        else:
            branches.append([{"$gte": {name: a}}, {"$lte": {name: b}}])
    if len(branches) == 1:
        return branches[0]
    or_cost = sum(len(b) for b in branches) + 1
    if len(excluded) <= or_cost:
        # A chain of $neq keeps the network narrow (one child per test) where an $or
        # would add a forward node.
        return [{"$neq": {name: v}} for v in excluded.points()]
    return [{"$or": [_wrap(b) for b in branches]}]


def _wrap(conjuncts: list[Json]) -> Json:
    return conjuncts[0] if len(conjuncts) == 1 else {"$and": conjuncts}


def _order(test: Json) -> tuple[int, int, str]:
    """Chain order: equality tests first (siblings on one feature exclude each other, which
    keeps the engine's walk narrow), then other tests by feature, then disjunctions."""
    op, arg = next(iter(test.items()))
    if op in _JUNCTIONS:
        return 2, 0, _dumps(test)
    name = next(iter(arg))
    number = int(name[1:]) if name[1:].isdigit() else -1
    return (0 if op == "$eq" else 1), number, _dumps_test(test)


class _Emitter:
    def __init__(self, features: Mapping[int, Feature]):
        self.features = features  # by provisional index

    def conjuncts(self, node: _Node) -> list[Json]:
        if node is True:
            return [{"$ex": {GUARD_FIELD: 1}}]
        if isinstance(node, _In):
            feature = self.features[node.feature]
            return _emit_set(feature.name, node.values, *feature.domain)
        if isinstance(node, _Ref):
            left, right = self.features[node.left].name, self.features[node.right].name
            if left == right:  # x == x holds exactly when x is present
                op = "$neq" if node.equal else "$eq"
                return [{op: {left: _missing_marker(left[1:])}}]
            return [{"$eq" if node.equal else "$neq": {left: {"$m": right}}}]
        assert isinstance(node, _Junction)
        if node.conjunction:
            tests = {_dumps_test(t): t for part in node.parts for t in self.conjuncts(part)}
            return sorted(tests.values(), key=_order)
        branches: dict[str, Json] = {}
        for part in node.parts:
            body = _wrap(self.conjuncts(part))
            for branch in body.get("$or", [body]):
                branches[_dumps(branch)] = branch
        if len(branches) == 1:
            (only,) = branches.values()
            return list(only["$and"]) if "$and" in only else [only]
        return [{"$or": [branches[k] for k in sorted(branches)]}]


def _atoms(expr: Json) -> int:
    op, arg = next(iter(expr.items()))
    return sum(_atoms(e) for e in arg) if op in _JUNCTIONS else 1


# ---------------------------------------------------------------------------------------
# Validation of generated definitions


def validate_definition(definition: Mapping[str, Any], features: Iterable[str]) -> set[str]:
    """Check a durable_rules definition is in the subset this module emits; return the
    feature names it reads.

    Rejects (``CompileError``) unknown operators (``$ne`` is accepted by durable_rules
    and never matches), reserved fields (``id``, ``sid``), unknown features, floats and
    booleans as values, ordering on anything but integers, and rules not of the form
    ``{"all": [{"m": expr}]}``.
    """
    known = set(features)
    used: set[str] = set()

    def field(name: object, where: str) -> str:
        if not isinstance(name, str) or name in _RESERVED or name.startswith("$"):
            raise CompileError(f"{where}: reserved or invalid field {name!r}")
        if name not in known and name != GUARD_FIELD:
            raise CompileError(f"{where}: unknown feature {name!r}")
        used.add(name)
        return name

    def expr(node: object, where: str) -> None:
        if not isinstance(node, dict) or len(node) != 1:
            raise CompileError(f"{where}: expected one operator, got {node!r}")
        op, arg = next(iter(node.items()))
        if op in _JUNCTIONS:
            if not isinstance(arg, list) or not arg:
                raise CompileError(f"{where}: {op} needs a non-empty list")
            for part in arg:
                expr(part, where)
            return
        if op not in _TEST_OPS | _EXISTS_OPS:
            raise CompileError(f"{where}: unknown operator {op!r}")
        if not isinstance(arg, dict) or len(arg) != 1:
            raise CompileError(f"{where}: {op} needs one field")
        name, value = next(iter(arg.items()))
        field(name, where)
        if op in _EXISTS_OPS:
            if value != 1:
                raise CompileError(f"{where}: {op} takes 1, got {value!r}")
            return
        if isinstance(value, dict):
            if op not in ("$eq", "$neq") or list(value) != ["$m"]:
                raise CompileError(f"{where}: bad field reference {value!r}")
            field(value["$m"], where)
        elif isinstance(value, bool) or not isinstance(value, int | str):
            raise CompileError(f"{where}: {op} value must be an integer or a string, got {value!r}")
        elif isinstance(value, str) and op not in ("$eq", "$neq"):
            # durable_rules orders strings as text: never let a number travel as one.
            raise CompileError(f"{where}: {op} on a string")

    for name, rule in definition.items():
        if not isinstance(rule, dict) or set(rule) != {"all"}:
            raise CompileError(f"rule {name!r}: expected exactly an 'all' pattern list")
        patterns = rule["all"]
        if (
            not isinstance(patterns, list)
            or len(patterns) != 1
            or not isinstance(patterns[0], dict)
            or set(patterns[0]) != {"m"}
        ):
            raise CompileError(f"rule {name!r}: expected one pattern named 'm'")
        expr(patterns[0]["m"], f"rule {name!r}")
    return used
