"""Rulesets beyond durable_rules' structural limits (issue 11, failure 7): anything the
reference engine loads, the durable engine loads too, gives the same credit, and says in a
located note which conditions the reference evaluator matches for it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import creditrules
from creditrules.engine import _durable
from creditrules.errors import Location

if not _durable.available():  # pragma: no cover - Python 3.13+
    pytest.skip(_durable.unavailable_reason(), allow_module_level=True)

HEAD = """\
ruleset: limits
version: "1"
effective: {from: 2026-01-01}
currency: USD
rounding: {unit: "0.01", tie_break: hashed}
partners: {acme: {name: A}, beta: {name: B}}
attributes: {tier: text, ATTRIBUTES}
credit_types: {revenue: {total: 100%}}
credit:
  - {id: base, clause: "0", text: base, default: true, split: {acme: 50%, beta: 50%}}
"""


def ruleset(*whens: str, attributes: str = "score: number") -> str:
    text = HEAD.replace("ATTRIBUTES", attributes)
    for i, when in enumerate(whens):
        text += (
            f"  - {{id: r{i}, clause: '{i + 1}', text: r, overrides: [base], "
            f"when: '{when}', split: {{acme: {60 + i % 30}%, beta: {40 - i % 30}%}}}}\n"
        )
    return text


def deal(amount: str = "100.00", **attributes: Any) -> dict[str, Any]:
    activities = attributes.pop("activities", [])
    return {
        "id": "D-1",
        "date": "2026-03-02",
        "amount": amount,
        "currency": "USD",
        "attributes": attributes,
        "activities": activities,
        "reps": [{"id": "ana", "partner": "acme"}],
    }


def agree(text: str, deals: list[dict[str, Any]]) -> creditrules.Ruleset:
    """Load ``text`` with both engines and check every deal gets the same credit."""
    durable = creditrules.loads(text, engine="durable", source="r.yaml")
    reference = creditrules.loads(text, engine="reference", source="r.yaml")
    for d in deals:
        assert durable.allocate(d).to_dict() == reference.allocate(d).to_dict()
    assert reference.engine_notes == ()
    return durable


def rules_of(ruleset: creditrules.Ruleset, d: dict[str, Any]) -> list[str]:
    return ruleset.allocate(d, explain=False).to_dict()["credits"][0]["rules"]


def test_an_and_of_30_ors_loads_and_matches() -> None:
    """The engine refuses this shape ("error code 113"); the rule is matched by the
    reference evaluator, noted at the rule."""
    ands = " and ".join(f'(amount >= {i} or attributes.tier == "t{i}")' for i in range(30))
    text = ruleset(ands)
    deals = [deal("100.00"), deal("10.00", tier="t20"), deal("10.00", tier="t5")]
    rs = agree(text, deals)
    assert [rules_of(rs, d) for d in deals] == [["r0"], ["base"], ["base"]]
    (note,) = rs.engine_notes
    assert (note.code, note.location) == ("engine-fallback", Location("r.yaml", 11, 5))
    assert "error code: 113" in note.message
    # Beside other rules, only the refused one is set aside, and the rest stays in one
    # engine ruleset (each extra one would cost every deal a call).
    mixed = agree(
        ruleset("amount > 500", ands, 'attributes.tier == "t1"'),
        [*deals, deal("10.00", tier="t1")],
    )
    assert [n.message.split(":")[0] for n in mixed.engine_notes] == ["rule r1"]
    assert len(mixed._evaluator.matcher._handles) == 1  # type: ignore[union-attr]


def test_a_condition_of_200_tests_loads_and_matches() -> None:
    """200 distinct counts in one condition exceed the 64 tests a condition may compile to:
    it is set aside, with the count given."""
    tests = " and ".join(f'count(activities, kind == "k{i}") == 0' for i in range(200))
    text = ruleset(tests)
    deals = [deal(), deal(activities=[{"kind": "k7", "rep": "ana"}])]
    rs = agree(text, deals)
    assert [rules_of(rs, d) for d in deals] == [["r0"], ["base"]]
    (note,) = rs.engine_notes
    assert "compiles to 200 engine tests (limit 64)" in note.message


def test_more_fields_than_a_fact_carries() -> None:
    """260 attributes read by 260 rules: the rules past the 250 fields a fact may carry are
    matched by the reference evaluator; the others stay in the engine."""
    attributes = ", ".join(f"a{i}: text" for i in range(260))
    text = ruleset(*(f'attributes.a{i} == "x"' for i in range(260)), attributes=attributes)
    deals = [deal(a3="x"), deal(a255="x"), deal(a0="y")]
    rs = agree(text, deals)
    assert [rules_of(rs, d) for d in deals] == [["r3"], ["r255"], ["base"]]
    assert 1 <= len(rs.engine_notes) <= 20
    assert all("more than 250 distinct fields" in n.message for n in rs.engine_notes)


def test_hundreds_of_threshold_rules_load_split_and_match() -> None:
    """600 rules of three tests each (more children under one node than the engine takes),
    each pinned to a tier: the network is split into engine rulesets of 32 rules, a deal
    is asked of the one holding its tier's rule only (none for a tier no rule names),
    nothing is set aside, and the engines agree."""
    whens = [
        f'attributes.tier == "t{i}" and amount >= {i} and attributes.score < {3 * i}'
        for i in range(600)
    ]
    text = ruleset(*whens)
    deals = [
        deal("300.00", tier="t299", score="1"),
        deal("10.00", tier="t299", score="1"),
        deal("599", tier="t599", score="1796"),
        deal("599", tier="t599", score="1797"),
    ]
    rs = agree(text, deals)
    assert rs.engine_notes == ()
    assert [rules_of(rs, d) for d in deals] == [["r299"], ["base"], ["r599"], ["base"]]
    assert rs._evaluator is not None
    matcher: Any = rs._evaluator.matcher
    assert len(matcher._handles) == -(-600 // 32)
    routes = [matcher._route(matcher.compiled.key(_facts(rs, d))) for d in deals]
    assert [len(r) for r in routes] == [1, 1, 1, 1]
    assert routes[0] == routes[1] != routes[2]  # t299 and t599 are 300 rules apart
    nobody = _facts(rs, deal("5", tier="nobody"))
    assert matcher._route(matcher.compiled.key(nobody)) == ()


def _facts(rs: creditrules.Ruleset, d: dict[str, Any]) -> Any:
    """The facts the engine matches for deal ``d`` (as the checks build them)."""
    from creditrules.allocation._evaluate import deal_facts
    from creditrules.allocation.model import Deal

    assert rs._evaluator is not None
    return deal_facts(Deal.from_mapping(d), rs._evaluator.attributes)


def test_load_size_benchmark_runs_at_a_small_size(tmp_path: Path) -> None:
    """The load-size benchmark, at 60 rules, with a small batch (no timing is asserted:
    machines vary): the engines agree one deal at a time and on the batch, and the engine
    is asked far fewer times than there are batch deals."""
    report = tmp_path / "report.json"
    script = Path(__file__).resolve().parent.parent / "benchmarks" / "load_size.py"
    done = subprocess.run(
        [sys.executable, str(script), "--rules", "60", "--deals", "20", "--warmup", "200",
         "--batch", "1000", "--json", str(report)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(report.read_text())
    assert data["agree"] is True
    assert [(r["rules"], r["engine"], r["set_aside"]) for r in data["runs"]] == [
        (60, "durable", 0),
        (60, "reference", 0),
    ]
    assert all(r["load_s"] > 0 and r["peak_rss_mb"] > 0 for r in data["runs"])
    durable, reference = data["runs"]
    assert durable["batch_digest"] == reference["batch_digest"] != ""
    assert durable["engine_rulesets"] == 2  # 60 pinned rules: 32 + 28
    # At most 6 snapped keys per tier, and most were seen in the warm-up.
    assert 0 < durable["evaluations"] <= durable["sessions"] < 1000 // 2
    assert reference["evaluations"] == reference["sessions"] == 0
