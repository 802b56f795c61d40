"""Allocating deals: outcomes, precedence, dates, exact rounding, determinism, engines."""

from __future__ import annotations

import json
import random
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import creditrules
from creditrules import AmbiguityError, DealError, NoApplicableRuleError

RULESET = """\
ruleset: test-alliance
version: "1"
effective: {from: 2026-01-01, to: 2027-12-31}
currency: USD
partners:
  acme: {name: Acme}
  beta: {name: Beta}
attributes:
  tier: number
contribution:
  weights: {call: 1, joint_call: 2, presentation: 3, lead_sourced: 5}
  normalise: {acme: 0.25}
rep_credit: equal
credit:
  - id: base
    clause: "4.1"
    text: By contribution.
    default: true
    split: by_contribution
  - id: named
    clause: "4.2(a)"
    when: account.named and account.owner == "acme"
    split: {acme: 70%, beta: 30%}
  - id: sourced
    clause: "4.2(b)"
    overrides: [named]
    when: lead.source == "beta"
    split: {acme: 50%, beta: 50%}
  - id: big
    clause: "4.2(c)"
    overrides: [sourced]
    when: amount >= 100000
    split: {acme: 40%, beta: 60%}
  - id: joint
    clause: "4.3"
    when: count(activities, kind == "joint_call") >= 1
    overlay: {acme: 100%, beta: 100%}
  - id: promo
    clause: "4.5"
    effective: {from: 2026-07-01, to: 2026-09-30}
    when: attributes.tier >= 2
    overrides: [base]
    split: {acme: 25%, beta: 75%}
"""


def deal(**fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"id": "D1", "date": "2026-03-02", "amount": "1000.00",
                            "currency": "USD"}
    data.update(fields)
    return data


@pytest.fixture
def ruleset(engine: str) -> creditrules.Ruleset:
    return creditrules.loads(RULESET, source="rulesets/test.yaml", engine=engine)


def shares(allocation: creditrules.Allocation, type_name: str = "revenue") -> dict[str, Fraction]:
    credit = allocation.credit(type_name)
    assert credit is not None
    return {p.partner: p.share for p in credit.partners}


def amounts(allocation: creditrules.Allocation, type_name: str = "revenue") -> dict[str, str]:
    credit = allocation.credit(type_name)
    assert credit is not None
    return {p.partner: str(p.amount) for p in credit.partners}


def status(allocation: creditrules.Allocation) -> dict[str, str]:
    return {v.rule: v.status for v in allocation.verdicts}


def test_fixed_split_applies_with_its_clause(ruleset: creditrules.Ruleset) -> None:
    """4.2(a): a named Acme account is split 70/30, to the cent."""
    a = ruleset.allocate(deal(account={"owner": "acme", "named": True}))
    assert shares(a) == {"acme": Fraction(7, 10), "beta": Fraction(3, 10)}
    assert amounts(a) == {"acme": "700.00", "beta": "300.00"}
    credit = a.credit("revenue")
    assert credit is not None
    assert credit.rules == ("named",)
    assert credit.clauses == ("4.2(a)",)
    assert status(a)["base"] == "overridden"
    assert a.credit("overlay") is None  # no joint call: the optional overlay type is absent


def test_exception_overrides_general_rule(ruleset: creditrules.Ruleset) -> None:
    """4.2(b) is an exception to 4.2(a): both match, the exception prevails."""
    a = ruleset.allocate(deal(account={"owner": "acme", "named": True},
                              lead={"source": "beta"}))
    assert shares(a) == {"acme": Fraction(1, 2), "beta": Fraction(1, 2)}
    named = next(v for v in a.verdicts if v.rule == "named")
    assert (named.status, named.by) == ("overridden", ("sourced",))


def test_exception_to_exception_beats_the_general_rule(ruleset: creditrules.Ruleset) -> None:
    """big overrides sourced, which overrides named: big prevails over named as well."""
    a = ruleset.allocate(deal(amount="200000.00", account={"owner": "acme", "named": True}))
    assert shares(a) == {"acme": Fraction(2, 5), "beta": Fraction(3, 5)}
    assert status(a)["named"] == "overridden"


def test_disagreeing_rules_without_precedence_are_ambiguous(engine: str) -> None:
    """named and promo both apply in the promotion window, nothing orders them: an error
    naming both rules and clauses, never a silent pick."""
    rs = creditrules.loads(RULESET, engine=engine)
    with pytest.raises(AmbiguityError) as info:
        rs.allocate(deal(date="2026-08-01", account={"owner": "acme", "named": True},
                         attributes={"tier": 3}))
    assert set(info.value.rules) == {"named", "promo"}
    assert "named (clause 4.2(a))" in str(info.value)
    assert "promo (clause 4.5)" in str(info.value)
    assert "deal 'D1'" in str(info.value)


def test_declared_precedence_resolves_ambiguity(engine: str) -> None:
    """A precedence list orders rules that do not override each other."""
    text = RULESET + "precedence:\n  revenue: [big, promo, sourced, named]\n"
    rs = creditrules.loads(text, engine=engine)
    a = rs.allocate(deal(date="2026-08-01", account={"owner": "acme", "named": True},
                         attributes={"tier": 3}))
    assert shares(a) == {"acme": Fraction(1, 4), "beta": Fraction(3, 4)}


def test_rules_that_agree_are_not_ambiguous(engine: str) -> None:
    """Two unordered rules giving the same shares both apply; no error."""
    text = RULESET.replace("split: {acme: 25%, beta: 75%}", "split: {acme: 70%, beta: 30%}")
    rs = creditrules.loads(text, engine=engine)
    a = rs.allocate(deal(date="2026-08-01", account={"owner": "acme", "named": True},
                         attributes={"tier": 3}))
    credit = a.credit("revenue")
    assert credit is not None
    assert credit.rules == ("named", "promo")
    assert shares(a)["acme"] == Fraction(7, 10)


def test_no_rule_and_no_default_is_an_error(engine: str) -> None:
    text = RULESET.replace("    default: true\n    split: by_contribution",
                           "    when: account.segment == \"never\"\n    split: by_contribution")
    rs = creditrules.loads(text, engine=engine)
    with pytest.raises(NoApplicableRuleError, match="no revenue credit rule applies"):
        rs.allocate(deal())


def test_by_contribution_normalises_partner_cultures(ruleset: creditrules.Ruleset) -> None:
    """8 Acme calls at 0.25 each weigh as much as 2 Beta calls: 2 points each -> 50/50."""
    acts = [{"kind": "call", "rep": "a1"}] * 8 + [{"kind": "call", "rep": "b1"}] * 2
    a = ruleset.allocate(deal(reps=[{"id": "a1", "partner": "acme"},
                                    {"id": "b1", "partner": "beta"}], activities=acts))
    assert shares(a) == {"acme": Fraction(1, 2), "beta": Fraction(1, 2)}


def test_by_contribution_weights_and_lead(ruleset: creditrules.Ruleset) -> None:
    """Acme: joint call 2*0.25 + presentation 3*0.25 = 1.25; Beta: joint call 2 + its
    sourced lead 5 = 7. Acme 1.25/8.25 = 5/33 of 1000.00 = 151.5151.. -> 151.52;
    Beta 28/33 = 848.4848.. -> 848.48 (sum 1000.00)."""
    a = ruleset.allocate(deal(
        reps=[{"id": "a1", "partner": "acme"}, {"id": "b1", "partner": "beta"}],
        lead={"source": "beta", "rep": "b1"},
        activities=[{"kind": "joint_call", "reps": ["a1", "b1"]},
                    {"kind": "presentation", "rep": "a1"},
                    {"kind": "reminder", "rep": "a1"}]))
    # lead.source == beta also triggers 'sourced' (50/50): check the by-contribution part
    # through a ruleset without it.
    assert status(a)["sourced"] == "applied"
    rs = creditrules.loads(RULESET.replace('lead.source == "beta"', 'lead.source == "acme"'),
                           engine=ruleset.engine)
    b = rs.allocate(deal(
        reps=[{"id": "a1", "partner": "acme"}, {"id": "b1", "partner": "beta"}],
        lead={"source": "beta", "rep": "b1"},
        activities=[{"kind": "joint_call", "reps": ["a1", "b1"]},
                    {"kind": "presentation", "rep": "a1"},
                    {"kind": "reminder", "rep": "a1"}]))
    assert shares(b) == {"acme": Fraction(5, 33), "beta": Fraction(28, 33)}
    assert amounts(b) == {"acme": "151.52", "beta": "848.48"}
    overlay = b.credit("overlay")
    assert overlay is not None
    assert (overlay.total, overlay.declared, str(overlay.amount)) == (2, True, "2000.00")


def test_no_contribution_falls_back_to_equal(ruleset: creditrules.Ruleset) -> None:
    a = ruleset.allocate(deal(amount="0.01"))
    assert shares(a) == {"acme": Fraction(1, 2), "beta": Fraction(1, 2)}
    assert sorted(amounts(a).values()) == ["0.00", "0.01"]
    credit = a.credit("revenue")
    assert credit is not None
    assert "shared equally" in credit.note


def test_rep_credit_modes(engine: str) -> None:
    reps = [{"id": "a1", "partner": "acme"}, {"id": "a2", "partner": "acme", "owner": True},
            {"id": "b1", "partner": "beta", "owner": True}]
    acts = [{"kind": "call", "rep": "a1"}, {"kind": "presentation", "rep": "a2"}]
    d = deal(reps=reps, activities=acts, account={"owner": "acme", "named": True})
    # equal: acme's 700.00 split between a1 and a2
    a = creditrules.loads(RULESET, engine=engine).allocate(d)
    credit = a.credit("revenue")
    assert credit is not None
    acme = credit.partners[0]
    assert [(r.rep, str(r.amount)) for r in acme.reps] == [("a1", "350.00"), ("a2", "350.00")]
    # by contribution: a1 1 point, a2 3 points (weights are not normalised within a partner)
    a = creditrules.loads(RULESET.replace("rep_credit: equal", "rep_credit: by_contribution"),
                          engine=engine).allocate(d)
    credit = a.credit("revenue")
    assert credit is not None
    assert [(r.rep, str(r.amount)) for r in credit.partners[0].reps] == [
        ("a1", "175.00"), ("a2", "525.00")]
    # owner: all of acme's credit to a2
    owner_rs = creditrules.loads(RULESET.replace("rep_credit: equal", "rep_credit: owner"),
                                 engine=engine)
    credit = owner_rs.allocate(d).credit("revenue")
    assert credit is not None
    assert [(r.rep, str(r.amount)) for r in credit.partners[0].reps] == [("a2", "700.00")]
    with pytest.raises(DealError, match="none is marked owner"):
        owner_rs.allocate(deal(reps=[{"id": "a1", "partner": "acme"}],
                               account={"owner": "acme", "named": True}))


def test_rule_effective_dates(ruleset: creditrules.Ruleset) -> None:
    """promo is in force from 2026-07-01 to 2026-09-30 only."""
    tier = {"tier": 2}
    inside = ruleset.allocate(deal(date="2026-07-01", attributes=tier))
    assert shares(inside) == {"acme": Fraction(1, 4), "beta": Fraction(3, 4)}
    after = ruleset.allocate(deal(date="2026-10-01", attributes=tier))
    assert status(after)["promo"] == "not-in-force"
    assert status(after)["base"] == "applied"


def test_deal_outside_the_agreement_is_refused(ruleset: creditrules.Ruleset) -> None:
    with pytest.raises(DealError) as info:
        ruleset.allocate(deal(date="2028-01-01"))
    assert info.value.code == "outside-agreement"
    assert info.value.field == "date"


def test_bad_deal_fields_are_named(ruleset: creditrules.Ruleset) -> None:
    with pytest.raises(DealError) as info:
        ruleset.allocate(deal(account={"owner": "acmee"}))
    assert str(info.value) == ("deal 'D1', field 'account.owner': unknown partner 'acmee' "
                               "(known: acme, beta); did you mean 'acme'?")
    with pytest.raises(DealError) as info:
        ruleset.allocate(deal(amount=1000.5))
    assert info.value.code == "float-amount"
    with pytest.raises(DealError) as info:
        ruleset.allocate(deal(amount="10.005"))
    assert info.value.code == "bad-amount"
    with pytest.raises(DealError) as info:
        ruleset.allocate(deal(currency="EUR"))
    assert info.value.code == "currency"
    with pytest.raises(DealError) as info:
        ruleset.allocate(deal(attributes={"tier": "high"}))
    assert info.value.field == "attributes.tier"


def test_explanation_says_which_part_was_false(ruleset: creditrules.Ruleset) -> None:
    a = ruleset.allocate(deal(account={"owner": "beta", "named": True}))
    named = next(v for v in a.verdicts if v.rule == "named")
    assert named.status == "not-matched"
    assert named.reasons == ('account.owner == "acme" is false: account.owner is "beta"',)
    text = a.explain()
    assert "[not-matched] named (clause 4.2(a), revenue)" in text
    assert a.to_dict()["ruleset"] == {"id": "test-alliance", "version": "1",
                                      "hash": ruleset.content_hash}


def test_refund_mirrors_sale(ruleset: creditrules.Ruleset) -> None:
    """A full credit note nets every partner and rep to zero."""
    reps = [{"id": "a1", "partner": "acme"}, {"id": "b1", "partner": "beta"},
            {"id": "b2", "partner": "beta"}]
    sale = ruleset.allocate(deal(amount="100.01", reps=reps,
                                 activities=[{"kind": "joint_call", "reps": ["a1", "b1"]}]))
    refund = ruleset.allocate(deal(amount="-100.01", reps=reps,
                                   activities=[{"kind": "joint_call", "reps": ["a1", "b1"]}]))
    for s, r in zip(sale.credits, refund.credits, strict=True):
        for sp, rp in zip(s.partners, r.partners, strict=True):
            assert sp.amount + rp.amount == 0
            assert [x.amount + y.amount for x, y in zip(sp.reps, rp.reps, strict=True)] == \
                [0] * len(sp.reps)


amounts_st = st.integers(min_value=-10**12, max_value=10**12).map(
    lambda cents: str(Decimal(cents).scaleb(-2)))
kinds = st.sampled_from(["call", "joint_call", "presentation", "reminder"])
rep_ids = st.sampled_from(["a1", "a2", "b1", "b2"])
activity = st.builds(lambda k, r: {"kind": k, "rep": r}, kinds, rep_ids)
REPS = [{"id": "a1", "partner": "acme"}, {"id": "a2", "partner": "acme"},
        {"id": "b1", "partner": "beta"}, {"id": "b2", "partner": "beta"}]
deals = st.builds(
    lambda amount, acts, owner, named, source, tier, month: deal(
        amount=amount, reps=REPS, activities=acts,
        account={"owner": owner, "named": named},
        lead={"source": source} if source else {},
        attributes={"tier": tier} if tier is not None else {},
        date=f"2026-{month:02d}-15"),
    amounts_st, st.lists(activity, max_size=8), st.sampled_from(["acme", "beta"]),
    st.booleans(), st.sampled_from([None, "acme", "beta"]),
    st.one_of(st.none(), st.integers(0, 3)), st.integers(1, 12))
REFERENCE = creditrules.loads(RULESET + "precedence:\n  revenue: [big, promo, sourced, named]\n",
                              engine="reference")


@given(deals)
def test_cents_are_conserved_and_within_one_unit(d: dict[str, Any]) -> None:
    """Every type's amounts add up to amount x total exactly; every partner and rep is
    within one cent of its exact share; reps add up to their partner."""
    a = REFERENCE.allocate(d)
    amount = Decimal(d["amount"])
    cent = Decimal("0.01")
    for credit in a.credits:
        assert sum(p.amount for p in credit.partners) == credit.amount
        if credit.total == 1:
            assert credit.amount == amount
        for p in credit.partners:
            exact = Fraction(amount) * p.share
            assert abs(Fraction(p.amount) - exact) < Fraction(cent)
            if p.reps:
                assert sum(r.amount for r in p.reps) == p.amount
                for r in p.reps:
                    assert abs(Fraction(r.amount) - Fraction(amount) * r.share) < \
                        Fraction(cent)
        assert sum(p.share for p in credit.partners) == credit.total


@given(deals, st.randoms(use_true_random=False))
def test_output_does_not_depend_on_input_order(d: dict[str, Any], rnd: random.Random) -> None:
    """Shuffling activities, reps and mapping keys gives byte-identical output."""
    first = json.dumps(REFERENCE.allocate(d).to_dict(), sort_keys=True)
    shuffled = dict(reversed(list(d.items())))
    shuffled["activities"] = rnd.sample(d["activities"], len(d["activities"]))
    shuffled["reps"] = rnd.sample(d["reps"], len(d["reps"]))
    assert json.dumps(REFERENCE.allocate(shuffled).to_dict(), sort_keys=True) == first


def test_rule_order_in_the_file_does_not_matter() -> None:
    """Reversing the rules in the file gives the same hash and the same output."""
    head, rules = RULESET.split("credit:\n")
    blocks = ["  - id:" + b for b in rules.split("  - id:")[1:]]
    reordered = head + "credit:\n" + "".join(reversed(blocks))
    a = creditrules.loads(reordered, engine="reference")
    assert a.content_hash == creditrules.loads(RULESET, engine="reference").content_hash
    d = deal(account={"owner": "acme", "named": True}, lead={"source": "beta"})
    assert a.allocate(d).to_dict() == creditrules.loads(RULESET, engine="reference") \
        .allocate(d).to_dict()


@given(deals)
def test_engines_agree(d: dict[str, Any]) -> None:
    """durable_rules and the reference evaluator give identical allocations."""
    from creditrules.engine import _durable

    if not _durable.available():
        pytest.skip("durable_rules is not installed here")
    assert DURABLE is not None
    assert DURABLE.allocate(d).to_dict() == REFERENCE.allocate(d).to_dict()


def _durable_ruleset() -> creditrules.Ruleset | None:
    from creditrules.engine import _durable

    if not _durable.available():
        return None
    return creditrules.loads(RULESET + "precedence:\n  revenue: [big, promo, sourced, named]\n",
                             engine="durable")


DURABLE = _durable_ruleset()


AMEND_BASE = """\
ruleset: amend-test
version: "1"
title: Base agreement
effective: {from: 2026-01-01, to: 2028-12-31}
currency: USD
partners: {acme: {name: Acme}, beta: {name: Beta}}
credit_types:
  revenue: {total: 100%}
  overlay: {total: declared, required: false}
precedence:
  overlay: [big-overlay, small-overlay]
credit:
  - {id: base, clause: "1", default: true, split: equal}
  - {id: named, clause: "2", when: account.named, split: {acme: 70%, beta: 30%}}
  - {id: sourced, clause: "3", overrides: [named], when: lead.source == "beta",
     split: {acme: 40%, beta: 60%}}
  - {id: big-overlay, clause: "4", when: amount >= 1000, overlay: {acme: 100%, beta: 100%}}
  - {id: small-overlay, clause: "5", when: amount >= 1, overlay: {acme: 100%}}
"""
AMENDMENT = """\
amends: base.yaml
version: "2"
title: Amendment No. 1
effective: {from: 2027-01-01}
precedence:
  overlay: [small-overlay, big-overlay]
credit:
  - {id: sourced, clause: "3 as amended", when: lead.source == "beta",
     split: {acme: 45%, beta: 55%}}
"""


def test_amendment_replaces_rules_and_precedence_from_its_date(tmp_path: Any,
                                                               engine: str) -> None:
    """The amended 4.3 no longer overrides 'named' (ambiguity from 2027); the amendment's
    overlay order holds from 2027 only; the title and version are the amendment's."""
    (tmp_path / "base.yaml").write_text(AMEND_BASE)
    (tmp_path / "amend.yaml").write_text(AMENDMENT)
    rs = creditrules.load(tmp_path / "amend.yaml", engine=engine)
    assert (rs.title, rs.version, rs.versions) == ("Amendment No. 1", "2", ("1", "2"))
    d = deal(amount="2000.00", account={"named": True}, lead={"source": "beta"})
    before = rs.allocate({**d, "date": "2026-12-31"})
    assert shares(before) == {"acme": Fraction(2, 5), "beta": Fraction(3, 5)}
    overlay = before.credit("overlay")
    assert overlay is not None
    assert overlay.rules == ("big-overlay",)
    with pytest.raises(AmbiguityError) as info:
        rs.allocate({**d, "date": "2027-01-01"})
    assert set(info.value.rules) == {"named", "sourced"}
    after = rs.allocate({**d, "date": "2027-01-01", "account": {"named": False}})
    assert shares(after) == {"acme": Fraction(9, 20), "beta": Fraction(11, 20)}
    sourced = next(v for v in after.verdicts if v.rule == "sourced" and v.status == "applied")
    assert (sourced.version, sourced.clause) == ("2", "3 as amended")
    overlay = after.credit("overlay")
    assert overlay is not None
    assert overlay.rules == ("small-overlay",)


def test_amendment_may_reverse_an_order_without_a_cycle_error(tmp_path: Any) -> None:
    """Base and amendment orders are never in force together, so no cycle is reported;
    retiring a rule that already ended is reported as such."""
    (tmp_path / "base.yaml").write_text(AMEND_BASE)
    (tmp_path / "amend.yaml").write_text(AMENDMENT + "retire: [gone]\n")
    with pytest.raises(creditrules.RulesetError) as info:
        creditrules.load(tmp_path / "amend.yaml", engine="reference")
    assert info.value.codes == ["unknown-rule"]
    assert "unknown rule 'gone'" in str(info.value)


def test_amendment_extending_the_term_extends_open_ended_rules(tmp_path: Any) -> None:
    """Base rules without their own end run to the agreement's end, wherever an amendment
    puts it: a deal in the extended term is still decided (here by the default rule)."""
    (tmp_path / "base.yaml").write_text(AMEND_BASE)
    (tmp_path / "amend.yaml").write_text(
        'amends: base.yaml\nversion: "2"\neffective: {from: 2028-06-01, to: 2029-12-31}\n')
    rs = creditrules.load(tmp_path / "amend.yaml", engine="reference")
    a = rs.allocate(deal(date="2029-03-01", account={"named": True}))
    assert shares(a) == {"acme": Fraction(7, 10), "beta": Fraction(3, 10)}
    with pytest.raises(DealError, match="outside the agreement"):
        rs.allocate(deal(date="2030-01-01"))


def test_deal_built_in_python_with_a_non_decimal_amount_is_refused(
        ruleset: creditrules.Ruleset) -> None:
    d = creditrules.Deal.from_mapping(deal())
    import attrs

    with pytest.raises(DealError, match="amount must be a finite Decimal, got 100"):
        ruleset.allocate(attrs.evolve(d, amount=100))


def test_amount_is_written_in_currency_units(ruleset: creditrules.Ruleset) -> None:
    assert ruleset.allocate(deal(amount="300000")).to_dict()["amount"] == "300000.00"
