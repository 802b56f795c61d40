"""The fix an author needs, in an author's terms, for mistakes a located error alone leaves
to a guess: a day a month does not have, a share written without its percent sign, a clause
number where a rule id belongs."""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping

from creditrules.base._clauses import clause_key

__all__ = ["clause_hint", "date_hint", "percent_hint"]

_DATE_SHAPE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


def date_hint(text: str) -> str:
    """Why ``text``, written YYYY-MM-DD, is not a date (``"June has 30 days"``), or ``""``
    (not of that shape, or nothing to add)."""
    m = _DATE_SHAPE.fullmatch(text)
    if m is None:
        return ""
    year, month, day = (int(g) for g in m.groups())
    if not 1 <= month <= 12:
        return f"there is no month {month:02d}: months run from 01 to 12"
    days = calendar.monthrange(year, month)[1]
    name = calendar.month_name[month]
    if month == 2 and days == 28 and day == 29:
        return f"{year} is not a leap year: February {year} has 28 days"
    if day == 0 or day > days:
        return f"{name} has {days} days" + (f" in {year}" if month == 2 else "")
    return ""


def percent_hint(text: str) -> str:
    """For a share written as a bare number above one (``70``): did you mean ``70%``?"""
    if re.fullmatch(r"\d+(\.\d+)?", text.strip()):
        return (
            f"; did you mean {text.strip()}%? A share is a percentage (70%) or a "
            "fraction of one (0.7)"
        )
    return ""


def clause_hint(target: str, clauses: Mapping[str, str]) -> str:
    """For an ``overrides`` entry that names no rule: ``overrides`` takes rule ids; if
    ``target`` is a clause number, the id of the rule citing it. ``clauses``: id -> clause."""
    citing = sorted(rid for rid, clause in clauses.items() if clause == target)
    if citing:
        return (
            f"; overrides takes rule ids, not clause numbers: clause {target} is rule "
            f"{' or '.join(repr(r) for r in citing)}"
        )
    if target[:1].isdigit():
        ids = ", ".join(sorted(clauses, key=lambda r: (clause_key(clauses[r]), r)))
        return f"; overrides takes rule ids, not clause numbers (rule ids: {ids})"
    return ""
