"""The rules of reading a deal record, written once.

A deal record's shape (the keys each level may hold) and the reading of its scalar fields
(what is text, a flag, an amount, a date, absent) are stated here, each in its quick form:
it returns the value for the usual input, and raises :class:`Decline` for anything to
convert, refuse or explain. The model reader
(:meth:`creditrules.allocation.model.Deal.from_mapping`) calls the same quick forms first,
and only for a declined value does its own work: the conversions it allows (an integer
read as text) and the located error for the rest. The one allocation path reads the usual
record with the quick forms alone and, on :class:`Decline`, hands the record to the model
reader, so a record reads to the same deal either way (held so by
``tests/test_one_path.py``).
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, TypeVar

from creditrules.base._dates import parse_iso_date
from creditrules.base._money import MoneyError, plain_decimal, to_units
from creditrules.conditions._ast import Type, Value

__all__ = [
    "ACCOUNT_KEYS",
    "ACTIVITY_KEYS",
    "ATTENDEE_KEYS",
    "CACHE_SIZE",
    "DEAL_KEYS",
    "EXPENSE_KEYS",
    "FLAG_TYPES",
    "LEAD_KEYS",
    "MAX_ATTENDEES",
    "MISSING",
    "NO_ACCOUNT",
    "PLAIN_ATTRIBUTE",
    "REP_KEYS",
    "TEXT_TYPES",
    "Amounts",
    "Dates",
    "Decline",
    "absent",
    "flag",
    "list_of",
    "mapping_of",
    "opt_text",
    "read_attribute",
    "req_text",
]

K = TypeVar("K")
V = TypeVar("V")

#: Entries per cache (plans, dates, share texts, activities...); a full cache is emptied,
#: which keeps memory flat (a few MB) whatever the number of distinct deals.
CACHE_SIZE = 8_192

# The record's shape: the keys each level may hold. The model reader names any other key
# as unknown, and the quick path declines it, so a field is never silently ignored.
DEAL_KEYS = frozenset({"id", "date", "amount", "currency", "account", "product", "lead",
                       "reps", "activities", "attributes", "expenses"})
ACCOUNT_KEYS = frozenset({"id", "owner", "named", "segment", "territory"})
LEAD_KEYS = frozenset({"source", "rep"})
REP_KEYS = frozenset({"id", "partner", "owner"})
ACTIVITY_KEYS = frozenset({"kind", "rep", "reps", "partner", "date", "id"})
EXPENSE_KEYS = frozenset({"id", "kind", "amount", "paid_by", "attendees", "date",
                          "preapproved"})
ATTENDEE_KEYS = frozenset({"id", "category", "spent_this_year"})
#: The most attendees an expense may list or count: checked before any list is built.
MAX_ATTENDEES = 10_000
PLAIN_ATTRIBUTE = frozenset({str, bool, type(None)})
MISSING = object()
TEXT_TYPES = frozenset({str, type(None)})
FLAG_TYPES = frozenset({bool, type(None)})
NO_ACCOUNT: tuple[str | None, str | None, bool, str | None, str | None] = (
    None, None, False, None, None)


class BoundedCache(dict[K, V]):
    """A dict that empties itself when full (CACHE_SIZE entries): memory stays flat whatever
    the number of distinct deals, and a cleared entry is only worked out again."""

    def put(self, key: K, value: V) -> V:
        """Keep ``value`` under ``key`` and return it."""
        if len(self) >= CACHE_SIZE:
            self.clear()
        self[key] = value
        return value


class Decline(Exception):
    """Raised by the direct reader: this record is read by ``Deal.from_mapping`` and checked."""


def absent(value: Any) -> bool:
    """Whether a field's value stands for no value: null or empty text, as CSV and JSON
    exports write an empty cell."""
    return value is None or value == ""


def opt_text(value: Any) -> str | None:
    """A text field as the deal reader reads it (absent: None); declines the conversions it
    would make (int -> str) or refuse."""
    if absent(value):
        return None
    if type(value) is not str:
        raise Decline
    return value


def req_text(value: Any) -> str:
    if type(value) is not str or not value:
        raise Decline
    return value


def flag(value: Any) -> bool:
    if value is None:
        return False
    if type(value) is not bool:
        raise Decline
    return value


def mapping_of(value: Any, keys: frozenset[str]) -> dict[str, Any]:
    if value is None:
        return {}
    if type(value) is not dict or not value.keys() <= keys:
        raise Decline
    return value


def list_of(value: Any) -> list[Any]:
    if value is None:
        return []
    if type(value) is not list:
        raise Decline
    return value


class Amounts:
    """Amount text -> (Decimal, integer units), as ``parse_decimal`` and ``to_units`` do."""

    def __init__(self, unit: Decimal) -> None:
        self.unit = unit
        _, digits, exp = unit.as_tuple()
        # A power-of-ten unit (0.01, 1) converts by string surgery; any other by fractions.
        self.places = -exp if digits == (1,) and isinstance(exp, int) and exp <= 0 else None

    def read(self, value: Any) -> tuple[Decimal, int]:
        kind = type(value)
        if kind is int:
            amount = Decimal(value)
        elif kind is str:
            found = plain_decimal(value)
            if found is None:
                raise Decline
            amount = found
        else:
            raise Decline
        places = self.places
        if places is not None and type(value) is str:
            whole, _, frac = value.partition(".")
            if len(frac) > places:
                if frac[places:].strip("0"):
                    raise Decline  # not whole units: the deal checks say so
                frac = frac[:places]
            return amount, int(whole + frac.ljust(places, "0"))
        return amount, self.units(amount)

    def units(self, amount: Decimal) -> int:
        """A Decimal amount in whole units (declines a part of a unit)."""
        try:
            return to_units(amount, self.unit)
        except MoneyError:
            raise Decline from None


class Dates:
    """Date text -> (date, segment), cached: a deal file has few distinct dates."""

    def __init__(self, boundaries: Sequence[dt.date], effective: Callable[[dt.date], bool]):
        self.boundaries = sorted(set(boundaries))
        self.effective = effective
        self.cache: BoundedCache[str, tuple[dt.date, int] | None] = BoundedCache()

    def read(self, value: Any, *, in_agreement: bool) -> tuple[dt.date, int]:
        found = self.cache.get(value) if type(value) is str else None
        if found is None:
            if type(value) is not str or len(value) != 10:
                raise Decline
            try:
                day = parse_iso_date(value)
            except ValueError:
                raise Decline from None
            found = (day, bisect.bisect_right(self.boundaries, day))
            self.cache.put(value, found)
        if in_agreement and not self.effective(found[0]):
            raise Decline
        return found

    def place(self, day: Any, *, in_agreement: bool) -> int:
        """A date object's segment (declines a datetime or anything else)."""
        if type(day) is not dt.date or (in_agreement and not self.effective(day)):
            raise Decline
        return bisect.bisect_right(self.boundaries, day)


def read_attribute(value: Any, typ: Type) -> Value:
    """A declared attribute as the deal reader converts it; declines anything unusual."""
    if value is None:
        return None
    kind = type(value)
    if typ is Type.TEXT:
        if kind is str:
            return value  # type: ignore[no-any-return]
    elif typ is Type.NUMBER:
        if kind is str:
            number = plain_decimal(value)
            if number is not None:
                return number
        elif kind is int:
            return Decimal(value)
    elif typ is Type.BOOL:
        if kind is bool:
            return value  # type: ignore[no-any-return]
        if value in ("true", "false"):  # CSV cells
            return bool(value == "true")
    elif kind is str and len(value) == 10:
        try:
            return parse_iso_date(value)
        except ValueError:
            pass
    raise Decline
