"""``creditrules allocate --jobs N``: the same ledger, rejects and summary, byte for byte, as
one process, whatever N and however the input is cut into parts; duplicate ids found across
parts; interrupted runs leave the previous files.

Parts are made tiny here (a few records each) so that a small file spans many of them and
every part boundary, duplicate and reject lands in a different worker.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from creditrules.cli import main
from creditrules.io import _parallel

ROOT = Path(__file__).resolve().parent.parent
CARDIOZEN = ROOT / "rulesets" / "cardiozen.yaml"
SAMPLE = [json.loads(line) for line in
          (ROOT / "rulesets" / "cardiozen-deals.jsonl").read_text().splitlines()]

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX processes")


def _deal(i: int, deal_id: Any = None) -> dict[str, Any]:
    data = dict(SAMPLE[i % len(SAMPLE)])
    data["id"] = f"J-{i}" if deal_id is None else deal_id
    return data


def _messy(path: Path) -> dict[str, Any]:
    """40 lines: good deals, bad records, and duplicate ids within and across parts (one
    of them also a bad record: a duplicate is rejected as a duplicate first). What the
    rejects must say, by line."""
    lines: list[str] = [json.dumps(_deal(i)) for i in range(30)]
    lines[4] = '{"id": "J-4", "date": "2026-03-01", "amount": 100.25, "currency": "USD"}'
    lines[7] = "{not json"
    lines[12] = json.dumps(_deal(12, "J-1"))  # a duplicate of line 2, parts away
    bad_dup = _deal(0, "J-2")
    bad_dup["account"] = {"owner": "gamma"}
    lines[20] = json.dumps(bad_dup)  # a duplicate, and an unknown partner
    lines[25] = json.dumps(_deal(25, "J-4"))  # J-4 was rejected (line 5): allocated
    lines[26] = json.dumps(_deal(26, "J-4"))  # ...and now a duplicate of line 26
    lines[27] = json.dumps(_deal(27, 29))  # id 29 (a number) ...
    lines += [json.dumps(_deal(i)) for i in range(30, 38)]
    lines.append(json.dumps(_deal(38, "J-37")))  # a duplicate of the line just before
    lines.append(json.dumps(_deal(39, "29")))  # ... and "29": the same id
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {
        5: ("float-amount", "J-4"), 8: ("unreadable", None),
        13: ("duplicate-id", "J-1"), 21: ("duplicate-id", "J-2"),
        27: ("duplicate-id", "J-4"), 39: ("duplicate-id", "J-37"),
        40: ("duplicate-id", "29"),
    }


def _run(tmp_path: Path, deals: Path, jobs: int, *extra: str, ledger: str = "ledger.jsonl",
         capsys: pytest.CaptureFixture[str]) -> tuple[int, bytes, bytes, str]:
    out, rejects = tmp_path / f"{jobs}-{ledger}", tmp_path / f"{jobs}-rejects.jsonl"
    status = main(["allocate", str(CARDIOZEN), str(deals), "-o", str(out), "--rejects",
                   str(rejects), "--no-progress", "--jobs", str(jobs), *extra])
    err = capsys.readouterr().err
    return status, out.read_bytes(), rejects.read_bytes(), err


@pytest.fixture
def tiny_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    # About two records a part (and a Parquet part per row group).
    monkeypatch.setattr(_parallel, "PART_BYTES", 1500)
    monkeypatch.setattr(_parallel, "PART_ROWS", 1)


@pytest.mark.parametrize("extra", [(), ("--ledger-format", "csv"), ("--allocations",)],
                         ids=["jsonl", "csv", "allocations"])
def test_any_number_of_jobs_writes_the_same_bytes(
        tmp_path: Path, tiny_parts: None, capsys: pytest.CaptureFixture[str],
        extra: tuple[str, ...]) -> None:
    deals = tmp_path / "deals.jsonl"
    expected = _messy(deals)
    assert len(list(_parallel.spans(str(deals), "jsonl", 1500))) >= 10
    runs = {jobs: _run(tmp_path, deals, jobs, *extra, capsys=capsys) for jobs in (1, 2, 3)}
    status, ledger, rejects, err = runs[1]
    assert status == 1
    rejected = [json.loads(line) for line in rejects.decode().splitlines()]
    assert {r["line"]: (r["code"], r["deal"]) for r in rejected} == expected
    assert [r["reason"] for r in rejected if r["code"] == "duplicate-id"] == [
        "deal 'J-1' was already allocated from line 2",
        "deal 'J-2' was already allocated from line 3",
        "deal 'J-4' was already allocated from line 26",
        "deal 'J-37' was already allocated from line 38",
        "deal '29' was already allocated from line 28",
    ]
    assert "creditrules: 40 read, 33 allocated, 7 rejected" in err
    assert "duplicate-id 5, float-amount 1, unreadable 1" in err
    lines = ledger.decode().splitlines()
    if "--allocations" in extra:
        assert len(lines) == 33
    elif "csv" in extra:
        assert lines[0].startswith("deal,date,kind,type,")
    for jobs in (2, 3):
        assert runs[jobs] == runs[1], f"--jobs {jobs} differs from one process"


def test_duplicates_allowed_are_allocated_again_in_any_part(
        tmp_path: Path, tiny_parts: None, capsys: pytest.CaptureFixture[str]) -> None:
    deals = tmp_path / "deals.jsonl"
    _messy(deals)
    one = _run(tmp_path, deals, 1, "--duplicate-ids", "allow", capsys=capsys)
    assert "40 read, 37 allocated, 3 rejected" in one[3]  # float, JSON, partner
    assert _run(tmp_path, deals, 2, "--duplicate-ids", "allow", capsys=capsys) == one


def test_a_byte_order_mark_starts_the_file_only(
        tmp_path: Path, tiny_parts: None, capsys: pytest.CaptureFixture[str]) -> None:
    """A mark opening the file is skipped; one opening a later part is text, as for one
    process (the record is then unreadable)."""
    deals = tmp_path / "deals.jsonl"
    lines = [json.dumps(_deal(i)) for i in range(12)]
    lines[0] = "\ufeff" + lines[0]
    lines[6] = "\ufeff" + lines[6]
    deals.write_text("\n".join(lines), encoding="utf-8")  # no final line end
    one = _run(tmp_path, deals, 1, capsys=capsys)
    assert [json.loads(r)["line"] for r in one[2].decode().splitlines()] == [7]
    assert "12 read, 11 allocated, 1 rejected" in one[3]
    assert _run(tmp_path, deals, 3, capsys=capsys) == one


def test_parquet_in_and_out(tmp_path: Path, tiny_parts: None,
                            capsys: pytest.CaptureFixture[str]) -> None:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    deals = tmp_path / "deals.parquet"
    ids = [f"P-{i}" for i in range(9)] + ["P-1"]
    table = pa.table({
        "id": ids, "date": ["2026-03-01"] * 10, "amount": [f"{100 + i}.25" for i in range(10)],
        "currency": ["USD"] * 10, "account.owner": ["acme", "beta"] * 5})
    pq.write_table(table, deals, row_group_size=2)
    one = _run(tmp_path, deals, 1, ledger="ledger.parquet", capsys=capsys)
    assert "10 read, 9 allocated, 1 rejected" in one[3]
    assert json.loads(one[2])["line"] == 10
    assert _run(tmp_path, deals, 2, ledger="ledger.parquet", capsys=capsys) == one


def test_other_input_is_read_in_one_process(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    deals = tmp_path / "deals.json"
    deals.write_text(json.dumps([_deal(i) for i in range(3)]), encoding="utf-8")
    status, _, _, err = _run(tmp_path, deals, 2, capsys=capsys)
    assert status == 0
    assert "--jobs: json is read in one process" in err
    assert "3 read, 3 allocated, 0 rejected" in err


@pytest.mark.parametrize("text", ["0", "-1", "two"])
def test_jobs_must_be_a_positive_number(text: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["allocate", str(CARDIOZEN), "deals.jsonl", "--jobs", text])
    assert exc.value.code == 2
    assert "expected a number of processes" in capsys.readouterr().err


def _workers_of(deals: Path) -> list[int]:
    """Processes still running on this test's deals file (a worker left behind)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if str(deals).encode() in cmdline:
                found.append(int(entry.name))
    return found


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="lists processes through /proc")
@pytest.mark.parametrize(
    ("sig", "status", "name"), [(signal.SIGINT, 130, "SIGINT"), (signal.SIGTERM, 143, "SIGTERM")])
def test_an_interrupted_parallel_run_leaves_the_previous_files(
        tmp_path: Path, sig: int, status: int, name: str) -> None:
    deals = tmp_path / "deals.jsonl"
    with deals.open("w", encoding="utf-8") as out:
        for i in range(40_000):  # far more than is allocated before the signal
            out.write(json.dumps(_deal(i)) + "\n")
    ledger, rejects = tmp_path / "ledger.jsonl", tmp_path / "rejects.jsonl"
    ledger.write_bytes(b"the previous ledger\n")
    rejects.write_bytes(b"the previous rejects\n")
    process = subprocess.Popen(
        [sys.executable, "-m", "creditrules.cli", "allocate", str(CARDIOZEN), str(deals),
         "-o", str(ledger), "--rejects", str(rejects), "--jobs", "2", "--no-progress",
         "--engine", "reference"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    deadline = time.monotonic() + 60
    # Mid-run: the temporary outputs exist and the workers have started.
    while (len([p for p in tmp_path.iterdir() if ".incomplete-" in p.name]) < 2
           or len(_workers_of(deals)) < 3):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the run never started"
        time.sleep(0.02)
    time.sleep(0.3)
    process.send_signal(sig)
    _, err = process.communicate(timeout=60)
    assert process.returncode == status, err
    assert err.decode() == f"creditrules: interrupted ({name}); no output file was replaced\n"
    assert ledger.read_bytes() == b"the previous ledger\n"
    assert rejects.read_bytes() == b"the previous rejects\n"
    assert [p.name for p in tmp_path.iterdir() if ".incomplete-" in p.name] == []
    deadline = time.monotonic() + 10
    while _workers_of(deals):  # the workers were ended too
        assert time.monotonic() < deadline, "workers left running"
        time.sleep(0.05)


@pytest.mark.parametrize("size", [1, 7, 100, 1 << 20])
def test_parts_are_whole_lines_with_their_numbers(tmp_path: Path, size: int) -> None:
    path = tmp_path / "deals.jsonl"
    data = b"".join(b"x" * (i % 13) + b"\n" for i in range(200)) + b"last, no line end"
    path.write_bytes(data)
    parts = list(_parallel.spans(str(path), "jsonl", size))
    assert parts[0][1] == 0
    assert parts[-1][2] == len(data)
    for (_, _, end, _), (_, start, _, _) in itertools.pairwise(parts):
        assert start == end
    for _, start, end, line in parts:
        assert start == 0 or data[start - 1:start] == b"\n"
        assert line == data.count(b"\n", 0, start) + 1
        assert end - start >= min(size, len(data) - start)
    assert len(parts) == (201 if size == 1 else 1 if size == 1 << 20 else len(parts))


def test_a_ledger_on_standard_output_is_written_once(tmp_path: Path) -> None:
    """The CSV header goes out before the workers start: none writes it again."""
    deals = tmp_path / "deals.jsonl"
    _messy(deals)
    outputs = []
    for jobs in (1, 2):
        done = subprocess.run(
            [sys.executable, "-m", "creditrules.cli", "allocate", str(CARDIOZEN), str(deals),
             "--ledger-format", "csv", "--jobs", str(jobs), "--no-progress"],
            capture_output=True, check=False, cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
        assert done.returncode == 1, done.stderr
        outputs.append((done.stdout, done.stderr))
    assert outputs[1] == outputs[0]
    assert outputs[0][0].count(b"deal,date,kind,") == 1
    assert outputs[0][1].count(b'"code":"duplicate-id"') == 5


def test_spawned_workers_load_the_ruleset_and_write_the_same_bytes(
        tmp_path: Path, tiny_parts: None, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Where workers cannot be forked (macOS, Windows), each loads the ruleset itself."""
    deals = tmp_path / "deals.jsonl"
    _messy(deals)
    one = _run(tmp_path, deals, 1, capsys=capsys)
    monkeypatch.setattr(_parallel, "START_METHOD", "spawn")
    assert _run(tmp_path, deals, 2, capsys=capsys) == one


def test_a_worker_refuses_a_ruleset_changed_during_the_run(
        tmp_path: Path, tiny_parts: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """A spawned worker loads the file again: another content hash stops the run."""
    import io

    import creditrules
    from creditrules.errors import RulesetError
    from creditrules.io.batch import LedgerWriter

    ruleset = tmp_path / "ruleset.yaml"
    ruleset.write_bytes(CARDIOZEN.read_bytes())
    deals = tmp_path / "deals.jsonl"
    _messy(deals)
    loaded = creditrules.load(ruleset)
    ruleset.write_bytes(CARDIOZEN.read_bytes().replace(b'version: "2026.1"',
                                                       b'version: "2026.2"'))
    monkeypatch.setattr(_parallel, "START_METHOD", "spawn")
    with pytest.raises(RulesetError, match="changed during the run"):
        _parallel.run_parallel(loaded, (str(ruleset), None, False), str(deals), "jsonl",
                               LedgerWriter(io.StringIO(), "jsonl"), "jsonl", io.StringIO(),
                               jobs=2)
