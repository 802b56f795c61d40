"""An amendment that extends the term: the base rules it does not replace or retire
continue to the new end (the reference's worked example, checked)."""

from __future__ import annotations

from pathlib import Path

import pytest

import creditrules

BASE = """ruleset: extension-example
version: "1"
effective: {from: 2026-01-01, to: 2026-12-31}
currency: USD
partners: {acme: {}, beta: {}}
credit:
  - {id: base-split, clause: "3.1", default: true, split: {acme: 60%, beta: 40%}}
  - id: launch
    clause: "3.2"
    effective: {to: 2026-06-30}
    when: amount >= 1000
    overrides: [base-split]
    split: {acme: 50%, beta: 50%}
"""
EXTENSION = """amends: base.yaml
version: "2"
effective: {from: 2027-01-01, to: 2027-12-31}
"""


def _deal(day: str) -> dict[str, str]:
    return {"id": "T-1", "date": day, "amount": "2000.00", "currency": "USD"}


def test_an_extension_keeps_the_base_clauses_in_force(tmp_path: Path, engine: str) -> None:
    (tmp_path / "base.yaml").write_text(BASE, encoding="utf-8")
    (tmp_path / "amendment-1.yaml").write_text(EXTENSION, encoding="utf-8")
    amended = creditrules.load(tmp_path / "amendment-1.yaml", engine=engine)
    assert amended.effective.end is not None
    assert amended.effective.end.isoformat() == "2027-12-31"
    # In the extension: clause 3.1 still decides, 60% of 2,000.00 to Acme.
    later = amended.allocate(_deal("2027-03-01"))
    revenue = later.credit("revenue")
    assert revenue is not None
    assert revenue.rules == ("base-split",)
    assert revenue.clauses == ("3.1",)
    assert str(revenue.amount_of("acme")) == "1200.00"
    # A rule's own end still ends it: launch (3.2) stopped on 2026-06-30.
    early = amended.allocate(_deal("2026-03-01")).credit("revenue")
    assert early is not None
    assert early.rules == ("launch",)
    # Beyond the new end, the deal is outside the agreement.
    with pytest.raises(creditrules.DealError) as err:
        amended.allocate(_deal("2028-01-01"))
    assert err.value.code == "outside-agreement"


def test_retire_ends_a_base_rule_with_the_old_term(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text(BASE, encoding="utf-8")
    (tmp_path / "amendment-1.yaml").write_text(
        EXTENSION + "retire: [base-split]\ncredit:\n  - {id: new-split, clause: '3.1A', "
        "default: true, split: {acme: 55%, beta: 45%}}\n",
        encoding="utf-8",
    )
    amended = creditrules.load(tmp_path / "amendment-1.yaml", engine="reference")
    revenue = amended.allocate(_deal("2027-03-01")).credit("revenue")
    assert revenue is not None
    assert revenue.rules == ("new-split",)
    assert amended.allocate(_deal("2026-12-31")).credit("revenue").rules == ("base-split",)
