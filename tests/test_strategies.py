"""Strategies derived from a ruleset: mined literals, rule targets, and valid deals."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import given, settings

import creditrules
from creditrules.allocation.model import Deal
from creditrules.errors import AllocationError
from creditrules.fairness import relabel
from creditrules.fairness import strategies as S

RULESETS = Path(__file__).resolve().parent.parent / "rulesets"
CARDIOZEN = creditrules.load(RULESETS / "cardiozen.yaml", engine="reference")
CLOUDBRIDGE = creditrules.load(RULESETS / "cloudbridge-amendment-1.yaml", engine="reference")
VOLUME = creditrules.load(Path(__file__).resolve().parent / "unfair" / "volume-penalty.yaml",
                          engine="reference")
FEW = settings(max_examples=25)


def test_literals_are_mined_with_their_neighbours() -> None:
    lits = S.literals(CARDIOZEN)
    # amount >= 250000 or amount <= -250000: one below, at and above, and a cent either
    # side of each.
    assert set(lits.of(("amount",))) == {Decimal(sign + v) for sign in ("", "-") for v in (
        "249999", "250000", "250001", "249999.99", "250000.01")}
    assert set(lits.of(("account", "segment"))) == {"hospital", "clinic"}
    assert lits.of(("attributes", "indication")) == ("heart-failure",)
    assert set(lits.of(("expense", "kind"))) == {"speaker_program", "reception"}
    # Inside count(activities, kind == "joint_call") >= 1.
    assert lits.item("activities", ("kind",)) == ("joint_call",)
    assert lits.counts["activities"] == (0, 1, 2, 3)
    dates = S.literals(CLOUDBRIDGE).of(("attributes", "deal_registration"))
    assert dt.date(2026, 3, 31) in dates
    assert dt.date(2026, 10, 1) in dates


def test_each_rule_gets_a_target_that_satisfies_it() -> None:
    by_rule = {t.rule: t for t in S.targets(CARDIOZEN)}
    # Either side of "amount >= 250000 or amount <= -250000" satisfies the rule.
    tender = by_rule["hospital-tenders"].values
    assert tender[("account", "segment")] == "hospital"
    assert abs(tender[("amount",)]) == Decimal("250000")
    assert by_rule["joint-calls"].counts == (("activities", {("kind",): "joint_call"}, 1),)
    launch = {t.rule: t for t in S.targets(CLOUDBRIDGE)}["launch-promotion"]
    # deal_registration >= 2026-04-01 and <= 2026-09-30: one date satisfies both.
    assert launch.values[("attributes", "deal_registration")] == dt.date(2026, 4, 1)
    assert launch.day == dt.date(2026, 4, 1)
    for target in S.targets(CARDIOZEN):
        deal: dict[str, Any] = {"id": "T", "date": "2026-01-01", "amount": "1.00",
                                "currency": "USD"}
        S.space(CARDIOZEN).aim(deal, target, owners=(None, "acme", "beta"))
        if target.rule in ("hospital-tenders", "heart-failure-launch"):
            verdicts = {v.rule: v.status for v in CARDIOZEN.allocate(deal).verdicts}
            assert verdicts[target.rule] == "applied"


def test_the_space_covers_thresholds_days_and_kinds() -> None:
    sp = S.space(CARDIOZEN)
    assert sp.units[0] == 1
    assert list(sp.units) == sorted(sp.units)
    assert 25_000_000 in sp.thresholds
    assert sp.days[0] == dt.date(2026, 1, 1)
    # The heart-failure window (2026) ends: the days around it are tried.
    assert {dt.date(2026, 12, 31), dt.date(2027, 1, 1)} <= set(sp.days)
    assert set(sp.kinds) == {"detail", "joint_call", "presentation"}
    assert S.space(CLOUDBRIDGE).owner_mode  # 4.2 credits each Party's deal owner


@FEW
@given(S.deals(CLOUDBRIDGE))
def test_generated_deals_are_valid_and_inside_the_agreement(deal: dict[str, Any]) -> None:
    parsed = Deal.from_mapping(deal)
    assert CLOUDBRIDGE.effective.contains(parsed.date)
    if parsed.amount < 0:
        assert not parsed.expenses  # a credit note carries no expenses
    with contextlib.suppress(AllocationError):
        CLOUDBRIDGE.allocate(deal)


def test_generated_amounts_range_from_a_cent_to_credit_notes() -> None:
    seen: Counter[str] = Counter()

    @settings(max_examples=60, derandomize=True)
    @given(S.amounts(CARDIOZEN))
    def collect(amount: str) -> None:
        value = Decimal(amount)
        seen["negative" if value < 0 else "cent" if value == Decimal("0.01") else "other"] += 1
        if value >= 250000:
            seen["large"] += 1

    collect()
    assert seen["cent"]
    assert seen["negative"]
    assert seen["large"]


@FEW
@given(S.equal_contributions(CARDIOZEN))
def test_twins_contribute_identically(twins: S.Twins) -> None:
    deal = twins.deal
    x, y = twins.pair
    if twins.level == "partners":
        # Exchanging the two partners gives the same deal, up to the order of its lists.
        # (Expense ids are positional: the mirrored pair exchange them.)
        mirror = relabel(deal, {x: y, y: x})
        assert _canon(mirror) == _canon(deal)
        assert deal.get("account", {}).get("owner") not in (x, y)
    else:
        acts = deal.get("activities", ())

        def alone(rep: str) -> Counter[tuple[str, frozenset[str]]]:
            # The activities of one twin without the other, the twin's name blanked out.
            return Counter((a["kind"], frozenset(_reps(a) - {rep})) for a in acts
                           if rep in _reps(a) and not {x, y} <= _reps(a))

        assert alone(x) == alone(y)
        reps = {r["id"]: r for r in deal["reps"]}
        assert reps[x].get("owner", False) == reps[y].get("owner", False)
        assert deal.get("lead", {}).get("rep") not in (x, y)


def _reps(activity: dict[str, Any]) -> set[str]:
    return set(activity.get("reps", ())) | ({activity["rep"]} if "rep" in activity else set())


def _canon(deal: dict[str, Any]) -> Any:
    import json

    def norm(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: norm(x) for k, x in sorted(v.items())
                    if not (k == "id" and "paid_by" in v)}
        if isinstance(v, list):
            return sorted((norm(x) for x in v), key=json.dumps)
        return v

    return json.dumps(norm(deal), sort_keys=True)


@FEW
@given(S.null_parties(CLOUDBRIDGE))
def test_null_parties_take_no_part(null: S.NullParty) -> None:
    deal = null.deal
    if null.level == "partners":
        assert all(r["partner"] != null.party for r in deal.get("reps", ()))
        assert all(a.get("partner") != null.party for a in deal.get("activities", ()))
        assert deal.get("account", {}).get("owner") != null.party
        assert all(e["paid_by"] != null.party for e in deal.get("expenses", ()))
    else:
        assert all(null.party not in _reps(a) for a in deal.get("activities", ()))
        assert any(_reps(a) == {f"{null.partner}-2"} for a in deal["activities"])


@FEW
@given(S.one_more_activity(VOLUME))
def test_one_more_adds_exactly_one_activity_by_the_party(more: S.OneMore) -> None:
    before, after = more.deal.get("activities", []), more.more["activities"]
    assert after[:-1] == before
    added = after[-1]
    assert added["kind"] == more.kind
    assert added.get("rep", added.get("partner")) == (more.rep or more.partner)


def test_relabel_renames_partners_and_their_reps() -> None:
    deal = {"id": "X", "account": {"owner": "acme"}, "lead": {"source": "beta", "rep": "beta-1"},
            "reps": [{"id": "acme-1", "partner": "acme"}, {"id": "beta-1", "partner": "beta"}],
            "activities": [{"kind": "call", "reps": ["acme-1", "beta-1"]},
                           {"kind": "call", "partner": "acme"}],
            "expenses": [{"id": "E1", "paid_by": "acme"}]}
    sigma = {"acme": "beta", "beta": "acme"}
    swapped = relabel(deal, sigma)
    assert swapped["account"] == {"owner": "beta"}
    assert swapped["lead"] == {"source": "acme", "rep": "acme-1"}
    assert swapped["reps"] == [{"id": "beta-1", "partner": "beta"},
                               {"id": "acme-1", "partner": "acme"}]
    assert swapped["activities"][0]["reps"] == ["beta-1", "acme-1"]
    assert swapped["expenses"][0]["paid_by"] == "beta"
    assert relabel(swapped, sigma) == deal
