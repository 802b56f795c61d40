"""Hostile rulesets and cases files (issue 11, failures 3, 5 and 8): each is refused with a
located problem and a stable code, never a traceback, and nothing outside the request is
read or echoed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import creditrules
from creditrules.authoring.cases import CasesError, load_cases
from creditrules.errors import DealError, Location, RulesetError

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
BASE = """\
ruleset: base
version: "1"
effective: {from: 2026-01-01}
currency: USD
rounding: {unit: "0.01", tie_break: hashed}
partners: {acme: {name: A}, beta: {name: B}}
credit_types: {revenue: {total: 100%}}
credit:
  - {id: base, clause: "1", text: base, default: true, split: {acme: 50%, beta: 50%}}
"""
SECRET = "password: hunter2\napi_key: s3cr3t\n"


def amendment(base: str) -> str:
    return f'amends: {base}\nversion: "2"\neffective: {{from: 2026-06-01}}\n'


def problems(call: object, *args: object, **kwargs: object) -> list[tuple[str, Location]]:
    with pytest.raises(RulesetError) as info:
        call(*args, **kwargs)  # type: ignore[operator]
    text = str(info.value)
    assert "hunter2" not in text
    assert "s3cr3t" not in text
    return [(p.code, p.location) for p in info.value.problems]


@pytest.fixture
def agreement(tmp_path: Path) -> Path:
    """A folder ``agreement/`` next to a secret file it must not reach."""
    (tmp_path / "secret.yaml").write_text(SECRET, encoding="utf-8")
    folder = tmp_path / "agreement"
    folder.mkdir()
    (folder / "base.yaml").write_text(BASE, encoding="utf-8")
    return folder


# -- paths (failure 3) ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["../secret.yaml", "sub/../../secret.yaml", "ABSOLUTE"])
def test_amends_outside_the_directory_is_refused_unread(agreement: Path, name: str) -> None:
    """``amends:`` leading out of the ruleset's directory (relative or absolute) is refused
    at the ``amends`` value, and the target is never read (its lines are not echoed)."""
    if name == "ABSOLUTE":
        name = str(agreement.parent / "secret.yaml")
    path = agreement / "amendment.yaml"
    path.write_text(amendment(name), encoding="utf-8")
    assert problems(creditrules.load, path, engine="reference") == [
        ("path-outside", Location(str(path), 1, 9))
    ]


def test_a_symlink_out_of_the_directory_is_refused(agreement: Path) -> None:
    """A symbolic link inside the directory that points outside counts as outside."""
    (agreement / "link.yaml").symlink_to(agreement.parent / "secret.yaml")
    path = agreement / "amendment.yaml"
    path.write_text(amendment("link.yaml"), encoding="utf-8")
    assert problems(creditrules.load, path, engine="reference")[0][0] == "path-outside"


def test_allow_outside_reads_the_base(agreement: Path, tmp_path: Path) -> None:
    """With ``allow_outside=True`` (``--allow-outside``) a base elsewhere is read."""
    elsewhere = tmp_path / "shared"
    elsewhere.mkdir()
    (elsewhere / "base.yaml").write_text(BASE, encoding="utf-8")
    path = agreement / "amendment.yaml"
    path.write_text(amendment("../shared/base.yaml"), encoding="utf-8")
    with pytest.raises(RulesetError):
        creditrules.load(path, engine="reference")
    ruleset = creditrules.load(path, engine="reference", allow_outside=True)
    assert ruleset.versions == ("1", "2")


def test_a_base_in_a_subdirectory_is_inside(agreement: Path) -> None:
    (agreement / "v1").mkdir()
    (agreement / "v1" / "base.yaml").write_text(BASE, encoding="utf-8")
    path = agreement / "amendment.yaml"
    path.write_text(amendment("v1/base.yaml"), encoding="utf-8")
    assert creditrules.load(path, engine="reference").version == "2"


def test_device_files_and_fifos_are_refused_without_reading(agreement: Path) -> None:
    """``/dev/zero`` would never end and a FIFO would hang: both are refused as not regular
    files, at the reference (or at the file itself when it is the one asked for)."""
    path = agreement / "amendment.yaml"
    path.write_text(amendment("/dev/zero"), encoding="utf-8")
    assert problems(creditrules.load, path, engine="reference", allow_outside=True) == [
        ("not-a-file", Location(str(path), 1, 9))
    ]
    fifo = agreement / "pipe.yaml"
    os.mkfifo(fifo)
    path.write_text(amendment("pipe.yaml"), encoding="utf-8")
    assert problems(creditrules.load, path, engine="reference") == [
        ("not-a-file", Location(str(path), 1, 9))
    ]
    assert problems(creditrules.load, fifo, engine="reference") == [
        ("not-a-file", Location(str(fifo)))
    ]
    assert problems(creditrules.load, agreement, engine="reference")[0][0] == "not-a-file"


def test_oversized_files_are_refused_before_reading(tmp_path: Path) -> None:
    """A ruleset over 16 MB (here a sparse file) is refused without being read."""
    big = tmp_path / "big.yaml"
    with big.open("wb") as handle:
        handle.truncate(17 * 1024 * 1024)
    assert problems(creditrules.load, big, engine="reference") == [
        ("too-large", Location(str(big)))
    ]


def test_a_cases_file_naming_a_ruleset_outside_is_refused(agreement: Path) -> None:
    cases = agreement / "x-cases.yaml"
    cases.write_text("ruleset: ../secret.yaml\ncases: []\n", encoding="utf-8")
    with pytest.raises(CasesError) as info:
        load_cases(cases)
    assert next((p.code, p.location) for p in info.value.problems) == (
        "path-outside",
        Location(str(cases), 1, 10),
    )
    cases.write_text(
        "ruleset: ../secret.yaml\ncases:\n  - {deal: {amount: '1'}, credit: {acme: 100%}}\n",
        encoding="utf-8",
    )
    assert load_cases(cases, allow_outside=True).ruleset == agreement / "../secret.yaml"


def test_cli_allow_outside_flag(agreement: Path, tmp_path: Path) -> None:
    """``creditrules validate`` refuses the outside base (exit 2, located, not echoed) and
    reads it with ``--allow-outside``."""
    path = agreement / "amendment.yaml"
    path.write_text(amendment("../secret.yaml"), encoding="utf-8")
    cli = [sys.executable, "-m", "creditrules.cli", "validate", str(path)]
    run = subprocess.run(cli, capture_output=True, text=True, check=False)
    assert run.returncode == 2
    assert f"{path}:1:9: amends '../secret.yaml' leads outside" in run.stderr
    assert "[path-outside]" in run.stderr
    assert "hunter2" not in run.stderr + run.stdout
    (tmp_path / "base.yaml").write_text(BASE, encoding="utf-8")
    path.write_text(amendment("../base.yaml"), encoding="utf-8")
    run = subprocess.run([*cli, "--allow-outside"], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr


# -- values: dates and tags (failure 5) -------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "2026063000",
        "20260302XX",
        "2026-W10-1",
        "20260101",
        "2026-1-01",
        "2026-02-30",
        "２０２６-01-01",
        "2026-01-01T00",
    ],
)
def test_rulesets_take_exactly_yyyy_mm_dd(text: str) -> None:
    """``effective`` dates are exactly ``YYYY-MM-DD`` and a real day, else ``bad-date``."""
    source = BASE.replace("{from: 2026-01-01}", f"{{from: '{text}'}}")
    assert problems(creditrules.loads, source, source="r.yaml", engine="reference") == [
        ("bad-date", Location("r.yaml", 3, 19))
    ]


@pytest.mark.parametrize("text", ["2026063000", "20260302XX", "2026-W10-1", "20260302"])
def test_deals_take_exactly_yyyy_mm_dd(text: str) -> None:
    ruleset = creditrules.loads(BASE, engine="reference")
    deal = {"id": "D", "date": text, "amount": "1.00", "currency": "USD"}
    with pytest.raises(DealError, match="expected a date"):
        ruleset.allocate(deal)
    with pytest.raises(DealError, match="expected a date"):
        ruleset.allocate(deal, explain=False)


def test_condition_dates_use_the_same_parser() -> None:
    """A date in a condition is read by the same rule: ``2026-02-30`` is no day."""
    source = (
        BASE + "  - {id: x, clause: '2', text: x, when: date >= 2026-02-30, split: {acme: 100%}}\n"
    )
    assert problems(creditrules.loads, source, engine="reference")[0][0] == "condition-syntax"


@pytest.mark.parametrize(
    "value", ["!!binary aGVsbG8=", "!!python/object/apply:os.system [ls]", "!custom x", "!!str 1"]
)
def test_tags_on_any_node_are_refused(value: str) -> None:
    """A YAML tag is refused where it is written, never silently dropped."""
    source = BASE.replace('version: "1"', f"version: {value}")
    assert problems(creditrules.loads, source, source="r.yaml", engine="reference") == [
        ("yaml-tag", Location("r.yaml", 2, 10))
    ]


def test_tags_on_collections_are_refused() -> None:
    source = BASE.replace("partners: {", "partners: !!map {")
    assert problems(creditrules.loads, source, source="r.yaml", engine="reference") == [
        ("yaml-tag", Location("r.yaml", 6, 11))
    ]


# -- tracebacks turned into located problems (failure 8) -----------------------------------


def test_a_5000_digit_share_is_a_located_problem() -> None:
    source = BASE.replace("acme: 50%, beta: 50%", f"acme: {'5' * 5000}%, beta: 50%")
    codes = problems(creditrules.loads, source, source="r.yaml", engine="reference")
    assert codes[0] == ("bad-share", Location("r.yaml", 9, 70))


def test_a_non_utf8_cases_file_is_located(tmp_path: Path) -> None:
    cases = tmp_path / "x-cases.yaml"
    cases.write_bytes(b"cases:\n  - name: caf\xe9\n")
    with pytest.raises(CasesError) as info:
        load_cases(cases)
    assert [(p.code, p.location) for p in info.value.problems] == [
        ("unreadable", Location(str(cases), 2, 14))
    ]


def test_5000_digit_numbers_in_cases(tmp_path: Path) -> None:
    """Huge numbers in a cases file: an expectation is a located problem; a deal amount
    stays text, for the deal reader to judge."""
    cases = tmp_path / "x-cases.yaml"
    digits = "9" * 5000
    cases.write_text(
        f"cases:\n  - deal: {{amount: {digits}}}\n    credit: {{acme: {digits}}}\n",
        encoding="utf-8",
    )
    with pytest.raises(CasesError) as info:
        load_cases(cases)
    assert ("bad-value", Location(str(cases), 3, 20)) in [
        (p.code, p.location) for p in info.value.problems
    ]
    cases.write_text(
        f"cases:\n  - deal: {{amount: {digits}}}\n    credit: {{acme: 100%}}\n", encoding="utf-8"
    )
    (case,) = load_cases(cases).cases
    assert case.deal["amount"] == digits


def test_plugin_reports_a_broken_ruleset_as_its_problems(pytester: pytest.Pytester) -> None:
    """A cases file whose ruleset is broken fails with the located problem, not a trace
    through pytest's internals."""
    pytester.makefile(".yaml", x=BASE.replace("50%, beta: 50%", "50%, beta: 40%"))
    pytester.makefile(
        ".yaml",
        **{
            "x-cases": "cases:\n  - deal: {date: 2026-03-02, "
            "amount: '1.00'}\n    credit: {acme: 50%}\n"
        },
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert (
        "x.yaml:9:63: rule base split totals 90%; credit type 'revenue' requires "
        "exactly 100%" in out
    )
    assert "_pytest" not in out
    assert "Traceback" not in out


@pytest.mark.parametrize(("char", "column"), [("\x00", 11), ("\x07", 11), ("\ufffe", 11)])
def test_characters_yaml_refuses_are_located(char: str, column: int) -> None:
    """A NUL or another character YAML does not allow is reported at its line and column,
    not as an offset into the text."""
    source = BASE.replace('version: "1"', f'version: "{char}"')
    assert problems(creditrules.loads, source, source="r.yaml", engine="reference") == [
        ("yaml-syntax", Location("r.yaml", 2, column))
    ]
