"""Credit outcomes -> exact shares: fixed splits, overlays, and credit by contribution.

Contribution is counted per activity and participant: an activity gives each partner that
took part in it ``weight(kind) x normalise(partner)`` points once (two reps of one partner on
the same call do not double it: credit follows the work, not the headcount), and each
participating rep ``weight(kind)`` points within its partner. The deal's lead counts as one
activity of kind ``lead_sourced`` by the lead's rep, or by its source partner.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction

import attrs

from creditrules.agreement.ruleset import ByContribution, Contribution, Outcome, Overlay, Split
from creditrules.allocation.model import Deal
from creditrules.errors import DealError

__all__ = ["LEAD_KIND", "Participation", "participations", "partner_shares", "rep_shares"]

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


def contribution_points(contribution: Contribution, acts: Sequence[Participation],
                        partners: Sequence[str]) -> dict[str, Fraction]:
    """Normalised, weighted points per partner."""
    points = {p: Fraction(0) for p in partners}
    for act in acts:
        weight = contribution.weights.get(act.kind)
        if not weight:
            continue
        for partner in act.partners:
            points[partner] += weight * contribution.factor(partner)
    return points


def partner_shares(outcome: Outcome, acts: Sequence[Participation],
                   partners: Sequence[str]) -> tuple[dict[str, Fraction], str]:
    """Exact shares per partner for an outcome, and a note when a fallback was used."""
    if isinstance(outcome, Split | Overlay):
        return {p: outcome.shares.get(p, Fraction(0)) for p in partners}, ""
    assert isinstance(outcome, ByContribution)
    points = contribution_points(outcome.contribution, acts, partners)
    total_points = sum(points.values(), Fraction(0))
    if total_points == 0:
        if outcome.fallback is not None:
            return ({p: outcome.total * outcome.fallback.get(p, Fraction(0)) for p in partners},
                    "no contribution recorded: the rule's if_no_contribution shares apply")
        n = len(partners)
        return ({p: outcome.total / n for p in partners},
                "no contribution recorded: shared equally")
    return {p: outcome.total * points[p] / total_points for p in partners}, ""


def rep_shares(deal: Deal, partner: str, share: Fraction, mode: str,
               contribution: Contribution | None,
               acts: Sequence[Participation]) -> dict[str, Fraction]:
    """Split a partner's exact share among its reps on the deal (empty when it has none)."""
    reps = sorted(r.id for r in deal.reps if r.partner == partner)
    if not reps or share == 0:
        return {}
    if mode == "owner":
        owners = sorted(r.id for r in deal.reps if r.partner == partner and r.owner)
        if len(owners) != 1:
            found = "none is" if not owners else f"{len(owners)} are"
            raise DealError(f"rep credit goes to {partner}'s deal owner, but {found} marked "
                            "owner", deal_id=deal.id, field="reps", code="no-owner")
        return {owners[0]: share}
    if mode == "by_contribution" and contribution is not None:
        points = {r: Fraction(0) for r in reps}
        for act in acts:
            weight = contribution.weights.get(act.kind)
            if weight:
                for rep in act.reps & points.keys():
                    points[rep] += weight
        total = sum(points.values(), Fraction(0))
        if total:
            return {r: share * points[r] / total for r in reps}
    return {r: share / len(reps) for r in reps}


def same_shares(a: Mapping[str, Fraction], b: Mapping[str, Fraction]) -> bool:
    """Two outcomes agree when every partner's share is the same."""
    keys = a.keys() | b.keys()
    return all(a.get(k, Fraction(0)) == b.get(k, Fraction(0)) for k in keys)
