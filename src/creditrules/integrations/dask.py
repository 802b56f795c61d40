"""Scale-out on Dask (``pip install creditrules[dask]``): partitions allocated in parallel by
worker processes, with the same ledger, rejects and counts as one process.

durable_rules holds the GIL while it matches, so parallelism comes from processes: use a
cluster of worker processes with one thread each (``LocalCluster(processes=True,
threads_per_worker=1)``, or any distributed cluster). Each worker loads the ruleset once
from its file (workers never receive engine state), and checks that its content hash is the
one the caller loaded.

Two entry points:

* :func:`allocate_files`: JSON Lines, Parquet (or CSV) files in, a ledger file (JSON Lines,
  CSV or Parquet) and a rejects file out. JSON Lines files are cut into chunks of whole
  lines, Parquet files into runs of whole row groups; each chunk is one task; the results
  are written in input order as they come back (a bounded number of chunks in flight), so
  the ledger is byte-identical to what ``creditrules allocate`` writes for the same input,
  whatever the chunking or the number of workers.
* :func:`allocate_dataframe`: a dask DataFrame of deals (columns as for
  :func:`creditrules.integrations.pandas.allocate_frame`) in, ``(ledger, rejects)`` dask
  DataFrames out, partition by partition; compute them together (``dask.compute(ledger,
  rejects)``) so that each partition is allocated once.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import os
import shutil
import tempfile
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import IO, TYPE_CHECKING, Any

import attrs
import dask.dataframe as dd
import pandas as pd
from dask.delayed import delayed

import creditrules
from creditrules.errors import Location, Problem, RulesetError
from creditrules.integrations.pandas import REJECT_COLUMNS, allocate_frame
from creditrules.io._deal_ids import DealIds
from creditrules.io._output import AtomicOutputs
from creditrules.io.batch import (
    LEDGER_COLUMNS,
    LedgerSink,
    LedgerWriter,
    Rejection,
    Row,
    Summary,
    run_batch,
    write_rejection,
)
from creditrules.io.records import (
    guess_format,
    guess_ledger_format,
    need_pyarrow,
    read_records,
)

if TYPE_CHECKING:
    from distributed import Client

    from creditrules.agreement.ruleset import Ruleset

__all__ = ["ChunkResult", "FilesResult", "allocate_dataframe", "allocate_files", "chunks"]

#: Lines per task for JSON Lines input (at least this many rows, in whole row groups, for
#: Parquet): big enough that scheduling costs little, small enough to spread over the
#: workers and to keep each result small.
CHUNK_LINES = 20_000

_RULESETS: dict[tuple[str, str | None], Ruleset] = {}


def _ruleset(path: str, engine: str | None, content_hash: str) -> Ruleset:
    """The ruleset in this worker process, loaded once (per path and engine)."""
    key = (path, engine)
    ruleset = _RULESETS.get(key)
    if ruleset is None:
        ruleset = _RULESETS[key] = creditrules.load(path, engine=engine)
    if ruleset.content_hash != content_hash:
        # The file changed under the run: never mix two agreements in one ledger.
        raise RulesetError([Problem("changed", f"{path} changed during the run: its content "
                                    f"hash is now {ruleset.content_hash}, not {content_hash}",
                                    Location(path))])
    return ruleset


@attrs.frozen
class Chunk:
    """Part of an input file: bytes ``start`` to ``end`` (for Parquet, row groups ``start``
    to ``end``), whose first line (Parquet: row) is ``line``."""

    path: str
    start: int
    end: int
    line: int
    format: str


def chunks(path: str, fmt: str | None = None, lines: int = CHUNK_LINES) -> Iterator[Chunk]:
    """Cut a JSON Lines file into chunks of ``lines`` whole lines, a Parquet file into runs of
    whole row groups of at least ``lines`` rows (one chunk for CSV or JSON, whose records may
    span lines, and for a file with a lone carriage return, which the reader counts as a
    line break)."""
    fmt = fmt or guess_format(path)
    if fmt == "parquet":
        need_pyarrow()
        from creditrules.io.parquet import row_group_spans

        for first, end, row in row_group_spans(path, lines):
            yield Chunk(path, first, end, row, fmt)
        return
    size = os.path.getsize(path)
    if fmt != "jsonl":
        yield Chunk(path, 0, size, 1, fmt)
        return
    with open(path, "rb") as stream:
        start, line, count = 0, 1, 0
        position = 0
        # Lines end at LF only, as the reader splits them; read in bounded pieces, so that
        # an enormous line (which the reader rejects) is never held whole.
        for raw in iter(lambda: stream.readline(1 << 20), b""):
            position += len(raw)
            if not raw.endswith(b"\n"):
                continue
            count += 1
            if count == lines:
                yield Chunk(path, start, position, line, fmt)
                start, line, count = position, line + lines, 0
        if position > start or line == 1:
            yield Chunk(path, start, position, line, fmt)


@attrs.frozen
class ChunkResult:
    """What a worker returns for a chunk: where it wrote its ledger and reject lines (part
    files beside the ledger: no bulk data goes through the scheduler), counts and totals."""

    ledger: str
    rejects: str
    read: int
    allocated: int
    rejected: int
    totals: dict[tuple[str, str, str], int]
    rejects_by_code: dict[str, int]
    #: The deal ids allocated, with their lines (to find duplicates across chunks): a
    #: compact store, sent as a few byte strings.
    ids: DealIds = attrs.field(factory=DealIds)
    #: Every deal id looked up as a possible duplicate (allocated or rejected after).
    checked: DealIds = attrs.field(factory=DealIds)


def allocate_chunk(ruleset_path: str, engine: str | None, content_hash: str, chunk: Chunk,
                   ledger_format: str, part: str,
                   seen: DealIds | dict[str, int] | None = None) -> ChunkResult:
    """Allocate one chunk in this process (the task each Dask worker runs), writing its
    ledger rows to ``part + ".ledger"`` and its rejects to ``part + ".rejects"``. A deal id
    in ``seen`` (id -> line, a :class:`~creditrules.io._deal_ids.DealIds` or a dict: the ids
    allocated by earlier chunks, which receives this chunk's) is a duplicate."""
    ruleset = _ruleset(ruleset_path, engine, content_hash)
    if chunk.format == "parquet":
        # Rows keep the file's own numbers: no renumbering.
        from creditrules.io.parquet import read_parquet

        return _allocate_records(ruleset, read_parquet(chunk.path, row_groups=range(
            chunk.start, chunk.end)), ledger_format, part, seen)
    with open(chunk.path, "rb") as stream:
        stream.seek(chunk.start)
        data = stream.read(chunk.end - chunk.start)
    line = chunk.line
    if chunk.start:
        # A blank line first (skipped, and counted back below), so that a byte order mark
        # opening a later chunk is read as the one-process run reads it: mid-file.
        data = b"\n" + data
        line -= 1
    records = read_records(io.BytesIO(data), chunk.format)  # bytes, as the command line
    del data
    if line != 1:
        records = _renumber(records, line - 1)
    return _allocate_records(ruleset, records, ledger_format, part, seen)


def _allocate_records(ruleset: Ruleset, records: Iterator[Any], ledger_format: str,
                      part: str, seen: DealIds | dict[str, int] | None) -> ChunkResult:
    ledger, rejects = part + ".ledger", part + ".rejects"
    # A chunk's own ids: dicts (the fastest to search), packed to be sent back.
    ids: DealIds | dict[str, int] = {} if seen is None else seen
    before = len(ids)  # the chunk's own ids are the ones after these (insertion order)
    checked: dict[str, int] = {}
    with open(ledger, "w", encoding="utf-8", newline="\n") as out, \
            open(rejects, "w", encoding="utf-8", newline="\n") as rej:
        writer = LedgerWriter(out, ledger_format)
        writer.started = True  # the caller writes the CSV header once, not per chunk
        summary = run_batch(ruleset, records, writer, rej, seen=ids, checked=checked)
    if isinstance(ids, DealIds):
        mine = DealIds()
        mine.merge(ids, start=before)
    else:  # this chunk's dict, or a caller's (in insertion order too)
        mine = DealIds.packed(dict(itertools.islice(ids.items(), before, None)) if before
                              else ids)
    return ChunkResult(ledger, rejects, summary.read, summary.allocated, summary.rejected,
                       summary.totals, summary.rejects_by_code, mine, DealIds.packed(checked))


def _renumber(records: Iterator[Any], offset: int) -> Iterator[Any]:
    for item in records:
        yield attrs.evolve(item, line=item.line + offset)


@attrs.frozen
class FilesResult:
    """Counts and totals of :func:`allocate_files` (as the command line prints them)."""

    summary: Summary
    chunks: int


def allocate_files(ruleset_path: str | os.PathLike[str], paths: Sequence[str],
                   ledger: str | os.PathLike[str], rejects: str | os.PathLike[str], *,
                   client: Client | None = None, engine: str | None = None,
                   ledger_format: str | None = None, chunk_lines: int = CHUNK_LINES,
                   in_flight: int | None = None) -> FilesResult:
    """Allocate deal files on a Dask cluster into one ledger file and one rejects file.

    Records keep their file's line numbers (row numbers for Parquet); with several files,
    their ledgers and rejects follow one another in the order given. The ledger is CSV or
    Parquet when its name ends in ``.csv`` or ``.parquet`` (or ``ledger_format`` says so),
    else JSON Lines. The ruleset is loaded here first, so a ruleset error raises before
    anything is written. ``client`` defaults to the current Dask client; at most
    ``in_flight`` chunks (default: four per worker) are pending at once.
    """
    from distributed import get_client

    path = os.fspath(ruleset_path)
    ruleset = creditrules.load(path, engine=engine)
    content_hash = ruleset.content_hash
    client = client or get_client()
    ledger_path = os.fspath(ledger)
    fmt = ledger_format or guess_ledger_format(ledger_path)
    if fmt == "parquet":
        need_pyarrow()
    workers = max(1, len(client.scheduler_info().get("workers", {})))
    window = in_flight or 4 * workers
    todo = (c for p in paths for c in chunks(p, lines=chunk_lines))
    summary = Summary(ruleset)
    count = 0
    # Workers write their parts beside the ledger (a filesystem they share with the caller,
    # as they share the input files); the parts are joined in order, then removed.
    parts = tempfile.mkdtemp(prefix=".creditrules-parts-",
                             dir=os.path.dirname(os.path.abspath(ledger_path)))
    try:
        with contextlib.ExitStack() as stack:
            # Written beside their names, renamed in only when the whole run succeeded.
            files = stack.enter_context(AtomicOutputs())
            out = _ledger_out(stack, files, ledger_path, fmt)
            rej = files.text(rejects)
            # Workers write Parquet ledger rows as JSON Lines parts; the rows are then
            # written here, in order, so the row groups fall as in one process.
            part_format = "jsonl" if fmt == "parquet" else fmt
            pending: deque[tuple[Chunk, str, Any]] = deque()
            seen = DealIds()  # deal id -> line, over every chunk written

            def write_next() -> None:
                chunk, part, future = pending.popleft()
                result = future.result()
                if not seen.isdisjoint(result.checked):
                    # A deal allocated by an earlier chunk (whether this chunk allocated or
                    # rejected its copy): this chunk again, here, with the ids seen so far,
                    # so that the copy is rejected as a duplicate, as in one process.
                    for name in (result.ledger, result.rejects):
                        os.remove(name)
                    result = allocate_chunk(path, ruleset.engine, content_hash, chunk,
                                            part_format, part, seen)
                else:
                    seen.merge(result.ids)
                _write(result, out, rej, summary)

            for chunk in todo:
                part = os.path.join(parts, f"{count:08d}")
                pending.append((chunk, part, client.submit(
                    allocate_chunk, path, ruleset.engine, content_hash, chunk, part_format,
                    part, pure=False)))
                count += 1
                while len(pending) >= window:
                    write_next()
            while pending:
                write_next()
    finally:
        shutil.rmtree(parts, ignore_errors=True)
    return FilesResult(summary, count)


def _ledger_out(stack: contextlib.ExitStack, files: AtomicOutputs, path: str, fmt: str
                ) -> Callable[[str], None]:
    """Opens the ledger (a text file with its CSV header, or a Parquet ledger writer) and
    returns what appends a worker's ledger part to it."""
    if fmt == "parquet":
        from creditrules.io.parquet import ParquetLedgerWriter

        sink = stack.enter_context(ParquetLedgerWriter(files.binary(path)))
        return lambda part: _feed(part, sink)
    out = files.text(path)
    LedgerWriter(out, fmt).header()
    out.flush()
    return lambda part: _copy(part, out)


def _copy(part: str, stream: IO[str]) -> None:
    stream.flush()
    with open(part, "rb") as src:
        shutil.copyfileobj(src, stream.buffer)  # type: ignore[attr-defined]
    os.remove(part)


def _feed(part: str, sink: LedgerSink) -> None:
    """A part written as JSON Lines (keys in column order) into a ledger sink, row by row."""
    with open(part, encoding="utf-8") as src:
        for lines in iter(lambda: list(itertools.islice(src, 4096)), []):
            sink.write([_row(line) for line in lines])
    os.remove(part)


def _row(line: str) -> Row:
    data = json.loads(line)
    return tuple(data[column] for column in LEDGER_COLUMNS)


def _write(result: ChunkResult, add_ledger: Callable[[str], None], rej: IO[str],
           summary: Summary) -> None:
    add_ledger(result.ledger)
    _copy(result.rejects, rej)
    summary.read += result.read
    summary.allocated += result.allocated
    summary.rejected += result.rejected
    for key, units in result.totals.items():
        summary.totals[key] = summary.totals.get(key, 0) + units
    for code, n in result.rejects_by_code.items():
        summary.rejects_by_code[code] = summary.rejects_by_code.get(code, 0) + n


# ---------------------------------------------------------------------------------------
# dask DataFrames

_LEDGER_META = pd.DataFrame({c: pd.Series(dtype=object) for c in LEDGER_COLUMNS})
_REJECT_META = pd.DataFrame({c: pd.Series(dtype="int64" if c == "line" else object)
                             for c in REJECT_COLUMNS})


def _frame_partition(ruleset_path: str, engine: str | None, content_hash: str,
                     frame: pd.DataFrame, first_line: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    ruleset = _ruleset(ruleset_path, engine, content_hash)
    return allocate_frame(ruleset, frame, first_line=first_line)


def allocate_dataframe(ruleset_path: str | os.PathLike[str], deals: dd.DataFrame, *,
                       engine: str | None = None) -> tuple[dd.DataFrame, dd.DataFrame]:
    """Allocate a dask DataFrame of deals partition by partition: ``(ledger, rejects)``.

    Rejections are numbered by the row's position in the whole DataFrame (from 1), so the
    result is the same however the deals are partitioned. The partition lengths are
    computed first (to number the rows); the allocation itself stays lazy.
    """
    path = os.fspath(ruleset_path)
    ruleset = creditrules.load(path, engine=engine)
    lengths = deals.map_partitions(len).compute()  # type: ignore[no-untyped-call]
    starts = [1]
    for n in lengths[:-1]:
        starts.append(starts[-1] + int(n))
    parts = deals.to_delayed()  # type: ignore[no-untyped-call]
    allocate = delayed(_frame_partition, nout=2, pure=True)
    results = [allocate(path, ruleset.engine, ruleset.content_hash, part, start)
               for part, start in zip(parts, starts, strict=True)]
    ledger = dd.from_delayed([r[0] for r in results], meta=_LEDGER_META, verify_meta=False)
    rejects = dd.from_delayed([r[1] for r in results], meta=_REJECT_META, verify_meta=False)
    return ledger, rejects


def write_rejections(rejections: Sequence[Rejection], stream: Any) -> None:
    """Write rejections as the rejects file does (one JSON line each)."""
    for r in rejections:
        write_rejection(stream, r)
