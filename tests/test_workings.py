"""Explanations a lawyer can sign: clause order, partners by name (0% too), readable
percentages, the points table behind a by-contribution split and the rounding step.

Expected values are worked by hand from the bundled agreements (see each comment)."""

from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given

import creditrules
import oracle
from creditrules.allocation._deferred import Deferred
from creditrules.base._clauses import clause_key
from creditrules.base._readable import number_reading, percent_reading
from creditrules.cli import main
from creditrules.fairness import strategies

RULESETS = Path(__file__).resolve().parent.parent / "rulesets"
CARDIOZEN = creditrules.load(RULESETS / "cardiozen.yaml", engine="reference")
CLOUDBRIDGE = creditrules.load(RULESETS / "cloudbridge.yaml", engine="reference")


def _deal(deal_id: str) -> dict[str, Any]:
    with open(RULESETS / "cloudbridge-deals.jsonl") as src:
        return next(d for d in map(json.loads, src) if d["id"] == deal_id)


def test_clauses_sort_naturally() -> None:
    """4.2(a) < 4.2(b) < 4.3 < 4.3A < 4.10, as a reader numbers clauses."""
    clauses = ["4.10", "4.3A", "4.2(b)", "4.3", "4.2(a)", "4.9"]
    assert sorted(clauses, key=clause_key) == ["4.2(a)", "4.2(b)", "4.3", "4.3A", "4.9", "4.10"]


def test_percentages_read_as_decimals_with_exact_fraction() -> None:
    """73.33% is 220/3%: the rounded decimal first, the exact value beside it."""
    assert percent_reading(Fraction(11, 15)) == "73.33% (220/3%)"
    assert percent_reading(Fraction(1, 2)) == "50%"
    assert percent_reading(Fraction(1, 8)) == "12.5%"
    assert number_reading(Fraction(12, 5)) == "2.4"
    assert number_reading(Fraction(2, 3)) == "0.6667... (2/3)"


@pytest.mark.parametrize("how", ["pipeline", "oracle"])
def test_points_table_of_a_by_contribution_deal(how: str) -> None:
    """CB-001 under 4.1: Nimbus took part in 10 touches (weight 1) and 1 joint call (2),
    normalised by 0.2: (10 + 2) x 0.2 = 2.4 points; Vertex in the joint call (2), a workshop
    (3) and a technical win (6): 11 points. 2.4 / 13.4 = 12/67 = 17.91%; 120,000.00 x 12/67
    = 21,492.537..., 98,507.462...: the remainders .537 and .463 of a cent leave one cent,
    which goes to the larger (Nimbus)."""
    alloc = (CLOUDBRIDGE.allocate(_deal("CB-001")) if how == "pipeline"
             else oracle.allocate(CLOUDBRIDGE, _deal("CB-001"), explain=True))
    workings = alloc.workings
    assert workings is not None
    revenue = workings.credit("revenue")
    assert revenue is not None
    rows = [
        (r.partner, r.activity, r.count, r.weight, r.normalise, r.points) for r in revenue.points
    ]
    assert rows == [
        ("nimbus", "joint_call", 1, 2, Fraction(1, 5), Fraction(2, 5)),
        ("nimbus", "touch", 10, 1, Fraction(1, 5), 2),
        ("vertex", "joint_call", 1, 2, 1, 2),
        ("vertex", "technical_win", 1, 6, 1, 6),
        ("vertex", "workshop", 1, 3, 1, 3),
    ]
    assert dict(revenue.partner_points) == {"nimbus": Fraction(12, 5), "vertex": 11}
    nimbus, vertex = revenue.rounding
    assert (nimbus.exact, str(nimbus.amount), nimbus.odd_unit) == (
        Fraction(1440000, 67),
        "21492.54",
        True,
    )
    assert (vertex.exact, str(vertex.amount), vertex.odd_unit) == (
        Fraction(6600000, 67),
        "98507.46",
        False,
    )
    assert "largest remainder (0.73 of a unit)" in nimbus.reason
    text = alloc.explain()
    assert "Partners: Nimbus Cloud, Inc. (nimbus); Vertex Software Ltd. (vertex)" in text
    assert "  Nimbus Cloud, Inc. (nimbus): 17.91% (1200/67%) = 21492.54" in text
    assert "    nimbus       touch               10       1       0.2        2" in text
    assert (
        "    nimbus total 2.4 of 13.4 points: share 100% x 2.4 / 13.4 = 17.91% (1200/67%)" in text
    )
    assert "    nimbus: exact 21492.5373... (1440000/67) -> 21492.54: largest remainder" in text
    data = alloc.to_dict()["workings"]
    assert data["partners"][0] == {"id": "nimbus", "name": "Nimbus Cloud, Inc."}
    assert data["credits"][0]["total_points"] == "13.4"
    assert data["credits"][0]["points"][1] == {
        "partner": "nimbus",
        "activity": "touch",
        "count": 10,
        "weight": "1",
        "normalise": "0.2",
        "points": "2",
    }


def test_every_partner_is_shown_even_at_zero() -> None:
    """CB-002 is a Marketplace private offer: 4.7(a) overlays 100% to Nimbus only; Vertex is
    listed at 0% = 0.00 all the same."""
    text = CLOUDBRIDGE.allocate(_deal("CB-002")).explain()
    overlay = text[text.index("overlay credit:") :]
    assert "  Vertex Software Ltd. (vertex): 0% = 0.00" in overlay


def test_rules_are_listed_in_clause_order() -> None:
    """cosell-contribution (4.1), nimbus-account (4.2(a)), vertex-account (4.2(b)),
    partner-registered (4.3), public-sector (4.4), launch-promotion (4.6): not by id."""
    alloc = CLOUDBRIDGE.allocate(_deal("CB-001"))
    revenue = [v.clause for v in alloc.verdicts if v.type == "revenue"]
    assert revenue == ["4.1", "4.2(a)", "4.2(b)", "4.3", "4.4", "4.6"]


def test_tie_on_the_odd_cent_names_the_tie_break() -> None:
    """0.01 split 50/50 under 4.2(b): both remainders are half a cent; the hashed tie-break
    gives the cent to one partner, and the explanation says so."""
    alloc = CARDIOZEN.allocate(
        {
            "id": "T-1",
            "date": "2026-03-02",
            "amount": "0.01",
            "currency": "USD",
            "account": {"owner": "acme", "named": True},
            "lead": {"source": "beta"},
        }
    )
    workings = alloc.workings
    assert workings is not None
    lines = workings.credits[0].rounding
    winner = next(line for line in lines if line.odd_unit)
    loser = next(line for line in lines if not line.odd_unit)
    assert str(winner.amount) == "0.01"
    assert str(loser.amount) == "0.00"
    assert winner.reason == (
        f"remainder 0.50 of a unit, equal to {loser.partner}'s; the "
        "hashed tie-break (sha256 of deal id, credit type and partner) "
        "puts it first"
    )


def test_refund_rounding_mirrors_the_sale() -> None:
    """-0.01 at 70/30 under 4.2(a): Acme's exact -0.007 takes the odd (negative) cent."""
    alloc = CARDIOZEN.allocate(
        {
            "id": "T-2",
            "date": "2026-03-02",
            "amount": "-0.01",
            "currency": "USD",
            "account": {"owner": "acme", "named": True},
        }
    )
    workings = alloc.workings
    assert workings is not None
    acme, beta = workings.credits[0].rounding
    assert (acme.exact, str(acme.amount), acme.odd_unit) == (Fraction(-7, 1000), "-0.01", True)
    assert (beta.exact, str(beta.amount), beta.odd_unit) == (Fraction(-3, 1000), "0.00", False)


def test_workings_are_not_worked_out_unless_read() -> None:
    """A batch never reads the explanation: allocating leaves the workings deferred."""
    alloc = CLOUDBRIDGE.allocate(_deal("CB-001"), explain=False)
    deferred = alloc._workings
    assert isinstance(deferred, Deferred)
    assert not deferred.done


def test_cli_explain_shows_the_points_table(capsys: pytest.CaptureFixture[str]) -> None:
    """The CLI prints what explain() gives."""
    assert (
        main(
            [
                "explain",
                str(RULESETS / "cloudbridge.yaml"),
                str(RULESETS / "cloudbridge-deals.jsonl"),
                "--deal",
                "CB-001",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "points (clause 4.1): count x weight x normalise" in out
    assert "rounding to 0.01 USD" in out


@given(deal=strategies.deals(CLOUDBRIDGE))
def test_workings_restate_the_allocation(deal: dict[str, Any]) -> None:
    """For any deal: every partner appears in each rounding step; the exact amounts are the
    shares of the deal amount; each rounded amount is the exact one rounded down or up by
    one unit; the units handed out went to the largest remainders; and a points table's
    points give the shares."""
    try:
        alloc = CLOUDBRIDGE.allocate(deal)
    except creditrules.CreditRulesError:
        return
    workings = alloc.workings
    assert workings is not None
    assert [p for p, _ in workings.partners] == ["nimbus", "vertex"]
    for credit in alloc.credits:
        found = workings.credit(credit.type)
        assert found is not None
        assert [line.partner for line in found.rounding] == ["nimbus", "vertex"]
        unit = Fraction(found.unit)
        for line in found.rounding:
            assert line.exact == Fraction(alloc.amount) * credit.share(line.partner)
            units = abs(line.exact) / unit
            expected = math.floor(units) + line.odd_unit
            assert abs(Fraction(line.amount)) / unit == expected
        odd = [abs(x.exact) / unit % 1 for x in found.rounding if x.odd_unit]
        down = [abs(x.exact) / unit % 1 for x in found.rounding if not x.odd_unit]
        assert not odd or not down or min(odd) >= max(down)
        if found.points:
            total = found.total_points
            for pid, points in found.partner_points:
                assert credit.share(pid) == credit.total * points / total


def test_rep_rounding_is_shown() -> None:
    """CZ-002, 1,234.57 under 4.2(a) (70/30): Acme's rounded 864.20 goes to its two reps
    by their exact shares of the deal, 7/15 and 7/30 (by contribution, acme-abe with
    twice the points of acme-ana),
    1,234.57 x 7/15 = 576.1327 and x 7/30 = 288.0663: the floors 576.13 and 288.06 leave
    one cent of 864.20, which goes to the larger remainder (acme-ana's .63)."""
    import creditrules

    ruleset = creditrules.load(RULESETS / "cardiozen.yaml")
    with open(RULESETS / "cardiozen-deals.jsonl") as src:
        deal = next(d for d in map(json.loads, src) if d["id"] == "CZ-002")
    allocation = ruleset.allocate(deal)
    workings = allocation.workings
    assert workings is not None
    revenue = workings.credit("revenue")
    assert revenue is not None
    got = [(r.partner, r.rep, str(r.amount), r.odd_unit) for r in revenue.rep_rounding]
    # Beta's only rep takes Beta's rounded amount: nothing to show.
    assert got == [("acme", "acme-abe", "576.13", False), ("acme", "acme-ana", "288.07", True)]
    assert revenue.rep_rounding[0].exact == Fraction(864199, 1500)
    text = allocation.explain()
    assert ("    acme acme-ana: exact 288.0663... (864199/3000) -> 288.07: largest remainder "
            "(0.63 of a unit) takes the odd unit") in text
    assert allocation.to_dict()["workings"]["credits"][0]["rep_rounding"][1] == {
        "partner": "acme", "rep": "acme-ana", "exact": "864199/3000", "amount": "288.07",
        "odd_unit": True, "reason": "largest remainder (0.63 of a unit) takes the odd unit"}
