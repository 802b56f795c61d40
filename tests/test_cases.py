"""Worked examples: the bundled cases files pass; a wrong expectation reads like a sentence."""

from __future__ import annotations

from pathlib import Path

import pytest

import creditrules
from creditrules.authoring.cases import (
    CasesError,
    cases_path_for,
    load_cases,
    plain,
    ruleset_path_for,
    run_cases,
)
from creditrules.cli import main

RULESETS = Path(__file__).resolve().parent.parent / "rulesets"
BUNDLED = ["cardiozen", "cloudbridge", "cloudbridge-amendment-1"]


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_cases_pass(name: str) -> None:
    cases = load_cases(RULESETS / f"{name}-cases.yaml")
    assert ruleset_path_for(cases) == RULESETS / f"{name}.yaml"
    assert cases_path_for(RULESETS / f"{name}.yaml") == RULESETS / f"{name}-cases.yaml"
    ruleset = creditrules.load(ruleset_path_for(cases))
    results = run_cases(ruleset, cases)
    assert len(results) >= 4
    assert [f for r in results for f in r.failures] == []


WRONG = """\
cases:
  - name: beta lead
    deal:
      date: 2026-03-02
      amount: "12000.00"
      account: {owner: acme, named: true}
      lead: {source: beta}
    credit: {acme: 70%, beta: 30%}
    amounts: {acme: "8400.00"}
    rules: [named-accounts]
  - name: overlay
    deal: {date: 2026-02-02, amount: "1000.00",
           activities: [{kind: joint_call, partner: acme}]}
    credit:
      revenue: {acme: 100%}
      overlay: none
  - name: meal
    deal:
      date: 2026-03-10
      amount: "20000.00"
      account: {owner: acme, segment: pharmacy}
      expenses: [{id: E1, kind: meal, amount: "400.00", paid_by: acme, attendees: 2}]
    expenses:
      E1: {covered: "400.00", parts: {beta: "150.00"}}
  - name: not ambiguous
    deal: {date: 2026-03-02, amount: "1.00"}
    error: ambiguous
  - name: refused
    deal: {date: 2030-03-02, amount: "1.00"}
    error: outside-agreement
"""


def test_a_wrong_expectation_names_the_line_the_value_and_the_clause(tmp_path: Path) -> None:
    path = tmp_path / "cardiozen-cases.yaml"
    path.write_text(WRONG, encoding="utf-8")
    cases = load_cases(path)
    results = run_cases(creditrules.load(RULESETS / "cardiozen.yaml"), cases)
    f = str(path)
    assert [list(r.failures) for r in results] == [
        [f"{f}:8: case 'beta lead': expected acme 70% got 50% (rule beta-sourced, clause 4.2(b))",
         f"{f}:8: case 'beta lead': expected beta 30% got 50% (rule beta-sourced, clause 4.2(b))",
         f"{f}:9: case 'beta lead': expected acme 8400.00 got 6000.00 (rule beta-sourced, "
         "clause 4.2(b))",
         f"{f}:10: case 'beta lead': expected revenue credit by named-accounts got "
         "beta-sourced (clause 4.2(b))"],
        # Acme's joint call (2 x 0.25) is the only effort: 100% revenue, and 4.3's overlay.
        [f"{f}:16: case 'overlay': expected no overlay credit got 2000.00 (rule joint-calls, "
         "clause 4.3)"],
        # Acme's cap is 150.00 a head: 300.00 covered; Beta's half of it is right.
        [f"{f}:24: case 'meal': expense E1: expected covered 400.00 got 300.00 (rule meals, "
         "clause 8.2; policy owner-policy, clause 7.3)"],
        [f"{f}:27: case 'not ambiguous': expected error ambiguous, but the deal is allocated "
         "(rule by-contribution, clause 4.1)"],
        [],
    ]
    # The case's deal is the deal creditrules reads (id and currency filled in).
    assert cases.cases[0].deal["id"] == "case-1"


def test_cli_test_exit_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ruleset = str(RULESETS / "cardiozen.yaml")
    assert main(["test", ruleset, str(RULESETS / "cardiozen-cases.yaml")]) == 0
    assert "10 passed, 0 failed" in capsys.readouterr().err
    wrong = tmp_path / "wrong-cases.yaml"
    wrong.write_text(WRONG, encoding="utf-8")
    assert main(["test", ruleset, str(wrong)]) == 1
    out = capsys.readouterr()
    assert "expected acme 70% got 50% (rule beta-sourced, clause 4.2(b))" in out.out
    assert "5 case(s), 1 passed, 4 failed" in out.err
    broken = tmp_path / "broken-cases.yaml"
    broken.write_text("cases:\n  - name: x\n    deal: {amount: '1'}\n    credit: {acme: lots}\n",
                      encoding="utf-8")
    assert main(["test", ruleset, str(broken)]) == 2
    assert f"{broken}:4:" in capsys.readouterr().err


@pytest.mark.parametrize(("text", "code", "line"), [
    ("cases:\n  - name: x\n    deal: {amount: '1'}\n    credit: {acme: lots}\n", "bad-value", 4),
    ("cases:\n  - name: x\n    deal: {amount: '1'}\n    credits: {acme: 1}\n", "unknown-key", 4),
    ("cases:\n  - name: x\n    credit: {acme: 1}\n", "missing-key", 2),
    ("cases:\n  - name: x\n    deal: {amount: '1'}\n", "missing-key", 2),
    ("rules: []\n", "unknown-key", 1),
    ("cases: [\n", "yaml-syntax", 2),
])
def test_a_broken_cases_file_is_refused_with_located_problems(tmp_path: Path, text: str,
                                                              code: str, line: int) -> None:
    path = tmp_path / "x-cases.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CasesError) as err:
        load_cases(path)
    assert code in err.value.codes
    assert any(p.location is not None and p.location.line == line
               for p in err.value.problems)


def test_plain_values_never_become_floats(tmp_path: Path) -> None:
    from creditrules.agreement._yaml import compose

    node = compose("{a: 1.50, b: 12, c: true, d: ~, e: '7', f: 2026-01-01}", "x")
    assert plain(node) == {"a": "1.50", "b": 12, "c": True, "d": None, "e": "7",
                           "f": "2026-01-01"}
