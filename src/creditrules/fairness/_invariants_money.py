"""Axioms about the money of a deal: resource monotonicity (a bigger deal never gives
anyone less), additivity (a deal's credit is the sum of its parts' credit, exactly), and
the tie-break drift report (who takes the odd cent over a quarter)."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from creditrules.base._money import fraction_text
from creditrules.errors import AllocationError, DealError
from creditrules.fairness._invariant import Invariant, _pct
from creditrules.fairness._report import Finding
from creditrules.fairness._subject import Subject

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy


def _amount_units(subject: Subject, deal: Mapping[str, Any]) -> Fraction:
    return Fraction(Decimal(str(deal["amount"]))) / Fraction(subject.unit)


def _with_units(subject: Subject, deal: Mapping[str, Any], units: int) -> dict[str, Any]:
    from creditrules.fairness.strategies import space

    return {**deal, "amount": space(subject.ruleset).amount_text(units)}


def _aimed_deals(subject: Subject) -> SearchStrategy[tuple[dict[str, Any], int | None]]:
    """A sale without expenses, and an amount threshold (in units) to aim at, or ``None``
    (first: shrinking drops the aim when it is not needed)."""
    from hypothesis import strategies as st

    from creditrules.fairness.strategies import deals, space

    thresholds = [u for u in space(subject.ruleset).thresholds if u > 1]
    return st.tuples(
        deals(subject.ruleset, negative=False, expenses=False).map(dict),
        st.sampled_from([None, *thresholds]),
    )


def _at_thresholds(subject: Subject) -> list[tuple[dict[str, Any], int]]:
    """Each of the boundary bases with each amount threshold (in units) above one."""
    from creditrules.fairness.strategies import space

    sp = space(subject.ruleset)
    return [(d, u) for d in sp.boundary_bases() for u in sp.thresholds if u > 1]


class ResourceMonotonicity(Invariant):
    """Resource monotonicity: a larger deal (the same deal with a larger amount) never
    gives any partner a smaller exact credit (share x amount) of any credit type. A tier
    that steps a partner's share down as the amount grows (60% below 1,000,000, 55% from
    it) is a violation unless a declared exemption bounds it."""

    name = "resource-monotonicity"
    title = "resource monotonicity: a bigger deal never means less credit"
    hard = False

    def examples(self, subject: Subject) -> SearchStrategy[Any]:
        def pair(drawn: tuple[dict[str, Any], int | None]) -> tuple[dict[str, Any], str]:
            deal, aim = drawn
            if aim is not None:
                # One unit short of a threshold, then at it.
                return _with_units(subject, deal, aim - 1), _units_text(subject, aim)
            return deal, _units_text(subject, int(_amount_units(subject, deal)) * 2)

        return _aimed_deals(subject).map(pair)

    def boundary(self, subject: Subject) -> list[Any]:
        return [
            (_with_units(subject, d, u - 1), _units_text(subject, u))
            for d, u in _at_thresholds(subject)
        ]

    def from_deal(self, subject: Subject, deal: Mapping[str, Any]) -> list[Any]:
        units = _amount_units(subject, deal)
        if units <= 0 or units.denominator != 1:
            return []
        deal = {k: v for k, v in deal.items() if k != "expenses"}
        return [
            (deal, _units_text(subject, int(units) + 1)),
            (deal, _units_text(subject, int(units) * 2)),
        ]

    def deals_of(self, example: Any) -> tuple[tuple[str, Mapping[str, Any]], ...]:
        deal, larger = example
        return (("deal", deal), ("larger", {**deal, "amount": larger}))

    def findings(self, subject: Subject, example: Any) -> list[Finding]:
        deals = self.deals_of(example)
        small, big = deals[0][1], deals[1][1]
        if Decimal(str(big["amount"])) <= Decimal(str(small["amount"])):
            return []
        a, b = subject.allocate(small), subject.allocate(big)
        out = []
        for type_name in dict.fromkeys([c.type for c in a.credits] + [c.type for c in b.credits]):
            ca, cb = a.credit(type_name), b.credit(type_name)
            for p in subject.partners:
                sa = Fraction(0) if ca is None else ca.share(p)
                sb = Fraction(0) if cb is None else cb.share(p)
                before, after = sa * Fraction(a.amount), sb * Fraction(b.amount)
                if after < before:
                    out.append(
                        Finding(
                            f"raising the amount from {a.amount} to {b.amount} lowers {p}'s "
                            f"{type_name} credit from {fraction_text(before)} ({_pct(sa)}) to "
                            f"{fraction_text(after)} ({_pct(sb)})",
                            deals=deals,
                            allocations=(("deal", a), ("larger", b)),
                            rules=subject.credit_rules(a, b, types=[type_name]),
                            partners=(p,),
                            fields=("amount", type_name),
                            magnitude=sa - sb,
                        )
                    )
        return out


def _units_text(subject: Subject, units: int) -> str:
    from creditrules.fairness.strategies import space

    return space(subject.ruleset).amount_text(units)


class Additivity(Invariant):
    """Additivity: a deal split into two (the same deal, its amount in two parts) gets,
    for every partner and credit type, exactly the credit of the whole: share(whole) x
    whole = share(part 1) x part 1 + share(part 2) x part 2, on the exact entitlements.
    Rounding scope: each part is rounded on its own, so the rounded amounts of the parts
    may differ from the whole's by less than one currency unit per part (the rounding
    bound); that difference is never reported. A threshold on the amount breaks it."""

    name = "additivity"
    title = "additivity: the credit of a deal is the credit of its parts"
    hard = False

    def examples(self, subject: Subject) -> SearchStrategy[Any]:
        from hypothesis import strategies as st

        @st.composite
        def split(draw: st.DrawFn) -> tuple[dict[str, Any], str, str]:
            deal, aim = draw(_aimed_deals(subject))
            if aim is not None:
                return _parts(subject, _with_units(subject, deal, aim), 1)
            units = int(_amount_units(subject, deal))
            if units < 2:
                deal = _with_units(subject, deal, 2)
                units = 2
            return _parts(subject, deal, draw(st.integers(1, units - 1)))

        return split()

    def boundary(self, subject: Subject) -> list[Any]:
        # At each threshold, one unit and the rest: the whole reaches it, no part does.
        return [_parts(subject, _with_units(subject, d, u), 1) for d, u in _at_thresholds(subject)]

    def from_deal(self, subject: Subject, deal: Mapping[str, Any]) -> list[Any]:
        units = _amount_units(subject, deal)
        if units < 2 or units.denominator != 1:
            return []
        deal = {k: v for k, v in deal.items() if k != "expenses"}
        return [_parts(subject, deal, 1), _parts(subject, deal, int(units) // 2)]

    def deals_of(self, example: Any) -> tuple[tuple[str, Mapping[str, Any]], ...]:
        deal, first, second = example
        return (
            ("deal", deal),
            ("part 1", {**deal, "amount": first}),
            ("part 2", {**deal, "amount": second}),
        )

    def findings(self, subject: Subject, example: Any) -> list[Finding]:
        deals = self.deals_of(example)
        whole, one, two = (subject.allocate(d) for _, d in deals)
        parts = (one, two)
        out = []
        for type_name in dict.fromkeys(c.type for a in (whole, *parts) for c in a.credits):
            changed = []
            for p in subject.partners:
                total = _entitlement(whole, type_name, p)
                summed = sum((_entitlement(a, type_name, p) for a in parts), Fraction(0))
                if total != summed:
                    changed.append((p, total, summed))
            if not changed:
                continue
            p, total, summed = changed[0]
            gainers = tuple(q for q, t, s in changed if t > s)
            out.append(
                Finding(
                    f"{p}'s {type_name} credit is {fraction_text(total)} on the whole deal of "
                    f"{whole.amount} but {fraction_text(summed)} over its parts {one.amount} and "
                    f"{two.amount}",
                    deals=deals,
                    allocations=(("whole", whole), ("part 1", one), ("part 2", two)),
                    rules=subject.credit_rules(whole, one, two, types=[type_name]),
                    partners=gainers or tuple(q for q, _, _ in changed),
                    fields=("amount", type_name),
                    magnitude=max(abs(t - s) for _, t, s in changed) / Fraction(whole.amount),
                )
            )
        return out


def _parts(
    subject: Subject, deal: Mapping[str, Any], first: int
) -> tuple[dict[str, Any], str, str]:
    """The deal, and its amount split into ``first`` units and the rest."""
    units = int(_amount_units(subject, deal))
    return dict(deal), _units_text(subject, first), _units_text(subject, units - first)


def _entitlement(a: Any, type_name: str, partner: str) -> Fraction:
    credit = a.credit(type_name)
    return Fraction(0) if credit is None else credit.share(partner) * Fraction(a.amount)


# The tie-break drift report: how many deals over how many days, and how far from an even
# share of the odd cents a partner may be (in standard deviations) before it is flagged.
_DRIFT_DEALS = 600
_DRIFT_DAYS = 91
_DRIFT_SIGMAS = 4
_DRIFT_MIN_TIES = 30


class TieBreakDrift(Invariant):
    """Tie-break drift: over a quarter of deals (600 deterministic sales over the first 91
    days of the agreement, one aimed at each rule in turn, each an odd number of cents),
    the odd cents that equal remainders leave to the tie-break are counted per partner.
    Each partner should take about its even share of the ties it is in; one that takes
    more than four standard deviations above it (a fixed priority list does, always) is
    flagged. The counts are reported either way."""

    name = "tie-break-drift"
    title = "tie-break drift: no partner takes the odd cent far more often"
    hard = False

    def once(self, subject: Subject) -> tuple[list[Finding], int, tuple[str, ...]]:
        from creditrules.fairness.strategies import space

        sp = space(subject.ruleset)
        bases = sp.boundary_bases()
        taken: dict[str, int] = {}
        expected: dict[str, Fraction] = {}
        variance: dict[str, Fraction] = {}
        ties: dict[str, int] = {}
        example: dict[str, tuple[dict[str, Any], Any]] = {}
        rules: dict[str, dict[tuple[str, str], None]] = {}
        tried = 0
        days = min(_DRIFT_DAYS, (sp.last_day - sp.first_day).days + 1)
        for i in range(_DRIFT_DEALS):
            base = {k: v for k, v in bases[i % len(bases)].items() if k != "expenses"}
            deal = {
                **base,
                "id": f"Q-{i + 1:04d}",
                "amount": sp.amount_text(101 + 2 * i),
                "date": (sp.first_day + dt.timedelta(days=i % days)).isoformat(),
            }
            try:
                a = subject.allocate(deal)
            except (AllocationError, DealError):
                continue
            tried += 1
            units = Fraction(a.amount) / Fraction(subject.unit)
            for credit in a.credits:
                groups: dict[tuple[Fraction, Fraction], list[tuple[str, bool]]] = {}
                for line in credit.partners:
                    exact = line.share * units
                    rest = exact - math.floor(exact)
                    if rest:
                        up = Fraction(line.amount) / Fraction(subject.unit) > math.floor(exact)
                        groups.setdefault((rest, line.share), []).append((line.partner, up))
                for members in groups.values():
                    ups = sum(1 for _, up in members if up)
                    if len(members) < 2 or ups in (0, len(members)):
                        continue
                    chance = Fraction(ups, len(members))
                    for partner, up in members:
                        ties[partner] = ties.get(partner, 0) + 1
                        taken[partner] = taken.get(partner, 0) + int(up)
                        expected[partner] = expected.get(partner, Fraction(0)) + chance
                        variance[partner] = variance.get(partner, Fraction(0)) + chance * (
                            1 - chance
                        )
                        rules.setdefault(partner, {}).update(
                            dict.fromkeys(zip(credit.rules, credit.clauses, strict=True))
                        )
                        if up and partner not in example:
                            example[partner] = (deal, a)
        last = sp.first_day + dt.timedelta(days=days - 1)
        info = [
            f"{tried} sales from {sp.first_day} to {last}: "
            + (
                ", ".join(
                    f"{p} took the odd cent in {taken.get(p, 0)} of {ties[p]} ties "
                    f"(even share {float_free(expected[p])})"
                    for p in sorted(ties)
                )
                or "no odd cent was left to the tie-break"
            )
        ]
        out = []
        for p in sorted(ties):
            if ties[p] < _DRIFT_MIN_TIES or p not in example:
                continue
            excess = taken[p] - expected[p]
            if excess > 0 and excess * excess > _DRIFT_SIGMAS**2 * variance[p]:
                deal, a = example[p]
                out.append(
                    Finding(
                        f"{p} took the odd cent in {taken[p]} of {ties[p]} ties over a quarter; "
                        f"an even share is about {float_free(expected[p])}",
                        deals=(("deal", deal),),
                        allocations=(("deal", a),),
                        rules=tuple(rules[p]),
                        partners=(p,),
                        fields=("rounding",),
                        magnitude=excess / ties[p],
                    )
                )
        return out, tried, tuple(info)


def float_free(value: Fraction) -> str:
    """A count shown to one decimal place, from an exact fraction."""
    tenths = round(value * 10)
    return f"{tenths // 10}.{tenths % 10}"
