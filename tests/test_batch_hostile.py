"""Hostile deal records: whatever the bytes, every record ends allocated or rejected with its
line and reason, the run never dies, and memory stays bounded.

The first tests reproduce, one by one, the failures found by trying bad input (issue 11);
then a fuzz suite throws generated hostile records (bytes, sizes, types, encodings) at the
JSON Lines and CSV readers and the batch, and a subprocess runs the command on the worst of
them under a memory limit.
"""

from __future__ import annotations

import csv
import io
import json
import os
import resource
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import creditrules
from creditrules.cli import main
from creditrules.io import records
from creditrules.io.batch import LEDGER_COLUMNS, LedgerRows, LedgerWriter, Rejection, run_batch
from creditrules.io.records import BadRecord, Record, read_records

ROOT = Path(__file__).resolve().parent.parent
CARDIOZEN = ROOT / "rulesets" / "cardiozen.yaml"
SAMPLE = (ROOT / "rulesets" / "cardiozen-deals.jsonl").read_bytes().splitlines()
RULESET = creditrules.load(CARDIOZEN, engine="reference")


def deal(i: int | str, **fields: Any) -> dict[str, Any]:
    """A small valid deal: 100.00 USD on an Acme account (credited 50.00 / 50.00)."""
    return {
        "id": f"S-{i}",
        "date": "2026-03-02",
        "amount": "100.00",
        "currency": "USD",
        "account": {"owner": "acme"},
        **fields,
    }


def line(data: Any) -> bytes:
    return json.dumps(data).encode() + b"\n"


def run(data: bytes, fmt: str = "jsonl") -> tuple[list[Rejection], LedgerRows, Any]:
    rejected: list[Rejection] = []
    rows = LedgerRows()
    summary = run_batch(RULESET, read_records(io.BytesIO(data), fmt), rows, rejected.append)
    assert summary.read == summary.allocated + summary.rejected
    assert summary.rejected == len(rejected)
    return rejected, rows, summary


def csv_deals(*rows: str, note: bool = False) -> bytes:
    """A CSV deals file: the header (with an ``attributes.note`` column if ``note``), then
    ``rows`` (``S-N`` alone stands for a valid row of deal S-N)."""
    header = "id,date,amount,currency,account.owner" + (",attributes.note" if note else "")
    full = [
        f"{r},2026-03-02,100.00,USD,acme" + ("," if note else "") if "," not in r else r
        for r in rows
    ]
    return "".join(f"{r}\n" for r in [header, *full]).encode()


def allocated_ids(rows: LedgerRows) -> list[str]:
    return list(dict.fromkeys(str(r[0]) for r in rows.rows))


def codes(rejected: Iterable[Rejection]) -> list[tuple[int, str]]:
    return [(r.line, r.code) for r in rejected]


# ---------------------------------------------------------------------------------------
# The failures of issue 11, each reproduced


def test_invalid_utf8_rejects_its_line_only() -> None:
    """Before: a UnicodeDecodeError traceback, every record after it lost."""
    data = b"".join(
        [
            *(line(deal(i)) for i in range(3)),
            b'{"id": "X\xff"}\n',
            *(line(deal(i)) for i in range(3, 6)),
        ]
    )
    rejected, rows, summary = run(data)
    assert codes(rejected) == [(4, "not-utf8")]
    assert "byte 0xff at byte 10" in rejected[0].reason
    assert allocated_ids(rows) == [f"S-{i}" for i in range(6)]
    assert summary.read == 7


def test_invalid_utf8_on_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deals = tmp_path / "deals.jsonl"
    deals.write_bytes(line(deal(1)) + b"\xc3\x28\n" + line(deal(2)))
    rejects = tmp_path / "rejects.jsonl"
    assert (
        main(
            [
                "allocate",
                str(CARDIOZEN),
                str(deals),
                "-o",
                str(tmp_path / "l.jsonl"),
                "--rejects",
                str(rejects),
            ]
        )
        == 1
    )
    assert [json.loads(x)["line"] for x in rejects.read_text().splitlines()] == [2]
    assert "3 read, 2 allocated, 1 rejected" in capsys.readouterr().err


def test_a_5001_digit_amount_is_rejected() -> None:
    """Before: a ValueError from Python's integer digit limit ended the run."""
    data = line(deal(1)) + line(deal(2, amount="1" * 5001)) + line(deal(3))
    rejected: list[Rejection] = []
    summary = run_batch(
        RULESET, read_records(io.BytesIO(data), "jsonl"), LedgerRows(), rejected.append
    )
    assert codes(rejected) == [(2, "bad-field")]
    assert "an amount of 5,001 characters (the limit is 1,000)" in rejected[0].reason
    assert rejected[0].deal_id == "S-2"
    assert summary.allocated == 2


def test_a_5001_digit_json_integer_is_rejected() -> None:
    data = line(deal(1)) + b'{"id": "S-2", "amount": ' + b"7" * 5001 + b"}\n" + line(deal(3))
    rejected, rows, _ = run(data)
    assert codes(rejected) == [(2, "too-large")]
    assert rejected[0].reason == "a number of 5,001 digits (the limit is 1,000)"
    assert allocated_ids(rows) == ["S-1", "S-3"]


def test_an_amount_of_1000_characters_is_still_exact() -> None:
    over = "9" * 998 + ".00"
    rejected, _, _ = run(line(deal(1, amount=over)))
    assert codes(rejected) == [(1, "bad-field")]
    ok = "9" * 997 + ".00"  # 10**997 - 1, split 50/50: 4999...9.50 each, to the cent
    rejected, rows, _ = run(line(deal(1, amount=ok)))
    assert rejected == []
    assert [r[7] for r in rows.rows] == ["4" + "9" * 996 + ".50"] * 2


def test_a_billion_attendees_is_refused_before_anything_is_built() -> None:
    """Before: a list of a billion attendees was built (3 GB), then MemoryError."""
    expense = {
        "id": "E-1",
        "kind": "meal",
        "amount": "100.00",
        "paid_by": "acme",
        "attendees": 1_000_000_000,
    }
    rejected, rows, _ = run(line(deal(1, expenses=[expense])) + line(deal(2)))
    assert codes(rejected) == [(1, "bad-field")]
    assert "more than 10,000 attendees" in rejected[0].reason
    assert allocated_ids(rows) == ["S-2"]


def test_a_csv_cell_over_the_csv_limit_rejects_its_row() -> None:
    """Before: _csv.Error ended the run."""
    big = "x" * 131_073
    data = csv_deals("S-1", f"S-2,2026-03-02,100.00,USD,acme,{big}", "S-3", note=True)
    rejected, rows, _ = run(data, "csv")
    assert codes(rejected) == [(3, "unreadable")]
    assert "field larger than field limit (131072)" in rejected[0].reason
    assert allocated_ids(rows) == ["S-1", "S-3"]


def test_an_unterminated_csv_quote_rejects_its_row_and_reading_resumes() -> None:
    """Before: the quote swallowed every following row into one cell, and exit 0."""
    data = csv_deals("S-1", 'S-2,2026-03-02,"100.00,USD,acme', "S-3", "S-4")
    rejected, rows, summary = run(data, "csv")
    assert codes(rejected) == [(3, "unterminated-quote")]
    assert allocated_ids(rows) == ["S-1", "S-3", "S-4"]
    assert summary.read == 4


def test_a_quote_open_for_too_many_lines_is_unterminated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(records, "MAX_CSV_RECORD_LINES", 3)
    data = csv_deals('S-2,2026-03-02,"100.00,USD,acme', *(f"S-{i}" for i in range(3, 9)))
    rejected, rows, _ = run(data, "csv")
    assert codes(rejected) == [(2, "unterminated-quote")]
    assert allocated_ids(rows) == [f"S-{i}" for i in range(3, 9)]


def test_a_quoted_cell_may_span_lines() -> None:
    data = csv_deals('S-1,2026-03-02,100.00,USD,acme,"two\nlines"', "S-2", note=True)
    rejected, rows, _ = run(data, "csv")
    assert rejected == []
    assert allocated_ids(rows) == ["S-1", "S-2"]


def test_text_after_a_closing_quote_rejects_the_row() -> None:
    data = csv_deals('S-1,2026-03-02,"100.00"x,USD,acme', "S-2")
    rejected, rows, _ = run(data, "csv")
    assert codes(rejected) == [(2, "unreadable")]
    assert allocated_ids(rows) == ["S-2"]


def test_duplicate_keys_in_a_deal_are_rejected() -> None:
    """Before: the last key won, silently (another deal than the one written)."""
    data = (
        b'{"id": "S-1", "id": "S-9", "date": "2026-03-02", "amount": "100.00", '
        b'"currency": "USD"}\n'
        b'{"id": "S-2", "date": "2026-03-02", "amount": "100.00", "currency": "USD", '
        b'"account": {"owner": "acme", "owner": "beta"}}\n' + line(deal(3))
    )
    rejected, rows, _ = run(data)
    assert codes(rejected) == [(1, "duplicate-key"), (2, "duplicate-key")]
    assert [r.reason for r in rejected] == ["duplicate key 'id'", "duplicate key 'owner'"]
    assert allocated_ids(rows) == ["S-3"]


def test_duplicate_keys_in_a_csv_json_cell_are_rejected() -> None:
    reps = '[{""id"": ""a"", ""id"": ""b"", ""partner"": ""acme""}]'
    data = (
        f'id,date,amount,currency,account.owner,reps\nS-1,2026-03-02,100.00,USD,acme,"{reps}"\n'
    ).encode()
    rejected, _, _ = run(data, "csv")
    assert codes(rejected) == [(2, "duplicate-key")]
    assert rejected[0].reason == "column reps: duplicate key 'id'"


def test_a_duplicate_deal_id_is_rejected_naming_the_first_line(tmp_path: Path) -> None:
    """Before: both were allocated, the deal credited twice, without a word."""
    data = line(deal(1)) + line(deal(2)) + line(deal(1, amount="5.00"))
    rejected, _, summary = run(data)
    assert [(r.line, r.deal_id, r.code, r.reason) for r in rejected] == [
        (3, "S-1", "duplicate-id", "deal 'S-1' was already allocated from line 1")
    ]
    assert summary.totals[("credit", "revenue", "acme")] == 10000  # 2 x 50.00, in cents
    deals = tmp_path / "d.jsonl"
    deals.write_bytes(data)
    ledger = tmp_path / "l.jsonl"
    assert (
        main(
            ["allocate", str(CARDIOZEN), str(deals), "-o", str(ledger), "--duplicate-ids", "allow"]
        )
        == 0
    )
    assert len(ledger.read_text().splitlines()) == 6


def test_a_rejected_record_does_not_claim_its_id() -> None:
    data = line(deal(1, amount=1.5)) + line(deal(1))
    rejected, rows, _ = run(data)
    assert codes(rejected) == [(1, "float-amount")]
    assert allocated_ids(rows) == ["S-1"]


def test_deep_nesting_is_rejected() -> None:
    nested = "[" * 70 + "]" * 70
    data = (
        b'{"id": "S-1", "attributes": {"x": '
        + nested.encode()
        + b"}}\n"
        + b"[" * 100_000
        + b"\n"
        + line(deal(2))
    )
    rejected, rows, _ = run(data)
    assert codes(rejected) == [(1, "too-deep"), (2, "unreadable")]
    assert rejected[0].deal_id == "S-1"
    assert allocated_ids(rows) == ["S-2"]


def test_an_overlong_line_is_skipped_unread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(records, "MAX_RECORD_BYTES", 1000)
    data = line(deal(1)) + b'{"id": "' + b"x" * 5000 + b'"}\n' + line(deal(3))
    rejected, rows, _ = run(data)
    assert codes(rejected) == [(2, "too-large")]
    assert rejected[0].reason == "record over the 1,000-byte limit (not read)"
    assert allocated_ids(rows) == ["S-1", "S-3"]


def test_bom_crlf_and_nul_bytes() -> None:
    data = (
        b"\xef\xbb\xbf"
        + line(deal(1)).replace(b"\n", b"\r\n")
        + b'{"id": "S-2\x00"}\r\n'
        + b"\x00\n"
        + line(deal(3))
    )
    rejected, rows, _ = run(data)
    assert codes(rejected) == [(2, "unreadable"), (3, "unreadable")]
    assert allocated_ids(rows) == ["S-1", "S-3"]
    csv_data = (
        b"\xef\xbb\xbfid,date,amount,currency,account.owner\r\nS-1,2026-03-02,1.00,USD,acme\r\n"
    )
    rejected, rows, _ = run(csv_data, "csv")
    assert rejected == []
    assert allocated_ids(rows) == ["S-1"]


def test_a_json_file_with_a_bad_byte_names_its_line() -> None:
    data = b'[\n  {"id": "S-1"},\n  {"id": "S-\xff"}\n]\n'
    (item,) = read_records(io.BytesIO(data), "json")
    assert isinstance(item, BadRecord)
    assert (item.line, item.code) == (3, "not-utf8")
    assert "byte 0xff at byte 13 of the line" in item.reason


def test_a_broken_csv_header_is_an_input_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "d.csv"
    path.write_bytes(b'id,"date\n')
    assert main(["allocate", str(CARDIOZEN), str(path), "-o", str(tmp_path / "l.csv")]) == 3
    assert "unreadable CSV header" in capsys.readouterr().err
    path.write_bytes(b"id,id\nS-1,S-2\n")
    assert main(["allocate", str(CARDIOZEN), str(path), "-o", str(tmp_path / "l.csv")]) == 3
    assert "names id more than once" in capsys.readouterr().err
    assert not (tmp_path / "l.csv").exists()


# ---------------------------------------------------------------------------------------
# CSV ledgers: formulas neutralised, numbers kept


def test_csv_ledger_neutralises_formulas_but_keeps_negative_amounts() -> None:
    """Before: ``=HYPERLINK(...)`` went out verbatim, for a spreadsheet to run."""
    risky = deal(
        "x",
        id='=HYPERLINK("http://x")',
        amount="-12.50",
        reps=[{"id": "@SUM(A1)", "partner": "acme"}, {"id": "+1", "partner": "beta"}],
    )
    rejected, rows, _ = run(line(risky) + line(deal("y", id="-2", amount="1.00")))
    assert rejected == []
    out = io.StringIO()
    LedgerWriter(out, "csv").write(rows.rows)
    table = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [(r["deal"], r["rep"], r["amount"], r["partner_amount"]) for r in table] == [
        ('\'=HYPERLINK("http://x")', "'@SUM(A1)", "-6.25", "-6.25"),
        ('\'=HYPERLINK("http://x")', "'+1", "-6.25", "-6.25"),
        ("'-2", "", "0.50", "0.50"),
        ("'-2", "", "0.50", "0.50"),
    ]
    assert list(table[0]) == list(LEDGER_COLUMNS)
    # JSON Lines is data, not a spreadsheet: unchanged.
    text = io.StringIO()
    LedgerWriter(text, "jsonl").write(rows.rows)
    assert json.loads(text.getvalue().splitlines()[0])["deal"] == '=HYPERLINK("http://x")'


# ---------------------------------------------------------------------------------------
# Fuzz: generated hostile records


def _valid_lines() -> st.SearchStrategy[bytes]:
    return st.sampled_from(SAMPLE).map(lambda b: b + b"\n")


def _mutated(valid: bytes, data: st.DataObject) -> bytes:
    """A valid record with some bytes replaced, cut or repeated."""
    raw = bytearray(valid.rstrip(b"\n"))
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, max(0, len(raw) - 1)))
        kind = data.draw(st.sampled_from(["byte", "cut", "dup", "insert"]))
        if kind == "byte" and raw:
            raw[at] = data.draw(st.integers(0, 255))
        elif kind == "cut":
            del raw[at : at + data.draw(st.integers(1, 40))]
        elif kind == "dup":
            raw[at:at] = raw[at : at + data.draw(st.integers(1, 40))]
        else:
            raw[at:at] = data.draw(
                st.sampled_from(
                    [
                        b"\x00",
                        b"\xff",
                        b"\xef\xbb\xbf",
                        b"\r",
                        b'"',
                        b"\\",
                        b"{",
                        b"[",
                        b"1e999",
                        b"NaN",
                        b"-",
                        b"9" * 1200,
                    ]
                )
            )
    return bytes(raw).replace(b"\n", b" ") + b"\n"


_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**30), 10**30),
    st.text(max_size=20),
    st.sampled_from(["1e3", "0.1", "-0", "NaN", "2026-02-30", "9" * 1001]),
)
_OBJECTS = st.dictionaries(st.text(max_size=8), _SCALARS, max_size=3)
# Two levels of lists and objects are enough to give every field a wrong shape.
_VALUES = st.one_of(
    _SCALARS,
    st.lists(_SCALARS, max_size=3),
    _OBJECTS,
    st.lists(_OBJECTS, max_size=2),
    st.dictionaries(st.text(max_size=8), _OBJECTS, max_size=2),
)
_FIELDS = [
    "id",
    "date",
    "amount",
    "currency",
    "account",
    "lead",
    "reps",
    "activities",
    "expenses",
    "attributes",
    "product",
]


@st.composite
def hostile_line(draw: st.DrawFn) -> bytes:
    kind = draw(
        st.sampled_from(["valid", "mutated", "bytes", "fields", "text", "deep", "attendees"])
    )
    if kind == "valid":
        return draw(_valid_lines())
    if kind == "mutated":
        return _mutated(draw(_valid_lines()), draw(st.data()))
    if kind == "bytes":
        return draw(st.binary(max_size=60)).replace(b"\n", b"") + b"\n"
    if kind == "text":
        return (
            draw(st.text(max_size=40)).encode("utf-8", "surrogatepass").replace(b"\n", b"") + b"\n"
        )
    if kind == "deep":
        depth = draw(st.integers(60, 3000))
        return b'{"id": "D", "attributes": {"a": ' + b"[" * depth + b"]" * depth + b"}}\n"
    base = json.loads(draw(st.sampled_from(SAMPLE)))
    if kind == "attendees":
        base["expenses"] = [
            {
                "id": "E",
                "kind": "meal",
                "amount": "10.00",
                "paid_by": "acme",
                "attendees": draw(st.sampled_from([0, -1, 10_001, 10**9, 10**300, True, "3"])),
            }
        ]
    else:
        for name in draw(st.lists(st.sampled_from(_FIELDS), min_size=1, max_size=3)):
            base[name] = draw(_VALUES)
    return (
        json.dumps(base, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass") + b"\n"
    )


def _check_run(data: bytes, fmt: str) -> int:
    """Run ``data`` through the reader and the batch: every record allocated or rejected
    with a line, a code and a reason, none by an unexpected error. Returns the count."""
    rejected: list[Rejection] = []
    summary = run_batch(
        RULESET,
        read_records(io.BytesIO(data), fmt),
        LedgerRows(),
        rejected.append,
        duplicates="allow",
    )
    assert summary.read == summary.allocated + summary.rejected
    assert summary.rejected == len(rejected)
    for r in rejected:
        assert r.line >= 1
        assert r.reason
        assert r.code != "internal-error", r
    return summary.read


@given(st.lists(hostile_line(), min_size=1, max_size=12))
def test_fuzz_jsonl_every_record_ends_allocated_or_rejected(lines: list[bytes]) -> None:
    data = b"".join(lines)
    expected = 0
    for i, raw in enumerate(data.split(b"\n")):
        if i == 0:
            raw = raw.removeprefix(b"\xef\xbb\xbf")
        try:
            expected += bool(raw.decode("utf-8").strip())
        except UnicodeDecodeError:
            expected += 1
    # Every physical line that is not blank is one record, allocated or rejected.
    assert _check_run(data, "jsonl") == expected


_CSV_HEADER = b"id,date,amount,currency,account.owner,reps,attributes.note\n"


@st.composite
def hostile_csv_row(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["valid", "bytes", "quote", "cells"]))
    if kind == "valid":
        return b"S-%d,2026-03-02,100.00,USD,acme,,\n" % draw(st.integers(0, 99))
    if kind == "bytes":
        return draw(st.binary(max_size=60)).replace(b"\n", b"") + b"\n"
    if kind == "quote":
        return draw(
            st.sampled_from(
                [
                    b'S-1,"2026-03-02,1,USD,acme,,\n',
                    b'"\n',
                    b'S-1,2026-03-02,"1"x,USD,acme,,\n',
                    b'S-1,2026-03-02,1,USD,acme,"[{""id"":1}]",\n',
                ]
            )
        )
    cells = draw(st.lists(st.text(max_size=10), min_size=0, max_size=9))
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(cells)
    return out.getvalue().encode("utf-8", "surrogatepass")


@given(st.lists(hostile_csv_row(), min_size=1, max_size=12))
def test_fuzz_csv_every_record_ends_allocated_or_rejected(rows: list[bytes]) -> None:
    _check_run(_CSV_HEADER + b"".join(rows), "csv")


@given(st.binary(max_size=300))
def test_fuzz_json_file_never_dies(data: bytes) -> None:
    _check_run(data, "json")


# ---------------------------------------------------------------------------------------
# The command, on the worst records, under a memory limit


def _limit_memory() -> None:  # pragma: no cover - runs in the child process
    limit = 1_500 * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


@pytest.mark.skipif(sys.platform != "linux", reason="address-space limits as on Linux")
def test_the_command_survives_hostile_records_in_bounded_memory(tmp_path: Path) -> None:
    expense = {
        "id": "E",
        "kind": "meal",
        "amount": "10.00",
        "paid_by": "acme",
        "attendees": 1_000_000_000,
    }
    hostile = [
        line(deal(1)),
        line(deal(2, amount="1" * 5001)),
        line(deal(3, expenses=[expense])),
        b"\xff\xfe\n",
        b"[" * 200_000 + b"\n",
        b'{"id": "S-6", "note": "' + b"x" * (records.MAX_RECORD_BYTES + 10) + b'"}\n',
        b'{"id": "S-7", "id": "S-7"}\n',
        line(deal(1)),
        line(deal(9)),
    ]
    deals = tmp_path / "deals.jsonl"
    deals.write_bytes(b"".join(hostile))
    rejects = tmp_path / "rejects.jsonl"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "creditrules.cli",
            "allocate",
            str(CARDIOZEN),
            str(deals),
            "-o",
            str(tmp_path / "ledger.csv"),
            "--rejects",
            str(rejects),
            "--engine",
            "reference",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        preexec_fn=_limit_memory,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    assert "Traceback" not in done.stderr
    assert done.returncode == 1, done.stderr
    assert "9 read, 2 allocated, 7 rejected" in done.stderr
    got = [(r["line"], r["code"]) for r in map(json.loads, rejects.read_text().splitlines())]
    assert got == [
        (2, "bad-field"),
        (3, "bad-field"),
        (4, "not-utf8"),
        (5, "unreadable"),
        (6, "too-large"),
        (7, "duplicate-key"),
        (8, "duplicate-id"),
    ]


def test_records_of_a_text_stream_still_work() -> None:
    items = list(read_records(io.StringIO('{"id": "S-1"}\n\n[1]\n'), "jsonl"))
    assert items == [Record(1, {"id": "S-1"}), Record(3, [1])]


def test_a_pandas_json_cell_keeps_the_readers_code() -> None:
    pd = pytest.importorskip("pandas")
    from creditrules.integrations.pandas import allocate_frame

    frame = pd.DataFrame(
        {
            "id": ["S-1"],
            "date": ["2026-03-02"],
            "amount": ["1.00"],
            "currency": ["USD"],
            "reps": ['[{"id": "a", "id": "b", "partner": "acme"}]'],
        }
    )
    _, rejects = allocate_frame(RULESET, frame)
    assert rejects.to_dict("records") == [
        {
            "line": 1,
            "deal": "S-1",
            "code": "duplicate-key",
            "reason": "column reps: duplicate key 'id'",
        }
    ]
