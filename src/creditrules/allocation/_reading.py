"""Reading deal records of the usual shape directly, or declining.

Each helper accepts exactly what :meth:`creditrules.allocation.model.Deal.from_mapping`
would read to the same value, and raises :class:`Decline` for anything it would convert,
refuse or explain: the record is then read by ``Deal.from_mapping`` and checked, which
says what is wrong. So the rules of reading a deal are the model's; this is their quick
form for the common case, held to them by ``tests/test_one_path.py``.
"""

from __future__ import annotations

import bisect
import datetime as dt
import re
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, TypeVar

from creditrules.base._dates import parse_iso_date
from creditrules.base._money import MAX_AMOUNT_CHARS, MoneyError, parse_decimal, to_units
from creditrules.conditions._ast import Type, Value

__all__ = [
    "ACCOUNT_KEYS",
    "ACTIVITY_KEYS",
    "ATTENDEE_KEYS",
    "CACHE_SIZE",
    "DEAL_KEYS",
    "DECIMAL",
    "EXPENSE_KEYS",
    "FLAG_TYPES",
    "LEAD_KEYS",
    "MISSING",
    "NO_ACCOUNT",
    "PLAIN_ATTRIBUTE",
    "REP_KEYS",
    "TEXT_TYPES",
    "Amounts",
    "Dates",
    "Decline",
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

# The deal shape read directly; a key it does not know sends the record to the deal
# reader (which names the unknown field), so a field added there is never ignored here.
DEAL_KEYS = frozenset({"id", "date", "amount", "currency", "account", "product", "lead",
                       "reps", "activities", "attributes", "expenses"})
ACCOUNT_KEYS = frozenset({"id", "owner", "named", "segment", "territory"})
LEAD_KEYS = frozenset({"source", "rep"})
REP_KEYS = frozenset({"id", "partner", "owner"})
ACTIVITY_KEYS = frozenset({"kind", "rep", "reps", "partner", "date", "id"})
EXPENSE_KEYS = frozenset({"id", "kind", "amount", "paid_by", "attendees", "date",
                          "preapproved"})
ATTENDEE_KEYS = frozenset({"id", "category", "spent_this_year"})
DECIMAL = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?", re.ASCII)
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


def opt_text(value: Any) -> str | None:
    """A text field as the deal reader reads it (None or "" is absent); declines the
    conversions it would make (int -> str) or refuse."""
    if value is None or value == "":
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
        if type(value) is int:
            amount = Decimal(value)
        elif (type(value) is str and len(value) <= MAX_AMOUNT_CHARS
              and DECIMAL.fullmatch(value)):
            # parse_decimal, its checks already made: exact text, "-0" as 0.
            amount = Decimal(value)
            if not amount:
                amount = amount.copy_abs()
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
        if kind is str and DECIMAL.fullmatch(value):
            return parse_decimal(value)
        if kind is int:
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
