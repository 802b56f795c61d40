"""Batch allocation: many deals in, a ledger out, nothing lost.

Every input record ends either *allocated* (its ledger rows are written) or *rejected* (a
:class:`Rejection` with its line number, deal id, code and reason): a bad record never stops
a batch, and ``read == allocated + rejected`` always holds. Results stream in input order,
and nothing about one deal outlives it (the caches are bounded), so memory stays flat
however many deals pass.

The ledger has one row per deal, credit type, partner and rep (a partner without reps on
the deal gets one row with no rep), plus one row per share of each entertainment expense and
one for its excess; :data:`LEDGER_COLUMNS` lists the columns. Rows are the same whether they
come from the one allocation pipeline, whether a batch or :meth:`Ruleset.allocate` asked:
see :func:`ledger_rows`.

Python use::

    for result in ruleset.allocate_many(deals):      # input order, lazily
        if isinstance(result, Rejection): ...
        else: ...                                   # an Allocation

    with open("ledger.csv", "w", newline="") as out:
        summary = run_batch(ruleset, read_records(open("deals.jsonl"), "jsonl"),
                            LedgerWriter(out, "csv"), rejects=None)
"""

from __future__ import annotations

import csv
import json
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import IO, TYPE_CHECKING, Any, Protocol, TypeVar

import attrs

from creditrules.agreement.ruleset import provide
from creditrules.allocation.ledger import LEDGER_COLUMNS as LEDGER_COLUMNS
from creditrules.allocation.ledger import Row as Row
from creditrules.allocation.ledger import expense_rows as expense_rows
from creditrules.allocation.ledger import ledger_rows as ledger_rows
from creditrules.allocation.ledger import policy_text as policy_text
from creditrules.allocation.model import Deal
from creditrules.allocation.results import Allocation, ExpenseShare
from creditrules.base._money import from_units, to_units
from creditrules.errors import CreditRulesError
from creditrules.io._deal_ids import DealIds
from creditrules.io.records import BadRecord, Record, dumps

if TYPE_CHECKING:
    from creditrules.agreement.ruleset import Ruleset
    from creditrules.allocation._pipeline import ComputedDeal, Pipeline

__all__ = [
    "DUPLICATE_POLICIES",
    "LEDGER_COLUMNS",
    "NUMERIC_COLUMNS",
    "AllocationWriter",
    "BatchAllocator",
    "LedgerRows",
    "LedgerSink",
    "LedgerWriter",
    "Rejection",
    "Row",
    "Summary",
    "allocate_many",
    "ledger_rows",
    "neutralise",
    "run_batch",
]


#: What :class:`BatchAllocator` does with a deal id already allocated in the run.
DUPLICATE_POLICIES = ("reject", "allow")

_T = TypeVar("_T")


@attrs.frozen
class Rejection:
    """A record that was not allocated: where it was, which deal, and why.

    ``line`` is the input line (the record's position, from 1, for a Python iterable);
    ``code`` is stable (``unreadable``, ``float-amount``, ``unknown-partner``, ``ambiguous``,
    ...) and ``reason`` is the readable message.
    """

    line: int
    deal_id: str | None
    code: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """The reject row as written to a rejects file."""
        return {"line": self.line, "deal": self.deal_id, "code": self.code,
                "reason": self.reason}


# ---------------------------------------------------------------------------------------
# Allocating records


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _record_id(data: Any) -> str | None:
    if isinstance(data, Deal):
        return data.id
    return _text(data.get("id")) if isinstance(data, Mapping) else None


def _rejection(line: int, data: Any, exc: CreditRulesError) -> Rejection:
    deal_id = getattr(exc, "deal_id", None) or _record_id(data)
    code = getattr(exc, "code", None) or "error"
    return Rejection(line, deal_id, str(code), str(exc))


Item = Record | BadRecord | Deal | Mapping[str, Any]


class BatchAllocator:
    """Allocates records one at a time for a batch, through the ruleset's one allocation
    pipeline (without explanations), and keeps the counts and totals of a :class:`Summary`.

    ``duplicates`` says what becomes of a record whose deal id was already allocated by this
    allocator: ``"reject"`` (what a batch run does: :func:`run_batch`, :func:`allocate_many`)
    rejects it (code ``duplicate-id``, naming the first line), so no deal is credited
    twice; ``"allow"`` (the default here, a record at a time) allocates it again. Only
    allocated deals count: a rejected record does not claim its id. The ids are kept for
    the allocator's life, in a compact store (31 to 37 bytes each for ids of 11
    characters).
    """

    def __init__(self, ruleset: Ruleset, *, duplicates: str = "allow") -> None:
        if duplicates not in DUPLICATE_POLICIES:
            raise ValueError(f"duplicates must be one of {', '.join(DUPLICATE_POLICIES)}, "
                             f"not {duplicates!r}")
        self.ruleset = ruleset
        evaluator = ruleset._evaluator
        assert evaluator is not None
        self.pipeline: Pipeline = evaluator.pipeline
        self.summary = Summary(ruleset)
        #: deal id -> the line it was allocated from (None: duplicates allowed). A
        #: ``dict[str, int]`` given to :func:`run_batch` serves as well.
        self.seen: DealIds | dict[str, int] | None = (
            DealIds() if duplicates == "reject" else None)
        #: When given: every deal id looked up in ``seen`` (a parallel run checks that no
        #: part looked up an id that an earlier part allocated). A set gets the ids; a
        #: :class:`DealIds` or a dict the ids with the line that looked each up first.
        self.checked: DealIds | dict[str, int] | set[str] | None = None

    def _unpack(self, item: Item, line: int) -> tuple[int, Any] | Rejection:
        if isinstance(item, BadRecord):
            return Rejection(item.line, item.deal_id, item.code, item.reason)
        if isinstance(item, Record):
            line, data = item.line, item.data
        else:
            data = item
        if self.seen is not None:
            deal_id = _record_id(data)
            checked = self.checked
            if checked is not None and deal_id is not None:
                if isinstance(checked, set):
                    checked.add(deal_id)
                else:
                    checked.setdefault(deal_id, line)
            first = None if deal_id is None else self.seen.get(deal_id)
            if first is not None:
                return Rejection(line, deal_id, "duplicate-id",
                                 f"deal {deal_id!r} was already allocated from line {first}")
        return line, data

    def _guarded(self, line: int, data: Any, work: Callable[[Any], _T], arg: Any
                 ) -> _T | Rejection:
        """``work(arg)``, or, if creditrules fails on this record with an unexpected error
        (a bug), its rejection (code ``internal-error``): one record never ends the run."""
        try:
            return work(arg)
        except CreditRulesError as exc:
            return _rejection(line, data, exc)
        except (ArithmeticError, LookupError, RecursionError, TypeError, ValueError,
                MemoryError, RuntimeError) as exc:
            return Rejection(line, _record_id(data), "internal-error",
                             f"creditrules failed on this record ({type(exc).__name__}: "
                             f"{str(exc)[:200]}); please report it")

    def _computed(self, item: Item, line: int) -> ComputedDeal | Rejection:
        unpacked = self._unpack(item, line)
        if isinstance(unpacked, Rejection):
            self.summary.reject(unpacked)
            return unpacked
        line, data = unpacked
        result = self._guarded(line, data, self.pipeline.compute, data)
        if isinstance(result, Rejection):
            self.summary.reject(result)
            return result
        if self.seen is not None:
            self.seen.setdefault(result.id, line)
        self.summary.add(result)
        return result

    def allocation(self, item: Item, line: int = 0) -> Allocation | Rejection:
        """The allocation of one record (as ``Ruleset.allocate(..., explain=False)``), or
        its rejection."""
        computed = self._computed(item, line)
        if isinstance(computed, Rejection):
            return computed
        return self.pipeline.allocation(computed)

    def rows(self, item: Item, line: int = 0) -> list[Row] | Rejection:
        """The ledger rows of one record, or its rejection (cheaper than
        :meth:`allocation` when only rows are needed)."""
        computed = self._computed(item, line)
        if isinstance(computed, Rejection):
            return computed
        return self.pipeline.rows(computed)


def allocate_many(ruleset: Ruleset, deals: Iterable[Item], *,
                  duplicates: str = "reject") -> Iterator[Allocation | Rejection]:
    """Allocate each deal, lazily and in input order: an :class:`Allocation` (as
    ``ruleset.allocate(deal, explain=False)`` gives) or a :class:`Rejection`.

    ``deals`` may hold deal mappings, :class:`~creditrules.allocation.model.Deal` objects, or the
    :class:`~creditrules.io.records.Record` and :class:`~creditrules.io.records.BadRecord` items
    of :func:`~creditrules.io.records.read_records` (whose line numbers are kept; otherwise a
    rejection's ``line`` is the position, from 1). A deal id already allocated is rejected
    (``duplicate-id``) unless ``duplicates="allow"``: see :class:`BatchAllocator`.
    """
    allocator = BatchAllocator(ruleset, duplicates=duplicates)
    for line, item in enumerate(deals, start=1):
        yield allocator.allocation(item, line)


# ---------------------------------------------------------------------------------------
# Counting and writing


class Summary:
    """Counts of a batch and the totals per partner, in integer units (exact)."""

    def __init__(self, ruleset: Ruleset) -> None:
        self.unit = ruleset.unit
        self.currency = ruleset.currency
        self.types = [t.name for t in ruleset.credit_types]
        self.read = 0
        self.allocated = 0
        self.rejected = 0
        #: (kind, type, partner) -> units: credit per credit type, and entertainment borne
        #: (shares of expenses, and excess) per expense kind.
        self.totals: dict[tuple[str, str, str], int] = {}
        self.rejects_by_code: dict[str, int] = {}

    def reject(self, rejection: Rejection) -> None:
        self.read += 1
        self.rejected += 1
        self.rejects_by_code[rejection.code] = self.rejects_by_code.get(rejection.code, 0) + 1

    def merge(self, other: Summary) -> None:
        """Add the counts and totals of another part of the same run (a parallel run's)."""
        self.read += other.read
        self.allocated += other.allocated
        self.rejected += other.rejected
        for key, units in other.totals.items():
            self._add(key, units)
        for code, n in other.rejects_by_code.items():
            self.rejects_by_code[code] = self.rejects_by_code.get(code, 0) + n

    def _add(self, key: tuple[str, str, str], units: int) -> None:
        self.totals[key] = self.totals.get(key, 0) + units

    def add(self, fd: ComputedDeal) -> None:
        """Count one allocated deal and add its credit and expense shares to the totals."""
        self.read += 1
        self.allocated += 1
        totals = self.totals
        for tp, partners, _ in fd.credits:
            name = tp.name
            for pid, _, _, units, _ in partners:
                key = ("credit", name, pid)
                totals[key] = totals.get(key, 0) + units
        for expense, _ in fd.expenses:
            self._add_expense(expense)

    def _add_expense(self, e: ExpenseShare) -> None:
        for part in e.parts:
            self._add(("expense", e.kind, part.partner), to_units(part.amount, self.unit))
        if e.excess:
            self._add(("excess", e.kind, e.excess_bearer), to_units(e.excess, self.unit))

    def total(self, kind: str, type_name: str, partner: str) -> str:
        """A total as decimal text (``"0"`` in units when there is none)."""
        return str(from_units(self.totals.get((kind, type_name, partner), 0), self.unit))

    def lines(self) -> list[str]:
        """The end-of-run summary: the counts, then each partner's totals (credit per
        credit type; entertainment shares and excess borne, all kinds together)."""
        out = [f"{self.read} read, {self.allocated} allocated, {self.rejected} rejected"]
        if self.rejects_by_code:
            out.append("  rejected by code: " + ", ".join(
                f"{code} {n}" for code, n in sorted(self.rejects_by_code.items())))
        by_partner: dict[str, dict[str, int]] = {}
        for (kind, type_name, partner), units in self.totals.items():
            label = type_name if kind == "credit" else (
                "entertainment" if kind == "expense" else "excess")
            mine = by_partner.setdefault(partner, {})
            mine[label] = mine.get(label, 0) + units
        for partner in sorted(by_partner):
            totals = by_partner[partner]
            labels = [t for t in self.types if t in totals] + [
                t for t in ("entertainment", "excess") if t in totals]
            out.append(f"  {partner}: " + ", ".join(
                f"{label} {from_units(totals[label], self.unit)}" for label in labels)
                + f" {self.currency}")
        return out


#: A string as ``json.dumps(text, ensure_ascii=False)`` writes it (the C function behind
#: it, called directly: the encoder object adds a Python call per value).
_json_string: Callable[[str], str] = json.encoder.encode_basestring


#: Ledger columns that hold numbers (decimal or fraction text): a leading ``-`` is a sign.
NUMERIC_COLUMNS = frozenset({"share", "amount", "partner_share", "partner_amount"})

#: What a spreadsheet may take for the start of a formula in a CSV cell.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_TEXT_COLUMNS = tuple(i for i, c in enumerate(LEDGER_COLUMNS) if c not in NUMERIC_COLUMNS)


def neutralise(row: Row) -> Row:
    """``row`` for a CSV file: a text cell starting with ``=``, ``+``, ``-``, ``@``, a tab
    or a carriage return gets a leading ``'``, so that a spreadsheet shows it as text
    instead of running it as a formula (as the OWASP guidance on CSV injection advises).
    The numeric columns (:data:`NUMERIC_COLUMNS`) are left alone: ``-12.50`` stays a
    number."""
    for i in _TEXT_COLUMNS:
        cell = row[i]
        if cell and cell.startswith(_FORMULA_START):
            return tuple("'" + v if v and j in _TEXT_SET and v.startswith(_FORMULA_START)
                         else v for j, v in enumerate(row))
    return row


_TEXT_SET = frozenset(_TEXT_COLUMNS)


class LedgerWriter:
    """Writes ledger rows as JSON Lines (an object per row, keys in column order) or CSV
    (a header, then a line per row; an empty cell for no value; text cells that a
    spreadsheet would run as a formula neutralised: see :func:`neutralise`). The same rows
    always give the same bytes."""

    #: Entries per fragment cache before it is emptied (memory stays flat).
    CACHE_SIZE = 1024

    def __init__(self, stream: IO[str], fmt: str) -> None:
        if fmt not in ("jsonl", "csv"):
            raise ValueError(f"unknown ledger format {fmt!r} (jsonl or csv)")
        self.stream = stream
        self.fmt = fmt
        self._csv = csv.writer(stream, lineterminator="\n") if fmt == "csv" else None
        self._keys = tuple(_json_string(c) + ":" for c in LEDGER_COLUMNS)
        # Encoded runs of columns, by their values: a deal's rows share their deal and
        # date (the last is kept), and most rows repeat a kind/type/partner/rep and a
        # currency..hash tail (bounded caches).
        self._head: tuple[str | None, ...] = ()
        self._head_text = ""
        self._middles: dict[tuple[str | None, ...], str] = {}
        self._tails: dict[tuple[str | None, ...], str] = {}
        self.started = False

    def header(self) -> None:
        """The CSV header (nothing for JSON Lines); written once, before any row."""
        if not self.started:
            self.started = True
            if self._csv is not None:
                self._csv.writerow(LEDGER_COLUMNS)

    def write(self, rows: list[Row]) -> None:
        self.header()
        if self._csv is not None:
            self._csv.writerows(map(neutralise, rows))
        else:
            self.stream.write("".join(map(self.line, rows)))

    def _fragment(self, cache: dict[tuple[str | None, ...], str] | None,
                  values: tuple[str | None, ...], first: int) -> str:
        """``"key":value`` for columns ``first`` on, joined by commas (kept in ``cache``)."""
        text = ",".join(key + _json_value(value)
                        for key, value in zip(self._keys[first:], values, strict=False))
        if cache is not None:
            if len(cache) >= self.CACHE_SIZE:
                cache.clear()
            cache[values] = text
        return text

    def line(self, row: Row) -> str:
        """One row as a JSON Lines line (with its newline)."""
        if len(row) != _COLUMN_COUNT:
            raise ValueError(f"a ledger row has {_COLUMN_COUNT} values, not {len(row)}")
        head, middle, tail = row[:2], row[2:6], row[10:]
        if head == self._head:  # the deal of the previous row
            h = self._head_text
        else:
            self._head = head
            h = self._head_text = self._fragment(None, head, 0)
        m = self._middles.get(middle) or self._fragment(self._middles, middle, 2)
        t = self._tails.get(tail) or self._fragment(self._tails, tail, 10)
        share, amount, partner_share, partner_amount = row[6:10]
        if not (type(share) is type(amount) is type(partner_share) is type(partner_amount)
                is str):
            return (f"{{{h},{m},"
                    + ",".join(key + _json_value(value)
                               for key, value in zip(self._keys[6:10], row[6:10], strict=True))
                    + f",{t}}}\n")
        return (f"{{{h},{m},\"share\":{'null' if share is None else _json_string(share)},"
                f"\"amount\":{'null' if amount is None else _json_string(amount)},"
                f"\"partner_share\":"
                f"{'null' if partner_share is None else _json_string(partner_share)},"
                f"\"partner_amount\":"
                f"{'null' if partner_amount is None else _json_string(partner_amount)},{t}}}\n")


_COLUMN_COUNT = len(LEDGER_COLUMNS)
_json_other = json.JSONEncoder(ensure_ascii=False).encode


def _json_value(value: Any) -> str:
    """A ledger cell as JSON: text (the usual), null, or what a caller's row may hold
    instead (a number), as the JSON encoder writes it."""
    if value is None:
        return "null"
    if type(value) is str:
        return _json_string(value)
    return _json_other(value)

# LedgerWriter.line spells these four keys out.
assert LEDGER_COLUMNS[6:10] == ("share", "amount", "partner_share", "partner_amount")


def write_rejection(stream: IO[str], rejection: Rejection) -> None:
    """One reject row as a JSON line (sorted keys)."""
    stream.write(json.dumps(rejection.to_dict(), sort_keys=True, ensure_ascii=False,
                            separators=(",", ":")) + "\n")


class Progress:
    """A one-line progress display on a terminal: records, records/s, rejects so far."""

    def __init__(self, stream: IO[str] | None, every: float = 0.5,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream
        self.every = every
        self.clock = clock
        self.start = clock()
        self.next = self.start + every
        self.shown = False

    def update(self, summary: Summary) -> None:
        if self.stream is None:
            return
        now = self.clock()
        if now < self.next:
            return
        self.next = now + self.every
        rate = summary.read / max(now - self.start, 1e-9)
        self.stream.write(f"\r{summary.read:,} records, {rate:,.0f}/s, "
                          f"{summary.rejected:,} rejected ")
        self.stream.flush()
        self.shown = True

    def done(self) -> None:
        if self.stream is not None and self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


class LedgerSink(Protocol):
    """Where :func:`run_batch` puts ledger rows (a :class:`LedgerWriter`, or a collector)."""

    def header(self) -> None: ...

    def write(self, rows: list[Row]) -> None: ...


class LedgerRows:
    """A ledger sink that keeps the rows in a list (for a DataFrame, or a test)."""

    def __init__(self) -> None:
        self.rows: list[Row] = []

    def header(self) -> None:
        """Nothing to do: a list has no header."""

    def write(self, rows: list[Row]) -> None:
        self.rows.extend(rows)


class AllocationWriter:
    """A sink for :func:`run_batch` that writes each deal's whole allocation (canonical
    JSON, a line per deal: ``creditrules allocate --allocations``) instead of ledger rows."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def header(self) -> None:
        """Nothing to do: JSON Lines have no header."""

    def write(self, allocation: Allocation) -> None:
        self.stream.write(dumps(allocation.to_dict()) + "\n")


def run_batch(ruleset: Ruleset, records: Iterable[Item], ledger: LedgerSink | AllocationWriter,
              rejects: IO[str] | Callable[[Rejection], object] | None, *,
              progress: Progress | None = None, first_line: int = 1,
              duplicates: str = "reject", seen: DealIds | dict[str, int] | None = None,
              checked: DealIds | dict[str, int] | set[str] | None = None) -> Summary:
    """Allocate every record, writing ledger rows (or, to an :class:`AllocationWriter`,
    allocations) and rejections as it goes.

    ``rejects`` is a text stream (one JSON line per rejection), a function called with each
    :class:`Rejection`, or None (counted only). Line numbers come from the records when they
    are :class:`~creditrules.io.records.Record` items, else count from ``first_line``. Returns
    the :class:`Summary`; ``summary.read == summary.allocated + summary.rejected``.
    ``duplicates`` as for :class:`BatchAllocator`; ``seen`` (deal id -> line: a
    :class:`~creditrules.io._deal_ids.DealIds`, or a dict), when given, holds ids already
    allocated (by an earlier part of the run) and receives this run's; ``checked`` (a set,
    a dict or a ``DealIds``), when given, receives every deal id looked up in it.
    """
    allocator = BatchAllocator(ruleset, duplicates=duplicates)
    if seen is not None and allocator.seen is not None:
        allocator.seen = seen
    allocator.checked = checked
    summary = allocator.summary
    ledger.header()
    check_every = 1024
    on_reject: Callable[[Rejection], object] | None
    if rejects is None or callable(rejects):
        on_reject = rejects
    else:
        stream = rejects
        on_reject = lambda r: write_rejection(stream, r)  # noqa: E731
    produce: Callable[[Item, int], Any] = (
        allocator.allocation if isinstance(ledger, AllocationWriter) else allocator.rows)
    write: Callable[[Any], None] = ledger.write
    for line, item in enumerate(records, start=first_line):
        result = produce(item, line)
        if isinstance(result, Rejection):
            if on_reject is not None:
                on_reject(result)
        elif result:
            write(result)
        if progress is not None and not summary.read % check_every:
            progress.update(summary)
    if progress is not None:
        progress.done()
    return summary


def tty_progress(stream: IO[str] = sys.stderr) -> Progress | None:
    """A progress display on ``stream`` if it is a terminal, else None."""
    isatty = getattr(stream, "isatty", None)
    return Progress(stream) if isatty is not None and isatty() else None


provide("allocate_many", allocate_many)
