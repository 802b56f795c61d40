"""Tests of the ruleset loader: every problem code, located to the token, and what loads."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest

import creditrules
from creditrules.agreement.ruleset import ByContribution, DateRange, Overlay, Ruleset, Split
from creditrules.errors import Location, Problem, RulesetError

SOURCE = "rulesets/x.yaml"
ROOT = Path(__file__).resolve().parent.parent

# Seven lines; rules follow under "credit:" on line 8.
HEADER = """\
ruleset: x
version: "1"
effective: {from: 2026-01-01, to: 2027-12-31}
currency: USD
partners:
  acme: {name: Acme Pharma}
  beta: {name: Beta Bio}
"""

RULE = """\
  - id: r1
    clause: "1"
    split: {acme: 50%, beta: 50%}
"""


def with_rules(*rules: str, top: str = "") -> str:
    return HEADER + top + "credit:\n" + "".join(rules)


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
    """Where the ``occurrence``-th ``needle`` starts in ``text`` (counted independently of YAML)."""
    index = -1
    for _ in range(occurrence):
        index = text.index(needle, index + 1)
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return Location(SOURCE, line, column)


def loc(line: int, column: int) -> Location:
    return Location(SOURCE, line, column)


# -- YAML level ---------------------------------------------------------------------------


def test_yaml_syntax() -> None:
    text = "ruleset: x\n\tversion: 1\n"
    p = only(text, "yaml-syntax")
    assert p.location == loc(2, 1)
    assert p.message == ("YAML syntax error: a tab ('\\t') cannot indent YAML or separate a key "
                         "from its value: use spaces")


def test_yaml_alias() -> None:
    text = with_rules(RULE, "  - id: r2\n    clause: &c \"2\"\n    split: *s\n").replace(
        "split: {acme", "split: &s {acme")
    found = problems(text)
    assert [(p.code, p.location) for p in found] == [
        ("yaml-alias", at(text, "&s")), ("yaml-alias", at(text, "&c")),
        ("yaml-alias", at(text, "*s"))]
    assert found[0].message == "anchors and aliases are not allowed in rulesets"


def test_yaml_bomb_is_refused() -> None:
    lines = ['lol: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"x{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    text = HEADER + "\n".join(lines) + "\n"
    found = problems(text)
    assert {p.code for p in found} == {"yaml-alias"}
    assert found[0].location == at(text, "&a")


def test_yaml_depth() -> None:
    text = HEADER + "title: " + "[" * 40 + "]" * 40 + "\n"
    p = only(text, "yaml-depth")
    assert p.message == "nesting deeper than 32 levels"
    assert p.location == loc(8, 8 + 32)


def test_duplicate_key() -> None:
    text = HEADER + "currency: EUR\ncredit:\n" + RULE
    p = only(text, "duplicate-key")
    assert p.location == loc(8, 1)
    assert p.message == "duplicate key 'currency' (first given at line 4)"


def test_duplicate_key_in_a_rule() -> None:
    text = with_rules(RULE + "    clause: \"1 bis\"\n")
    p = only(text, "duplicate-key")
    assert p.location == at(text, "clause", 2)
    assert p.message == "duplicate key 'clause' (first given at line 10)"


def test_not_a_mapping() -> None:
    for text in ("", "- a\n- b\n", "just text\n"):
        p = only(text, "bad-value")
        assert p.location == loc(1, 1)
        assert p.message == "a ruleset file must be a mapping"


# -- keys ---------------------------------------------------------------------------------


def test_unknown_key_with_suggestion() -> None:
    text = HEADER + "credits:\n" + RULE
    found = problems(text)
    assert [(p.code, p.location) for p in found] == [
        ("missing-key", loc(1, 1)), ("unknown-key", loc(8, 1))]
    assert found[0].message == "the ruleset needs 'credit'"
    assert found[1].message.startswith("unknown key 'credits' in the ruleset (known: ")
    assert found[1].message.endswith("); did you mean 'credit'?")


def test_unknown_key_in_a_rule() -> None:
    text = with_rules(RULE + "    wen: account.named\n")
    p = only(text, "unknown-key")
    assert p.location == at(text, "wen")
    assert p.message.startswith("unknown key 'wen' in a credit rule (known: ")
    assert p.message.endswith("did you mean 'when'?")


def test_unknown_key_in_partner_and_effective() -> None:
    text = with_rules(RULE).replace("{name: Beta Bio}", "{nme: Beta Bio}").replace(
        "to: 2027", "until: 2027")
    found = problems(text)
    assert [(p.code, p.location) for p in found] == [
        ("unknown-key", at(text, "until")), ("unknown-key", at(text, "nme"))]
    assert found[0].message == "unknown key 'until' in effective (known: from, to)"
    assert found[1].message == ("unknown key 'nme' in partner beta (known: name); "
                                "did you mean 'name'?")


def test_missing_top_level_keys() -> None:
    text = "title: nothing else\n"
    found = problems(text)
    assert {p.code for p in found} == {"missing-key"}
    assert {p.location for p in found} == {loc(1, 1)}
    assert sorted(p.message for p in found) == [
        f"the ruleset needs {key!r}"
        for key in ("credit", "currency", "effective", "partners", "ruleset", "version")]


def test_missing_key_in_a_rule() -> None:
    text = with_rules("  - id: r1\n    split: {acme: 50%, beta: 50%}\n")
    p = only(text, "missing-key")
    assert p.location == at(text, "id: r1")
    assert p.message == "rule r1 needs 'clause'"


def test_rule_without_id() -> None:
    text = with_rules("  - clause: \"1\"\n    split: {acme: 50%, beta: 50%}\n")
    p = only(text, "missing-key")
    assert p.location == at(text, "clause")
    assert p.message == "a credit rule needs 'id'"


def test_null_value_is_missing() -> None:
    text = HEADER.replace("currency: USD", "currency:") + "credit:\n" + RULE
    p = only(text, "missing-key")
    assert p.message == "the ruleset needs 'currency'"


# -- names, dates, shares -----------------------------------------------------------------


def test_bad_name_ruleset_and_partner() -> None:
    text = with_rules(RULE).replace("ruleset: x", "ruleset: -x").replace(
        "acme: {name", "Acme: {name").replace("acme: 50%", "Acme: 50%")
    found = problems(text)
    codes = [(p.code, p.location) for p in found]
    assert ("bad-name", at(text, "-x")) in codes
    assert ("bad-name", at(text, "Acme:")) in codes
    assert found[0].message == ("ruleset id '-x' must be a short name: lower-case letters, "
                                "digits, '-' or '_'")


def test_bad_name_rule_id() -> None:
    text = with_rules(RULE.replace("id: r1", "id: r 1"))
    p = only(text, "bad-name")
    assert p.location == at(text, "r 1")
    assert "rule id 'r 1' must be a short name" in p.message


@pytest.mark.parametrize("value", ["2026-13-01", "2026-1-1", "01/01/2026", "\"soon\""])
def test_bad_date(value: str) -> None:
    text = with_rules(RULE).replace("from: 2026-01-01", f"from: {value}")
    p = only(text, "bad-date")
    assert p.location == at(text, value)
    shown = value.strip('"')
    hint = ": there is no month 13: months run from 01 to 12" if value == "2026-13-01" else ""
    assert p.message == f"effective 'from' must be a date YYYY-MM-DD, got {shown!r}{hint}"


def test_bad_effective() -> None:
    text = with_rules(RULE).replace("to: 2027-12-31", "to: 2025-12-31")
    p = only(text, "bad-effective")
    assert p.location == at(text, "{from")
    assert p.message == "effective ends (2025-12-31) before it starts (2026-01-01)"


def test_bad_effective_in_a_rule() -> None:
    text = with_rules(RULE + "    effective:\n      from: 2026-06-01\n      to: 2026-05-31\n")
    p = only(text, "bad-effective")
    assert p.location == at(text, "from: 2026-06-01")
    assert p.message == "rule r1 effective ends (2026-05-31) before it starts (2026-06-01)"


@pytest.mark.parametrize(
    ("share", "message"),
    [("fifty", "rule r1 split for acme: 'fifty' is not a share (write e.g. '70%', '33.5%', "
               "'33 1/3%', '0.7' or '1/3')"),
     ("-50%", "rule r1 split for acme: '-50%' is a negative share"),
     ("150%", "rule r1 split for acme 150% is above 100%"),
     ("1e-1", "rule r1 split for acme: '1e-1' is not a share (write e.g. '70%', '33.5%', "
              "'33 1/3%', '0.7' or '1/3')"),
     ("1/0", "rule r1 split for acme: '1/0' divides by zero")],
)
def test_bad_share(share: str, message: str) -> None:
    text = with_rules(RULE.replace("acme: 50%", f"acme: {share}"))
    # Only the share: the total of a split with a bad share is not reported on top.
    p = only(text, "bad-share")
    assert p.location == at(text, share)
    assert p.message == message


def test_bad_share_in_overlay_above_limit() -> None:
    text = with_rules("  - id: o\n    clause: o\n    overlay: {acme: 1001%, beta: 100%}\n")
    p = only(text, "bad-share")
    assert p.location == at(text, "1001%")
    assert p.message == "rule o overlay for acme 1001% is above 1000%"


def test_bad_share_in_credit_type_total() -> None:
    text = with_rules(RULE, top="credit_types: {revenue: {total: 0%}}\n")
    p = problems(text)[0]
    assert p.code == "bad-share"
    assert p.location == at(text, "0%}")
    assert p.message == "credit type revenue total must be above 0%"


# -- partners -----------------------------------------------------------------------------


def test_unknown_partner_in_a_split() -> None:
    text = with_rules(RULE.replace("acme: 50%", "acmee: 50%"))
    p = only(text, "unknown-partner")
    assert p.location == loc(11, 13)
    assert p.location == at(text, "acmee")
    assert p.message == "unknown partner 'acmee' (known: acme, beta); did you mean 'acme'?"
    with pytest.raises(RulesetError) as info:
        load(text)
    assert str(info.value) == (
        "rulesets/x.yaml:11:13: unknown partner 'acmee' (known: acme, beta); "
        "did you mean 'acme'?")


def test_unknown_partner_in_overlay_and_normalise() -> None:
    text = with_rules(
        "  - id: o\n    clause: o\n    overlay: {acme: 100%, btea: 100%}\n",
        top="contribution: {weights: {call: 1}, normalise: {acm: 0.5}}\n")
    found = problems(text)
    assert [(p.code, p.location) for p in found] == [
        ("unknown-partner", at(text, "acm:")), ("unknown-partner", at(text, "btea"))]
    assert found[0].message == "unknown partner 'acm' (known: acme, beta); did you mean 'acme'?"
    assert found[1].message == "unknown partner 'btea' (known: acme, beta); did you mean 'beta'?"


def test_too_few_partners() -> None:
    text = with_rules(RULE.replace("{acme: 50%, beta: 50%}", "{acme: 100%}")).replace(
        "  beta: {name: Beta Bio}\n", "")
    found = problems(text)
    assert found == (Problem("too-few-partners", "an alliance needs at least two partners",
                               at(text, "acme: {")),)


def test_empty_partners() -> None:
    text = HEADER.replace("  acme: {name: Acme Pharma}\n  beta: {name: Beta Bio}\n",
                          "  {}\n") + "credit: []\n"
    p = only(text, "too-few-partners")
    assert p.location == at(text, "{}")


def test_partner_names_default_to_ids() -> None:
    rs = load(with_rules(RULE).replace("{name: Beta Bio}", "{}"))
    assert [(p.id, p.name) for p in rs.partners] == [("acme", "Acme Pharma"), ("beta", "beta")]


# -- totals and types ---------------------------------------------------------------------


def test_split_total() -> None:
    text = with_rules(RULE.replace("beta: 50%", "beta: 40%"))
    p = only(text, "split-total")
    assert p.location == at(text, "{acme")
    assert p.message == "rule r1 split totals 90%; credit type 'revenue' requires exactly 100%"


def test_split_total_with_thirds_is_exact() -> None:
    rs = load(with_rules(RULE.replace("acme: 50%, beta: 50%", "acme: 1/3, beta: 66 2/3%")))
    (rule,) = rs.rules
    assert isinstance(rule.outcome, Split)
    assert rule.outcome.shares == {"acme": Fraction(1, 3), "beta": Fraction(2, 3)}


def test_split_total_of_if_no_contribution() -> None:
    text = with_rules(
        "  - id: c\n    clause: c\n    split: by_contribution\n"
        "    if_no_contribution: {acme: 60%, beta: 60%}\n",
        top="contribution: {weights: {call: 1}}\n")
    p = only(text, "split-total")
    assert p.location == at(text, "{acme: 60%")
    assert p.message == "rule c if_no_contribution shares total 120%, not 100%"


def test_split_total_of_by_contribution() -> None:
    text = with_rules("  - id: c\n    clause: c\n    split: by_contribution\n    total: 90%\n",
                      top="contribution: {weights: {call: 1}}\n")
    p = only(text, "split-total")
    assert p.location == at(text, "by_contribution\n")
    assert p.message == ("rule c by_contribution total 90% differs from credit type "
                         "'revenue' total 100%")


def test_overlay_in_fixed_type() -> None:
    text = with_rules("  - id: o\n    clause: o\n    type: revenue\n"
                      "    overlay: {acme: 100%, beta: 100%}\n")
    p = only(text, "overlay-in-fixed-type")
    assert p.location == at(text, "{acme")
    assert p.message == ("rule o gives overlay credit in credit type 'revenue', whose total "
                         "is fixed at 100%; use a type with 'total: declared'")


def test_unknown_type() -> None:
    text = with_rules(RULE + "    type: revenu\n")
    p = only(text, "unknown-type")
    assert p.location == at(text, "revenu\n")
    assert p.message == ("rule r1: unknown credit type 'revenu' (known: overlay, revenue); "
                         "did you mean 'revenue'?")


def test_unknown_type_in_precedence() -> None:
    text = with_rules(RULE, top="precedence:\n  revenu: [r1]\n")
    p = only(text, "unknown-type")
    assert p.location == at(text, "revenu:")
    assert p.message == ("precedence for unknown credit type 'revenu' (known: overlay, "
                         "revenue); did you mean 'revenue'?")


def test_no_type_takes_overlay_credit() -> None:
    text = with_rules("  - id: o\n    clause: o\n    overlay: {acme: 100%, beta: 100%}\n",
                      top="credit_types:\n  revenue: {total: 100%}\n")
    p = only(text, "unknown-type")
    assert p.location == at(text, "id: o")
    assert p.message == ("rule o: no credit type takes overlay credit; declare one in "
                         "credit_types or give 'type'")


def test_two_outcomes() -> None:
    text = with_rules(RULE + "    overlay: {acme: 100%}\n")
    p = only(text, "two-outcomes")
    assert p.location == at(text, "id: r1")
    assert p.message == "rule r1 gives both 'split' and 'overlay'"


def test_missing_outcome() -> None:
    text = with_rules("  - id: r1\n    clause: \"1\"\n")
    p = only(text, "missing-outcome")
    assert p.location == at(text, "id: r1")
    assert p.message == "rule r1 needs an outcome: 'split' or 'overlay'"


def test_bad_attribute_type() -> None:
    text = with_rules(RULE, top="attributes:\n  indication: txt\n")
    p = only(text, "bad-type")
    assert p.location == at(text, "txt")
    assert p.message == ("attribute 'indication' has unknown type 'txt' (known: bool, date, "
                         "number, text); did you mean 'text'?")


# -- rule references ----------------------------------------------------------------------


def test_duplicate_rule() -> None:
    second = RULE.replace("clause: \"1\"", "clause: \"1 again\"")
    text = with_rules(RULE, second)
    p = only(text, "duplicate-rule")
    assert p.location == at(text, "id: r1", 2)
    assert p.message == "rule id 'r1' is used twice (first at line 9)"


def test_unknown_rule_in_overrides() -> None:
    text = with_rules(RULE + "    overrides: [r2]\n",
                      RULE.replace("r1", "r3").replace("50%", "50%"))
    p = only(text, "unknown-rule")
    assert p.location == at(text, "r2]")
    assert p.message == "rule r1 overrides unknown rule 'r2' (known: r1, r3)"


def test_unknown_rule_in_overrides_with_suggestion() -> None:
    text = with_rules(RULE.replace("r1", "named-accounts"),
                      RULE.replace("r1", "beta-sourced") + "    overrides: [named-acounts]\n")
    p = only(text, "unknown-rule")
    assert p.location == at(text, "named-acounts")
    assert p.message.endswith("did you mean 'named-accounts'?")


def test_unknown_rule_in_precedence() -> None:
    text = with_rules(RULE, top="precedence:\n  revenue: [r1, r9]\n")
    p = only(text, "unknown-rule")
    assert p.location == at(text, "r9")
    assert p.message == "precedence names unknown rule 'r9' (known: r1)"


def test_override_type() -> None:
    text = with_rules(RULE + "    overrides: [joint]\n",
                      "  - id: joint\n    clause: j\n    overlay: {acme: 100%, beta: 100%}\n")
    p = only(text, "override-type")
    assert p.location == at(text, "joint]")
    assert p.message == ("rule r1 (revenue) overrides 'joint', a rule of another credit type; "
                         "rules compete only within their type")


def test_override_type_in_precedence() -> None:
    text = with_rules(RULE, "  - id: joint\n    clause: j\n    overlay: {acme: 100%}\n",
                      top="precedence:\n  revenue: [joint, r1]\n")
    p = only(text, "override-type")
    assert p.location == at(text, "joint,")
    assert p.message == "precedence for revenue names 'joint', a rule of another credit type"


def test_override_cycle_self() -> None:
    text = with_rules(RULE + "    overrides: [r1]\n")
    p = only(text, "override-cycle")
    assert p.location == at(text, "r1]")
    assert p.message == "rule r1 overrides itself"


def test_override_cycle_two_rules() -> None:
    text = with_rules(RULE.replace("r1", "a") + "    overrides: [b]\n",
                      RULE.replace("r1", "b") + "    overrides: [a]\n")
    p = only(text, "override-cycle")
    assert p.location == at(text, "id: a")
    assert p.message == "overrides and precedence form a cycle: a -> b -> a"


def test_override_cycle_three_rules_located_at_the_first_rule_in_the_file() -> None:
    text = with_rules(RULE.replace("r1", "c") + "    overrides: [a]\n",
                      RULE.replace("r1", "a") + "    overrides: [b]\n",
                      RULE.replace("r1", "b") + "    overrides: [c]\n")
    p = only(text, "override-cycle")
    assert p.location == at(text, "id: c")
    assert p.message == "overrides and precedence form a cycle: a -> b -> c -> a"


def test_override_cycle_through_precedence() -> None:
    text = with_rules(RULE.replace("r1", "a"), RULE.replace("r1", "b") + "    overrides: [a]\n",
                      top="precedence:\n  revenue: [a, b]\n")
    p = only(text, "override-cycle")
    assert p.location == at(text, "id: a")
    assert p.message == "overrides and precedence form a cycle: a -> b -> a"


def test_precedence_consistent_with_overrides_loads() -> None:
    rs = load(with_rules(RULE.replace("r1", "a"), RULE.replace("r1", "b") + "    overrides: [a]\n",
                         top="precedence:\n  revenue: [b, a]\n"))
    # Whatever the shape of ``precedence``, its canonical form holds the declared order.
    declared = json.dumps(rs.canonical()["precedence"])
    assert '"revenue"' in declared
    assert '["b", "a"]' in declared


# -- conditions, located in the file ------------------------------------------------------

# (style, the ``when:`` value as written); each puts the offending token on its own spot.
CONDITION_STYLES = [
    ("plain", "account.named and {bad}"),
    ("double-quoted", '"account.named and {bad}"'),
    ("single-quoted", "'account.named and {bad}'"),
    ("plain-folded", "account.named and\n      {bad}"),
    ("double-quoted-folded", '"account.named and\n      {bad}"'),
    ("block-folded", ">\n      account.named and\n      lead.source == \"beta\" or\n      {bad}"),
    ("block-folded-strip", ">-  # comment\n      account.named\n      and {bad}"),
    ("block-literal", "|\n      account.named and\n        {bad}"),
]

# (code, the offending condition part ({q}: a string quote), the token it must point at,
# message)
CONDITION_ERRORS = [
    ("condition-syntax", "amount = 5", "=", "unexpected '='; use '==' to compare"),
    ("unknown-field", "account.ownr == {q}acme{q}", "account.ownr",
     "unknown field 'account.ownr' (known: account.id, account.named, account.owner, "
     "account.segment, account.territory, amount, attributes.indication, currency, date, "
     "id, lead.rep, lead.source, product); did you mean 'account.owner'?"),
    ("type-mismatch", "amount == account.segment", "account.segment",
     "cannot compare amount (number) with account.segment (text)"),
    ("unknown-partner", "account.owner == {q}acmee{q}", "{q}acmee",
     "unknown partner 'acmee' (known: acme, beta); did you mean 'acme'?"),
]


@pytest.mark.parametrize(("style", "template"), CONDITION_STYLES,
                         ids=[s for s, _ in CONDITION_STYLES])
@pytest.mark.parametrize(("code", "bad", "token", "message"), CONDITION_ERRORS,
                         ids=[c for c, *_ in CONDITION_ERRORS])
def test_condition_errors_point_at_the_token_in_the_file(
    style: str, template: str, code: str, bad: str, token: str, message: str
) -> None:
    q = "'" if style.startswith("double-quoted") else '"'
    bad, token = bad.format(q=q), token.format(q=q)
    text = with_rules(RULE + f"    when: {template.format(bad=bad)}\n",
                      top="attributes: {indication: text}\n")
    p = only(text, code)
    assert p.message == message
    # The token as written in the file, found by plain text search after "when:".
    when_at = text.index("when:")
    index = text.index(token, text.index(bad.split()[0], when_at))
    assert p.location == at(text[:index] + "\0" + text[index + 1:], "\0")


def test_condition_unknown_partner_example() -> None:
    text = with_rules(RULE + "    when: account.owner == \"acmee\"\n")
    p = only(text, "unknown-partner")
    assert p.location == loc(12, 28)
    assert str(p) == ("rulesets/x.yaml:12:28: unknown partner 'acmee' (known: acme, beta); "
                      "did you mean 'acme'?")


def test_condition_error_at_the_end_of_a_block() -> None:
    text = with_rules(RULE + "    when: |\n      account.named and\n      account.owner ==\n")
    p = only(text, "condition-syntax")
    assert p.message == "expected a value after '=='"
    assert p.location == loc(14, 23)  # just after '=='


def test_condition_errors_after_escapes_in_double_quotes() -> None:
    text = with_rules(RULE + '    when: "lead.source == \\"beta\\" and account.owner == '
                             '\\"acmee\\""\n')
    p = only(text, "unknown-partner")
    assert p.location == at(text, '\\"acmee')


def test_conditions_keep_their_text() -> None:
    rs = load(with_rules(RULE + "    when: >\n      account.named and\n"
                                "      lead.source == \"beta\"\n"))
    (rule,) = rs.rules
    assert rule.when is not None
    assert rule.when_text == 'account.named and lead.source == "beta"'


# -- rounding and currency ----------------------------------------------------------------


def test_unknown_currency() -> None:
    text = with_rules(RULE).replace("currency: USD", "currency: XYZ")
    p = only(text, "unknown-currency")
    assert p.location == at(text, "XYZ")
    assert p.message == "no currency unit known for 'XYZ': give rounding: {unit: ...}"


def test_unknown_currency_with_a_unit_loads() -> None:
    rs = load(with_rules(RULE, top="rounding: {unit: \"0.5\"}\n").replace("USD", "XYZ"))
    assert rs.unit == Decimal("0.5")


def test_missing_currency_is_reported_once() -> None:
    text = with_rules(RULE).replace("currency: USD\n", "")
    p = only(text, "missing-key")
    assert p.message == "the ruleset needs 'currency'"


@pytest.mark.parametrize(
    ("rounding", "code", "token", "message"),
    [("{tie_break: random}", "bad-value", "random",
      "tie_break must be 'hashed' or a list of partners in priority order"),
     ("{tie_break: [acme, acmee]}", "unknown-partner", "acmee",
      "unknown partner 'acmee' (known: acme, beta); did you mean 'acme'?"),
     ("{tie_break: [acme, acme]}", "bad-value", "acme]",
      "partner 'acme' is listed twice in tie_break"),
     ("{unit: \"0\"}", "bad-value", "\"0\"", "rounding unit '0': must be above 0"),
     ("{unit: 1e-2}", "bad-value", "1e-2", "rounding unit '1e-2': '1e-2' is not a plain "
      "decimal amount (digits with an optional sign and decimal point; no exponent, "
      "separators or spaces)"),
     ("{unti: \"0.01\"}", "unknown-key", "unti",
      "unknown key 'unti' in rounding (known: tie_break, unit); did you mean 'unit'?")],
)
def test_bad_rounding(rounding: str, code: str, token: str, message: str) -> None:
    text = with_rules(RULE, top=f"rounding: {rounding}\n")
    p = only(text, code)
    assert p.location == at(text, token)
    assert p.message == message


def test_tie_break_order() -> None:
    rs = load(with_rules(RULE, top="rounding: {tie_break: [beta, acme]}\n"))
    assert rs.tie_break.kind == "order"
    assert rs.tie_break.parties == ("beta", "acme")


# -- other values -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "token", "message"),
    [("    default: no\n", "no\n", "default must be true or false, got 'no'"),
     ("    default: \"true\"\n", "\"true\"", "default must be true or false, got 'true'"),
     ("    rep_credit: all\n", "all", "rep_credit must be one of equal, by_contribution, "
      "owner, got 'all'"),
     ("    overrides: r2\n", "r2", "overrides must be a list"),
     ("    when: [a]\n", "[a]", "when must be a single value")],
)
def test_bad_values_in_rules(extra: str, token: str, message: str) -> None:
    text = with_rules(RULE + extra)
    p = only(text, "bad-value")
    assert p.location == at(text, token)
    assert p.message == message


def test_bad_split_word() -> None:
    text = with_rules(RULE.replace("{acme: 50%, beta: 50%}", "half"))
    p = only(text, "bad-value")
    assert p.location == at(text, "half")
    assert p.message == ("rule r1 split must be partner shares, 'by_contribution' or 'equal', "
                         "got 'half'")


def test_by_contribution_needs_weights() -> None:
    text = with_rules(RULE.replace("{acme: 50%, beta: 50%}", "by_contribution"))
    p = only(text, "missing-key")
    assert p.location == at(text, "id: r1")
    assert p.message == ("rule r1 splits by contribution but neither it nor the ruleset gives "
                         "'weights'")


# -- several problems at once -------------------------------------------------------------


MESSY = """\
ruleset: x
version: "1"
effective: {from: 2026-01-01}
currency: USD
partners:
  acme: {name: Acme}
  beta: {name: Beta}
precedence:
  revenue: [r9]
credit:
  - id: r1
    clause: "1"
    split: {acme: 60%, beta: 30%}
  - id: r2
    clause: "2"
    when: account.owner == "acmee"
    split: {acme: 50%, betaa: 50%}
    overrides: [r7]
  - id: r3
    clause: "3"
    wen: account.named
    split: {acme: 50%, beta: 50%}
"""


def test_every_problem_is_reported_at_once_in_file_order() -> None:
    with pytest.raises(RulesetError) as info:
        load(MESSY)
    error = info.value
    assert [(p.code, p.location) for p in error.problems] == [
        ("unknown-rule", loc(9, 13)),
        ("split-total", loc(13, 12)),
        ("unknown-partner", loc(16, 28)),
        ("unknown-partner", loc(17, 24)),
        ("unknown-rule", loc(18, 17)),
        ("unknown-key", loc(21, 5)),
    ]
    assert error.codes == [p.code for p in error.problems]
    lines = str(error).splitlines()
    assert len(lines) == 6
    assert lines[0] == ("rulesets/x.yaml:9:13: precedence names unknown rule 'r9' "
                        "(known: r1, r2, r3)")
    assert lines[1] == ("rulesets/x.yaml:13:12: rule r1 split totals 90%; credit type "
                        "'revenue' requires exactly 100%")
    assert lines[2] == ("rulesets/x.yaml:16:28: unknown partner 'acmee' (known: acme, beta); "
                        "did you mean 'acme'?")
    for line, problem in zip(lines, error.problems, strict=True):
        assert problem.location is not None
        assert line == (f"{problem.location.file}:{problem.location.line}:"
                        f"{problem.location.column}: {problem.message}")


def test_problems_are_sorted_whatever_order_they_are_found_in() -> None:
    error = RulesetError([Problem("b", "second", loc(5, 1)), Problem("a", "first", loc(2, 9)),
                          Problem("c", "third", loc(5, 3))])
    assert error.codes == ["a", "b", "c"]
    assert str(error) == ("rulesets/x.yaml:2:9: first\nrulesets/x.yaml:5:1: second\n"
                          "rulesets/x.yaml:5:3: third")


# -- what loads ---------------------------------------------------------------------------


VALID = """\
ruleset: acme-beta
version: "2026.1"
effective: {from: 2026-01-01, to: 2028-12-31}
currency: EUR
partners:
  acme: {name: Acme Pharma}
  beta: {name: Beta Bio}
attributes:
  indication: text
  units: number
contribution:
  weights: {detail: 1, joint_call: 2}
  normalise: {acme: 0.1, beta: 1}
credit:
  - id: default
    clause: "4.1"
    default: true
    split: by_contribution
  - id: named
    clause: "4.2(a)"
    text: Named accounts, 70/30.
    when: account.named and account.owner == "acme"
    split: {acme: 70%, beta: 30%}
  - id: sourced
    clause: "4.2(b)"
    when: lead.source == "beta"
    overrides: [named]
    effective: {from: 2027-01-01}
    rep_credit: owner
    split: {acme: 0.5, beta: 1/2}
  - id: joint
    clause: "4.3"
    when: count(activities, kind == "joint_call") >= 1
    overlay: {acme: 100%, beta: 100%}
"""


def test_valid_ruleset_loads_with_defaults() -> None:
    rs = load(VALID)
    assert rs.id == "acme-beta"
    assert rs.version == "2026.1"
    assert rs.versions == ("2026.1",)
    assert rs.title == "acme-beta"
    assert rs.effective == DateRange(dt.date(2026, 1, 1), dt.date(2028, 12, 31))
    assert rs.currency == "EUR"
    assert rs.unit == Decimal("0.01")
    assert rs.tie_break.kind == "hashed"
    assert rs.rep_credit == "equal"
    assert rs.source == SOURCE
    assert rs.engine == "reference"
    assert rs.partner_ids == ("acme", "beta")
    assert [(a.name, str(a.type)) for a in rs.attributes] == [("indication", "text"),
                                                              ("units", "number")]
    # credit_types omitted: revenue 100% required, overlay declared and optional.
    assert [(t.name, t.total, t.required) for t in rs.credit_types] == [
        ("revenue", Fraction(1), True), ("overlay", None, False)]
    assert rs.credit_type("overlay").declared
    assert [r.id for r in rs.rules] == ["default", "joint", "named", "sourced"]
    by_id = {r.id: r for r in rs.rules}
    # The type is inferred from the outcome.
    assert {r.id: r.type for r in rs.rules} == {"default": "revenue", "joint": "overlay",
                                                 "named": "revenue", "sourced": "revenue"}
    assert isinstance(by_id["default"].outcome, ByContribution)
    assert by_id["default"].default
    assert by_id["default"].outcome.total == 1
    assert isinstance(by_id["joint"].outcome, Overlay)
    assert by_id["joint"].outcome.total == 2
    assert by_id["named"].text == "Named accounts, 70/30."
    assert by_id["named"].clause == "4.2(a)"
    assert by_id["named"].overrides == ()
    assert by_id["named"].effective == rs.effective
    assert by_id["named"].location == Location(SOURCE, 19, 5)
    assert by_id["sourced"].overrides == ("named",)
    assert by_id["sourced"].rep_credit == "owner"
    assert by_id["sourced"].effective == DateRange(dt.date(2027, 1, 1), dt.date(2028, 12, 31))
    assert by_id["sourced"].outcome == Split({"acme": Fraction(1, 2), "beta": Fraction(1, 2)})
    assert by_id["sourced"].version == "2026.1"
    assert by_id["sourced"].key == "sourced@2026.1"
    assert list(rs.rules_in_force(dt.date(2026, 6, 1))) == [
        by_id["default"], by_id["joint"], by_id["named"]]


def test_decimal_shares_are_exact_fractions_never_floats() -> None:
    rs = load(VALID)
    assert rs.contribution is not None
    assert rs.contribution.normalise == {"acme": Fraction(1, 10), "beta": Fraction(1)}
    factor = rs.contribution.factor("acme")
    assert type(factor) is Fraction
    assert factor == Fraction(1, 10)
    assert factor != 0.1  # a float 0.1 is not one tenth
    assert rs.contribution.weights == {"detail": Fraction(1), "joint_call": Fraction(2)}
    assert all(type(w) is Fraction for w in rs.contribution.weights.values())


def test_yaml_booleans_and_numbers_are_never_guessed() -> None:
    # YAML 1.1 would read these as False / 1.0 / a date; the loader reads them by field type.
    rs = load(VALID.replace('version: "2026.1"', "version: 2026.10\ntitle: no"))
    assert rs.version == "2026.10"
    assert rs.title == "no"


def test_explicit_credit_types() -> None:
    rs = load(with_rules(
        RULE, "  - id: bonus\n    clause: b\n    type: bonus\n    split: {acme: 10%, beta: 15%}\n",
        top="credit_types:\n  revenue: {total: 100%}\n  bonus: {total: 25%, required: false}\n"
            "  recognition: {total: declared}\n"))
    assert [(t.name, t.total, t.required) for t in rs.credit_types] == [
        ("revenue", Fraction(1), True), ("bonus", Fraction(1, 4), False),
        ("recognition", None, False)]
    assert {r.id: r.type for r in rs.rules} == {"r1": "revenue", "bonus": "bonus"}


def test_equal_split() -> None:
    rs = load(with_rules(RULE.replace("{acme: 50%, beta: 50%}", "equal")))
    assert rs.rules[0].outcome == Split({"acme": Fraction(1, 2), "beta": Fraction(1, 2)})


def test_rule_level_weights() -> None:
    rs = load(with_rules("  - id: c\n    clause: c\n    split: by_contribution\n"
                         "    weights: {call: 2}\n    normalise: {acme: 1/4}\n"
                         "    if_no_contribution: {acme: 40%, beta: 60%}\n"))
    outcome = rs.rules[0].outcome
    assert isinstance(outcome, ByContribution)
    assert outcome.contribution.weights == {"call": Fraction(2)}
    assert outcome.contribution.normalise == {"acme": Fraction(1, 4)}
    assert outcome.fallback == {"acme": Fraction(2, 5), "beta": Fraction(3, 5)}


def test_example_ruleset_loads() -> None:
    rs = creditrules.load(ROOT / "rulesets" / "cardiozen.yaml", engine="reference")
    assert rs.id == "acme-beta-cardiozen"
    assert rs.partner_ids == ("acme", "beta")
    assert len(rs.rules) == 6


# -- content hash -------------------------------------------------------------------------


REORDERED = """\
credit:
  - overlay: {beta: 100%, acme: 100%}
    when: count(activities, kind == "joint_call") >= 1
    clause: "4.3"
    id: joint
  - split: {beta: 1/2, acme: 50%}
    rep_credit: owner
    effective: {from: 2027-01-01}
    overrides: [named]
    when: lead.source == "beta"
    clause: "4.2(b)"
    id: sourced
  - split: by_contribution
    default: true
    clause: "4.1"
    id: default
  - split: {beta: 30%, acme: 70%}
    when: account.named and account.owner == "acme"
    text: Named accounts, 70/30.
    clause: "4.2(a)"
    id: named
contribution:
  normalise: {beta: 1, acme: 0.1}
  weights: {joint_call: 2, detail: 1}
attributes:
  units: number
  indication: text
partners:
  beta: {name: Beta Bio}
  acme: {name: Acme Pharma}
currency: EUR
effective: {to: 2028-12-31, from: 2026-01-01}
version: "2026.1"
ruleset: acme-beta
"""


def test_content_hash_ignores_order_of_rules_and_keys() -> None:
    a, b = load(VALID), load(REORDERED)
    assert a.content_hash.startswith("sha256:")
    assert a.canonical() == b.canonical()
    assert a.content_hash == b.content_hash


def test_content_hash_ignores_how_a_share_is_written() -> None:
    assert load(VALID).content_hash == load(VALID.replace("70%", "0.7")).content_hash


def test_content_hash_changes_with_a_share() -> None:
    assert load(VALID).content_hash != load(
        VALID.replace("acme: 70%, beta: 30%", "acme: 71%, beta: 29%")).content_hash


def test_content_hash_changes_with_a_condition() -> None:
    assert load(VALID).content_hash != load(
        VALID.replace('lead.source == "beta"', 'lead.source == "acme"')).content_hash


# -- amendments ---------------------------------------------------------------------------


AMENDMENT = """\
amends: base.yaml
version: "2026.2"
effective: {from: 2026-07-01}
retire: [sourced]
credit:
  - id: named
    clause: "4.2(a) as amended"
    when: account.named and account.owner == "acme"
    split: {acme: 60%, beta: 40%}
  - id: tenders
    clause: "4.2(c)"
    when: account.segment == "hospital"
    split: {acme: 40%, beta: 60%}
"""


def write(tmp_path: Path, base: str = VALID, amendment: str = AMENDMENT) -> Path:
    (tmp_path / "base.yaml").write_text(base, encoding="utf-8")
    path = tmp_path / "amendment-1.yaml"
    path.write_text(amendment, encoding="utf-8")
    return path


def test_amendment_applies_from_its_date(tmp_path: Path) -> None:
    rs = creditrules.load(write(tmp_path), engine="reference")
    assert rs.version == "2026.2"
    assert rs.versions == ("2026.1", "2026.2")
    assert rs.effective == DateRange(dt.date(2026, 1, 1), dt.date(2028, 12, 31))
    windows = {r.key: r.effective for r in rs.rules}
    assert windows == {
        "default@2026.1": DateRange(dt.date(2026, 1, 1), dt.date(2028, 12, 31)),
        "joint@2026.1": DateRange(dt.date(2026, 1, 1), dt.date(2028, 12, 31)),
        # replaced: the old text until the day before, the new one from the amendment date
        "named@2026.1": DateRange(dt.date(2026, 1, 1), dt.date(2026, 6, 30)),
        "named@2026.2": DateRange(dt.date(2026, 7, 1), dt.date(2028, 12, 31)),
        # added: from the amendment date
        "tenders@2026.2": DateRange(dt.date(2026, 7, 1), dt.date(2028, 12, 31)),
        # "sourced" started 2027-01-01, after the amendment retired it: it never applied.
    }
    in_june = {r.key for r in rs.rules_in_force(dt.date(2026, 6, 30))}
    in_july = {r.key for r in rs.rules_in_force(dt.date(2026, 7, 1))}
    assert in_june == {"default@2026.1", "joint@2026.1", "named@2026.1"}
    assert in_july == {"default@2026.1", "joint@2026.1", "named@2026.2", "tenders@2026.2"}
    new_named = next(r for r in rs.rules if r.key == "named@2026.2")
    assert new_named.clause == "4.2(a) as amended"
    assert new_named.location == Location(str(tmp_path / "amendment-1.yaml"), 6, 5)


def test_amendment_retires_a_rule_the_day_before(tmp_path: Path) -> None:
    base = VALID.replace("    effective: {from: 2027-01-01}\n", "")
    rs = creditrules.load(write(tmp_path, base=base), engine="reference")
    sourced = [r for r in rs.rules if r.id == "sourced"]
    assert [(r.key, r.effective) for r in sourced] == [
        ("sourced@2026.1", DateRange(dt.date(2026, 1, 1), dt.date(2026, 6, 30)))]


def test_amendment_changes_the_hash(tmp_path: Path) -> None:
    assert creditrules.load(write(tmp_path), engine="reference").content_hash != \
        load(VALID).content_hash


def test_amendment_problems_are_located_in_the_amendment(tmp_path: Path) -> None:
    amendment = AMENDMENT.replace("retire: [sourced]", "retire: [sorced]").replace(
        "beta: 60%", "betaa: 60%")
    path = write(tmp_path, amendment=amendment)
    with pytest.raises(RulesetError) as info:
        creditrules.load(path, engine="reference")
    where = str(path)
    assert [(p.code, p.location) for p in info.value.problems] == [
        ("unknown-rule", Location(where, 4, 10)),
        ("unknown-partner", Location(where, 13, 24)),
    ]
    assert info.value.problems[0].message == (
        "amendment retires unknown rule 'sorced' (known: default, joint, named, sourced); "
        "did you mean 'sourced'?")


def test_amendment_needs_version_and_known_keys(tmp_path: Path) -> None:
    amendment = AMENDMENT.replace('version: "2026.2"\n', "").replace("retire:", "retired:")
    path = write(tmp_path, amendment=amendment)
    with pytest.raises(RulesetError) as info:
        creditrules.load(path, engine="reference")
    assert [(p.code, p.location) for p in info.value.problems] == [
        ("missing-key", Location(str(path), 1, 1)),
        ("unknown-key", Location(str(path), 3, 1))]
    assert info.value.problems[0].message == "an amendment needs 'version'"
    assert info.value.problems[1].message.endswith("did you mean 'retire'?")


def test_amendment_needs_a_start_date(tmp_path: Path) -> None:
    path = write(tmp_path, amendment=AMENDMENT.replace("{from: 2026-07-01}", "{to: 2028-12-31}"))
    with pytest.raises(RulesetError) as info:
        creditrules.load(path, engine="reference")
    assert [(p.code, p.location) for p in info.value.problems] == [
        ("missing-key", Location(str(path), 3, 12))]
    assert info.value.problems[0].message == "an amendment's effective needs 'from'"


def test_amendments_that_amend_themselves_stop(tmp_path: Path) -> None:
    path = tmp_path / "loop.yaml"
    path.write_text("amends: loop.yaml\nversion: \"2\"\neffective: {from: 2026-01-01}\n",
                    encoding="utf-8")
    with pytest.raises(RulesetError) as info:
        creditrules.load(path, engine="reference")
    assert info.value.codes == ["amendment-depth"]
    assert info.value.problems[0].message == "too many nested amendments"


def test_amendment_of_a_missing_base(tmp_path: Path) -> None:
    path = tmp_path / "amendment.yaml"
    path.write_text(AMENDMENT, encoding="utf-8")
    with pytest.raises(RulesetError) as info:
        creditrules.load(path, engine="reference")
    assert info.value.codes == ["unreadable"]
    assert info.value.problems[0].location == Location(str(tmp_path / "base.yaml"))
    assert info.value.problems[0].message.startswith("cannot read ruleset: ")


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(RulesetError) as info:
        creditrules.load(tmp_path / "nowhere.yaml", engine="reference")
    assert info.value.codes == ["unreadable"]
    binary = tmp_path / "latin1.yaml"
    binary.write_bytes("title: caf\xe9\n".encode("latin-1"))
    with pytest.raises(RulesetError) as info:
        creditrules.load(binary, engine="reference")
    assert info.value.codes == ["unreadable"]
    assert info.value.problems[0].message == "ruleset is not UTF-8 text"


def test_by_contribution_keys_on_a_fixed_split_are_refused() -> None:
    """weights and if_no_contribution mean nothing on a fixed split: say so, located."""
    text = with_rules(RULE + "    weights: {call: 1}\n")
    problem = only(text, "unused-key")
    assert problem.location == at(text, "weights")
    assert "'weights' applies only to 'split: by_contribution'" in problem.message


def test_attribute_names_must_be_usable_in_conditions() -> None:
    text = with_rules(RULE, top="attributes: {product-line: text}\n")
    assert only(text, "bad-name").location == at(text, "product-line")


def test_credit_type_order_is_part_of_the_content_hash() -> None:
    """The declared order of credit types is the order of credits in results."""
    a = "credit_types:\n  revenue: {total: 100%}\n  overlay: {total: declared}\n"
    b = "credit_types:\n  overlay: {total: declared}\n  revenue: {total: 100%}\n"
    assert load(with_rules(RULE, top=a)).content_hash != \
        load(with_rules(RULE, top=b)).content_hash
