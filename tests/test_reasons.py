"""Reasons of unmatched conditions: deferred until read, then what an eager explanation gives."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

import creditrules
import oracle
from creditrules.allocation._deferred import Deferred
from creditrules.allocation.model import Deal

ROOT = Path(__file__).resolve().parent.parent
CZ001 = json.loads((ROOT / "rulesets" / "cardiozen-deals.jsonl").read_text(
    encoding="utf-8").splitlines()[0])


@pytest.fixture(scope="module")
def ruleset() -> creditrules.Ruleset:
    return creditrules.load(ROOT / "rulesets" / "cardiozen.yaml")


@pytest.mark.parametrize("as_object", [False, True], ids=["mapping", "Deal"])
def test_reasons_are_explained_only_when_read(ruleset: creditrules.Ruleset,
                                              as_object: bool) -> None:
    deal = Deal.from_mapping(CZ001) if as_object else CZ001
    allocation = ruleset.allocate(deal)
    verdict = next(v for v in allocation.verdicts if v.rule == "beta-sourced")
    assert verdict.status == "not-matched"
    deferred = verdict._reasons
    assert isinstance(deferred, Deferred)
    assert not deferred.done  # nothing explained yet
    assert verdict.reasons == ('lead.source == "beta" is false: lead.source is missing',)
    assert deferred.done  # kept once explained
    assert deferred.get() is verdict.reasons


def test_deferred_reasons_compare_hash_and_pickle_as_the_reasons(
        ruleset: creditrules.Ruleset) -> None:
    lazy = ruleset.allocate(CZ001)
    eager = ruleset.allocate(CZ001)
    for v in eager.verdicts:
        _ = v.reasons  # explain these now; the other allocation's stay deferred
    assert lazy == eager
    assert hash(lazy.verdicts) == hash(eager.verdicts)
    copy = pickle.loads(pickle.dumps(lazy))
    assert copy == eager
    assert all(type(v._reasons) is tuple for v in copy.verdicts)  # pickled as the answer
    assert lazy.to_dict() == eager.to_dict()
    assert "lead.source is missing" in repr(lazy)


def test_explain_false_gives_no_reasons(ruleset: creditrules.Ruleset) -> None:
    allocation = ruleset.allocate(CZ001, explain=False)
    verdict = next(v for v in allocation.verdicts if v.rule == "beta-sourced")
    assert verdict.reasons == ()
    assert allocation != ruleset.allocate(CZ001)  # the explained one has reasons


def test_verdicts_are_listed_only_when_read(ruleset: creditrules.Ruleset) -> None:
    """The verdicts themselves wait to be read, and then are those of the test oracle
    (which lists them as it goes)."""
    allocation = ruleset.allocate(CZ001)
    deferred = allocation._verdicts
    assert isinstance(deferred, Deferred)
    assert not deferred.done
    plain = oracle.allocate(ruleset, Deal.from_mapping(CZ001), explain=True)
    assert type(plain._verdicts) is tuple
    assert allocation.verdicts == plain.verdicts
    assert deferred.done
    assert [v.rule for v in allocation.verdicts][:3] == [v.rule for v in plain.verdicts][:3]
