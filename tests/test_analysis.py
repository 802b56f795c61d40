"""The static analysis: each finding kind on a small ruleset (tests/analysis/*.yaml), with
its location and its witness deal worked by hand; every witness reproduced by allocate on
each engine; the bundled agreements clean; acknowledgements; the commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import creditrules
from creditrules.analysis import FINDINGS, Finding, reproduce
from creditrules.cli import main
from creditrules.errors import RulesetError

HERE = Path(__file__).parent / "analysis"
BUNDLED = Path(__file__).parent.parent / "rulesets"


def _deal(**fields: Any) -> dict[str, Any]:
    """A witness deal: the analysis's defaults (id, first day, 1000.00 USD) and ``fields``."""
    return {"id": "W-1", "date": "2026-01-01", "amount": "1000.00", "currency": "USD", **fields}


def _expense(**fields: Any) -> dict[str, Any]:
    """A witness expense: the analysis's defaults (a 0.01 meal paid by the first partner,
    one attendee) and ``fields``."""
    return {"amount": "0.01", "attendees": 1, "id": "E1", "kind": "meal", "paid_by": "acme",
            **fields}


# (file, code, location, witness or None): the values worked by hand from each file.
EXPECTED: dict[str, list[tuple[str, str, dict[str, Any] | None]]] = {
    # Units 100-499 / 500-1,499 / 1,500-4,999 / >5,000: below 100 (99, the nearest whole
    # number), no unit count at all, and exactly 5,000 fall through.
    "tier-gap.yaml": [
        ("gap", "tier-gap.yaml:15:5", _deal(attributes={"units": "99"})),
        ("gap", "tier-gap.yaml:15:5", _deal()),
        ("gap", "tier-gap.yaml:23:5", _deal(attributes={"units": "5000"})),
    ],
    # A named account of Acme's in EMEA: 70/30 under 4.2 against 40/60 under 4.3.
    "overlap.yaml": [
        (
            "ambiguity",
            "overlap.yaml:20:5",
            _deal(account={"named": True, "owner": "acme", "territory": "emea"}),
        ),
    ],
    "dead.yaml": [("dead-condition", "dead.yaml:17:5", None)],
    # Every hospital sale is also an institution's, and 4.3 overrides 4.2; retail is never
    # an institution, so 4.4's override of 4.3 never matters.
    "always-overridden.yaml": [
        (
            "always-overridden",
            "always-overridden.yaml:18:5",
            _deal(account={"segment": "hospital"}),
        ),
        ("override-unused", "always-overridden.yaml:27:5", None),
    ],
    # Amendment 1 retires 4.1 from 2027-01-01; its new 4.1 starts 2027-01-02. On
    # 2027-01-01 only 4.2 (amount < 0) is in force: a sale of 0 (the boundary) is undecided.
    "amended-gap.yaml": [
        ("gap", "amended-gap.yaml:8:5", _deal(date="2027-01-01", amount="0.00")),
        ("window-gap", "amended-gap.yaml:8:5", None),
    ],
    # Three activities of another kind, none a joint call: 4.2 and 4.5 both apply.
    "counts.yaml": [
        (
            "ambiguity",
            "counts.yaml:22:5",
            _deal(
                activities=[{"kind": "other", "reps": ["acme-w", "beta-w"]}] * 3,
                reps=[{"id": "acme-w", "partner": "acme"}, {"id": "beta-w", "partner": "beta"}],
            ),
        ),
    ],
    "shares.yaml": [
        ("share-without-percent", "shares.yaml:20:19", None),
        ("share-without-percent", "shares.yaml:24:21", None),
    ],
    "weights.yaml": [("unused-weight", "weights.yaml:14:24", None)],
    "literals.yaml": [
        ("thousands-separator", "literals.yaml:19:5", None),
        ("near-miss-literal", "literals.yaml:28:5", None),
    ],
    "partners.yaml": [("unused-partner", "partners.yaml:9:3", None)],
    # A deal with no registration at all gets 4.2's 70% for Beta.
    "negated.yaml": [("negated-optional", "negated.yaml:19:5", _deal())],
    "never-in-force.yaml": [("never-in-force", "never-in-force.yaml:16:5", None)],
    "policies.yaml": [
        ("limit-direction", "policies.yaml:20:28", None),
        ("category-cap-above-general", "policies.yaml:26:21", None),
        ("governs-text", "policies.yaml:33:5", None),
        ("equally-text", "policies.yaml:46:5", None),
    ],
    "acknowledged.yaml": [],
    # An expense on an unowned account outside hospitals and clinics: no rule says whose
    # entertainment policy governs; an owned clinic gets Acme's and the owner's; a deal
    # off the Marketplace gets no discounts decision.
    "policy-gaps.yaml": [
        (
            "gap",
            "policy-gaps.yaml:34:5",
            _deal(
                expenses=[
                    {
                        "amount": "0.01",
                        "attendees": 1,
                        "id": "E1",
                        "kind": "meal",
                        "paid_by": "acme",
                    }
                ]
            ),
        ),
        (
            "ambiguity",
            "policy-gaps.yaml:46:5",
            _deal(account={"owner": "acme", "segment": "clinic"}),
        ),
        ("policy-gap", "policy-gaps.yaml:53:5", _deal(attributes={"marketplace": False})),
    ],
    # Meals under 500.00 and over 500.00 are shared, a meal of exactly 500.00 is not; an
    # expense of a kind neither 8.1, 8.2 nor 8.3 names (no default) is not either. Credit
    # (4.1) and the policy (7.1) are decided for every deal, so only the sharing refuses.
    "expense-gap.yaml": [
        ("gap", "expense-gap.yaml:34:5", _deal(expenses=[_expense(amount="500.00")])),
        (
            "gap",
            "expense-gap.yaml:34:5",
            _deal(expenses=[_expense(amount="500.00", kind="other")]),
        ),
    ],
    # Eleven attendees (more than ten: 8.3), one of them a healthcare professional (8.2):
    # 70/30 against borne by the payer. The owner's policy governs, so the witness names
    # an owner.
    "expense-overlap.yaml": [
        (
            "ambiguity",
            "expense-overlap.yaml:48:5",
            _deal(
                account={"owner": "acme"},
                expenses=[
                    _expense(
                        attendees=[{"id": f"A{i}"} for i in range(1, 11)]
                        + [{"category": "hcp", "id": "A11"}]
                    )
                ],
            ),
        ),
    ],
    "expense-clean.yaml": [],
    # 8.2's bounds are reversed, 8.3 shares negative expenses and 8.4 expenses without
    # attendees: the expense reader takes neither. No expense meets them: no witness.
    "expense-dead.yaml": [
        ("dead-condition", "expense-dead.yaml:41:5", None),
        ("dead-condition", "expense-dead.yaml:47:5", None),
        ("dead-condition", "expense-dead.yaml:53:5", None),
    ],
    # An HCP meal just above 500.00 (8.3 applies, 8.4 prevails); an event of exactly
    # 250.00 (8.5 applies, 8.6 prevails). Credit and the policy (the stricter) are decided.
    "expense-overridden.yaml": [
        (
            "always-overridden",
            "expense-overridden.yaml:50:5",
            _deal(expenses=[_expense(amount="500.01", attendees=[{"category": "hcp",
                                                                  "id": "A1"}])]),
        ),
        (
            "always-overridden",
            "expense-overridden.yaml:68:5",
            _deal(expenses=[_expense(amount="250.00", attendees=[{"id": "A1"}],
                                     kind="event")]),
        ),
    ],
    # 8.4 ("notwithstanding 8.2 and 8.3") is about events, 8.2 about meals: that override
    # never matters. No expense shows it: no witness.
    "expense-override-unused.yaml": [
        ("override-unused", "expense-override-unused.yaml:55:5", None),
    ],
    # A meal on a deal whose account has no segment (8.2 decides it), an event with no
    # date (8.3 decides it).
    "expense-negated.yaml": [
        (
            "negated-optional",
            "expense-negated.yaml:44:5",
            _deal(expenses=[_expense(amount="500.00", attendees=[{"id": "A1"}])]),
        ),
        (
            "negated-optional",
            "expense-negated.yaml:50:5",
            _deal(expenses=[_expense(amount="500.00", attendees=[{"id": "A1"}],
                                     kind="event")]),
        ),
    ],
    "expense-dead-alternative.yaml": [
        ("dead-alternative", "expense-dead-alternative.yaml:43:5", None),
        ("dead-alternative", "expense-dead-alternative.yaml:49:5", None),
    ],
    "dead-alternative.yaml": [("dead-alternative", "dead-alternative.yaml:19:5", None)],
    # An "or" inside an "and": 4.2's band has reversed bounds, 4.3's named-account
    # alternative asks a clinic sale to be a hospital's. No deal shows either: no witness.
    "nested-dead-alternative.yaml": [
        ("dead-alternative", "nested-dead-alternative.yaml:21:5", None),
        ("dead-alternative", "nested-dead-alternative.yaml:26:5", None),
    ],
    "expense-nested-dead-alternative.yaml": [
        ("dead-alternative", "expense-nested-dead-alternative.yaml:42:5", None),
        ("dead-alternative", "expense-nested-dead-alternative.yaml:48:5", None),
    ],
    # "not (score < 3)" and "not (renewal < 2026-07-01)": a deal with neither (4.2 applies,
    # 4.3 prevails over it for any positive amount; its smallest is 0.01).
    "ordered-negated.yaml": [
        ("negated-optional", "ordered-negated.yaml:24:5", _deal(amount="0.01")),
        ("negated-optional", "ordered-negated.yaml:29:5", _deal(amount="0.01")),
    ],
    # A meal for three with no date: 8.2 decides it.
    "expense-ordered-negated.yaml": [
        (
            "negated-optional",
            "expense-ordered-negated.yaml:41:5",
            _deal(expenses=[_expense(attendees=3)]),
        ),
    ],
}



def _analyse(name: str, engine: str = "reference") -> creditrules.Analysis:
    return creditrules.analyse(creditrules.load(HERE / name, engine=engine))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_finding_is_located_with_its_witness(name: str) -> None:
    """Each small ruleset gives exactly its findings, at their places, with the witness
    deal worked by hand."""
    analysis = _analyse(name)
    got = [(f.code, str(f.location).replace(f"{HERE}/", ""), f.witness) for f in analysis]
    assert got == EXPECTED[name]
    assert all(f.code in FINDINGS and f.severity == FINDINGS[f.code] for f in analysis)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_witness_reproduces_on_each_engine(name: str, engine: str) -> None:
    """The solver proposes, allocate confirms: each witness shows its finding on this
    engine (a witness that does not is a bug in the analysis)."""
    ruleset = creditrules.load(HERE / name, engine=engine)
    for finding in creditrules.analyse(ruleset):
        assert finding.severity != "unknown", finding.text()
        assert reproduce(ruleset, finding) is None, finding.text()


def test_a_gap_witness_raises_no_applicable_rule() -> None:
    ruleset = creditrules.load(HERE / "tier-gap.yaml", engine="reference")
    with pytest.raises(creditrules.NoApplicableRuleError):
        ruleset.allocate(_deal(attributes={"units": "5000"}))
    assert ruleset.allocate(_deal(attributes={"units": "5001"})).credits[0].rules == ("tier-4",)


def test_an_ambiguity_witness_raises_ambiguity_error() -> None:
    ruleset = creditrules.load(HERE / "overlap.yaml", engine="reference")
    [finding] = creditrules.analyse(ruleset)
    assert finding.witness is not None
    with pytest.raises(creditrules.AmbiguityError) as info:
        ruleset.allocate(finding.witness)
    assert set(info.value.rules) == {"named-accounts", "emea-territory"}


def test_messages_say_what_and_how_to_fix() -> None:
    [percent, overlay] = _analyse("shares.yaml")
    assert "0.7 is 70%" in percent.message
    assert percent.fix == "write 70%"
    assert "10 is 1000%" in overlay.message
    assert "10% if 10% is meant" in overlay.fix
    [weight] = _analyse("weights.yaml")
    assert "'joint_calls'" in weight.message
    assert weight.fix == "rename it 'joint_call'"
    [separator, near] = _analyse("literals.yaml")
    assert "read as 1" in separator.message
    assert "write 1000" in separator.fix
    assert "'devicecoo'" in near.message
    assert near.fix == "write 'deviceco' if that is meant"
    [window] = [f for f in _analyse("amended-gap.yaml") if f.code == "window-gap"]
    assert window.message.endswith("not on 2027-01-01")


@pytest.mark.parametrize(
    "name", ["cardiozen.yaml", "cloudbridge.yaml", "cloudbridge-amendment-1.yaml"]
)
def test_the_bundled_agreements_are_clean(name: str) -> None:
    analysis = creditrules.analyse(creditrules.load(BUNDLED / name, engine="reference"))
    assert list(analysis) == [], [f.text() for f in analysis]


def test_an_acknowledgement_silences_its_warning_and_counts_in_the_hash() -> None:
    analysis = _analyse("acknowledged.yaml")
    assert analysis.passes(strict=True)
    assert [f.code for f in analysis.acknowledged] == ["negated-optional"]
    text = (HERE / "acknowledged.yaml").read_text()
    plain = text[: text.index("analysis:")]
    with_ack = creditrules.loads(text, source=str(HERE / "acknowledged.yaml"))
    without = creditrules.loads(plain, source=str(HERE / "acknowledged.yaml"))
    assert with_ack.content_hash != without.content_hash
    assert [f.code for f in creditrules.analyse(without)] == ["negated-optional"]


def test_errors_cannot_be_acknowledged() -> None:
    text = (HERE / "tier-gap.yaml").read_text() + (
        "analysis:\n  acknowledge:\n    - {finding: gap, clause: '3.1(a)', reason: later}\n"
        "    - {finding: negated-optionl, clause: '9.9', reason: typo}\n"
    )
    with pytest.raises(RulesetError) as info:
        creditrules.loads(text, source="tiers.yaml")
    assert info.value.codes == ["bad-acknowledgement", "bad-acknowledgement", "unknown-clause"]
    assert "did you mean 'negated-optional'?" in str(info.value)


def test_finding_text_and_data() -> None:
    [finding] = _analyse("negated.yaml")
    assert isinstance(finding, Finding)
    assert finding.text().splitlines()[-1] == (
        '  witness: {"amount": "1000.00", "currency": "USD", "date": "2026-01-01", "id": "W-1"}'
    )
    data = finding.to_dict()
    assert data["code"] == "negated-optional"
    assert data["clause"] == "4.2"
    assert data["location"].endswith("negated.yaml:19:5")


# -- the commands ----------------------------------------------------------------------------
def test_lint_prints_findings_with_witnesses(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint", str(HERE / "tier-gap.yaml"), "--engine", "reference"]) == 1
    out = capsys.readouterr().out
    assert out.count("[gap]") == 3
    assert '"attributes": {"units": "5000"}' in out
    assert out.rstrip().endswith("3 error(s), 0 warning(s), 0 unknown, 0 acknowledged")


def test_lint_json_and_strict(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(HERE / "negated.yaml")
    assert main(["lint", path, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [f["code"] for f in data["findings"]] == ["negated-optional"]
    assert main(["lint", path, "--strict"]) == 1


def test_validate_fails_on_errors_and_on_warnings_when_strict(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["validate", str(HERE / "overlap.yaml")]) == 1
    assert "fails: 1 error(s)" in capsys.readouterr().out
    assert main(["validate", str(HERE / "negated.yaml")]) == 0
    assert main(["validate", str(HERE / "negated.yaml"), "--strict"]) == 1
    out = capsys.readouterr().out
    assert "[negated-optional]" in out
    assert main(["validate", str(BUNDLED / "cardiozen.yaml"), "--strict"]) == 0


def test_the_planted_cardiozen_gap_and_overlap(engine: str) -> None:
    """The bundled agreement with 4.1 limited to deals with recorded effort, and a new
    East territory rule: every gap is a deal without activities, and the new rule
    overlaps 4.2(a), 4.2(b) and 4.2(c), which nothing orders against it."""
    ruleset = creditrules.load(HERE / "cardiozen-planted.yaml", engine=engine)
    analysis = creditrules.analyse(ruleset)
    assert {f.code for f in analysis} == {"gap", "ambiguity"}
    gaps = [f for f in analysis if f.code == "gap"]
    assert gaps
    assert all("count(activities) < 1" in f.message for f in gaps)
    assert all(f.witness is not None and "activities" not in f.witness for f in gaps)
    assert sorted(f.rules for f in analysis if f.code == "ambiguity") == [
        ("beta-sourced", "east-territory"),
        ("east-territory", "hospital-tenders"),
        ("east-territory", "named-accounts"),
    ]
    for finding in analysis:
        assert reproduce(ruleset, finding) is None, finding.text()


def test_an_expense_gap_planted_in_cardiozen(engine: str) -> None:
    # 8.2 no longer a default: meals for fewer than two HCPs only. Two HCPs at a meal, and
    # any expense of a kind 8.1 and 8.2 do not name, are shared by no rule, all the term
    # (2026 to 2028, across the 2027 change of credit rules). Each witness is a sale whose
    # credit and policy (7.3, the owner's) are decided, and allocate refuses its expense.
    text = (BUNDLED / "cardiozen.yaml").read_text(encoding="utf-8")
    old = "    default: true\n    share: {acme: 50%, beta: 50%}\n    excess: disallowed"
    assert old in text
    ruleset = creditrules.loads(
        text.replace(old, '    when: expense.kind == "meal" and count(attendees, category == '
                     '"hcp") < 2\n    share: {acme: 50%, beta: 50%}\n    excess: disallowed'),
        source="cardiozen.yaml", engine=engine)
    errors = creditrules.analyse(ruleset).errors
    assert [(f.code, f.clause, f.message) for f in errors] == [
        ("gap", "8.2", 'no expense sharing rule decides the expenses of deals with '
         'count(attendees, category == "hcp") = 2, expense.kind = meal'),
        ("gap", "8.2", "no expense sharing rule decides the expenses of deals with "
         "expense.kind = other"),
    ]
    for finding in errors:
        assert finding.witness is not None
        assert not str(finding.witness["amount"]).startswith("-")
        with pytest.raises(creditrules.NoApplicableRuleError, match="expense sharing"):
            ruleset.allocate(finding.witness)


def test_entertainment_policies_without_sharing_rules_leave_every_expense_undecided() -> None:
    text = (HERE / "expense-gap.yaml").read_text(encoding="utf-8")
    ruleset = creditrules.loads(text.split("expense_sharing:")[0], source="no-sharing.yaml")
    [gap] = creditrules.analyse(ruleset).errors
    assert gap.message == "no expense sharing rule decides the expenses of any deal"
    assert (str(gap.location), gap.clause) == ("no-sharing.yaml:27:5", "7.1")
    assert gap.witness == _deal(expenses=[_expense()])
    assert reproduce(ruleset, gap) is None


# -- dead and always-overridden expense sharing rules ----------------------------------------
def test_dead_expense_sharing_rules_name_the_part_that_cannot_hold() -> None:
    """Each message names the sharing rule and its condition, and the conjuncts that cannot
    hold together (or the expense reader's bound that rules the comparison out)."""
    got = [(f.code, f.rules, f.clause, f.message, f.fix, f.witness)
           for f in _analyse("expense-dead.yaml")]
    fix = ("check each comparison for a typo (a reversed < or >, a bound no expense reaches) "
           "or remove the rule")
    assert got == [
        ("dead-condition", ("mid-meals",), "8.2",
         "no expense can satisfy the condition of expense sharing rule mid-meals "
         '(expense.kind == "meal" and expense.amount >= 1000 and expense.amount < 250): '
         "expense.amount >= 1000 and expense.amount < 250 never hold together", fix, None),
        ("dead-condition", ("refunds",), "8.3",
         "no expense can satisfy the condition of expense sharing rule refunds "
         "(expense.amount < 0): an expense's amount is never negative", fix, None),
        ("dead-condition", ("sponsorships",), "8.4",
         "no expense can satisfy the condition of expense sharing rule sponsorships "
         '(expense.kind == "event" and count(attendees) == 0): count(attendees) == 0 never '
         "holds; an expense has a whole number of attendees, from 1 to 10,000", fix, None),
    ]


def test_always_overridden_expense_sharing_rules_name_the_rules_that_prevail(
    engine: str,
) -> None:
    """The message names the fewest rules that together prevail wherever the rule applies
    (8.4 alone for 8.3; 8.4 or 8.6 for 8.5), and the witness expense shows the rule
    overridden on each engine."""
    ruleset = creditrules.load(HERE / "expense-overridden.yaml", engine=engine)
    analysis = creditrules.analyse(ruleset)
    assert [(f.code, f.rules, f.clause, f.message, f.fix) for f in analysis] == [
        ("always-overridden", ("hcp-banquets", "large-expenses"), "8.3",
         "expense sharing rule hcp-banquets never decides an expense: wherever it applies, "
         "large-expenses (clause 8.4) applies too and prevails over it",
         "remove it, or narrow large-expenses (or drop the overrides that make it prevail) "
         "if hcp-banquets should decide some expenses"),
        ("always-overridden", ("events", "large-expenses", "small-events"), "8.5",
         "expense sharing rule events never decides an expense: wherever it applies, "
         "large-expenses (clause 8.4) or small-events (clause 8.6) applies too and "
         "prevails over it",
         "remove it, or narrow large-expenses and small-events (or drop the overrides that "
         "make them prevail) if events should decide some expenses"),
    ]
    assert str(analysis.findings[0]).endswith(
        "expense-overridden.yaml:50:5: warning: expense sharing rule hcp-banquets never "
        "decides an expense: wherever it applies, large-expenses (clause 8.4) applies too "
        "and prevails over it (clause 8.3) [always-overridden]")
    for finding, by in zip(analysis, [("large-expenses",), ("small-events",)], strict=True):
        assert finding.witness is not None
        [share] = ruleset.allocate(finding.witness).expenses
        assert share.rule == by[0]
        verdict = next(v for v in ruleset.allocate(finding.witness).verdicts
                       if v.type == "expense:E1" and v.rule == finding.rules[0])
        assert (verdict.status, verdict.by) == ("overridden", by)


def _overridden_variant(*changes: tuple[str, str]) -> creditrules.Ruleset:
    """expense-overridden.yaml with each (old, new) line replaced."""
    text = (HERE / "expense-overridden.yaml").read_text(encoding="utf-8")
    for old, new in changes:
        assert old in text
        text = text.replace(old, new)
    return creditrules.loads(text, source="variant.yaml", engine="reference")


def test_a_sharing_rule_overridden_on_some_expenses_only_is_not_reported() -> None:
    """8.4 limited to hospital accounts (a deal field): 8.3 and 8.5 still decide the
    expenses of other deals, so neither is reported; 8.2, overridden above 250.00 only,
    never was."""
    ruleset = _overridden_variant(
        ("    when: expense.amount > 250\n",
         '    when: expense.amount > 250 and account.segment == "hospital"\n'))
    assert list(creditrules.analyse(ruleset)) == []
    # What the analysis no longer reports: 8.3 decides this meal at a clinic.
    meal = _deal(account={"segment": "clinic"},
                 expenses=[_expense(amount="600.00", attendees=[{"category": "hcp"}])])
    assert ruleset.allocate(meal).expenses[0].rule == "hcp-banquets"


def test_a_default_every_other_sharing_rule_covers_is_always_overridden() -> None:
    """8.2 for every meal and 8.5 for every other kind: the default 8.1 gives way to
    whichever applies, so it decides no expense; the message names those two (not 8.3,
    8.4 or 8.6, which are not needed to cover it), with no override to drop."""
    ruleset = _overridden_variant(
        ('    when: expense.kind == "meal" and count(attendees, category == "hcp") >= 1\n',
         '    when: expense.kind == "meal"\n'),
        ('    when: expense.kind == "event"\n', '    when: expense.kind != "meal"\n'))
    found = [f for f in creditrules.analyse(ruleset) if f.rules[0] == "shared"]
    assert [(f.code, str(f.location), f.message, f.fix) for f in found] == [
        ("always-overridden", "variant.yaml:38:5",
         "expense sharing rule shared never decides an expense: wherever it applies, "
         "hcp-meals (clause 8.2) or events (clause 8.5) applies too and prevails over it",
         "remove it, or narrow hcp-meals and events if shared should decide some expenses"),
    ]
    assert reproduce(ruleset, found[0]) is None


def test_an_always_overridden_sharing_rule_can_be_acknowledged() -> None:
    text = (HERE / "expense-overridden.yaml").read_text(encoding="utf-8") + (
        "analysis:\n  acknowledge:\n"
        '    - {finding: always-overridden, clause: "8.5", rule: events, '
        "reason: 8.5 states the principle 8.4 and 8.6 apply.}\n")
    analysis = creditrules.analyse(creditrules.loads(text, source="ack.yaml"))
    assert [f.rules[0] for f in analysis] == ["hcp-banquets"]
    assert [f.rules[0] for f in analysis.acknowledged] == ["events"]


def test_validate_prints_expense_warnings_and_fails_on_them_when_strict(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, code, count in [("expense-dead.yaml", "dead-condition", 3),
                              ("expense-overridden.yaml", "always-overridden", 2)]:
        assert main(["validate", str(HERE / name)]) == 0
        out = capsys.readouterr().out
        assert out.count(f"[{code}]") == count, out
        assert main(["validate", str(HERE / name), "--strict"]) == 1
        capsys.readouterr()


@pytest.mark.parametrize(
    "path",
    [
        *sorted(p for p in BUNDLED.glob("*.yaml") if not p.name.endswith("-cases.yaml")),
        *(HERE / f"expense-{name}.yaml" for name in ("clean", "overlap", "gap")),
    ],
    ids=lambda p: p.name,
)
def test_no_dead_or_overridden_sharing_rule_where_every_rule_decides_some_expense(
    path: Path,
) -> None:
    ruleset = creditrules.load(path, engine="reference")
    sharing = {r.id for r in ruleset.expense_rules}
    assert sharing
    found = [f for f in creditrules.analyse(ruleset)
             if f.code in ("dead-condition", "always-overridden") and f.rules[0] in sharing]
    assert found == [], [f.text() for f in found]


# -- unused overrides, negations of optional fields and dead alternatives ---------------------
def test_an_unused_sharing_override_names_the_parts_that_clash() -> None:
    """8.4 overrides 8.2 and 8.3; only 8.3 ever applies with it. The message names the rule,
    the overridden rule and its clause, and the comparisons that cannot hold together; the
    overrides of the default 8.1 (which gives way anyway) are not reported."""
    got = [(f.code, f.rules, f.clause, f.message, f.fix, f.witness)
           for f in _analyse("expense-override-unused.yaml")]
    assert got == [
        ("override-unused", ("premium-events", "hcp-meals"), "8.4",
         "expense sharing rule premium-events overrides hcp-meals (clause 8.2), but no "
         'expense satisfies both conditions: expense.kind == "event" and expense.kind == '
         '"meal" never hold together, so the override never matters',
         "check that premium-events overrides the rule meant (or drop the override)", None),
    ]


def test_an_unused_credit_override_names_the_parts_that_clash() -> None:
    [unused] = [f for f in _analyse("always-overridden.yaml") if f.code == "override-unused"]
    assert (unused.rules, unused.clause, unused.message) == (
        ("retail", "institutions"), "4.4",
        'rule retail overrides institutions, but no deal satisfies both conditions: '
        'account.segment == "retail" and account.segment in ["hospital", "clinic"] never '
        "hold together, so the override never matters",
    )


def test_a_used_sharing_override_is_not_reported() -> None:
    """Pointing 8.4's override at the rule meant (8.3 alone) leaves nothing to report, and
    the expense both meet is decided by 8.4 as the override says."""
    text = (HERE / "expense-override-unused.yaml").read_text(encoding="utf-8")
    old = "    overrides: [hcp-meals, events]\n"
    assert old in text
    ruleset = creditrules.loads(text.replace(old, "    overrides: [events]\n"),
                                source="fixed.yaml", engine="reference")
    assert list(creditrules.analyse(ruleset)) == []
    event = _deal(expenses=[_expense(amount="1500.00", kind="event")])
    assert ruleset.allocate(event).expenses[0].rule == "premium-events"


def test_negated_optional_expense_fields(engine: str) -> None:
    """!= on the account's segment (a deal field) and on the expense's date: each rule
    decides an expense without the field. != on an attendee's category inside a count and
    "not in" every partner are meant and not reported."""
    ruleset = creditrules.load(HERE / "expense-negated.yaml", engine=engine)
    analysis = creditrules.analyse(ruleset)
    fix = "add '{0} == ...' for the values meant, or 'and {0} in [...]' before the negation"
    assert [(f.code, f.rules, f.clause, f.message, f.fix) for f in analysis] == [
        ("negated-optional", ("non-hospital",), "8.2",
         "expense sharing rule non-hospital applies to every expense on a deal without "
         "account.segment: a missing value is != to everything", fix.format("account.segment")),
        ("negated-optional", ("events",), "8.3",
         "expense sharing rule events applies to every expense without expense.date: a "
         "missing value is != to everything", fix.format("expense.date")),
    ]
    for finding in analysis:
        assert finding.witness is not None
        [share] = ruleset.allocate(finding.witness).expenses
        assert share.rule == finding.rules[0]
        assert "date" not in finding.witness["expenses"][0]
        assert "segment" not in finding.witness.get("account", {})


def test_dead_alternatives_name_the_rule_and_the_impossible_part() -> None:
    fix = ("correct the alternative (a reversed < or >, a literal no value takes, a value the "
           "rest of the condition excludes) or remove it: as written, the rule applies by its "
           "other alternatives alone")
    got = [(f.code, f.rules, f.clause, f.message, f.fix)
           for name in ("dead-alternative.yaml", "expense-dead-alternative.yaml")
           for f in _analyse(name)]
    assert got == [
        ("dead-alternative", ("hospital-or-mid-size",), "4.2",
         "no deal can satisfy the alternative (amount > 10000 and amount < 5000) in the "
         "condition of rule hospital-or-mid-size", fix),
        ("dead-alternative", ("group-hospitality",), "8.2",
         'no expense can satisfy the alternative (expense.kind == "meal" and '
         "expense.attendees > 20 and expense.attendees < 10) in the condition of expense "
         "sharing rule group-hospitality: expense.attendees > 20 and expense.attendees < 10 "
         "never hold together", fix),
        ("dead-alternative", ("gifts",), "8.3",
         "no expense can satisfy the alternative (expense.amount < 0) in the condition of "
         "expense sharing rule gifts: an expense's amount is never negative", fix),
    ]
    [finding] = _analyse("dead-alternative.yaml")
    assert str(finding).endswith(
        "dead-alternative.yaml:19:5: warning: no deal can satisfy the alternative (amount > "
        "10000 and amount < 5000) in the condition of rule hospital-or-mid-size (clause 4.2) "
        "[dead-alternative]")


def test_a_dead_rule_is_not_reported_alternative_by_alternative() -> None:
    """Every alternative impossible: the rule is dead (one dead-condition finding, and 4.3's
    override of it never matters), not reported alternative by alternative."""
    text = (HERE / "dead-alternative.yaml").read_text(encoding="utf-8")
    old = 'account.segment == "hospital" or (amount > 10000 and amount < 5000)'
    ruleset = creditrules.loads(
        text.replace(old, 'account.named and not account.named or (amount > 10000 and '
                          'amount < 5000)'), source="dead.yaml")
    assert [(f.code, f.rules) for f in creditrules.analyse(ruleset)] == [
        ("dead-condition", ("hospital-or-mid-size",)),
        ("override-unused", ("clinics-and-returns", "hospital-or-mid-size")),
    ]


def test_alternatives_nested_in_alternatives_and_policy_rules() -> None:
    """``a or (b or c)`` has three alternatives; a policy precedence rule's alternatives
    are checked too."""
    text = (HERE / "dead-alternative.yaml").read_text(encoding="utf-8")
    old = 'account.segment == "hospital" or (amount > 10000 and amount < 5000)'
    ruleset = creditrules.loads(
        text.replace(old, 'account.segment == "hospital" or (account.segment == "clinic" or '
                          "amount > 10000 and amount < 5000)"), source="nested.yaml")
    [finding] = creditrules.analyse(ruleset)
    assert finding.code == "dead-alternative"
    assert "(amount > 10000 and amount < 5000)" in finding.message
    policy = (HERE / "expense-dead-alternative.yaml").read_text(encoding="utf-8").replace(
        "    default: true\n    governs: stricter\n",
        "    default: true\n    governs: stricter\n"
        '  - id: owners\n    clause: "7.2"\n    topic: entertainment\n'
        '    when: account.owner == "acme" or (amount > 5 and amount < 1)\n'
        "    overrides: [stricter]\n    governs: account_owner\n", 1)
    found = [f for f in creditrules.analyse(creditrules.loads(policy, source="policy.yaml"))
             if f.rules == ("owners",)]
    assert [(f.code, f.clause, f.message) for f in found] == [
        ("dead-alternative", "7.2", "no deal can satisfy the alternative (amount > 5 and "
         "amount < 1) in the condition of rule owners")]


_ALT_FIX = ("correct the alternative (a reversed < or >, a literal no value takes, a value the "
            "rest of the condition excludes) or remove it: as written, the rule applies by its "
            "other alternatives alone")


def test_an_alternative_inside_a_conjunction_is_checked_where_it_stands() -> None:
    """An "or" inside an "and": an alternative impossible on its own (4.2, 8.2), or beside
    what the rest of the condition requires (4.3, 8.3: the message names the parts that
    clash). 4.4's "or" under two "not"s holds either way: not reported."""
    got = [(f.code, f.rules, f.clause, f.message, f.fix)
           for name in ("nested-dead-alternative.yaml", "expense-nested-dead-alternative.yaml")
           for f in _analyse(name)]
    assert got == [
        ("dead-alternative", ("hospital-bands",), "4.2",
         "no deal can satisfy the alternative (amount > 500 and amount < 100) in the "
         "condition of rule hospital-bands", _ALT_FIX),
        ("dead-alternative", ("clinics",), "4.3",
         'no deal can satisfy the alternative (account.named and account.segment == '
         '"hospital") in the condition of rule clinics: account.segment == "hospital" never '
         'holds together with account.segment == "clinic"', _ALT_FIX),
        ("dead-alternative", ("hospital-meals",), "8.2",
         "no expense can satisfy the alternative (expense.attendees > 10 and expense.attendees "
         "< 5) in the condition of expense sharing rule hospital-meals", _ALT_FIX),
        ("dead-alternative", ("approved-events",), "8.3",
         'no expense can satisfy the alternative (expense.kind == "gift") in the condition of '
         'expense sharing rule approved-events: it never holds together with expense.kind == '
         '"event"', _ALT_FIX),
    ]


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        # The whole condition dead: one dead-condition, not alternative by alternative.
        ('account.segment == "clinic" and account.segment == "hospital" and (amount > 5 or '
         "amount < 1)", [("dead-condition", None)]),
        # Under one "not", the "or" is a conjunction: "not (a or b)" is "not a and not b".
        ('account.segment == "hospital" and not (amount > 100 or account.segment == "clinic")',
         []),
        # Under two, a disjunction again, and its context is what the outer "and" requires.
        ('account.segment == "hospital" and not (amount < 0 and not (amount > 100 or '
         'account.segment == "clinic"))',
         [("dead-alternative", 'no deal can satisfy the alternative (account.segment == '
           '"clinic") in the condition of rule hospital-or-mid-size: it never holds together '
           'with account.segment == "hospital"')]),
        # The alternative of an alternative, inside a conjunction: reported once, as the
        # outer alternative (its own alternatives are not reported again).
        ('account.segment == "hospital" and (amount > 100000 or (account.segment == "clinic" '
         "and (amount > 5 or amount < 1)))",
         [("dead-alternative", 'no deal can satisfy the alternative (account.segment == '
           '"clinic" and (amount > 5 or amount < 1)) in the condition of rule '
           'hospital-or-mid-size: account.segment == "clinic" never holds together with '
           'account.segment == "hospital"')]),
        # Redundant but possible (amount > 200 implies amount > 100): not impossible.
        ('account.segment == "hospital" and (amount > 100 or amount > 200)', []),
    ],
)
def test_alternatives_by_polarity_and_context(
    condition: str, expected: list[tuple[str, str | None]]
) -> None:
    text = (HERE / "dead-alternative.yaml").read_text(encoding="utf-8")
    old = 'account.segment == "hospital" or (amount > 10000 and amount < 5000)'
    ruleset = creditrules.loads(text.replace(old, condition), source="polarity.yaml")
    got = [(f.code, None if f.code == "dead-condition" else f.message)
           for f in creditrules.analyse(ruleset) if f.code.startswith("dead-")]
    assert got == expected


def test_negated_ordered_comparisons_on_optional_fields(engine: str) -> None:
    """"not (score < 3)" and "not (renewal < 2026-07-01)" hold of a deal without the field,
    as != does; "not (units > 10)" beside "units >= 1", and "not (attendees > 2)" (every
    expense has attendees), do not: not reported. Each witness lacks the field and is
    decided by the rule."""
    ruleset = creditrules.load(HERE / "ordered-negated.yaml", engine=engine)
    analysis = creditrules.analyse(ruleset)
    assert [(f.code, f.rules, f.clause, f.message, f.fix) for f in analysis] == [
        ("negated-optional", ("scored",), "4.2",
         "rule scored applies to every deal without attributes.score: a missing value makes "
         "attributes.score < 3 false, and the condition negates it",
         "write the comparison meant without the negation (attributes.score >= 3 rather than "
         "not (attributes.score < 3)), which a missing attributes.score fails"),
        ("negated-optional", ("late-renewals",), "4.3",
         "rule late-renewals applies to every deal without attributes.renewal: a missing "
         "value makes attributes.renewal < 2026-07-01 false, and the condition negates it",
         "write the comparison meant without the negation (attributes.renewal >= 2026-07-01 "
         "rather than not (attributes.renewal < 2026-07-01)), which a missing "
         "attributes.renewal fails"),
    ]
    for finding in analysis:
        assert finding.witness is not None
        assert "attributes" not in finding.witness
        assert reproduce(ruleset, finding) is None
    expenses = creditrules.load(HERE / "expense-ordered-negated.yaml", engine=engine)
    [finding] = creditrules.analyse(expenses)
    assert (finding.rules, finding.clause, finding.message) == (
        ("spring-meals",), "8.2",
        "expense sharing rule spring-meals applies to every expense without expense.date: a "
        "missing value makes expense.date < 2026-04-01 false, and the condition negates it")
    assert finding.witness is not None
    [share] = expenses.allocate(finding.witness).expenses
    assert share.rule == "spring-meals"
    assert "date" not in finding.witness["expenses"][0]


@pytest.mark.parametrize(
    ("name", "old", "new"),
    [
        ("ordered-negated.yaml", "not (attributes.score < 3)", "attributes.score >= 3"),
        ("ordered-negated.yaml", "not (attributes.renewal < 2026-07-01)",
         "attributes.renewal >= 2026-07-01"),
        ("expense-ordered-negated.yaml", "not (expense.date < 2026-04-01)",
         "expense.date >= 2026-04-01"),
        ("nested-dead-alternative.yaml", "(amount > 500 and amount < 100)",
         "(amount >= 100 and amount <= 500)"),
        ("nested-dead-alternative.yaml", '(account.named and account.segment == "hospital")',
         "account.named"),
        ("expense-nested-dead-alternative.yaml",
         "(expense.attendees > 10 and expense.attendees < 5)",
         "(expense.attendees >= 5 and expense.attendees <= 10)"),
        ("expense-nested-dead-alternative.yaml", 'expense.kind == "gift")',
         "expense.amount > 250)"),
    ],
)
def test_the_fix_each_new_finding_suggests_clears_it(name: str, old: str, new: str) -> None:
    """Each clause written as meant: its finding goes, and no other comes."""
    text = (HERE / name).read_text(encoding="utf-8")
    assert text.count(old) == 1
    before = [f.location.line for f in _analyse(name)]
    fixed = creditrules.analyse(creditrules.loads(text.replace(old, new), source=name))
    assert len(list(fixed)) == len(before) - 1, [f.text() for f in fixed]


def test_a_dead_alternative_can_be_acknowledged() -> None:
    text = (HERE / "dead-alternative.yaml").read_text(encoding="utf-8") + (
        "analysis:\n  acknowledge:\n"
        '    - {finding: dead-alternative, clause: "4.2", rule: hospital-or-mid-size, '
        "reason: The mid-size band is suspended; the parties keep the wording.}\n")
    analysis = creditrules.analyse(creditrules.loads(text, source="ack.yaml"))
    assert list(analysis) == []
    assert [f.code for f in analysis.acknowledged] == ["dead-alternative"]


def test_validate_prints_the_new_warnings_and_fails_on_them_when_strict(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, code, count in [("expense-override-unused.yaml", "override-unused", 1),
                              ("expense-negated.yaml", "negated-optional", 2),
                              ("expense-dead-alternative.yaml", "dead-alternative", 2),
                              ("dead-alternative.yaml", "dead-alternative", 1),
                              ("nested-dead-alternative.yaml", "dead-alternative", 2),
                              ("ordered-negated.yaml", "negated-optional", 2),
                              ("expense-ordered-negated.yaml", "negated-optional", 1)]:
        assert main(["validate", str(HERE / name)]) == 0
        out = capsys.readouterr().out
        assert out.count(f"[{code}]") == count, out
        assert main(["validate", str(HERE / name), "--strict"]) == 1
        capsys.readouterr()


_NEW_CODES = ("dead-alternative", "override-unused", "negated-optional")


@pytest.mark.parametrize(
    "path",
    [
        *sorted(p for p in BUNDLED.glob("*.yaml") if not p.name.endswith("-cases.yaml")),
        *sorted(p for p in HERE.glob("*.yaml")),
    ],
    ids=lambda p: p.name,
)
def test_no_unused_override_negated_optional_or_dead_alternative_where_there_is_none(
    path: Path,
) -> None:
    """The bundled agreements and every other fixture: no such finding but those worked
    by hand above (an override of a default, a chain of overrides, "not in" every partner
    and a count of attendees of another category are meant)."""
    expected = [(c, loc) for c, loc, _ in EXPECTED.get(path.name, []) if c in _NEW_CODES]
    ruleset = creditrules.load(path, engine="reference")
    analysis = creditrules.analyse(ruleset)
    found = [(f.code, str(f.location).replace(f"{path.parent}/", ""))
             for f in [*analysis, *analysis.acknowledged] if f.code in _NEW_CODES]
    if path.name == "acknowledged.yaml":
        expected = [("negated-optional", "acknowledged.yaml:19:5")]
    if path.parent == BUNDLED:
        assert found == [], [f.text() for f in analysis]
    else:
        assert found == expected, [f.text() for f in analysis]


def test_a_negated_optional_expense_witness_names_only_what_it_needs() -> None:
    """Where the account owner's policy governs, the witness names an owner (so that a
    policy is decided) and leaves out every other field it can: no date on the meal."""
    text = (HERE / "expense-negated.yaml").read_text(encoding="utf-8")
    ruleset = creditrules.loads(text.replace("    governs: stricter\n",
                                             "    governs: account_owner\n"),
                                source="owner.yaml", engine="reference")
    found = [f for f in creditrules.analyse(ruleset) if f.code == "negated-optional"]
    assert [f.witness for f in found] == [
        _deal(account={"owner": "acme"},
              expenses=[_expense(amount="500.00", attendees=[{"id": "A1"}])]),
        _deal(account={"owner": "acme"},
              expenses=[_expense(amount="500.00", attendees=[{"id": "A1"}], kind="event")]),
    ]
    for finding in found:
        assert reproduce(ruleset, finding) is None
