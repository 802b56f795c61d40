"""Faults: a real ``creditrules allocate`` process interrupted (SIGINT, SIGTERM, SIGKILL),
its output pipe closed, its disk full, an output unwritable; what is left on disk.

The deals come through standard input, fed by the test, so that the process is known to be
mid-run (its temporary outputs exist, some deals are read, more are to come) when the fault
strikes: no sleeps racing a fast machine.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

import pytest

from creditrules.cli import main

ROOT = Path(__file__).resolve().parent.parent
CARDIOZEN = ROOT / "rulesets" / "cardiozen.yaml"
SAMPLE = (ROOT / "rulesets" / "cardiozen-deals.jsonl").read_bytes().splitlines()
OLD_LEDGER = b"the previous ledger\n"
OLD_REJECTS = b"the previous rejects\n"

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def deals(start: int, count: int) -> bytes:
    """``count`` sample deals with ids of their own, from ``start``."""
    out = []
    for i in range(start, start + count):
        data = json.loads(SAMPLE[i % len(SAMPLE)])
        data["id"] = f"F-{i}"
        out.append(json.dumps(data).encode() + b"\n")
    return b"".join(out)


def start(
    tmp_path: Path, *args: str, stdout: int | IO[Any] = subprocess.DEVNULL, preexec: Any = None
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "creditrules.cli",
            "allocate",
            str(CARDIOZEN),
            "-",
            "--engine",
            "reference",
            "--no-progress",
            *args,
        ],
        stdin=subprocess.PIPE,
        stdout=stdout,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
        preexec_fn=preexec,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )


def incomplete(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in tmp_path.iterdir() if ".incomplete-" in p.name)


def wait_for_outputs(tmp_path: Path, count: int, process: subprocess.Popen[bytes]) -> None:
    """Until the run has created its ``count`` temporary outputs (it is then mid-run)."""
    deadline = time.monotonic() + 60
    while len(incomplete(tmp_path)) < count:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the run never started"
        time.sleep(0.02)


def previous_outputs(tmp_path: Path) -> tuple[Path, Path]:
    ledger, rejects = tmp_path / "ledger.csv", tmp_path / "rejects.jsonl"
    ledger.write_bytes(OLD_LEDGER)
    rejects.write_bytes(OLD_REJECTS)
    return ledger, rejects


@pytest.mark.parametrize(
    ("sig", "status", "name"), [(signal.SIGINT, 130, "SIGINT"), (signal.SIGTERM, 143, "SIGTERM")]
)
def test_an_interrupted_run_leaves_the_previous_files(
    tmp_path: Path, sig: int, status: int, name: str
) -> None:
    """Before: a partial ledger under its final name, and a traceback for SIGINT."""
    ledger, rejects = previous_outputs(tmp_path)
    process = start(tmp_path, "-o", "ledger.csv", "--rejects", "rejects.jsonl")
    assert process.stdin is not None
    wait_for_outputs(tmp_path, 2, process)
    process.stdin.write(deals(0, 200) + b"{not json\n")
    process.stdin.flush()
    time.sleep(0.3)  # some of them allocated: a partial ledger exists, under a temporary name
    process.send_signal(sig)
    _, err = process.communicate(timeout=60)
    assert process.returncode == status
    assert err.decode() == f"creditrules: interrupted ({name}); no output file was replaced\n"
    assert ledger.read_bytes() == OLD_LEDGER
    assert rejects.read_bytes() == OLD_REJECTS
    assert incomplete(tmp_path) == []


def test_a_killed_run_leaves_the_previous_files_and_an_incomplete_marker(tmp_path: Path) -> None:
    ledger, rejects = previous_outputs(tmp_path)
    process = start(tmp_path, "-o", "ledger.csv", "--rejects", "rejects.jsonl")
    assert process.stdin is not None
    wait_for_outputs(tmp_path, 2, process)
    process.stdin.write(deals(0, 100))
    process.stdin.flush()
    time.sleep(0.3)
    process.kill()
    process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL
    assert ledger.read_bytes() == OLD_LEDGER
    assert rejects.read_bytes() == OLD_REJECTS
    left = incomplete(tmp_path)
    assert [name.split(".incomplete-")[0] for name in left] == [".ledger.csv", ".rejects.jsonl"]


def test_a_finished_run_replaces_the_files(tmp_path: Path) -> None:
    ledger, rejects = previous_outputs(tmp_path)
    process = start(tmp_path, "-o", "ledger.csv", "--rejects", "rejects.jsonl")
    _, err = process.communicate(deals(0, 30) + b"{not json\n", timeout=120)
    assert process.returncode == 1, err
    assert b"31 read, 30 allocated, 1 rejected" in err
    assert ledger.read_bytes().startswith(b"deal,date,kind,")
    assert json.loads(rejects.read_bytes())["line"] == 31
    assert incomplete(tmp_path) == []


def test_a_closed_output_pipe_is_not_success(tmp_path: Path) -> None:
    """Before: ``creditrules allocate ... | head`` exited 0, silently."""
    read, write = os.pipe()
    process = start(tmp_path, stdout=write)
    os.close(write)
    assert process.stdin is not None
    # Few enough deals that neither pipe fills while the test is not reading it.
    process.stdin.write(deals(0, 10))
    process.stdin.flush()
    with os.fdopen(read, "rb") as head:
        assert head.readline().startswith(b"{")  # as `head -1` does: one line, then closed
    _, err = process.communicate(deals(200, 200), timeout=120)
    assert process.returncode == 3
    assert err.decode().strip().splitlines()[-1] == (
        "error: <stdout>: Broken pipe; the output is incomplete"
    )


def _no_more_than_4k() -> None:  # pragma: no cover - runs in the child process
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))  # a full disk, for files


def test_a_full_disk_leaves_the_previous_files(tmp_path: Path) -> None:
    ledger, rejects = previous_outputs(tmp_path)
    process = start(
        tmp_path, "-o", "ledger.csv", "--rejects", "rejects.jsonl", preexec=_no_more_than_4k
    )
    _, err = process.communicate(deals(0, 50), timeout=120)
    assert process.returncode == 3
    assert err.decode() == "error: ledger.csv: File too large\n"
    assert ledger.read_bytes() == OLD_LEDGER
    assert rejects.read_bytes() == OLD_REJECTS
    assert incomplete(tmp_path) == []


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_standard_output_is_an_error(tmp_path: Path) -> None:
    with open("/dev/full", "wb") as full:
        process = start(tmp_path, stdout=full)
        _, err = process.communicate(deals(0, 5), timeout=120)
    assert process.returncode == 3
    assert err.decode().splitlines()[-1] == (
        "error: <stdout>: No space left on device; the output is incomplete"
    )


def test_an_unwritable_rejects_path_keeps_the_previous_ledger(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: ``-o l.csv`` with an unwritable ``--rejects`` truncated l.csv to 0 bytes."""
    ledger = tmp_path / "l.csv"
    ledger.write_bytes(OLD_LEDGER)
    deals_file = tmp_path / "deals.jsonl"
    deals_file.write_bytes(deals(0, 3))
    missing = tmp_path / "no-such-dir" / "rejects.jsonl"
    for rejects in (missing, tmp_path):  # no such directory; a directory
        args = [str(CARDIOZEN), str(deals_file), "-o", str(ledger), "--rejects", str(rejects)]
        assert main(["allocate", *args]) == 3
        assert ledger.read_bytes() == OLD_LEDGER
        assert incomplete(tmp_path) == []
    assert capsys.readouterr().err == (
        f"error: {missing}: No such file or directory\nerror: {tmp_path}: Is a directory\n"
    )


def test_one_file_for_two_outputs_or_the_input_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deals_file = tmp_path / "deals.jsonl"
    deals_file.write_bytes(deals(0, 3))
    assert (
        main(
            [
                "allocate",
                str(CARDIOZEN),
                str(deals_file),
                "-o",
                str(tmp_path / "x.csv"),
                "--rejects",
                str(tmp_path / "x.csv"),
            ]
        )
        == 2
    )
    assert "is named for two outputs" in capsys.readouterr().err
    assert main(["allocate", str(CARDIOZEN), str(deals_file), "-o", str(deals_file)]) == 2
    assert "would replace the input" in capsys.readouterr().err
    assert deals_file.read_bytes() == deals(0, 3)


def test_permissions_of_a_replaced_ledger_are_kept(tmp_path: Path) -> None:
    ledger = tmp_path / "l.jsonl"
    ledger.write_bytes(OLD_LEDGER)
    ledger.chmod(0o640)
    deals_file = tmp_path / "deals.jsonl"
    deals_file.write_bytes(deals(0, 3))
    assert main(["allocate", str(CARDIOZEN), str(deals_file), "-o", str(ledger)]) == 0
    assert ledger.stat().st_mode & 0o777 == 0o640
    assert ledger.read_bytes() != OLD_LEDGER
