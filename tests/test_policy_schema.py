"""Tests of the policy sections of a ruleset (``topics``, ``policies``, ``policy_precedence``,
``expense_sharing``): what loads, and every mistake reported with its code and location."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest

import creditrules
from creditrules.agreement.policy import FORBIDDEN, EntertainmentPolicy
from creditrules.agreement.ruleset import Ruleset
from creditrules.errors import Location, Problem, RulesetError

SOURCE = "rulesets/p.yaml"

# Eleven lines: partners acme and beta, one credit rule; policy sections follow.
HEADER = """\
ruleset: p
version: "1"
effective: {from: 2026-01-01, to: 2027-12-31}
currency: USD
partners:
  acme: {name: Acme Pharma}
  beta: {name: Beta Bio}
credit:
  - id: r1
    clause: "1"
    split: {acme: 50%, beta: 50%}
"""

ACME = """\
  acme:
    entertainment:
      caps: {meal: "100.00", event: "400.00"}
"""

BETA = """\
  beta:
    entertainment:
      caps: {meal: "80.00", event: unlimited}
"""

STRICTER = """\
  - id: p1
    clause: "7.1"
    topic: entertainment
    governs: stricter
"""

EQUAL = """\
  - id: s1
    clause: "8.1"
    default: true
    share: equal
"""


def ruleset_text(policies: str | None = ACME + BETA, precedence: str | None = STRICTER,
                 sharing: str | None = EQUAL, topics: str | None = None,
                 header: str = HEADER) -> str:
    text = header
    if topics is not None:
        text += "topics:\n" + topics
    if policies is not None:
        text += "policies:\n" + policies
    if precedence is not None:
        text += "policy_precedence:\n" + precedence
    if sharing is not None:
        text += "expense_sharing:\n" + sharing
    return text


def load(text: str) -> Ruleset:
    return creditrules.loads(text, source=SOURCE, engine="reference")


def problems(text: str) -> tuple[Problem, ...]:
    with pytest.raises(RulesetError) as info:
        load(text)
    return info.value.problems


def only(text: str, code: str) -> Problem:
    """The single problem of ``text``, which must have ``code``."""
    found = problems(text)
    assert [p.code for p in found] == [code], found
    return found[0]


def at(text: str, needle: str, occurrence: int = 1) -> Location:
    """Where the ``occurrence``-th ``needle`` starts in ``text`` (counted independently of
    YAML)."""
    index = -1
    for _ in range(occurrence):
        index = text.index(needle, index + 1)
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return Location(SOURCE, line, column)


def loc(line: int, column: int) -> Location:
    return Location(SOURCE, line, column)


# -- what loads ---------------------------------------------------------------------------


def test_the_baseline_loads() -> None:
    rs = load(ruleset_text())
    acme = rs.policies["acme"]["entertainment"]
    assert isinstance(acme, EntertainmentPolicy)
    assert acme.caps == {"meal": Decimal("100.00"), "event": Decimal("400.00")}
    beta = rs.policies["beta"]["entertainment"]
    assert isinstance(beta, EntertainmentPolicy)
    assert beta.caps == {"meal": Decimal("80.00"), "event": None}  # unlimited
    [rule] = rs.policy_rules
    assert (rule.id, rule.clause, rule.topic, rule.governs, rule.partner) == (
        "p1", "7.1", "entertainment", "stricter", None)
    [share] = rs.expense_rules
    assert (share.id, share.method, share.excess, share.default) == ("s1", "equal", "payer",
                                                                      True)


def test_full_policy_data_loads() -> None:
    acme = """\
  acme:
    entertainment:
      caps: {meal: "100.00", reception: unlimited}
      categories:
        hcp: {meal: "60", reception: forbidden}
        government: {meal: unlimited}
      forbidden: [gift]
      preapproval_above: "1000.00"
      annual_cap_per_attendee: none
    discounts: {max_discount: 30%, min_margin: 1/5}
"""
    beta = BETA + "    discounts: {max_discount: 25%}\n"
    topics = "  discounts:\n    limits: {max_discount: lower, min_margin: higher}\n"
    precedence = STRICTER + """\
  - id: d1
    clause: "5.4"
    topic: discounts
    governs: beta
"""
    sharing = EQUAL + """\
  - id: s2
    clause: "8.2"
    when: expense.kind == "reception" and count(attendees, category == "hcp") >= 1
    share: {acme: 1/3, beta: 2/3}
    excess: disallowed
    overrides: [s1]
"""
    rs = load(ruleset_text(acme + beta, precedence, sharing, topics))
    policy = rs.policies["acme"]["entertainment"]
    assert isinstance(policy, EntertainmentPolicy)
    assert policy.categories == {"hcp": {"meal": Decimal("60"), "reception": FORBIDDEN},
                                 "government": {"meal": None}}
    assert policy.forbidden == frozenset({"gift"})
    assert policy.preapproval_above == Decimal("1000.00")
    assert policy.annual_cap_per_attendee is None
    assert policy.cap("gift", None) is FORBIDDEN
    assert policy.cap("reception", "hcp") is FORBIDDEN
    assert policy.cap("meal", "government") is None
    assert policy.cap("golf", None) is FORBIDDEN  # not listed: not allowed
    assert rs.policies["acme"]["discounts"] == {"max_discount": Fraction(3, 10),
                                                "min_margin": Fraction(1, 5)}
    assert rs.policies["beta"]["discounts"] == {"max_discount": Fraction(1, 4)}
    [topic] = rs.topics
    assert topic.limits == {"max_discount": "lower", "min_margin": "higher"}
    d1 = next(r for r in rs.policy_rules if r.id == "d1")
    assert (d1.governs, d1.partner) == ("partner", "beta")
    s2 = next(r for r in rs.expense_rules if r.id == "s2")
    assert s2.shares == {"acme": Fraction(1, 3), "beta": Fraction(2, 3)}
    assert s2.overrides == ("s1",)
    assert s2.excess == "disallowed"
    # the canonical form carries the policy sections
    data = rs.canonical()
    assert data["policies"]["acme"]["entertainment"]["categories"]["hcp"] == {
        "meal": "60", "reception": "forbidden"}
    assert [r["id"] for r in data["expense_rules"]] == ["s1", "s2"]


def test_a_ruleset_without_policies_loads() -> None:
    rs = load(ruleset_text(None, None, None))
    assert rs.policies == {}
    assert rs.policy_rules == ()
    assert rs.expense_rules == ()


# -- bad policy data ----------------------------------------------------------------------


def test_policies_of_an_unknown_partner() -> None:
    text = ruleset_text(ACME + BETA + "  gamma:\n    entertainment:\n      caps: {meal: 1}\n")
    p = only(text, "unknown-partner")
    assert p.location == at(text, "gamma:")
    assert "'gamma'" in p.message


def test_policies_of_a_misspelt_partner_suggests_the_name() -> None:
    text = ruleset_text(ACME + BETA.replace("beta:", "betta:"))
    found = problems(text)
    # the typo, and (rightly) beta then declares no policy the stricter rule may need
    assert [(p.code, p.location) for p in found] == [
        ("unknown-partner", at(text, "betta:")),
        ("missing-policy", at(text, "id: p1")),
    ]
    assert "did you mean 'beta'?" in found[0].message
    assert found[1].message.endswith("but beta declares none")


@pytest.mark.parametrize("where", ["caps", "category", "preapproval", "annual"])
def test_negative_amounts(where: str) -> None:
    acme = {
        "caps": ACME.replace('"400.00"', '"-400.00"'),
        "category": ACME + '      categories:\n        hcp: {meal: "-60.00"}\n',
        "preapproval": ACME + '      preapproval_above: "-1000.00"\n',
        "annual": ACME + '      annual_cap_per_attendee: "-2000.00"\n',
    }[where]
    text = ruleset_text(acme + BETA)
    p = only(text, "negative-cap")
    assert p.location == at(text, '"-')
    assert "cannot be negative" in p.message


def test_quoted_keyword_says_to_drop_the_quotes() -> None:
    text = ruleset_text(ACME + BETA.replace('"80.00"', '"unlimited"'))
    p = only(text, "bad-amount")
    assert p.location == at(text, '"unlimited"')
    assert p.message == "beta cap for meal: write unlimited without quotes"


@pytest.mark.parametrize("value", ['"80.001x"', "lots", "1e3"])
def test_bad_amounts(value: str) -> None:
    text = ruleset_text(ACME + BETA.replace('"80.00"', value))
    p = only(text, "bad-amount")
    assert p.location == at(text, value)
    assert p.message.startswith("beta cap for meal: ")
    assert "(or 'unlimited' or 'forbidden')" in p.message


def test_forbidden_is_not_a_default_cap() -> None:
    text = ruleset_text(ACME.replace('"400.00"', "forbidden") + BETA)
    p = only(text, "bad-value")
    assert p.location == at(text, "forbidden")
    assert "list forbidden kinds under 'forbidden'" in p.message


def test_a_kind_both_capped_and_forbidden() -> None:
    text = ruleset_text(ACME + "      forbidden: [gift, meal]\n" + BETA)
    p = only(text, "bad-value")
    assert p.location == at(text, "meal]")
    assert "'meal' is both capped and forbidden" in p.message


def test_unknown_topic_in_policies() -> None:
    text = ruleset_text(ACME + BETA + "    discounts: {max_discount: 20%}\n")
    p = only(text, "unknown-topic")
    assert p.location == at(text, "discounts:")
    assert "unknown policy topic 'discounts'" in p.message
    assert "declare it under 'topics'" in p.message


def test_misspelt_entertainment_topic() -> None:
    text = ruleset_text(ACME + BETA.replace("entertainment:", "entertainmnt:"))
    found = problems(text)
    assert [(p.code, p.location) for p in found] == [
        ("unknown-topic", at(text, "entertainmnt:")),
        ("missing-policy", at(text, "id: p1")),
    ]
    assert "did you mean 'entertainment'?" in found[0].message


def test_unknown_topic_in_a_precedence_rule() -> None:
    text = ruleset_text(precedence=STRICTER + """\
  - id: d1
    clause: "5"
    topic: discount
    governs: stricter
""")
    p = only(text, "unknown-topic")
    assert p.location == at(text, "discount\n")


def test_the_entertainment_topic_is_built_in() -> None:
    text = ruleset_text(topics="  entertainment:\n    limits: {x: lower}\n")
    p = only(text, "bad-value")
    assert p.location == at(text, "entertainment:")


def test_unknown_limit() -> None:
    topics = "  discounts:\n    limits: {max_discount: lower}\n"
    precedence = STRICTER + """\
  - id: d1
    clause: "5"
    topic: discounts
    governs: stricter
"""
    text = ruleset_text(ACME + "    discounts: {max_discont: 20%}\n"
                        + BETA + "    discounts: {max_discount: 25%}\n", precedence,
                        topics=topics)
    p = only(text, "unknown-key")
    assert p.location == at(text, "max_discont:")
    assert "unknown limit 'max_discont' for topic discounts" in p.message
    assert "did you mean 'max_discount'?" in p.message


def test_limit_direction_must_be_lower_or_higher() -> None:
    text = ruleset_text(topics="  discounts:\n    limits: {max_discount: smaller}\n")
    p = only(text, "bad-value")
    assert p.location == at(text, "smaller")
    assert "'lower' or 'higher'" in p.message


def test_bad_limit_value() -> None:
    topics = "  discounts:\n    limits: {max_discount: lower}\n"
    precedence = STRICTER + """\
  - id: d1
    clause: "5"
    topic: discounts
    governs: stricter
"""
    text = ruleset_text(ACME + "    discounts: {max_discount: lots}\n"
                        + BETA + "    discounts: {max_discount: 25%}\n", precedence,
                        topics=topics)
    p = only(text, "bad-share")
    assert p.location == at(text, "lots")


# -- precedence coverage ------------------------------------------------------------------


def test_a_topic_with_policies_but_no_precedence_rule() -> None:
    text = ruleset_text(precedence=None, sharing=None)
    p = only(text, "no-policy-precedence")
    assert p.location == at(text, "policies:")
    assert p.message == ("partners declare entertainment policies but no policy_precedence "
                         "rule says whose governs")


def test_another_topic_with_policies_but_no_precedence_rule() -> None:
    topics = "  discounts:\n    limits: {max_discount: lower}\n"
    text = ruleset_text(ACME + "    discounts: {max_discount: 20%}\n"
                        + BETA + "    discounts: {max_discount: 25%}\n", topics=topics)
    p = only(text, "no-policy-precedence")
    assert p.location == at(text, "policies:")
    assert "discounts" in p.message


def test_expense_sharing_without_entertainment_precedence() -> None:
    text = ruleset_text(policies=None, precedence=None)
    p = only(text, "no-policy-precedence")
    assert p.location == at(text, "expense_sharing:")
    assert p.message == ("expenses are shared but no policy_precedence rule says whose "
                         "entertainment policy governs")


@pytest.mark.parametrize("governs", ["account_owner", "lead_partner", "payer", "stricter"])
def test_missing_policy_for_a_rule_that_may_choose_any_partner(governs: str) -> None:
    text = ruleset_text(ACME, STRICTER.replace("stricter", governs))
    p = only(text, "missing-policy")
    assert p.location == at(text, "id: p1")
    assert p.message == (f"policy rule p1 ({governs}) may choose any partner's entertainment "
                         "policy, but beta declares none")


def test_missing_policy_for_both_partners() -> None:
    topics = "  discounts:\n    limits: {max_discount: lower}\n"
    precedence = STRICTER + """\
  - id: d1
    clause: "5"
    topic: discounts
    governs: stricter
"""
    text = ruleset_text(precedence=precedence, topics=topics)
    p = only(text, "missing-policy")
    assert p.location == at(text, "id: d1")
    assert p.message.endswith("but acme, beta declare none")


def test_missing_policy_of_a_named_partner() -> None:
    text = ruleset_text(ACME, STRICTER.replace("stricter", "beta"))
    p = only(text, "missing-policy")
    assert p.location == at(text, "beta\n")
    assert p.message == ("policy rule p1 says beta's entertainment policy governs, but beta "
                         "declares none")


def test_a_named_partner_that_has_a_policy() -> None:
    rs = load(ruleset_text(precedence=STRICTER.replace("stricter", "beta")))
    [rule] = rs.policy_rules
    assert (rule.governs, rule.partner) == ("partner", "beta")


def test_bad_governs_with_suggestion() -> None:
    text = ruleset_text(precedence=STRICTER.replace("stricter", "stricker"))
    # one problem: the rule is refused, but its topic is not also reported as unruled
    p = only(text, "bad-value")
    assert p.location == at(text, "stricker")
    assert "governs must be one of stricter, account_owner, lead_partner, payer or a " \
        "partner, got 'stricker'" in p.message
    assert "did you mean 'stricter'?" in p.message


def test_governs_a_misspelt_partner() -> None:
    text = ruleset_text(precedence=STRICTER.replace("stricter", "betta"))
    p = only(text, "bad-value")
    assert p.location == at(text, "betta")
    assert "did you mean 'beta'?" in p.message


def test_payer_for_a_topic_other_than_entertainment() -> None:
    topics = "  discounts:\n    limits: {max_discount: lower}\n"
    precedence = STRICTER + """\
  - id: d1
    clause: "5"
    topic: discounts
    governs: payer
"""
    text = ruleset_text(ACME + "    discounts: {max_discount: 20%}\n"
                        + BETA + "    discounts: {max_discount: 25%}\n", precedence,
                        topics=topics)
    p = only(text, "bad-value")
    assert p.location == at(text, "payer\n")
    assert p.message == "governs: payer applies to entertainment expenses only"


def test_a_precedence_rule_needs_topic_and_governs() -> None:
    text = ruleset_text(precedence="  - id: p1\n    clause: \"7.1\"\n")
    found = problems(text)
    missing = [p for p in found if p.code == "missing-key"]
    assert sorted(p.message for p in missing) == ["policy rule p1 needs 'governs'",
                                                  "policy rule p1 needs 'topic'"]
    assert {p.location for p in missing} == {at(text, "id: p1")}
    # with no topic the rule covers none: entertainment policies and sharing lack a rule
    assert sorted(p.code for p in found if p not in missing) == [
        "no-policy-precedence", "no-policy-precedence"]


def test_unknown_key_in_a_precedence_rule() -> None:
    text = ruleset_text(precedence=STRICTER + "    govern: beta\n")
    p = only(text, "unknown-key")
    assert p.location == at(text, "govern:")


# -- rule ids, overrides ------------------------------------------------------------------


def test_duplicate_policy_rule_id() -> None:
    text = ruleset_text(precedence=STRICTER + STRICTER.replace("7.1", "7.2"))
    p = only(text, "duplicate-rule")
    assert p.location == at(text, "id: p1", 2)
    assert p.message == ("rule id 'p1' is used twice in policy_precedence for entertainment "
                         f"(first at line {at(text, 'id: p1').line})")


def test_the_same_policy_rule_id_in_two_topics_is_allowed() -> None:
    topics = "  discounts:\n    limits: {max_discount: lower}\n"
    precedence = STRICTER + STRICTER.replace("entertainment", "discounts")
    rs = load(ruleset_text(ACME + "    discounts: {max_discount: 20%}\n"
                           + BETA + "    discounts: {max_discount: 25%}\n", precedence,
                           topics=topics))
    assert sorted(r.key for r in rs.policy_rules) == ["policy:discounts:p1",
                                                      "policy:entertainment:p1"]


def test_duplicate_expense_rule_id() -> None:
    text = ruleset_text(sharing=EQUAL + EQUAL.replace("8.1", "8.2"))
    p = only(text, "duplicate-rule")
    assert p.location == at(text, "id: s1", 2)
    assert "in expense_sharing" in p.message


def test_unknown_rule_in_overrides() -> None:
    text = ruleset_text(precedence=STRICTER + "    overrides: [p2]\n")
    p = only(text, "unknown-rule")
    assert p.location == at(text, "id: p1")
    assert p.message.startswith("rule p1 overrides unknown rule 'p2' (topic entertainment)")


def test_overrides_name_rules_of_the_same_topic_only() -> None:
    topics = "  discounts:\n    limits: {max_discount: lower}\n"
    precedence = STRICTER + """\
  - id: d1
    clause: "5"
    topic: discounts
    governs: stricter
    overrides: [p1]
"""
    text = ruleset_text(ACME + "    discounts: {max_discount: 20%}\n"
                        + BETA + "    discounts: {max_discount: 25%}\n", precedence,
                        topics=topics)
    p = only(text, "unknown-rule")
    assert p.location == at(text, "id: d1")
    assert "(topic discounts)" in p.message


def test_unknown_rule_in_expense_overrides() -> None:
    text = ruleset_text(sharing=EQUAL + "    overrides: [s9]\n")
    p = only(text, "unknown-rule")
    assert p.location == at(text, "id: s1")
    assert "overrides unknown rule 's9'" in p.message


def test_override_cycle() -> None:
    precedence = STRICTER + "    overrides: [p2]\n" + """\
  - id: p2
    clause: "7.2"
    topic: entertainment
    governs: account_owner
    overrides: [p1]
"""
    text = ruleset_text(precedence=precedence)
    p = only(text, "override-cycle")
    assert p.location == at(text, "id: p1")
    assert p.message == "overrides form a cycle: p1 -> p2 -> p1"


def test_a_rule_overriding_itself() -> None:
    text = ruleset_text(sharing=EQUAL + "    overrides: [s1]\n")
    p = only(text, "override-cycle")
    assert p.location == at(text, "id: s1")
    assert p.message == "rule s1 overrides itself"


# -- expense sharing rules ----------------------------------------------------------------


def test_expense_shares_not_totalling_100_percent() -> None:
    text = ruleset_text(sharing=EQUAL.replace("share: equal", "share: {acme: 50%, beta: 40%}"))
    p = only(text, "split-total")
    assert p.location == at(text, "{acme: 50%", 2)  # the first is the credit rule's
    assert p.message == "expense rule s1 shares total 90%, not 100%"


def test_expense_share_of_an_unknown_partner() -> None:
    text = ruleset_text(sharing=EQUAL.replace("share: equal",
                                              "share: {acme: 50%, betta: 50%}"))
    # one problem: the typo, not also a total of 50%
    p = only(text, "unknown-partner")
    assert p.location == at(text, "betta")
    assert "did you mean 'beta'?" in p.message


def test_bad_share_keyword() -> None:
    text = ruleset_text(sharing=EQUAL.replace("share: equal", "share: halves"))
    p = only(text, "bad-value")
    assert p.location == at(text, "halves")
    assert "'equal', 'by_credit' or 'payer'" in p.message


def test_bad_excess_with_suggestion() -> None:
    text = ruleset_text(sharing=EQUAL + "    excess: payor\n")
    p = only(text, "bad-value")
    assert p.location == at(text, "payor")
    assert "excess is borne by 'payer', a partner, or 'disallowed', got 'payor'" in p.message
    assert "did you mean 'payer'?" in p.message


@pytest.mark.parametrize("excess", ["payer", "disallowed", "acme", "beta"])
def test_good_excess(excess: str) -> None:
    rs = load(ruleset_text(sharing=EQUAL + f"    excess: {excess}\n"))
    assert rs.expense_rules[0].excess == excess


def test_a_condition_error_inside_an_expense_rule() -> None:
    text = ruleset_text(sharing=EQUAL + '    when: expense.kindd == "meal"\n')
    p = only(text, "unknown-field")
    assert p.location == at(text, "expense.kindd")
    assert "unknown field 'expense.kindd'" in p.message
    assert "did you mean 'expense.kind'?" in p.message


def test_attendee_conditions_are_checked() -> None:
    text = ruleset_text(sharing=EQUAL + '    when: count(attendees, categry == "hcp") >= 1\n')
    p = only(text, "unknown-field")
    assert p.location == at(text, "categry")


def test_expense_fields_are_not_known_to_precedence_rules() -> None:
    # whose policy governs is decided per deal: expense fields are not in scope there
    text = ruleset_text(precedence=STRICTER + '    when: expense.kind == "meal"\n')
    p = only(text, "unknown-field")
    assert p.location == at(text, "expense.kind")


def test_by_credit_needs_a_fixed_total_credit_type() -> None:
    header = HEADER.replace("credit:\n", "credit_types:\n  bonus: {total: declared}\ncredit:\n",
                            1).replace("    split:", "    type: bonus\n    overlay:")
    text = ruleset_text(sharing=EQUAL.replace("share: equal", "share: by_credit"),
                        header=header)
    p = only(text, "bad-value")
    assert p.location == at(text, "by_credit")
    assert p.message == ("expense rule s1 shares by credit, but no credit type has a fixed "
                         "total")


def test_by_credit_with_a_fixed_total_loads() -> None:
    rs = load(ruleset_text(sharing=EQUAL.replace("share: equal", "share: by_credit")))
    assert rs.expense_rules[0].method == "by_credit"


def test_every_mistake_is_reported_at_once() -> None:
    text = ruleset_text(ACME.replace('"100.00"', '"-1"') + BETA.replace('"80.00"', "x"),
                        STRICTER.replace("stricter", "stricker"),
                        EQUAL + "    excess: payor\n")
    assert [p.code for p in problems(text)] == ["negative-cap", "bad-amount", "bad-value",
                                                "bad-value"]


def test_expense_conditions_name_known_kinds_and_categories() -> None:
    """A misspelt kind or category in an expense rule would never match: refused, located,
    with the near name."""
    rule = ('  - id: typo\n    clause: "8.9"\n'
            '    when: expense.kind == "meel" or count(attendees, category == "hpc") >= 1\n'
            '    share: equal\n')
    text = ruleset_text(ACME + BETA).replace("expense_sharing:\n", "expense_sharing:\n" + rule)
    found = problems(text)
    assert [p.code for p in found] == ["unknown-kind", "unknown-category"]
    assert found[0].location == at(text, '"meel"')
    assert "did you mean 'meal'?" in found[0].message
    assert found[1].location == at(text, '"hpc"')
    # These policies name no attendee category at all.
    assert found[1].message == "no policy names the attendee category 'hpc'"
