"""Numbers as a reader checks them: decimals rounded for reading, with the exact value
beside them wherever rounding hid something (``73.33% (220/3%)``)."""

from __future__ import annotations

from fractions import Fraction

from creditrules.base._money import fraction_text, percent_text

__all__ = ["decimal_reading", "number_reading", "percent_reading"]


def decimal_reading(value: Fraction, places: int) -> str:
    """``value`` rounded half to even to ``places`` decimals, as plain text."""
    scaled = round(value * 10**places)
    sign = "-" if scaled < 0 else ""
    whole, frac = divmod(abs(scaled), 10**places)
    return f"{sign}{whole}.{frac:0{places}d}" if places else f"{sign}{whole}"


def _terminates(value: Fraction) -> bool:
    return "/" not in fraction_text(value)


def percent_reading(share: Fraction) -> str:
    """A share as a percentage: exact when it terminates (``70%``, ``12.5%``), else rounded
    to two decimals with the exact fraction beside it (``73.33% (220/3%)``)."""
    if _terminates(share):
        return percent_text(share)
    return f"{decimal_reading(share * 100, 2)}% ({percent_text(share)})"


def number_reading(value: Fraction, places: int = 4) -> str:
    """A number exactly when it terminates (``2.4``), else rounded with the fraction beside
    it (``21492.5373... (1440000/67)``)."""
    if _terminates(value):
        return fraction_text(value)
    return f"{decimal_reading(value, places)}... ({fraction_text(value)})"
