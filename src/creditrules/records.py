"""Reading deal records from JSON Lines, JSON, CSV or Parquet files, each with its line
number (for Parquet, its row number).

A record that cannot be read (malformed JSON, a CSV cell that is not what its column needs, a
Parquet value with no JSON equivalent) is not dropped: it comes out as a :class:`BadRecord`
with its line and reason, so a batch run can put it in its rejects. A file that cannot be
read at all raises :class:`InputError` (or :class:`OSError`).
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import IO, Any, BinaryIO

import attrs

from creditrules.errors import CreditRulesError
from creditrules.model import JsonFloat

__all__ = [
    "BadRecord",
    "InputError",
    "Record",
    "guess_format",
    "guess_ledger_format",
    "read_parquet",
    "read_records",
]

#: What to install for Parquet input and output.
PARQUET_EXTRA = "pip install 'creditrules[parquet]'"


@attrs.frozen
class Record:
    """One input record and where it was read."""

    line: int
    data: Any


@attrs.frozen
class BadRecord:
    """An input line that could not be read as a record."""

    line: int
    reason: str
    deal_id: str | None = None


class InputError(CreditRulesError):
    """A deals file (or ledger destination) that cannot be used at all: not a Parquet file,
    Parquet asked for without pyarrow installed, Parquet on standard input. Nothing was
    allocated. A single unreadable record is a :class:`BadRecord` instead."""


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def _loads(text: str) -> Any:
    # JSON numbers with a fraction or exponent are kept as JsonFloat text so the deal reader
    # can refuse them by name instead of converting them through float.
    return json.loads(text, parse_float=JsonFloat, parse_constant=_no_constant)


def read_records(stream: IO[str], fmt: str) -> Iterator[Record | BadRecord]:
    """Records from ``stream`` in format ``jsonl``, ``json`` (one deal or a list) or ``csv``.

    Parquet is binary and read from a file: see :func:`read_parquet`.
    """
    if fmt == "jsonl":
        yield from _jsonl(stream)
    elif fmt == "json":
        yield from _json(stream)
    elif fmt == "csv":
        yield from _csv(stream)
    elif fmt == "parquet":
        raise ValueError("Parquet is read from a file, not a text stream: use read_parquet")
    else:
        raise ValueError(f"unknown format {fmt!r}")


def read_parquet(source: str | os.PathLike[str] | BinaryIO, *,
                 row_groups: Iterable[int] | None = None) -> Iterator[Record | BadRecord]:
    """Records from a Parquet file (a path, or a seekable binary file), one per row, read
    batch by batch so that memory stays flat whatever the file's size.

    Each row becomes the mapping a JSON reader gives: struct columns become objects, list
    columns lists, map columns objects, dates ``"YYYY-MM-DD"`` text, decimal columns their
    exact decimal text, and a null value a missing key. Dotted column names
    (``account.owner``) nest, as in CSV. Float columns are not converted: their values reach
    the deal reader as JSON floats do, and are refused there by name (``float-amount`` for
    an amount). A record's ``line`` is its row number in the file, from 1, also when only
    some ``row_groups`` are read. A row that cannot be converted is a :class:`BadRecord`.

    The file is opened now: a missing file raises :class:`OSError`, one that is not Parquet
    (or pyarrow not installed: ``pip install 'creditrules[parquet]'``) :class:`InputError`.
    """
    need_pyarrow()
    from creditrules.parquet import _read_parquet

    return _read_parquet(source, row_groups)


def need_pyarrow() -> None:
    """Raise :class:`InputError` naming the extra to install unless pyarrow imports."""
    try:
        import pyarrow.parquet  # noqa: F401
    except ModuleNotFoundError as exc:
        raise InputError(f"Parquet needs pyarrow, which is not installed: {PARQUET_EXTRA}"
                         ) from exc


def guess_format(name: str) -> str:
    """The input format implied by a file name (JSON Lines unless it says otherwise)."""
    lower = name.lower()
    if lower.endswith(".csv"):
        return "csv"
    if lower.endswith(".json"):
        return "json"
    if lower.endswith(".parquet"):
        return "parquet"
    return "jsonl"


def guess_ledger_format(name: str | None) -> str:
    """The ledger format implied by the ledger's file name: ``csv``, ``parquet``, else
    ``jsonl`` (also for no name: standard output)."""
    lower = (name or "").lower()
    if lower.endswith(".csv"):
        return "csv"
    if lower.endswith(".parquet"):
        return "parquet"
    return "jsonl"


def _jsonl(stream: IO[str]) -> Iterator[Record | BadRecord]:
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            yield Record(number, _loads(line))
        except (ValueError, RecursionError) as exc:
            yield BadRecord(number, f"malformed JSON: {exc}")


def _json(stream: IO[str]) -> Iterator[Record | BadRecord]:
    text = stream.read()
    try:
        data = _loads(text)
    except (ValueError, RecursionError) as exc:
        yield BadRecord(1, f"malformed JSON: {exc}")
        return
    items = data if isinstance(data, list) else [data]
    for item in items:
        yield Record(1, item)


_JSON_COLUMNS = ("reps", "activities", "expenses")
_BOOL_COLUMNS = ("account.named",)


def _csv(stream: IO[str]) -> Iterator[Record | BadRecord]:
    """CSV: one deal a row; dotted column names for nested fields (``account.owner``),
    JSON arrays in the ``reps``, ``activities`` and ``expenses`` cells, ``true``/``false``
    for booleans, empty cells for missing values. Amounts stay text (exact)."""
    reader = csv.reader(stream)
    try:
        header = next(reader)
    except StopIteration:
        return
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            yield BadRecord(line, f"expected {len(header)} cells, got {len(row)}")
            continue
        record: dict[str, Any] = {}
        try:
            for name, cell in zip(header, row, strict=True):
                if cell == "":
                    continue
                value: Any = cell
                if name in _JSON_COLUMNS:
                    value = _loads(cell)
                elif name in _BOOL_COLUMNS:
                    value = _csv_bool(cell, name)
                target = record
                parts = name.split(".")
                for part in parts[:-1]:
                    target = target.setdefault(part, {})
                target[parts[-1]] = value
        except ValueError as exc:
            yield BadRecord(line, str(exc), record.get("id"))
            continue
        yield Record(line, record)


def _csv_bool(cell: str, name: str) -> bool:
    if cell in ("true", "false"):
        return cell == "true"
    raise ValueError(f"column {name}: expected true or false, got {cell!r}")


def dumps(data: Any) -> str:
    """Canonical one-line JSON (sorted keys) for output records."""
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                      default=_default)


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__}")

