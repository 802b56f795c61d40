"""pytest plugin: fairness invariants and worked examples as test items.

Installed with creditrules (a ``pytest11`` entry point), it does nothing until asked:

* ``pytest --creditrules rulesets/cardiozen.yaml`` (repeatable) adds one test item per
  fairness invariant for that ruleset, e.g. ``cardiozen.yaml::fairness::equal-treatment``.
  A violated invariant fails with the readable counterexample; a waived one passes; one that
  does not apply is skipped. ``--creditrules-max-examples N``, ``--creditrules-seed S`` and
  ``--creditrules-thorough`` set the run (by default: the hypothesis profile in force, named
  by ``HYPOTHESIS_PROFILE``, else derandomized under CI, else the fast default).
* Worked-example files named ``*-cases.yaml`` under the paths pytest collects become one test
  item per case, failing with ``file:line: case 'name': expected acme 70% got 50% (rule
  beta-sourced, clause 4.2(b))``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

__all__ = ["CaseItem", "CasesCollector", "InvariantItem", "RulesetCollector"]

_CASES = "*-cases.yaml"
_LOADED: dict[tuple[str, str | None, bool], Any] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("creditrules", "creditrules fairness checks")
    group.addoption(
        "--creditrules",
        action="store_true",
        default=False,
        help="collect the ruleset files given as arguments (pytest --creditrules "
        "RULESET ...): a test item per fairness invariant of each",
    )
    group.addoption(
        "--creditrules-max-examples",
        type=int,
        default=None,
        metavar="N",
        help="deals tried per invariant",
    )
    group.addoption(
        "--creditrules-seed",
        type=int,
        default=None,
        metavar="S",
        help="repeat a run (failures print their seed)",
    )
    group.addoption(
        "--creditrules-thorough",
        action="store_true",
        default=False,
        help="a long randomised run that keeps its example database",
    )
    group.addoption(
        "--creditrules-engine",
        default=None,
        metavar="ENGINE",
        help="matching engine for the rulesets (durable or reference)",
    )
    group.addoption(
        "--creditrules-allow-outside",
        action="store_true",
        default=False,
        help="let 'amends:' and a cases file's 'ruleset:' name files outside "
        "the referring file's directory",
    )


def _load(path: Path, config: pytest.Config) -> Any:
    import creditrules

    engine = config.getoption("creditrules_engine")
    outside = bool(config.getoption("creditrules_allow_outside"))
    key = (str(path.resolve()), engine, outside)
    if key not in _LOADED:
        _LOADED[key] = creditrules.load(path, engine=engine, allow_outside=outside)
    return _LOADED[key]


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    collector: pytest.Collector
    if fnmatch.fnmatch(file_path.name, _CASES):
        collector = CasesCollector.from_parent(parent, path=file_path)
        return collector
    config = parent.config
    # Rulesets are collected like any test file (so counts, -k and deselection are right),
    # but only those named on the command line: a test folder may hold unfair examples.
    if (
        config.getoption("creditrules")
        and file_path.suffix in (".yaml", ".yml")
        and file_path.resolve() in _named(config)
    ):
        collector = RulesetCollector.from_parent(parent, path=file_path)
        return collector
    return None


def _named(config: pytest.Config) -> set[Path]:
    base = config.invocation_params.dir
    return {(base / arg.split("::")[0]).resolve() for arg in config.args}


class CreditrulesFailure(Exception):
    """A fairness invariant or worked example failed: the message is the readable report."""


class _Item(pytest.Item):
    """An item whose failure reads as its report, not as a traceback."""

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        from creditrules.errors import CreditRulesError

        # A broken ruleset reads as its located problems, not as a trace through pytest.
        if isinstance(excinfo.value, CreditrulesFailure | CreditRulesError):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo, style))


class RulesetCollector(pytest.File):
    """A ruleset named on the command line with ``--creditrules``: one item per fairness
    invariant."""

    def collect(self) -> Iterator[InvariantItem]:
        from creditrules.fairness import INVARIANTS

        for inv in INVARIANTS:
            yield InvariantItem.from_parent(self, name=f"fairness::{inv.name}", invariant=inv.name)


class InvariantItem(_Item):
    """One fairness invariant checked on one ruleset."""

    def __init__(self, *, invariant: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.invariant = invariant

    def runtest(self) -> None:
        from creditrules.fairness import check_fairness

        config = self.config
        ruleset = _load(self.path, config)
        report = check_fairness(
            ruleset,
            path=_shown(self.path),
            invariants=[self.invariant],
            max_examples=config.getoption("creditrules_max_examples"),
            seed=config.getoption("creditrules_seed"),
            thorough=config.getoption("creditrules_thorough"),
            profile=_profile(),
        )
        result = report.results[0]
        if result.status == "not applicable":
            info = f" ({'; '.join(result.info)})" if result.info else ""
            # Reported at the ruleset, not at this line of the plugin.
            raise pytest.skip.Exception(
                f"{self.invariant}: {result.reason}{info}", _use_item_location=True
            )
        if result.failed:
            raise CreditrulesFailure(report.text())
        for line in report.text().splitlines():
            self.add_report_section("call", "creditrules", line)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, 0, f"{self.path.name}: fairness invariant {self.invariant}"


def _profile() -> str | None:
    """The hypothesis profile in force (the test suite's, e.g. ``ci``), if one was loaded."""
    import os

    from hypothesis import settings

    return os.environ.get("HYPOTHESIS_PROFILE") or getattr(settings, "_current_profile", None)


def _shown(path: Path) -> Path:
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


class CasesCollector(pytest.File):
    """A worked-examples file: one item per case."""

    def collect(self) -> Iterator[CaseItem]:
        from creditrules.authoring.cases import CasesError, load_cases

        try:
            # Failures name the file as the user would (relative to where pytest runs).
            cases = load_cases(
                _shown(self.path),
                allow_outside=bool(self.config.getoption("creditrules_allow_outside")),
            )
        except CasesError as exc:
            raise self.CollectError(str(exc)) from None
        for case in cases.cases:
            yield CaseItem.from_parent(self, name=case.name, case=case, cases=cases)


class CaseItem(_Item):
    """One worked example run against its ruleset."""

    def __init__(self, *, case: Any, cases: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case
        self.cases = cases

    def runtest(self) -> None:
        from creditrules.authoring.cases import ruleset_path_for, run_case

        ruleset = _load(ruleset_path_for(self.cases), self.config)
        result = run_case(ruleset, self.case)
        if not result.passed:
            raise CreditrulesFailure("\n".join(result.failures))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, self.case.location.line - 1, f"case {self.case.name!r}"
