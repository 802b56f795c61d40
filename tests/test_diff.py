"""``creditrules diff``: what an amendment changes, clause by clause, and on real deals."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

import creditrules
from creditrules.authoring.diff import diff_rulesets, examples, what_if
from creditrules.cli import main

RULESETS = Path(__file__).resolve().parent.parent / "rulesets"
BASE = creditrules.load(RULESETS / "cloudbridge.yaml", engine="reference")
AMENDED = creditrules.load(RULESETS / "cloudbridge-amendment-1.yaml", engine="reference")
DEALS = [
    json.loads(line) for line in (RULESETS / "cloudbridge-deals.jsonl").read_text().splitlines()
]


def test_amendment_lists_exactly_the_changed_clauses() -> None:
    """Amendment No. 1: A1.1 replaces 4.3 (70/30 -> 65/35), A1.2 adds 4.3A, A1.3 deletes
    4.7(a) from 2027, A1.4 adds a revenue precedence list; version and title change."""
    found = diff_rulesets(BASE, AMENDED)
    assert found.clauses() == ["4.3", "4.3A", "4.7(a)"]
    by_name = {c.name: c for c in found.changes}
    assert set(by_name) == {
        "version",
        "title",
        "partner-registered",
        "nimbus-referral",
        "marketplace-overlay",
        "precedence revenue",
    }
    registered = by_name["partner-registered"]
    assert registered.aspects == ("replaced from 2027-01-01", "reworded", "outcome")
    assert registered.details == (
        "text: Notwithstanding 4.2(a), an ... protected, is credited [70% -> 65%] to Vertex "
        "and [30% -> 35%] to Nimbus.",
        "outcome: nimbus 30%, vertex 70% -> nimbus 35%, vertex 65%",
    )
    assert by_name["nimbus-referral"].kind == "added"
    assert by_name["marketplace-overlay"].aspects == ("retired after 2026-12-31",)
    assert by_name["precedence revenue"].details == (
        "public-sector before nimbus-referral (in force 2027-01-01 to 2028-12-31)",
    )
    assert by_name["version"].details == ("2026.1 -> 2027.1",)


def test_same_ruleset_has_no_changes() -> None:
    assert not diff_rulesets(BASE, BASE).changed


def test_what_if_on_the_sample_deals() -> None:
    """Only the 2027 deals can change. CB-007 (Marketplace, 2027-02-01) loses 4.7(a)'s
    9,000.00 overlay; CB-011 (Vertex-registered, 40,000.00) goes from 30/70 to 35/65:
    Nimbus 12,000.00 -> 14,000.00; CB-012 (a Nimbus referral, 60,000.00) goes from 4.2(b)'s
    25/75 to 4.3A's 55/45: Nimbus 15,000.00 -> 33,000.00."""
    result = what_if(BASE, AMENDED, DEALS)
    assert [c.deal for c in result.changed] == ["CB-007", "CB-011", "CB-012"]
    assert result.unchanged == 9
    cb007, cb011, cb012 = result.changed
    assert cb007.delta("overlay", "nimbus") == Decimal("-9000.00")
    assert (cb007.old_clauses["overlay"], cb007.new_clauses.get("overlay")) == (("4.7(a)",), None)
    assert (cb011.old["revenue"]["nimbus"], cb011.new["revenue"]["nimbus"]) == (
        Decimal("12000.00"),
        Decimal("14000.00"),
    )
    assert (cb012.old_clauses["revenue"], cb012.new_clauses["revenue"]) == (("4.2(b)",), ("4.3A",))
    assert cb012.delta("revenue", "vertex") == Decimal("-18000.00")
    # Per-deal deltas add up to the totals' deltas, type by type and partner by partner.
    for (ctype, partner), (old, new) in result.totals.items():
        assert sum((c.delta(ctype, partner) for c in result.changed), Decimal(0)) == new - old
    assert result.totals[("revenue", "nimbus")][1] - result.totals[("revenue", "nimbus")][
        0
    ] == Decimal("20000.00")


def test_policy_changes_limit_by_limit(tmp_path: Path) -> None:
    text = (RULESETS / "cardiozen.yaml").read_text()
    changed = text.replace(
        'caps: {meal: "150.00", reception: "250.00"', 'caps: {meal: "120.00", reception: "250.00"'
    )
    changed = changed.replace("    governs: payer\n", "    governs: stricter\n")
    path = tmp_path / "cardiozen-2.yaml"
    path.write_text(changed)
    found = diff_rulesets(
        creditrules.load(RULESETS / "cardiozen.yaml", engine="reference"),
        creditrules.load(path, engine="reference"),
    )
    assert [c.text() for c in found.changes] == [
        "clause 7.4 unassigned-accounts: governs\n    governs: payer -> stricter",
        "policy acme.entertainment.caps.meal: 150.00 -> 120.00",
    ]


def test_cli_exit_status_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    base, amended = (
        str(RULESETS / "cloudbridge.yaml"),
        str(RULESETS / "cloudbridge-amendment-1.yaml"),
    )
    assert main(["diff", base, base]) == 0
    assert "no change(s)" in capsys.readouterr().out
    assert (
        main(
            ["diff", base, amended, "--deals", str(RULESETS / "cloudbridge-deals.jsonl"), "--json"]
        )
        == 1
    )
    data = json.loads(capsys.readouterr().out)
    assert data["changed"] is True
    assert [c["clause"] for c in data["changes"] if c["clause"]] == ["4.3", "4.3A", "4.7(a)"]
    assert data["what_if"]["unchanged"] == 9
    assert [c["deal"] for c in data["what_if"]["changed"]] == ["CB-007", "CB-011", "CB-012"]


def test_examples_show_each_changed_clause_at_work() -> None:
    """Without deals, diff finds one deal per distinct change: the amendment's three
    changed clauses (4.7(a) retired, 4.3 at 65/35, the new 4.3A at 55/45), each at 100.00
    from the amendment's first day, and each reproduced by allocating it under both."""
    found = examples(BASE, AMENDED)
    assert [(e.deal["id"], e.deal["date"], e.deal["amount"]) for e in found] == [
        ("EX-1", "2027-01-01", "100.00"),
        ("EX-2", "2027-01-01", "100.00"),
        ("EX-3", "2027-01-01", "100.00"),
    ]
    assert [(dict(e.change.old_clauses), dict(e.change.new_clauses)) for e in found] == [
        ({"overlay": ("4.7(a)",), "revenue": ("4.1",)}, {"revenue": ("4.1",)}),
        ({"revenue": ("4.3",)}, {"revenue": ("4.3",)}),
        ({"revenue": ("4.1",)}, {"revenue": ("4.3A",)}),
    ]
    expected = [
        {("overlay", "nimbus"): Decimal("-100.00")},
        {("revenue", "nimbus"): Decimal("5.00"), ("revenue", "vertex"): Decimal("-5.00")},
        {("revenue", "nimbus"): Decimal("-45.00"), ("revenue", "vertex"): Decimal("45.00")},
    ]
    for example, deltas in zip(found, expected, strict=True):
        before = BASE.allocate(example.deal, explain=False)
        after = AMENDED.allocate(example.deal, explain=False)
        for (ctype, partner), delta in deltas.items():
            old = before.credit(ctype)
            new = after.credit(ctype)
            was = old.amount_of(partner) if old is not None else Decimal(0)
            now = new.amount_of(partner) if new is not None else Decimal(0)
            assert now - was == delta == example.change.delta(ctype, partner)


def test_no_examples_between_identical_rulesets() -> None:
    """Nothing changed, nothing to show."""
    assert examples(BASE, BASE) == ()
