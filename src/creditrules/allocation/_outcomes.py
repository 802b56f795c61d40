"""Who took part in a deal, as contribution counts it, and when two outcomes agree.

Contribution is counted per activity and participant: an activity gives each partner that
took part in it ``weight(kind) x normalise(partner)`` points once (two reps of one partner on
the same call do not double it: credit follows the work, not the headcount), and each
participating rep ``weight(kind)`` points within its partner. The deal's lead counts as one
activity of kind ``lead_sourced`` by the lead's rep, or by its source partner. The
allocation pipeline counts them in integers (:mod:`creditrules.allocation._numbers`); the
explanation's points table (:mod:`creditrules.allocation._workings`) and the fairness checks
read a deal's participations from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction

import attrs

from creditrules.allocation.model import Deal

__all__ = ["LEAD_KIND", "Participation", "participations", "same_shares"]

LEAD_KIND = "lead_sourced"


@attrs.frozen
class Participation:
    """One activity as contribution sees it: its kind, partners and reps."""

    kind: str
    partners: frozenset[str]
    reps: frozenset[str]


def participations(deal: Deal) -> tuple[Participation, ...]:
    """The deal's activities (and its lead) with each participant's partner resolved."""
    rep_partner = {r.id: r.partner for r in deal.reps}
    out = []
    for activity in deal.activities:
        partners = {rep_partner[r] for r in activity.reps}
        if activity.partner is not None:
            partners.add(activity.partner)
        out.append(Participation(activity.kind, frozenset(partners), frozenset(activity.reps)))
    if deal.lead.source is not None:
        rep = deal.lead.rep if deal.lead.rep in rep_partner else None
        out.append(Participation(LEAD_KIND, frozenset({deal.lead.source}),
                                 frozenset({rep} if rep else ())))
    return tuple(out)


def same_shares(a: Mapping[str, Fraction], b: Mapping[str, Fraction]) -> bool:
    """Two outcomes agree when every partner's share is the same."""
    keys = a.keys() | b.keys()
    return all(a.get(k, Fraction(0)) == b.get(k, Fraction(0)) for k in keys)
