"""The fairness invariant base classes, the names of the hard and soft invariants, and the
readings of allocations (shares, points, deciding rules) the invariants share."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from creditrules.agreement._vocabulary import HARD_INVARIANTS as HARD_INVARIANTS
from creditrules.agreement._vocabulary import SOFT_INVARIANTS as SOFT_INVARIANTS
from creditrules.agreement.ruleset import Contribution, CreditRule, Ruleset
from creditrules.allocation.results import Allocation, TypeCredit
from creditrules.base._money import percent_text
from creditrules.fairness._report import Finding
from creditrules.fairness._subject import Subject

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy


# =========================================================================================
# Helpers on allocations


def _pct(share: Fraction) -> str:
    return percent_text(share)


def _shares(a: Allocation) -> dict[str, dict[str, Fraction]]:
    return {c.type: {p.partner: p.share for p in c.partners} for c in a.credits}


def _rep_shares(a: Allocation) -> dict[str, dict[str, Fraction]]:
    return {c.type: {r.rep: r.share for p in c.partners for r in p.reps} for c in a.credits}


def _share(a: Allocation, type_name: str, partner: str) -> Fraction:
    credit = a.credit(type_name)
    return Fraction(0) if credit is None else credit.share(partner)


def _rep_share(a: Allocation, type_name: str, rep: str) -> Fraction:
    return _rep_shares(a).get(type_name, {}).get(rep, Fraction(0))


def _units(value: Decimal, unit: Decimal) -> Fraction:
    return Fraction(value) / Fraction(unit)


def _deciding(subject: Subject, credit: TypeCredit, day: Any) -> list[CreditRule]:
    found = [subject.rule(rid, credit.type, day) for rid in credit.rules]
    return [r for r in found if r is not None]


def _points(contribution: Contribution | None, deal: Mapping[str, Any]
            ) -> tuple[dict[str, Fraction], dict[str, Fraction]]:
    """Contribution points per partner (normalised) and per rep (not normalised), as the
    library counts them; without declared weights, each activity counts one."""
    from creditrules.allocation._outcomes import participations
    from creditrules.allocation.model import Deal

    parsed = Deal.from_mapping(deal)
    partners: dict[str, Fraction] = {}
    reps: dict[str, Fraction] = {}
    for act in participations(parsed):
        weight = (Fraction(1) if contribution is None
                  else contribution.weights.get(act.kind, Fraction(0)))
        if not weight:
            continue
        for p in act.partners:
            factor = Fraction(1) if contribution is None else contribution.factor(p)
            partners[p] = partners.get(p, Fraction(0)) + weight * factor
        for r in act.reps:
            reps[r] = reps.get(r, Fraction(0)) + weight
    return partners, reps


# =========================================================================================
# The invariants


class Invariant:
    """A named fairness invariant: its definition is the class docstring.

    :meth:`examples` gives the hypothesis strategy of examples for a ruleset, :meth:`check`
    returns a :class:`Finding` for an example that breaks the invariant (``None`` when it
    holds) and may raise :class:`~creditrules.errors.AllocationError` for a deal the
    agreement does not decide (counted, and reported by ``coverage``).
    """

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    hard: ClassVar[bool] = True

    def applies(self, subject: Subject) -> str | None:
        """Why the invariant does not apply to the ruleset (``None``: it does)."""
        return None

    def information(self, subject: Subject) -> tuple[str, ...]:
        """Facts about the ruleset that make a counterexample information, not a failure."""
        return ()

    def examples(self, subject: Subject) -> SearchStrategy[Any]:
        from creditrules.fairness.strategies import deals

        return deals(subject.ruleset)

    def deals_of(self, example: Any) -> tuple[tuple[str, Mapping[str, Any]], ...]:
        """The labelled deals of an example (the first one is the counterexample)."""
        return (("deal", example),)

    def check(self, subject: Subject, example: Any) -> Finding | None:
        found = self.findings(subject, example)
        return found[0] if found else None

    def findings(self, subject: Subject, example: Any) -> list[Finding]:
        """Every distinct way the example breaks the invariant (each credit type, each
        party); an invariant defines this or :meth:`check`."""
        if type(self).check is Invariant.check:
            raise NotImplementedError
        found = self.check(subject, example)
        return [] if found is None else [found]

    def once(self, subject: Subject) -> tuple[list[Finding], int, tuple[str, ...]] | None:
        """For an invariant checked over one fixed run of deals rather than searched: its
        findings, the number of deals tried and what to report either way (``None``: the
        invariant is searched)."""
        return None

    def boundary(self, subject: Subject) -> list[Any]:
        """Deterministic examples tried whatever the seed: by default one per boundary
        deal of the ruleset (each literal and threshold its conditions compare with, one
        below, at and one above), see :meth:`DealSpace.boundary_deals`."""
        from creditrules.fairness.strategies import space

        return [e for deal in space(subject.ruleset).boundary_deals()
                for e in self.from_deal(subject, deal)]

    def from_deal(self, subject: Subject, deal: Mapping[str, Any]) -> list[Any]:
        """The examples built on one given deal (a seed deal, a boundary deal); ``[]``
        for an invariant whose examples a deal alone cannot make."""
        return [deal]

    @property
    def summary(self) -> str:
        """The first line of the definition."""
        return (self.__doc__ or "").strip().splitlines()[0]


class AllocationInvariant(Invariant):
    """An invariant of each allocation on its own (checkable on hand-built allocations)."""

    def findings(self, subject: Subject, example: Any) -> list[Finding]:
        allocation = subject.allocate(example)
        return [attrs.evolve(f, deals=(("deal", example),),
                             allocations=(("allocation", allocation),),
                             rules=f.rules or subject.credit_rules(allocation))
                for f in self.violations(allocation, subject.ruleset, example)]

    def violations(self, allocation: Allocation, ruleset: Ruleset,
                   deal: Mapping[str, Any] | None = None) -> list[Finding]:
        """Every way ``allocation`` (of ``deal`` under ``ruleset``) breaks the invariant."""
        raise NotImplementedError


def _rules_of(credit: TypeCredit) -> tuple[tuple[str, str], ...]:
    return tuple(zip(credit.rules, credit.clauses, strict=True))
