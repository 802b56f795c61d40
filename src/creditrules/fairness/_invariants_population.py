"""Axioms about who takes part, checked exactly on the unrounded shares: population
monotonicity (one party's extra work lowers another's credit only through the contribution
split), independence of irrelevant participants (an idle rep changes nothing) and volume
neutrality (recording every activity k times changes nothing)."""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from creditrules.allocation.results import Allocation
from creditrules.fairness._invariant import Invariant, _pct, _rep_shares, _shares
from creditrules.fairness._report import Finding
from creditrules.fairness._subject import Subject

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

    from creditrules.fairness.strategies import OneMore


class PopulationMonotonicity(Invariant):
    """Population monotonicity: one more activity by a party never lowers the exact share
    of another partner that took no part in it, of any credit type, except through the
    contribution split itself (the same ``by_contribution`` rule deciding before and
    after, where more points for one partner mean a smaller proportion for the others). A
    threshold on one partner's activity that moves credit away from another is a
    violation."""

    name = "population-monotonicity"
    title = "population monotonicity: another's work never costs you except by proportion"
    hard = False

    def applies(self, subject: Subject) -> str | None:
        from creditrules.fairness._invariants_axioms import Monotonicity

        return Monotonicity().applies(subject)

    def examples(self, subject: Subject) -> SearchStrategy[Any]:
        from creditrules.fairness.strategies import one_more_activity

        return one_more_activity(subject.ruleset)

    def boundary(self, subject: Subject) -> list[Any]:
        from creditrules.fairness.strategies import one_more_at_bounds

        return one_more_at_bounds(subject.ruleset)

    def from_deal(self, subject: Subject, deal: Mapping[str, Any]) -> list[Any]:
        from creditrules.fairness.strategies import one_more_of

        return one_more_of(subject.ruleset, deal)

    def deals_of(self, example: OneMore) -> tuple[tuple[str, Mapping[str, Any]], ...]:
        return (("deal", example.deal), ("with one more activity", example.more))

    def findings(self, subject: Subject, example: OneMore) -> list[Finding]:
        a = subject.allocate(example.deal)
        b = subject.allocate(example.more)
        took_part = _performers(example.more)
        out = []
        for type_name in dict.fromkeys([c.type for c in a.credits] + [c.type for c in b.credits]):
            ca, cb = a.credit(type_name), b.credit(type_name)
            proportional = (
                ca is not None
                and cb is not None
                and ca.rules == cb.rules
                and ca.outcome == cb.outcome == "by_contribution"
            )
            if proportional:
                continue
            for q in subject.partners:
                if q in took_part:
                    continue
                before = Fraction(0) if ca is None else ca.share(q)
                after = Fraction(0) if cb is None else cb.share(q)
                if after < before:
                    who = example.rep or example.partner
                    out.append(
                        Finding(
                            f"one more {example.kind} by {who} lowers {q}'s {type_name} credit "
                            f"from {_pct(before)} to {_pct(after)}, though {q} took no part in it",
                            deals=self.deals_of(example),
                            allocations=(("deal", a), ("more", b)),
                            rules=subject.credit_rules(a, b, types=[type_name]),
                            partners=(q,),
                            fields=(example.kind, type_name),
                            magnitude=before - after,
                        )
                    )
        return out


def _performers(deal: Mapping[str, Any]) -> set[str]:
    """The partners who took part in the deal's last activity."""
    owner = {str(r["id"]): str(r["partner"]) for r in deal.get("reps", ())}
    last = deal["activities"][-1]
    out = {str(last["partner"])} if "partner" in last else set()
    out.update(
        owner[str(r)]
        for r in [last.get("rep"), *last.get("reps", ())]
        if r is not None and str(r) in owner
    )
    return out


def _changes(
    subject: Subject,
    a: Allocation,
    b: Allocation,
    what: str,
    deals: tuple[tuple[str, Mapping[str, Any]], ...],
    field: str,
    reps_of: frozenset[str] | None = None,
) -> list[Finding]:
    """A finding per credit type whose exact partner shares (and, for the reps of
    partners other than ``reps_of``, rep shares) differ between ``a`` and ``b``."""
    out = []
    sa, sb = _shares(a), _shares(b)
    ra, rb = _rep_shares(a), _rep_shares(b)
    for type_name in dict.fromkeys([*sa, *sb]):
        x, y = sa.get(type_name, {}), sb.get(type_name, {})
        changed = sorted(
            p for p in set(x) | set(y) if x.get(p, Fraction(0)) != y.get(p, Fraction(0))
        )
        rx, ry = ra.get(type_name, {}), rb.get(type_name, {})
        reps = sorted(
            r
            for r in set(rx) & set(ry)
            if rx[r] != ry[r]
            and (reps_of is None or not any(r.startswith(p + "-") for p in reps_of))
        )
        if not changed and not reps:
            continue
        who = changed[0] if changed else reps[0]
        before = x.get(who, rx.get(who, Fraction(0)))
        after = y.get(who, ry.get(who, Fraction(0)))
        gainers = tuple(p for p in changed if y.get(p, Fraction(0)) > x.get(p, Fraction(0)))
        out.append(
            Finding(
                f"{what} changes {who}'s {type_name} share from {_pct(before)} to {_pct(after)}",
                deals=deals,
                allocations=(("deal", a), ("changed", b)),
                rules=subject.credit_rules(a, b, types=[type_name]),
                partners=gainers or tuple(changed),
                fields=(field, type_name),
                magnitude=max(
                    [abs(x.get(p, Fraction(0)) - y.get(p, Fraction(0))) for p in changed]
                    or [abs(before - after)]
                ),
            )
        )
    return out


class IrrelevantParticipants(Invariant):
    """Independence of irrelevant participants: adding to a deal a rep of some partner who
    did nothing (no activity, not the deal owner, not the lead's rep) changes no partner's
    exact share of any credit type, nor the share of any rep of another partner. (How the
    idle rep's own partner divides its credit among its reps is null player's business.)"""

    name = "irrelevant-participants"
    title = "independence of irrelevant participants: an idle rep changes nothing"
    hard = False

    def examples(self, subject: Subject) -> SearchStrategy[Any]:
        from hypothesis import strategies as st

        from creditrules.fairness.strategies import deals

        return st.tuples(deals(subject.ruleset), st.sampled_from(subject.partners))

    def from_deal(self, subject: Subject, deal: Mapping[str, Any]) -> list[Any]:
        # Credit shares do not depend on expenses: the boundary deals that differ only in
        # theirs (each cap, each payer) make one example.
        deal = {k: v for k, v in deal.items() if k != "expenses"}
        return [(deal, p) for p in subject.partners]

    def deals_of(self, example: Any) -> tuple[tuple[str, Mapping[str, Any]], ...]:
        deal, partner = example
        more = _with_idle_rep(deal, partner)
        return (("deal", deal), (f"with an idle {partner} rep", more))

    def findings(self, subject: Subject, example: Any) -> list[Finding]:
        deal, partner = example
        deals = self.deals_of(example)
        a = subject.allocate(deal)
        b = subject.allocate(deals[1][1])
        return _changes(
            subject,
            a,
            b,
            f"adding an idle {partner} rep",
            deals,
            "reps",
            reps_of=frozenset({partner}),
        )


def _with_idle_rep(deal: Mapping[str, Any], partner: str) -> dict[str, Any]:
    reps = list(deal.get("reps", ()))
    taken = {str(r["id"]) for r in reps}
    n = 1
    while f"{partner}-{n}" in taken:
        n += 1
    return {**deal, "reps": [*reps, {"id": f"{partner}-{n}", "partner": partner}]}


class VolumeNeutrality(Invariant):
    """Volume neutrality (weight scaling): recording every activity of a deal k times
    (k = 2, 3) leaves every exact share, partner and rep, of every credit type unchanged:
    credit follows the proportions of the work, as the declared weights and normalisation
    say, not its volume (8 short calls against 2 long ones count as the normalisation
    declares, whoever logs more)."""

    name = "volume-neutrality"
    title = "volume neutrality: the same work logged k times, the same shares"
    hard = False

    def applies(self, subject: Subject) -> str | None:
        from creditrules.fairness._invariants_axioms import Monotonicity

        return Monotonicity().applies(subject)

    def examples(self, subject: Subject) -> SearchStrategy[Any]:
        from hypothesis import strategies as st

        from creditrules.fairness.strategies import deals

        return st.tuples(
            st.sampled_from((2, 3)),
            deals(subject.ruleset, expenses=False).map(lambda d: _unsourced(subject, d)),
        )

    def boundary(self, subject: Subject) -> list[Any]:
        """At every activity count threshold n, the deal with just enough items that k
        times as many reach it (ceil(n / k)), for k = 2 and 3."""
        from creditrules.analysis._mining import count_bounds
        from creditrules.fairness.strategies import space

        sp = space(subject.ruleset)
        out = []
        for bound in count_bounds(subject.ruleset):
            if bound.collection != "activities":
                continue
            for base in sp.boundary_bases():
                for k in (2, 3):
                    items = -(-bound.n // k)
                    if items > 0:
                        deal = sp.with_items(
                            _unsourced(subject, base), "activities", bound.values, items
                        )
                        out.append((k, deal))
        return out + super().boundary(subject)

    def from_deal(self, subject: Subject, deal: Mapping[str, Any]) -> list[Any]:
        deal = _unsourced(subject, deal)
        return [(k, deal) for k in (2, 3)] if deal.get("activities") else []

    def deals_of(self, example: Any) -> tuple[tuple[str, Mapping[str, Any]], ...]:
        k, deal = example
        acts = [a for a in deal.get("activities", ()) for _ in range(k)]
        return (("deal", deal), (f"every activity x {k}", {**deal, "activities": acts}))

    def findings(self, subject: Subject, example: Any) -> list[Finding]:
        k, _ = example
        deals = self.deals_of(example)
        if not deals[0][1].get("activities"):
            return []
        a = subject.allocate(deals[0][1])
        b = subject.allocate(deals[1][1])
        return _changes(subject, a, b, f"recording every activity {k} times", deals, "activities")


def _unsourced(subject: Subject, deal: Mapping[str, Any]) -> dict[str, Any]:
    """The deal without its lead where the lead counts as contribution: sourcing a lead
    is done once, however often the activities are logged."""
    from creditrules.agreement.ruleset import ByContribution
    from creditrules.allocation._outcomes import LEAD_KIND

    rs = subject.ruleset
    weighs = [rs.contribution] + [
        r.outcome.contribution for r in rs.rules if isinstance(r.outcome, ByContribution)
    ]
    if any(c is not None and c.weights.get(LEAD_KIND) for c in weighs):
        return {k: v for k, v in deal.items() if k != "lead"}
    return dict(deal)
