"""Condition syntax trees -> durable_rules ruleset definitions (pure Python, no engine).

durable_rules matches each deal, but it is handed an *encoded* deal, never the deal itself:

* every deal scalar a condition compares with literals, and every distinct ``count(...)``,
  becomes a **feature** ``f0, f1, ...`` (named in a canonical order, so the definition never
  depends on the order of the mapping or the rules);
* numbers, dates and counts are sent as the integer **rank** of the value among the sorted
  distinct literals they are compared with: for literals ``t0 < t1 < ... < tk-1`` the rank is
  0 below ``t0``, 1 at ``t0``, 2 between ``t0`` and ``t1``, ..., ``2k`` above ``tk-1``, and -1
  when missing. Text and booleans compared only for equality are sent as the **index** of
  the value among their literals (``len(literals)`` for any other value, -1 when missing);
* a field compared with another field is sent as a **raw** canonical string (a per-feature
  marker when missing, so two missing values are never equal).

Each atom then denotes a *set* of encoded values, and the reference semantics (``==``
false when missing, ``!=`` its negation, orderings false when missing...) become exact set
membership over a small integer domain: negation is the complement, which is what makes
pushing ``not`` down (De Morgan) exact. No float, and no deal text, ever reaches the engine.

durable_rules has hard limits this module checks before the engine sees a definition (all
measured on 2.0.28, see ``_NetworkModel``): an alpha-network traversal stack of 64 nodes,
255 rules ending at one node, 128 ``$or`` links from one node, 511 child tests per node (at
512 creating the ruleset never returns), 253 properties per fact. Rules are split over
several engine rulesets ("groups") when one would exceed them.
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

import attrs

from creditrules._ast import (
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

__all__ = [
    "GUARD",
    "GUARD_FIELD",
    "MAX_ATOMS",
    "MAX_FEATURES",
    "SALT_FIELD",
    "CompileError",
    "Compiled",
    "Feature",
    "compile_conditions",
    "validate_definition",
]

#: Limits (see the module docstring for where the engine's own limits come from).
MAX_FEATURES = 250  # + sid, guard, salt = 253 properties, the most a fact may carry
MAX_ATOMS = 64  # engine tests emitted for one condition
_MAX_STACK = 64
_MAX_BETAS = 255  # at 256 the engine reads past its list and fires a phantom rule
_MAX_NEXT_LIST = 128
_MAX_CHILDREN = 500  # < 512: a full child table makes ruleset creation loop forever

#: The rule every deal fact matches, so an action always starts (only then is deleting
#: the session safe), and the field it tests.
GUARD = "guard"
GUARD_FIELD = "guard"
#: Added to a fact only when it is re-asserted after the engine refused it.
SALT_FIELD = "salt"
_RESERVED = frozenset({"id", "sid"})  # durable_rules' own message fields

_ORDERING = frozenset({"<", "<=", ">", ">="})
_TEST_OPS = frozenset({"$eq", "$neq", "$lt", "$lte", "$gt", "$gte"})
_EXISTS_OPS = frozenset({"$ex", "$nex"})
_JUNCTIONS = frozenset({"$and", "$or"})

Encoded = int | str
Key = tuple[Encoded, ...]
Json = dict[str, Any]


class CompileError(Exception):
    """Conditions that cannot be handed to durable_rules exactly (too large, or malformed)."""


@attrs.frozen
class Feature:
    """One property of the encoded deal fact.

    ``kind`` is ``rank`` (numbers, dates, counts: position among ``literals``), ``index``
    (text, booleans: index in ``literals``) or ``raw`` (canonical string, for field-vs-field
    comparisons). ``source`` is the field path or the count as written canonically.
    """

    name: str
    kind: str
    source: str
    type: Type
    literals: tuple[Value, ...] = ()
    missing: bool = True  # False for counts, which always have a value

    @property
    def domain(self) -> tuple[int, int]:
        """Lowest and highest encoded value of a ``rank``/``index`` feature."""
        hi = 2 * len(self.literals) if self.kind == "rank" else len(self.literals)
        return (-1 if self.missing else 0), hi


# ---------------------------------------------------------------------------------------
# Canonical text: structure only (text and positions ignored), used for names and sorting


def _canon_value(value: Value) -> str:
    """A canonical, JSON-safe ASCII spelling of a value; equal values spell the same."""
    if isinstance(value, bool):  # before numbers: bool is an int subclass
        return "b1" if value else "b0"
    if isinstance(value, Decimal | int):
        sign, digits, exp = Decimal(value).as_tuple()
        assert isinstance(exp, int), "non-finite numbers are rejected at the input edge"
        while len(digits) > 1 and digits[-1] == 0:  # 1.50 and 1.5 are equal
            digits, exp = digits[:-1], exp + 1
        if digits == (0,):
            return "n0"  # -0 == 0
        return f"n{'-' if sign else ''}{''.join(map(str, digits))}e{exp}"
    if isinstance(value, str):
        # Hex keeps the engine's string comparison away from JSON escapes and NULs.
        return "t" + value.encode("utf-8").hex()
    if isinstance(value, dt.date):
        return "d" + value.isoformat()
    raise TypeError(f"not a condition value: {value!r}")


def _shape(node: Expr | Field | Count | Literal) -> str:
    if isinstance(node, Field):
        return ".".join(node.path)
    if isinstance(node, Literal):
        return f"{node.type}:{_canon_value(node.value)}"
    if isinstance(node, Count):
        where = "" if node.where is None else ", " + _shape(node.where)
        return f"count({node.collection}{where})"
    if isinstance(node, Compare):
        return f"({_shape(node.left)} {node.op} {_shape(node.right)})"
    if isinstance(node, InList):
        options = ", ".join(_shape(o) for o in node.options)
        return f"({_shape(node.subject)} {'not in' if node.negated else 'in'} [{options}])"
    if isinstance(node, And | Or):
        word = " and " if isinstance(node, And) else " or "
        return "(" + word.join(_shape(p) for p in node.parts) + ")"
    if isinstance(node, Not):
        return f"(not {_shape(node.part)})"
    raise TypeError(f"not a condition node: {node!r}")


# ---------------------------------------------------------------------------------------
# Features: gathering, encoding


@attrs.define
class _Draft:
    """What the conditions say about one source (a field path or a count)."""

    origin: Field | Count
    literals: list[Value] = attrs.Factory(list)
    ordered: bool = False  # compared with < <= > >=
    raw: bool = False  # compared with another field or count


def _gather(conditions: Mapping[str, Expr]) -> dict[str, _Draft]:
    drafts: dict[str, _Draft] = {}

    def draft(side: Field | Count) -> _Draft:
        return drafts.setdefault(_shape(side), _Draft(side))

    def walk(expr: Expr) -> None:
        if isinstance(expr, Compare):
            if isinstance(expr.right, Literal):
                d = draft(expr.left)
                d.literals.append(expr.right.value)
                if expr.op in _ORDERING:
                    if expr.left.type not in (Type.NUMBER, Type.DATE):
                        raise CompileError(f"{expr.text!r}: ordering applies to numbers "
                                           "and dates only")
                    d.ordered = True
            else:
                if expr.op in _ORDERING:
                    raise CompileError(f"{expr.text!r}: an ordering comparison needs a "
                                       "literal on one side")
                draft(expr.left).raw = True
                draft(expr.right).raw = True
        elif isinstance(expr, InList):
            draft(expr.subject).literals.extend(o.value for o in expr.options)
        elif isinstance(expr, And | Or):
            for part in expr.parts:
                walk(part)
        elif isinstance(expr, Not):
            walk(expr.part)
        else:
            raise CompileError(f"not a condition node: {expr!r}")

    for expr in conditions.values():
        walk(expr)
    return drafts


def _typed(value: Any, type_: Type, text: str) -> Value:
    """``value`` checked against the field's type, as the reference evaluator does."""
    if type_ is Type.NUMBER:
        if isinstance(value, Decimal):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return Decimal(value)
    elif type_ is Type.TEXT:
        if isinstance(value, str):
            return value
    elif type_ is Type.BOOL:
        if isinstance(value, bool):
            return value
    elif isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    raise TypeError(f"fact {text} is {value!r} ({type(value).__name__}), expected {type_}")


Scalars = Mapping[Path, Value]
Collections = Mapping[str, tuple[Mapping[Path, Value], ...]]
_Reader = Callable[[Scalars, Collections], Value]
_Encoder = Callable[[Scalars, Collections], Encoded]


def _reader(origin: Field | Count) -> _Reader:
    """The value a condition sees for ``origin`` (None when missing), read from a deal's
    (or, inside ``count``, an item's) scalars and the deal's collections."""
    if isinstance(origin, Field):
        path, type_, text = origin.path, origin.type, origin.text
        exact = {Type.NUMBER: Decimal, Type.TEXT: str, Type.BOOL: bool, Type.DATE: dt.date}[type_]

        def read_field(scalars: Scalars, collections: Collections) -> Value:
            value = scalars.get(path)
            if value is None or type(value) is exact:  # the fast path: already well typed
                return value
            return _typed(value, type_, text)

        return read_field

    collection, where = origin.collection, origin.where
    if where is None:
        return lambda scalars, collections: Decimal(len(collections.get(collection, ())))
    holds = _Predicate(where)

    def read_count(scalars: Scalars, collections: Collections) -> Value:
        items = collections.get(collection, ())
        return Decimal(sum(1 for item in items if holds(item, collections)))

    return read_count


def _encoder(feature: Feature, origin: Field | Count, marker: str) -> _Encoder:
    """Encodes ``origin`` as ``feature`` says; ``marker`` is a raw feature's missing value."""
    read = _reader(origin)
    if feature.kind == "raw":

        def encode_raw(scalars: Scalars, collections: Collections) -> Encoded:
            value = read(scalars, collections)
            return marker if value is None else _canon_value(value)

        return encode_raw
    literals = feature.literals
    if feature.kind == "index":
        index = {value: i for i, value in enumerate(literals)}
        other = len(literals)

        def encode_index(scalars: Scalars, collections: Collections) -> Encoded:
            value = read(scalars, collections)
            return -1 if value is None else index.get(value, other)

        return encode_index
    size = len(literals)

    def encode_rank(scalars: Scalars, collections: Collections) -> Encoded:
        value = read(scalars, collections)
        if value is None:
            return -1
        i = bisect.bisect_left(literals, value)  # type: ignore[type-var]
        return 2 * i + 1 if i < size and literals[i] == value else 2 * i

    return encode_rank


def _missing_marker(name: str) -> str:
    # Distinct per feature, so two missing values never compare equal; canonical values
    # never start with "~".
    return "~" + name


class _Predicate:
    """A ``count`` predicate, evaluated per item through the same exact encoding and
    normal form the engine gets (about 4x faster than the reference evaluator)."""

    def __init__(self, where: Expr) -> None:
        features, by_slot, origins = _features(_gather({"": where}))
        self.node = _Normaliser(features, by_slot).nnf(where, False)
        self.encoders = tuple(_encoder(f, o, _missing_marker(str(i)))
                              for i, (f, o) in enumerate(zip(features, origins, strict=True)))
        # The common case, one test on one item field (kind == "detail"), skips the tree.
        self.single = (self.encoders[self.node.feature], self.node.values
                       ) if isinstance(self.node, _In) else None

    def __call__(self, item: Scalars, collections: Collections) -> bool:
        if self.single is not None:
            encode, values = self.single
            return encode(item, collections) in values
        return _holds(self.node, [encode(item, collections) for encode in self.encoders])


def _holds(node: _Node, values: list[Encoded]) -> bool:
    if isinstance(node, bool):
        return node
    if isinstance(node, _In):
        return values[node.feature] in node.values
    if isinstance(node, _Ref):
        if node.left == node.right:  # x == x holds when x is present
            value = values[node.left]
            present = not (isinstance(value, str) and value.startswith("~"))
            return present == node.equal
        return (values[node.left] == values[node.right]) == node.equal
    if node.conjunction:
        return all(_holds(p, values) for p in node.parts)
    return any(_holds(p, values) for p in node.parts)


def _sorted_literals(source: str, values: Iterable[Value]) -> tuple[Value, ...]:
    distinct = {_canon_value(v): v for v in values}  # Decimal 1.0 and 1 are one literal
    try:
        return tuple(sorted(distinct.values()))  # type: ignore[type-var]
    except TypeError:
        raise CompileError(f"{source} is compared with literals of different types") from None


# ---------------------------------------------------------------------------------------
# Conditions -> negation normal form over feature sets


@attrs.frozen
class _In:
    """The encoded value of ``feature`` (an index into the feature list) is in ``values``."""

    feature: int
    values: frozenset[int]


@attrs.frozen
class _Ref:
    """Raw feature ``left`` equals (``equal``) or differs from raw feature ``right``."""

    equal: bool
    left: int
    right: int


@attrs.frozen
class _Junction:
    conjunction: bool
    parts: tuple[_Node, ...]


_Node = _In | _Ref | _Junction | bool


class _Normaliser:
    """Pushes ``not`` down to the atoms and turns each atom into a set of encoded values."""

    def __init__(self, features: list[Feature], by_source: Mapping[tuple[str, str], int]):
        # ``features`` are provisional (unnamed); only their kinds, literals and domains
        # matter here.
        self.features = features
        self.by_source = by_source
        self.points = [{_canon_value(v): i for i, v in enumerate(f.literals)} for f in features]

    def domain(self, fid: int) -> frozenset[int]:
        lo, hi = self.features[fid].domain
        return frozenset(range(lo, hi + 1))

    def member(self, fid: int, values: Iterable[int], negate: bool) -> _Node:
        chosen = frozenset(values)
        return _In(fid, self.domain(fid) - chosen if negate else chosen)

    def point(self, fid: int, literal: Value) -> int:
        position = self.points[fid][_canon_value(literal)]
        return 2 * position + 1 if self.features[fid].kind == "rank" else position

    def literal_atom(self, side: Field | Count, op: str, literal: Value, negate: bool) -> _Node:
        fid = self.by_source[(_shape(side), "lit")]
        lo, hi = self.features[fid].domain
        r = self.point(fid, literal)
        values = {
            "==": range(r, r + 1),
            "!=": [v for v in range(lo, hi + 1) if v != r],
            "<": range(0, r),
            "<=": range(0, r + 1),
            ">": range(r + 1, hi + 1),
            ">=": range(r, hi + 1),
        }[op]
        return self.member(fid, values, negate)

    def nnf(self, expr: Expr, negate: bool) -> _Node:
        if isinstance(expr, Compare):
            if isinstance(expr.right, Literal):
                return self.literal_atom(expr.left, expr.op, expr.right.value, negate)
            left = self.by_source[(_shape(expr.left), "raw")]
            right = self.by_source[(_shape(expr.right), "raw")]
            return _Ref((expr.op == "==") != negate, left, right)
        if isinstance(expr, InList):
            fid = self.by_source[(_shape(expr.subject), "lit")]
            points = [self.point(fid, o.value) for o in expr.options]
            return self.member(fid, points, expr.negated != negate)
        if isinstance(expr, Not):
            return self.nnf(expr.part, not negate)
        if isinstance(expr, And | Or):
            conjunction = isinstance(expr, And) != negate  # De Morgan
            return self.simplify(_Junction(conjunction,
                                           tuple(self.nnf(p, negate) for p in expr.parts)))
        raise CompileError(f"not a condition node: {expr!r}")

    def simplify(self, node: _Junction) -> _Node:
        """Flatten, fold constants, and merge the sets of one feature (meet or join)."""
        conj = node.conjunction
        merged: dict[int, frozenset[int]] = {}
        rest: list[_Node] = []
        pending = list(node.parts)
        while pending:
            part = pending.pop(0)
            if isinstance(part, bool):
                if part != conj:
                    return part  # false in an and, true in an or
                continue
            if isinstance(part, _Junction) and part.conjunction == conj:
                pending[:0] = part.parts
            elif isinstance(part, _In):
                if part.feature in merged:
                    old = merged[part.feature]
                    merged[part.feature] = old & part.values if conj else old | part.values
                else:
                    merged[part.feature] = part.values
            elif part not in rest:
                rest.append(part)
        parts: list[_Node] = []
        for fid, values in sorted(merged.items()):
            if not values:
                if conj:
                    return False
                continue
            if values >= self.domain(fid):
                if not conj:
                    return True
                continue
            parts.append(_In(fid, values))
        parts.extend(rest)
        if not parts:
            return conj
        return parts[0] if len(parts) == 1 else _Junction(conj, tuple(parts))


# ---------------------------------------------------------------------------------------
# Normal form -> durable_rules JSON


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _runs(values: Iterable[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for v in sorted(values):
        if runs and runs[-1][1] == v - 1:
            runs[-1] = (runs[-1][0], v)
        else:
            runs.append((v, v))
    return runs


def _emit_set(name: str, values: frozenset[int], lo: int, hi: int) -> list[Json]:
    """Conjuncts testing ``name`` in ``values`` (neither empty nor the whole domain)."""
    excluded = [v for v in range(lo, hi + 1) if v not in values]
    if len(excluded) == 1:
        return [{"$neq": {name: excluded[0]}}]
    branches: list[list[Json]] = []
    for a, b in _runs(values):
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
        return [{"$neq": {name: v}} for v in excluded]
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
    return (0 if op == "$eq" else 1), number, _dumps(test)


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
            tests = {_dumps(t): t for part in node.parts for t in self.conjuncts(part)}
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
# A model of durable_rules' alpha network, to stay inside its limits


class _Alpha:
    __slots__ = ("betas", "children", "forwards", "test")

    def __init__(self, test: tuple[str, str, Any] | None) -> None:
        self.test = test  # (field, op, value); None for the root and forward nodes
        self.children: dict[str, _Alpha] = {}
        self.forwards: list[_Alpha] = []
        self.betas = 0


class _NetworkModel:
    """Mirrors how durable_rules 2.0.28 builds and walks its alpha network (rete.c,
    events.c): ``$and`` chains tests, sharing a node with an identical test under the same
    parent; ``$or`` hangs each branch from the parent and links its end to a fresh forward
    node that is always pushed; the walk is depth first with a 64-entry stack onto which
    every matching child is pushed at once. ``problem()`` bounds that stack over all facts.
    """

    def __init__(self, features: Mapping[str, Feature]):
        self.features = features
        self.root = _Alpha(None)
        self.nodes: list[_Alpha] = [self.root]

    def add(self, body: Json) -> None:
        self.build(body, self.root).betas += 1

    def build(self, expr: Json, parent: _Alpha) -> _Alpha:
        op, arg = next(iter(expr.items()))
        if op == "$and":
            for part in arg:
                parent = self.build(part, parent)
            return parent
        if op == "$or":
            forward = _Alpha(None)
            self.nodes.append(forward)
            for part in arg:
                self.build(part, parent).forwards.append(forward)
            return forward
        field, value = next(iter(arg.items()))
        key = _dumps([field, op, value])
        node = parent.children.get(key)
        if node is None:
            node = parent.children[key] = _Alpha((field, op, value))
            self.nodes.append(node)
        return node

    def pushes(self, node: _Alpha) -> int:
        """The most children of ``node`` one fact can match (each is pushed on the stack)."""
        by_field: dict[str, list[tuple[str, Any]]] = {}
        for child in node.children.values():
            assert child.test is not None
            field, op, value = child.test
            by_field.setdefault(field, []).append((op, value))
        total = len(node.forwards)
        for field, tests in by_field.items():
            feature = self.features.get(field)
            if feature is None or feature.kind == "raw":
                total += len(tests)
                continue
            lo, hi = feature.domain
            delta = [0] * (hi - lo + 2)  # how many tests hold at each encoded value
            for op, c in tests:
                if op == "$neq":
                    delta[0] += 1
                    delta[hi - lo + 1] -= 1
                    a, b, step = c, c, -1
                else:
                    a, b = {"$eq": (c, c), "$lt": (lo, c - 1), "$lte": (lo, c),
                            "$gt": (c + 1, hi), "$gte": (c, hi)}[op]
                    step = 1
                a, b = max(a, lo), min(b, hi)
                if a <= b:
                    delta[a - lo] += step
                    delta[b - lo + 1] -= step
            running = best = 0
            for d in delta[:-1]:
                running += d
                best = max(best, running)
            total += best
        return total

    def problem(self) -> str | None:
        for node in self.nodes:
            if len(node.children) > _MAX_CHILDREN:
                return f"{len(node.children)} tests under one node (limit {_MAX_CHILDREN})"
            if len(node.forwards) > _MAX_NEXT_LIST:
                return f"{len(node.forwards)} 'or' links from one node (limit {_MAX_NEXT_LIST})"
            if node.betas > _MAX_BETAS:
                return f"{node.betas} rules ending at one node (limit {_MAX_BETAS})"
        memo: dict[int, int] = {}

        def height(node: _Alpha) -> int:
            # Stack entries in use while the subtree below ``node`` is walked.
            if id(node) not in memo:
                pushed = self.pushes(node)
                below = [height(c) for c in (*node.children.values(), *node.forwards)]
                memo[id(node)] = pushed - 1 + max([1, *below]) if pushed else 0
            return memo[id(node)]

        peak = height(self.root)
        if peak > _MAX_STACK:
            return f"up to {peak} tests could hold at once (engine stack limit {_MAX_STACK})"
        return None


def _fits(bodies: list[Json], features: Mapping[str, Feature]) -> str | None:
    model = _NetworkModel(features)
    model.add({"$ex": {GUARD_FIELD: 1}})
    for body in bodies:
        model.add(body)
    return model.problem()


def _partition(rules: list[tuple[str, Json]], features: Mapping[str, Feature],
               conditions: Mapping[str, tuple[str, ...]]) -> list[list[tuple[str, Json]]]:
    """Consecutive groups of rules, each within the engine's limits (usually just one).

    Adding a rule never lowers a limit's measure, so the longest fitting prefix is found by
    binary search.
    """
    groups: list[list[tuple[str, Json]]] = []
    rest = rules
    while rest:
        if _fits([b for _, b in rest], features) is None:
            groups.append(rest)
            break
        lo, hi = 0, len(rest)  # rest[:lo] fits, rest[:hi] does not
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if _fits([b for _, b in rest[:mid]], features) is None:
                lo = mid
            else:
                hi = mid
        if lo == 0:
            rule, body = rest[0]
            names = ", ".join(repr(n) for n in conditions[rule])
            raise CompileError(f"condition {names} is too large for durable_rules: "
                               f"{_fits([body], features)}")
        groups.append(rest[:lo])
        rest = rest[lo:]
    return groups


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
            raise CompileError(f"{where}: {op} value must be an integer or a string, "
                               f"got {value!r}")
        elif isinstance(value, str) and op not in ("$eq", "$neq"):
            # durable_rules orders strings as text: never let a number travel as one.
            raise CompileError(f"{where}: {op} on a string")

    for name, rule in definition.items():
        if not isinstance(rule, dict) or set(rule) != {"all"}:
            raise CompileError(f"rule {name!r}: expected exactly an 'all' pattern list")
        patterns = rule["all"]
        if (not isinstance(patterns, list) or len(patterns) != 1
                or not isinstance(patterns[0], dict) or set(patterns[0]) != {"m"}):
            raise CompileError(f"rule {name!r}: expected one pattern named 'm'")
        expr(patterns[0]["m"], f"rule {name!r}")
    return used


# ---------------------------------------------------------------------------------------
# The result


class Compiled:
    """Conditions compiled for durable_rules: the features, the encoder and the rulesets.

    ``key(facts)`` is everything the matching outcome depends on, so a matcher may cache
    by it; ``fact(key)`` is the engine fact; ``definitions()`` the engine rulesets (each
    with the guard rule); ``conditions_of(rule)`` maps a fired engine rule back to the
    condition names it stands for (identical compiled conditions share one rule, and a
    top-level ``or`` becomes one rule per alternative).
    """

    def __init__(
        self,
        conditions: Mapping[str, Expr],
        features: tuple[Feature, ...],
        encoders: tuple[_Encoder, ...],
        groups: tuple[Json, ...],
        rules: Mapping[str, tuple[str, ...]],
        reads: Mapping[str, tuple[int, ...]] | None = None,
        origins: tuple[Field | Count, ...] = (),
    ) -> None:
        self._conditions = dict(conditions)
        #: Per condition, the positions in the key of the features it tests: its outcome
        #: depends on those alone (a batch caches outcomes by them, see creditrules._fast).
        self.reads: dict[str, tuple[int, ...]] = dict(reads or {})
        #: Per feature, the field or count it encodes.
        self.origins = origins
        self.features = features
        self._encoders = encoders
        self._names = tuple(f.name for f in features)
        self._groups = groups
        self.rules = dict(rules)
        self._fired = {rule: frozenset(names) for rule, names in rules.items()}

    def __reduce__(self) -> tuple[Any, ...]:
        # Encoders are closures; recompiling is cheap and deterministic.
        return (compile_conditions, (self._conditions,))

    @property
    def conditions(self) -> frozenset[str]:
        """Names of all compiled conditions."""
        return frozenset(self._conditions)

    def key(self, facts: Facts) -> Key:
        """The encoded deal: one rank, index or raw string per feature, in feature order.

        Raises TypeError, like the reference evaluator, for a value of the wrong type.
        """
        scalars, collections = facts.scalars, facts.collections
        return tuple(encode(scalars, collections) for encode in self._encoders)

    def fact(self, key: Key) -> dict[str, Encoded]:
        """The durable_rules fact for an encoded deal (without the session id)."""
        fact: dict[str, Encoded] = dict(zip(self._names, key, strict=True))
        fact[GUARD_FIELD] = 1
        return fact

    def definitions(self) -> tuple[Json, ...]:
        """The durable_rules ruleset definitions (JSON-ready), one per engine ruleset."""
        return tuple(json.loads(json.dumps(g)) for g in self._groups)  # callers get copies

    def definition(self) -> Json:
        """All engine rules in one definition (what ``definitions()`` splits when needed)."""
        merged: Json = {}
        for group in self.definitions():
            merged.update(group)
        return merged

    def conditions_of(self, rule: str) -> frozenset[str]:
        """The condition names a fired engine rule stands for (empty for the guard)."""
        return self._fired.get(rule, frozenset())


def _features(drafts: Mapping[str, _Draft]) -> tuple[
        list[Feature], dict[tuple[str, str], int], list[Field | Count]]:
    """Provisional (unnamed) features in canonical order, their index by (source, slot)
    and the node each reads."""
    slots: list[tuple[str, str, _Draft]] = []
    for source, d in drafts.items():
        if d.literals:
            slots.append((source, "lit", d))
        if d.raw:
            slots.append((source, "raw", d))
    slots.sort(key=lambda s: (s[0], s[1]))  # canonical: independent of rule order
    features: list[Feature] = []
    by_slot: dict[tuple[str, str], int] = {}
    for i, (source, slot, d) in enumerate(slots):
        type_, missing = d.origin.type, isinstance(d.origin, Field)
        if slot == "raw":
            features.append(Feature("", "raw", source, type_, (), missing))
        else:
            kind = "rank" if d.ordered or type_ in (Type.NUMBER, Type.DATE) else "index"
            literals = _sorted_literals(source, d.literals)
            features.append(Feature("", kind, source, type_, literals, missing))
        by_slot[(source, slot)] = i
    return features, by_slot, [d.origin for _, _, d in slots]


def _referenced(node: _Node) -> Iterable[int]:
    if isinstance(node, _In):
        yield node.feature
    elif isinstance(node, _Ref):
        yield from (node.left, node.right)
    elif isinstance(node, _Junction):
        for part in node.parts:
            yield from _referenced(part)


def compile_conditions(conditions: Mapping[str, Expr]) -> Compiled:
    """Compile named conditions (rules with no condition excluded) for durable_rules.

    The result does not depend on the order of ``conditions``. Raises
    :class:`CompileError` when the conditions exceed what durable_rules can match exactly
    (more than ``MAX_FEATURES`` features, a condition of more than ``MAX_ATOMS`` engine
    tests, or one alone too large for the engine's network).
    """
    ordered = dict(sorted(conditions.items()))
    drafts = _gather(ordered)
    provisional, by_slot, origins = _features(drafts)
    normaliser = _Normaliser(provisional, by_slot)
    nodes = {name: normaliser.nnf(expr, False) for name, expr in ordered.items()}
    # Name only the features some condition still tests after simplification.
    used = sorted({i for node in nodes.values() for i in _referenced(node)})
    if len(used) > MAX_FEATURES:
        raise CompileError(f"the conditions read {len(used)} features; durable_rules "
                           f"facts allow at most {MAX_FEATURES}")
    final = {i: attrs.evolve(provisional[i], name=f"f{n}") for n, i in enumerate(used)}
    features = tuple(final[i] for i in used)
    encoders = tuple(_encoder(final[i], origins[i], _missing_marker(final[i].name[1:]))
                     for i in used)

    emitter = _Emitter(final)
    bodies: dict[str, tuple[Json, list[str]]] = {}  # canonical JSON -> (body, conditions)
    for name, node in nodes.items():
        if node is False:
            continue  # never holds: no engine rule
        disjuncts = (node.parts if isinstance(node, _Junction) and not node.conjunction
                     else (node,))
        emitted = [_wrap(emitter.conjuncts(d)) for d in disjuncts]
        atoms = sum(_atoms(b) for b in emitted)
        if atoms > MAX_ATOMS:
            raise CompileError(f"condition {name!r} compiles to {atoms} engine tests "
                               f"(limit {MAX_ATOMS}); simplify it or split the rule")
        for body in emitted:
            bodies.setdefault(_dumps(body), (body, []))[1].append(name)

    rules: dict[str, tuple[str, ...]] = {}
    named: list[tuple[str, Json]] = []
    for i, (body, names) in enumerate(bodies.values()):
        rule = f"r{i}"
        rules[rule] = tuple(dict.fromkeys(names))
        named.append((rule, body))
    by_name = {f.name: f for f in features}
    groups = tuple(
        {**{rule: {"all": [{"m": body}]} for rule, body in group},
         GUARD: {"all": [{"m": {"$ex": {GUARD_FIELD: 1}}}]}}
        for group in (_partition(named, by_name, rules) or [[]])
    )
    tested: set[str] = set()
    for group in groups:
        tested |= validate_definition(group, by_name)
    if set(by_name) - tested:  # every feature sent must be tested: else a compiler bug
        raise CompileError(f"features never tested: {sorted(set(by_name) - tested)}")
    position = {i: n for n, i in enumerate(used)}
    reads = {name: tuple(sorted({position[i] for i in _referenced(node)}))
             for name, node in nodes.items()}
    return Compiled(ordered, features, encoders, groups, rules, reads,
                    tuple(origins[i] for i in used))
