"""``creditrules init``: the starter agreement passes validate, check and test as written."""

from __future__ import annotations

from pathlib import Path

import pytest

from creditrules.cli import main


def test_starter_passes_validate_check_and_test(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init", "medco-deviceco", "--dir", str(tmp_path)]) == 0
    ruleset = tmp_path / "medco-deviceco.yaml"
    deals = tmp_path / "medco-deviceco-deals.jsonl"
    cases = tmp_path / "medco-deviceco-cases.yaml"
    assert ruleset.read_text().count("ruleset: medco-deviceco\n") == 1
    assert main(["validate", str(ruleset)]) == 0
    assert main(["test", str(ruleset), str(cases)]) == 0
    assert "3 case(s), 3 passed, 0 failed" in capsys.readouterr().err
    assert main(["check", str(ruleset), "--max-examples", "20"]) == 0
    assert main(["allocate", str(ruleset), str(deals)]) == 0
    # D-002: Beta sourced the lead, so 4.2 gives Beta 60% of 10,000.00.
    assert "2 read, 2 allocated, 0 rejected" in capsys.readouterr().err


def test_starter_has_the_parts_the_tutorial_names(tmp_path: Path) -> None:
    """Two partners, a default, an exception with overrides, a policy, a sharing rule."""
    assert main(["init", "x", "--dir", str(tmp_path)]) == 0
    text = (tmp_path / "x.yaml").read_text()
    for part in (
        "  alpha: {name: Alpha Inc.}",
        "  beta: {name: Beta Ltd.}",
        "default: true",
        "overrides: [equal-shares]",
        "policies:",
        "policy_precedence:",
        "expense_sharing:",
    ):
        assert part in text


def test_init_never_overwrites(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "x.yaml").write_text("mine\n")
    assert main(["init", "x", "--dir", str(tmp_path)]) == 2
    assert "not overwriting" in capsys.readouterr().err
    assert (tmp_path / "x.yaml").read_text() == "mine\n"
    assert not (tmp_path / "x-deals.jsonl").exists()


def test_init_refuses_a_name_that_is_no_id(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init", "Med Co", "--dir", str(tmp_path)]) == 2
    assert "must be a short name" in capsys.readouterr().err
