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
from collections.abc import Iterator
from decimal import Decimal
from typing import IO, Any

import attrs

from creditrules.allocation.model import JsonFloat
from creditrules.base._money import MAX_AMOUNT_CHARS
from creditrules.errors import CreditRulesError

__all__ = [
    "MAX_CSV_RECORD_LINES",
    "MAX_DEPTH",
    "MAX_JSON_FILE_BYTES",
    "MAX_RECORD_BYTES",
    "BadRecord",
    "InputError",
    "Record",
    "guess_format",
    "guess_ledger_format",
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
    #: The reject code: ``unreadable`` (malformed), ``not-utf8``, ``too-large``,
    #: ``too-deep``, ``duplicate-key`` or ``unterminated-quote``.
    code: str = "unreadable"


class InputError(CreditRulesError):
    """A deals file (or ledger destination) that cannot be used at all: not a Parquet file,
    Parquet asked for without pyarrow installed, a CSV header that cannot be read, a text
    stream that is not UTF-8. A single unreadable record is a :class:`BadRecord` instead."""


#: Limits, checked before a record is built (see docs/reference/deals.md).
#: A JSON Lines line, or a CSV record, longer than this is rejected unread.
MAX_RECORD_BYTES = 8 * 1024 * 1024
#: A JSON file (one deal or a list) longer than this is refused whole: use JSON Lines.
MAX_JSON_FILE_BYTES = 64 * 1024 * 1024
#: Objects and lists nested deeper than this in a record are refused.
MAX_DEPTH = 64
#: A quoted CSV cell may span lines, but a record of more lines than this is taken for an
#: unterminated quote: the record is rejected and reading resumes on its next line.
MAX_CSV_RECORD_LINES = 100

_BOM = b"\xef\xbb\xbf"


class _Refused(ValueError):
    """A value the JSON reader refuses, with its reject code."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


def _no_constant(name: str) -> Any:
    raise _Refused(f"{name} is not a number", "unreadable")


def _integer(text: str) -> int:
    # Checked before int() converts it: Python's own limit raises an unlocated ValueError.
    digits = len(text) - text.startswith("-")
    if digits > MAX_AMOUNT_CHARS:
        raise _Refused(f"a number of {digits:,} digits (the limit is {MAX_AMOUNT_CHARS:,})",
                       "too-large")
    return int(text)


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                # Keeping the last (as json does) would silently read another deal.
                raise _Refused(f"duplicate key {key!r}", "duplicate-key")
            seen.add(key)
    return obj


# JSON numbers with a fraction or exponent are kept as JsonFloat text so the deal reader can
# refuse them by name instead of converting them through float. Decoders built once (json.loads
# with options builds one a call); integers are only checked in text long enough to hold one
# over the limit.
_DECODE = json.JSONDecoder(parse_float=JsonFloat, parse_constant=_no_constant,
                           object_pairs_hook=_object).decode
_DECODE_LONG = json.JSONDecoder(parse_float=JsonFloat, parse_constant=_no_constant,
                                parse_int=_integer, object_pairs_hook=_object).decode


def _loads(text: str) -> Any:
    return (_DECODE_LONG if len(text) > MAX_AMOUNT_CHARS else _DECODE)(text)


def _depth(value: Any) -> int:
    """How deeply lists and objects nest in ``value`` (0 for a scalar), without recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if level > MAX_DEPTH:
                break
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, level + 1) for child in children)
    return deepest


def _parse(line: int, text: str) -> Record | BadRecord:
    """One JSON value, or why it cannot be read."""
    try:
        data = _loads(text)
    except _Refused as exc:
        return BadRecord(line, str(exc), None, exc.code)
    except (ValueError, RecursionError) as exc:
        return BadRecord(line, f"malformed JSON: {exc}")
    # Only a record with many brackets can nest deeply: count them first (cheap).
    if text.count("{") + text.count("[") > MAX_DEPTH and _depth(data) > MAX_DEPTH:
        return BadRecord(line, f"nested more than {MAX_DEPTH} levels deep", _record_id(data),
                         "too-deep")
    return Record(line, data)


def _record_id(data: Any) -> str | None:
    value = data.get("id") if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


def read_records(stream: IO[bytes] | IO[str], fmt: str) -> Iterator[Record | BadRecord]:
    """Records from ``stream`` in format ``jsonl``, ``json`` (one deal or a list) or ``csv``.

    Give a binary stream (``open(path, "rb")``): each record is then decoded on its own, so
    a byte that is not UTF-8 rejects its record only. A text stream also works, but a
    decoding error in it stops the reading (:class:`InputError`). Whatever the bytes, every
    record comes out as a :class:`Record` or a :class:`BadRecord` with its line and reason:
    see the limits in docs/reference/deals.md. A leading byte order mark is skipped.

    Parquet is binary and read from a file: see :func:`creditrules.io.parquet.read_parquet`.
    """
    if fmt == "jsonl":
        return _jsonl(stream)
    if fmt == "json":
        return _json(stream)
    if fmt == "csv":
        return _csv(stream)
    if fmt == "parquet":
        raise ValueError("Parquet is read from a file, not a text stream: use read_parquet")
    raise ValueError(f"unknown format {fmt!r}")


def _raw_lines(stream: IO[bytes] | IO[str], *, bom: bool = True) -> Iterator[bytes | None]:
    """The physical lines of ``stream`` (split on LF only, ends kept) as bytes, without a
    leading byte order mark (``bom=False``: the stream starts mid-file, where one is read as
    text); ``None`` for a line over :data:`MAX_RECORD_BYTES`, skipped without being kept in
    memory."""
    readline = stream.readline
    first = bom
    while True:
        try:
            chunk = readline(MAX_RECORD_BYTES + 1)
        except UnicodeDecodeError as exc:
            raise InputError(f"input is not UTF-8 text ({exc.reason}); read it as bytes "
                             "to reject only the records concerned") from None
        if not chunk:
            return
        raw = _encode(chunk) if isinstance(chunk, str) else chunk
        if first:
            first = False
            if raw.startswith(_BOM):
                raw = raw[len(_BOM):]
        if len(raw) > MAX_RECORD_BYTES and not raw.endswith(b"\n"):
            while True:  # the rest of the line, read and dropped in bounded pieces
                more = readline(65536)
                if not more or (more[-1:] in ("\n", b"\n")):
                    break
            yield None
            continue
        yield raw


def _encode(text: str) -> bytes:
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate: give bytes that will not decode
        return text.encode("utf-8", "surrogatepass")


def _too_large(line: int) -> BadRecord:
    return BadRecord(line, f"record over the {MAX_RECORD_BYTES:,}-byte limit (not read)",
                     None, "too-large")


def _not_utf8(line: int, exc: UnicodeDecodeError, offset: int = 0) -> BadRecord:
    return BadRecord(line, f"not UTF-8 text: byte 0x{exc.object[exc.start]:02x} at byte "
                     f"{offset + exc.start + 1} of the line", None, "not-utf8")


def _jsonl(stream: IO[bytes] | IO[str], *, line: int = 1) -> Iterator[Record | BadRecord]:
    """JSON Lines; ``line`` > 1: the stream is a part of a file starting at that line."""
    for number, raw in enumerate(_raw_lines(stream, bom=line == 1), start=line):
        if raw is None:
            yield _too_large(number)
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield _not_utf8(number, exc)
            continue
        if text.strip():
            yield _parse(number, text)


def _json(stream: IO[bytes] | IO[str]) -> Iterator[Record | BadRecord]:
    try:
        content = stream.read(MAX_JSON_FILE_BYTES + 1)
    except UnicodeDecodeError as exc:
        raise InputError(f"input is not UTF-8 text ({exc.reason})") from None
    raw = _encode(content) if isinstance(content, str) else content
    if len(raw) > MAX_JSON_FILE_BYTES:
        yield BadRecord(1, f"a JSON file over the {MAX_JSON_FILE_BYTES:,}-byte limit (not "
                        "read); give many deals as JSON Lines", None, "too-large")
        return
    raw = raw.removeprefix(_BOM)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        yield _not_utf8(line, exc, -(raw.rfind(b"\n", 0, exc.start) + 1))
        return
    parsed = _parse(1, text)
    if isinstance(parsed, BadRecord) or not isinstance(parsed.data, list):
        yield parsed
        return
    for item in parsed.data:
        yield Record(1, item)


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


_JSON_COLUMNS = ("reps", "activities", "expenses")
_BOOL_COLUMNS = ("account.named",)


class _RecordTooLong(Exception):
    """A CSV record ran over :data:`MAX_CSV_RECORD_LINES` lines or :data:`MAX_RECORD_BYTES`."""


class _LineTooLong(Exception):
    """A physical line over :data:`MAX_RECORD_BYTES` reached the CSV parser."""


class _CsvLines:
    """The physical lines fed to the csv parser, decoded one by one, remembering those of
    the record being parsed so that, when it turns out unreadable (an unterminated quote),
    the lines after its first can be read again as records of their own."""

    def __init__(self, stream: IO[bytes] | IO[str]) -> None:
        self.source = enumerate(_raw_lines(stream), start=1)
        self.again: list[tuple[int, bytes | None]] = []  # to read again, last first
        self.taken: list[tuple[int, bytes | None]] = []  # the current record's lines
        self.size = 0
        self.bad_utf8: UnicodeDecodeError | None = None

    def start(self) -> None:
        self.taken = []
        self.size = 0
        self.bad_utf8 = None

    def __iter__(self) -> _CsvLines:
        return self

    def __next__(self) -> str:
        if len(self.taken) >= MAX_CSV_RECORD_LINES or self.size > MAX_RECORD_BYTES:
            raise _RecordTooLong
        number, raw = self.again.pop() if self.again else next(self.source)
        self.taken.append((number, raw))
        if raw is None:
            raise _LineTooLong
        self.size += len(raw)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            # Parsed anyway (so the record ends where it should), and then rejected.
            if self.bad_utf8 is None:
                self.bad_utf8 = exc
            return raw.decode("utf-8", "surrogateescape")

    def retry_after_first(self) -> None:
        """Read the current record's lines after its first again, as new records."""
        self.again.extend(reversed(self.taken[1:]))

    @property
    def line(self) -> int:
        return self.taken[0][0] if self.taken else 0


def _csv(stream: IO[bytes] | IO[str]) -> Iterator[Record | BadRecord]:
    """CSV: one deal a row; dotted column names for nested fields (``account.owner``),
    JSON arrays in the ``reps``, ``activities`` and ``expenses`` cells, ``true``/``false``
    for booleans, empty cells for missing values. Amounts stay text (exact).

    Quotes are strict (an unterminated quote, or text after a closing quote, rejects the
    record); a record is bounded (:data:`MAX_RECORD_BYTES`, :data:`MAX_CSV_RECORD_LINES`,
    and the csv module's cell limit, ``csv.field_size_limit()``)."""
    lines = _CsvLines(stream)
    reader = csv.reader(lines, strict=True)
    header = None
    while True:
        lines.start()
        try:
            row = next(reader)
        except StopIteration:
            return
        except (csv.Error, _RecordTooLong, _LineTooLong) as exc:
            if header is None:
                raise InputError(f"line {lines.line or 1}: unreadable CSV header "
                                 f"({_csv_problem(exc, lines)[0]})") from None
            reason, code = _csv_problem(exc, lines)
            yield BadRecord(lines.line, reason, None, code)
            if len(lines.taken) > 1:
                lines.retry_after_first()
            continue
        line = lines.line
        if lines.bad_utf8 is not None:
            if header is None:
                raise InputError(f"line {line}: the CSV header is not UTF-8 text")
            yield _not_utf8(line, lines.bad_utf8)
            continue
        if header is None:
            header = row
            if len(set(header)) != len(header):
                twice = sorted({name for name in header if header.count(name) > 1})
                raise InputError(f"line {line}: the CSV header names {', '.join(twice)} "
                                 "more than once")
            continue
        if not any(cell.strip() for cell in row):
            continue
        yield _csv_record(line, header, row)


def _csv_problem(exc: Exception, lines: _CsvLines) -> tuple[str, str]:
    """The reason and code of a CSV record that could not be parsed."""
    if isinstance(exc, _LineTooLong) or (isinstance(exc, _RecordTooLong)
                                         and lines.size > MAX_RECORD_BYTES):
        return f"record over the {MAX_RECORD_BYTES:,}-byte limit (not read)", "too-large"
    if isinstance(exc, _RecordTooLong) or "unexpected end of data" in str(exc):
        return (f"unterminated quoted cell (its quote is still open {len(lines.taken)} "
                "line(s) on); reading resumes on the next line", "unterminated-quote")
    return f"unreadable CSV: {exc}", "unreadable"


def _csv_record(line: int, header: list[str], row: list[str]) -> Record | BadRecord:
    if len(row) != len(header):
        return BadRecord(line, f"expected {len(header)} cells, got {len(row)}")
    record: dict[str, Any] = {}
    try:
        for name, cell in zip(header, row, strict=True):
            if cell == "":
                continue
            value: Any = cell
            if name in _JSON_COLUMNS:
                value = _loads(cell)
                if _depth(value) > MAX_DEPTH:
                    raise _Refused(f"nested more than {MAX_DEPTH} levels deep", "too-deep")
            elif name in _BOOL_COLUMNS:
                value = _csv_bool(cell, name)
            target = record
            parts = name.split(".")
            for part in parts[:-1]:
                target = target.setdefault(part, {})
                if not isinstance(target, dict):
                    raise ValueError(f"column {name}: {part} is not an object")
            target[parts[-1]] = value
    except _Refused as exc:
        return BadRecord(line, f"column {name}: {exc}", _record_id(record), exc.code)
    except (ValueError, RecursionError) as exc:
        return BadRecord(line, str(exc), _record_id(record))
    return Record(line, record)


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

