"""What the pipeline decides once and reuses: a credit type's plan (its verdicts, winners
and the integers its numbers need), a policy plan, and the computed deal."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from creditrules.agreement.ruleset import (
    ByContribution,
    Contribution,
    CreditRule,
    CreditType,
    Outcome,
    Overlay,
    Split,
)
from creditrules.allocation.ledger import policy_text
from creditrules.allocation.results import ExpenseShare, PolicyDecision, RuleVerdict
from creditrules.base._money import percent_text
from creditrules.conditions._ast import Facts
from creditrules.errors import AmbiguityError

if TYPE_CHECKING:
    from creditrules.allocation._pipeline import Pipeline

__all__ = [
    "NO_POLICY",
    "ComputedDeal",
    "PolicyPlan",
    "TypePlan",
    "ambiguity",
    "common_denominator",
    "fixed_shares",
    "integer_weights",
    "rep_points_of",
    "same_fixed_shares",
]


def integer_weights(contribution: Contribution, partners: Sequence[str]
                    ) -> tuple[dict[str, tuple[int, ...]], dict[str, int]]:
    """Weights as integers over one common denominator (ratios are all that matter):
    per kind, the points each partner earns (weight x normalise) and a rep earns (weight)."""
    by_partner = {k: [w * contribution.factor(p) for p in partners]
                  for k, w in contribution.weights.items() if w}
    scale = math.lcm(1, *(f.denominator for fs in by_partner.values() for f in fs))
    rep_scale = math.lcm(1, *(w.denominator for w in contribution.weights.values()))
    partner_points = {k: tuple(int(f * scale) for f in fs) for k, fs in by_partner.items()}
    rep_points = {k: int(w * rep_scale) for k, w in contribution.weights.items() if w}
    return partner_points, rep_points


class TypePlan:
    """One credit type's decision for a set of matching conditions and rules in force: its
    verdicts and, when some rule applies, the winners and what their numbers need."""

    __slots__ = ("_verdicts", "active", "alternatives", "clauses", "contribution", "ctype",
                 "declared", "empty", "fixed", "mode", "name", "outcome", "points",
                 "rep_points", "rules", "rules_text", "total", "total_num", "winners")

    def __init__(self, fast: Pipeline, ctype: CreditType, winners: Sequence[CreditRule],
                 verdicts: Callable[[], tuple[RuleVerdict, ...]]) -> None:
        self.name = ctype.name
        self.ctype = ctype
        self.winners = tuple(winners)
        # Other prevailing rules whose shares depend on each deal (by contribution): each
        # deal's shares are compared with theirs, and differing ones are ambiguous.
        self.alternatives: tuple[TypePlan, ...] = ()
        self.declared = ctype.declared
        self._verdicts: tuple[RuleVerdict, ...] | Callable[[], tuple[RuleVerdict, ...]] = \
            verdicts
        self.active = bool(winners)
        self.rules = tuple(r.id for r in winners)
        self.clauses = tuple(r.clause for r in winners)
        self.rules_text = ";".join(self.rules)
        # Shares as integer numerators over one denominator, in partner order.
        self.fixed: tuple[tuple[int, ...], int] | None = None
        self.empty: tuple[tuple[int, ...], int, str] | None = None
        self.points: dict[str, tuple[int, ...]] = {}
        self.total = Fraction(0)
        self.total_num: tuple[int, int] = (0, 1)
        self.outcome = ""
        self.mode = ""
        self.contribution = False
        self.rep_points: dict[str, int] = {}
        if not winners:
            return
        if len(winners) > 1 and not all(isinstance(r.outcome, Split | Overlay)
                                        for r in winners):
            self.alternatives = tuple(TypePlan(fast, ctype, [r], tuple) for r in winners[1:])
        rs, partners = fast.rs, fast.partners
        first = winners[0]
        outcome = first.outcome
        self.outcome = outcome.kind
        self.mode = first.rep_credit or rs.rep_credit
        contribution = (outcome.contribution if isinstance(outcome, ByContribution)
                        else rs.contribution)
        self.contribution = contribution is not None and self.mode == "by_contribution"
        if contribution is not None:
            self.rep_points = fast.contribution_ints(contribution)[1]
        if isinstance(outcome, Split | Overlay):
            shares = [outcome.shares.get(p, Fraction(0)) for p in partners]
            self.fixed = common_denominator(shares)
            self.total = sum(shares, Fraction(0))
        else:
            assert isinstance(outcome, ByContribution)
            self.points = fast.contribution_ints(outcome.contribution)[0]
            total = outcome.total
            self.total_num = (total.numerator, total.denominator)
            if outcome.fallback is not None:
                empty = [total * outcome.fallback.get(p, Fraction(0)) for p in partners]
                note = "no contribution recorded: the rule's if_no_contribution shares apply"
            else:
                empty = [total / len(partners) for _ in partners]
                note = "no contribution recorded: shared equally"
            nums, den = common_denominator(empty)
            self.empty = (nums, den, note)


    def with_verdicts(self, verdicts: Callable[[], tuple[RuleVerdict, ...]]) -> TypePlan:
        """The same numbers with other verdicts (another set of matching conditions)."""
        plan = TypePlan.__new__(TypePlan)
        for name in TypePlan.__slots__:
            setattr(plan, name, getattr(self, name))
        plan._verdicts = verdicts
        return plan

    @property
    def verdicts(self) -> tuple[RuleVerdict, ...]:
        """Each rule's verdict: built when first asked (ledger rows never ask)."""
        found = self._verdicts
        if callable(found):
            found = self._verdicts = found()
        return found


def common_denominator(shares: Sequence[Fraction]) -> tuple[tuple[int, ...], int]:
    den = math.lcm(1, *(s.denominator for s in shares))
    return tuple(s.numerator * (den // s.denominator) for s in shares), den


class PolicyPlan:
    """The policy decisions (one per topic) for a set of matching policy conditions."""

    __slots__ = ("policies", "text", "verdicts")

    def __init__(self, policies: tuple[PolicyDecision, ...],
                 verdicts: tuple[RuleVerdict, ...]) -> None:
        self.policies = policies
        self.verdicts = verdicts
        self.text = ";".join(policy_text(p) for p in policies) or None


NO_POLICY = PolicyPlan((), ())


class ComputedDeal:
    """One deal's credit as the pipeline computed it (integers; texts made on demand).

    ``credits`` lists, per credit type with a winner, ``(type plan, partners,
    contributed)``; a partner is ``(id, share numerator, share denominator, units, reps)``
    and a rep ``(id, numerator, denominator, units)``. Shares are fractions of the deal
    amount, not reduced. ``types`` has every type's plan (for verdicts); ``expenses`` each
    expense's share and rule verdicts, by expense id, and ``expense_facts`` the facts its
    sharing conditions read.
    """

    __slots__ = ("acts", "credits", "date", "day", "expense_facts", "expenses", "facts", "id",
                 "policy", "segment", "types", "units")

    def __init__(self, deal_id: str, day: dt.date, units: int, segment: int,
                 types: tuple[TypePlan, ...], policy: PolicyPlan,
                 credits: list[tuple[TypePlan, list[Any], bool]],
                 expenses: tuple[tuple[ExpenseShare, tuple[RuleVerdict, ...]], ...],
                 facts: Facts, expense_facts: tuple[Facts, ...],
                 acts: list[tuple[str, frozenset[str], tuple[str, ...]]]) -> None:
        self.id = deal_id
        self.day = day
        self.date = day.isoformat()
        self.units = units
        self.segment = segment
        self.types = types
        self.policy = policy
        self.credits = credits
        self.expenses = expenses
        # What conditions read, kept for explanations (deferred: read only when asked).
        self.facts = facts
        self.expense_facts = expense_facts
        self.acts = acts  # the participations, for the points table of an explanation


def rep_points_of(weights: Mapping[str, int],
                  acts: list[tuple[str, frozenset[str], tuple[str, ...]]]) -> dict[str, int]:
    """Each rep's contribution points (weights not normalised: within one partner)."""
    points: dict[str, int] = {}
    for kind, _, reps in acts:
        w = weights.get(kind)
        if w:
            for r in reps:
                points[r] = points.get(r, 0) + w
    return points


def same_fixed_shares(a: Outcome, b: Outcome, partners: Sequence[str]) -> bool:
    assert isinstance(a, Split | Overlay)
    assert isinstance(b, Split | Overlay)
    return all(a.shares.get(p, Fraction(0)) == b.shares.get(p, Fraction(0)) for p in partners)


def fixed_shares(rule: CreditRule) -> dict[str, Fraction]:
    assert isinstance(rule.outcome, Split | Overlay)
    return dict(rule.outcome.shares)


def ambiguity(ctype: CreditType, first: CreditRule, other: CreditRule,
              shares: Mapping[str, Fraction], others: Mapping[str, Fraction],
              deal_id: str) -> AmbiguityError:
    """Two prevailing rules of one credit type that disagree on this deal."""
    def describe(s: Mapping[str, Fraction]) -> str:
        return ", ".join(f"{p} {percent_text(v)}" for p, v in sorted(s.items()) if v)

    return AmbiguityError(
        f"{ctype.name} credit: rules {first.id} (clause {first.clause}) and {other.id} "
        f"(clause {other.clause}) both apply and disagree ({describe(shares)} against "
        f"{describe(others)}), and neither prevails; declare which does with 'overrides' "
        "or 'precedence'", rules=(first.id, other.id), deal_id=deal_id)
