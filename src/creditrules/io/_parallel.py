"""``creditrules allocate --jobs N``: parts of one input allocated by N worker processes, with
the bytes, rejects and summary of one process.

Only a JSON Lines or Parquet file can be cut (not standard input; a CSV record or a JSON
document may span lines): the command line reads any other input in one process.

The input is cut into parts of whole lines (JSON Lines, by byte ranges) or whole row groups
(Parquet). Each worker reads its part with the one reader (a part keeps its file's line
numbers), allocates it with :func:`~creditrules.io.batch.run_batch` and sends back its ledger
text (Parquet: its rows), rejects text, :class:`~creditrules.io.batch.Summary`, the deal ids it
allocated and the ids it looked up as possible duplicates (both as compact
:class:`~creditrules.io._deal_ids.DealIds`, which travel as a few byte strings). This process
writes the parts in input order as they come back (a bounded number in flight, so memory
stays flat but for the run's deal ids, about 35 bytes each).

Duplicate ids across parts: one process rejects a record whose id an *earlier* record
allocated, before anything else is checked. A part that looked up no id allocated by an
earlier part decides every record as one process would; a part that did (rare: a real
duplicate) is allocated again here, with the ids of every earlier part, and its result
replaces the worker's.
"""

from __future__ import annotations

import contextlib
import io
import multiprocessing
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import IO, TYPE_CHECKING, Any, cast

from creditrules.io._deal_ids import DealIds
from creditrules.io.batch import (
    AllocationWriter,
    LedgerRows,
    LedgerSink,
    LedgerWriter,
    Progress,
    Row,
    Summary,
    run_batch,
)
from creditrules.io.records import _jsonl

if TYPE_CHECKING:
    from creditrules.agreement.ruleset import Ruleset

__all__ = ["PART_BYTES", "run_parallel", "spans"]

#: Input bytes per part of a JSON Lines file (about 1,500 deals): parts small enough to keep
#: every worker busy to the end and results small, big enough that handing them out costs
#: little.
PART_BYTES = 1 << 20
#: The least input bytes per part, however small the file.
MIN_PART_BYTES = 1 << 16
#: Rows per part of a Parquet file (in whole row groups).
PART_ROWS = 2000
#: Parts in flight per worker.
WINDOW = 3
#: How workers start: forked where that is safe (Linux: no threads here yet, and the loaded
#: ruleset comes with them), else spawned (each loads the ruleset from its file).
START_METHOD = "fork" if sys.platform == "linux" else "spawn"

#: (format, start, end, first line): bytes start..end of a JSON Lines file, or row groups
#: start..end of a Parquet file.
Span = tuple[str, int, int, int]
#: What a part sends back: ledger text or rows, rejects text, summary, the ids allocated
#: (id -> line) and the ids looked up.
PartResult = tuple[str | list[Row], str, Summary, DealIds, DealIds]


def spans(path: str, fmt: str, part_bytes: int = PART_BYTES,
          part_rows: int = PART_ROWS) -> Iterator[Span]:
    """The parts of a file: runs of whole lines of about ``part_bytes`` (lines end at LF, as
    the reader splits them; counted in bounded blocks, so no line is held whole), or of
    whole row groups of at least ``part_rows`` rows."""
    if fmt == "parquet":
        from creditrules.io.parquet import row_group_spans

        for first, end, row in row_group_spans(path, part_rows):
            yield (fmt, first, end, row)
        return
    with open(path, "rb") as stream:
        start, line = 0, 1  # the current part's first byte and line
        position = newlines = 0  # bytes read, and line ends among them
        cut = part_bytes - 1  # the part ends at the first line end at or after this byte
        while block := stream.read(1 << 20):
            counted = 0  # line ends of the block before this index are in ``newlines``
            while (end := block.find(b"\n", max(cut - position, counted))) >= 0:
                newlines += block.count(b"\n", counted, end + 1)
                counted = end + 1
                yield (fmt, start, position + end + 1, line)
                start, line = position + end + 1, newlines + 1
                cut = start + part_bytes - 1
            newlines += block.count(b"\n", counted)
            position += len(block)
        if position > start:
            yield (fmt, start, position, line)


class _Range(io.RawIOBase):
    """Bytes ``start`` to ``end`` of a file, read through ``readline`` as the reader does."""

    def __init__(self, path: str, start: int, end: int) -> None:
        super().__init__()
        self._file = open(path, "rb")  # noqa: SIM115 - closed with this object
        self._file.seek(start)
        self._left = end - start

    def readable(self) -> bool:
        return True

    def readline(self, size: int | None = -1, /) -> bytes:
        limit = self._left if size is None or size < 0 else min(size, self._left)
        data = self._file.readline(limit) if limit else b""
        self._left -= len(data)
        return data

    def close(self) -> None:
        self._file.close()
        super().close()


# -- in a worker ------------------------------------------------------------------------------

#: The ruleset of this process: inherited (fork), or loaded once from its file (spawn).
_STATE: dict[str, Any] = {}


def _worker_start(load: tuple[str, str | None, bool], content_hash: str) -> None:
    # Interrupts are the parent's to handle: it stops the workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _STATE["load"], _STATE["hash"] = load, content_hash


def _worker_ruleset() -> Ruleset:
    ruleset: Ruleset | None = _STATE.get("ruleset")
    if ruleset is None:
        from creditrules.allocation.loading import load

        path, engine, allow_outside = _STATE["load"]
        ruleset = _STATE["ruleset"] = load(path, engine=engine, allow_outside=allow_outside)
    return ruleset


def _part(ruleset: Ruleset, path: str, span: Span, ledger_format: str, allocations: bool,
          duplicates: str, seen: DealIds | None) -> PartResult:
    """Allocate one part (in a worker, or here when it must be done again)."""
    fmt, start, end, line = span
    if fmt == "parquet":
        from creditrules.io.parquet import read_parquet

        records: Iterator[Any] = read_parquet(path, row_groups=range(start, end))
    else:
        records = _jsonl(cast(IO[bytes], _Range(path, start, end)), line=line)
    out = io.StringIO()
    rows = LedgerRows()
    sink: LedgerSink | AllocationWriter
    if allocations:
        sink = AllocationWriter(out)
    elif ledger_format == "parquet":
        sink = rows
    else:
        writer = LedgerWriter(out, ledger_format)
        writer.started = True  # the CSV header is written once, by the parent
        sink = writer
    rejects = io.StringIO()
    # A part's own ids are few: dicts (the fastest to search), packed to be sent back.
    ids: DealIds | dict[str, int] = {} if seen is None else seen
    checked: dict[str, int] | None = {} if duplicates == "reject" else None
    summary = run_batch(ruleset, records, sink, rejects, duplicates=duplicates, seen=ids,
                        checked=checked)
    # With the parent's ids (which run_batch brought up to date), nothing to send back.
    mine = DealIds.packed(ids) if isinstance(ids, dict) else DealIds()
    return (rows.rows if sink is rows else out.getvalue(), rejects.getvalue(), summary, mine,
            DealIds.packed(checked or {}))


def _worker_part(path: str, span: Span, ledger_format: str, allocations: bool,
                 duplicates: str) -> PartResult | str:
    """A part's result, or (text) why the ruleset file cannot be used: it changed under
    the run (never two agreements in one ledger), the parent says so."""
    from creditrules.errors import CreditRulesError

    try:
        ruleset = _worker_ruleset()
    except CreditRulesError as exc:
        return f"it no longer loads ({exc})"
    if ruleset.content_hash != _STATE["hash"]:
        return f"its content hash is now {ruleset.content_hash}, not {_STATE['hash']}"
    return _part(ruleset, path, span, ledger_format, allocations, duplicates, None)


# -- in the parent ----------------------------------------------------------------------------


def run_parallel(ruleset: Ruleset, load: tuple[str, str | None, bool], path: str, fmt: str,
                 ledger: LedgerSink | AllocationWriter, ledger_format: str,
                 rejects: IO[str], *, jobs: int, duplicates: str = "reject",
                 progress: Progress | None = None) -> Summary:
    """Allocate the JSON Lines or Parquet file ``path`` in ``jobs`` worker processes,
    writing to ``ledger`` and ``rejects`` exactly what :func:`run_batch` writes in one
    process. ``load`` (ruleset path, engine, allow_outside) is how a worker started
    without this process's memory loads the ruleset; either way its content hash must be
    ``ruleset``'s."""
    from creditrules.errors import Location, Problem, RulesetError

    summary = Summary(ruleset)
    ledger.header()
    allocations = isinstance(ledger, AllocationWriter)
    part_format = "jsonl" if allocations else ledger_format
    seen = DealIds() if duplicates == "reject" else None
    # The standard streams flushed first, so that no forked worker writes what this process
    # buffered.
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    _STATE["ruleset"] = ruleset  # inherited by forked workers (spawned ones load it)
    executor = ProcessPoolExecutor(
        max_workers=jobs, mp_context=multiprocessing.get_context(START_METHOD),
        initializer=_worker_start, initargs=(load, ruleset.content_hash))
    pending: deque[tuple[Span, Future[PartResult | str]]] = deque()

    def write_next() -> None:
        span, future = pending.popleft()
        try:
            result = future.result()
        except BrokenProcessPool as exc:
            raise OSError(f"a worker process ended unexpectedly ({exc})") from None
        if isinstance(result, str):
            raise RulesetError([Problem("changed", f"{load[0]} changed during the run: "
                                        f"{result}", Location(load[0]))])
        if seen is not None:
            if not seen.isdisjoint(result[4]):
                # A record of this part has the id of a deal an earlier part allocated:
                # the part again, here, with those ids, as one process decides it.
                result = _part(ruleset, path, span, part_format, allocations, duplicates,
                               seen)
            else:
                seen.merge(result[3])
        text, rejected, part_summary, _, _ = result
        if isinstance(text, str):
            if text:  # a LedgerWriter's or AllocationWriter's text: written as it is
                stream: IO[str] = getattr(ledger, "stream")  # noqa: B009
                stream.write(text)
        else:
            ledger.write(text)  # type: ignore[arg-type]  # Parquet: the rows
        if rejected:
            rejects.write(rejected)
        summary.merge(part_summary)
        if progress is not None:
            progress.update(summary)

    try:
        # A small file still makes a few parts per worker (so that all of them work).
        part_bytes = min(PART_BYTES, max(MIN_PART_BYTES, os.path.getsize(path) // (4 * jobs)))
        for span in spans(path, fmt, part_bytes, PART_ROWS):
            pending.append((span, executor.submit(_worker_part, path, span, part_format,
                                                  allocations, duplicates)))
            while len(pending) >= WINDOW * jobs:
                write_next()
        while pending:
            write_next()
    except BaseException:
        _stop(executor)
        raise
    finally:
        _STATE.pop("ruleset", None)
    executor.shutdown(wait=True)
    if progress is not None:
        progress.done()
    return summary


def _stop(executor: ProcessPoolExecutor) -> None:
    """End the workers now (an interrupt, an error): their parts are not wanted.

    Nothing here waits without a bound: the interrupt may have come while the executor's
    own bookkeeping was half done, and a worker ended in the middle of writing to its queue
    can leave that queue locked, so waiting for the executor to wind down could wait
    forever. The workers are ended (killed if they linger), then the executor is told to
    shut down without waiting."""
    processes: list[Any] = list((getattr(executor, "_processes", None) or {}).values())
    # Parts still queued for the workers are never read now: exit must not wait for the
    # queue's feeder thread to push them into a pipe nobody drains.
    call_queue = getattr(executor, "_call_queue", None)
    if call_queue is not None:
        call_queue.cancel_join_thread()
    for process in processes:
        process.terminate()
    deadline = time.monotonic() + _STOP_SECONDS
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
            process.join(1.0)
    # A worker ended while writing its result leaves half a message in the result pipe,
    # and the executor's thread would wait for the rest for ever (and exit with it): this
    # process's end of the pipe is closed, so the thread reads the end of it instead.
    result_queue = getattr(executor, "_result_queue", None)
    writer = getattr(result_queue, "_writer", None)
    if writer is not None:
        with contextlib.suppress(OSError):
            writer.close()
    executor.shutdown(wait=False, cancel_futures=True)


# How long ended workers get to exit before they are killed.
_STOP_SECONDS = 5.0

