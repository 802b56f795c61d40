"""Parquet in and out: rows read as the JSON readers read deals, with exact money (decimal
columns as decimal text, float columns refused per record as JSON floats are), rejects
numbered by row, ledgers that round-trip and are byte-identical run after run, and Dask on
Parquet input equal to one process. Skipped where pyarrow is not installed
(``pip install -e '.[parquet]'``)."""

from __future__ import annotations

import datetime as dt
import io
import json
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from creditrules.cli import main  # noqa: E402
from creditrules.io.batch import LEDGER_COLUMNS, LedgerWriter, Row  # noqa: E402
from creditrules.io.parquet import ParquetLedgerWriter, read_parquet, row_group_spans  # noqa: E402
from creditrules.io.records import (  # noqa: E402
    InputError,
    Record,
    guess_format,
    read_records,
)

ROOT = Path(__file__).resolve().parent.parent
CARDIOZEN = ROOT / "rulesets" / "cardiozen.yaml"
CARDIOZEN_DEALS = ROOT / "rulesets" / "cardiozen-deals.jsonl"
BENCHMARK = ROOT / "benchmarks" / "alliance.yaml"

S = pa.string()
DATE = pa.date32()
MONEY = pa.decimal128(12, 2)

# The deal JSON shape as a Parquet schema: amounts decimal (the deal's) or text (the
# expenses'), dates as date32, attributes as a map.
DEAL_SCHEMA = pa.schema([
    ("id", S), ("date", DATE), ("amount", MONEY), ("currency", S), ("product", S),
    ("account", pa.struct([("id", S), ("owner", S), ("named", pa.bool_()), ("segment", S),
                           ("territory", S)])),
    ("lead", pa.struct([("source", S), ("rep", S)])),
    ("reps", pa.list_(pa.struct([("id", S), ("partner", S), ("owner", pa.bool_())]))),
    ("activities", pa.list_(pa.struct([("kind", S), ("rep", S), ("reps", pa.list_(S)),
                                       ("partner", S), ("date", DATE)]))),
    ("attributes", pa.map_(S, S)),
    ("expenses", pa.list_(pa.struct([
        ("id", S), ("kind", S), ("amount", S), ("paid_by", S),
        ("attendees", pa.list_(pa.struct([("id", S), ("category", S),
                                          ("spent_this_year", MONEY)]))),
        ("date", DATE), ("preapproved", pa.bool_())]))),
])


def _jsonl_deals(path: Path = CARDIOZEN_DEALS) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _date(text: str | None) -> dt.date | None:
    return None if text is None else dt.date.fromisoformat(text)


def _parquet_row(deal: dict[str, Any]) -> dict[str, Any]:
    """A JSON deal as a row of DEAL_SCHEMA (a count of attendees as that many attendees)."""
    row = json.loads(json.dumps(deal))
    row["date"] = _date(row["date"])
    row["amount"] = Decimal(row["amount"])
    for activity in row.get("activities", []):
        activity["date"] = _date(activity.get("date"))
    if "attributes" in row:
        row["attributes"] = sorted(row["attributes"].items())
    for expense in row.get("expenses", []):
        expense["date"] = _date(expense.get("date"))
        if isinstance(expense["attendees"], int):
            expense["attendees"] = [{} for _ in range(expense["attendees"])]
        for attendee in expense["attendees"]:
            if "spent_this_year" in attendee:
                attendee["spent_this_year"] = Decimal(attendee["spent_this_year"])
    return row


def _write(path: Path, table: Any, row_group_size: int | None = None) -> Path:
    pq.write_table(table, path, row_group_size=row_group_size)
    return path


def _cardiozen_parquet(tmp_path: Path, row_group_size: int = 5) -> Path:
    table = pa.Table.from_pylist([_parquet_row(d) for d in _jsonl_deals()],
                                 schema=DEAL_SCHEMA)
    return _write(tmp_path / "deals.parquet", table, row_group_size)


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


# ---------------------------------------------------------------------------------------
# Reading


def test_rows_read_as_the_json_reader_reads_the_same_deals(tmp_path: Path) -> None:
    path = _cardiozen_parquet(tmp_path, row_group_size=5)
    records = list(read_parquet(path))
    assert all(isinstance(r, Record) for r in records)
    assert [r.line for r in records] == list(range(1, 13))
    expected = _jsonl_deals()
    for record, deal in zip(records, expected, strict=True):
        # Attendee counts became that many (empty) attendees; all else reads back as JSON.
        for expense in deal.get("expenses", []):
            if isinstance(expense["attendees"], int):
                expense["attendees"] = [{}] * expense["attendees"]
        assert record.data == deal
    assert records[0].data["amount"] == "10000.00"
    assert records[0].data["date"] == "2026-02-02"


def test_types_convert_to_their_json_shape(tmp_path: Path) -> None:
    table = pa.table({
        "id": pa.array([1, 2], pa.int64()),
        "amount": pa.array([Decimal("12.300"), None], pa.decimal128(6, 3)),
        "tiny": pa.array([Decimal(0), Decimal("1E-10")], pa.decimal128(20, 10)),
        "price": pa.array([Decimal("-0.10"), Decimal("7.25")], pa.decimal256(40, 2)),
        "when": pa.array([dt.datetime(2026, 3, 1, 9, 30), None], pa.timestamp("s")),
        "day": pa.array([dt.date(2026, 3, 1), dt.date(2026, 3, 2)], pa.date64()),
        "product": pa.array([b"cardiozen", None], pa.binary()),
        "segment": pa.DictionaryArray.from_arrays(pa.array([0, 1], pa.int8()),
                                                  pa.array(["clinic", "hospital"])),
        "account.owner": pa.array(["acme", None]),
        "account.named": pa.array([True, False]),
        "attributes": pa.array([[("tier", "2"), ("x", None)], []],
                               pa.map_(pa.string(), pa.string())),
        "tags": pa.array([["a", None], None], pa.list_(pa.string())),
        "score": pa.array([0.5, float("nan")], pa.float64()),
    })
    path = _write(tmp_path / "types.parquet", table)
    first, second = (r.data for r in read_parquet(path) if isinstance(r, Record))
    assert first == {
        "id": 1, "amount": "12.300", "tiny": "0.0000000000", "price": "-0.10",
        "when": "2026-03-01T09:30:00", "day": "2026-03-01", "product": "cardiozen",
        "segment": "clinic",
        "account": {"owner": "acme", "named": True}, "attributes": {"tier": "2"},
        "tags": ["a", None], "score": "0.5",
    }
    assert second == {"id": 2, "tiny": "0.0000000001", "price": "7.25", "day": "2026-03-02",
                      "segment": "hospital", "account": {"named": False}, "attributes": {},
                      "score": "nan"}
    # Float values keep only their JSON text, as the JSON reader keeps 0.5: never a Decimal.
    from creditrules.allocation.model import JsonFloat

    assert isinstance(first["score"], JsonFloat)


def test_a_pandas_index_column_is_not_a_deal_field(tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"id": ["A", "B"], "amount": ["1.00", "2.00"]}, index=[7, 9])
    path = tmp_path / "frame.parquet"
    frame.to_parquet(path)
    assert "__index_level_0__" in pq.read_schema(path).names
    assert [r.data for r in read_parquet(path) if isinstance(r, Record)] == [
        {"id": "A", "amount": "1.00"}, {"id": "B", "amount": "2.00"}]
    # With no other column, each row is still a record (an empty one): none is lost.
    pd.DataFrame(index=[5, 6, 7]).to_parquet(tmp_path / "index-only.parquet")
    assert [(r.line, r.data) for r in read_parquet(tmp_path / "index-only.parquet")
            if isinstance(r, Record)] == [(1, {}), (2, {}), (3, {})]


def test_rows_keep_their_file_numbers_in_any_row_groups(tmp_path: Path) -> None:
    table = pa.table({"id": [f"D-{i}" for i in range(1, 11)]})
    path = _write(tmp_path / "ten.parquet", table, row_group_size=3)
    assert pq.ParquetFile(path).num_row_groups == 4
    got = [(r.line, r.data["id"]) for r in read_parquet(path, row_groups=[2, 0])
           if isinstance(r, Record)]
    assert got == [(7, "D-7"), (8, "D-8"), (9, "D-9"), (1, "D-1"), (2, "D-2"), (3, "D-3")]
    assert row_group_spans(path, 1) == [(0, 1, 1), (1, 2, 4), (2, 3, 7), (3, 4, 10)]
    assert row_group_spans(path, 5) == [(0, 2, 1), (2, 4, 7)]
    assert row_group_spans(path, 100) == [(0, 4, 1)]
    with pytest.raises(ValueError, match="no row group 4"):
        read_parquet(path, row_groups=[4])


def test_guess_format_and_text_streams() -> None:
    assert guess_format("q1.PARQUET") == "parquet"
    with pytest.raises(ValueError, match="read_parquet"):
        list(read_records(io.StringIO(""), "parquet"))


# The mixed file: good deals and bad rows, each bad row with the code and deal id of its
# rejection. Rows are dicts of MIXED_SCHEMA's columns (missing ones null).
MIXED_SCHEMA = pa.schema([
    ("id", S), ("date", DATE), ("amount", S), ("currency", S), ("product", pa.binary()),
    ("account.owner", S), ("account.named", S),
    ("expenses", pa.list_(pa.struct([("id", S), ("kind", S), ("amount", pa.float64()),
                                     ("paid_by", S), ("attendees", pa.int64())]))),
])


def _good_row(n: int) -> dict[str, Any]:
    return {"id": f"G-{n}", "date": dt.date(2026, 3, n), "amount": f"{n}00.00",
            "currency": "USD", "product": b"cardiozen", "account.owner": "acme"}


MIXED: list[tuple[dict[str, Any], str | None, str | None]] = [
    # row, expected code (None: allocated), expected deal id in the rejection
    (_good_row(1), None, None),
    ({**_good_row(2), "id": "FLOAT", "expenses": [
        {"id": "dinner", "kind": "meal", "amount": 450.75, "paid_by": "acme",
         "attendees": 3}]}, "float-amount", "FLOAT"),
    (_good_row(3), None, None),
    ({**_good_row(4), "id": "GAMMA", "account.owner": "gamma"}, "unknown-partner", "GAMMA"),
    ({**_good_row(5), "id": "NO-AMOUNT", "amount": None}, "missing-field", "NO-AMOUNT"),
    ({**_good_row(6), "id": "EARLY", "date": dt.date(2025, 12, 31)}, "outside-agreement",
     "EARLY"),
    (_good_row(7), None, None),
    ({**_good_row(8), "id": "NAMED", "account.named": "yes"}, "bad-field", "NAMED"),
    ({**_good_row(9), "id": "EXPONENT", "amount": "1e3"}, "bad-field", "EXPONENT"),
    ({**_good_row(10), "id": None}, "missing-field", None),
    ({**_good_row(11), "id": "LATIN1", "product": "caf\xe9".encode("latin-1")}, "unreadable",
     "LATIN1"),
    ({**_good_row(12), "id": "Y10K"}, "unreadable", "Y10K"),  # its date set below
    (_good_row(13), None, None),
]


def _mixed_parquet(tmp_path: Path, row_group_size: int = 4) -> Path:
    columns: dict[str, list[Any]] = {name: [row.get(name) for row, _, _ in MIXED]
                                     for name in MIXED_SCHEMA.names}
    dates = pa.array(columns.pop("date"), DATE)
    # A date past year 9999 is valid Parquet but no Python date: that row is unreadable.
    y10k = next(i for i, (row, _, _) in enumerate(MIXED) if row["id"] == "Y10K")
    days = dates.cast(pa.int32()).to_pylist()
    days[y10k] = 2_932_897 + 10  # days from 1970-01-01 to past 9999-12-31
    arrays = {name: pa.array(values, MIXED_SCHEMA.field(name).type)
              for name, values in columns.items()}
    arrays["date"] = pa.array(days, pa.int32()).cast(DATE)
    table = pa.table({name: arrays[name] for name in MIXED_SCHEMA.names})
    return _write(tmp_path / "mixed.parquet", table, row_group_size)


def test_counts_add_up_on_a_file_mixing_good_and_bad_rows(
        tmp_path: Path, engine: str, capsys: pytest.CaptureFixture[str]) -> None:
    deals = _mixed_parquet(tmp_path)
    ledger, rejects = tmp_path / "ledger.jsonl", tmp_path / "rejects.jsonl"
    status = main(["allocate", str(CARDIOZEN), str(deals), "-o", str(ledger), "--rejects",
                   str(rejects), "--engine", engine])
    err = capsys.readouterr().err
    assert status == 1
    good = [row["id"] for row, code, _ in MIXED if code is None]
    expected = {line: (code, deal) for line, (_, code, deal) in enumerate(MIXED, start=1)
                if code is not None}
    assert good == ["G-1", "G-3", "G-7", "G-13"]
    rows = [json.loads(line) for line in _lines(ledger)]
    assert list(dict.fromkeys(r["deal"] for r in rows)) == good
    rejected = [json.loads(line) for line in _lines(rejects)]
    assert {r["line"]: (r["code"], r["deal"]) for r in rejected} == expected
    reasons = {r["deal"]: r["reason"] for r in rejected}
    assert "expenses[0].amount" in reasons["FLOAT"]
    assert "is a float (450.75)" in reasons["FLOAT"]
    assert "gamma" in reasons["GAMMA"]
    assert reasons["LATIN1"] == "column product: binary value is not UTF-8 text"
    assert reasons["Y10K"].startswith("column date: ")
    assert f"{len(MIXED)} read, {len(good)} allocated, {len(expected)} rejected" in err
    # The good rows' ledger is the one their JSON gives.
    as_json = tmp_path / "good.jsonl"
    as_json.write_text("".join(
        json.dumps({"id": r["id"], "date": r["date"].isoformat(), "amount": r["amount"],
                    "currency": "USD", "product": "cardiozen",
                    "account": {"owner": "acme"}}) + "\n"
        for r, code, _ in MIXED if code is None), encoding="utf-8")
    assert main(["allocate", str(CARDIOZEN), str(as_json), "-o", str(tmp_path / "j.jsonl"),
                 "--engine", engine]) == 0
    assert ledger.read_bytes() == (tmp_path / "j.jsonl").read_bytes()


def test_a_float_amount_column_is_refused_row_by_row(tmp_path: Path) -> None:
    table = pa.table({"id": ["F-1", "F-2"], "date": ["2026-03-01", "2026-03-02"],
                      "amount": pa.array([100.25, 12.0], pa.float64()),
                      "currency": ["USD", "USD"]})
    path = _write(tmp_path / "floats.parquet", table)
    rejects = tmp_path / "rejects.jsonl"
    assert main(["allocate", str(CARDIOZEN), str(path), "-o", str(tmp_path / "l.jsonl"),
                 "--rejects", str(rejects)]) == 1
    rejected = [json.loads(line) for line in _lines(rejects)]
    # The same rejection, word for word, as a JSON float amount gets.
    json_deals = tmp_path / "floats.jsonl"
    json_deals.write_text('{"id": "F-1", "date": "2026-03-01", "amount": 100.25, '
                          '"currency": "USD"}\n{"id": "F-2", "date": "2026-03-02", '
                          '"amount": 12.0, "currency": "USD"}\n', encoding="utf-8")
    assert main(["allocate", str(CARDIOZEN), str(json_deals), "-o",
                 str(tmp_path / "l2.jsonl"), "--rejects", str(tmp_path / "r2.jsonl")]) == 1
    assert rejected == [json.loads(line) for line in _lines(tmp_path / "r2.jsonl")]
    assert [(r["line"], r["deal"], r["code"]) for r in rejected] == [
        (1, "F-1", "float-amount"), (2, "F-2", "float-amount")]
    assert "is a float (100.25)" in rejected[0]["reason"]
    assert (tmp_path / "l.jsonl").read_text() == ""


def test_integer_amounts_read_as_json_integers(tmp_path: Path, engine: str) -> None:
    deals = [{"id": "I-1", "date": "2026-03-01", "amount": 1000, "currency": "USD"},
             {"id": "I-2", "date": "2026-03-02", "amount": -250, "currency": "USD"}]
    path = _write(tmp_path / "ints.parquet", pa.Table.from_pylist(deals))
    assert pq.read_schema(path).field("amount").type == pa.int64()
    json_path = tmp_path / "ints.jsonl"
    json_path.write_text("".join(json.dumps(d) + "\n" for d in deals), encoding="utf-8")
    for source, out in ((path, "p.jsonl"), (json_path, "j.jsonl")):
        assert main(["allocate", str(CARDIOZEN), str(source), "-o", str(tmp_path / out),
                     "--engine", engine]) == 0
    assert (tmp_path / "p.jsonl").read_bytes() == (tmp_path / "j.jsonl").read_bytes()
    rows = [json.loads(line) for line in _lines(tmp_path / "p.jsonl")]
    assert sum(Decimal(r["amount"]) for r in rows if r["type"] == "revenue") == Decimal(750)


def test_parquet_input_gives_the_jsonl_ledger(tmp_path: Path, engine: str) -> None:
    deals = _cardiozen_parquet(tmp_path)
    for source, ledger in ((deals, "from-parquet.csv"), (CARDIOZEN_DEALS, "from-jsonl.csv")):
        assert main(["allocate", str(CARDIOZEN), str(source), "-o", str(tmp_path / ledger),
                     "--rejects", str(tmp_path / f"{ledger}.rejects"), "--engine",
                     engine]) == 0
    parquet_ledger = (tmp_path / "from-parquet.csv").read_text(encoding="utf-8")
    assert parquet_ledger == (tmp_path / "from-jsonl.csv").read_text(encoding="utf-8")
    assert parquet_ledger.count("\nCZ-0") > 12  # every deal has rows
    assert (tmp_path / "from-parquet.csv.rejects").read_text() == ""


def test_explain_reads_a_deal_from_parquet(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    deals = _cardiozen_parquet(tmp_path)
    assert main(["explain", str(CARDIOZEN), str(deals), "--deal", "CZ-003"]) == 0
    assert capsys.readouterr().out.startswith("Deal CZ-003 of 2026-04-04: 100.00 USD")


# ---------------------------------------------------------------------------------------
# Files that cannot be read


def test_a_file_that_is_not_parquet_writes_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "deals.parquet"
    bad.write_text('{"id": "CZ-1"}\n', encoding="utf-8")
    ledger = tmp_path / "ledger.jsonl"
    assert main(["allocate", str(CARDIOZEN), str(bad), "-o", str(ledger)]) == 3
    err = capsys.readouterr().err
    assert err.startswith(f"error: {bad}: not a Parquet file")
    assert "Traceback" not in err
    assert not ledger.exists()
    with pytest.raises(InputError, match="not a Parquet file"):
        read_parquet(bad)


def test_a_missing_parquet_file_writes_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ledger = tmp_path / "ledger.parquet"
    missing = tmp_path / "none.parquet"
    assert main(["allocate", str(CARDIOZEN), str(missing), "-o", str(ledger)]) == 3
    assert capsys.readouterr().err == f"error: {missing}: No such file or directory\n"
    assert not ledger.exists()


def test_parquet_on_stdin_or_stdout_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["allocate", str(CARDIOZEN), "-", "--format", "parquet"]) == 2
    assert "cannot be read from standard input" in capsys.readouterr().err
    assert main(["allocate", str(CARDIOZEN), str(CARDIOZEN_DEALS), "--ledger-format",
                 "parquet"]) == 2
    assert "give -o LEDGER.parquet" in capsys.readouterr().err
    out = tmp_path / "a.parquet"
    assert main(["allocate", str(CARDIOZEN), str(CARDIOZEN_DEALS), "-o", str(out),
                 "--allocations"]) == 2
    assert "--allocations writes JSON Lines" in capsys.readouterr().err
    assert not out.exists()


def test_without_pyarrow_the_message_names_the_extra(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    deals = _cardiozen_parquet(tmp_path)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)  # as if not installed
    for args in ([str(deals), "-o", str(tmp_path / "l.jsonl")],
                 [str(CARDIOZEN_DEALS), "-o", str(tmp_path / "l.parquet")]):
        assert main(["allocate", str(CARDIOZEN), *args]) == 3
        assert capsys.readouterr().err == (
            "error: Parquet needs pyarrow, which is not installed: "
            "pip install 'creditrules[parquet]'\n")
    assert not (tmp_path / "l.jsonl").exists()
    assert not (tmp_path / "l.parquet").exists()


# ---------------------------------------------------------------------------------------
# Writing


def test_the_parquet_ledger_round_trips_to_the_jsonl_ledger(tmp_path: Path,
                                                            engine: str) -> None:
    for ledger in ("ledger.parquet", "ledger.jsonl"):
        assert main(["allocate", str(CARDIOZEN), str(CARDIOZEN_DEALS), "-o",
                     str(tmp_path / ledger), "--engine", engine]) == 0
    table = pq.read_table(tmp_path / "ledger.parquet")
    assert table.schema.names == list(LEDGER_COLUMNS)
    assert all(field.type == pa.string() for field in table.schema)
    rows = table.to_pylist()
    expected = [json.loads(line) for line in _lines(tmp_path / "ledger.jsonl")]
    assert rows == expected
    assert len(rows) > 12
    # Amounts are the exact decimal text: they sum to the deals' amounts to the cent.
    revenue = sum(Decimal(r["amount"]) for r in rows
                  if r["kind"] == "credit" and r["type"] == "revenue")
    assert revenue == sum(Decimal(d["amount"]) for d in _jsonl_deals())
    assert {r["share"] for r in rows if r["rep"] is None} >= {"0.5"}
    # Text casts exactly to a decimal column for those who want one.
    amounts = table.column("amount").cast(pa.decimal128(18, 2)).to_pylist()
    assert [str(a) for a in amounts] == [r["amount"] for r in expected]


def _sample_rows(n: int) -> list[Row]:
    return [tuple(None if (i + j) % 5 == 0 else f"{c}-{i % 7}"
                  for j, c in enumerate(LEDGER_COLUMNS)) for i in range(n)]


def _written(rows: list[Row], chunk: int, path: Path) -> bytes:
    with ParquetLedgerWriter(path, row_group_rows=10) as writer:
        writer.header()
        for start in range(0, len(rows), chunk):
            writer.write(rows[start:start + chunk])
    return path.read_bytes()


def test_the_same_rows_give_the_same_bytes_whatever_the_chunking(tmp_path: Path) -> None:
    rows = _sample_rows(47)
    first = _written(rows, 47, tmp_path / "a.parquet")
    for chunk in (1, 3, 10, 11):
        assert _written(rows, chunk, tmp_path / f"{chunk}.parquet") == first
    meta = pq.ParquetFile(tmp_path / "a.parquet").metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [10, 10, 10,
                                                                                  10, 7]
    assert [tuple(r.values()) for r in pq.read_table(tmp_path / "a.parquet").to_pylist()] \
        == rows
    empty = tmp_path / "empty.parquet"
    ParquetLedgerWriter(empty).close()
    assert pq.read_table(empty).schema.names == list(LEDGER_COLUMNS)
    assert pq.read_table(empty).num_rows == 0
    with pytest.raises(ValueError, match="18 values"):
        ParquetLedgerWriter(io.BytesIO()).write([("only", "three", "cells")])


def test_two_runs_give_byte_identical_parquet_ledgers(tmp_path: Path) -> None:
    deals = _mixed_parquet(tmp_path)
    outputs = []
    for run in (1, 2):
        ledger = tmp_path / f"run{run}.parquet"
        assert main(["allocate", str(CARDIOZEN), str(deals), "-o", str(ledger),
                     "--rejects", str(tmp_path / f"run{run}.rejects")]) == 1
        outputs.append((ledger.read_bytes(), (tmp_path / f"run{run}.rejects").read_bytes()))
    assert outputs[0] == outputs[1]
    assert outputs[0][0][:4] == b"PAR1"
    assert pq.read_table(tmp_path / "run1.parquet").num_rows > 0


def test_the_writer_is_a_ledger_sink_for_run_batch(tmp_path: Path) -> None:
    import creditrules
    from creditrules.io.batch import run_batch

    ruleset = creditrules.load(CARDIOZEN)
    text = io.StringIO()
    with open(CARDIOZEN_DEALS, encoding="utf-8", newline="") as src:
        run_batch(ruleset, read_records(src, "jsonl"), LedgerWriter(text, "jsonl"), None)
    with ParquetLedgerWriter(tmp_path / "l.parquet", row_group_rows=4) as sink:
        summary = run_batch(ruleset, read_parquet(_cardiozen_parquet(tmp_path)), sink, None)
    assert summary.read == summary.allocated == 12
    assert pq.read_table(tmp_path / "l.parquet").to_pylist() == [
        json.loads(line) for line in text.getvalue().splitlines()]


# ---------------------------------------------------------------------------------------
# Dask


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    pytest.importorskip("distributed")
    pytest.importorskip("dask.dataframe")
    from distributed import Client, LocalCluster

    # ":0": any free port (another run on the machine may hold the default, 8787).
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        yield client


def _benchmark_parquet(tmp_path: Path, n: int = 200) -> Path:
    """Generated deals, with bad rows among them, in row groups of 16 rows."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import deals as generated
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    rows: list[dict[str, Any]] = []
    for deal in generated.deals(n, seed=11):
        deal["amount"] = Decimal(deal["amount"])
        for expense in deal.get("expenses", []):
            if isinstance(expense["attendees"], int):
                expense["attendees"] = [{} for _ in range(expense["attendees"])]
        rows.append(deal)
    rows.insert(5, {"id": "BAD-1", "date": "2026-03-01", "amount": Decimal("12.345"),
                    "currency": "USD"})
    rows.insert(77, {"id": "BAD-2", "date": "1999-01-01", "amount": Decimal(1),
                     "currency": "USD"})
    rows.insert(150, {"id": "BAD-3", "date": "2026-03-01", "currency": "EUR",
                      "amount": Decimal(1)})
    # pa.array infers the columns from every row (from_pylist: from the first row only).
    table = pa.Table.from_struct_array(pa.array(rows))
    assert {"expenses", "lead", "attributes"} <= set(table.schema.names)
    return _write(tmp_path / "deals.parquet", table, 16)


@pytest.mark.parametrize("ledger_name", ["ledger.jsonl", "ledger.parquet"])
def test_dask_on_parquet_equals_one_process(client: Any, tmp_path: Path,
                                            ledger_name: str) -> None:
    from creditrules.integrations.dask import allocate_files, chunks

    deals = _benchmark_parquet(tmp_path)
    assert pq.ParquetFile(deals).num_row_groups == 13
    single, single_rejects = tmp_path / f"single-{ledger_name}", tmp_path / "single.rejects"
    assert main(["allocate", str(BENCHMARK), str(deals), "-o", str(single), "--rejects",
                 str(single_rejects)]) == 1
    for chunk_lines in (1000, 40, 1):
        parts = list(chunks(str(deals), lines=chunk_lines))
        assert len(parts) == {1000: 1, 40: 5, 1: 13}[chunk_lines]
        ledger = tmp_path / f"dask-{chunk_lines}-{ledger_name}"
        rejects = tmp_path / f"dask-{chunk_lines}.rejects"
        result = allocate_files(BENCHMARK, [str(deals)], ledger, rejects, client=client,
                                chunk_lines=chunk_lines)
        assert ledger.read_bytes() == single.read_bytes()
        assert rejects.read_bytes() == single_rejects.read_bytes()
        assert result.summary.read == result.summary.allocated + result.summary.rejected
        assert (result.summary.read, result.summary.rejected) == (203, 3)
    rejected = [json.loads(line) for line in _lines(single_rejects)]
    assert [(r["line"], r["deal"]) for r in rejected] == [
        (6, "BAD-1"), (78, "BAD-2"), (151, "BAD-3")]
