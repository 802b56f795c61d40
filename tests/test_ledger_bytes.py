"""The ledger's bytes are pinned: the bundled agreements' and the benchmark's ledgers hash to
what they were before allocation became one path (release 0.1.0's bytes).

A change that alters a ledger on purpose (a new column, a new rounding rule) updates these
hashes in the same commit, and says so; any other change must leave them alone, whatever
it does to the code behind them: a refactoring, a faster reader or writer, another engine.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest

from creditrules.cli import main

ROOT = Path(__file__).resolve().parent.parent
RULESETS = ROOT / "rulesets"

PINNED = {
    ("cardiozen", "cardiozen", "jsonl"):
        "4a92324619c6fbdb7dbb9fe5d93eb2c29c0b8784f81f309c83004315fc1bef26",
    ("cardiozen", "cardiozen", "csv"):
        "4d3ab5807b381b04d71370a6f68cbc56168321c92a59d4d97d6579891c64f2b0",
    ("cloudbridge", "cloudbridge", "jsonl"):
        "bb3749710c5c72a98a825103dd0bb1fab451cbad72ecfab4d490859c019880e8",
    ("cloudbridge", "cloudbridge", "csv"):
        "abbfdfade79c92047fec6c48a7175326d9c2096d7d6b7598e62a8f41cf99b071",
    ("cloudbridge-amendment-1", "cloudbridge", "jsonl"):
        "2e91dfc534368842584038209b77e5775f6d741c8e6827cc7fc1f7f3aa4abf4f",
    ("cloudbridge-amendment-1", "cloudbridge", "csv"):
        "848c5465e33fb1b666fa674956456fabd6dbb63006211d80c47d7bf42248bdeb",
}
# Whole allocations (--allocations): as before, plus each credit's rep_rounding in its
# workings where a partner has two or more reps (added on purpose: the rounding among
# reps, shown for checking by hand).
ALLOCATIONS = {
    "cardiozen": "b7a26f62569fda88444e03f100d0ec5c6b4e565c4339c3f043948df865c5987e",
    "cloudbridge": "5ed6a598a9a5eb3d045a8a8040917e91df7466e99c361b77f2c079a3cca00099",
    "cloudbridge-amendment-1":
        "9eb29b1254c29a9383aa074bdb907a1cbfc7d2ad19b5a04d2b4460a28a92abd2",
}
# 2,000 deals of benchmarks/deals.py (seed 1) through benchmarks/alliance.yaml.
BENCHMARK = {
    "jsonl": "fcfbb8a27315dc717becf4de0d2df02103c1ed1b1dee885df22e33f48222e5fb",
    "csv": "b874779d7c56838df81f46d88895e555ed12faba5ef2901bc32ad1bdd47b2006",
}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(("ruleset", "deals", "fmt"), sorted(PINNED))
def test_bundled_ledgers_keep_their_bytes(ruleset: str, deals: str, fmt: str, engine: str,
                                          tmp_path: Path) -> None:
    out = tmp_path / f"ledger.{fmt}"
    main(["allocate", str(RULESETS / f"{ruleset}.yaml"),
          str(RULESETS / f"{deals}-deals.jsonl"), "-o", str(out), "--engine", engine])
    assert _sha256(out) == PINNED[(ruleset, deals, fmt)]


@pytest.mark.parametrize("ruleset", sorted(ALLOCATIONS))
def test_bundled_allocations_keep_their_bytes(ruleset: str, engine: str,
                                              tmp_path: Path) -> None:
    deals = "cloudbridge" if ruleset.startswith("cloudbridge") else ruleset
    out = tmp_path / "allocations.jsonl"
    main(["allocate", str(RULESETS / f"{ruleset}.yaml"),
          str(RULESETS / f"{deals}-deals.jsonl"), "-o", str(out), "--allocations",
          "--engine", engine])
    assert _sha256(out) == ALLOCATIONS[ruleset]


@pytest.mark.parametrize("fmt", sorted(BENCHMARK))
def test_benchmark_ledger_keeps_its_bytes(fmt: str, engine: str, tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import deals as generated
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    source = tmp_path / "deals.jsonl"
    source.write_text("".join(json.dumps(d) + "\n" for d in generated.deals(2000, 1)),
                      encoding="utf-8")
    out = tmp_path / f"ledger.{fmt}"
    main(["allocate", str(ROOT / "benchmarks" / "alliance.yaml"), str(source), "-o",
          str(out), "--engine", engine])
    assert _sha256(out) == BENCHMARK[fmt]
