"""Plain-language errors: each names the mistake in an author's terms, where it is, and the
fix (issue: what lawyers sign). One test per message, asserting its wording."""

from __future__ import annotations

import pytest

import creditrules
from creditrules import RulesetError

BASE = """ruleset: medco-deviceco
version: "1"
title: Co-Promotion Agreement, MedCo and DeviceCo
effective: {from: 2026-01-01, to: 2027-12-31}
currency: USD
partners:
  medco: {name: MedCo}
  deviceco: {name: DeviceCo}
credit_types:
  revenue: {total: 100%}
credit:
  - id: default-split
    clause: "4.1"
    text: Absent a specific allocation, sales are credited equally.
    default: true
    split: {medco: 50%, deviceco: 50%}
"""


def rule(body: str) -> str:
    """BASE with a second rule whose extra lines are ``body``."""
    return BASE + '  - id: exception\n    clause: "4.2"\n    text: An exception.\n' + body


def problem(text: str) -> tuple[str, str, int | None, int | None]:
    with pytest.raises(RulesetError) as info:
        creditrules.loads(text, source="medco.yaml", engine="reference")
    (p,) = info.value.problems
    assert p.location is not None
    return p.code, p.message, p.location.line, p.location.column


def test_colon_in_text() -> None:
    """`text: Note: ...` reads as a second key: quote the text or use a block."""
    code, message, line, _ = problem(rule("    text2: Note: see Schedule B\n"))
    assert (code, line) == ("yaml-syntax", 20)
    assert message == (
        "YAML syntax error: a colon followed by a space starts a new key, so this text reads "
        'as a second key on one line: put the text in quotes (text: "Note: ..."), or write it '
        "as a block (text: >-, then the text on the next lines, indented)"
    )


def test_line_indented_more_than_the_key_above() -> None:
    code, message, line, _ = problem(rule("      when: amount > 1\n"))
    assert (code, line) == ("yaml-syntax", 20)
    assert message == (
        "YAML syntax error: this line is indented more than the key above it (line 19): "
        "line it up with that key, at column 5"
    )


def test_mapping_line_indented_more_than_its_sibling() -> None:
    text = BASE.replace("  deviceco: {name: DeviceCo}", "    deviceco: {name: DeviceCo}")
    code, message, line, _ = problem(text)
    assert (code, line) == ("yaml-syntax", 8)
    assert message == (
        "YAML syntax error: line 8 is indented more than the key above it: line it up with "
        "that key, at column 3, or indent it under a key that ends with a colon"
    )


def test_line_indented_less_than_the_key_above() -> None:
    code, message, line, _ = problem(rule("   when: amount > 1\n"))
    assert (code, line) == ("yaml-syntax", 20)
    assert message == (
        "YAML syntax error: line 20 is indented less than the key above it but does not line "
        "up with any key of the level above: line it up with the key above (column 5) or "
        "with its parent"
    )


def test_key_lined_up_with_the_list_dash() -> None:
    text = BASE + "  - id: exception\n  clause: '4.2'\n"
    code, message, line, _ = problem(text)
    assert (code, line) == ("yaml-syntax", 18)
    assert message == (
        "YAML syntax error: line 18 lines up with the '-' of the list item above but does not "
        "start a new item: indent it to line up with the item's first key (column 5), or "
        "start a new item with '- '"
    )


def test_tab() -> None:
    code, message, line, column = problem(rule("\twhen: amount > 1\n"))
    assert (code, line, column) == ("yaml-syntax", 20, 1)
    assert message == (
        "YAML syntax error: a tab ('\\t') cannot indent YAML or separate a key from its "
        "value: use spaces"
    )


def test_unclosed_quote() -> None:
    code, message, line, column = problem(BASE.replace("title: Co-", 'title: "Co-'))
    assert (code, line, column) == ("yaml-syntax", 3, 8)
    assert message == (
        "YAML syntax error: the quote opened at line 3 is not closed on that "
        "line, so the text runs on to the next quote: close it"
    )


def test_quote_never_closed() -> None:
    code, message, line, column = problem(BASE + '    text2: "no end\n')
    assert (code, line, column) == ("yaml-syntax", 17, 12)
    assert message == "YAML syntax error: this quote is never closed: add the closing quote"


def test_line_without_colon() -> None:
    code, message, line, _ = problem(BASE.replace("currency: USD", "currency USD"))
    assert (code, line) == ("yaml-syntax", 5)
    assert message.startswith(
        "YAML syntax error: this line has no colon: each entry of a mapping is 'key: value'"
    )


def test_share_without_percent_sign() -> None:
    """`deviceco: 70` is 7000%: did you mean 70%?"""
    code, message, line, column = problem(
        rule("    when: amount > 1\n    split: {medco: 30%, deviceco: 70}\n")
    )
    assert (code, line, column) == ("bad-share", 21, 35)
    assert message == (
        "rule exception split for deviceco 70 is above 100%; did you mean 70%? A share is a "
        "percentage (70%) or a fraction of one (0.7)"
    )


def test_overrides_a_clause_number() -> None:
    """overrides takes rule ids; clause 4.1 is rule default-split."""
    code, message, _, _ = problem(
        rule(
            "    when: amount > 1\n    overrides: ['4.1']\n    split: {medco: 30%, deviceco: 70%}\n"
        )
    )
    assert code == "unknown-rule"
    assert message == (
        "rule exception overrides unknown rule '4.1'; overrides takes rule ids, not clause "
        "numbers: clause 4.1 is rule 'default-split'"
    )


def test_overrides_a_number_that_is_no_clause() -> None:
    code, message, _, _ = problem(
        rule("    when: amount > 1\n    overrides: [1]\n    split: {medco: 30%, deviceco: 70%}\n")
    )
    assert code == "unknown-rule"
    assert message == (
        "rule exception overrides unknown rule '1'; overrides takes rule ids, not clause "
        "numbers (rule ids: default-split, exception)"
    )


@pytest.mark.parametrize(
    ("day", "why"),
    [
        ("2026-06-31", "June has 30 days"),
        ("2026-02-29", "2026 is not a leap year: February 2026 has 28 days"),
        ("2026-13-01", "there is no month 13: months run from 01 to 12"),
    ],
)
def test_impossible_effective_date(day: str, why: str) -> None:
    """The format is right; the day does not exist."""
    code, message, _, _ = problem(
        rule(
            f"    when: amount > 1\n    effective: {{from: {day}}}\n"
            "    split: {medco: 30%, deviceco: 70%}\n"
        )
    )
    assert code == "bad-date"
    assert (
        message == f"rule exception effective 'from' must be a date YYYY-MM-DD, got '{day}': {why}"
    )


def test_impossible_date_in_a_condition() -> None:
    code, message, _, _ = problem(
        rule("    when: date <= 2026-06-31\n    split: {medco: 30%, deviceco: 70%}\n")
    )
    assert code == "condition-syntax"
    assert message == "invalid date '2026-06-31': June has 30 days"


def test_quoted_date_compared_with_a_date() -> None:
    code, message, _, _ = problem(
        rule('    when: date <= "2026-06-30"\n    split: {medco: 30%, deviceco: 70%}\n')
    )
    assert code == "type-mismatch"
    assert message == (
        'cannot compare date (date) with "2026-06-30" (text); remove the quotes: a date is '
        "written bare (2026-06-30); quoted, it is text"
    )


def test_bare_word_where_text_was_meant() -> None:
    code, message, _, _ = problem(
        rule("    when: account.territory == germany\n    split: {medco: 30%, deviceco: 70%}\n")
    )
    assert code == "unknown-field"
    assert message.startswith("unknown field 'germany' (known: ")
    assert message.endswith('; if you meant the text germany, put it in quotes: "germany"')


def test_thousands_separator() -> None:
    code, message, _, _ = problem(
        rule("    when: amount > 1,000\n    split: {medco: 30%, deviceco: 70%}\n")
    )
    assert code == "condition-syntax"
    assert message == (
        "unexpected ',' after 'amount > 1'; expected 'and' or 'or'; numbers take no "
        "thousands separator: write 1000 or 1_000"
    )
