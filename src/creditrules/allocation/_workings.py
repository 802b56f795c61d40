"""The workings behind an allocation, for a reader checking it by hand: each
by-contribution split's points table and each partner's rounding step.

Worked out from the deal's participations when an explanation is read (see
:class:`~creditrules.allocation._deferred.Deferred`), never during a batch run: the numbers
are the pipeline's, restated line by line in exact fractions for the reader.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from fractions import Fraction
from typing import TYPE_CHECKING

from creditrules.agreement.ruleset import ByContribution
from creditrules.allocation._outcomes import Participation
from creditrules.allocation.results import (
    CreditWorkings,
    PointsRow,
    RoundingLine,
    TypeCredit,
    Workings,
)
from creditrules.base._money import to_units
from creditrules.base._readable import decimal_reading

if TYPE_CHECKING:
    from creditrules.agreement.ruleset import Ruleset

__all__ = ["Act", "work_out"]

# An activity as contribution sees it: kind, partners taking part, reps taking part.
Act = tuple[str, frozenset[str], Iterable[str]]


def work_out(
    ruleset: Ruleset,
    deal_id: str,
    day: dt.date,
    units: int,
    credits: Sequence[TypeCredit],
    activities: Sequence[Act] | Sequence[Participation],
) -> Workings:
    """The workings of the credits a deal got (``units``: its amount in currency units;
    ``activities`` as the pipeline or
    :func:`~creditrules.allocation._outcomes.participations` gives them)."""
    acts = [(a.kind, a.partners, a.reps) if isinstance(a, Participation) else a for a in activities]
    return Workings(
        partners=tuple((p.id, p.name) for p in ruleset.partners),
        credits=tuple(_credit(ruleset, deal_id, day, units, c, acts) for c in credits),
    )


def _credit(
    ruleset: Ruleset,
    deal_id: str,
    day: dt.date,
    units: int,
    credit: TypeCredit,
    acts: Sequence[Act],
) -> CreditWorkings:
    rows: list[PointsRow] = []
    partner_points: list[tuple[str, Fraction]] = []
    rule = next(
        (r for r in ruleset.rules_in_force(day) if credit.rules and r.id == credit.rules[0]), None
    )
    if rule is not None and isinstance(rule.outcome, ByContribution) and not credit.note:
        contribution = rule.outcome.contribution
        for pid in ruleset.partner_ids:
            factor = contribution.factor(pid)
            counts: dict[str, int] = {}
            for kind, partners, _ in acts:
                if pid in partners and contribution.weights.get(kind):
                    counts[kind] = counts.get(kind, 0) + 1
            total = Fraction(0)
            for kind in sorted(counts):
                weight = contribution.weights[kind]
                points = counts[kind] * weight * factor
                total += points
                rows.append(PointsRow(pid, kind, counts[kind], weight, factor, points))
            partner_points.append((pid, total))
    return CreditWorkings(
        credit.type,
        tuple(rows),
        tuple(partner_points),
        _rounding(ruleset, f"{deal_id}\x1f{credit.type}", units, credit),
        ruleset.unit,
        rep_rounding=_rep_rounding(ruleset, units, credit),
    )


def _rounding(
    ruleset: Ruleset, salt: str, units: int, credit: TypeCredit
) -> tuple[RoundingLine, ...]:
    """Each partner's exact amount, its rounded amount, and why it took an odd unit or not:
    the largest remainder method as :func:`creditrules.base._money.round_scaled` applies it."""
    unit = ruleset.unit
    exact = {pid: abs(units) * credit.share(pid) for pid in ruleset.partner_ids}
    got = {pid: abs(to_units(credit.amount_of(pid), unit)) for pid in exact}
    how = ("the hashed tie-break (sha256 of deal id, credit type and partner)"
           if ruleset.tie_break.kind == "hashed"
           else f"the declared tie-break order ({', '.join(ruleset.tie_break.parties)})")
    reasons = _reasons(exact, got, how)
    sign = -1 if units < 0 else 1
    return tuple(
        RoundingLine(pid, sign * exact[pid] * Fraction(unit), credit.amount_of(pid),
                     got[pid] > math.floor(exact[pid]), reasons[pid])
        for pid in ruleset.partner_ids)


def _rep_rounding(ruleset: Ruleset, units: int, credit: TypeCredit
                  ) -> tuple[RoundingLine, ...]:
    """For each partner with two or more reps, each rep's exact amount (its exact share of
    the deal), its rounded amount, and why: the partner's rounded amount is shared among its
    reps by the same largest remainder rule, so the reps add up to their partner and each
    stays within one unit of its exact share."""
    unit = ruleset.unit
    sign = -1 if units < 0 else 1
    lines: list[RoundingLine] = []
    for partner in credit.partners:
        if len(partner.reps) < 2:
            continue  # a partner's only rep takes its rounded amount: nothing to round
        exact = {r.rep: abs(units) * r.share for r in partner.reps}
        got = {r.rep: abs(to_units(r.amount, unit)) for r in partner.reps}
        how = ("the hashed tie-break (sha256 of deal id, credit type, partner and rep)"
               if ruleset.tie_break.kind == "hashed"
               else "the declared tie-break order, then the rep id")
        reasons = _reasons(exact, got, how)
        lines.extend(
            RoundingLine(partner.partner, sign * exact[r.rep] * Fraction(unit), r.amount,
                         got[r.rep] > math.floor(exact[r.rep]), reasons[r.rep], rep=r.rep)
            for r in partner.reps)
    return tuple(lines)


def _reasons(exact: dict[str, Fraction], got: dict[str, int], tie_break: str
             ) -> dict[str, str]:
    """Why each party's exact amount (in units, refunds mirrored) rounded as it did."""
    remainder = {k: e - math.floor(e) for k, e in exact.items()}
    odd = {k for k in exact if got[k] > math.floor(exact[k])}
    rounded_down = [k for k in exact if remainder[k] and k not in odd]
    out = {}
    for k in exact:
        rem = remainder[k]
        rem_text = f"{decimal_reading(rem, 2)} of a unit"
        if not rem:
            reason = "exact: nothing to round"
        elif k in odd and not rounded_down:
            reason = f"remainder {rem_text}; every remainder is rounded up to reach the total"
        elif k in odd:
            tied = [q for q in rounded_down if remainder[q] == rem]
            if not tied:
                reason = f"largest remainder ({rem_text}) takes the odd unit"
            elif all(exact[q] == exact[k] for q in tied):
                reason = (f"remainder {rem_text}, equal to {', '.join(tied)}'s; {tie_break} "
                          "puts it first")
            else:
                reason = (
                    f"remainder {rem_text}, equal to {', '.join(tied)}'s; the larger "
                    "exact share takes the odd unit"
                )
        else:
            reason = f"remainder {rem_text} is rounded down: larger remainders took the units"
        out[k] = reason
    return out
