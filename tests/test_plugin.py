"""The pytest plugin: one item per invariant of a ruleset, one per worked example."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
UNFAIR = Path(__file__).resolve().parent / "unfair"


def test_the_plugin_is_installed_as_an_entry_point() -> None:
    from importlib.metadata import entry_points

    found = [e for e in entry_points(group="pytest11") if e.name == "creditrules"]
    assert [e.value for e in found] == ["creditrules.pytest_plugin"]


def test_one_item_per_invariant_failing_with_the_counterexample(
        pytester: pytest.Pytester) -> None:
    ruleset = UNFAIR / "signed-threshold.yaml"
    result = pytester.runpytest_inprocess(
        "--creditrules", str(ruleset),
        "--creditrules-max-examples", "10", "--creditrules-seed", "0",
        "--creditrules-engine", "reference", "-k", "refund or conservation or caps",
        "-rs")
    result.assert_outcomes(passed=1, failed=1, skipped=1)
    result.stdout.fnmatch_lines([
        "*signed-threshold.yaml: fairness invariant refund-mirrors-sale*",
        "refund-mirrors-sale (VIOLATED): the sale's revenue credit is decided by large "
        "(clause 2) but its refund's by base (clause 1)*",
        '  deal: {"id": "X-1", "date": "2026-01-01", "amount": "1000.00", *',
        "*creditrules explain*signed-threshold.yaml -",
        "*caps-respected: the ruleset declares no policies*",
    ])


def test_collects_every_invariant(pytester: pytest.Pytester) -> None:
    from creditrules.fairness import INVARIANTS

    result = pytester.runpytest_inprocess("--creditrules", str(UNFAIR / "ambiguous.yaml"),
                                          "--collect-only", "-q")
    lines = [line for line in result.outlines if "::fairness::" in line]
    assert len(lines) == len(INVARIANTS) == 22
    assert any(line.endswith("ambiguous.yaml::fairness::equal-treatment") for line in lines)


def test_cases_files_become_one_item_per_case(pytester: pytest.Pytester) -> None:
    (pytester.path / "cardiozen.yaml").write_text(
        (ROOT / "rulesets" / "cardiozen.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    pytester.makefile(".yaml", **{"cardiozen-cases": """\
cases:
  - name: named account
    deal: {date: 2026-03-02, amount: "100.00", account: {owner: acme, named: true}}
    credit: {acme: 70%, beta: 30%}
  - name: beta lead
    deal: {date: 2026-03-02, amount: "100.00", account: {owner: acme, named: true},
           lead: {source: beta}}
    credit: {acme: 70%, beta: 30%}
"""})
    result = pytester.runpytest_inprocess("--creditrules-engine", "reference", "-v")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "*cardiozen-cases.yaml::named account PASSED*",
        "*cardiozen-cases.yaml::beta lead FAILED*",
        "*cardiozen-cases.yaml:8: case 'beta lead': expected acme 70% got 50% "
        "(rule beta-sourced, clause 4.2(b))",
    ])


def test_nothing_happens_unless_asked(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_nothing():\n    assert True\n")
    result = pytester.runpytest_inprocess()
    result.assert_outcomes(passed=1)
