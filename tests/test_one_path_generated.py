"""The one allocation path against the test oracle on generated rulesets and deals.

``tests/test_one_path.py`` draws messy deals for the bundled agreements; here the agreement
is drawn too: two or three partners, fixed splits, equal splits and splits by contribution
(own weights, normalisation, fallback shares), overlays, overrides, defaults, dated rules,
a precedence list, every rep credit mode, odd rounding units (0.05, 1) and tie-breaks,
entertainment caps in parts of a unit, and each way of sharing an expense. Every drawn
deal must get the same Allocation, ledger rows and explanation from the pipeline as from
the oracle (or the same error), on both engines.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import creditrules
import oracle
from creditrules.engine import _durable
from creditrules.errors import CreditRulesError
from creditrules.io.batch import ledger_rows

ENGINES = ["durable", "reference"] if _durable.available() else ["reference"]
KINDS = ["detail", "joint_call", "demo"]
CONDITIONS = [
    "attributes.units >= 3",
    "attributes.units < 2",
    'attributes.tier == "gold"',
    'attributes.tier in ["gold", "silver"]',
    "account.named",
    'account.owner == "acme"',
    'lead.source == "beta"',
    'count(activities, kind == "joint_call") >= 1',
    "count(activities) >= 3",
    "amount >= 1000",
    "amount < 0",
]


def _share_map(draw: st.DrawFn, partners: list[str], total: int = 100) -> dict[str, str]:
    """Shares in tenths of a percent adding up to ``total`` percent."""
    cuts = sorted(draw(st.lists(st.integers(0, total * 10), min_size=len(partners) - 1,
                                max_size=len(partners) - 1)))
    bounds = [0, *cuts, total * 10]
    return {p: f"{(bounds[i + 1] - bounds[i]) / 10}%" for i, p in enumerate(partners)}


@st.composite
def agreements(draw: st.DrawFn) -> dict[str, Any]:
    partners = ["acme", "beta", "gamma"][: draw(st.integers(2, 3))]
    unit = draw(st.sampled_from(["0.01", "0.05", "1"]))
    tie_break: Any = draw(st.sampled_from(["hashed", list(reversed(partners))]))
    rules: list[dict[str, Any]] = []
    n = draw(st.integers(1, 5))
    for i in range(n):
        rule: dict[str, Any] = {"id": f"r{i}", "clause": f"4.{i + 1}", "text": f"rule {i}"}
        if draw(st.booleans()):
            rule["when"] = draw(st.sampled_from(CONDITIONS))
        else:
            rule["default"] = True
        kind = draw(st.sampled_from(["split", "equal", "contribution", "overlay"]))
        if kind == "split":
            rule["split"] = _share_map(draw, partners)
        elif kind == "equal":
            rule["split"] = "equal"
        elif kind == "overlay":
            rule["overlay"] = {p: f"{draw(st.integers(0, 150))}%" for p in partners}
            rule.pop("default", None)
            rule.setdefault("when", draw(st.sampled_from(CONDITIONS)))
        else:
            rule["split"] = "by_contribution"
            if draw(st.booleans()):
                rule["weights"] = {k: str(draw(st.sampled_from([0, 1, 2, "2.5", 3])))
                                   for k in KINDS}
            if draw(st.booleans()):
                rule["normalise"] = {p: draw(st.sampled_from(["0.25", "1", "0.2"]))
                                     for p in partners}
            if draw(st.booleans()):
                rule["if_no_contribution"] = _share_map(draw, partners)
        same = [r["id"] for r in rules if ("overlay" in r) == ("overlay" in rule)]
        if same and draw(st.booleans()):
            rule["overrides"] = [draw(st.sampled_from(same))]
        if draw(st.integers(0, 3)) == 0:
            rule["effective"] = {"from": "2026-07-01"}
        if draw(st.integers(0, 3)) == 0:
            rule["rep_credit"] = draw(st.sampled_from(["equal", "by_contribution", "owner"]))
        rules.append(rule)
    if not any(r.get("default") and "split" in r for r in rules):
        rules.append({"id": "base", "clause": "4.0", "text": "base", "default": True,
                      "split": "equal"})
    text: dict[str, Any] = {
        "ruleset": "generated", "version": "1",
        "effective": {"from": "2026-01-01", "to": "2026-12-31"},
        "currency": "USD", "rounding": {"unit": unit, "tie_break": tie_break},
        "partners": {p: {"name": p.title()} for p in partners},
        "attributes": {"units": "number", "tier": "text"},
        "credit_types": {"revenue": {"total": "100%"},
                         "overlay": {"total": "declared", "required": False}},
        "contribution": {"weights": {"detail": 1, "joint_call": 2, "lead_sourced": 3},
                         "normalise": {partners[0]: "0.25"}},
        "rep_credit": draw(st.sampled_from(["equal", "by_contribution", "owner"])),
        "credit": rules,
    }
    if draw(st.booleans()):
        caps = ["33.335", "40", "12.5", "100"]
        text["policies"] = {p: {"entertainment": {
            "caps": {"meal": draw(st.sampled_from(caps))},
            **({"annual_cap_per_attendee": "100.005"} if draw(st.booleans()) else {}),
            **({"categories": {"hcp": {"meal": draw(st.sampled_from([*caps, "forbidden"]))}}}
               if draw(st.booleans()) else {}),
        }} for p in partners}
        text["policy_precedence"] = [{
            "id": "p1", "clause": "7.1", "text": "who governs", "topic": "entertainment",
            "default": True,
            "governs": draw(st.sampled_from(["stricter", "payer", "account_owner"]))}]
        share = draw(st.sampled_from(["equal", "payer", "by_credit", "split"]))
        text["expense_sharing"] = [{
            "id": "x1", "clause": "8.1", "text": "sharing", "default": True,
            "share": _share_map(draw, partners) if share == "split" else share,
            "excess": draw(st.sampled_from(["payer", "disallowed", partners[-1]]))}]
    return text


@st.composite
def deals(draw: st.DrawFn, agreement: dict[str, Any]) -> dict[str, Any]:
    partners = list(agreement["partners"])
    unit = agreement["rounding"]["unit"]
    cents = draw(st.integers(-200_000, 2_000_000))
    amount = str(cents) if unit == "1" else f"{cents // 100}.{cents % 100:02d}" \
        if cents >= 0 else f"-{(-cents) // 100}.{(-cents) % 100:02d}"
    if unit == "0.05":
        amount = f"{cents * 5 // 100}.{cents * 5 % 100:02d}" if cents >= 0 else \
            f"-{(-cents) * 5 // 100}.{(-cents) * 5 % 100:02d}"
    reps = [{"id": f"{p}-{j}", "partner": p, **({"owner": True} if j == 0 else {})}
            for p in partners for j in range(draw(st.integers(0, 2)))]
    rep_ids = [r["id"] for r in reps]
    acts = []
    for _ in range(draw(st.integers(0, 5))):
        act: dict[str, Any] = {"kind": draw(st.sampled_from(KINDS))}
        if rep_ids and draw(st.booleans()):
            act["reps"] = draw(st.lists(st.sampled_from(rep_ids), min_size=1, max_size=2,
                                        unique=True))
        else:
            act["partner"] = draw(st.sampled_from(partners))
        acts.append(act)
    deal: dict[str, Any] = {
        "id": f"G-{draw(st.integers(0, 99))}",
        "date": draw(st.sampled_from(["2026-01-01", "2026-06-30", "2026-07-01",
                                      "2026-12-31"])),
        "amount": amount, "currency": "USD",
        "account": {"owner": draw(st.sampled_from([*partners, None])),
                    "named": draw(st.booleans())},
        "reps": reps, "activities": acts,
        "attributes": {"units": str(draw(st.integers(0, 5))),
                       "tier": draw(st.sampled_from(["gold", "silver", "bronze"]))},
    }
    if draw(st.booleans()):
        deal["lead"] = {"source": draw(st.sampled_from(partners))}
    if "policies" in agreement and draw(st.booleans()):
        deal["expenses"] = [{
            "id": f"e{k}", "kind": "meal",
            "amount": f"{draw(st.integers(0, 50_000)) // 5 * 5 / 100:.2f}"
            if unit != "1" else str(draw(st.integers(0, 500))),
            "paid_by": draw(st.sampled_from(partners)),
            "attendees": draw(st.one_of(
                st.integers(1, 4),
                st.lists(st.builds(lambda c, s: {"category": c, "spent_this_year": s},
                                   st.sampled_from(["hcp", None]),
                                   st.sampled_from(["0", "60.00", "99.99"])),
                         min_size=1, max_size=3)))}
            for k in range(draw(st.integers(1, 2)))]
        for e in deal["expenses"]:
            if isinstance(e["attendees"], list):
                for a in e["attendees"]:
                    if a["category"] is None:
                        del a["category"]
    return deal


def _text(agreement: dict[str, Any]) -> str:
    """The agreement as YAML (JSON is YAML), ``forbidden`` written as the bare word."""
    return json.dumps(agreement).replace('"forbidden"', "forbidden")


def _outcome(run: Any) -> Any:
    try:
        return run()
    except CreditRulesError as exc:
        return type(exc), str(exc)


@pytest.mark.parametrize("engine", ENGINES)
@settings(suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_one_path_equals_the_oracle_on_generated_agreements(engine: str,
                                                            data: st.DataObject) -> None:
    agreement = data.draw(agreements())
    try:
        ruleset = creditrules.loads(_text(agreement), source="generated.yaml",
                                    engine=engine)
    except CreditRulesError:
        return  # a drawn agreement the loader refuses (checked elsewhere): nothing to run
    pipeline = ruleset._evaluator.pipeline  # type: ignore[union-attr]
    for deal in data.draw(st.lists(deals(agreement), min_size=1, max_size=4)):
        expected = _outcome(lambda d=deal: oracle.allocate(ruleset, d))
        computed = _outcome(lambda d=deal: pipeline.compute(d))
        if isinstance(expected, tuple) or isinstance(computed, tuple):
            assert computed == expected, deal
            continue
        assert pipeline.allocation(computed) == expected, deal
        assert pipeline.rows(computed) == ledger_rows(expected), deal
        explained = oracle.allocate(ruleset, deal, explain=True)
        assert pipeline.allocation(computed, explain=True).explain() == explained.explain()


@settings(max_examples=3, suppress_health_check=[HealthCheck.too_slow,
                                                  HealthCheck.data_too_large])
@given(st.lists(agreements(), min_size=20, max_size=20))
def test_the_generator_makes_loadable_agreements(drawn: list[dict[str, Any]]) -> None:
    """Most drawn agreements load, so the property above is not vacuous."""
    loaded = 0
    for agreement in drawn:
        try:
            creditrules.loads(_text(agreement), source="g.yaml", engine="reference")
            loaded += 1
        except CreditRulesError:
            pass
    assert loaded >= 10
