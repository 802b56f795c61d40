"""The one date parser: exactly ``YYYY-MM-DD``, checked.

``datetime.date.fromisoformat`` also takes ``20260630``, ``2026-W10-1`` and, on some
inputs of ten characters, reads only a prefix; an agreement's dates must mean what they
say, so every date the project reads (deals, rulesets, cases) goes through here.
"""

from __future__ import annotations

import datetime as dt
import re

__all__ = ["DATE_SHAPE", "parse_iso_date"]

#: What a date looks like (groups: year, month, day); not every match is a real day.
DATE_SHAPE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")


def parse_iso_date(text: str) -> dt.date:
    """The date written ``YYYY-MM-DD`` (ASCII digits, a real calendar day).

    Raises ValueError for anything else.
    """
    match = DATE_SHAPE.fullmatch(text)
    if match is None:
        raise ValueError(f"not a date YYYY-MM-DD: {text[:40]!r}")
    year, month, day = (int(g) for g in match.groups())
    return dt.date(year, month, day)  # ValueError for 2026-02-30
