"""Tests for creditrules.engine._compile: encoding, normal form, emitted JSON, limits.

These never touch durable_rules: a small interpreter of the JSON subset the compiler
emits (``fire``) stands in for the engine, so the compiled rules can be checked against the
reference evaluator exhaustively around every literal.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import pickle
import random
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

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
    Pos,
    Type,
    Value,
)
from creditrules.conditions._conditions import evaluate
from creditrules.engine import _feature_encoding, _network_model
from creditrules.engine._compile import (
    GUARD,
    GUARD_FIELD,
    MAX_ATOMS,
    MAX_FEATURES,
    Compiled,
    CompileError,
    _fits,
    compile_conditions,
    validate_definition,
)
from creditrules.engine._feature_encoding import Ranges
from creditrules.engine._network_model import _most_at_once

# -- building syntax trees by hand ----------------------------------------------------------

AMOUNT = Field(("amount",), Type.NUMBER, "amount")
DATE = Field(("date",), Type.DATE, "date")
TERRITORY = Field(("account", "territory"), Type.TEXT, "account.territory")
OWNER = Field(("account", "owner"), Type.TEXT, "account.owner")
SOURCE = Field(("lead", "source"), Type.TEXT, "lead.source")
NAMED = Field(("account", "named"), Type.BOOL, "account.named")
KIND = Field(("kind",), Type.TEXT, "kind")


def num(v: str | int) -> Literal:
    return Literal(Decimal(v), Type.NUMBER, str(v))


def text(v: str) -> Literal:
    return Literal(v, Type.TEXT, repr(v))


def day(v: str) -> Literal:
    return Literal(dt.date.fromisoformat(v), Type.DATE, v)


def cmp(left: Field | Count, op: str, right: Literal | Field | Count) -> Compare:
    return Compare(op, left, right, f"{left.text} {op} {right.text}")


def details() -> Count:
    where = cmp(KIND, "==", text("detail"))
    return Count("activities", where, "count(activities, kind == 'detail')")


def facts(activities: Iterable[str] = (), **scalars: Any) -> Facts:
    paths = {
        "amount": ("amount",),
        "date": ("date",),
        "territory": ("account", "territory"),
        "owner": ("account", "owner"),
        "source": ("lead", "source"),
        "named": ("account", "named"),
    }
    return Facts(
        {paths[k]: v for k, v in scalars.items()},
        {"activities": tuple({("kind",): k} for k in activities)},
    )


# -- a stand-in for the engine, over the emitted subset -----------------------------------

_OPS = {
    "$eq": lambda a, b: a == b,
    "$neq": lambda a, b: a != b,
    "$lt": lambda a, b: a < b,
    "$lte": lambda a, b: a <= b,
    "$gt": lambda a, b: a > b,
    "$gte": lambda a, b: a >= b,
}


def holds(expr: Mapping[str, Any], fact: Mapping[str, Any]) -> bool:
    ((op, arg),) = expr.items()
    if op == "$and":
        return all(holds(e, fact) for e in arg)
    if op == "$or":
        return any(holds(e, fact) for e in arg)
    ((name, value),) = arg.items()
    if name not in fact:
        return False  # durable_rules: no test matches an absent property ($neq included)
    if op == "$ex":
        return True
    if isinstance(value, dict):
        value = fact[value["$m"]]
    return bool(_OPS[op](fact[name], value))


def fire(compiled: Compiled, f: Facts) -> frozenset[str]:
    """What the engine would report: conditions of every rule the fact matches, asked of
    the engine rulesets the deal is routed to. Checks on the way that the snapped key fires
    the very rules the deal's own encoding fires, and that no rule outside the route does."""
    key = compiled.key(f)
    fact, own = compiled.fact(key), compiled.fact(compiled.encode(f))
    routed = set(compiled.route(key))
    names: set[str] = set()
    for i, group in enumerate(compiled.definitions()):
        assert group[GUARD] == {"all": [{"m": {"$ex": {GUARD_FIELD: 1}}}]}
        for rule, body in group.items():
            test = body["all"][0]["m"]
            assert holds(test, fact) == holds(test, own), (rule, key)
            if rule != GUARD and holds(test, fact):
                assert i in routed, f"{rule} holds but the route {routed} leaves out group {i}"
                names |= compiled.conditions_of(rule)
    return frozenset(names)


def reference(conditions: Mapping[str, Expr], f: Facts) -> frozenset[str]:
    return frozenset(name for name, expr in conditions.items() if evaluate(expr, f))


def assert_exact(conditions: Mapping[str, Expr], cases: Iterable[Facts]) -> None:
    compiled = compile_conditions(conditions)
    for f in cases:
        assert fire(compiled, f) == reference(conditions, f), f


# -- encoding -----------------------------------------------------------------------------


def test_rank_encoding_around_every_literal() -> None:
    """Numbers rank 0 below the first literal, odd at a literal, even between, 2k above,
    -1 when missing; 10 and 10.0 are one literal."""
    compiled = compile_conditions(
        {
            "a": cmp(AMOUNT, ">", num(10)),
            "b": cmp(AMOUNT, "<=", Literal(Decimal("20.0"), Type.NUMBER, "20.0")),
            "c": cmp(AMOUNT, "==", num("10.0")),
        }
    )
    (feature,) = compiled.features
    assert (feature.kind, feature.literals) == ("rank", (Decimal(10), Decimal(20)))
    values: list[Value] = [
        Decimal(5),
        Decimal(10),
        Decimal("10.00"),
        Decimal(15),
        Decimal(20),
        Decimal(25),
        None,
    ]
    assert [compiled.encode(facts(amount=v)) for v in values] == [
        (0,),
        (1,),
        (1,),
        (2,),
        (3,),
        (4,),
        (-1,),
    ]
    assert compiled.encode(Facts({}, {})) == (-1,)  # absent is missing too
    assert compiled.encode(facts(amount=15)) == (2,)  # an int is a number


def test_dates_rank_like_numbers() -> None:
    """Dates use the same rank encoding."""
    compiled = compile_conditions({"a": cmp(DATE, ">=", day("2024-01-31"))})
    days = ["2024-01-30", "2024-01-31", "2024-02-01"]
    encoded = [compiled.encode(facts(date=dt.date.fromisoformat(d))) for d in days]
    assert encoded == [(0,), (1,), (2,)]


def test_text_and_bool_use_an_index_with_other_and_missing() -> None:
    """Text compared for equality is an index into its sorted literals; any other value is
    len(literals); missing is -1. A bare boolean is ``== true``."""
    compiled = compile_conditions(
        {
            "eu": InList(TERRITORY, (text("UK"), text("EU")), False, "t in [...]"),
            "named": cmp(NAMED, "==", Literal(True, Type.BOOL, "account.named")),
        }
    )
    named, territory = compiled.features
    assert (named.kind, named.literals) == ("index", (True,))
    assert (territory.kind, territory.literals) == ("index", ("EU", "UK"))
    assert compiled.encode(facts(named=True, territory="EU")) == (0, 0)
    assert compiled.encode(facts(named=False, territory="UK")) == (1, 1)
    assert compiled.encode(facts(territory="US")) == (-1, 2)


def test_wrongly_typed_facts_raise_like_the_reference() -> None:
    """A value of the wrong type is a caller bug: TypeError, as from ``evaluate``."""
    conditions: dict[str, Expr] = {"a": cmp(AMOUNT, ">", num(1))}
    compiled = compile_conditions(conditions)
    for bad in ("12", True, 1.5):
        with pytest.raises(TypeError):
            evaluate(conditions["a"], facts(amount=bad))
        with pytest.raises(TypeError):
            compiled.key(facts(amount=bad))
    with pytest.raises(TypeError):
        compile_conditions({"d": cmp(DATE, ">", day("2024-01-01"))}).key(
            facts(date=dt.datetime(2024, 1, 2))
        )


# -- every comparison, exhaustively around the literals ------------------------------------

OPS = ("==", "!=", "<", "<=", ">", ">=")
AROUND = [None, *(Decimal(v) for v in ("-1", "0", "0.5", "1", "1.00", "1.5", "2", "3"))]


@pytest.mark.parametrize("op", OPS)
def test_each_number_comparison_is_exact(op: str) -> None:
    """Every operator, with one or two literals on the feature, agrees with the reference
    for values below, at, between and above each literal, and missing; so does its
    negation."""
    conditions: dict[str, Expr] = {
        "one": cmp(AMOUNT, op, num(1)),
        "not_one": Not(cmp(AMOUNT, op, num(1)), "not"),
        "two": cmp(AMOUNT, op, num(2)),
        "zero": cmp(AMOUNT, op, num(0)),
    }
    assert_exact(conditions, [facts(amount=v) for v in AROUND])


def test_in_and_not_in_are_exact() -> None:
    """``in``/``not in`` on text, numbers and booleans, with missing and other values."""
    options = (text("EU"), text("UK"), text("APAC"))
    conditions: dict[str, Expr] = {
        "in": InList(TERRITORY, options, False, "in"),
        "not_in": InList(TERRITORY, options, True, "not in"),
        "in_two": InList(TERRITORY, options[:2], False, "in"),
        "not_not_in": Not(InList(TERRITORY, options[1:], True, "x"), "not"),
        "num_in": InList(AMOUNT, (num(1), num(3)), False, "in"),
        "num_not_in": InList(AMOUNT, (num(1), num(3)), True, "not in"),
        "bool_in": InList(NAMED, (Literal(False, Type.BOOL, "false"),), False, "in"),
    }
    cases = [
        facts(territory=t, amount=a, named=b)
        for t, a, b in itertools.product(
            (None, "EU", "UK", "APAC", "US", "eu"),
            (None, Decimal(1), Decimal(2), Decimal(3)),
            (None, True, False),
        )
    ]
    assert_exact(conditions, cases)


def test_negation_is_pushed_down_exactly() -> None:
    """``not`` over and/or (De Morgan) with missing values: ``!=`` holds when missing,
    orderings do not, and their negations are the exact complements."""
    a_big = cmp(AMOUNT, ">=", num(100))
    eu = cmp(TERRITORY, "==", text("EU"))
    named = cmp(NAMED, "==", Literal(True, Type.BOOL, "account.named"))
    conditions: dict[str, Expr] = {
        "not_and": Not(And((a_big, eu), "and"), "not"),
        "not_or": Not(Or((a_big, eu, named), "or"), "not"),
        "not_not": Not(Not(And((a_big, Not(eu, "n")), "and"), "n"), "n"),
        "mixed": Or(
            (
                And((Not(a_big, "n"), eu), "and"),
                Not(Or((named, cmp(AMOUNT, "<", num(10))), "or"), "n"),
            ),
            "or",
        ),
        "range": And((cmp(AMOUNT, ">", num(10)), cmp(AMOUNT, "<", num(100))), "and"),
        "not_range": Not(And((cmp(AMOUNT, ">", num(10)), cmp(AMOUNT, "<", num(100))), "a"), "n"),
    }
    cases = [
        facts(amount=a, territory=t, named=n)
        for a, t, n in itertools.product(
            (None, Decimal(5), Decimal(10), Decimal(50), Decimal(100), Decimal(500)),
            (None, "EU", "UK"),
            (None, True, False),
        )
    ]
    assert_exact(conditions, cases)
    compiled = compile_conditions(conditions)
    text_ = json.dumps(compiled.definition())
    assert "$not" not in text_
    assert "$nex" not in text_


def test_tautologies_and_contradictions() -> None:
    """A condition that always holds fires on every deal; one that never holds has no
    engine rule and no feature."""
    conditions: dict[str, Expr] = {
        "always": Or((cmp(AMOUNT, "==", num(5)), cmp(AMOUNT, "!=", num(5))), "or"),
        "never": And((cmp(TERRITORY, "==", text("EU")), cmp(TERRITORY, "==", text("UK"))), "and"),
    }
    compiled = compile_conditions(conditions)
    assert compiled.features == ()
    assert fire(compiled, facts()) == {"always"}
    assert compiled.rules == {"r0": ("always",)}


def test_field_against_field_is_exact() -> None:
    """``==`` between fields is false when either is missing, ``!=`` its negation; equal
    decimals with different exponents are equal; any text (quotes, NUL, unicode) is safe."""
    conditions: dict[str, Expr] = {
        "same": cmp(OWNER, "==", SOURCE),
        "differ": cmp(OWNER, "!=", SOURCE),
        "not_same": Not(cmp(OWNER, "==", SOURCE), "not"),
        "self": cmp(OWNER, "==", OWNER),
        "not_self": cmp(OWNER, "!=", OWNER),
        "and_literal": And((cmp(OWNER, "==", SOURCE), cmp(OWNER, "==", text("acme"))), "a"),
    }
    values = (None, "acme", "beta", 'a"b', "\x00", "é", "")
    assert_exact(
        conditions, [facts(owner=a, source=b) for a, b in itertools.product(values, values)]
    )
    amount2 = Field(("other",), Type.NUMBER, "other")
    numbers: dict[str, Expr] = {"eq": cmp(AMOUNT, "==", amount2), "ne": cmp(AMOUNT, "!=", amount2)}
    compiled = compile_conditions(numbers)
    for a, b in [
        (Decimal("1.0"), Decimal(1)),
        (Decimal("-0"), Decimal(0)),
        (Decimal("1E+2"), Decimal(100)),
        (Decimal("1.01"), Decimal("1.1")),
    ]:
        f = Facts({("amount",): a, ("other",): b}, {})
        assert fire(compiled, f) == reference(numbers, f)


def test_counts_are_exact() -> None:
    """Counts rank like numbers (never missing); the ``where`` predicate is evaluated per
    item exactly like the reference, including nested not/or and missing item fields."""
    where = Or((cmp(KIND, "==", text("detail")), Not(cmp(KIND, "!=", text("call")), "n")), "or")
    calls = Count("activities", where, "count(activities, ...)")
    every = Count("activities", None, "count(activities)")
    missing_kind = Count("activities", cmp(KIND, "!=", text("detail")), "count(...)")
    conditions: dict[str, Expr] = {
        "two": cmp(calls, ">=", num(2)),
        "not_two": Not(cmp(calls, ">=", num(2)), "n"),
        "none": cmp(every, "==", num(0)),
        "few": cmp(every, "<", num("1.5")),
        "non_detail": cmp(missing_kind, ">", num(0)),
        "same_count": cmp(calls, "==", every),
    }
    kinds = ["detail", "call", "sample"]
    cases = [
        facts(activities=combo) for n in range(4) for combo in itertools.product(kinds, repeat=n)
    ]
    cases.append(Facts({}, {"activities": ({},)}))  # an item without its kind
    cases.append(Facts({}, {}))  # no collection at all
    assert_exact(conditions, cases)
    compiled = compile_conditions(conditions)
    assert {f.source for f in compiled.features if f.source.startswith("count")} == {
        "count(activities)",
        "count(activities, ((kind == text:t64657461696c) or (not (kind != text:t63616c6c))))",
        "count(activities, (kind != text:t64657461696c))",
    }


def test_same_count_written_differently_is_one_feature() -> None:
    """Counts are identified by structure, not by their source text or position."""
    a = Count("activities", cmp(KIND, "==", text("detail")), "count(activities, kind=='detail')")
    b = Count(
        "activities",
        Compare("==", KIND, text("detail"), "kind == 'detail'", Pos(3, 9)),
        "count( activities , kind == 'detail' )",
        Pos(2, 1),
    )
    compiled = compile_conditions({"x": cmp(a, ">", num(1)), "y": cmp(b, "<", num(5))})
    assert len(compiled.features) == 1


# -- the emitted definition -------------------------------------------------------------


def sample_conditions() -> dict[str, Expr]:
    return {
        "big": cmp(AMOUNT, ">=", num(1000)),
        "eu_big": And((cmp(TERRITORY, "==", text("EU")), cmp(AMOUNT, ">=", num(1000))), "a"),
        "late": cmp(DATE, ">", day("2024-06-30")),
        "direct": cmp(OWNER, "==", SOURCE),
        "detailed": cmp(details(), ">=", num(2)),
        "also_big": cmp(AMOUNT, ">=", num("1000.00")),
        "either": Or(
            (
                cmp(NAMED, "==", Literal(True, Type.BOOL, "named")),
                InList(TERRITORY, (text("UK"), text("US")), False, "in"),
            ),
            "or",
        ),
    }


def test_definition_does_not_depend_on_mapping_order() -> None:
    """Shuffling the conditions gives the same features, rules and JSON text."""
    conditions = sample_conditions()
    expected = compile_conditions(conditions)
    items = list(conditions.items())
    for seed in range(5):
        random.Random(seed).shuffle(items)
        compiled = compile_conditions(dict(items))
        assert compiled.features == expected.features
        assert compiled.rules == expected.rules
        assert json.dumps(compiled.definitions()) == json.dumps(expected.definitions())


def test_definition_shape() -> None:
    """One single-pattern rule per distinct compiled condition (identical ones share it;
    a top-level ``or`` is one rule per alternative), plus the guard; integers only for
    ordering; feature names f0.. and never id/sid."""
    compiled = compile_conditions(sample_conditions())
    (definition,) = compiled.definitions()
    assert definition == compiled.definition()
    assert definition[GUARD] == {"all": [{"m": {"$ex": {GUARD_FIELD: 1}}}]}
    assert [f.name for f in compiled.features] == [f"f{i}" for i in range(7)]
    by_condition: dict[str, list[str]] = {}
    for rule, names in compiled.rules.items():
        for name in names:
            by_condition.setdefault(name, []).append(rule)
    assert by_condition["big"] == by_condition["also_big"]
    assert len(by_condition["either"]) == 2
    amount = next(f.name for f in compiled.features if f.source == "amount")
    (rule,) = by_condition["big"]
    assert definition[rule] == {"all": [{"m": {"$gte": {amount: 1}}}]}
    validate_definition(definition, [f.name for f in compiled.features])


def test_fact_is_the_key_by_feature_name_plus_the_guard() -> None:
    """``fact(key)`` names each encoded value and adds the guard field; a raw value travels
    as its rank among the deal's own raw values (``v0``), never as the text."""
    compiled = compile_conditions({"a": cmp(AMOUNT, ">", num(1)), "b": cmp(OWNER, "==", SOURCE)})
    key = compiled.key(facts(amount=Decimal(2), owner="x"))
    # Features sort by source: account.owner, amount, lead.source (missing: its marker).
    assert key == ("t78", 2, "~2")
    assert compiled.fact(key) == {"f0": "v0", "f1": 2, "f2": "~2", GUARD_FIELD: 1}
    both = compiled.key(facts(amount=Decimal(2), owner="y" * 70000, source="x"))
    assert compiled.fact(both) == {"f0": "v1", "f1": 2, "f2": "v0", GUARD_FIELD: 1}


def test_compiled_pickles() -> None:
    """A Compiled object survives pickling (it is rebuilt from its conditions)."""
    compiled = compile_conditions(sample_conditions())
    again = pickle.loads(pickle.dumps(compiled))
    assert again.definitions() == compiled.definitions()
    f = facts(amount=Decimal(2000), territory="EU", activities=["detail"] * 3)
    assert again.key(f) == compiled.key(f)


# -- validation -------------------------------------------------------------------------


def rule(expr: Any) -> dict[str, Any]:
    return {"r0": {"all": [{"m": expr}]}}


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ({"$ne": {"f0": 1}}, "unknown operator '$ne'"),
        ({"$eq": {"id": 1}}, "reserved"),
        ({"$eq": {"sid": 1}}, "reserved"),
        ({"$eq": {"f0": {"$m": "sid"}}}, "reserved"),
        ({"$eq": {"f9": 1}}, "unknown feature"),
        ({"$eq": {"f0": 1.5}}, "integer or a string"),
        ({"$eq": {"f0": True}}, "integer or a string"),
        ({"$gt": {"f0": "100"}}, "on a string"),
        ({"$gt": {"f0": {"$m": "f0"}}}, "bad field reference"),
        ({"$and": []}, "non-empty list"),
        ({"$eq": {"f0": 1}, "$neq": {"f0": 2}}, "one operator"),
        ({"$ex": {"f0": 2}}, "takes 1"),
    ],
)
def test_validation_rejects_what_the_engine_would_get_wrong(expr: Any, message: str) -> None:
    """Unknown operators ($ne silently never matches), reserved names, floats, booleans,
    text ordering and malformed nodes are refused before reaching the engine."""
    with pytest.raises(CompileError, match=message.replace("$", r"\$")):
        validate_definition(rule(expr), ["f0"])


def test_validation_rejects_other_rule_shapes() -> None:
    """Only ``{"all": [{"m": expr}]}`` rules are accepted."""
    for bad in (
        {"r": {"any": [{"m": {"$eq": {"f0": 1}}}]}},
        {"r": {"all": [{"m": {"$eq": {"f0": 1}}}], "pri": 1}},
        {"r": {"all": [{"x": {"$eq": {"f0": 1}}}]}},
        {"r": {"all": [{"m": {"$eq": {"f0": 1}}}, {"m": {"$eq": {"f0": 1}}}]}},
    ):
        with pytest.raises(CompileError):
            validate_definition(bad, ["f0"])
    assert validate_definition(rule({"$or": [{"$eq": {"f0": {"$m": "f1"}}}]}), ["f0", "f1"]) == {
        "f0",
        "f1",
    }


def test_ordering_needs_a_literal_and_a_number_or_date() -> None:
    """Orderings between two fields, or on text, cannot be compiled."""
    with pytest.raises(CompileError, match="literal"):
        compile_conditions({"x": cmp(AMOUNT, "<", Field(("other",), Type.NUMBER, "other"))})
    with pytest.raises(CompileError, match="numbers and dates"):
        compile_conditions({"x": cmp(TERRITORY, "<", text("M"))})


# -- limits -----------------------------------------------------------------------------


def field(i: int) -> Field:
    return Field(("attributes", f"a{i:03}"), Type.NUMBER, f"attributes.a{i:03}")


def test_too_many_features() -> None:
    """More than MAX_FEATURES features is a clear error; exactly MAX_FEATURES is fine."""
    ok = {f"c{i}": cmp(field(i), "==", num(1)) for i in range(MAX_FEATURES)}
    assert len(compile_conditions(ok).features) == MAX_FEATURES
    too_many = {**ok, "one_more": cmp(field(MAX_FEATURES), "==", num(1))}
    with pytest.raises(CompileError, match=f"more than {MAX_FEATURES} distinct fields"):
        compile_conditions(too_many)
    # Set aside instead: the condition past the limit, in canonical order, is named.
    compiled = compile_conditions(too_many, set_aside=True)
    assert list(compiled.set_aside) == ["one_more"]
    assert compiled.aside_conditions == {"one_more": too_many["one_more"]}
    assert len(compiled.features) == MAX_FEATURES


def test_too_many_atoms_in_one_condition() -> None:
    """A condition compiling to more than MAX_ATOMS engine tests is a clear error."""
    parts = tuple(cmp(field(i), ">", num(1)) for i in range(MAX_ATOMS + 1))
    with pytest.raises(CompileError, match="engine tests"):
        compile_conditions({"huge": And(parts, "and")})
    assert compile_conditions({"ok": And(parts[:MAX_ATOMS], "and")}).rules
    compiled = compile_conditions({"huge": And(parts, "and"), "ok": parts[0]}, set_aside=True)
    assert compiled.set_aside == {
        "huge": f"it compiles to {MAX_ATOMS + 1} engine tests (limit {MAX_ATOMS})"
    }
    assert compiled.conditions == {"ok"}


@given(st.lists(st.integers(-3, 12), max_size=8), st.lists(st.integers(-3, 12), max_size=8))
def test_ranges_behave_as_sets(a: list[int], b: list[int]) -> None:
    """Runs of encoded values are exactly the sets they stand for."""
    ra, rb = Ranges.of(a), Ranges.of(b)
    assert set(ra.points()) == set(a)
    assert set((ra & rb).points()) == set(a) & set(b)
    assert set((ra | rb).points()) == set(a) | set(b)
    assert set(ra.complement(-1, 10).points()) == set(range(-1, 11)) - set(a)
    assert ra.covers(-1, 10) == (set(range(-1, 11)) <= set(a))
    assert all((v in ra) == (v in set(a)) for v in range(-5, 15))
    assert len(ra) == len(set(a))


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["$eq", "$neq", "$lt", "$lte", "$gt", "$gte"]), st.integers(-2, 9)
        ),
        max_size=12,
    )
)
def test_the_sweep_counts_tests_holding_at_once(tests: list[tuple[str, int]]) -> None:
    """The network model's sweep gives the same count as trying every encoded value."""
    ops = {
        "$eq": int.__eq__,
        "$neq": int.__ne__,
        "$lt": int.__lt__,
        "$lte": int.__le__,
        "$gt": int.__gt__,
        "$gte": int.__ge__,
    }
    dense = max(sum(1 for op, c in tests if ops[op](v, c)) for v in range(-1, 8))
    assert _most_at_once(tests, -1, 7) == dense


def test_rules_are_split_when_too_many_tests_could_hold_at_once() -> None:
    """durable_rules walks its network with a 64-entry stack: 63 independent tests plus
    the guard fit in one ruleset, 64 do not and are split; each group fits the model."""

    def conditions(n: int) -> dict[str, Expr]:
        return {f"c{i:03}": cmp(field(i), ">=", num(1)) for i in range(n)}

    assert len(compile_conditions(conditions(63)).definitions()) == 1
    split = compile_conditions(conditions(200))
    groups = split.definitions()
    assert len(groups) == 4
    assert sum(len(g) - 1 for g in groups) == 200
    by_name = {f.name: f for f in split.features}
    for group in groups:
        bodies = [r["all"][0]["m"] for name, r in group.items() if name != GUARD]
        assert _fits(bodies, by_name) is None
    assert split.definition().keys() == {GUARD, *(f"r{i}" for i in range(200))}


def test_stack_model_counts_only_tests_that_can_hold_together() -> None:
    """Equality tests on one feature exclude each other: 300 rules ``x == literal`` fit in
    one ruleset, while 70 ``x >= literal`` (all true for a large x) do not."""
    eq = {f"c{i:03}": cmp(AMOUNT, "==", num(i)) for i in range(300)}
    assert len(compile_conditions(eq).definitions()) == 1
    ge = {f"c{i:03}": cmp(AMOUNT, ">=", num(i)) for i in range(70)}
    assert len(compile_conditions(ge).definitions()) == 2
    assert_exact(ge, [facts(amount=Decimal(v)) for v in (-1, 0, 35, 69, 100)])


# -- pivot, snapping and routing ------------------------------------------------------------

TIER = Field(("attributes", "tier"), Type.TEXT, "attributes.tier")
SCORE = Field(("attributes", "score"), Type.NUMBER, "attributes.score")


def deal(tier: str | None, amount: Value = None, score: Value = None,
         territory: str | None = None) -> Facts:
    return Facts(
        {TIER.path: tier, AMOUNT.path: amount, SCORE.path: score, TERRITORY.path: territory},
        {},
    )


def thresholds(n: int) -> dict[str, Expr]:
    """The load-size shape: ``tier == "tI" and amount >= I and score < 3I``."""
    return {
        f"r{i:04}": And(
            (
                cmp(TIER, "==", text(f"t{i}")),
                cmp(AMOUNT, ">=", num(i)),
                cmp(SCORE, "<", num(3 * i)),
            ),
            "a",
        )
        for i in range(n)
    }


def test_key_is_snapped_to_the_cells_the_deals_rules_tell_apart() -> None:
    """With rules pinned to a tier, a deal's other values are encoded only against its own
    tier's rules: 2 amount cells and 3 score cells (missing, below, at or above) whatever
    the number of rules, and one key for a tier no rule names."""
    conditions = thresholds(50)
    compiled = compile_conditions(conditions)
    tier = next(n for n, f in enumerate(compiled.features) if f.source == "attributes.tier")
    assert compiled.pivot == tier
    amounts = [None, *(Decimal(v) for v in range(0, 100, 3)), Decimal("17.5")]
    scores = [None, *(Decimal(v) for v in range(0, 150, 7))]
    deals = [deal("t17", a, s) for a in amounts for s in scores]
    keys = {compiled.key(d) for d in deals}
    # Unsnapped: 20 amount ranks (all above the last literal rank alike) x 23 scores.
    assert len({compiled.encode(d) for d in deals}) == 20 * 23
    assert len(keys) == 2 * 3
    for d in deals:
        assert fire(compiled, d) == reference(conditions, d)
    outsiders = [deal(t, a, s) for t in ("zz", None, "t") for a in amounts for s in scores]
    # "zz" and "t" are both "another tier" (index 50), None is missing: two keys.
    assert {compiled.key(d) for d in outsiders} == {(-1, -1, 50), (-1, -1, -1)}
    assert {fire(compiled, d) for d in outsiders} == {frozenset()}


def test_distinct_keys_are_bounded_by_the_ruleset_not_the_deals() -> None:
    """Thousands of random deals over 200 pinned rules: at most 6 keys per tier named by a
    rule plus 1 per other tier value, however many deals."""
    conditions = thresholds(200)
    compiled = compile_conditions(conditions)
    rng = random.Random(12)
    deals = [
        deal(f"t{rng.randrange(210)}", Decimal(rng.randrange(400)), Decimal(rng.randrange(1200)))
        for _ in range(3000)
    ]
    keys = {compiled.key(d) for d in deals}
    tiers = {d.scalars[TIER.path] for d in deals}
    assert len(keys) <= 6 * len(tiers)
    assert len({compiled.encode(d) for d in deals}) > 2 * len(keys)  # what snapping saves
    for d in deals[:300]:
        assert fire(compiled, d) == reference(conditions, d)


def test_pinned_rules_are_bucketed_and_each_deal_routed_to_its_own() -> None:
    """100 pinned rules and one that is not: the pinned ones go in engine rulesets of at
    most BUCKET rules, the other in its own; a deal is routed to that one and to the
    ruleset holding its tier's rule, a deal of another tier to that one only."""
    conditions: dict[str, Expr] = {**thresholds(100), "big": cmp(AMOUNT, ">", num(5000))}
    compiled = compile_conditions(conditions)
    groups = compiled.definitions()
    bucket = _network_model.BUCKET
    assert len(groups) == 1 + -(-100 // bucket)
    assert [len(g) - 1 for g in groups] == [1, *[bucket] * (100 // bucket), 100 % bucket]
    big_group = next(i for i, g in enumerate(groups) if any(
        compiled.conditions_of(r) == {"big"} for r in g))
    t42 = deal("t42", Decimal(50), Decimal(1))
    route = compiled.route(compiled.key(t42))
    assert len(route) == 2
    assert big_group in route
    (own,) = set(route) - {big_group}
    assert {n for r in groups[own] for n in compiled.conditions_of(r)} >= {"r0042"}
    assert compiled.route(compiled.key(deal("nobody", Decimal(9000)))) == (big_group,)
    for d in (t42, deal("t42", Decimal(9000), Decimal(1)), deal("zz", Decimal(9000))):
        assert fire(compiled, d) == reference(conditions, d)
    assert fire(compiled, t42) == {"r0042"}


def test_a_few_pinned_rules_stay_in_one_engine_ruleset() -> None:
    """Up to BUCKET pinned rules stay with the others in one engine ruleset, as without
    pinning; a deal whose tier no rule names is still not asked of it when every rule in
    it is pinned."""
    compiled = compile_conditions(thresholds(10))
    assert len(compiled.definitions()) == 1
    assert compiled.route(compiled.key(deal("t3", Decimal(5)))) == (0,)
    assert compiled.route(compiled.key(deal("zz", Decimal(5)))) == ()
    mixed = compile_conditions({**thresholds(10), "big": cmp(AMOUNT, ">", num(500))})
    assert len(mixed.definitions()) == 1
    assert mixed.route(mixed.key(deal("zz", Decimal(5)))) == (0,)


def test_no_pivot_without_equality_only_features() -> None:
    """Rules on numbers alone have no pivot: every deal is asked of every engine ruleset,
    and the key is still snapped to the cells of all the rules."""
    conditions: dict[str, Expr] = {
        "a": cmp(AMOUNT, ">=", num(10)),
        "b": And((cmp(AMOUNT, "<", num(20)), cmp(SCORE, "==", num(3))), "a"),
    }
    compiled = compile_conditions(conditions)
    assert compiled.pivot is None
    assert compiled.route(compiled.key(deal(None, Decimal(1)))) == (0,)
    # amount: [missing, <10], [10, <20], [20, ...): three keys for ten amounts.
    keys = {compiled.key(deal(None, Decimal(v), Decimal(3))) for v in range(0, 40, 4)}
    assert len(keys) == 3


TIERS = ("a", "b", "c", "d")


@st.composite
def pinned_rulesets(draw: st.DrawFn) -> dict[str, Expr]:
    """Conditions of the shapes pinning deals with: a tier fixed by ``==`` or ``in``
    (alone, in an ``and``, in each branch of an ``or``), next to conditions on numbers and
    territories, negations and tier inequalities that pin nothing."""

    def tier_atom() -> Expr:
        if draw(st.booleans()):
            return cmp(TIER, "==", text(draw(st.sampled_from(TIERS))))
        options = draw(st.lists(st.sampled_from(TIERS), min_size=1, max_size=3, unique=True))
        return InList(TIER, tuple(text(t) for t in options), False, "in")

    def number_atom() -> Expr:
        side = draw(st.sampled_from((AMOUNT, SCORE)))
        return cmp(side, draw(st.sampled_from(OPS)), num(draw(st.integers(0, 6))))

    def other_atom() -> Expr:
        if draw(st.booleans()):
            return cmp(TERRITORY, draw(st.sampled_from(("==", "!="))), text("EU"))
        return cmp(TIER, "!=", text(draw(st.sampled_from(TIERS))))

    conditions: dict[str, Expr] = {}
    for i in range(draw(st.integers(1, 14))):
        shape = draw(st.sampled_from(("pinned", "pinned", "either", "tier", "other", "not")))
        if shape == "pinned":
            parts = [tier_atom(), *(number_atom() for _ in range(draw(st.integers(1, 2))))]
            expr: Expr = And(tuple(parts), "a")
        elif shape == "either":
            expr = Or(
                (And((tier_atom(), number_atom()), "a"), And((tier_atom(), number_atom()), "a")),
                "o",
            )
        elif shape == "tier":
            expr = tier_atom()
        elif shape == "other":
            expr = Or((number_atom(), other_atom()), "o") if draw(st.booleans()) else number_atom()
        else:
            expr = Not(And((tier_atom(), number_atom()), "a"), "n")
        conditions[f"c{i:02}"] = expr
    return conditions


NUMBERS = [None, *(Decimal(v) for v in ("-1", "0", "0.5", "1", "2", "2.5", "3", "5", "6", "9"))]


@given(
    pinned_rulesets(),
    st.lists(
        st.tuples(
            st.sampled_from((*TIERS, "zz", None)),
            st.sampled_from(NUMBERS),
            st.sampled_from(NUMBERS),
            st.sampled_from(("EU", "UK", None)),
        ),
        min_size=1,
        max_size=25,
    ),
    st.sampled_from((1, 2, 32)),
)
def test_snapped_and_routed_matching_is_the_reference(
    conditions: dict[str, Expr], deals: list[tuple[Any, Any, Any, Any]], bucket: int
) -> None:
    """On generated rulesets and deals, with engine rulesets of 1, 2 or 32 pinned rules:
    the rules the routed engine rulesets fire for the snapped key are the conditions the
    reference evaluator finds true (``fire`` also checks the snapped key fires what the
    deal's own encoding fires, and that no rule outside the route holds); and deals with
    equal keys have equal outcomes."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_network_model, "BUCKET", bucket)
        compiled = compile_conditions(conditions)
    outcomes: dict[Any, frozenset[str]] = {}
    for values in deals:
        d = deal(*values)
        expected = reference(conditions, d)
        assert fire(compiled, d) == expected
        assert outcomes.setdefault(compiled.key(d), expected) == expected


# -- several pivots: rules pinned to values of different fields -----------------------------

PRODUCT = Field(("product",), Type.TEXT, "product")
#: The fields rules are pinned on, in turn, and the prefix of their values.
PIN_FIELDS = ((TIER, "t"), (PRODUCT, "p"), (TERRITORY, "x"))


def spread(n: int, fields: int = 2) -> dict[str, Expr]:
    """The ``load_size.py --fields`` shape: rule I is ``F == "<prefix>I" and amount >= I
    and score < 3I`` with F the field I mod ``fields`` (tier, product, territory)."""
    conditions: dict[str, Expr] = {}
    for i in range(n):
        field, prefix = PIN_FIELDS[i % fields]
        conditions[f"r{i:04}"] = And(
            (
                cmp(field, "==", text(f"{prefix}{i}")),
                cmp(AMOUNT, ">=", num(i)),
                cmp(SCORE, "<", num(3 * i)),
            ),
            "a",
        )
    return conditions


def on(tier: str | None = None, product: str | None = None, territory: str | None = None,
       amount: Value = None, score: Value = None) -> Facts:
    return Facts(
        {TIER.path: tier, PRODUCT.path: product, TERRITORY.path: territory,
         AMOUNT.path: amount, SCORE.path: score},
        {},
    )


def position(compiled: Compiled, field: Field) -> int:
    return next(n for n, f in enumerate(compiled.features) if f.source == field.text)


def rules_in(compiled: Compiled, groups: Iterable[int]) -> set[str]:
    definitions = compiled.definitions()
    return {n for i in groups for r in definitions[i] for n in compiled.conditions_of(r)}


def on_field(field: Field, prefix: str, indexes: Iterable[int]) -> dict[str, Expr]:
    """``F == "<prefix>I" and amount >= I``, named ``<prefix>I``."""
    return {
        f"{prefix}{i:03}": And((cmp(field, "==", text(f"{prefix}{i}")), cmp(AMOUNT, ">=", num(i))),
                               "a")
        for i in indexes
    }


def test_pivots_are_chosen_greedily_and_each_alternative_assigned_once() -> None:
    """60 rules on the tier, 30 on the product, 45 on the territory, and 17 on a tier and a
    product at once: the tier pins the most (77), then, among the alternatives it does not
    pin, the territory (45, where the product pins 30: the 17 count for the tier alone),
    then the product. With 15 on the territory, fewer than PIVOT_AT_LEAST, it is no pivot."""
    both = {f"both{i:02}": And((cmp(TIER, "==", text(f"t{i}")), cmp(PRODUCT, "==", text("p1")),
                                cmp(AMOUNT, ">", num(i))), "a") for i in range(17)}
    conditions: dict[str, Expr] = {
        **on_field(TIER, "t", range(60)), **on_field(PRODUCT, "p", range(30)),
        **on_field(TERRITORY, "x", range(45)), **both, "free": cmp(AMOUNT, ">", num(7)),
    }
    compiled = compile_conditions(conditions)
    tier, product, territory = (position(compiled, f) for f, _ in PIN_FIELDS)
    assert compiled.pivots == (tier, territory, product)
    assert compiled.pivot == tier
    few = {k: v for k, v in conditions.items() if not k.startswith("x") or k < "x015"}
    assert _feature_encoding.PIVOT_AT_LEAST > 15
    fewer = compile_conditions(few)
    assert fewer.pivots == (position(fewer, TIER), position(fewer, PRODUCT))
    # A deal of tier t3, product p1 and territory x2 is asked of the rules pinned to t3
    # ("both03" among them, assigned to the tier), to p1 and to x2, and the unpinned one.
    deal_ = on("t3", "p1", "x2", Decimal(9), Decimal(1))
    assert rules_in(compiled, compiled.route(compiled.key(deal_))) >= {
        "t003", "p001", "x002", "both03", "free"}
    assert fire(compiled, deal_) == reference(conditions, deal_) == {
        "t003", "p001", "x002", "both03", "free"}
    other = on("t3", "p2", "x2", Decimal(9), Decimal(1))
    assert fire(compiled, other) == reference(conditions, other) == {
        "t003", "p002", "x002", "free"}


def test_a_deal_is_routed_to_its_own_pinned_groups_of_each_pivot() -> None:
    """300 rules, in turn on the tier, the product and the territory, and one unpinned:
    a deal is routed to the unpinned rule's group and, per pivot, to the one group holding
    the rule pinned to its value: 4 groups, against 1 + 100 / BUCKET per field with one
    pivot. A deal whose values no rule names is asked of the unpinned group alone."""
    conditions: dict[str, Expr] = {**spread(300, 3), "big": cmp(AMOUNT, ">", num(5000))}
    compiled = compile_conditions(conditions)
    assert len(compiled.pivots) == 3
    groups = compiled.definitions()
    bucket = _network_model.BUCKET
    assert len(groups) == 1 + 3 * -(-100 // bucket)
    for group in groups:  # no group mixes rules pinned on different fields
        pinned_on = {conditions[n].parts[0].left.text  # type: ignore[attr-defined]
                     for r in group for n in compiled.conditions_of(r) if n != "big"}
        assert len(pinned_on) <= 1
    d = on("t42", "p100", "x200", Decimal(300), Decimal(1))
    route = compiled.route(compiled.key(d))
    assert len(route) == 4
    asked = rules_in(compiled, route)
    assert {"r0042", "r0100", "r0200", "big"} <= asked
    assert len(asked) <= 3 * bucket + 1
    assert fire(compiled, d) == reference(conditions, d) == {"r0042", "r0100", "r0200"}
    nobody = on("t1", "zz", None, Decimal(9000))
    assert rules_in(compiled, compiled.route(compiled.key(nobody))) == {"big"}
    assert fire(compiled, nobody) == {"big"}


def test_key_is_snapped_with_each_pivots_own_rules_only() -> None:
    """Half the rules on the tier, half on the product: a deal's amount and score are cut
    only by the rules of its own tier and its own product (at most 3 amount cells and 5
    score cells), not by the other 99 rules; with the product no pivot (one pivot, as
    before) they are cut by the 50 product rules' points too."""
    conditions = spread(100, 2)
    compiled = compile_conditions(conditions)
    assert len(compiled.pivots) == 2
    amounts = [None, *(Decimal(v) for v in range(0, 200, 3))]
    scores = [None, *(Decimal(v) for v in range(0, 300, 7))]
    deals = [on("t16", "p33", None, a, s) for a in amounts for s in scores]
    keys = {compiled.key(d) for d in deals}
    assert len(keys) <= 3 * 5
    for d in deals[::7]:
        assert fire(compiled, d) == reference(conditions, d)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_feature_encoding, "MAX_PIVOTS", 1)
        single = compile_conditions(conditions)
    assert len(single.pivots) == 1
    assert len({single.key(d) for d in deals}) > 10 * len(keys)


def test_rules_pinned_to_several_values_and_on_two_pivots_at_once() -> None:
    """``in`` lists pin an alternative to a few values; an alternative pinned on two pivots
    is assigned to the first, and both its pins still hold."""
    conditions: dict[str, Expr] = {
        **spread(40, 2),
        "in": And((InList(PRODUCT, (text("p1"), text("p3")), False, "in"),
                   cmp(AMOUNT, "<", num(2))), "a"),
        "two": And((cmp(TIER, "==", text("t0")), cmp(PRODUCT, "==", text("p3")),
                    cmp(AMOUNT, ">=", num(1))), "a"),
        "neither": Or((cmp(TIER, "==", text("t2")), cmp(PRODUCT, "==", text("p5"))), "o"),
    }
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_network_model, "BUCKET", 2)
        compiled = compile_conditions(conditions)
    assert len(compiled.pivots) == 2
    for tier in ("t0", "t2", "t4", "zz", None):
        for product in ("p1", "p3", "p5", "p7", None):
            for amount in (None, Decimal(0), Decimal(1), Decimal(3), Decimal(9)):
                d = on(tier, product, None, amount, Decimal(0))
                assert fire(compiled, d) == reference(conditions, d), (tier, product, amount)


TIER_VALUES = ("a", "b", "c", "d")


@st.composite
def spread_rulesets(draw: st.DrawFn) -> dict[str, Expr]:
    """Conditions pinned on two or three fields (``==``, ``in``, in each branch of an
    ``or``, on two fields at once), next to conditions pinning nothing (numbers, ``!=``,
    negations, ``in`` lists too long to pin)."""
    fields = [f for f, _ in PIN_FIELDS[: draw(st.integers(2, 3))]]

    def pin_atom(field: Field | None = None) -> Expr:
        field = field or draw(st.sampled_from(fields))
        if draw(st.booleans()):
            return cmp(field, "==", text(draw(st.sampled_from(TIER_VALUES))))
        options = draw(st.lists(st.sampled_from(TIER_VALUES), min_size=1, max_size=3,
                                unique=True))
        return InList(field, tuple(text(t) for t in options), False, "in")

    def number_atom() -> Expr:
        side = draw(st.sampled_from((AMOUNT, SCORE)))
        return cmp(side, draw(st.sampled_from(OPS)), num(draw(st.integers(0, 6))))

    def loose_atom() -> Expr:
        field = draw(st.sampled_from(fields))
        if draw(st.booleans()):
            return cmp(field, "!=", text(draw(st.sampled_from(TIER_VALUES))))
        many = tuple(text(f"{v}{n}") for v in TIER_VALUES for n in range(3))  # > PIN_LIMIT
        return InList(field, many, False, "in")

    conditions: dict[str, Expr] = {}
    for i in range(draw(st.integers(1, 16))):
        shape = draw(st.sampled_from(("pinned", "pinned", "pinned", "two", "either", "loose",
                                      "not")))
        if shape == "pinned":
            expr: Expr = And((pin_atom(), *(number_atom() for _ in range(
                draw(st.integers(1, 2))))), "a")
        elif shape == "two":
            a, b = draw(st.lists(st.sampled_from(fields), min_size=2, max_size=2, unique=True))
            expr = And((pin_atom(a), pin_atom(b), number_atom()), "a")
        elif shape == "either":
            expr = Or((And((pin_atom(), number_atom()), "a"),
                       And((pin_atom(), number_atom()), "a")), "o")
        elif shape == "loose":
            expr = Or((number_atom(), loose_atom()), "o") if draw(st.booleans()) else And(
                (loose_atom(), number_atom()), "a")
        else:
            expr = Not(And((pin_atom(), number_atom()), "a"), "n")
        conditions[f"c{i:02}"] = expr
    return conditions


PIN_VALUES = st.sampled_from((*TIER_VALUES, "a1", "zz", None))


@given(
    spread_rulesets(),
    st.lists(
        st.tuples(PIN_VALUES, PIN_VALUES, PIN_VALUES, st.sampled_from(NUMBERS),
                  st.sampled_from(NUMBERS)),
        min_size=1,
        max_size=25,
    ),
    st.sampled_from((1, 2, 32)),
)
def test_matching_with_several_pivots_is_the_reference(
    conditions: dict[str, Expr], deals: list[tuple[Any, ...]], bucket: int
) -> None:
    """On generated rulesets pinned on two or three fields (every field pinning one
    alternative a pivot, engine rulesets of 1, 2 or 32 pinned rules): the routed engine
    rulesets fire for the snapped key exactly the conditions the reference evaluator finds
    true (``fire`` also checks that the snapped key fires every rule the deal's own
    encoding fires, and that no rule outside the route holds), and deals with equal keys
    have equal outcomes: snapping never merges deals the conditions tell apart."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_network_model, "BUCKET", bucket)
        patch.setattr(_feature_encoding, "PIVOT_AT_LEAST", 1)
        compiled = compile_conditions(conditions)
    outcomes: dict[Any, frozenset[str]] = {}
    for values in deals:
        d = on(*values)
        expected = reference(conditions, d)
        assert fire(compiled, d) == expected
        assert outcomes.setdefault(compiled.key(d), expected) == expected
        # The key keeps each pivot's value: only then is whether a pinned rule is relevant
        # the same for every deal of the key.
        own = compiled.encode(d)
        assert all(compiled.key(d)[p] == own[p] for p in compiled.pivots)
