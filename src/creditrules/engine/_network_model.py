"""A model of durable_rules' alpha network, to stay inside its limits: the engine's limits
(measured on 2.0.28, see :mod:`creditrules.engine._compile`), :class:`_NetworkModel`, the
partition of rules into engine rulesets that each fit, and the buckets that let a deal be
asserted only into the engine rulesets that can hold for it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from creditrules.engine._durable_json import GUARD_FIELD, Json
from creditrules.engine._feature_encoding import CompileError, Feature, Pin


class Oversized(CompileError):
    """Conditions beyond the engine's limits, each with the reason."""

    def __init__(self, reasons: dict[str, str]) -> None:
        super().__init__("; ".join(reasons.values()))
        self.reasons = reasons


_MAX_STACK = 64
_MAX_BETAS = 255  # at 256 the engine reads past its list and fires a phantom rule
_MAX_NEXT_LIST = 128
_MAX_CHILDREN = 500  # < 512: a full child table makes ruleset creation loop forever


class _Alpha:
    __slots__ = ("betas", "children", "forwards", "test")

    def __init__(self, test: tuple[str, str, Any] | None) -> None:
        self.test = test  # (field, op, value); None for the root and forward nodes
        self.children: dict[tuple[str, str, Any], _Alpha] = {}
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
        # Tests are equal exactly when field, operator and value are (a field reference's
        # value is {"$m": name}); a tuple key avoids serialising every test.
        key = (field, op, ("$m", value["$m"]) if isinstance(value, dict) else value)
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
            total += _most_at_once(tests, lo, hi)
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


def _most_at_once(tests: list[tuple[str, Any]], lo: int, hi: int) -> int:
    """The most of ``tests`` (op, encoded value) on one feature that hold for one value in
    ``[lo, hi]``: a sweep over the points where the count changes, so the cost follows the
    number of tests, not the size of the domain (thousands of literals are common)."""
    delta: dict[int, int] = {lo: 0}
    for op, c in tests:
        if op == "$neq":  # holds everywhere but at c
            a, b, step = c, c, -1
            delta[lo] += 1
        else:
            a, b = {
                "$eq": (c, c),
                "$lt": (lo, c - 1),
                "$lte": (lo, c),
                "$gt": (c + 1, hi),
                "$gte": (c, hi),
            }[op]
            step = 1
        a, b = max(a, lo), min(b, hi)
        if a <= b:
            delta[a] = delta.get(a, 0) + step
            delta[b + 1] = delta.get(b + 1, 0) - step
    running = best = 0
    for point in sorted(delta):
        if point > hi:
            break
        running += delta[point]
        best = max(best, running)
    return best


def _fits(bodies: list[Json], features: Mapping[str, Feature]) -> str | None:
    model = _NetworkModel(features)
    model.add({"$ex": {GUARD_FIELD: 1}})
    for body in bodies:
        model.add(body)
    return model.problem()


def _partition(
    rules: list[tuple[str, Json]],
    features: Mapping[str, Feature],
    conditions: Mapping[str, tuple[str, ...]],
) -> list[list[tuple[str, Json]]]:
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
            reason = f"it is too large for durable_rules' network: {_fits([body], features)}"
            raise Oversized(dict.fromkeys(conditions[rule], reason))
        groups.append(rest[:lo])
        rest = rest[lo:]
    return groups


#: Rules pinned to values of a pivot feature (see ``KeySnap``) are packed into engine
#: rulesets of at most this many, so a deal is asserted only into the few that hold rules
#: for its values. durable_rules 2.0.28 spends about 14 us plus 0.6 us per rule of a ruleset
#: on each fact (a fresh session per fact), and about 130 KB per ruleset: 32 keeps both
#: small at 5,000 rules (~160 rulesets, ~35 us per fact).
BUCKET = 32


def _buckets(
    rules: list[tuple[str, Json]], pins: Mapping[str, Pin]
) -> list[list[tuple[str, Json]]]:
    """Rules in groups a deal is routed to: the rules pinned to values of a pivot, pivot by
    pivot (never two pivots in one group: a group is asked of the deals with one of its
    values of its pivot), in order of their least value, by ``BUCKET``; the others (needed
    by every deal) together. A few pinned rules stay with the others in one group (one
    ruleset, as without pinning)."""
    pinned = [r for r in rules if pins.get(r[0]) is not None]
    if len(pinned) <= BUCKET:
        return [rules]
    common = [r for r in rules if pins.get(r[0]) is None]
    pinned.sort(key=lambda r: _order(pins[r[0]]))  # stable: canonical order within a value
    chunks: list[list[tuple[str, Json]]] = []
    for pivot in dict.fromkeys(_pivot(pins[r[0]]) for r in pinned):
        of_pivot = [r for r in pinned if _pivot(pins[r[0]]) == pivot]
        chunks += [of_pivot[i : i + BUCKET] for i in range(0, len(of_pivot), BUCKET)]
    return ([common] if common else []) + chunks


def _pivot(pin: Pin) -> int:
    assert pin is not None
    return pin[0]


def _order(pin: Pin) -> tuple[int, int]:
    """Pivot, then least value (empty: never holds, never routed)."""
    assert pin is not None
    pivot, values = pin
    return pivot, values.runs[0][0] if values.runs else -2


def _routes(
    groups: list[list[tuple[str, Json]]], pins: Mapping[str, Pin], pivots: tuple[int, ...]
) -> tuple[tuple[int, ...], tuple[dict[int, tuple[int, ...]], ...]]:
    """The groups every deal is asserted into (those with an unpinned rule), and per pivot
    (in the order of ``pivots``) and per value of it, the groups a deal with that value is
    asserted into (those holding a rule pinned to it, and the former)."""
    always: set[int] = set()
    by_value: dict[int, dict[int, set[int]]] = {pivot: {} for pivot in pivots}
    for i, group in enumerate(groups):
        for rule, _ in group:
            pin = pins.get(rule)
            if pin is None:
                always.add(i)
            else:
                pivot, values = pin
                for value in values.points():
                    by_value[pivot].setdefault(value, set()).add(i)
    return tuple(sorted(always)), tuple(
        {v: tuple(sorted(always | s)) for v, s in by_value[pivot].items()} for pivot in pivots
    )
