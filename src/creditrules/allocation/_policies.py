"""Whose policy governs each topic.

Per deal: the policy precedence rules of each topic are matched and resolved like credit
rules (exceptions, defaults, ambiguity is an error), giving one :class:`PolicyDecision` per
topic, with the limits it puts in force (``stricter``: limit by limit across partners).
How an expense is then borne under those limits is
:mod:`creditrules.allocation._expense_sharing`'s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from creditrules.agreement.policy import (
    ENTERTAINMENT,
    FORBIDDEN,
    Cap,
    EntertainmentPolicy,
    PolicyRule,
)
from creditrules.allocation._precedence import Precedence, rule_verdicts
from creditrules.allocation.model import Deal, Expense
from creditrules.allocation.results import (
    Limit,
    PolicyDecision,
    RuleVerdict,
)
from creditrules.base._money import to_units
from creditrules.conditions._ast import Facts, Path, Value
from creditrules.errors import AllocationError, AmbiguityError, DealError, NoApplicableRuleError

if TYPE_CHECKING:
    from creditrules.agreement.ruleset import Ruleset
    from creditrules.allocation._evaluate import Matcher

__all__ = ["PolicyEvaluator", "combine_entertainment"]


def _stricter(values: Sequence[tuple[str, Cap]]) -> tuple[Cap, tuple[str, ...]]:
    """The most restrictive cap (forbidden < any amount < unlimited) and who set it."""

    def rank(cap: Cap) -> tuple[int, Decimal]:
        if cap is FORBIDDEN:
            return (0, Decimal(0))
        if cap is None:
            return (2, Decimal(0))
        assert isinstance(cap, Decimal)
        return (1, cap)

    best = min((rank(v) for _, v in values), default=(2, Decimal(0)))
    value = next((v for _, v in values if rank(v) == best), None)
    return value, tuple(sorted(p for p, v in values if rank(v) == best))


def _cap_limit(name: str, cap: Cap, source: tuple[str, ...]) -> Limit:
    if isinstance(cap, Decimal) or cap is None:
        return Limit(f"cap.{name}", cap, source)
    return Limit(f"forbidden.{name}", True, source)


def combine_entertainment(policies: Mapping[str, EntertainmentPolicy]) -> tuple[Limit, ...]:
    """Entertainment limits of one policy, or under ``stricter`` of several: for each limit
    the most restrictive value across the policies, with the partner(s) it came from."""
    kinds = sorted({k for p in policies.values()
                    for k in (*p.caps, *p.forbidden, *(k for c in p.categories.values()
                                                       for k in c))})
    categories = sorted({c for p in policies.values() for c in p.categories})
    limits: list[Limit] = []
    for kind in kinds:
        limits.append(_cap_limit(kind, *_stricter([(pid, p.cap(kind, None))
                                                    for pid, p in sorted(policies.items())])))
        for category in categories:
            limits.append(_cap_limit(f"{kind}.{category}", *_stricter(
                [(pid, p.cap(kind, category)) for pid, p in sorted(policies.items())])))
    for name in ("preapproval_above", "annual_cap_per_attendee"):
        values: list[tuple[str, Cap]] = [(pid, getattr(p, name))
                                         for pid, p in sorted(policies.items())]
        value, source = _stricter(values)
        assert isinstance(value, Decimal) or value is None
        limits.append(Limit(name, value, source))
    return tuple(limits)


def _combine_topic(policies: Mapping[str, Mapping[str, Fraction]],
                   directions: Mapping[str, str]) -> tuple[Limit, ...]:
    limits = []
    for name, direction in sorted(directions.items()):
        values = [(pid, p[name]) for pid, p in sorted(policies.items()) if name in p]
        if not values:
            limits.append(Limit(name, None, tuple(sorted(policies))))
            continue
        pick = min if direction == "lower" else max
        best = pick(v for _, v in values)
        limits.append(Limit(name, best, tuple(p for p, v in values if v == best)))
    return tuple(limits)


class PolicyEvaluator:
    """Policy decisions and expense shares for one ruleset, prepared once."""

    def __init__(self, ruleset: Ruleset, make: Any) -> None:
        self.ruleset = ruleset
        self.partners = ruleset.partner_ids
        self.topics = sorted({r.topic for r in ruleset.policy_rules})
        self.directions = {t.name: t.limits for t in ruleset.topics}
        self.rules_by_topic = {t: [r for r in ruleset.policy_rules if r.topic == t]
                               for t in self.topics}
        self.policy_precedence = {t: Precedence(rules, {})  # type: ignore[arg-type]
                                  for t, rules in self.rules_by_topic.items()}
        self.expense_precedence = Precedence(ruleset.expense_rules, {})  # type: ignore[arg-type]
        self.policy_matcher: Matcher = make({r.key: r.when for r in ruleset.policy_rules
                                             if r.when is not None})
        self.expense_matcher: Matcher = make({r.key: r.when for r in ruleset.expense_rules
                                              if r.when is not None})
        self._limits: dict[tuple[str, str | None], tuple[Limit, ...]] = {}

    @property
    def active(self) -> bool:
        return bool(self.topics)

    # -- whose policy governs -------------------------------------------------------------
    def decisions(self, deal: Deal, facts: Facts, *, explain: bool, needed: set[str]
                  ) -> tuple[list[PolicyDecision], list[RuleVerdict]]:
        """One decision per topic. A topic the deal does not need (entertainment without
        expenses) is left out, rather than failing the deal, when the agreement cannot decide
        it for this deal (no rule applies, or the deciding fact is missing); the verdicts
        still show every rule."""
        matched = self.policy_matcher.match(facts) if self.topics else frozenset()
        decisions, verdicts = [], []
        for topic in self.topics:
            rules = {r.id: r for r in self.rules_by_topic[topic]}
            applicable = [r.id for r in rules.values() if r.when is None or r.key in matched]
            winners, beaten = self.policy_precedence[topic].resolve(applicable)
            verdicts += rule_verdicts(rules.values(), applicable, beaten, facts,
                                  f"policy:{topic}", explain=explain,
                                  version=self.ruleset.version)
            if not winners:
                if topic not in needed:
                    continue
                raise NoApplicableRuleError(f"no policy precedence rule says whose {topic} "
                                            "policy governs, and none is a default",
                                            deal_id=deal.id)
            chosen = [rules[w] for w in winners]
            first = chosen[0]
            for other in chosen[1:]:
                if (other.governs, other.partner) != (first.governs, first.partner):
                    raise AmbiguityError(
                        f"{topic} policy: rules {first.id} (clause {first.clause}) and "
                        f"{other.id} (clause {other.clause}) both apply and disagree "
                        f"({_governs(first)} against {_governs(other)}), and neither "
                        "prevails; declare which does with 'overrides'",
                        rules=(first.id, other.id), deal_id=deal.id)
            try:
                decisions.append(self.decide(deal, topic, first, payer=None))
            except AllocationError:
                if topic in needed:
                    raise
        return decisions, verdicts

    def decide(self, deal: Deal, topic: str, rule: PolicyRule, *, payer: str | None
               ) -> PolicyDecision:
        """The decision a rule makes for a deal (``payer``: for one expense)."""
        partner: str | None
        if rule.governs == "stricter":
            partner = None
        elif rule.governs == "partner":
            partner = rule.partner
        elif rule.governs == "account_owner":
            partner = deal.account.owner
        elif rule.governs == "lead_partner":
            partner = deal.lead.source
        else:  # payer: decided per expense
            partner = payer
            if payer is None:
                return PolicyDecision(topic, rule.id, rule.clause, rule.governs, None, ())
        if rule.governs != "stricter" and partner is None:
            what = {"account_owner": "account owner", "lead_partner": "lead source"}
            raise AllocationError(f"{topic} policy: rule {rule.id} (clause {rule.clause}) says "
                                  f"the {rule.governs.replace('_', ' ')}'s policy governs, but "
                                  f"the deal names no {what.get(rule.governs, 'partner')}",
                                  deal_id=deal.id)
        return PolicyDecision(topic, rule.id, rule.clause, rule.governs, partner,
                              self.limits(topic, partner))

    def limits(self, topic: str, partner: str | None) -> tuple[Limit, ...]:
        key = (topic, partner)
        found = self._limits.get(key)
        if found is None:
            policies = {p: t[topic] for p, t in self.ruleset.policies.items() if topic in t}
            if partner is not None:
                policies = {partner: policies[partner]}
            if topic == ENTERTAINMENT:
                found = combine_entertainment(
                    {p: v for p, v in policies.items() if isinstance(v, EntertainmentPolicy)})
            else:
                found = _combine_topic(
                    {p: v for p, v in policies.items() if not isinstance(v, EntertainmentPolicy)},
                    self.directions.get(topic, {}))
            self._limits[key] = found
        return found

    def check(self, deal: Deal, expense: Expense, field: str) -> None:
        if expense.paid_by not in self.partners:
            from creditrules.errors import suggest

            raise DealError(f"unknown partner {expense.paid_by!r}"
                            + suggest(expense.paid_by, self.partners), deal_id=deal.id,
                            field=f"{field}.paid_by", code="unknown-partner")
        try:
            to_units(expense.amount, self.ruleset.unit)
        except ValueError:
            raise DealError(f"{expense.amount} is not a whole number of {self.ruleset.unit}",
                            deal_id=deal.id, field=f"{field}.amount",
                            code="bad-amount") from None
        # Deals built in Python skip the reader's checks: no division by zero attendees, no
        # negative amounts (a negative spend would also widen an annual cap).
        if expense.amount < 0:
            raise DealError(f"an expense cannot be negative ({expense.amount})",
                            deal_id=deal.id, field=f"{field}.amount", code="bad-field")
        if not expense.attendees:
            raise DealError("an expense needs at least one attendee", deal_id=deal.id,
                            field=f"{field}.attendees", code="missing-field")
        known = self.categories()
        for j, attendee in enumerate(expense.attendees):
            if attendee.spent_this_year < 0:
                raise DealError(f"spent_this_year cannot be negative "
                                f"({attendee.spent_this_year})", deal_id=deal.id,
                                field=f"{field}.attendees[{j}].spent_this_year",
                                code="bad-field")
            if attendee.category is not None and attendee.category not in known:
                from creditrules.errors import suggest

                raise DealError(f"unknown attendee category {attendee.category!r}"
                                + suggest(attendee.category, known), deal_id=deal.id,
                                field=f"{field}.attendees[{j}].category",
                                code="unknown-category")

    def categories(self) -> frozenset[str]:
        return frozenset(c for topics in self.ruleset.policies.values()
                         for policy in topics.values() if isinstance(policy, EntertainmentPolicy)
                         for c in policy.categories)


def _attendee_cap(limits: Mapping[str, Limit], kind: str, category: str | None) -> Cap:
    names = ([f"{kind}.{category}"] if category else []) + [kind]
    for name in names:
        if f"forbidden.{name}" in limits:
            return FORBIDDEN
        lim = limits.get(f"cap.{name}")
        if lim is not None:
            assert lim.value is None or isinstance(lim.value, Decimal)
            return lim.value
    return FORBIDDEN  # a kind no governing policy lists is not allowed


def _whose(decision: PolicyDecision) -> str:
    if decision.partner is None:
        return f"the stricter of the policies (rule {decision.rule}, clause {decision.clause})"
    return f"{decision.partner}'s policy (rule {decision.rule}, clause {decision.clause})"


def _governs(rule: PolicyRule) -> str:
    return rule.partner or rule.governs


def expense_facts(facts: Facts, expense: Expense) -> Facts:
    """The deal's facts plus the expense's own, for expense sharing conditions."""
    scalars: dict[Path, Value] = dict(facts.scalars)
    scalars.update({
        ("expense", "id"): expense.id,
        ("expense", "kind"): expense.kind,
        ("expense", "amount"): expense.amount,
        ("expense", "paid_by"): expense.paid_by,
        ("expense", "attendees"): Decimal(len(expense.attendees)),
        ("expense", "date"): expense.date,
        ("expense", "preapproved"): expense.preapproved,
    })
    attendees: tuple[Mapping[Path, Value], ...] = tuple(
        {("category",): a.category} for a in expense.attendees)
    return Facts(scalars, {**facts.collections, "attendees": attendees})

