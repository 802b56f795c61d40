"""Reading deal records from JSON Lines, JSON or CSV files, each with its line number.

A record that cannot be read (malformed JSON, a CSV cell that is not what its column needs)
is not dropped: it comes out as a :class:`BadRecord` with its line and reason, so a batch
run can put it in its rejects.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import IO, Any

import attrs

from creditrules.model import JsonFloat

__all__ = ["BadRecord", "Record", "read_records"]


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


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def _loads(text: str) -> Any:
    # JSON numbers with a fraction or exponent are kept as JsonFloat text so the deal reader
    # can refuse them by name instead of converting them through float.
    return json.loads(text, parse_float=JsonFloat, parse_constant=_no_constant)


def read_records(stream: IO[str], fmt: str) -> Iterator[Record | BadRecord]:
    """Records from ``stream`` in format ``jsonl``, ``json`` (one deal or a list) or ``csv``."""
    if fmt == "jsonl":
        yield from _jsonl(stream)
    elif fmt == "json":
        yield from _json(stream)
    elif fmt == "csv":
        yield from _csv(stream)
    else:
        raise ValueError(f"unknown format {fmt!r}")


def guess_format(name: str) -> str:
    """The input format implied by a file name (JSON Lines unless it says otherwise)."""
    lower = name.lower()
    if lower.endswith(".csv"):
        return "csv"
    if lower.endswith(".json"):
        return "json"
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

