"""Parquet deal files in, Parquet ledgers out (``pip install 'creditrules[parquet]'``).

Parquet cannot be read or written without a real implementation of the format, so this
module uses pyarrow, the reference one. It is imported only when Parquet is asked for.

Reading (:func:`read_parquet`): each row becomes the mapping a JSON
reader gives for the same deal, so the deal reader sees no difference. Values are never
converted through a binary float: decimal columns give their exact decimal text, and float
columns are handed on as JSON float text (:class:`~creditrules.allocation.model.JsonFloat`),
which the deal reader refuses by name, as it refuses ``450.75`` in JSON.

Writing (:class:`ParquetLedgerWriter`): the ledger's columns (:data:`LEDGER_COLUMNS
<creditrules.io.batch.LEDGER_COLUMNS>`), in order, all text: shares are exact fractions
(``1/3``) and amounts the same decimal text as in the JSON Lines ledger, exact for every
ruleset. Rows are written in row groups of a fixed number of rows, so memory stays flat and
the same rows always give the same bytes (with the same pyarrow version), however they were
chunked on the way in.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from types import TracebackType
from typing import IO, Any, BinaryIO

from creditrules.allocation.ledger import LEDGER_COLUMNS, Row
from creditrules.allocation.model import JsonFloat
from creditrules.io.records import PARQUET_EXTRA, BadRecord, InputError, Record

try:
    import pyarrow as pa
    import pyarrow.parquet as pq
except ModuleNotFoundError as exc:  # pragma: no cover - exercised without the extra
    raise ModuleNotFoundError(f"creditrules.io.parquet needs pyarrow: {PARQUET_EXTRA}",
                              name=exc.name) from exc

__all__ = [
    "LEDGER_SCHEMA",
    "ROW_GROUP_ROWS",
    "ParquetLedgerWriter",
    "read_parquet",
    "row_group_spans",
]

#: Ledger rows per row group: big enough for column statistics and compression to pay,
#: small enough that the buffered rows stay a few megabytes.
ROW_GROUP_ROWS = 32_768

#: The ledger's Parquet schema: every column of LEDGER_COLUMNS, in order, as nullable text.
LEDGER_SCHEMA = pa.schema([pa.field(name, pa.string()) for name in LEDGER_COLUMNS])

#: Rows converted to Python at a time when reading: a row group is decoded anyway, this only
#: bounds the Python objects alive at once.
READ_BATCH_ROWS = 4_096

Convert = Callable[[Any], Any]


# ---------------------------------------------------------------------------------------
# Reading


def _open(source: str | os.PathLike[str] | BinaryIO) -> tuple[pq.ParquetFile, str]:
    """The Parquet file, opened now (so a bad file fails before anything is written)."""
    if isinstance(source, str | os.PathLike):
        name = os.fspath(source)
        # pyarrow's own errors carry no file name; check here for the usual OSError.
        os.stat(name)
        if os.path.isdir(name):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), name)
    else:
        name = str(getattr(source, "name", "<stream>"))
    try:
        return pq.ParquetFile(source), name
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise InputError(f"{name}: not a Parquet file ({exc})") from None


def _read_parquet(source: str | os.PathLike[str] | BinaryIO,
                  row_groups: Iterable[int] | None) -> Iterator[Record | BadRecord]:
    """See :func:`read_parquet`."""
    parquet, name = _open(source)
    metadata = parquet.metadata
    count = metadata.num_row_groups
    starts = [1]  # the file's row number of each row group's first row
    for i in range(count):
        starts.append(starts[-1] + metadata.row_group(i).num_rows)
    groups = list(range(count)) if row_groups is None else [int(g) for g in row_groups]
    for group in groups:
        if not 0 <= group < count:
            raise ValueError(f"{name}: no row group {group} (the file has {count})")
    schema = parquet.schema_arrow
    columns = [n for n in schema.names if n not in _pandas_index_columns(schema)]
    return _rows(parquet, name, groups, starts, columns)


def _pandas_index_columns(schema: pa.Schema) -> set[str]:
    """Columns pandas stored for a DataFrame's index: not deal fields, so not read."""
    try:
        meta = schema.pandas_metadata or {}
        return {c for c in meta.get("index_columns", ()) if isinstance(c, str)}
    except (ValueError, AttributeError, TypeError):  # metadata not written by pandas after all
        return set()


def _rows(parquet: pq.ParquetFile, name: str, groups: list[int], starts: list[int],
          columns: list[str]) -> Iterator[Record | BadRecord]:
    reader = _RowReader()
    try:
        for group in groups:
            line = starts[group]
            try:
                for batch in parquet.iter_batches(batch_size=READ_BATCH_ROWS,
                                                  row_groups=[group], columns=columns,
                                                  use_pandas_metadata=False):
                    yield from reader.batch(batch, line)
                    line += batch.num_rows
            except (pa.ArrowException, OSError) as exc:
                # A damaged page cannot be skipped row by row: the file is unreadable here.
                raise InputError(f"{name}: cannot read row group {group} (rows from "
                                 f"{line}): {exc}") from None
    finally:
        parquet.close()


class _ColumnError(Exception):
    def __init__(self, column: str, error: Exception) -> None:
        super().__init__(column, error)
        self.column = column
        self.error = error


_CONVERSION_ERRORS = (ValueError, TypeError, OverflowError, ArithmeticError, pa.ArrowException)


class _RowReader:
    """Turns record batches into records; the per-column converters are built once per
    schema (from the Arrow types, so that a map is told from a list of pairs)."""

    def __init__(self) -> None:
        self.schema: pa.Schema | None = None
        self.names: list[tuple[str, list[str]]] = []
        self.converters: list[Convert | None] = []
        self.id_column: int | None = None

    def _prepare(self, schema: pa.Schema) -> None:
        if self.schema is not None and self.schema.equals(schema):
            return
        self.schema = schema
        self.names = [(f.name, f.name.split(".")) for f in schema]
        self.converters = [_converter(f.type) for f in schema]
        self.id_column = schema.names.index("id") if "id" in schema.names else None

    def batch(self, batch: pa.RecordBatch, line: int) -> Iterator[Record | BadRecord]:
        self._prepare(batch.schema)
        try:
            columns = [column.to_pylist() for column in batch.columns]
        except _CONVERSION_ERRORS:
            # Some value has no Python equivalent (a date past year 9999...): find its row.
            for i in range(batch.num_rows):
                yield self._single(batch.slice(i, 1), line + i)
            return
        # Without columns zip() would yield nothing: each row is still a record (of nothing).
        rows = zip(*columns, strict=True) if columns else [()] * batch.num_rows
        for i, values in enumerate(rows):
            yield self.record(values, line + i)

    def _single(self, row: pa.RecordBatch, line: int) -> Record | BadRecord:
        values = []
        for (name, _), column in zip(self.names, row.columns, strict=True):
            try:
                values.append(column.to_pylist()[0])
            except _CONVERSION_ERRORS as exc:
                deal_id = None
                if self.id_column is not None:
                    with contextlib.suppress(*_CONVERSION_ERRORS):
                        deal_id = _deal_id(row.column(self.id_column).to_pylist()[0])
                return BadRecord(line, f"column {name}: {exc}", deal_id)
        return self.record(values, line)

    def record(self, values: Sequence[Any], line: int) -> Record | BadRecord:
        data: dict[str, Any] = {}
        try:
            for (name, parts), convert, value in zip(self.names, self.converters, values,
                                                     strict=True):
                if value is None:  # null: a missing key, as in JSON
                    continue
                if convert is not None:
                    try:
                        value = convert(value)
                    except _CONVERSION_ERRORS as exc:
                        raise _ColumnError(name, exc) from None
                target = data
                for part in parts[:-1]:
                    target = target.setdefault(part, {})
                    if not isinstance(target, dict):
                        raise _ColumnError(name, ValueError(f"{part} is not an object"))
                target[parts[-1]] = value
        except _ColumnError as exc:
            deal_id = None if self.id_column is None else _deal_id(values[self.id_column])
            return BadRecord(line, f"column {exc.column}: {exc.error}", deal_id)
        return Record(line, data)


def _deal_id(value: Any) -> str | None:
    return str(value) if isinstance(value, str | int) and not isinstance(value, bool) else None


def _converter(t: pa.DataType) -> Convert | None:
    """How to turn a Python value of Arrow type ``t`` into its JSON shape (None: as is)."""
    types = pa.types
    if types.is_dictionary(t):
        return _converter(t.value_type)
    if (types.is_string(t) or types.is_large_string(t) or types.is_string_view(t)
            or types.is_boolean(t) or types.is_integer(t) or types.is_null(t)):
        return None
    if types.is_decimal(t):
        return _decimal_text
    if types.is_floating(t):
        return _float_text
    if types.is_date(t) or types.is_timestamp(t) or types.is_time(t):
        return _iso_text
    if (types.is_binary(t) or types.is_large_binary(t) or types.is_binary_view(t)
            or types.is_fixed_size_binary(t)):
        return _utf8_text
    if types.is_struct(t):
        return _struct([(t.field(i).name, _converter(t.field(i).type))
                        for i in range(t.num_fields)])
    if types.is_map(t):
        return _map(_converter(t.key_type), _converter(t.item_type))
    if (types.is_list(t) or types.is_large_list(t) or types.is_fixed_size_list(t)
            or types.is_list_view(t) or types.is_large_list_view(t)):
        return _list(_converter(t.value_type))
    return _unsupported(t)


def _decimal_text(value: Any) -> str:
    # Fixed-point text, never an exponent (str() writes a decimal(20, 10) zero as 0E-10).
    return format(value, "f")


def _float_text(value: Any) -> JsonFloat:
    # Only its text is kept, as the JSON reader keeps 450.75: the deal reader refuses it.
    return JsonFloat(repr(value))  # pyarrow gives a Python float for every float type


def _iso_text(value: Any) -> str:
    return str(value.isoformat())


def _utf8_text(value: Any) -> str:
    try:
        return bytes(value).decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("binary value is not UTF-8 text") from None


def _struct(fields: list[tuple[str, Convert | None]]) -> Convert:
    subs = {key: sub for key, sub in fields if sub is not None}
    if not subs:
        # The common case (text, numbers, booleans): only drop the nulls, a null field
        # being a missing key.
        return lambda value: {k: v for k, v in value.items() if v is not None}

    def convert(value: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, item in value.items():
            if item is not None:
                sub = subs.get(key)
                out[key] = item if sub is None else sub(item)
        return out
    return convert


def _map(key: Convert | None, item: Convert | None) -> Convert:
    def convert(value: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in value:
            k = k if key is None else key(k)
            if not isinstance(k, str):
                raise ValueError(f"map keys must be text, got {k!r}")
            if v is not None:
                out[k] = v if item is None else item(v)
        return out
    return convert


def _list(item: Convert | None) -> Convert | None:
    if item is None:
        return None
    sub = item

    def convert(value: Any) -> list[Any]:
        return [None if v is None else sub(v) for v in value]
    return convert


def _unsupported(t: pa.DataType) -> Convert:
    def convert(value: Any) -> Any:
        raise ValueError(f"{t} values have no JSON equivalent")
    return convert


def row_group_spans(path: str | os.PathLike[str], rows: int) -> list[tuple[int, int, int]]:
    """Consecutive row groups of a Parquet file gathered into spans of at least ``rows``
    rows (the last may be shorter): ``(first group, end group, first row)`` each, rows
    numbered from 1. One span, ``(0, 0, 1)``, for a file without row groups."""
    parquet, _ = _open(path)
    try:
        metadata = parquet.metadata
        spans: list[tuple[int, int, int]] = []
        start, first, line, count = 0, 1, 1, 0
        for group in range(metadata.num_row_groups):
            count += metadata.row_group(group).num_rows
            line += metadata.row_group(group).num_rows
            if count >= rows:
                spans.append((start, group + 1, first))
                start, first, count = group + 1, line, 0
        if start < metadata.num_row_groups or not spans:
            spans.append((start, metadata.num_row_groups, first))
        return spans
    finally:
        parquet.close()


# ---------------------------------------------------------------------------------------
# Writing


class ParquetLedgerWriter:
    """A ledger sink (:class:`creditrules.io.batch.LedgerSink`) writing Parquet: the columns of
    :data:`~creditrules.io.batch.LEDGER_COLUMNS` in order, all text (``None`` is null).

    Rows are buffered and written in row groups of exactly ``row_group_rows`` rows (the last
    one shorter), so the file's bytes depend only on the rows, never on how they were passed
    in. ``where`` is a path (the file is created now) or a writable binary file, which stays
    the caller's to close. Call :meth:`close` (or use ``with``) to write the last row group
    and the footer: a Parquet file is unreadable without it.
    """

    def __init__(self, where: str | os.PathLike[str] | IO[bytes], *,
                 row_group_rows: int = ROW_GROUP_ROWS) -> None:
        if row_group_rows < 1:
            raise ValueError("row_group_rows must be at least 1")
        self.row_group_rows = row_group_rows
        self.rows_written = 0
        self._rows: list[Row] = []
        # Opened in Python so that an unwritable path raises the usual OSError, with its name.
        self._own: IO[bytes] | None = None
        if isinstance(where, str | os.PathLike):
            self._own = where = open(where, "wb")  # noqa: SIM115  (closed by close())
        try:
            # Settings spelled out so that the bytes do not follow pyarrow's defaults.
            self._writer = pq.ParquetWriter(where, LEDGER_SCHEMA, compression="snappy",
                                            version="2.6", use_dictionary=True,
                                            write_statistics=True)
        except BaseException:
            if self._own is not None:
                self._own.close()
            raise
        self.closed = False

    def header(self) -> None:
        """Nothing to do: the schema goes into the footer, written by :meth:`close`."""

    def write(self, rows: list[Row]) -> None:
        """Buffer ``rows``, writing each full row group."""
        if self.closed:
            raise ValueError("the Parquet ledger is closed")
        width = len(LEDGER_COLUMNS)
        for row in rows:
            if len(row) != width:
                raise ValueError(f"a ledger row has {width} values, got {len(row)}")
        self._rows.extend(rows)
        while len(self._rows) >= self.row_group_rows:
            self._flush(self.row_group_rows)

    def _flush(self, count: int) -> None:
        group = self._rows[:count]
        del self._rows[:count]
        columns = list(zip(*group, strict=True))
        table = pa.Table.from_arrays(
            [pa.array(column, type=pa.string()) for column in columns], schema=LEDGER_SCHEMA)
        self._writer.write_table(table, row_group_size=count)
        self.rows_written += count

    def close(self) -> None:
        """Write the buffered rows and the footer (once; later calls do nothing)."""
        if self.closed:
            return
        self.closed = True
        try:
            if self._rows:
                self._flush(len(self._rows))
            self._writer.close()
        finally:
            if self._own is not None:
                self._own.close()

    def __enter__(self) -> ParquetLedgerWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


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
    return _read_parquet(source, row_groups)
