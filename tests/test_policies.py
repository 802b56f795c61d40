"""Policy precedence and entertainment cost shares, checked against hand arithmetic.

One agreement between Acme and Beta (below) with each precedence kind swapped in. Every
expected value is worked out by hand from the two policies; the arithmetic is in the comment
above each check. Caps are per attendee: the expense is split equally among its attendees,
each attendee's part is capped (by category, else the kind's default cap; and by what is
left of the annual cap), the covered amount is rounded down to the cent, and the rest is
the excess.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import creditrules
from creditrules import AllocationError, AmbiguityError, DealError, NoApplicableRuleError
from creditrules.agreement.ruleset import Ruleset
from creditrules.allocation import Allocation, ExpenseShare, Limit, PolicyDecision
from creditrules.allocation.model import Attendee, Deal, Expense
from creditrules.cli import main

D = Decimal
F = Fraction

HEADER = """\
ruleset: pol
version: "1"
effective: {from: 2026-01-01, to: 2027-12-31}
currency: USD
rounding: {unit: "0.01", tie_break: hashed}
partners:
  acme: {name: Acme}
  beta: {name: Beta}
credit:
  - id: base
    clause: "4.1"
    default: true
    split: {acme: 30%, beta: 70%}
"""

# Acme: meal 100, event 400, gift 50, reception unlimited; hcp: meal 60, no events;
#       government: meal 20, no gifts; pre-approval above 1000; 500 per attendee a year.
# Beta: meal 80, event 500, golf and reception unlimited; hcp: meal 90; gifts forbidden;
#       pre-approval above 800; no annual cap. (Beta has no government category.)
POLICIES = """\
policies:
  acme:
    entertainment:
      caps: {meal: "100.00", event: "400.00", gift: "50.00", reception: unlimited}
      categories:
        hcp: {meal: "60.00", event: forbidden}
        government: {meal: "20.00", gift: forbidden}
      preapproval_above: "1000.00"
      annual_cap_per_attendee: "500.00"
  beta:
    entertainment:
      caps: {meal: "80.00", event: "500.00", golf: unlimited, reception: unlimited}
      categories:
        hcp: {meal: "90.00"}
      forbidden: [gift]
      preapproval_above: "800.00"
"""


def rule(governs: str, *, rid: str = "p", clause: str = "7.1", when: str | None = None,
         default: bool = False, overrides: str | None = None) -> str:
    text = f'  - id: {rid}\n    clause: "{clause}"\n    topic: entertainment\n' \
           f"    governs: {governs}\n"
    if when is not None:
        text += f"    when: {when}\n"
    if default:
        text += "    default: true\n"
    if overrides is not None:
        text += f"    overrides: [{overrides}]\n"
    return text


def sharing(share: str = "{acme: 40%, beta: 60%}", *, excess: str = "payer", rid: str = "s",
            clause: str = "8.1", when: str | None = None, default: bool = True) -> str:
    text = f'  - id: {rid}\n    clause: "{clause}"\n    share: {share}\n    excess: {excess}\n'
    if when is not None:
        text += f"    when: {when}\n"
    if default:
        text += "    default: true\n"
    return text


def agreement(precedence: str, share: str | None = None) -> str:
    return (HEADER + POLICIES + "policy_precedence:\n" + precedence + "expense_sharing:\n"
            + (share if share is not None else sharing()))


_LOADED: dict[tuple[str, str], Ruleset] = {}


def load(text: str, engine: str) -> Ruleset:
    key = (text, engine)
    if key not in _LOADED:
        _LOADED[key] = creditrules.loads(text, source="pol.yaml", engine=engine)
    return _LOADED[key]


def deal(*expenses: dict[str, Any], owner: str | None = "acme", segment: str = "retail",
         lead: str | None = "beta", amount: str = "1000.00", named: bool = False
         ) -> dict[str, Any]:
    data: dict[str, Any] = {"id": "D1", "date": "2026-05-01", "amount": amount,
                            "currency": "USD",
                            "account": {"id": "a1", "segment": segment, "named": named},
                            "expenses": list(expenses)}
    if owner is not None:
        data["account"]["owner"] = owner
    if lead is not None:
        data["lead"] = {"source": lead}
    return data


def expense(kind: str, amount: str, attendees: int | list[dict[str, Any]], *,
            paid_by: str = "acme", eid: str = "e1", **extra: Any) -> dict[str, Any]:
    return {"id": eid, "kind": kind, "amount": amount, "paid_by": paid_by,
            "attendees": attendees, "date": "2026-04-20", **extra}


def only_expense(alloc: Allocation) -> ExpenseShare:
    [share] = alloc.expenses
    return share


def parts(share: ExpenseShare) -> dict[str, Decimal]:
    return {p.partner: p.amount for p in share.parts}


def entertainment(alloc: Allocation) -> PolicyDecision:
    return next(p for p in alloc.policies if p.topic == "entertainment")


def status(alloc: Allocation, label: str) -> dict[str, str]:
    return {v.rule: v.status for v in alloc.verdicts if v.type == label}


# A meal for four: a healthcare professional, a government official and two others.
MIXED_MEAL = expense("meal", "400.00", [{"id": "dr-a", "category": "hcp"},
                                         {"id": "mayor", "category": "government"},
                                         {"id": "buyer-1"}, {"id": "buyer-2"}])


# -- each precedence kind -----------------------------------------------------------------


def test_stricter_combines_limits_with_their_sources(engine: str) -> None:
    rs = load(agreement(rule("stricter")), engine)
    a = rs.allocate(deal(MIXED_MEAL))
    decision = entertainment(a)
    assert (decision.rule, decision.clause, decision.governs, decision.partner) == (
        "p", "7.1", "stricter", None)
    # limit by limit, the most restrictive value and whose policy set it
    assert decision.limit("cap.meal") == Limit("cap.meal", D("80.00"), ("beta",))  # 100/80
    assert decision.limit("cap.meal.hcp") == Limit("cap.meal.hcp", D("60.00"), ("acme",))
    # beta has no government category: its default meal cap 80 against acme's 20
    assert decision.limit("cap.meal.government") == Limit("cap.meal.government", D("20.00"),
                                                          ("acme",))
    assert decision.limit("cap.event") == Limit("cap.event", D("400.00"), ("acme",))
    assert decision.limit("forbidden.event.hcp") == Limit("forbidden.event.hcp", True,
                                                          ("acme",))
    assert decision.limit("forbidden.gift") == Limit("forbidden.gift", True, ("beta",))
    assert decision.limit("forbidden.gift.government") == Limit(
        "forbidden.gift.government", True, ("acme", "beta"))
    assert decision.limit("forbidden.golf") == Limit("forbidden.golf", True, ("acme",))
    assert decision.limit("cap.reception") == Limit("cap.reception", None, ("acme", "beta"))
    assert decision.limit("preapproval_above") == Limit("preapproval_above", D("800.00"),
                                                        ("beta",))
    assert decision.limit("annual_cap_per_attendee") == Limit(
        "annual_cap_per_attendee", D("500.00"), ("acme",))
    share = only_expense(a)
    assert share.policy == decision
    # 400.00 / 4 = 100.00 each: hcp 60 (acme), government 20 (acme), others 80 (beta) x 2
    # -> covered 60 + 20 + 80 + 80 = 240.00, excess 160.00 borne by the payer (acme)
    assert (share.cap, share.covered, share.excess) == (D("240.00"), D("240.00"),
                                                        D("160.00"))
    assert (share.excess_bearer, share.disallowed) == ("acme", False)
    # 40/60 of 240.00 = 96.00 / 144.00
    assert parts(share) == {"acme": D("96.00"), "beta": D("144.00")}
    assert share.violations == ()
    # the canonical form names the source of each limit
    data = a.to_dict()
    limits = {lim["name"]: lim for lim in data["policies"][0]["limits"]}
    assert limits["cap.meal.hcp"] == {"name": "cap.meal.hcp", "value": "60.00",
                                      "from": ["acme"]}
    assert data["expenses"][0]["policy"]["governs"] == "stricter"


def test_account_owner(engine: str) -> None:
    rs = load(agreement(rule("account_owner")), engine)
    a = rs.allocate(deal(MIXED_MEAL, owner="acme"))
    decision = entertainment(a)
    assert (decision.governs, decision.partner) == ("account_owner", "acme")
    assert decision.limit("cap.meal") == Limit("cap.meal", D("100.00"), ("acme",))
    share = only_expense(a)
    # acme: hcp 60, government 20, others min(100, 100) = 100 x 2 -> 280.00; excess 120.00
    assert (share.cap, share.covered, share.excess) == (D("280.00"), D("280.00"),
                                                        D("120.00"))
    # 40/60 of 280.00 = 112.00 / 168.00
    assert parts(share) == {"acme": D("112.00"), "beta": D("168.00")}

    b = rs.allocate(deal(MIXED_MEAL, owner="beta"))
    assert (entertainment(b).governs, entertainment(b).partner) == ("account_owner", "beta")
    share = only_expense(b)
    # beta: hcp 90, government -> no such category in beta's policy, so its default meal
    # cap 80; others 80 x 2 -> 90 + 80 + 80 + 80 = 330.00, excess 70.00
    assert (share.cap, share.covered, share.excess) == (D("330.00"), D("330.00"), D("70.00"))
    # 40/60 of 330.00 = 132.00 / 198.00
    assert parts(share) == {"acme": D("132.00"), "beta": D("198.00")}


def test_account_owner_missing(engine: str) -> None:
    rs = load(agreement(rule("account_owner")), engine)
    with pytest.raises(AllocationError, match="names no account owner"):
        rs.allocate(deal(MIXED_MEAL, owner=None))
    # without expenses the deal does not need the decision: credit still allocates, and no
    # entertainment policy is implied
    a = rs.allocate(deal(owner=None))
    assert a.policies == ()
    assert a.expenses == ()


def test_lead_partner(engine: str) -> None:
    rs = load(agreement(rule("lead_partner")), engine)
    a = rs.allocate(deal(MIXED_MEAL, owner="acme", lead="beta"))
    assert (entertainment(a).governs, entertainment(a).partner) == ("lead_partner", "beta")
    # beta's policy, as above: 90 + 80 + 80 + 80 = 330.00
    assert only_expense(a).covered == D("330.00")
    with pytest.raises(AllocationError, match="names no lead source"):
        rs.allocate(deal(MIXED_MEAL, lead=None))


def test_payer_decides_expense_by_expense(engine: str) -> None:
    rs = load(agreement(rule("payer")), engine)
    a = rs.allocate(deal(expense("meal", "100.00", 1, paid_by="acme", eid="m-acme"),
                         expense("meal", "100.00", 1, paid_by="beta", eid="m-beta")))
    # per deal the rule names no policy: it depends on each expense
    decision = entertainment(a)
    assert (decision.governs, decision.partner, decision.limits) == ("payer", None, ())
    by_acme, by_beta = a.expenses
    assert (by_acme.policy.governs, by_acme.policy.partner) == ("payer", "acme")
    assert (by_beta.policy.governs, by_beta.policy.partner) == ("payer", "beta")
    # acme's meal cap 100: 100.00 covered; beta's 80: 80.00 covered, 20.00 excess to beta
    assert (by_acme.covered, by_acme.excess) == (D("100.00"), D("0.00"))
    assert (by_beta.covered, by_beta.excess, by_beta.excess_bearer) == (D("80.00"),
                                                                        D("20.00"), "beta")
    # 40/60: 40.00 / 60.00 and 32.00 / 48.00
    assert parts(by_acme) == {"acme": D("40.00"), "beta": D("60.00")}
    assert parts(by_beta) == {"acme": D("32.00"), "beta": D("48.00")}
    assert "the payer's policy, expense by expense" in a.explain()


def test_a_named_partner(engine: str) -> None:
    rs = load(agreement(rule("beta")), engine)
    a = rs.allocate(deal(MIXED_MEAL, owner="acme", lead="acme"))
    assert (entertainment(a).governs, entertainment(a).partner) == ("partner", "beta")
    # beta's policy whoever owns the account: 330.00 covered, 70.00 excess
    share = only_expense(a)
    assert (share.covered, share.excess) == (D("330.00"), D("70.00"))


CONDITIONAL = (rule("stricter", rid="healthcare", clause="7.2",
                    when='account.segment == "healthcare"')
               + rule("account_owner", rid="owner", clause="7.3", default=True))


def test_conditional_stricter_for_healthcare_else_owner(engine: str) -> None:
    rs = load(agreement(CONDITIONAL), engine)
    hc = rs.allocate(deal(MIXED_MEAL, segment="healthcare"))
    assert (entertainment(hc).rule, entertainment(hc).governs) == ("healthcare", "stricter")
    assert status(hc, "policy:entertainment") == {"healthcare": "applied",
                                                  "owner": "overridden"}
    # stricter, as above: 240.00
    assert only_expense(hc).covered == D("240.00")

    retail = rs.allocate(deal(MIXED_MEAL, segment="retail"))
    assert (entertainment(retail).rule, entertainment(retail).partner) == ("owner", "acme")
    assert status(retail, "policy:entertainment") == {"healthcare": "not-matched",
                                                      "owner": "applied"}
    # acme's, as above: 280.00
    assert only_expense(retail).covered == D("280.00")
    assert any("account.segment" in r for v in retail.verdicts if v.rule == "healthcare"
               for r in v.reasons)


# -- caps ---------------------------------------------------------------------------------


def test_caps_by_attendee_category(engine: str) -> None:
    rs = load(agreement(rule("account_owner")), engine)
    # acme: a 150.00 meal for one hcp -> 60.00 covered; for one government official -> 20.00;
    # for one other guest -> 100.00; for "3 attendees" (no categories) 3 x 50 -> 150.00
    cases: list[tuple[int | list[dict[str, Any]], str, str]] = [
        ([{"category": "hcp"}], "150.00", "60.00"),
        ([{"category": "government"}], "150.00", "20.00"),
        ([{}], "150.00", "100.00"),
        (3, "150.00", "150.00")]
    for attendees, amount, covered in cases:
        share = only_expense(rs.allocate(deal(expense("meal", amount, attendees))))
        assert share.covered == D(covered), attendees
        assert share.covered + share.excess == D(amount)


def test_uneven_split_is_rounded_down(engine: str) -> None:
    rs = load(agreement(rule("account_owner")), engine)
    # 100.00 / 3 = 33.333... each, under every cap (hcp 60, others 100): the exact sum
    # 3 x 100/3 is 100.00, so nothing is lost to rounding
    share = only_expense(rs.allocate(deal(expense(
        "meal", "100.00", [{"category": "hcp"}, {}, {}]))))
    assert (share.covered, share.excess) == (D("100.00"), D("0.00"))
    # 200.00 / 3 = 66.666... each: hcp capped at 60, others 66.666... x 2 = 133.333...
    # -> covered 193.333... rounded down to 193.33, excess 6.67
    share = only_expense(rs.allocate(deal(expense(
        "meal", "200.00", [{"category": "hcp"}, {}, {}]))))
    assert (share.cap, share.covered, share.excess) == (D("260.00"), D("193.33"), D("6.67"))
    # 40/60 of 19333 cents = 7733.2 / 11599.8 -> 7733 + 11599 = 19332, the odd cent to
    # beta (.8) -> 77.33 / 116.00
    assert parts(share) == {"acme": D("77.33"), "beta": D("116.00")}


def test_annual_cap_with_spent_this_year(engine: str) -> None:
    rs = load(agreement(rule("account_owner")), engine)
    # acme: 500.00 per attendee a year. 200.00 for two, 100.00 each: x has spent 450.00
    # (50.00 left, under the meal cap 100), y 600.00 (nothing left) -> 50 + 0 = 50.00
    share = only_expense(rs.allocate(deal(expense("meal", "200.00", [
        {"id": "x", "spent_this_year": "450.00"}, {"id": "y", "spent_this_year": "600.00"}]))))
    assert (share.cap, share.covered, share.excess) == (D("50.00"), D("50.00"), D("150.00"))
    # a reception (no per-event cap) is still capped by the annual room: 500 - 200 = 300
    share = only_expense(rs.allocate(deal(expense("reception", "450.00", [
        {"id": "x", "spent_this_year": "200.00"}]))))
    assert (share.cap, share.covered, share.excess) == (D("300.00"), D("300.00"),
                                                        D("150.00"))
    # beta has no annual cap: the reception is uncapped
    share = only_expense(rs.allocate(deal(expense("reception", "450.00", [
        {"id": "x", "spent_this_year": "200.00"}]), owner="beta")))
    assert (share.cap, share.covered, share.excess) == (None, D("450.00"), D("0.00"))


def test_annual_cap_under_stricter_comes_from_acme(engine: str) -> None:
    rs = load(agreement(rule("stricter")), engine)
    # stricter: beta's meal cap 80, acme's annual 500; spent 460 leaves 40 -> 40.00 covered
    share = only_expense(rs.allocate(deal(expense("meal", "100.00", [
        {"spent_this_year": "460.00"}]))))
    assert (share.cap, share.covered, share.excess) == (D("40.00"), D("40.00"), D("60.00"))


# -- who bears the excess -----------------------------------------------------------------


@pytest.mark.parametrize(("excess", "bearer", "disallowed"), [
    ("payer", "beta", False), ("acme", "acme", False), ("beta", "beta", False),
    ("disallowed", "beta", True)])
def test_excess_bearer(engine: str, excess: str, bearer: str, disallowed: bool) -> None:
    rs = load(agreement(rule("account_owner"), sharing(excess=excess)), engine)
    # acme's meal cap 100: a 130.00 meal for one, paid by beta -> 100.00 covered, 30.00 excess
    share = only_expense(rs.allocate(deal(expense("meal", "130.00", 1, paid_by="beta"))))
    assert (share.covered, share.excess) == (D("100.00"), D("30.00"))
    assert (share.excess_bearer, share.disallowed) == (bearer, disallowed)
    assert parts(share) == {"acme": D("40.00"), "beta": D("60.00")}


def test_disallowed_without_excess_is_not_flagged(engine: str) -> None:
    rs = load(agreement(rule("account_owner"), sharing(excess="disallowed")), engine)
    share = only_expense(rs.allocate(deal(expense("meal", "90.00", 1, paid_by="beta"))))
    assert (share.covered, share.excess, share.disallowed) == (D("90.00"), D("0.00"), False)


# -- forbidden kinds ----------------------------------------------------------------------


def test_a_forbidden_kind_is_a_violation_not_shared(engine: str) -> None:
    rs = load(agreement(rule("account_owner")), engine)
    share = only_expense(rs.allocate(deal(expense("gift", "45.00", 1, paid_by="acme"),
                                          owner="beta")))
    assert share.violations == ("kind 'gift' is not allowed for any attendees under beta's "
                                "policy (rule p, clause 7.1)",)
    # not shared at all, not even as zero parts: all excess, with the payer
    assert share.parts == ()
    assert (share.cap, share.covered, share.excess) == (D("0.00"), D("0.00"), D("45.00"))
    assert (share.excess_bearer, share.disallowed) == ("acme", True)
    # the same gift is allowed by acme (cap 50): shared 40/60 -> 18.00 / 27.00
    ok = only_expense(rs.allocate(deal(expense("gift", "45.00", 1), owner="acme")))
    assert ok.violations == ()
    assert parts(ok) == {"acme": D("18.00"), "beta": D("27.00")}


def test_a_kind_forbidden_for_one_attendee_category(engine: str) -> None:
    rs = load(agreement(rule("account_owner")), engine)
    # acme forbids events for hcps: one hcp among three guests spoils the whole expense
    share = only_expense(rs.allocate(deal(expense("event", "300.00", [
        {"category": "hcp"}, {}, {}]))))
    assert share.violations == ("kind 'event' is not allowed for hcp attendees under acme's "
                                "policy (rule p, clause 7.1)",)
    assert (share.covered, share.excess, share.parts) == (D("0.00"), D("300.00"), ())


def test_a_kind_the_policy_does_not_list_is_forbidden(engine: str) -> None:
    rs = load(agreement(rule("stricter")), engine)
    # golf: beta unlimited, acme does not list it -> forbidden under the stricter of the two
    share = only_expense(rs.allocate(deal(expense("golf", "500.00", 2, paid_by="beta"))))
    assert share.violations == ("kind 'golf' is not allowed for any attendees under the "
                                "stricter of the policies (rule p, clause 7.1)",)
    assert share.excess_bearer == "beta"


def test_a_forbidden_expense_stays_with_the_payer_whatever_the_excess_rule(
        engine: str) -> None:
    rs = load(agreement(rule("account_owner"), sharing(excess="beta")), engine)
    # paid by acme, forbidden under beta's policy: beta would bear excess above a cap, but a
    # forbidden expense is not accepted at all, so acme (who paid) keeps it
    share = only_expense(rs.allocate(deal(expense("gift", "45.00", 1, paid_by="acme"),
                                          owner="beta")))
    assert (share.excess, share.excess_bearer, share.disallowed) == (D("45.00"), "acme", True)


# -- pre-approval -------------------------------------------------------------------------


def test_missing_preapproval_is_flagged_but_still_shared(engine: str) -> None:
    rs = load(agreement(rule("account_owner")), engine)
    # acme: pre-approval above 1000.00. An event of 1200.00 for four: 300 each, within 400
    share = only_expense(rs.allocate(deal(expense("event", "1200.00", 4, paid_by="beta"))))
    assert share.violations == ("needs pre-approval above 1000.00 under acme's policy (rule "
                                "p, clause 7.1), and none is recorded",)
    assert (share.covered, share.excess) == (D("1200.00"), D("0.00"))
    # 40/60 of 1200.00 = 480.00 / 720.00
    assert parts(share) == {"acme": D("480.00"), "beta": D("720.00")}
    approved = only_expense(rs.allocate(deal(expense("event", "1200.00", 4,
                                                     preapproved=True))))
    assert approved.violations == ()
    # "above": exactly the threshold needs none
    at_threshold = only_expense(rs.allocate(deal(expense("event", "1000.00", 4))))
    assert at_threshold.violations == ()


def test_preapproval_threshold_under_stricter(engine: str) -> None:
    rs = load(agreement(rule("stricter")), engine)
    # beta's 800.00 is the stricter threshold: 900.00 for three (300 each, event cap 400)
    share = only_expense(rs.allocate(deal(expense("event", "900.00", 3))))
    assert share.violations == ("needs pre-approval above 800.00 under the stricter of the "
                                "policies (rule p, clause 7.1), and none is recorded",)
    assert share.covered == D("900.00")


# -- sharing methods ----------------------------------------------------------------------


@pytest.mark.parametrize(("share_text", "expected"), [
    ("equal", {"acme": "50.00", "beta": "50.00"}),
    ("payer", {"beta": "100.00"}),
    ("{acme: 1/3, beta: 2/3}", {"acme": "33.33", "beta": "66.67"}),
])
def test_sharing_methods(engine: str, share_text: str, expected: dict[str, str]) -> None:
    rs = load(agreement(rule("account_owner"), sharing(share_text)), engine)
    # 100.00 covered (one guest, acme's meal cap 100), paid by beta:
    # equal 50/50; payer: all to beta; thirds of 10000 cents = 3333.33 / 6666.67 -> 3333 +
    # 6666 = 9999, the odd cent to beta (.67)
    share = only_expense(rs.allocate(deal(expense("meal", "100.00", 1, paid_by="beta"))))
    assert parts(share) == {p: D(v) for p, v in expected.items()}


def test_by_credit(engine: str) -> None:
    rs = load(agreement(rule("account_owner"), sharing("by_credit")), engine)
    a = rs.allocate(deal(expense("event", "333.33", 2)))
    share = only_expense(a)
    # 166.665 each, within acme's event cap 400 -> covered 333.33. Revenue credit is 30/70:
    # 33333 cents x 0.3 = 9999.9, x 0.7 = 23333.1 -> 9999 + 23333 = 33332, the odd cent to
    # acme (.9) -> 100.00 / 233.33
    assert share.method == "by_credit"
    assert parts(share) == {"acme": D("100.00"), "beta": D("233.33")}
    assert {p.partner: p.share for p in share.parts} == {"acme": F(3, 10), "beta": F(7, 10)}


def test_by_credit_is_refused_standalone(engine: str) -> None:
    rs = load(agreement(rule("account_owner"), sharing("by_credit")), engine)
    with pytest.raises(AllocationError, match="shares by credit, which needs a deal"):
        rs.share_expense(expense("event", "100.00", 2), {"account": {"owner": "acme"}})


def test_by_credit_is_refused_on_a_credit_note(engine: str) -> None:
    rs = load(agreement(rule("account_owner"), sharing("by_credit")), engine)
    with pytest.raises(AllocationError, match="credit is not positive"):
        rs.allocate(deal(expense("event", "100.00", 2), amount="-1000.00"))


# -- standalone ---------------------------------------------------------------------------


def test_share_expense_standalone(engine: str) -> None:
    rs = load(agreement(rule("account_owner")), engine)
    context = {"account": {"owner": "beta"}, "date": "2026-05-01"}
    # beta's meal cap 80: 200.00 for two, 100 each -> 160.00 covered, 40.00 excess (acme)
    # 40/60 of 160.00 = 64.00 / 96.00
    share = rs.share_expense(expense("meal", "200.00", 2), context)
    assert (share.policy.governs, share.policy.partner) == ("account_owner", "beta")
    assert (share.covered, share.excess, share.excess_bearer) == (D("160.00"), D("40.00"),
                                                                  "acme")
    assert parts(share) == {"acme": D("64.00"), "beta": D("96.00")}
    # an Expense value works the same; the date may come from the expense alone
    value = Expense.from_mapping(expense("meal", "200.00", 2))
    assert rs.share_expense(value, {"account": {"owner": "beta"}}) == share


def test_share_expense_needs_a_date(engine: str) -> None:
    rs = load(agreement(rule("account_owner")), engine)
    bare = expense("meal", "20.00", 1)
    del bare["date"]
    with pytest.raises(DealError) as info:
        rs.share_expense(bare, {"account": {"owner": "acme"}})
    assert info.value.code == "missing-field"


def test_cli_share(engine: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ruleset = tmp_path / "pol.yaml"
    ruleset.write_text(agreement(rule("account_owner")), encoding="utf-8")
    exp = tmp_path / "expense.json"
    exp.write_text(json.dumps(expense("meal", "200.00", 2)), encoding="utf-8")
    ctx = tmp_path / "context.json"
    ctx.write_text(json.dumps({"account": {"owner": "beta"}, "date": "2026-05-01"}),
                   encoding="utf-8")
    assert main(["share", str(ruleset), str(exp), "--context", str(ctx), "--json",
                 "--engine", engine]) == 0
    data = json.loads(capsys.readouterr().out)
    # as in test_share_expense_standalone
    assert (data["covered"], data["excess"], data["excess_bearer"]) == ("160.00", "40.00",
                                                                        "acme")
    assert [(p["partner"], p["amount"]) for p in data["parts"]] == [("acme", "64.00"),
                                                                    ("beta", "96.00")]
    assert main(["share", str(ruleset), str(exp), "--context", str(ctx),
                 "--engine", engine]) == 0
    text = capsys.readouterr().out
    assert "governed by the policy of Beta (beta), the account owner, by p (clause 7.1)\n" in text
    assert "  cap 160.00; covered 160.00" in text
    assert "excess 40.00 borne by Acme (acme)" in text


def test_cli_share_refuses_by_credit(engine: str, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    ruleset = tmp_path / "pol.yaml"
    ruleset.write_text(agreement(rule("account_owner"), sharing("by_credit")),
                       encoding="utf-8")
    exp = tmp_path / "expense.json"
    exp.write_text(json.dumps(expense("meal", "20.00", 1)), encoding="utf-8")
    ctx = tmp_path / "context.json"
    ctx.write_text(json.dumps({"account": {"owner": "beta"}}), encoding="utf-8")
    assert main(["share", str(ruleset), str(exp), "--context", str(ctx),
                 "--engine", engine]) == 2
    assert "needs a deal" in capsys.readouterr().err


# -- ambiguity and missing rules ----------------------------------------------------------


def test_two_policy_rules_that_disagree_are_ambiguous(engine: str) -> None:
    both = (rule("stricter", rid="hc", when='account.segment == "healthcare"')
            + rule("account_owner", rid="named", when="account.named"))
    rs = load(agreement(both), engine)
    with pytest.raises(AmbiguityError) as info:
        rs.allocate(deal(MIXED_MEAL, segment="healthcare", named=True))
    assert info.value.rules == ("hc", "named")
    assert "(stricter against account_owner)" in str(info.value)
    # either alone is fine
    assert entertainment(rs.allocate(deal(segment="healthcare"))).rule == "hc"
    # declaring the exception resolves it
    fixed = load(agreement(
        rule("stricter", rid="hc", when='account.segment == "healthcare"', overrides="named")
        + rule("account_owner", rid="named", when="account.named")), engine)
    a = fixed.allocate(deal(MIXED_MEAL, segment="healthcare", named=True))
    assert entertainment(a).rule == "hc"
    assert status(a, "policy:entertainment") == {"hc": "applied", "named": "overridden"}


def test_two_policy_rules_that_agree_are_not_ambiguous(engine: str) -> None:
    rs = load(agreement(rule("account_owner", rid="a1", when="account.named")
                        + rule("account_owner", rid="a2", when='account.segment == "x"')),
              engine)
    a = rs.allocate(deal(MIXED_MEAL, segment="x", named=True))
    assert entertainment(a).partner == "acme"


def test_two_expense_rules_that_disagree_are_ambiguous(engine: str) -> None:
    rules = (sharing("{acme: 50%, beta: 50%}", rid="meals", when='expense.kind == "meal"',
                     default=False)
             + sharing("payer", rid="big", when="expense.amount > 100", default=False))
    rs = load(agreement(rule("account_owner"), rules), engine)
    with pytest.raises(AmbiguityError) as info:
        rs.allocate(deal(expense("meal", "200.00", 2)))
    assert info.value.rules == ("big", "meals")
    assert "expense 'e1'" in str(info.value)
    # a small meal: only "meals" applies
    a = rs.allocate(deal(expense("meal", "80.00", 2)))
    assert only_expense(a).rule == "meals"
    assert status(a, "expense:e1") == {"meals": "applied", "big": "not-matched"}


def test_expense_rules_see_attendees(engine: str) -> None:
    rules = (sharing() + sharing("payer", rid="hcp", clause="8.2", default=False,
                                 when='count(attendees, category == "hcp") >= 1'))
    rs = load(agreement(rule("account_owner"), rules), engine)
    with_hcp = only_expense(rs.allocate(deal(expense("meal", "60.00", [{"category": "hcp"}]))))
    assert (with_hcp.rule, parts(with_hcp)) == ("hcp", {"acme": D("60.00")})
    without = only_expense(rs.allocate(deal(expense("meal", "60.00", [{}]))))
    assert (without.rule, parts(without)) == ("s", {"acme": D("24.00"), "beta": D("36.00")})


def test_no_applicable_policy_rule(engine: str) -> None:
    rs = load(agreement(rule("stricter", when='account.segment == "healthcare"')), engine)
    with pytest.raises(NoApplicableRuleError,
                       match="no policy precedence rule says whose entertainment policy "
                             "governs, and none is a default"):
        rs.allocate(deal(MIXED_MEAL, segment="retail"))
    # without expenses: no decision, and none implied
    assert rs.allocate(deal(segment="retail")).policies == ()


def test_no_applicable_expense_rule(engine: str) -> None:
    rs = load(agreement(rule("account_owner"),
                        sharing(when='expense.kind == "meal"', default=False)), engine)
    with pytest.raises(NoApplicableRuleError,
                       match="no expense sharing rule applies to expense 'e1'"):
        rs.allocate(deal(expense("gift", "20.00", 1)))


# -- bad expenses -------------------------------------------------------------------------


@pytest.mark.parametrize(("change", "field", "code", "text"), [
    ({"paid_by": "acmee"}, "expenses[0].paid_by", "unknown-partner", "did you mean 'acme'?"),
    ({"attendees": [{}, {"category": "hpc"}]}, "expenses[0].attendees[1].category",
     "unknown-category", "did you mean 'hcp'?"),
    ({"amount": "-10.00"}, "expenses[0].amount", "bad-field", "cannot be negative"),
    ({"amount": 10.5}, "expenses[0].amount", "float-amount", "is a float"),
    ({"amount": "10.005"}, "expenses[0].amount", "bad-amount", "not a whole number"),
    ({"attendees": 0}, "expenses[0].attendees", "missing-field", "at least one attendee"),
    ({"attendees": [{"spent_this_year": "-1.00"}]},
     "expenses[0].attendees[0].spent_this_year", "bad-field", "cannot be negative"),
])
def test_deal_errors(engine: str, change: dict[str, Any], field: str, code: str,
                     text: str) -> None:
    rs = load(agreement(rule("account_owner")), engine)
    bad = {**expense("meal", "10.00", 1), **change}
    with pytest.raises(DealError) as info:
        rs.allocate(deal(bad))
    assert (info.value.field, info.value.code) == (field, code)
    assert info.value.deal_id == "D1"
    assert text in str(info.value)


@pytest.mark.parametrize(("bad", "code"), [
    (Expense("e1", "meal", D("-10.00"), "acme", (Attendee(),)), "bad-field"),
    (Expense("e1", "meal", D("10.00"), "acme", ()), "missing-field"),
    (Expense("e1", "meal", D("10.00"), "acme", (Attendee(spent_this_year=D("-5")),)),
     "bad-field"),
])
def test_deal_errors_for_expenses_built_in_python(engine: str, bad: Expense,
                                                  code: str) -> None:
    rs = load(agreement(rule("account_owner")), engine)
    value = attrs.evolve(Deal.from_mapping(deal()), expenses=(bad,))
    with pytest.raises(DealError) as info:
        rs.allocate(value)
    assert info.value.code == code


# -- explanation --------------------------------------------------------------------------


def test_explain_names_policy_cap_excess_and_bearer(engine: str) -> None:
    rs = load(agreement(CONDITIONAL, sharing(excess="disallowed")), engine)
    text = rs.allocate(deal(MIXED_MEAL, segment="retail")).explain()
    # acme's policy (the owner), as above: cap 280.00, 120.00 excess, disallowed
    assert ("entertainment policy: the policy of Acme (acme), the account owner, by owner "
            "(clause 7.3)") in text
    assert ("expense e1: meal 400.00 USD paid by Acme (acme), 4 attendee(s)\n"
            "  governed by the policy of Acme (acme), the account owner, by owner "
            "(clause 7.3)\n"
            "  limits: meal 100.00 (from acme); meal.government 20.00 (from acme); "
            "meal.hcp 60.00 (from acme); preapproval_above 1000.00 (from acme); "
            "annual_cap_per_attendee 500.00 (from acme)\n"
            "  cap 280.00; covered 280.00, shared (split) by s (clause 8.1)\n"
            "    Acme (acme): 40% = 112.00\n"
            "    Beta (beta): 60% = 168.00\n"
            "  excess 120.00 borne by Acme (acme) (disallowed)\n") in text
    assert "[applied] owner (clause 7.3, policy:entertainment)" in text
    assert "[not-matched] healthcare (clause 7.2, policy:entertainment)" in text
    assert "[applied] s (clause 8.1, expense:e1)" in text

    stricter = rs.allocate(deal(expense("gift", "30.00", [{"category": "government"}]),
                                segment="healthcare")).explain()
    assert "the stricter of the partners' policies, limit by limit, by healthcare " \
        "(clause 7.2)" in stricter
    assert "VIOLATION: kind 'gift' is not allowed for government attendees under the " \
        "stricter of the policies (rule healthcare, clause 7.2)" in stricter
    assert "excess 30.00 borne by Acme (acme) (disallowed)" in stricter


# -- properties ---------------------------------------------------------------------------

PROPERTY_RULESET = agreement(rule("stricter"), sharing("{acme: 1/3, beta: 2/3}"))

# The stricter caps of the two policies, worked out by hand (see POLICIES):
# kind -> category -> cap (None: unlimited; "forbidden")
STRICTER_CAPS: dict[str, dict[str | None, Decimal | str | None]] = {
    "meal": {None: D("80.00"), "hcp": D("60.00"), "government": D("20.00")},
    "event": {None: D("400.00"), "hcp": "forbidden", "government": D("400.00")},
    "reception": {None: None, "hcp": None, "government": None},
}
ANNUAL = D("500.00")

attendee_st = st.fixed_dictionaries(
    {"category": st.sampled_from([None, "hcp", "government"])},
    optional={"spent_this_year": st.integers(0, 60_000).map(lambda c: str(D(c) / 100))})


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(cents=st.integers(0, 10**9), kind=st.sampled_from(sorted(STRICTER_CAPS)),
       attendees=st.lists(attendee_st, min_size=1, max_size=8), data=st.data())
def test_property_shares_conserve_the_cent(engine: str, cents: int, kind: str,
                                           attendees: list[dict[str, Any]],
                                           data: st.DataObject) -> None:
    rs = load(PROPERTY_RULESET, engine)
    amount = D(cents) / 100
    attendees = [{k: v for k, v in a.items() if v is not None} for a in attendees]
    item = expense(kind, str(amount.quantize(D("0.01"))), attendees)
    share = only_expense(rs.allocate(deal(item)))

    # the exact expectation, independently: each attendee's cap (category, annual room)
    per = Fraction(cents, 100) / len(attendees)
    covered = Fraction(0)
    forbidden = False
    for a in attendees:
        cap = STRICTER_CAPS[kind][a.get("category")]
        if cap == "forbidden":
            forbidden = True
            continue
        room = max(ANNUAL - D(a.get("spent_this_year", "0")), D(0))
        cap = room if cap is None else min(D(cap), room)
        covered += min(per, Fraction(cap))
    expected_covered = D(0) if forbidden else D(math.floor(covered * 100)) / 100
    assert share.covered == expected_covered
    assert share.covered + share.excess == amount  # exactly
    assert share.excess >= 0
    if share.cap is not None:
        assert share.covered <= share.cap
    if forbidden:
        assert share.parts == ()
        assert share.violations
    else:
        assert sum((p.amount for p in share.parts), D(0)) == share.covered
        for p in share.parts:
            exact = Fraction(share.covered) * p.share
            assert abs(Fraction(p.amount) - exact) < Fraction(1, 100), (p, exact)
    # the same result whatever the order of the attendees
    shuffled = data.draw(st.permutations(attendees))
    again = only_expense(rs.allocate(deal({**item, "attendees": shuffled})))
    assert again.to_dict() == share.to_dict()


def test_explain_names_the_source_of_each_limit_under_stricter(engine: str) -> None:
    """Under 'stricter' the explanation says which partner's policy set each limit."""
    rs = load(agreement(CONDITIONAL, sharing()), engine)
    text = rs.allocate(deal(MIXED_MEAL, segment="healthcare")).explain()
    line = next(x for x in text.splitlines() if x.startswith("  limits: "))
    assert "(from beta)" in line
    assert "(from acme)" in line
