"""``creditrules init``: the starter agreement passes validate, check and test as written."""

from __future__ import annotations

import json
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


def test_medco_deviceco_from_the_tutorial(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Step 12 of the lawyer tutorial: the starter made MedCo's and DeviceCo's (partners
    renamed, 4.1 by Schedule 1's effort, a DeviceCo detail worth three MedCo details),
    then rendered, and a by-contribution deal checked by hand from its explanation.

    MedCo's rep made 6 details (6 x 1 x 1/3 = 2 points) and a joint call with DeviceCo's
    rep (2 x 1/3 = 2/3); DeviceCo's rep the joint call (2) and 1 detail (1). MedCo 8/3,
    DeviceCo 3, together 17/3: MedCo 8/17 = 47.06% of 1,000.00 = 470.588..., DeviceCo
    529.411...; the odd cent goes to the larger remainder, MedCo's (0.82 against 0.18)."""
    assert main(["init", "medco-deviceco", "--dir", str(tmp_path)]) == 0
    path = tmp_path / "medco-deviceco.yaml"
    text = path.read_text()
    text = text.replace(
        "  alpha: {name: Alpha Inc.}\n  beta: {name: Beta Ltd.}",
        "  medco: {name: MedCo Pharmaceuticals plc}\n  deviceco: {name: DeviceCo GmbH}",
    )
    text = text.replace("alpha", "medco").replace("beta", "deviceco")
    text = text.replace(
        "  weights: {detail: 1, joint_call: 2}",
        "  weights: {detail: 1, joint_call: 2, lead_sourced: 3}\n"
        "  normalise: {medco: 1/3, deviceco: 1}",
    )
    text = text.replace("  - id: equal-shares", "  - id: by-effort")
    text = text.replace("[equal-shares]", "[by-effort]")
    text = text.replace("    split: {medco: 50%, deviceco: 50%}", "    split: by_contribution")
    path.write_text(text)
    assert main(["validate", str(path)]) == 0
    assert main(["render", str(path), "-o", str(tmp_path / "medco.html")]) == 0
    assert (
        "<td>MedCo Pharmaceuticals plc</td><td>medco</td>" in (tmp_path / "medco.html").read_text()
    )
    deal = tmp_path / "deal.jsonl"
    deal.write_text(
        json.dumps(
            {
                "id": "MD-1",
                "date": "2026-05-04",
                "amount": "1000.00",
                "currency": "USD",
                "reps": [{"id": "mia", "partner": "medco"}, {"id": "dan", "partner": "deviceco"}],
                "activities": [
                    *({"kind": "detail", "rep": "mia"} for _ in range(6)),
                    {"kind": "joint_call", "reps": ["mia", "dan"]},
                    {"kind": "detail", "rep": "dan"},
                ],
            }
        )
        + "\n"
    )
    capsys.readouterr()
    assert main(["explain", str(path), str(deal)]) == 0
    out = capsys.readouterr().out
    for line in (
        "  MedCo Pharmaceuticals plc (medco): 47.06% (800/17%) = 470.59",
        "  DeviceCo GmbH (deviceco): 52.94% (900/17%) = 529.41",
        "    medco        detail               6       1       1/3        2",
        "    medco        joint_call           1       2       1/3 0.6667... (2/3)",
        "    deviceco total 3 of 5.6667... (17/3) points: share 100% x 3 / "
        "5.6667... (17/3) = 52.94% (900/17%)",
        "    medco: exact 470.5882... (8000/17) -> 470.59: largest remainder (0.82 "
        "of a unit) takes the odd unit",
    ):
        assert line in out, line
