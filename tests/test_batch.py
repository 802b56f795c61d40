"""Batch allocation: the ledger, the rejects, the counts, the command line and the benchmark.

Nothing is lost: every record is either in the ledger or in the rejects with its line, deal
id and reason, and the counts add up; a ruleset error writes nothing; a bad record never
stops the batch; the ledger is the one-deal-at-a-time API's, row for row and byte for byte.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import creditrules
import oracle
from creditrules import Allocation, Deal
from creditrules.cli import main
from creditrules.io.batch import (
    LEDGER_COLUMNS,
    BatchAllocator,
    LedgerWriter,
    Progress,
    Rejection,
    Summary,
    allocate_many,
    ledger_rows,
    run_batch,
)
from creditrules.io.records import read_records

ROOT = Path(__file__).resolve().parent.parent
RULESETS = ROOT / "rulesets"
SAMPLES = {
    "cardiozen": (RULESETS / "cardiozen.yaml", RULESETS / "cardiozen-deals.jsonl"),
    "cloudbridge": (RULESETS / "cloudbridge.yaml", RULESETS / "cloudbridge-deals.jsonl"),
    "cloudbridge-amendment-1": (RULESETS / "cloudbridge-amendment-1.yaml",
                                RULESETS / "cloudbridge-deals.jsonl"),
}


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def _good(n: int = 1) -> list[dict[str, Any]]:
    """Sample cardiozen deals (all valid)."""
    deals = [json.loads(line) for line in _lines(SAMPLES["cardiozen"][1])]
    return deals[:n]


# The mixed file: each bad record with the code and the deal id its rejection must carry.
BAD: list[tuple[str, str, str | None]] = [
    ('{"id": "BAD-1", "date": "2026-03-01", "amount": "100.00", ', "unreadable", None),
    ('{"id": "BAD-2", "date": 20260301, "amount": "100.00", "currency": "USD"}',
     "bad-field", "BAD-2"),
    ('{"id": "BAD-3", "date": "2026-03-01", "amount": "100.00", "currency": "USD", '
     '"account": {"owner": "gamma"}}', "unknown-partner", "BAD-3"),
    ('{"id": "BAD-4", "date": "2026-03-01", "currency": "USD"}', "missing-field", "BAD-4"),
    ('{"id": "BAD-5", "date": "2026-03-01", "amount": 100.25, "currency": "USD"}',
     "float-amount", "BAD-5"),
    ('{"id": "BAD-6", "date": "2025-12-31", "amount": "100.00", "currency": "USD"}',
     "outside-agreement", "BAD-6"),
    ('{"date": "2026-03-01", "amount": "100.00", "currency": "USD"}', "missing-field", None),
    ('["not", "a", "deal"]', "bad-record", None),
    ('{"id": "BAD-9", "date": "2026-03-01", "amount": "100.00", "currency": "USD", '
     '"reps": "acme-ana"}', "bad-field", "BAD-9"),
]


def _mixed(tmp_path: Path) -> tuple[Path, list[str], dict[int, tuple[str, str | None]]]:
    """A deals file interleaving the sample deals and the bad records (and a blank line):
    the file, the good deal ids in order, and the expected rejects by line."""
    good = [json.dumps(d) for d in _good(10)]
    lines: list[str] = []
    expected: dict[int, tuple[str, str | None]] = {}
    ids = []
    for i in range(max(len(good), len(BAD))):
        if i < len(good):
            lines.append(good[i])
            ids.append(json.loads(good[i])["id"])
        if i < len(BAD):
            text, code, deal = BAD[i]
            lines.append(text)
            expected[len(lines)] = (code, deal)
        if i == 3:
            lines.append("   ")  # blank: not a record
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, ids, expected


def test_counts_add_up_on_a_file_mixing_good_and_bad_records(
        tmp_path: Path, engine: str, capsys: pytest.CaptureFixture[str]) -> None:
    deals, ids, expected = _mixed(tmp_path)
    ledger, rejects = tmp_path / "ledger.jsonl", tmp_path / "rejects.jsonl"
    status = main(["allocate", str(RULESETS / "cardiozen.yaml"), str(deals), "-o", str(ledger),
                   "--rejects", str(rejects), "--engine", engine])
    err = capsys.readouterr().err
    assert status == 1  # the batch ran, some records were rejected
    rows = [json.loads(line) for line in _lines(ledger)]
    seen = list(dict.fromkeys(r["deal"] for r in rows))
    assert seen == ids
    rejected = [json.loads(line) for line in _lines(rejects)]
    assert {r["line"]: (r["code"], r["deal"]) for r in rejected} == expected
    assert all(r["reason"] for r in rejected)
    read = len(ids) + len(expected)
    assert f"{read} read, {len(ids)} allocated, {len(expected)} rejected" in err
    for row in rows:
        assert list(row) == list(LEDGER_COLUMNS)


def test_bad_records_never_stop_the_python_stream(engine: str) -> None:
    ruleset = creditrules.load(RULESETS / "cardiozen.yaml", engine=engine)
    deals: list[Any] = [_good(1)[0], {"id": "X"}, "not a deal", 42, _good(2)[1]]
    results = list(ruleset.allocate_many(deals))
    assert [type(r) for r in results] == [Allocation, Rejection, Rejection, Rejection,
                                          Allocation]
    assert [r.line for r in results if isinstance(r, Rejection)] == [2, 3, 4]
    assert results[1].deal_id == "X"  # type: ignore[union-attr]


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_allocate_many_equals_one_deal_at_a_time(name: str, engine: str) -> None:
    ruleset_path, deals_path = SAMPLES[name]
    ruleset = creditrules.load(ruleset_path, engine=engine)
    deals = [json.loads(line) for line in _lines(deals_path)]
    # Twice, so that the caches are warm: the same ids, allowed here.
    results = list(ruleset.allocate_many(deals * 2, duplicates="allow"))
    assert results == [ruleset.allocate(Deal.from_mapping(d), explain=False)
                       for d in deals * 2]
    # And the test oracle (the plain statement of the semantics) agrees.
    assert results == [oracle.allocate(ruleset, d) for d in deals * 2]


@pytest.mark.parametrize("ledger_format", ["jsonl", "csv"])
@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_ledger_of_a_sample_equals_the_api_output(name: str, ledger_format: str, engine: str,
                                                  tmp_path: Path) -> None:
    """The command line's ledger is, byte for byte, the rows of each deal's allocation from
    ``Ruleset.allocate`` written in order."""
    ruleset_path, deals_path = SAMPLES[name]
    ledger = tmp_path / f"ledger.{ledger_format}"
    assert main(["allocate", str(ruleset_path), str(deals_path), "-o", str(ledger),
                 "--rejects", str(tmp_path / "rejects.jsonl"), "--engine", engine]) == 0
    ruleset = creditrules.load(ruleset_path, engine=engine)
    expected = io.StringIO(newline="")
    writer = LedgerWriter(expected, ledger_format)
    writer.header()
    for line in _lines(deals_path):
        writer.write(ledger_rows(ruleset.allocate(json.loads(line))))
    assert ledger.read_text(encoding="utf-8") == expected.getvalue()
    assert (tmp_path / "rejects.jsonl").read_text() == ""


def test_ledger_rows_carry_credit_entertainment_and_policy(engine: str) -> None:
    ruleset = creditrules.load(RULESETS / "cardiozen.yaml", engine=engine)
    deal = next(d for d in map(json.loads, _lines(SAMPLES["cardiozen"][1]))
                if d["id"] == "CZ-002")
    allocation = ruleset.allocate(deal)
    rows = [dict(zip(LEDGER_COLUMNS, row, strict=True)) for row in ledger_rows(allocation)]
    credit = [r for r in rows if r["kind"] == "credit"]
    assert sum(_cents(r["amount"]) for r in credit if r["type"] == "revenue") == \
        _cents(deal["amount"])
    for r in credit:  # rep rows sum to their partner's amount
        mine = [x for x in credit if (x["type"], x["partner"]) == (r["type"], r["partner"])]
        assert sum(_cents(x["amount"]) for x in mine) == _cents(r["partner_amount"])
    expense = allocation.expenses[0]
    shares = [r for r in rows if r["kind"] == "expense"]
    excess = [r for r in rows if r["kind"] == "excess"]
    assert sum(_cents(r["amount"]) for r in shares + excess) == _cents(str(expense.amount))
    assert {r["expense"] for r in shares + excess} == {expense.expense}
    policy = allocation.policies[0]
    assert all(r["policy"].startswith(f"{policy.topic}=") for r in rows)
    assert all(r["ruleset_hash"] == ruleset.content_hash for r in rows)
    assert all(r["ruleset"] == ruleset.id and r["ruleset_version"] == ruleset.version
               for r in rows)


def _cents(text: str) -> int:
    whole, _, frac = text.lstrip("-").partition(".")
    value = int(whole) * 100 + int(frac.ljust(2, "0"))
    return -value if text.startswith("-") else value


def test_summary_totals_are_the_ledger_sums(engine: str) -> None:
    ruleset = creditrules.load(RULESETS / "cloudbridge.yaml", engine=engine)
    out = io.StringIO()
    with open(SAMPLES["cloudbridge"][1], encoding="utf-8", newline="") as src:
        summary = run_batch(ruleset, read_records(src, "jsonl"), LedgerWriter(out, "jsonl"),
                            None)
    sums: dict[tuple[str, str, str], int] = {}
    for line in out.getvalue().splitlines():
        row = json.loads(line)
        key = (row["kind"], row["type"], row["partner"])
        sums[key] = sums.get(key, 0) + _cents(row["amount"])
    assert summary.totals == sums
    assert summary.read == summary.allocated + summary.rejected == len(
        _lines(SAMPLES["cloudbridge"][1]))
    text = "\n".join(summary.lines())
    assert "nimbus: revenue" in text
    assert "vertex: revenue" in text


def test_a_ruleset_error_writes_nothing(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("ruleset: x\nversion: 1\ncredit: []\n", encoding="utf-8")
    ledger, rejects = tmp_path / "ledger.jsonl", tmp_path / "rejects.jsonl"
    status = main(["allocate", str(bad), str(SAMPLES["cardiozen"][1]), "-o", str(ledger),
                   "--rejects", str(rejects)])
    assert status == 2
    assert not ledger.exists()
    assert not rejects.exists()
    assert capsys.readouterr().err


def test_a_missing_deals_file_writes_nothing(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    status = main(["allocate", str(RULESETS / "cardiozen.yaml"), str(tmp_path / "none.jsonl"),
                   "-o", str(ledger)])
    assert status == 3  # an input that cannot be read
    assert not ledger.exists()


def test_csv_input_gives_the_same_ledger(tmp_path: Path, engine: str) -> None:
    """A CSV export of the same deals (dotted columns, JSON cells) gives the same ledger."""
    deals = [json.loads(line) for line in _lines(SAMPLES["cloudbridge"][1])]
    columns = ["id", "date", "amount", "currency", "product", "account.id", "account.owner",
               "account.named", "account.segment", "account.territory", "lead.source",
               "lead.rep", "reps", "activities", "expenses"]
    attributes = sorted({k for d in deals for k in d.get("attributes", {})})
    columns += [f"attributes.{a}" for a in attributes]
    path = tmp_path / "deals.csv"
    with open(path, "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(columns)
        for d in deals:
            row = []
            for column in columns:
                head, _, tail = column.partition(".")
                value = d.get(head) if not tail else (d.get(head) or {}).get(tail)
                if isinstance(value, bool):
                    value = "true" if value else "false"
                elif isinstance(value, list):
                    value = json.dumps(value)
                row.append("" if value is None else value)
            writer.writerow(row)
    ruleset_path = SAMPLES["cloudbridge"][0]
    main(["allocate", str(ruleset_path), str(path), "-o", str(tmp_path / "a.jsonl"),
          "--engine", engine])
    main(["allocate", str(ruleset_path), str(SAMPLES["cloudbridge"][1]),
          "-o", str(tmp_path / "b.jsonl"), "--engine", engine])
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()


def test_jsonl_ledger_escapes_text() -> None:
    row = ('d\u00e9al "1"\n', "2026-01-01", "credit", "revenue", "acme", None, "1/3", "0.33",
           "1/3", "0.33", "USD", "a;b", None, None, None, "r", "1", "sha256:x")
    out = io.StringIO()
    LedgerWriter(out, "jsonl").write([row, row])
    first, second = out.getvalue().splitlines()
    assert first == second
    assert tuple(json.loads(first).values()) == row


def test_jsonl_lines_are_the_json_of_each_row(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each line is ``json.dumps`` of the row as an object (keys in column order), however
    the writer caches the runs of columns rows share: also once its caches are emptied."""
    monkeypatch.setattr(LedgerWriter, "CACHE_SIZE", 3)
    odd = ["", "\u00e9\u2028\U0001f600", "tab\tnew\nline\r", '"quoted" \\ back', "\x00\x1f\x7f",
           "=cmd", "\ud800"]
    rows = []
    for i in range(40):
        text = odd[i % len(odd)]
        rows.append((f"D-{i // 3}", "2026-01-01", "credit", text, "acme", None if i % 2 else text,
                     "1/3", str(-i), None if i % 5 == 0 else "0.5", text or None, "USD",
                     text, None, None if i % 4 else text, "p", "r", "1", "sha256:x"))
    rows.append(("D-x", "2026-01-01", "credit", "t", "acme", None, "1/3", 12, True, None,
                 "USD", "r", None, None, None, "r", "1", "sha256:x"))  # not text: as json
    out = io.StringIO()
    writer = LedgerWriter(out, "jsonl")
    for i in range(0, len(rows), 4):
        writer.write(rows[i:i + 4])
    assert out.getvalue() == "".join(  # not splitlines: U+2028 is written as it is
        json.dumps(dict(zip(LEDGER_COLUMNS, row, strict=True)), ensure_ascii=False,
                   separators=(",", ":")) + "\n" for row in rows)
    with pytest.raises(ValueError, match="18 values, not 3"):
        writer.write([("a", "b", "c")])


def test_progress_shows_rate_and_rejects_on_a_terminal() -> None:
    ticks = iter([0.0, 1.0, 2.0, 2.2, 3.0])
    stream = io.StringIO()
    progress = Progress(stream, every=0.5, clock=lambda: next(ticks))
    summary = Summary(creditrules.load(RULESETS / "cardiozen.yaml", engine="reference"))
    summary.read, summary.rejected = 2000, 3
    progress.update(summary)  # t=1: shown
    progress.update(summary)  # t=2: shown
    progress.update(summary)  # t=2.2: too soon
    progress.done()
    text = stream.getvalue()
    assert text.count("\r2,000 records") == 2
    assert "2,000/s" in text
    assert "3 rejected" in text
    assert text.endswith("\r\x1b[K")


def test_no_progress_off_a_terminal() -> None:
    from creditrules.io.batch import tty_progress

    assert tty_progress(io.StringIO()) is None


def test_the_batch_keeps_no_deal_state(engine: str) -> None:
    """Allocating thousands of distinct deals leaves the durable sessions closed and the
    pipeline's caches within bounds (the benchmark measures the memory itself)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import deals as generated
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    ruleset = creditrules.load(ROOT / "benchmarks" / "alliance.yaml", engine=engine)
    allocator = BatchAllocator(ruleset)
    for i, deal in enumerate(generated.deals(2000, seed=3)):
        assert not isinstance(allocator.rows(deal, i + 1), Rejection)
    assert allocator.summary.allocated == 2000
    matcher = ruleset._evaluator.matcher  # type: ignore[union-attr]
    assert getattr(matcher, "leaked_sessions", 0) == 0
    pipeline = allocator.pipeline
    assert len(pipeline.type_plans) < 2000
    assert len(pipeline.dates.cache) <= 731


def test_allocations_mode_writes_whole_allocations(tmp_path: Path, engine: str) -> None:
    ruleset_path, deals_path = SAMPLES["cardiozen"]
    out = tmp_path / "allocations.jsonl"
    assert main(["allocate", str(ruleset_path), str(deals_path), "-o", str(out),
                 "--allocations", "--engine", engine]) == 0
    ruleset = creditrules.load(ruleset_path, engine=engine)
    got = [json.loads(line) for line in _lines(out)]
    assert got == [ruleset.allocate(json.loads(line), explain=False).to_dict()
                   for line in _lines(deals_path)]


def test_allocate_many_module_function(engine: str) -> None:
    ruleset = creditrules.load(RULESETS / "cardiozen.yaml", engine=engine)
    assert list(allocate_many(ruleset, [])) == []


def test_hand_written_benchmark_writes_the_same_ledger(tmp_path: Path) -> None:
    """The benchmark's hand-written code, end to end, writes the command's ledger byte for
    byte (so that timing the two side by side compares the same work)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import deals as generated
        import handwritten
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    source, ours, theirs = tmp_path / "deals.jsonl", tmp_path / "ours", tmp_path / "theirs"
    generated.write_jsonl(str(source), 300, seed=5)
    ruleset = creditrules.load(ROOT / "benchmarks" / "alliance.yaml")
    assert main(["allocate", str(ROOT / "benchmarks" / "alliance.yaml"), str(source),
                 "-o", str(ours), "--no-progress"]) == 0
    ref = (ruleset.id, ruleset.version, ruleset.content_hash)
    assert handwritten.run_file(str(source), str(theirs), ref) == 300
    assert theirs.read_bytes() == ours.read_bytes()
    assert len(_lines(ours)) > 300


def test_stage_benchmark_runs_at_a_small_size() -> None:
    """benchmarks/stages.py at N=150: it checks that both sides read, allocate and write
    the same, and prints a row per stage (no timing is asserted)."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "stages.py"), "--n", "150", "--repeat", "1"],
        capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    stages = [line.split()[0] for line in done.stdout.splitlines()[2:]]
    assert stages == ["reading", "allocating", "writing", "total"]


def test_benchmark_script_runs_at_a_small_size(tmp_path: Path) -> None:
    """The throughput benchmark, at N=200 (no timing is asserted: CI machines vary)."""
    report = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--n", "200", "--plain", "50",
         "--json", str(report), "--no-cli"],
        capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    data = json.loads(report.read_text())
    (result,) = data["runs"]
    assert result["n"] == 200
    assert result["disagreements"] == 0
    assert result["fast"]["deals"] == 200
    assert result["fast"]["deals_per_s"] > 0
    assert "deals/s" in done.stdout
