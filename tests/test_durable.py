"""Tests for creditrules.engine._durable: real matching through durable_rules' C core.

Skipped where durable_rules does not import (Python 3.13+).
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import pickle
import random
import time
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
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
    Path,
    Type,
    Value,
)
from creditrules.conditions._conditions import evaluate
from creditrules.engine import _durable, _feature_encoding, _network_model
from creditrules.engine._compile import GUARD, MAX_FEATURES, compile_conditions
from creditrules.engine._durable import DurableMatcher
from creditrules.errors import EngineError

if not _durable.available():  # pragma: no cover - Python 3.13+
    pytest.skip(_durable.unavailable_reason(), allow_module_level=True)

ENGINE = _durable._engine

AMOUNT = Field(("amount",), Type.NUMBER, "amount")
DATE = Field(("date",), Type.DATE, "date")
TERRITORY = Field(("account", "territory"), Type.TEXT, "account.territory")
OWNER = Field(("account", "owner"), Type.TEXT, "account.owner")
SOURCE = Field(("lead", "source"), Type.TEXT, "lead.source")
NAMED = Field(("account", "named"), Type.BOOL, "account.named")
KIND = Field(("kind",), Type.TEXT, "kind")
PATHS = {"amount": AMOUNT.path, "date": DATE.path, "territory": TERRITORY.path,
         "owner": OWNER.path, "source": SOURCE.path, "named": NAMED.path}


def num(v: str | int) -> Literal:
    return Literal(Decimal(v), Type.NUMBER, str(v))


def text(v: str) -> Literal:
    return Literal(v, Type.TEXT, repr(v))


def day(v: str) -> Literal:
    return Literal(dt.date.fromisoformat(v), Type.DATE, v)


def cmp(left: Field | Count, op: str, right: Literal | Field | Count) -> Compare:
    return Compare(op, left, right, f"{left.text} {op} {right.text}")


def attr(i: int) -> Field:
    return Field(("attributes", f"a{i:03}"), Type.NUMBER, f"attributes.a{i:03}")


BARE_NAMED = Compare("==", NAMED, Literal(True, Type.BOOL, "account.named"), "account.named")
DETAILS = Count("activities", cmp(KIND, "==", text("detail")), "count(activities, ...)")
ACTIVITIES = Count("activities", None, "count(activities)")

#: Every operator, in/not in, a bare boolean, field against field, counts with and
#: without a predicate, nested not/and/or.
CONDITIONS: dict[str, Expr] = {
    "big_eu": And((cmp(AMOUNT, ">=", num(1000)),
                   InList(TERRITORY, (text("EU"), text("UK")), False, "in")), "and"),
    "not_small_or_early": Not(Or((cmp(AMOUNT, "<", num(100)),
                                  cmp(DATE, "<=", day("2024-03-31"))), "or"), "not"),
    "not_500_upto_2000": And((cmp(AMOUNT, "!=", num(500)), cmp(AMOUNT, "<=", num(2000))), "a"),
    "direct": cmp(OWNER, "==", SOURCE),
    "indirect_or_named": Or((cmp(OWNER, "!=", SOURCE), BARE_NAMED), "or"),
    "detailed": cmp(DETAILS, ">", num(1)),
    "eu_or_idle": Or((Not(InList(TERRITORY, (text("EU"),), True, "not in"), "not"),
                      cmp(ACTIVITIES, "==", num(0))), "or"),
    "not_uk": cmp(TERRITORY, "!=", text("UK")),
    "in_year_unnamed_750": And((cmp(DATE, ">", day("2024-01-01")),
                                cmp(DATE, "<", day("2024-12-31")),
                                Not(BARE_NAMED, "not"), cmp(AMOUNT, "==", num(750))), "and"),
}


def facts(activities: Iterable[str | None] = (), **scalars: Any) -> Facts:
    items: tuple[Mapping[Path, Value], ...] = tuple(
        {} if k is None else {("kind",): k} for k in activities)
    return Facts({PATHS[k]: v for k, v in scalars.items()}, {"activities": items})


def reference(conditions: Mapping[str, Expr], f: Facts) -> frozenset[str]:
    return frozenset(name for name, expr in conditions.items() if evaluate(expr, f))


@pytest.fixture(scope="module")
def matcher() -> DurableMatcher:
    return DurableMatcher(compile_conditions(CONDITIONS))


# -- matching -----------------------------------------------------------------------------


def test_matches_hand_built_conditions(matcher: DurableMatcher) -> None:
    """Worked by hand: which of the conditions hold for a few deals."""
    deal = facts(amount=Decimal(1000), territory="EU", date=dt.date(2024, 6, 1),
                 owner="acme", source="acme", named=True, activities=["detail", "detail"])
    assert matcher.match(deal) == {"big_eu", "not_small_or_early", "not_500_upto_2000",
                                   "direct", "indirect_or_named", "detailed", "eu_or_idle",
                                   "not_uk"}
    nothing_known = facts()
    # != holds for missing values, orderings and == do not (so "not (amount < 100 or
    # ...)" does); no activities counts as 0.
    assert matcher.match(nothing_known) == {"not_small_or_early", "indirect_or_named",
                                            "eu_or_idle", "not_uk"}
    small = facts(amount=750, date=dt.date(2024, 2, 1), named=False, owner="a",
                  source="b", territory="US", activities=["call", None])
    assert matcher.match(small) == {"not_500_upto_2000", "indirect_or_named",
                                    "in_year_unnamed_750", "not_uk"}
    for f in (deal, nothing_known, small):
        assert matcher.match(f) == reference(CONDITIONS, f)


amounts = st.one_of(st.none(), st.sampled_from([99, 100, 500, 750, 1000, 2000, 2001]),
                    st.decimals(min_value=-10, max_value=3000, places=2))
dates = st.one_of(st.none(), st.dates(dt.date(2023, 12, 30), dt.date(2025, 1, 2)))
texts = st.one_of(st.none(), st.sampled_from(["EU", "UK", "US", "acme", "beta", ""]))
deals = st.builds(
    lambda amount, date, territory, owner, source, named, kinds: facts(
        kinds, **{k: v for k, v in [("amount", amount), ("date", date),
                                    ("territory", territory), ("owner", owner),
                                    ("source", source), ("named", named)]
                  if v is not None or k == "named"}),
    amounts, dates, texts, texts, texts, st.one_of(st.none(), st.booleans()),
    st.lists(st.one_of(st.none(), st.sampled_from(["detail", "call"])), max_size=4))


@settings(max_examples=400, deadline=None)
@given(deal=deals)
def test_engine_agrees_with_the_reference_evaluator(matcher: DurableMatcher,
                                                     deal: Facts) -> None:
    """For any deal, durable_rules matches exactly the conditions the reference evaluator
    says hold (every operator, missing values, counts)."""
    assert matcher.match(deal) == reference(CONDITIONS, deal)


def test_match_many_is_match_in_order(matcher: DurableMatcher) -> None:
    """``match_many`` returns what ``match`` would, in order."""
    batch = [facts(amount=Decimal(v)) for v in (1, 500, 1000, 1)]
    assert matcher.match_many(batch) == [matcher.match(f) for f in batch]


def test_split_rulesets_match_everything() -> None:
    """200 conditions that all hold at once exceed the engine's 64-entry walk stack in one
    ruleset; split over several, every one is still reported."""
    conditions: dict[str, Expr] = {f"c{i:03}": cmp(attr(i), ">=", num(1)) for i in range(200)}
    compiled = compile_conditions(conditions)
    assert len(compiled.definitions()) > 1
    m = DurableMatcher(compiled)
    everything = Facts({attr(i).path: Decimal(5) for i in range(200)}, {})
    assert m.match(everything) == set(conditions)
    half = Facts({attr(i).path: Decimal(i % 2) for i in range(200)}, {})
    assert m.match(half) == {f"c{i:03}" for i in range(1, 200, 2)}


def test_stack_limit_boundary_is_where_the_model_puts_it() -> None:
    """63 simultaneously true tests plus the guard (64 stack entries) work in one engine
    ruleset; one more makes the real engine fail with error 303, which is why the
    compiler splits there."""
    def conditions(n: int) -> dict[str, Expr]:
        return {f"c{i:03}": cmp(attr(i), ">=", num(1)) for i in range(n)}

    fits = compile_conditions(conditions(63))
    assert len(fits.definitions()) == 1
    deal = Facts({attr(i).path: Decimal(5) for i in range(64)}, {})
    assert DurableMatcher(fits).match(deal) == set(conditions(63))
    too_big = compile_conditions(conditions(64))
    assert len(too_big.definitions()) == 2
    handle = ENGINE.create_ruleset("boundary-check", json.dumps(too_big.definition()))
    try:
        fact = {"sid": "1", **too_big.fact(too_big.key(deal))}
        with pytest.raises(ENGINE.error, match="303"):
            ENGINE.assert_fact(handle, json.dumps(fact))
    finally:
        ENGINE.delete_ruleset(handle)


# -- many rulesets, many sessions ------------------------------------------------------------


def test_two_thousand_matchers_coexist() -> None:
    """2,000 live matchers of one definition (unique ruleset names, no shared sessions)
    all match correctly; the same definition loaded twice works too."""
    small: dict[str, Expr] = {k: CONDITIONS[k] for k in ("big_eu", "direct", "detailed")}
    compiled = compile_conditions(small)
    deal = facts(amount=Decimal(2000), territory="UK", owner="x", source="x",
                 activities=["detail"] * 2)
    matchers = [DurableMatcher(compiled) for _ in range(2000)]
    assert {m.match(deal) for m in matchers} == {frozenset(small)}
    assert len({m._handles for m in matchers}) == 2000
    twice = DurableMatcher(compile_conditions(small)), DurableMatcher(compile_conditions(small))
    assert twice[0].match(deal) == twice[1].match(deal) == set(small)


def test_sessions_are_deleted() -> None:
    """5,000 uncached evaluations (a ruleset allows only 1,024 live sessions) leave no
    session behind."""
    m = DurableMatcher(compile_conditions({"direct": cmp(OWNER, "==", SOURCE)}))
    (handle,) = m._handles
    for i in range(5000):
        name = f"owner-{i}"
        assert m.match(facts(owner=name, source=name if i % 2 else "other")) == (
            {"direct"} if i % 2 else set())
    assert len(m._cache) == 5000
    assert m.leaked_sessions == 0
    for sid in ("1", "2500", "5000"):
        with pytest.raises(ENGINE.error, match="309"):  # session not found
            ENGINE.get_state(handle, sid)


def test_cache_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """The outcome cache is emptied when full, so memory stays flat."""
    monkeypatch.setattr(_durable, "CACHE_SIZE", 10)
    m = DurableMatcher(compile_conditions({"direct": cmp(OWNER, "==", SOURCE)}))
    for i in range(25):
        m.match(facts(owner=str(i), source="x"))
        assert len(m._cache) <= 10


def test_rulesets_are_freed_with_their_matcher() -> None:
    """A matcher's engine rulesets are deleted when it is garbage collected (the C
    ``delete_ruleset`` is safe); thousands of short-lived matchers leave none behind."""
    compiled = compile_conditions({"big": cmp(AMOUNT, ">", num(1))})
    first = DurableMatcher(compiled)
    (handle,) = first._handles
    finalizer = first._finalizer
    del first
    gc.collect()
    assert not finalizer.alive
    with pytest.raises(ENGINE.error, match="111"):  # invalid handle: it was deleted
        ENGINE.assert_fact(handle, json.dumps({"sid": "1", "guard": 1}))
    finalizers = []
    for _ in range(3000):
        m = DurableMatcher(compiled)
        assert m.match(facts(amount=Decimal(2))) == {"big"}
        finalizers.append(m._finalizer)
        del m
    assert not any(f.alive for f in finalizers)


def test_matcher_pickles_into_fresh_rulesets(matcher: DurableMatcher) -> None:
    """Unpickling rebuilds engine rulesets instead of copying process-local handles."""
    again = pickle.loads(pickle.dumps(matcher))
    assert again._handles != matcher._handles
    deal = facts(amount=Decimal(1500), territory="EU")
    assert again.match(deal) == matcher.match(deal)


# -- refusals ---------------------------------------------------------------------------


def test_engine_refuses_a_second_identical_fact_in_a_session() -> None:
    """Within one session durable_rules keys facts by a hash of their content: the same
    fact again is refused as "already observed" (code 2). One deal per fresh session
    never meets this; a hash collision between different facts would look the same."""
    compiled = compile_conditions({"big": cmp(AMOUNT, ">", num(1))})
    m = DurableMatcher(compiled)
    (handle,) = m._handles
    message = json.dumps({"sid": "twice", **compiled.fact(compiled.key(facts(amount=5)))})
    assert ENGINE.assert_fact(handle, message)[0] == 0
    code, state = ENGINE.assert_fact(handle, message)
    assert code == 2
    assert sorted(m._drain(handle, state, "twice")) == sorted(["r0", GUARD])


class RefusingEngine:
    """The real engine, except that the first ``refusals`` asserts report "observed"."""

    def __init__(self, refusals: int) -> None:
        self.refusals = refusals
        self.messages: list[dict[str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(ENGINE, name)

    def assert_fact(self, handle: int, message: str) -> tuple[int, int]:
        self.messages.append(json.loads(message))
        code, state = ENGINE.assert_fact(handle, message)
        if self.refusals:
            self.refusals -= 1
            return 2, state
        return code, state


def test_a_refused_deal_is_retried_in_a_fresh_salted_session(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """On a refusal the session is drained and deleted and the deal re-asserted in a new
    session with a salt field (a different content hash); the result is complete."""
    m = DurableMatcher(compile_conditions({"big": cmp(AMOUNT, ">", num(1))}))
    fake = RefusingEngine(refusals=1)
    monkeypatch.setattr(_durable, "_engine", fake)
    assert m.match(facts(amount=Decimal(5))) == {"big"}
    first, second = fake.messages
    assert first["sid"] != second["sid"]
    assert "salt" not in first
    assert second["salt"] == 1
    assert m.leaked_sessions == 0


def test_widest_fact_fits_even_when_salted(monkeypatch: pytest.MonkeyPatch) -> None:
    """MAX_FEATURES features plus sid, guard and salt is the most properties durable_rules
    takes in one fact (253); a salted retry of the widest fact still goes through."""
    conditions: dict[str, Expr] = {f"c{i:03}": cmp(attr(i), "==", num(1))
                                   for i in range(MAX_FEATURES)}
    m = DurableMatcher(compile_conditions(conditions))
    monkeypatch.setattr(_durable, "_engine", RefusingEngine(refusals=1))
    deal = Facts({attr(i).path: Decimal(i % 2) for i in range(MAX_FEATURES)}, {})
    assert m.match(deal) == {f"c{i:03}" for i in range(1, MAX_FEATURES, 2)}


def test_a_deal_refused_every_time_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rather than silently lose a deal's matches, repeated refusal is an EngineError;
    every session tried is still deleted."""
    m = DurableMatcher(compile_conditions({"big": cmp(AMOUNT, ">", num(1))}))
    (handle,) = m._handles
    fake = RefusingEngine(refusals=99)
    monkeypatch.setattr(_durable, "_engine", fake)
    with pytest.raises(EngineError, match="refused a deal 3 times"):
        m.match(facts(amount=Decimal(5)))
    assert len(fake.messages) == 3
    for message in fake.messages:
        with pytest.raises(ENGINE.error, match="309"):
            ENGINE.get_state(handle, message["sid"])
    assert not m._cache  # nothing wrong was cached


def test_unavailable_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the engine, ``available()`` is False and a matcher cannot be built."""
    monkeypatch.setattr(_durable, "_engine", None)
    monkeypatch.setattr(_durable, "_REASON", "no engine here")
    assert not _durable.available()
    assert _durable.unavailable_reason() == "no engine here"
    with pytest.raises(EngineError, match="no engine here"):
        DurableMatcher(compile_conditions({}))


# -- speed --------------------------------------------------------------------------------


def test_speed(matcher: DurableMatcher) -> None:
    """Per deal: an uncached match (engine round trip) and a cached one (key + lookup).
    Bounds are loose; the figures are printed for the record (pytest -s)."""
    deals = [facts(amount=Decimal(1000 + i), territory="EU", date=dt.date(2024, 6, 1),
                   owner=f"o{i}", source="acme", named=True, activities=["detail", "call"])
             for i in range(2000)]
    start = time.perf_counter()
    for deal in deals:  # owner differs: every key is new
        matcher.match(deal)
    miss = (time.perf_counter() - start) / len(deals) * 1e6
    start = time.perf_counter()
    for deal in deals:
        matcher.match(deal)
    hit = (time.perf_counter() - start) / len(deals) * 1e6
    print(f"\ndurable match: {miss:.1f} us uncached, {hit:.1f} us cached")
    assert miss < 2000
    assert hit < 500


# -- routing: a deal is asked only of the engine rulesets that can hold for it --------------

TIER = Field(("attributes", "tier"), Type.TEXT, "attributes.tier")
SCORE = Field(("attributes", "score"), Type.NUMBER, "attributes.score")


def pinned(n: int) -> dict[str, Expr]:
    """``tier == "tI" and amount >= I and score < 3I`` (the load-size shape)."""
    return {
        f"r{i:04}": And((cmp(TIER, "==", text(f"t{i}")), cmp(AMOUNT, ">=", num(i)),
                         cmp(SCORE, "<", num(3 * i))), "a")
        for i in range(n)
    }


def tiered(tier: str | None, amount: int | None, score: int | None) -> Facts:
    return Facts({TIER.path: tier,
                  AMOUNT.path: None if amount is None else Decimal(amount),
                  SCORE.path: None if score is None else Decimal(score)}, {})


class Counting(DurableMatcher):
    """A matcher counting its engine evaluations and the engine sessions they open."""

    evaluations = 0
    sessions = 0

    def _evaluate(self, key: Any) -> frozenset[str]:
        self.evaluations += 1
        return super()._evaluate(key)

    def _fire(self, handle: int, fact: dict[str, Any]) -> list[str]:
        self.sessions += 1
        return super()._fire(handle, fact)


def test_a_deal_is_asserted_only_into_its_routed_rulesets() -> None:
    """200 rules pinned to a tier and one that is not: 8 engine rulesets; a deal of a tier
    some rule names opens 2 sessions (its tier's ruleset and the unpinned rule's), a deal
    of another tier 1; what they report is the reference's."""
    conditions: dict[str, Expr] = {**pinned(200), "huge": cmp(AMOUNT, ">", num(100_000))}
    m = Counting(compile_conditions(conditions))
    assert len(m._handles) == 1 + 200 // 32 + 1
    cases = [(tiered("t42", 50, 1), {"r0042"}, 2), (tiered("t42", 10, 1), set(), 2),
             (tiered("zz", 10**6, 1), {"huge"}, 1), (tiered(None, 5, None), set(), 1),
             (tiered("t199", 10**6, 500), {"r0199", "huge"}, 2)]
    for deal, expected, sessions in cases:
        before = m.sessions
        assert m.match(deal) == expected == reference(conditions, deal)
        assert m.sessions - before == sessions


def test_engine_evaluations_are_bounded_by_the_ruleset() -> None:
    """2,000 random deals over 100 pinned rules: the engine is asked at most once per
    snapped key (at most 6 per tier named, one per other tier value), far fewer times than
    there are deals, and every answer is the reference's."""
    conditions = pinned(100)
    m = Counting(compile_conditions(conditions))
    rng = random.Random(7)
    deals = [tiered(f"t{rng.randrange(105)}", rng.randrange(200), rng.randrange(600))
             for _ in range(2000)]
    for deal in deals:
        assert m.match(deal) == reference(conditions, deal)
    tiers = {d.scalars[TIER.path] for d in deals}
    assert m.evaluations == len({m.compiled.key(d) for d in deals})
    assert m.evaluations <= 6 * len(tiers) < len(deals) // 2


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 6), st.sampled_from(("==", "!=", "<", "<=", ">", ">=")),
                       st.integers(0, 8)), min_size=1, max_size=12),
    st.lists(st.tuples(st.sampled_from(("t0", "t1", "t2", "t3", "t6", "zz", None)),
                       st.one_of(st.none(), st.integers(-1, 10)),
                       st.one_of(st.none(), st.integers(-1, 10))), min_size=1, max_size=20),
)
def test_routed_engine_agrees_with_the_reference(
    rules: list[tuple[int, str, int]], deals: list[tuple[str | None, int | None, int | None]]
) -> None:
    """Generated pinned rules (several per tier, some sharing a test), in engine rulesets
    of 2 rules so routing is at work: the real engine reports what the reference does."""
    conditions: dict[str, Expr] = {
        f"c{i:02}": And((cmp(TIER, "==", text(f"t{t}")), cmp(AMOUNT, op, num(v)),
                         cmp(SCORE, "<", num(v + t))), "a")
        for i, (t, op, v) in enumerate(rules)
    }
    conditions["other"] = cmp(SCORE, ">=", num(9))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_network_model, "BUCKET", 2)
        m = DurableMatcher(compile_conditions(conditions))
    for tier, amount, score in deals:
        deal = tiered(tier, amount, score)
        assert m.match(deal) == reference(conditions, deal)


# -- several pivots: rules pinned on different fields -------------------------------------

PRODUCT = Field(("product",), Type.TEXT, "product")
PIN_FIELDS = ((TIER, "t"), (PRODUCT, "p"), (TERRITORY, "x"))


def spread(n: int, fields: int) -> dict[str, Expr]:
    """The ``load_size.py --fields`` shape: rule I pinned on field I mod ``fields``."""
    conditions: dict[str, Expr] = {}
    for i in range(n):
        field, prefix = PIN_FIELDS[i % fields]
        conditions[f"r{i:04}"] = And((cmp(field, "==", text(f"{prefix}{i}")),
                                      cmp(AMOUNT, ">=", num(i)), cmp(SCORE, "<", num(3 * i))),
                                     "a")
    return conditions


def spread_deal(tier: str | None, product: str | None, territory: str | None,
                amount: int | None, score: int | None) -> Facts:
    return Facts({TIER.path: tier, PRODUCT.path: product, TERRITORY.path: territory,
                  AMOUNT.path: None if amount is None else Decimal(amount),
                  SCORE.path: None if score is None else Decimal(score)}, {})


class Asking(Counting):
    """Also counts the engine rules asked: the rules of each engine ruleset a deal is
    asserted into (what the engine walks for it)."""

    rules_asked = 0

    def __init__(self, compiled: Any) -> None:
        super().__init__(compiled)
        self.size = {h: len(d) - 1 for hs, d in zip(self._per_definition,
                                                    compiled.definitions(), strict=True)
                     for h in hs}  # the guard rule is not counted

    def _fire(self, handle: int, fact: dict[str, Any]) -> list[str]:
        self.rules_asked += self.size[handle]
        return super()._fire(handle, fact)


def test_a_deal_is_asked_only_of_its_own_pinned_groups_for_each_pivot() -> None:
    """600 rules, in turn on the tier, the product and the territory, and one unpinned:
    3 pivots, 1 + 3 x 7 engine rulesets. A deal naming a pinned value of each field opens
    4 sessions (its tier's, product's and territory's rulesets, and the unpinned rule's)
    and is asked of at most 3 x BUCKET + 1 rules, not 401 as with one pivot; a deal
    naming one opens 2, a deal naming none 1; what they report is the reference's."""
    conditions: dict[str, Expr] = {**spread(600, 3), "huge": cmp(AMOUNT, ">", num(100_000))}
    m = Asking(compile_conditions(conditions))
    assert len(m.compiled.pivots) == 3
    assert len(m._handles) == 1 + 3 * -(-200 // 32)
    bound = 3 * _network_model.BUCKET + 1
    cases = [
        (spread_deal("t42", "p301", "x599", 700, 1), {"r0042", "r0301", "r0599"}, 4),
        (spread_deal("t42", "p301", "x599", 10, 1), set(), 4),
        (spread_deal("t3", "p2", "x1", 10**6, 1), {"r0003", "huge"}, 2),  # p2, x1: no rule
        (spread_deal(None, "zz", None, 10**6, 1), {"huge"}, 1),
        (spread_deal("zz", "p4", "x5", 10**6, 1), {"r0004", "r0005", "huge"}, 3),
    ]
    for deal, expected, sessions in cases:
        before, asked = m.sessions, m.rules_asked
        assert m.match(deal) == expected == reference(conditions, deal)
        assert m.sessions - before == sessions
        assert m.rules_asked - asked <= bound
    with pytest.MonkeyPatch.context() as patch:  # as before: one pivot
        patch.setattr(_feature_encoding, "MAX_PIVOTS", 1)
        single = Asking(compile_conditions(conditions))
    assert len(single.compiled.pivots) == 1
    deal, expected, _ = cases[0]
    assert single.match(deal) == expected
    assert single.rules_asked > 400


def test_evaluations_with_several_pivots_are_bounded_by_each_deals_own_rules() -> None:
    """2,000 random deals of 5 tiers and 5 products over 200 rules on the two fields: a
    deal's key is cut only by its own tier's and product's rules (at most 3 amount and 5
    score cells), so the engine is asked at most 15 times per pair of values, and every
    answer is the reference's. With one pivot, the 100 rules on the product cut every
    deal's amount and score: several times more evaluations."""
    conditions = spread(200, 2)
    rng = random.Random(5)
    tiers, products = ("t10", "t50", "t90", "t130", "t170"), ("p31", "p71", "p111", "p151", "p191")
    deals = [spread_deal(rng.choice(tiers), rng.choice(products), None, rng.randrange(400),
                         rng.randrange(1200)) for _ in range(2000)]
    m = Counting(compile_conditions(conditions))
    assert len(m.compiled.pivots) == 2
    for deal in deals:
        assert m.match(deal) == reference(conditions, deal)
    assert m.evaluations == len({m.compiled.key(d) for d in deals}) <= 15 * 25
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_feature_encoding, "MAX_PIVOTS", 1)
        single = Counting(compile_conditions(conditions))
    for deal in deals:
        assert single.match(deal) == reference(conditions, deal)
    assert single.evaluations > 3 * m.evaluations


PIN_VALUES = ("t0", "t1", "t2", "zz", None)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2),
                       st.sampled_from(("==", "!=", "<", "<=", ">", ">=")), st.integers(0, 8)),
             min_size=1, max_size=14),
    st.lists(st.tuples(st.sampled_from(PIN_VALUES), st.sampled_from(PIN_VALUES),
                       st.sampled_from(PIN_VALUES), st.one_of(st.none(), st.integers(-1, 10)),
                       st.one_of(st.none(), st.integers(-1, 10))), min_size=1, max_size=20),
)
def test_engine_routed_on_several_pivots_agrees_with_the_reference(
    rules: list[tuple[int, int, str, int]],
    deals: list[tuple[str | None, str | None, str | None, int | None, int | None]],
) -> None:
    """Generated rules pinned on the tier, the product or the territory (a pivot each:
    PIVOT_AT_LEAST lowered to 1), some on two at once, beside unpinned ones, in engine
    rulesets of 2 rules so routing is at work: the real engine reports what the
    reference does."""
    conditions: dict[str, Expr] = {}
    for i, (f, t, op, v) in enumerate(rules):
        field, _ = PIN_FIELDS[f]
        pin: tuple[Expr, ...] = (cmp(field, "==", text(f"t{t}")),)
        if i % 4 == 3:  # on two fields at once
            pin += (cmp(PIN_FIELDS[(f + 1) % 3][0], "!=" if i % 8 == 3 else "==",
                        text(f"t{(t + 1) % 3}")),)
        conditions[f"c{i:02}"] = And((*pin, cmp(AMOUNT, op, num(v)), cmp(SCORE, "<", num(v + t))),
                                     "a")
    conditions["other"] = cmp(SCORE, ">=", num(9))
    conditions["loose"] = And((cmp(PRODUCT, "!=", text("t1")), cmp(AMOUNT, "<", num(2))), "a")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_network_model, "BUCKET", 2)
        patch.setattr(_feature_encoding, "PIVOT_AT_LEAST", 1)
        m = DurableMatcher(compile_conditions(conditions))
    for values in deals:
        deal = spread_deal(*values)
        assert m.match(deal) == reference(conditions, deal)
