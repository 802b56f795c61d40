"""The fairness axioms added for issue 13, the deterministic boundary examples, seed deals,
and the misses of the bundled agreements a careless or self-interested drafter could plant.

Each unfair ruleset (tests/unfair/*.yaml) breaks one axiom; the expected counterexample is
the minimal one worked out by hand, and the comment above each test says why it is the
smallest. The planted misses are checked under the CI settings on several seeds: they are
caught by the deterministic boundary examples, not by luck.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import creditrules
import creditrules.fairness as F
from creditrules.fairness import check_fairness
from creditrules.fairness.strategies import count_bounds, one_more_at_bounds, space

ROOT = Path(__file__).resolve().parent.parent
RULESETS = ROOT / "rulesets"
UNFAIR = Path(__file__).resolve().parent / "unfair"
SEEDS = (0, 1, 2)


def minimal(**fields: Any) -> dict[str, Any]:
    """The smallest deal of an unfair ruleset: its first day, one cent, and ``fields``."""
    return {"id": "X-1", "date": "2026-01-01", "amount": "0.01", "currency": "USD", **fields}


def check(path: Path, name: str, n: int = 20) -> F.InvariantResult:
    return check_fairness(path, invariants=[name], max_examples=n, seed=0).result(name)


def detail(partner: str, kind: str = "detail") -> dict[str, str]:
    return {"kind": kind, "partner": partner}


# -- the new axioms, each against its unfair ruleset ---------------------------------------


def test_resource_monotonicity_catches_a_step_down_tier() -> None:
    # Beta is credited 60% below 1,000,000.00 and 55% from it: the smallest increase that
    # lowers its credit is one cent, from 999,999.99 (60% = 599,999.994) to 1,000,000.00
    # (55% = 550,000). Below the threshold no larger amount lowers anyone's credit.
    result = check(UNFAIR / "step-down.yaml", "resource-monotonicity")
    assert result.status == "violated"
    assert not result.hard
    cx = result.counterexample
    assert cx is not None
    assert cx.deal == {**minimal(), "amount": "999999.99"}
    assert cx.related == (("larger", {**minimal(), "amount": "1000000.00"}),)
    assert cx.message == (
        "raising the amount from 999999.99 to 1000000.00 lowers beta's "
        "revenue credit from 599999.994 (60%) to 550000 (55%)"
    )
    assert cx.rules == (("base", "1"), ("large", "2"))


def test_additivity_catches_a_threshold_on_the_whole_deal() -> None:
    # 1,000,000.00 as a whole: Acme 45% = 450,000. As 0.01 + 999,999.99, both under the
    # threshold: Acme 40% of each = 400,000. The smallest whole deal that crosses it is the
    # threshold itself, and the smallest first part one cent.
    result = check(UNFAIR / "step-down.yaml", "additivity")
    assert result.status == "violated"
    cx = result.counterexample
    assert cx is not None
    assert cx.deal == {**minimal(), "amount": "1000000.00"}
    assert cx.related == (("part 1", minimal()), ("part 2", {**minimal(), "amount": "999999.99"}))
    assert cx.message == (
        "acme's revenue credit is 450000 on the whole deal of 1000000.00 "
        "but 400000 over its parts 0.01 and 999999.99"
    )


def test_irrelevant_participants_catches_credit_for_team_size() -> None:
    # Two Beta reps give Beta 70%: the smallest deal has one Beta rep (no activity at all),
    # and the idle second rep moves Acme from 50% to 30%.
    result = check(UNFAIR / "team-size.yaml", "irrelevant-participants")
    assert result.status == "violated"
    cx = result.counterexample
    assert cx is not None
    one = [{"id": "beta-1", "partner": "beta"}]
    assert cx.deal == minimal(reps=one)
    assert cx.related == (
        ("with an idle beta rep", minimal(reps=[*one, {"id": "beta-2", "partner": "beta"}])),
    )
    assert cx.message == "adding an idle beta rep changes acme's revenue share from 50% to 30%"


def test_population_monotonicity_catches_work_that_costs_another_partner() -> None:
    # From Acme's third activity the deal is 80/20. Beta needs a share to lose: one detail
    # (with two Acme details, 1/3 by contribution); Acme's third detail drops it to 20%,
    # not by proportion (that would be 1/4) but by the threshold.
    result = check(UNFAIR / "acme-push.yaml", "population-monotonicity")
    assert result.status == "violated"
    cx = result.counterexample
    assert cx is not None
    acts = [detail("beta"), detail("acme"), detail("acme")]
    assert cx.deal == minimal(activities=acts)
    assert cx.related == (("with one more activity", minimal(activities=[*acts, detail("acme")])),)
    assert cx.message == (
        "one more detail by acme lowers beta's revenue credit from 100/3% "
        "to 20%, though beta took no part in it"
    )


def test_volume_neutrality_catches_a_count_threshold() -> None:
    # Four activities or more: 50/50. Two Acme details (Acme 100%) recorded twice are four:
    # 50%. One activity is never enough (three times one is three), and with one detail
    # each the split is 50/50 either way.
    result = check(UNFAIR / "busy-deal.yaml", "volume-neutrality")
    assert result.status == "violated"
    cx = result.counterexample
    assert cx is not None
    assert cx.deal == minimal(activities=[detail("acme")] * 2)
    assert cx.related == (("every activity x 2", minimal(activities=[detail("acme")] * 4)),)
    assert cx.message == (
        "recording every activity 2 times changes acme's revenue share from 100% to 50%"
    )


def test_tie_break_drift_flags_a_fixed_priority_and_reports_the_counts() -> None:
    # 600 sales of 1.01, 1.03, ... split 50/50: every one leaves an odd cent to the
    # tie-break, and the fixed order [acme, beta] gives it to Acme each time; even would be
    # 300. The first such sale is Q-0001, 1.01, on the first day.
    result = check(UNFAIR / "fixed-tie-break.yaml", "tie-break-drift")
    assert result.status == "violated"
    assert result.tried == 600
    cx = result.counterexample
    assert cx is not None
    assert cx.message == (
        "acme took the odd cent in 600 of 600 ties over a quarter; an even share is about 300.0"
    )
    assert cx.deal == {"id": "Q-0001", "date": "2026-01-01", "amount": "1.01", "currency": "USD"}
    assert result.info == (
        "600 sales from 2026-01-01 to 2026-04-01: acme took the odd cent "
        "in 600 of 600 ties (even share 300.0), beta took the odd cent in "
        "0 of 600 ties (even share 300.0)",
    )
    # The hashed tie-break (the default) spreads them: reported, not flagged.
    text = (UNFAIR / "fixed-tie-break.yaml").read_text(encoding="utf-8")
    hashed = creditrules.loads(text.replace("tie_break: [acme, beta]", "tie_break: hashed"))
    fair = check_fairness(hashed, invariants=["tie-break-drift"], max_examples=5, seed=0).result(
        "tie-break-drift"
    )
    assert fair.status == "held"
    assert "acme took the odd cent in" in fair.info[0]


def test_every_distinct_finding_is_reported() -> None:
    # Two penalties, one per partner: both are reported, not only the first.
    text = (UNFAIR / "volume-penalty.yaml").read_text(encoding="utf-8") + (
        '  - id: acme-volume\n    clause: "3"\n'
        '    when: count(activities, partner == "acme") >= 3\n'
        "    overrides: [effort, beta-volume]\n    split: {acme: 40%, beta: 60%}\n"
    )
    result = check_fairness(
        creditrules.loads(text), invariants=["monotonicity"], max_examples=20, seed=0
    ).result("monotonicity")
    assert result.status == "violated"
    hurt = {cx.message.split(" lowers ")[1].split("'s")[0] for cx in result.findings}
    assert hurt == {"acme", "beta"}
    assert result.counterexample == result.findings[0]


# -- boundaries: deterministic, on both sides of every threshold ----------------------------


def test_the_kicker_written_as_an_upper_bound_is_caught_on_every_seed() -> None:
    # count(activities, kind == "joint_call") < 3 pays the overlay: the third joint call
    # takes it away. Two joint calls, then one more, whatever the seed.
    for seed in SEEDS:
        result = check_fairness(
            UNFAIR / "joint-call-kicker.yaml", invariants=["monotonicity"], profile="ci", seed=seed
        ).result("monotonicity")
        assert result.status == "violated", seed
        cx = result.counterexample
        assert cx is not None
        two = [detail("acme", "joint_call")] * 2
        assert cx.deal == minimal(activities=two)
        assert cx.message == (
            "one more joint_call by acme lowers acme's overlay credit from 100% to 0%"
        )


def test_boundary_deals_try_each_threshold_one_below_at_and_one_above() -> None:
    ruleset = creditrules.load(UNFAIR / "signed-threshold.yaml")
    amounts = {d["amount"] for d in space(ruleset).boundary_deals()}
    # amount >= 1000: a cent and a dollar on each side, and the threshold itself.
    assert {"999.00", "999.99", "1000.00", "1000.01", "1001.00"} <= amounts
    kicker = creditrules.load(UNFAIR / "joint-call-kicker.yaml")
    assert [(b.collection, dict(b.values), b.n) for b in count_bounds(kicker)] == [
        ("activities", {("kind",): "joint_call"}, 3)
    ]
    calls = {len(d.get("activities", ())) for d in space(kicker).boundary_deals()}
    assert {2, 3, 4} <= calls
    # The upper bound is tried from both sides: two then three, three then four.
    steps = {
        (len(m.deal.get("activities", ())), len(m.more["activities"]))
        for m in one_more_at_bounds(kicker)
    }
    assert {(2, 3), (3, 4)} <= steps


def test_boundary_deals_carry_an_expense_at_each_cap_of_each_governing_policy() -> None:
    # Cardiozen: Acme caps a meal at 150.00 per attendee (Beta at 125.00), an HCP meal at
    # 100.00 (Beta 75.00), 2,000.00 a year per attendee, and needs pre-approval above
    # 1,000.00 (Beta 500.00). Each is tried one cent below, at and above, for one attendee
    # and for two (twice the cap), each paid by each partner, who also owns the account (so
    # the owner's policy, clause 7.3, is each partner's in turn).
    deals = space(creditrules.load(RULESETS / "cardiozen.yaml")).boundary_deals()
    seen = {
        (d["account"].get("owner") if "account" in d else None, e["paid_by"], e["kind"],
         e["amount"], json.dumps(e["attendees"], sort_keys=True))
        for d in deals
        for e in d.get("expenses", ())
    }
    for payer in ("acme", "beta"):
        for cents in ("149.99", "150.00", "150.01", "124.99", "125.00", "125.01"):
            assert (payer, payer, "meal", cents, "1") in seen
        for cents in ("299.99", "300.00", "300.01", "249.99", "250.00", "250.01"):
            assert (payer, payer, "meal", cents, "2") in seen
        hcp = json.dumps([{"category": "hcp"}])
        for cents in ("99.99", "100.00", "100.01", "74.99", "75.00", "75.01"):
            assert (payer, payer, "meal", cents, hcp) in seen
        two = json.dumps([{"category": "hcp"}] * 2)
        assert (payer, payer, "meal", "200.00", two) in seen
        # The annual cap: 1,925.00 already spent leaves 75.00 of the meal cap's 150.00.
        spent = json.dumps([{"spent_this_year": "1925.00"}])
        for cents in ("74.99", "75.00", "75.01"):
            assert (payer, payer, "meal", cents, spent) in seen
        for cents in ("999.99", "1000.00", "1000.01", "499.99", "500.00", "500.01"):
            assert any(s[:2] == (payer, payer) and s[3] == cents and s[4] == "1"
                       for s in seen)


def test_an_unfairness_exactly_at_a_cap_is_caught_on_every_seed() -> None:
    # tests/unfair/cap-boundary.yaml: both caps are 150.00 a meal per attendee, and 8.2
    # makes Acme bear alone a meal it pays at exactly that cap (for one attendee). The
    # smallest twins: the first day, one cent, one 150.00 meal paid by each partner, one
    # attendee each, nothing else (149.99 and 150.01 are shared equally whoever paid).
    for result in _caught(creditrules.load(UNFAIR / "cap-boundary.yaml"), "equal-treatment"):
        assert result.status == "violated"
        cx = result.counterexample
        assert cx is not None
        meal = {"kind": "meal", "amount": "150.00", "attendees": 1}
        assert cx.deal == minimal(expenses=[{"id": "E1", **meal, "paid_by": "acme"},
                                            {"id": "E2", **meal, "paid_by": "beta"}])
        assert cx.message == ("acme bears 100% of expense E1 (meal, paid by acme) but beta "
                              "50% of its mirror E2 (paid by beta)")
        assert cx.rules == (("acme-at-cap", "8.2"), ("shared", "8.1"))


GAP_AT_SIXTY = """ruleset: gap-at-sixty
version: "1"
effective: {from: 2026-01-01, to: 2026-12-31}
currency: USD
partners: {acme: {}, beta: {}}
credit:
  - id: few
    clause: "1"
    when: count(activities, partner == "acme") < 60
    split: {acme: 50%, beta: 50%}
"""


def test_seed_deals_are_tried_by_every_invariant(monkeypatch: pytest.MonkeyPatch) -> None:
    # A gap no generated deal reaches: 60 Acme activities (the generator repeats a block at
    # most 50 times). The static analysis's witness finds it (60 Acme calls); without the
    # analysis, the check misses it, and a seed deal with exactly 60 shows it.
    import creditrules.analysis as analysis

    ruleset = creditrules.loads(GAP_AT_SIXTY)
    found = check_fairness(ruleset, invariants=["coverage"], profile="ci").result("coverage")
    assert found.counterexample is not None
    assert len(found.counterexample.deal["activities"]) == 60
    monkeypatch.setattr(analysis, "analyse",
                        lambda rs: analysis.Analysis(rs.id, rs.version, (), ()))
    assert check_fairness(ruleset, invariants=["coverage"], profile="ci").ok
    sixty = minimal(activities=[detail("acme")] * 60)
    report = check_fairness(ruleset, invariants=["coverage"], profile="ci", seeds=[sixty])
    result = report.result("coverage")
    assert result.status == "violated"
    assert result.counterexample is not None
    assert result.counterexample.deal == sixty


# -- the misses of issue 13, planted in the bundled agreements ------------------------------


def _planted(name: str, old: str, new: str) -> creditrules.Ruleset:
    text = (RULESETS / f"{name}.yaml").read_text(encoding="utf-8")
    assert old in text
    return creditrules.loads(text.replace(old, new, 1))


def _caught(ruleset: creditrules.Ruleset, invariant: str) -> list[F.InvariantResult]:
    return [
        check_fairness(ruleset, invariants=[invariant], profile="ci", seed=seed).result(invariant)
        for seed in SEEDS
    ]


def test_a_step_down_inside_an_exempted_clause_is_not_laundered() -> None:
    # A new rule citing 4.2(c): 55% to Beta from 1,000,000. The 4.2(c) exemptions name the
    # rules they cover; this one is not among them.
    ruleset = _planted(
        "cardiozen",
        "\n  - id: joint-calls\n",
        """
  - id: hospital-tenders-large
    clause: "4.2(c)"
    text: Hospital tenders of USD 1,000,000 or more are credited 55% to Beta.
    when: account.segment == "hospital" and amount >= 1000000
    overrides: [named-accounts, beta-sourced, hospital-tenders]
    split: {acme: 45%, beta: 55%}

  - id: joint-calls
""",
    )
    for result in _caught(ruleset, "resource-monotonicity"):
        assert result.status == "violated"
        assert any("hospital-tenders-large" in {r for r, _ in cx.rules} for cx in result.findings)


def test_a_normalisation_typo_under_an_exempted_clause_is_caught() -> None:
    # 0.02 for 0.2: one touch each gives Nimbus 0.02 / 1.02 = 1/51, Vertex 50/51, a
    # departure of 49/51, beyond the exemption's bound of 2/3.
    ruleset = _planted(
        "cloudbridge", "normalise: {nimbus: 0.2, vertex: 1}", "normalise: {nimbus: 0.02, vertex: 1}"
    )
    for result in _caught(ruleset, "equal-treatment"):
        assert result.status == "violated"
        assert any(
            "nimbus gets 100/51% and vertex 5000/51%" in cx.message for cx in result.findings
        )


def test_a_new_rule_citing_an_exempted_clause_is_caught() -> None:
    ruleset = _planted(
        "cloudbridge",
        "\n  - id: launch-promotion\n",
        """
  - id: public-sector-security
    clause: "4.4"
    text: US Public Sector security sales are credited 80% to Nimbus.
    when: >-
      account.territory == "us-public-sector" and attributes.product_line == "security"
    overrides: [public-sector, nimbus-account, vertex-account, partner-registered]
    split: {nimbus: 80%, vertex: 20%}

  - id: launch-promotion
""",
    )
    for result in _caught(ruleset, "equal-treatment"):
        assert result.status == "violated"
        assert any(cx.rules == (("public-sector-security", "4.4"),) for cx in result.findings)


def test_an_unequal_overlay_is_compared_though_revenue_already_differs() -> None:
    ruleset = _planted(
        "cloudbridge",
        "overlay: {nimbus: 100%, vertex: 100%}",
        "overlay: {nimbus: 100%, vertex: 50%}",
    )
    for result in _caught(ruleset, "equal-treatment"):
        assert result.status == "violated"
        assert any(
            "nimbus gets 100% and vertex 50% of overlay credit" in cx.message
            for cx in result.findings
        )


def test_cli_check_reads_seed_deals(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from creditrules.cli import main

    ruleset = tmp_path / "gap.yaml"
    ruleset.write_text(GAP_AT_SIXTY, encoding="utf-8")
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text(json.dumps(minimal(activities=[detail("acme")] * 60)) + "\n", encoding="utf-8")
    assert (
        main(
            [
                "check",
                str(ruleset),
                "--invariant",
                "coverage",
                "--seed",
                "0",
                "--max-examples",
                "5",
                "--seeds",
                str(seeds),
            ]
        )
        == 1
    )
    assert "coverage (VIOLATED)" in capsys.readouterr().out
    seeds.write_text("not json\n", encoding="utf-8")
    assert main(["check", str(ruleset), "--invariant", "coverage", "--seeds", str(seeds)]) == 2
    assert f"{seeds}:1: malformed JSON" in capsys.readouterr().err
