"""The durable engine only ever sees values it compares exactly (issue 11, failure 1).

durable_rules compares text through a length kept in 16 bits, orders strings as text and
treats ``"100" == 100`` as true. Deals reach it encoded (ranks, indexes, and for field to
field comparisons short per-deal tokens), so no deal value can be misread: each test here
allocates the same deal with both engines and asserts the same credit.
"""

from __future__ import annotations

import functools
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import creditrules
import oracle
from creditrules.conditions._ast import Type
from creditrules.engine import _durable

if not _durable.available():  # pragma: no cover - Python 3.13+
    pytest.skip(_durable.unavailable_reason(), allow_module_level=True)

RULESET = """
ruleset: exactness
version: "1"
effective: {from: 2026-01-01}
currency: USD
rounding: {unit: "0.01", tie_break: hashed}
partners: {acme: {name: A}, beta: {name: B}}
attributes: {billing: text, shipping: text, low: number, high: number,
             start: date, end: date, id: text, sid: text}
credit_types: {revenue: {total: 100%}, overlay: {total: declared, required: false},
               days: {total: declared, required: false}}
credit:
  - {id: base, clause: "1", text: base, default: true, split: {acme: 50%, beta: 50%}}
  - id: same-address
    clause: "2"
    text: same address
    when: attributes.billing == attributes.shipping
    overrides: [base]
    split: {acme: 90%, beta: 10%}
  - id: same-numbers
    clause: "3"
    text: same numbers
    when: attributes.low == attributes.high and attributes.id != attributes.sid
    split: {acme: 100%}
    type: overlay
  - id: same-days
    clause: "4"
    text: same days
    when: attributes.start == attributes.end or attributes.low > 99999999999999999999
    split: {beta: 100%}
    type: days
"""


def both(deal: dict[str, Any]) -> tuple[Any, Any]:
    """The credits of ``deal`` under durable_rules and under the reference evaluator."""
    out = []
    for engine in ("durable", "reference"):
        ruleset = creditrules.loads(RULESET, engine=engine)
        out.append(ruleset.allocate(deal, explain=False).to_dict()["credits"])
    return out[0], out[1]


def deal(**attributes: Any) -> dict[str, Any]:
    return {
        "id": "D-1",
        "date": "2026-03-02",
        "amount": "100.00",
        "currency": "USD",
        "attributes": attributes,
    }


def rules_applied(credits: list[dict[str, Any]]) -> dict[str, list[str]]:
    return {c["type"]: c["rules"] for c in credits}


def test_two_long_different_texts_are_not_equal() -> None:
    """The reported failure: 32 KB of 'a' against 32 KB of 'b' credited 90/10 by a rule that
    must not apply; both engines now apply the default 50/50."""
    durable, reference = both(deal(billing="a" * 32768, shipping="b" * 32768))
    assert durable == reference
    assert rules_applied(durable) == {"revenue": ["base"]}
    assert [p["amount"] for p in durable[0]["partners"]] == ["50.00", "50.00"]


@pytest.mark.parametrize(
    ("billing", "shipping", "applies"),
    [
        ("a" * 65536 + "x", "a" * 65536 + "y", False),  # differ past 64 KB
        ("a" * 65537, "a" * 65537, True),  # equal and long
        ("a" * 65536, "a" * 65537, False),  # lengths equal modulo 2**16 would be 1 apart
        ("a" * 1, "a" * 65537, False),
        ("\x00", "\x00\x00", False),
        ('"}', '"}', True),  # JSON metacharacters
        ("~f0", "~f1", False),  # looks like a missing marker
        ("100", "100.0", False),  # texts, not numbers
    ],
)
def test_text_equality_is_exact(billing: str, shipping: str, applies: bool) -> None:
    """Equality of two text fields is decided exactly, whatever their length or content."""
    durable, reference = both(deal(billing=billing, shipping=shipping))
    assert durable == reference
    expected = ["same-address"] if applies else ["base"]
    assert rules_applied(durable)["revenue"] == expected


@pytest.mark.parametrize(
    ("low", "high", "applies"),
    [
        ("1" + "0" * 400, "1" + "0" * 399 + "1", False),  # 10**400 and 10**400 + 1
        ("1" + "0" * 400, "1" + "0" * 400 + ".000", True),
        ("0.1", "0.10", True),
        ("0." + "0" * 300 + "1", "0", False),
        ("-0", "0", True),
    ],
)
def test_number_equality_is_exact(low: str, high: str, applies: bool) -> None:
    """Huge and very precise numbers compare exactly; ``id``/``sid`` attribute names (the
    engine's reserved fields) are read as ordinary attributes."""
    durable, reference = both(deal(low=low, high=high, id="x", sid="y"))
    assert durable == reference
    assert ("same-numbers" in rules_applied(durable).get("overlay", [])) == applies


texts = st.one_of(
    st.text(max_size=8),
    st.text(alphabet='ab\x00"\\~', max_size=4).map(lambda t: t * 20000),
    st.sampled_from(["", "~f0", "v0", "100", "1e2", "true", "null"]),
)
numbers = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.decimals(allow_nan=False, allow_infinity=False, places=6).map(str),
    st.sampled_from(["1" + "0" * 400, "1" + "0" * 399 + "1", "-0", "0.000"]),
)
days = st.dates().map(lambda d: d.isoformat())


@given(
    billing=texts,
    shipping=texts,
    low=numbers,
    high=numbers,
    start=days,
    end=days,
    same_text=st.booleans(),
    same_number=st.booleans(),
)
def test_engines_agree_on_hostile_values(
    billing: str,
    shipping: str,
    low: str,
    high: str,
    start: str,
    end: str,
    same_text: bool,
    same_number: bool,
) -> None:
    """Both engines give the same credits for hostile texts, numbers and dates (long,
    NULs, quotes, marker look-alikes, 400 digits), equal or not."""
    attributes = {
        "billing": billing,
        "shipping": billing if same_text else shipping,
        "low": low,
        "high": low if same_number else high,
        "start": start,
        "end": end,
        "id": billing,
        "sid": shipping,
    }
    durable, reference = both(deal(**attributes))
    assert durable == reference


def test_the_engine_fact_carries_only_short_values() -> None:
    """Whatever the deal holds, the fact handed to durable_rules has small integers and
    short tokens only."""
    ruleset = creditrules.loads(RULESET, engine="durable")
    from creditrules.allocation._evaluate import deal_facts
    from creditrules.allocation.model import Deal
    from creditrules.engine._compile import compile_conditions

    compiled = compile_conditions({r.key: r.when for r in ruleset.rules if r.when})
    hostile = Deal.from_mapping(
        deal(billing="a" * 70000, shipping="b" * 70000, low="9" * 900, high="1", start="2026-01-01")
    )
    types = {a.name: a.type for a in ruleset.attributes}
    assert types["billing"] is Type.TEXT
    fact = compiled.fact(compiled.key(deal_facts(hostile, types)))
    for value in fact.values():
        assert isinstance(value, int) or (isinstance(value, str) and len(value) <= 16)
    assert Decimal(1) == 1  # values compared exactly stay Decimal on our side


# -- snapped keys and routed engine rulesets, end to end ------------------------------------

PINNED_TIERS = 40


@functools.cache
def pinned_rulesets() -> tuple[creditrules.Ruleset, creditrules.Ruleset]:
    """A ruleset of rules pinned to a tier (more than one engine ruleset holds: deals are
    routed) beside rules that are not, loaded under each engine."""
    lines = [
        "ruleset: pinned",
        'version: "1"',
        "effective: {from: 2026-01-01}",
        "currency: USD",
        'rounding: {unit: "0.01", tie_break: hashed}',
        "partners: {acme: {name: A}, beta: {name: B}}",
        "attributes: {tier: text, score: number, region: text}",
        "credit_types: {revenue: {total: 100%}, bonus: {total: declared, required: false}}",
        "credit:",
        '  - {id: base, clause: "0", text: base, default: true, split: {acme: 50%, beta: 50%}}',
        "  - {id: big, clause: b, text: big, overrides: [base], "
        "when: 'amount >= 500 and attributes.region != \"EU\"', split: {beta: 100%}}",
        "  - {id: vip, clause: v, text: vip, type: bonus, "
        "when: 'attributes.tier in [\"t1\", \"t2\"] or attributes.score > 50', "
        "split: {acme: 10%}}",
    ]
    for i in range(PINNED_TIERS):
        when = f'attributes.tier == "t{i}" and amount >= {i} and attributes.score < {3 * i}'
        lines.append(
            f"  - {{id: r{i}, clause: '{i + 1}', text: r, overrides: [base, big], "
            f"when: '{when}', split: {{acme: {1 + i % 99}%, beta: {99 - i % 99}%}}}}"
        )
    text = "\n".join(lines) + "\n"
    durable, reference = (creditrules.loads(text, engine=e) for e in ("durable", "reference"))
    return durable, reference


@given(
    st.lists(
        st.tuples(
            st.one_of(st.none(), st.sampled_from([f"t{i}" for i in range(PINNED_TIERS + 2)])),
            st.one_of(st.integers(0, 45), st.integers(495, 505)),  # around the thresholds
            st.one_of(st.none(), st.integers(0, 130)),
            st.sampled_from((None, "EU", "US")),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_engines_agree_on_routed_pinned_rules(
    values: list[tuple[str | None, int, int | None, str | None]],
) -> None:
    """Deals in a batch (snapped keys, cached per group) and one at a time, under
    durable_rules (routed to the engine rulesets holding their tier's rules) and the
    reference evaluator: the same credits, and the test oracle's."""
    durable, reference = pinned_rulesets()
    matcher = durable._evaluator.matcher  # type: ignore[union-attr]
    assert len(matcher._handles) > 1  # type: ignore[attr-defined]
    deals = []
    for n, (tier, amount, score, region) in enumerate(values):
        attributes = {k: v for k, v in (("tier", tier), ("score", score), ("region", region))
                      if v is not None}
        deals.append({**deal(**attributes), "id": f"D-{n}", "amount": f"{amount}.00"})
    _agree_with_the_oracle(durable, reference, deals)


@functools.cache
def spread_rulesets() -> tuple[creditrules.Ruleset, creditrules.Ruleset]:
    """Rules pinned on three fields (the tier, the product, the territory: a pivot each,
    under both engines), some on two at once, beside rules pinned nowhere; each field's
    rules credit a type of their own, so a deal may match one of each."""
    n = PINNED_TIERS
    lines = [
        "ruleset: spread",
        'version: "1"',
        "effective: {from: 2026-01-01}",
        "currency: USD",
        'rounding: {unit: "0.01", tie_break: hashed}',
        "partners: {acme: {name: A}, beta: {name: B}}",
        "attributes: {tier: text, score: number}",
        "credit_types: {revenue: {total: 100%}, product: {total: declared, required: false}, "
        "territory: {total: declared, required: false}, bonus: {total: declared, "
        "required: false}}",
        "credit:",
        '  - {id: base, clause: "0", text: base, default: true, split: {acme: 50%, beta: 50%}}',
        "  - {id: big, clause: b, text: big, overrides: [base], "
        "when: 'amount >= 500 and account.territory != \"x1\"', split: {beta: 100%}}",
        "  - {id: vip, clause: v, text: vip, type: bonus, "
        "when: 'product in [\"p1\", \"p2\"] or attributes.score > 50', split: {acme: 10%}}",
        "  - {id: two, clause: w, text: two, type: bonus, when: 'product == \"p3\" and "
        "account.territory in [\"x1\", \"x2\"] and amount < 30', split: {beta: 5%}}",
    ]
    for i in range(n):
        whens = (
            ("revenue", f'attributes.tier == "t{i}" and amount >= {i} and attributes.score < '
             f"{3 * i}"),
            ("product", f'product == "p{i}" and amount < {2 * i} and attributes.score >= {i}'),
            ("territory", f'account.territory == "x{i}" and amount >= {i + 5}'),
        )
        for kind, when in whens:
            credit = (f"overrides: [base, big], split: {{acme: {1 + i % 99}%, beta: "
                      f"{99 - i % 99}%}}" if kind == "revenue"
                      else f"type: {kind}, overlay: {{acme: {1 + i % 9}%}}")
            lines.append(f"  - {{id: {kind[0]}{i}, clause: '{kind[0]}{i}', text: r, "
                         f"when: '{when}', {credit}}}")
    text = "\n".join(lines) + "\n"
    durable, reference = (creditrules.loads(text, engine=e) for e in ("durable", "reference"))
    return durable, reference


def _pin_values(prefix: str) -> Any:
    return st.one_of(st.none(), st.sampled_from([f"{prefix}{i}" for i in range(PINNED_TIERS + 2)]))


@given(
    st.lists(
        st.tuples(
            _pin_values("t"), _pin_values("p"), _pin_values("x"),
            st.one_of(st.integers(0, 90), st.integers(495, 505)),  # around the thresholds
            st.one_of(st.none(), st.integers(0, 130)),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_engines_agree_on_rules_pinned_on_several_fields(
    values: list[tuple[str | None, str | None, str | None, int, int | None]],
) -> None:
    """Deals in a batch and one at a time, under durable_rules (three pivots: keys snapped
    with each pivot's own rules, routed to the engine rulesets of the deal's values) and
    the reference evaluator (indexed on the same three fields): the same credits, and the
    test oracle's (every rule evaluated, nothing cached)."""
    durable, reference = spread_rulesets()
    matcher: Any = durable._evaluator.matcher  # type: ignore[union-attr]
    assert len(matcher.compiled.pivots) == 3
    assert len(reference._evaluator.matcher._pivots) == 3  # type: ignore[union-attr]
    deals = []
    for n, (tier, product, territory, amount, score) in enumerate(values):
        attributes = {k: v for k, v in (("tier", tier), ("score", score)) if v is not None}
        d = {**deal(**attributes), "id": f"S-{n}", "amount": f"{amount}.00"}
        if product is not None:
            d["product"] = product
        if territory is not None:
            d["account"] = {"territory": territory}
        deals.append(d)
    _agree_with_the_oracle(durable, reference, deals)


def _agree_with_the_oracle(durable: creditrules.Ruleset, reference: creditrules.Ruleset,
                           deals: list[dict[str, Any]]) -> None:
    """Both engines' batches and durable's single deals credit as the oracle does."""
    batches = [
        [a.to_dict()["credits"] for a in rs.allocate_many(deals, duplicates="allow")]
        for rs in (durable, reference)
    ]
    plain = [oracle.allocate(reference, d).to_dict()["credits"] for d in deals]
    assert batches[0] == batches[1] == plain
    assert [durable.allocate(d, explain=False).to_dict()["credits"] for d in deals] == plain
