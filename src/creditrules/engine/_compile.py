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

The key a deal is cached under depends only on what can change its outcome. An
equality-only feature many rules fix to one value (``attributes.tier == "t17" and ...``) is
a **pivot**: rules fixed to a value can hold only for deals with that value. Pivots are
chosen greedily (``choose_pivots``): the feature the most rule alternatives are pinned to,
then, among the alternatives it does not pin, the feature the most of those are pinned to
(``product == "p3" and ...``), and so on up to a few; each alternative is assigned to the
first chosen pivot that pins it. Pinned rules are packed, pivot by pivot, into small
engine rulesets, and a deal is asserted only into those holding rules for its own value of
each pivot, and those holding unpinned rules (``Compiled.route``); every other feature of
the key is **snapped** to the least value of its cell among the tests of the rules the
deal can match (see ``KeySnap``), so distinct keys, and engine evaluations, are bounded by
the ruleset, not by the deals. Both are exact: snapping changes no test's truth, and a
rule left out by the route could not hold.

This module holds :func:`compile_conditions` and its result, :class:`Compiled`. The
features, encoders and normal form are in ``_feature_encoding``, the emitted JSON and its
validation in ``_durable_json``, the network model in ``_network_model``; the names other
modules and the tests import from here are re-exported.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from creditrules.conditions._ast import Count, Expr, Facts, Field
from creditrules.engine._durable_json import GUARD as GUARD
from creditrules.engine._durable_json import GUARD_FIELD as GUARD_FIELD
from creditrules.engine._durable_json import SALT_FIELD as SALT_FIELD
from creditrules.engine._durable_json import Json as Json
from creditrules.engine._durable_json import _atoms, _dumps, _Emitter, _wrap
from creditrules.engine._durable_json import validate_definition as validate_definition
from creditrules.engine._feature_encoding import CompileError as CompileError
from creditrules.engine._feature_encoding import Encoded as Encoded
from creditrules.engine._feature_encoding import Feature as Feature
from creditrules.engine._feature_encoding import Key as Key
from creditrules.engine._feature_encoding import (
    KeySnap,
    Pin,
    _Encoder,
    _encoder,
    _features,
    _gather,
    _In,
    _Junction,
    _missing_marker,
    _Node,
    _Normaliser,
    _Ref,
    assign_pivot,
    choose_pivots,
    key_snap,
    pins,
)
from creditrules.engine._network_model import Oversized, _buckets, _partition, _routes
from creditrules.engine._network_model import _fits as _fits

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
        snap: KeySnap | None = None,
        routes: tuple[tuple[int, ...], tuple[Mapping[int, tuple[int, ...]], ...]] | None = None,
    ) -> None:
        self._conditions = dict(conditions)
        #: Per condition, the positions in the key of the features it tests: its outcome
        #: depends on those alone (a batch caches outcomes by them: creditrules.allocation).
        self.reads: dict[str, tuple[int, ...]] = dict(reads or {})
        #: Per feature, the field or count it encodes.
        self.origins = origins
        self.features = features
        self._encoders = encoders
        self._names = tuple(f.name for f in features)
        self._raw = tuple(i for i, f in enumerate(features) if f.kind == "raw")
        # Kept as text: the engine rulesets are built once, and thousands of small dicts
        # would cost memory (and garbage-collector walks) for the matcher's whole life.
        self._groups = tuple(json.dumps(g, separators=(",", ":")) for g in groups)
        #: Maps an encoded deal to its key (see ``KeySnap``); positions as in the key.
        self.snap = snap or KeySnap((), (), ())
        pivots = self.snap.pivots
        if routes is None or not pivots:  # no pivot: every deal is asked of every group
            pivots, routes = (), (tuple(range(len(groups))), ())
        self._pivots: tuple[int, ...] = pivots
        self._always: tuple[int, ...] = routes[0]
        #: Per pivot, its position and the groups by its value (the ``_always`` included).
        self._by_value: tuple[tuple[int, dict[Encoded, tuple[int, ...]]], ...] = tuple(
            (pos, {v: g for v, g in by.items()}) for pos, by in zip(pivots, routes[1], strict=True)
        )
        self.rules = dict(rules)
        self._fired = {rule: frozenset(names) for rule, names in rules.items()}
        #: Conditions left out because they exceed the engine's limits, with the reason
        #: (see ``compile_conditions(set_aside=True)``), and the conditions themselves.
        self.set_aside: dict[str, str] = {}
        self.aside_conditions: dict[str, Expr] = {}

    def __reduce__(self) -> tuple[Any, ...]:
        # Encoders are closures; recompiling is cheap and deterministic.
        return (_recompile, ({**self._conditions, **self.aside_conditions}, bool(self.set_aside)))

    @property
    def conditions(self) -> frozenset[str]:
        """Names of all compiled conditions."""
        return frozenset(self._conditions)

    def key(self, facts: Facts) -> Key:
        """The encoded deal, snapped: one rank, index or raw string per feature, in feature
        order, each rank or index the least of its cell (see ``KeySnap``); deals with equal
        keys match the same conditions.

        Raises TypeError, like the reference evaluator, for a value of the wrong type.
        """
        return self.snap(self.encode(facts))

    def encode(self, facts: Facts) -> Key:
        """The encoded deal before snapping (the deal's own ranks and indexes)."""
        scalars, collections = facts.scalars, facts.collections
        return tuple(encode(scalars, collections) for encode in self._encoders)

    @property
    def pivot(self) -> int | None:
        """The position in the key of the first pivot feature (the one pinning the most
        rules), if any."""
        return self._pivots[0] if self._pivots else None

    @property
    def pivots(self) -> tuple[int, ...]:
        """The positions in the key of the pivot features, in the order they were chosen."""
        return self._pivots

    def route(self, key: Key) -> tuple[int, ...]:
        """The engine rulesets (indexes into ``definitions()``) that can hold a rule the
        deal encoded as ``key`` matches: those with an unpinned rule, and those holding a
        rule pinned to the deal's own value of a pivot. The others need not be asked."""
        hits = [g for pos, by in self._by_value if (g := by.get(key[pos])) is not None]
        if not hits:
            return self._always
        if len(hits) == 1:
            return hits[0]
        return tuple(sorted(set().union(*hits)))

    def fact(self, key: Key) -> dict[str, Encoded]:
        """The durable_rules fact for an encoded deal (without the session id).

        Raw features (compared field to field) travel as their rank among this deal's own
        raw values, never as the values: the engine compares text through a 16-bit length,
        so two long texts could compare equal; a short token per distinct value keeps
        equality exact whatever the values are. Missing markers stay as they are (the
        conditions test them by name).
        """
        if self._raw:
            key = _rank_raw(key, self._raw)
        fact: dict[str, Encoded] = dict(zip(self._names, key, strict=True))
        fact[GUARD_FIELD] = 1
        return fact

    def definitions(self) -> tuple[Json, ...]:
        """The durable_rules ruleset definitions (JSON-ready), one per engine ruleset."""
        return tuple(json.loads(g) for g in self._groups)  # callers get copies

    def definition(self) -> Json:
        """All engine rules in one definition (what ``definitions()`` splits when needed)."""
        merged: Json = {}
        for group in self.definitions():
            merged.update(group)
        return merged

    def conditions_by_name(self, rules: Iterable[str]) -> dict[str, Expr]:
        """The conditions the engine rules ``rules`` stand for, by name."""
        return {n: self._conditions[n] for rule in rules for n in self.conditions_of(rule)}

    def conditions_of(self, rule: str) -> frozenset[str]:
        """The condition names a fired engine rule stands for (empty for the guard)."""
        return self._fired.get(rule, frozenset())


def _rank_raw(key: Key, raw: tuple[int, ...]) -> Key:
    """``key`` with each present raw value replaced by ``v<rank>``, its rank among the
    distinct present raw values of ``key`` (equal values get equal tokens, and only they)."""
    present = sorted({str(key[i]) for i in raw if not _is_marker(key[i])})
    token = {value: f"v{n}" for n, value in enumerate(present)}
    values = list(key)
    for i in raw:
        if not _is_marker(key[i]):
            values[i] = token[str(key[i])]
    return tuple(values)


def _is_marker(value: Encoded) -> bool:
    return isinstance(value, str) and value.startswith("~")


def _referenced(node: _Node) -> Iterable[int]:
    if isinstance(node, _In):
        yield node.feature
    elif isinstance(node, _Ref):
        yield from (node.left, node.right)
    elif isinstance(node, _Junction):
        for part in node.parts:
            yield from _referenced(part)


def compile_conditions(conditions: Mapping[str, Expr], *, set_aside: bool = False) -> Compiled:
    """Compile named conditions (rules with no condition excluded) for durable_rules.

    The result does not depend on the order of ``conditions``. When the conditions exceed
    what durable_rules can match exactly (more than ``MAX_FEATURES`` features, a condition
    of more than ``MAX_ATOMS`` engine tests, or one alone too large for the engine's
    network), raises :class:`CompileError`; or, with ``set_aside``, leaves those
    conditions out and names them, with the reason, in ``Compiled.set_aside`` (the caller
    evaluates them otherwise).
    """
    aside: dict[str, str] = {}
    while True:
        kept = {k: v for k, v in conditions.items() if k not in aside}
        try:
            compiled = _compile(kept)
        except Oversized as exc:
            if not set_aside:
                raise CompileError(str(exc)) from None
            aside.update(exc.reasons)
            continue
        compiled.set_aside = {k: aside[k] for k in sorted(aside)}
        compiled.aside_conditions = {k: conditions[k] for k in sorted(aside)}
        return compiled


def _recompile(conditions: Mapping[str, Expr], set_aside: bool) -> Compiled:
    return compile_conditions(conditions, set_aside=set_aside)


def _within_features(nodes: Mapping[str, _Node]) -> dict[str, str]:
    """Conditions to set aside so the rest read at most ``MAX_FEATURES`` features (kept in
    canonical order while they fit)."""
    kept: set[int] = set()
    over: dict[str, str] = {}
    for name, node in nodes.items():
        reads = set(_referenced(node))
        if len(kept | reads) > MAX_FEATURES:
            over[name] = (
                f"the conditions read more than {MAX_FEATURES} distinct fields "
                "and counts, the most a durable_rules fact carries"
            )
        else:
            kept |= reads
    return over


def _compile(conditions: Mapping[str, Expr]) -> Compiled:
    ordered = dict(sorted(conditions.items()))
    drafts = _gather(ordered)
    provisional, by_slot, origins = _features(drafts)
    normaliser = _Normaliser(provisional, by_slot)
    nodes = {name: normaliser.nnf(expr, False) for name, expr in ordered.items()}
    # Name only the features some condition still tests after simplification.
    used = sorted({i for node in nodes.values() for i in _referenced(node)})
    if len(used) > MAX_FEATURES:
        raise Oversized(_within_features(nodes))
    final = {i: attrs.evolve(provisional[i], name=f"f{n}") for n, i in enumerate(used)}
    features = tuple(final[i] for i in used)
    encoders = tuple(
        _encoder(final[i], origins[i], _missing_marker(final[i].name[1:])) for i in used
    )

    emitter = _Emitter(final)
    emitted: list[tuple[str, tuple[_Node, ...], list[Json]]] = []
    too_many: dict[str, str] = {}
    for name, node in nodes.items():
        if node is False:
            continue  # never holds: no engine rule
        disjuncts = node.parts if isinstance(node, _Junction) and not node.conjunction else (node,)
        chains = [_wrap(emitter.conjuncts(d)) for d in disjuncts]
        atoms = sum(_atoms(b) for b in chains)
        if atoms > MAX_ATOMS:
            too_many[name] = f"it compiles to {atoms} engine tests (limit {MAX_ATOMS})"
            continue
        emitted.append((name, disjuncts, chains))
    if too_many:
        raise Oversized(too_many)

    pinning = [[pins(d) for d in disjuncts] for _, disjuncts, _ in emitted]
    pivots = choose_pivots((p for per_name in pinning for p in per_name), final)
    bodies: dict[str, tuple[Json, list[str]]] = {}  # canonical JSON -> (body, conditions)
    pinned: dict[str, Pin] = {}  # canonical JSON -> (pivot, the values it can hold for)
    alternatives: list[tuple[_Node, Pin]] = []
    for (name, disjuncts, chains), per_name in zip(emitted, pinning, strict=True):
        for d, body, pinned_d in zip(disjuncts, chains, per_name, strict=True):
            text = _dumps(body)
            pin = assign_pivot(pinned_d, pivots)
            alternatives.append((d, pin))
            if text in bodies:
                # The same body is the same alternative, so the same pin; merged anyway
                # (unpinned unless both are pinned on one pivot: always exact).
                old = pinned[text]
                pinned[text] = (
                    (old[0], old[1] | pin[1])
                    if old is not None and pin is not None and old[0] == pin[0]
                    else None
                )
            else:
                pinned[text] = pin
            bodies.setdefault(text, (body, []))[1].append(name)

    rules: dict[str, tuple[str, ...]] = {}
    named: list[tuple[str, Json]] = []
    rule_pins: dict[str, Pin] = {}
    for i, (text, (body, names)) in enumerate(bodies.items()):
        rule = f"r{i}"
        rules[rule] = tuple(dict.fromkeys(names))
        named.append((rule, body))
        rule_pins[rule] = pinned[text]
    by_name = {f.name: f for f in features}
    split = [g for bucket in _buckets(named, rule_pins) for g in _partition(bucket, by_name, rules)]
    split = split or [[]]
    groups = tuple(
        {
            **{rule: {"all": [{"m": body}]} for rule, body in group},
            GUARD: {"all": [{"m": {"$ex": {GUARD_FIELD: 1}}}]},
        }
        for group in split
    )
    tested: set[str] = set()
    for group in groups:
        tested |= validate_definition(group, by_name)
    if set(by_name) - tested:  # every feature sent must be tested: else a compiler bug
        raise CompileError(f"features never tested: {sorted(set(by_name) - tested)}")
    position = {i: n for n, i in enumerate(used)}
    reads = {
        name: tuple(sorted({position[i] for i in _referenced(node)}))
        for name, node in nodes.items()
    }
    snap = key_snap(alternatives, final, pivots)
    return Compiled(
        ordered,
        features,
        encoders,
        groups,
        rules,
        reads,
        tuple(origins[i] for i in used),
        snap.moved(position),
        _routes(split, rule_pins, pivots),
    )
