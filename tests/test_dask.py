"""Scale-out on Dask: a local cluster of 2 worker processes gives the single-process ledger
and rejects byte for byte, whatever the chunking. Skipped where dask is not installed
(``pip install -e '.[dask]'``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("distributed")
pytest.importorskip("dask.dataframe")

import dask
import dask.dataframe as dd
import pandas as pd
from distributed import Client, LocalCluster

import creditrules
from creditrules.cli import main
from creditrules.integrations.dask import allocate_dataframe, allocate_files, chunks
from creditrules.integrations.pandas import allocate_frame

ROOT = Path(__file__).resolve().parent.parent
BENCHMARK = ROOT / "benchmarks" / "alliance.yaml"
CARDIOZEN = ROOT / "rulesets" / "cardiozen.yaml"


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    # ":0": any free port (another run on the machine may hold the default, 8787).
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        yield client


def _deals_file(tmp_path: Path, n: int = 300) -> Path:
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import deals as generated
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    lines = [json.dumps(d) for d in generated.deals(n, seed=11)]
    # Bad records among the good ones: each must be rejected with its own line number.
    lines.insert(5, '{"id": "BAD-1", "date": "2026-03-01", "amount": 12.5, "currency": "USD"}')
    lines.insert(77, "{not json")
    lines.insert(150, "")
    lines.insert(151, '{"id": "BAD-3", "date": "1999-01-01", "amount": "1.00", '
                      '"currency": "USD"}')
    path = tmp_path / "deals.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("ledger_format", ["jsonl", "csv"])
def test_dask_files_equal_single_process(client: Client, tmp_path: Path,
                                         ledger_format: str) -> None:
    deals = _deals_file(tmp_path)
    single = tmp_path / f"single.{ledger_format}"
    assert main(["allocate", str(BENCHMARK), str(deals), "-o", str(single),
                 "--rejects", str(tmp_path / "single-rejects.jsonl")]) == 1
    for chunk_lines in (1000, 37, 1):
        ledger = tmp_path / f"dask-{chunk_lines}.{ledger_format}"
        rejects = tmp_path / f"dask-{chunk_lines}-rejects.jsonl"
        result = allocate_files(BENCHMARK, [str(deals)], ledger, rejects, client=client,
                                chunk_lines=chunk_lines)
        assert ledger.read_bytes() == single.read_bytes()
        assert rejects.read_bytes() == (tmp_path / "single-rejects.jsonl").read_bytes()
        summary = result.summary
        assert summary.read == summary.allocated + summary.rejected == 303
        assert summary.rejected == 3
    rejected = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert [r["line"] for r in rejected] == [6, 78, 152]


def test_chunks_cover_the_file_in_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_bytes(b"a\nb\r\nc\n\nd")
    parts = list(chunks(str(path), lines=2))
    assert [(c.start, c.end, c.line) for c in parts] == [(0, 5, 1), (5, 8, 3), (8, 9, 5)]
    lone = tmp_path / "cr.jsonl"
    lone.write_bytes(b"a\rb\nc\n")  # lines end at LF only, for the reader as here
    assert [(c.start, c.end, c.line) for c in chunks(str(lone), lines=1)] == [(0, 4, 1),
                                                                             (4, 6, 2)]


def test_dask_dataframe_equals_pandas_single_process(client: Client) -> None:
    ruleset = creditrules.load(CARDIOZEN)
    rows = [json.loads(line) for line in
            (ROOT / "rulesets" / "cardiozen-deals.jsonl").read_text().splitlines()]
    frame = pd.DataFrame({
        "id": [d["id"] for d in rows] + ["BAD"],
        "date": [d["date"] for d in rows] + ["2026-01-05"],
        "amount": [d["amount"] for d in rows] + [12.5],
        "currency": [d["currency"] for d in rows] + ["USD"],
        "product": [d.get("product") for d in rows] + [None],
        "account": [d.get("account") for d in rows] + [None],
        "lead": [d.get("lead") for d in rows] + [None],
        "reps": [json.dumps(d.get("reps", [])) for d in rows] + ["[]"],
        "activities": [d.get("activities", []) for d in rows] + [[]],
        "attributes": [d.get("attributes") for d in rows] + [None],
        "expenses": [d.get("expenses") for d in rows] + [None],
    }, dtype=object)
    ledger, rejects = allocate_frame(ruleset, frame)
    assert list(rejects["line"]) == [len(rows) + 1]
    assert list(rejects["code"]) == ["float-amount"]
    expected_rows = [r for d in rows for r in _rows(ruleset, d)]
    assert [tuple(r) for r in ledger.itertuples(index=False, name=None)] == expected_rows
    # Nested objects in cells stay objects (dask would otherwise turn them into text).
    with dask.config.set({"dataframe.convert-string": False}):
        for partitions in (1, 3):
            d_ledger, d_rejects = allocate_dataframe(
                CARDIOZEN, dd.from_pandas(frame, npartitions=partitions))
            got_ledger, got_rejects = dask.compute(d_ledger, d_rejects)
            pd.testing.assert_frame_equal(got_ledger.reset_index(drop=True), ledger)
            pd.testing.assert_frame_equal(got_rejects.reset_index(drop=True), rejects)


def _rows(ruleset: creditrules.Ruleset, deal: dict[str, object]) -> list[tuple[object, ...]]:
    from creditrules.io.batch import ledger_rows

    return ledger_rows(ruleset.allocate(creditrules.Deal.from_mapping(deal), explain=False))


def test_a_changed_ruleset_is_refused(client: Client, tmp_path: Path) -> None:
    """Workers check the agreement is the one the caller loaded."""
    from creditrules.errors import RulesetError
    from creditrules.integrations.dask import _ruleset

    with pytest.raises(RulesetError, match="changed during the run"):
        _ruleset(str(CARDIOZEN), None, "sha256:not-this-one")


def test_dask_rejects_duplicates_and_hostile_lines_as_one_process(client: Client,
                                                                   tmp_path: Path) -> None:
    """Deal ids allocated by an earlier chunk are rejected as in one process; a byte that
    is not UTF-8 or a mid-file byte order mark rejects its line only."""
    deals = _deals_file(tmp_path, n=60)
    lines = deals.read_bytes().splitlines(keepends=True)
    # The last: a copy of line 3 that is also a bad record: a duplicate first.
    bad_copy = json.loads(lines[2])
    bad_copy["amount"] = 1.5
    lines += [lines[0], b"\xff\xfe not text\n", b"\xef\xbb\xbf" + lines[1], lines[40],
              json.dumps(bad_copy).encode() + b"\n"]
    deals.write_bytes(b"".join(lines))
    single = tmp_path / "single.csv"
    assert main(["allocate", str(BENCHMARK), str(deals), "-o", str(single),
                 "--rejects", str(tmp_path / "single-rejects.jsonl")]) == 1
    expected = [(r["line"], r["code"]) for r in map(
        json.loads, (tmp_path / "single-rejects.jsonl").read_text().splitlines())]
    assert expected[-5:] == [(65, "duplicate-id"), (66, "not-utf8"), (67, "unreadable"),
                             (68, "duplicate-id"), (69, "duplicate-id")]
    for chunk_lines in (1000, 7, 4):  # 4: line 69 alone in its chunk
        ledger, rejects = tmp_path / f"d{chunk_lines}.csv", tmp_path / f"r{chunk_lines}.jsonl"
        result = allocate_files(BENCHMARK, [str(deals)], ledger, rejects, client=client,
                                chunk_lines=chunk_lines)
        assert ledger.read_bytes() == single.read_bytes()
        assert rejects.read_bytes() == (tmp_path / "single-rejects.jsonl").read_bytes()
        assert result.summary.rejected == len(expected)
        assert not [p for p in tmp_path.iterdir() if ".incomplete-" in p.name]
