"""Exact money: strict parsing, integer minor units, and cent splitting by largest remainder.

Everything here is exact and independent of the ambient :mod:`decimal` context: amounts
are built from text or from integer digit tuples, never by context arithmetic, so a caller
who set ``decimal.getcontext().prec = 3`` cannot change a result. Shares are
:class:`~fractions.Fraction`; amounts are :class:`~decimal.Decimal` at the edges and ``int``
counts of the currency unit inside.

Splitting is largest remainder (Hamilton) on integer units, which keeps every party strictly
within one unit of its exact share, with a declared tie-break that never looks at input
order (see docs/explanation/precedence-and-rounding.md).
"""

from __future__ import annotations

import decimal
import hashlib
import math
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from types import MappingProxyType
from typing import Any, Literal

import attrs

__all__ = [
    "MAX_AMOUNT_CHARS",
    "MINOR_UNITS",
    "MoneyError",
    "TieBreak",
    "apportion",
    "currency_unit",
    "exact_context",
    "fraction_text",
    "from_units",
    "largest_remainder",
    "parse_decimal",
    "parse_share",
    "percent_text",
    "plain_decimal",
    "reject_float",
    "round_scaled",
    "to_units",
]


# ISO 4217 minor-unit digits (the standard's values, e.g. HUF and IDR are 2 even though
# cash rarely uses them). Read-only so no caller can quietly change another's currency.
MINOR_UNITS: Mapping[str, int] = MappingProxyType({
    # Americas
    "USD": 2, "CAD": 2, "MXN": 2, "BRL": 2, "ARS": 2, "CLP": 0, "COP": 2, "PEN": 2,
    "UYU": 2, "PYG": 0, "BOB": 2, "DOP": 2, "GTQ": 2, "CRC": 2, "JMD": 2, "TTD": 2,
    "CLF": 4,
    # Europe
    "EUR": 2, "GBP": 2, "CHF": 2, "SEK": 2, "NOK": 2, "DKK": 2, "ISK": 0, "PLN": 2,
    "CZK": 2, "HUF": 2, "RON": 2, "BGN": 2, "RSD": 2, "TRY": 2, "UAH": 2, "RUB": 2,
    "GEL": 2,
    # Asia-Pacific
    "JPY": 0, "KRW": 0, "CNY": 2, "HKD": 2, "TWD": 2, "SGD": 2, "INR": 2, "PKR": 2,
    "BDT": 2, "LKR": 2, "NPR": 2, "IDR": 2, "MYR": 2, "THB": 2, "PHP": 2, "VND": 0,
    "KZT": 2, "AUD": 2, "NZD": 2, "FJD": 2, "VUV": 0,
    # Middle East and Africa
    "AED": 2, "SAR": 2, "QAR": 2, "ILS": 2, "EGP": 2, "MAD": 2, "KWD": 3, "BHD": 3,
    "OMR": 3, "JOD": 3, "IQD": 3, "LYD": 3, "TND": 3, "ZAR": 2, "NGN": 2, "KES": 2,
    "GHS": 2, "ETB": 2, "TZS": 2, "UGX": 0, "RWF": 0, "BIF": 0, "DJF": 0, "GNF": 0,
    "KMF": 0, "XOF": 0, "XAF": 0, "XPF": 0,
})


class MoneyError(ValueError):
    """Text or a value that is not an exact amount or share (the message says why)."""


def currency_unit(code: str) -> Decimal | None:
    """The smallest unit of ISO 4217 currency ``code`` (``"USD"`` -> ``Decimal("0.01")``).

    Returns ``None`` for a code not in :data:`MINOR_UNITS`. Codes are matched exactly
    (upper case, as ISO writes them): guessing at ``"usd"`` would hide a typo elsewhere.
    """
    digits = MINOR_UNITS.get(code)
    if digits is None:
        return None
    # Built from a digit tuple, not by division, so no context can round it.
    return Decimal((0, (1,), -digits))


def reject_float(value: object, what: str) -> None:
    """Raise :class:`MoneyError` if ``value`` is a float (binary floats are not exact money)."""
    if isinstance(value, float):
        raise MoneyError(
            f"{what} is a float ({value!r}); give amounts as decimal strings or integers"
        )


def exact_context() -> decimal.Context:
    """A fresh decimal context for the library's own arithmetic (use with ``localcontext``).

    Precision 60 is far beyond any money amount, so ordinary sums never round; mixing in a
    float, invalid operations, division by zero and overflow raise. ``Inexact`` is not
    trapped: callers that divide on purpose (e.g. for display) may round. A new object each
    call, because contexts are mutable.
    """
    return decimal.Context(
        prec=60,
        rounding=decimal.ROUND_HALF_EVEN,
        traps=[
            decimal.FloatOperation,
            decimal.InvalidOperation,
            decimal.DivisionByZero,
            decimal.Overflow,
        ],
        flags=[],
    )


# ASCII digits only: ``\d`` would accept Arabic-Indic and other Unicode digits.
_DECIMAL_RE = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?", re.ASCII)
_SHARE_RE = re.compile(
    r"""
    (?P<sign>[+-]?)
    (?:
        (?P<whole>[0-9]+)\ +(?P<mnum>[0-9]+)/(?P<mden>[0-9]+)   # mixed: 33 1/3
      | (?P<num>[0-9]+)/(?P<den>[0-9]+)                         # ratio: 1/3, 100/3
      | (?P<dec>[0-9]+(?:\.[0-9]+)?)                            # decimal: 0.7, 33.5, 1
    )
    (?P<pct>%?)
    """,
    re.ASCII | re.VERBOSE,
)


def _require_text(text: object, what: str) -> str:
    reject_float(text, what)
    if not isinstance(text, str):
        raise MoneyError(f"{what} must be text, not {type(text).__name__} ({text!r})")
    return text


#: The longest amount text (or JSON integer) read: no real amount comes near it, and it
#: keeps every later int/str conversion under Python's 4,300-digit limit.
MAX_AMOUNT_CHARS = 1_000


def parse_decimal(text: str) -> Decimal:
    """Parse strict decimal text: ``"1234.56"``, ``"-0.01"``, ``"+5"``, ``"10.50"``.

    Accepted: an optional sign, ASCII digits, and optionally a point followed by digits.
    Rejected with :class:`MoneyError`: exponents (``"1e3"``), NaN, Infinity, thousands
    separators, a bare point (``".5"``, ``"5."``), surrounding whitespace and empty text.
    Trailing zeros are kept (``"10.50"`` stays 10.50); ``"-0"`` becomes ``0``. The result
    does not depend on the ambient decimal context (string construction is always exact).
    """
    text = _require_text(text, "amount")
    value = plain_decimal(text)
    if value is not None:
        return value
    if len(text) > MAX_AMOUNT_CHARS:
        raise MoneyError(f"an amount of {len(text):,} characters (the limit is "
                         f"{MAX_AMOUNT_CHARS:,})")
    raise MoneyError(
        f"{text!r} is not a plain decimal amount (digits with an optional sign and "
        "decimal point; no exponent, separators or spaces)"
    )


def plain_decimal(text: str) -> Decimal | None:
    """What :func:`parse_decimal` reads ``text`` as, or None where it would refuse it.

    The one statement of which amount texts are accepted and what they mean: the deal
    reader's quick path calls it directly (and declines on None), :func:`parse_decimal`
    adds the reason for a refusal.
    """
    if len(text) > MAX_AMOUNT_CHARS or not _DECIMAL_RE.fullmatch(text):
        return None
    value = Decimal(text)
    # A signed zero prints as "-0.00"; copy_abs is quiet and context-free.
    return value.copy_abs() if value.is_zero() else value


def _decimal_fraction(digits: str) -> Fraction:
    whole, _, frac = digits.partition(".")
    return Fraction(int(whole + frac), 10 ** len(frac))


_MAX_SHARE_TEXT = 100


def parse_share(text: str, *, allow_negative: bool = False) -> Fraction:
    """Parse a share exactly: ``"70%"``, ``"33.5%"``, ``"33 1/3%"``, ``"0.7"``, ``"1/3"``.

    Forms: a decimal, a ratio ``n/d`` or a mixed number ``w n/d`` (with ``n < d``), each
    optionally signed and optionally followed by ``%`` (hundredths). Shares above 1 are
    allowed (overlay credit). Negative shares raise :class:`MoneyError` unless
    ``allow_negative``; so do zero denominators, exponents, spaces around the text and
    anything else. ``parse_share(fraction_text(f))`` and ``parse_share(percent_text(f))``
    give back ``f``.
    """
    text = _require_text(text, "share")
    if len(text) > _MAX_SHARE_TEXT:  # int() refuses 4,300 digits; no share needs 100
        raise MoneyError(f"a share of {len(text)} characters is not a share (at most "
                         f"{_MAX_SHARE_TEXT})")
    match = _SHARE_RE.fullmatch(text)
    if match is None:
        raise MoneyError(
            f"{text!r} is not a share (write e.g. '70%', '33.5%', '33 1/3%', '0.7' or '1/3')"
        )
    if match["dec"] is not None:
        value = _decimal_fraction(match["dec"])
    else:
        mixed = match["whole"] is not None
        num, den = (match["mnum"], match["mden"]) if mixed else (match["num"], match["den"])
        if int(den) == 0:
            raise MoneyError(f"{text!r} divides by zero")
        value = Fraction(int(num), int(den))
        if mixed:
            if value >= 1:
                # "33 4/3" is almost certainly a typo, not 34 1/3.
                raise MoneyError(f"{text!r}: the fraction in a mixed number must be below 1")
            value += int(match["whole"])
    if match["pct"]:
        value /= 100
    if match["sign"] == "-":
        value = -value
    if value < 0 and not allow_negative:
        raise MoneyError(f"{text!r} is a negative share")
    return value


def _check_unit(unit: Decimal) -> None:
    if not isinstance(unit, Decimal) or not unit.is_finite() or unit <= 0:
        raise ValueError(f"currency unit must be a positive finite Decimal, not {unit!r}")


def to_units(amount: Decimal, unit: Decimal) -> int:
    """``amount`` as a whole number of ``unit`` (``to_units(Decimal("10.50"), cent) == 1050``).

    Raises :class:`MoneyError` if the amount is not an exact multiple of the unit
    (``10.005`` USD), is not finite, or is a float. Computed with integer ratios, so no decimal
    context is involved.
    """
    reject_float(amount, "amount")
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise MoneyError(f"amount must be a finite Decimal, not {amount!r}")
    _check_unit(unit)
    # Exact integer ratios (the Fraction quotient, without building Fractions).
    num, den = amount.as_integer_ratio()
    unit_num, unit_den = unit.as_integer_ratio()
    units, rest = divmod(num * unit_den, den * unit_num)
    if rest:
        raise MoneyError(f"{amount} is not a whole number of units of {unit}")
    return units


_UNIT_SCALES: dict[int, tuple[Decimal, int, int]] = {}


def from_units(units: int, unit: Decimal) -> Decimal:
    """``units`` of ``unit`` as an exact Decimal with the unit's exponent.

    ``from_units(1050, Decimal("0.01"))`` is ``Decimal("10.50")`` (text ``"10.50"``);
    units of whole numbers or larger (``Decimal("1")``, ``Decimal("1E+1")``) give plain
    integers. Built from digit tuples, so the ambient decimal context cannot round it.
    """
    if isinstance(units, bool) or not isinstance(units, int):
        raise TypeError(f"units must be an int, not {type(units).__name__}")
    # Keyed by the unit object (held, so its id is not reused): 0.01 and 0.010 are equal
    # Decimals with different exponents, and a ruleset passes the same object every time.
    found = _UNIT_SCALES.get(id(unit))
    if found is None or found[0] is not unit:
        _check_unit(unit)
        _, unit_digits, unit_exp = unit.as_tuple()
        assert isinstance(unit_exp, int)  # finite, checked above
        coefficient = int("".join(map(str, unit_digits)))
        exponent = min(unit_exp, 0)  # a positive exponent would print as "1.05E+4"
        found = (unit, coefficient * 10 ** (unit_exp - exponent), exponent)
        if len(_UNIT_SCALES) >= 64:  # a few currency units in practice
            _UNIT_SCALES.clear()
        _UNIT_SCALES[id(unit)] = found
    _, multiplier, exponent = found
    magnitude = abs(units) * multiplier
    if exponent:
        whole, frac = divmod(magnitude, 10 ** -exponent)
        text = f"{whole}.{frac:0{-exponent}d}"
    else:
        text = str(magnitude)
    # Decimal from text is exact whatever the context, and keeps the unit's exponent.
    return Decimal("-" + text if units < 0 else text)


def _terminating_digits(f: Fraction) -> int | None:
    """Decimal places needed to write ``f`` exactly, or None if it does not terminate."""
    den = f.denominator
    twos = fives = 0
    while den % 2 == 0:
        den //= 2
        twos += 1
    while den % 5 == 0:
        den //= 5
        fives += 1
    return max(twos, fives) if den == 1 else None


def fraction_text(f: Fraction) -> str:
    """Exact text for a share: ``"0.7"``, ``"1"``, ``"0.125"``, ``"0"``, ``"-0.5"``; ``"1/3"``.

    A value with a terminating decimal expansion is written as a plain decimal (no
    exponent, no trailing zeros); any other as ``"n/d"`` in lowest terms.
    """
    f = Fraction(f)
    places = _terminating_digits(f)
    if places is None:
        return f"{f.numerator}/{f.denominator}"
    sign = "-" if f < 0 else ""
    scaled = abs(f.numerator) * 10**places // f.denominator  # exact: den divides 10**places
    whole, frac = divmod(scaled, 10**places)
    frac_text = str(frac).rjust(places, "0").rstrip("0") if places else ""
    return f"{sign}{whole}.{frac_text}" if frac_text else f"{sign}{whole}"


def percent_text(f: Fraction) -> str:
    """Exact percent text: ``"70%"``, ``"12.5%"``, ``"0%"``; non-terminating ``"100/3%"``.

    The percentage ``100 * f`` written by :func:`fraction_text` plus ``%``: never rounded,
    so a report can be parsed back by :func:`parse_share` to the same Fraction.
    """
    return fraction_text(Fraction(f) * 100) + "%"


@attrs.frozen
class TieBreak:
    """The declared rule that settles equal remainders in :func:`largest_remainder`.

    Build with :meth:`hashed` (the default: a per-deal pseudo-random but reproducible
    order, so no party is favoured across deals) or :meth:`order` (a declared priority
    list, e.g. the lead partner first). Either is applied only after the larger exact
    share, and the party id settles anything left.
    """

    kind: Literal["hashed", "order"]
    parties: tuple[str, ...] = ()

    @classmethod
    def hashed(cls) -> TieBreak:
        """Order tied parties by sha256 of ``salt + "\\x1f" + party`` (smallest first)."""
        return cls("hashed")

    @classmethod
    def order(cls, parties: Sequence[str]) -> TieBreak:
        """Order tied parties by position in ``parties``; unlisted ones follow, by id."""
        if isinstance(parties, str):
            # A bare string would silently become a list of one-letter parties.
            raise TypeError("parties must be a sequence of party ids, not a string")
        listed = tuple(parties)
        if len(set(listed)) != len(listed):
            raise ValueError(f"tie-break order lists a party twice: {list(listed)!r}")
        return cls("order", listed)

    def describe(self) -> str | list[str]:
        """JSON-ready form, as a ruleset declares it: ``"hashed"`` or the priority list."""
        return "hashed" if self.kind == "hashed" else list(self.parties)

    def key(self, party: str, salt: str) -> tuple[int, bytes]:
        """Sort key of ``party`` among tied parties (smaller wins the unit)."""
        if self.kind == "hashed":
            return (0, hashlib.sha256(f"{salt}\x1f{party}".encode()).digest())
        try:
            return (self.parties.index(party), b"")
        except ValueError:
            return (len(self.parties), b"")


_HASHED = TieBreak.hashed()


def largest_remainder(
    total_units: int,
    shares: Mapping[str, Fraction],
    *,
    tie_break: TieBreak = _HASHED,
    salt: str,
) -> dict[str, int]:
    """Split ``total_units`` integer units by ``shares`` (largest remainder / Hamilton).

    Each party's exact entitlement is ``total_units * share``. Shares need not sum to 1
    (overlay credit sums above, a partial split below): the amount distributed, the
    *target*, is the sum of the exact entitlements when that is a whole number of units,
    otherwise that sum rounded half to even. Every party first gets the floor of its exact
    entitlement; the units left over go one each to the largest remainders. So the result
    sums to the target and every party is strictly within one unit of its exact share; a
    zero share gets 0.

    Equal remainders are settled by the larger exact share, then by ``tie_break`` (hashed
    with ``salt``, typically the deal id, or a declared order), then by party id, never by
    the mapping's key order. A negative total (a refund) is the exact mirror of the
    positive one. The result lists parties sorted by id.

    Raises ValueError for negative shares, or for no shares with a nonzero total.
    """
    if isinstance(total_units, bool) or not isinstance(total_units, int):
        raise TypeError(f"total_units must be an int, not {type(total_units).__name__}")
    checked: dict[str, Fraction] = {}
    for party, share in shares.items():
        reject_float(share, f"share of {party!r}")
        if isinstance(share, bool) or not isinstance(share, (Fraction, int)):
            raise TypeError(f"share of {party!r} must be a Fraction, not {share!r}")
        if share < 0:
            raise ValueError(f"share of {party!r} is negative ({share})")
        checked[party] = Fraction(share)
    if not checked:
        if total_units:
            raise ValueError(f"cannot split {total_units} units among no parties")
        return {}
    if total_units < 0:
        # Refunds mirror sales exactly, including which party takes the odd unit.
        mirrored = largest_remainder(-total_units, checked, tie_break=tie_break, salt=salt)
        return {party: -units for party, units in mirrored.items()}

    exact = {party: total_units * share for party, share in checked.items()}
    # Fraction rounds half to even; a whole sum is unchanged.
    return apportion(exact, round(sum(exact.values(), Fraction(0))), tie_break=tie_break,
                     salt=salt)


def apportion(exact: Mapping[str, Fraction], target: int, *, tie_break: TieBreak = _HASHED,
              salt: str) -> dict[str, int]:
    """Round exact entitlements (in units) to integers summing to ``target``.

    ``target`` must lie between the sum of the floors and the sum of the ceilings (then every
    party stays strictly within one unit of its entitlement). Used for a second level of
    rounding: a partner's rounded amount shared among its reps, each rep rounded from its
    own exact share of the deal, so reps too stay within one unit. Entitlements of one sign;
    negative ones (refunds) mirror positive ones. Ties as in :func:`largest_remainder`.
    """
    if any(v < 0 for v in exact.values()) or target < 0:
        mirrored = apportion({k: -v for k, v in exact.items()}, -target, tie_break=tie_break,
                             salt=salt)
        return {party: -units for party, units in mirrored.items()}
    parties = sorted(exact)
    den = math.lcm(1, *(Fraction(v).denominator for v in exact.values()))
    nums = [int(Fraction(exact[p]) * den) for p in parties]
    return dict(zip(parties, round_scaled(nums, den, target, parties, tie_break, salt),
                    strict=True))


def round_scaled(scaled: Sequence[int], den: int, target: int, parties: Sequence[str],
                 tie_break: TieBreak, salt: str) -> list[int]:
    """The largest remainder rule itself, in integers: exact entitlements ``scaled[i] / den``
    (all >= 0, one per party, in ``parties`` order) rounded to integers summing to ``target``.

    Every party gets the floor of its entitlement; the units left over go one each to the
    largest remainders, then the larger entitlement, then ``tie_break`` (hashed with
    ``salt``, computed only on a tie), then the party id. ``target`` must lie between the
    sum of the floors and the sum of the ceilings. Allocation calls this directly with its
    integer shares (:func:`apportion` and :func:`largest_remainder` are its Fraction form).
    """
    if len(scaled) == 2:  # two parties, the usual alliance: no lists, no sorting
        x0, x1 = scaled
        q0, r0 = divmod(x0, den)
        q1, r1 = divmod(x1, den)
        left = target - q0 - q1
        if not left:
            return [q0, q1]
        if left == (r0 > 0) + (r1 > 0):
            return [q0 + (r0 > 0), q1 + (r1 > 0)]
        if left != 1 or not (r0 and r1):
            raise ValueError(f"target {target} is not reachable within one unit of each "
                             "share")
        if (r0, x0) == (r1, x1):
            first = (tie_break.key(parties[0], salt), parties[0]) < \
                (tie_break.key(parties[1], salt), parties[1])
        else:
            first = (r0, x0) > (r1, x1)
        return [q0 + 1, q1] if first else [q0, q1 + 1]
    got = [x // den for x in scaled]
    left = target - sum(got)
    if not left:
        return got
    keys: dict[int, tuple[Any, ...]] = {i: (-(x % den), -x) for i, x in enumerate(scaled)
                                        if x % den}
    if left == len(keys):
        for i in keys:
            got[i] += 1
        return got
    if not 0 < left < len(keys):
        raise ValueError(f"target {target} is not reachable within one unit of each share")
    if len(set(keys.values())) < len(keys):
        # Equal remainders and shares: the declared tie-break, then the party id. (Only
        # then is it computed: a hashed tie-break costs a sha256 per party.)
        for i in keys:
            keys[i] += (tie_break.key(parties[i], salt), parties[i])
    for i in sorted(keys, key=keys.__getitem__)[:left]:
        got[i] += 1
    return got
