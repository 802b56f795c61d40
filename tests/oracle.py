"""The test oracle: allocation written the plain way, in exact fractions, one deal at a time.

The product has one allocation path (``creditrules.allocation``): read the deal once, encode
its features, look up the cached decision, do the arithmetic in integers. This module is
the independent statement of the same semantics that tests compare it with: every share a
Fraction, every rule matched by the reference evaluator over the deal's facts, rounding by
Fraction largest remainder, nothing cached. It shares with the product only what is the
agreement's own data and the pieces that are not arithmetic: the deal reader and checks,
the precedence resolution and the policy decisions (tested on their own).

It was the product's "plain path" until the single path replaced it; it lives here so that
a divergence in the fast arithmetic cannot hide.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import Any

import attrs

from creditrules import Allocation, Deal, Expense, Ruleset
from creditrules.agreement.policy import ENTERTAINMENT, ExpenseRule
from creditrules.agreement.ruleset import ByContribution, Contribution, CreditRule, CreditType
from creditrules.allocation._deferred import Deferred
from creditrules.allocation._evaluate import Evaluator, deal_facts
from creditrules.allocation._outcomes import Participation, participations
from creditrules.allocation._policies import _attendee_cap, _whose, expense_facts
from creditrules.allocation._precedence import rule_verdicts
from creditrules.allocation._workings import work_out
from creditrules.allocation.results import (
    ExpensePart,
    ExpenseShare,
    PartnerCredit,
    PolicyDecision,
    RepCredit,
    RuleVerdict,
    TypeCredit,
)
from creditrules.base._money import TieBreak, from_units, percent_text, to_units
from creditrules.conditions._ast import Facts
from creditrules.conditions._conditions import evaluate
from creditrules.errors import AllocationError, AmbiguityError, DealError, NoApplicableRuleError


def allocate(ruleset: Ruleset, deal: Deal | Mapping[str, Any], *, explain: bool = False
             ) -> Allocation:
    """``ruleset``'s allocation of ``deal``, computed the plain way (or the error it gives)."""
    ev = ruleset._evaluator
    assert isinstance(ev, Evaluator)
    if not isinstance(deal, Deal):
        deal = Deal.from_mapping(deal)
    ev.check(deal)
    facts = deal_facts(deal, ev.attributes)
    matched = frozenset(r.key for r in ruleset.rules
                        if r.when is not None and evaluate(r.when, facts))
    verdicts: list[RuleVerdict] = []
    credits: list[TypeCredit] = []
    acts = participations(deal)
    in_force = list(ruleset.rules_in_force(deal.date))
    precedence = ev.precedence(in_force, deal.date)
    for rule in ruleset.rules:
        if not rule.effective.contains(deal.date):
            verdicts.append(ev.verdict(rule, "not-in-force",
                                       reasons=(f"it is in force {rule.effective} only",)))
    for ctype in ruleset.credit_types:
        rules = [r for r in in_force if r.type == ctype.name]
        applicable = {r.id: r for r in rules if r.when is None or r.key in matched}
        winners, beaten = precedence.resolve(applicable)
        verdicts += rule_verdicts(rules, applicable, beaten, facts, ctype.name,
                                 explain=explain)
        if not winners:
            if ctype.required:
                raise NoApplicableRuleError(
                    f"no {ctype.name} credit rule applies and the ruleset declares no "
                    "default", deal_id=deal.id)
            continue
        credits.append(_credit(ruleset, deal, ctype, [applicable[w] for w in winners], acts))
    policies: list[PolicyDecision] = []
    expenses: list[ExpenseShare] = []
    if ev.policy.active:
        needed = {ENTERTAINMENT} if deal.expenses else set()
        policies, more = ev.policy.decisions(deal, facts, explain=explain, needed=needed)
        verdicts.extend(more)
    if deal.expenses:
        entertainment = next((p for p in policies if p.topic == ENTERTAINMENT), None)
        revenue = next((c for c in credits if not c.declared), None)
        credit_shares = None if revenue is None else {
            p.partner: p.share for p in revenue.partners}
        for expense in deal.expenses:
            share, more = share_expense(ruleset, deal, facts, expense, entertainment,
                                        credit_shares, explain=explain)
            expenses.append(share)
            verdicts.extend(more)
    verdicts.sort(key=ev.verdict_order)
    units = to_units(deal.amount, ruleset.unit)
    return Allocation(deal.id, deal.date, from_units(units, ruleset.unit), deal.currency,
                      ev.ref, tuple(credits), tuple(verdicts), tuple(policies),
                      tuple(sorted(expenses, key=lambda e: e.expense)),
                      Deferred(work_out, ruleset, deal.id, deal.date, units, credits, acts))


def partner_shares(outcome: Any, acts: Sequence[Participation], partners: Sequence[str]
                   ) -> tuple[dict[str, Fraction], str]:
    if not isinstance(outcome, ByContribution):
        return {p: outcome.shares.get(p, Fraction(0)) for p in partners}, ""
    points = {p: Fraction(0) for p in partners}
    for act in acts:
        weight = outcome.contribution.weights.get(act.kind)
        if weight:
            for partner in act.partners:
                points[partner] += weight * outcome.contribution.factor(partner)
    total_points = sum(points.values(), Fraction(0))
    if total_points == 0:
        if outcome.fallback is not None:
            return ({p: outcome.total * outcome.fallback.get(p, Fraction(0)) for p in partners},
                    "no contribution recorded: the rule's if_no_contribution shares apply")
        return ({p: outcome.total / len(partners) for p in partners},
                "no contribution recorded: shared equally")
    return {p: outcome.total * points[p] / total_points for p in partners}, ""


def rep_shares(deal: Deal, partner: str, share: Fraction, mode: str,
               contribution: Contribution | None, acts: Sequence[Participation]
               ) -> dict[str, Fraction]:
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


def largest_remainder(total: int, shares: Mapping[str, Fraction], tie_break: TieBreak,
                      salt: str) -> dict[str, int]:
    """Hamilton's method in Fractions: floors, then the leftover units to the largest
    remainders (then the larger share, the tie-break, the id); refunds mirror sales."""
    if total < 0:
        return {p: -u for p, u in largest_remainder(-total, shares, tie_break, salt).items()}
    exact = {p: total * s for p, s in shares.items()}
    return apportion(exact, round(sum(exact.values(), Fraction(0))), tie_break, salt)


def apportion(exact: Mapping[str, Fraction], target: int, tie_break: TieBreak,
              salt: str) -> dict[str, int]:
    if target < 0 or any(v < 0 for v in exact.values()):
        mirrored = apportion({p: -v for p, v in exact.items()}, -target, tie_break, salt)
        return {p: -u for p, u in mirrored.items()}
    got = {p: math.floor(v) for p, v in exact.items()}
    left = target - sum(got.values())
    order = sorted((p for p, v in exact.items() if v != math.floor(v)),
                   key=lambda p: (-(exact[p] - math.floor(exact[p])), -exact[p],
                                  tie_break.key(p, salt), p))
    assert 0 <= left <= len(order), (target, exact)
    for p in order[:left]:
        got[p] += 1
    return got


def _describe(shares: Mapping[str, Fraction]) -> str:
    return ", ".join(f"{p} {percent_text(s)}" for p, s in sorted(shares.items()) if s)


def _credit(rs: Ruleset, deal: Deal, ctype: CreditType, winners: list[CreditRule],
            acts: tuple[Participation, ...]) -> TypeCredit:
    partners = rs.partner_ids
    results = [(rule, *partner_shares(rule.outcome, acts, partners)) for rule in winners]
    first_rule, shares, note = results[0]
    for rule, other, _ in results[1:]:
        if any(shares.get(p, 0) != other.get(p, 0) for p in {*shares, *other}):
            raise AmbiguityError(
                f"{ctype.name} credit: rules {first_rule.id} (clause {first_rule.clause}) "
                f"and {rule.id} (clause {rule.clause}) both apply and disagree "
                f"({_describe(shares)} against {_describe(other)}), and neither prevails; "
                "declare which does with 'overrides' or 'precedence'",
                rules=(first_rule.id, rule.id), deal_id=deal.id)
    total = sum(shares.values(), Fraction(0))
    units = to_units(deal.amount, rs.unit)
    salt = f"{deal.id}\x1f{ctype.name}"
    partner_units = largest_remainder(units, shares, rs.tie_break, salt)
    mode = first_rule.rep_credit or rs.rep_credit
    contribution = (first_rule.outcome.contribution
                    if isinstance(first_rule.outcome, ByContribution) else rs.contribution)
    lines = []
    for pid in partners:
        share = shares[pid]
        if share == 0 and partner_units[pid] == 0:
            continue
        reps = rep_shares(deal, pid, share, mode, contribution, acts)
        rep_lines: tuple[RepCredit, ...] = ()
        if reps:
            rep_units = apportion({r: units * s for r, s in reps.items()}, partner_units[pid],
                                  rs.tie_break, f"{salt}\x1f{pid}")
            rep_lines = tuple(RepCredit(r, reps[r], from_units(rep_units[r], rs.unit))
                              for r in sorted(reps))
        lines.append(PartnerCredit(pid, share, from_units(partner_units[pid], rs.unit),
                                   rep_lines))
    return TypeCredit(
        type=ctype.name, total=total, declared=ctype.declared,
        rules=tuple(r.id for r in winners), clauses=tuple(r.clause for r in winners),
        outcome=first_rule.outcome.kind,
        amount=from_units(sum(partner_units.values()), rs.unit), partners=tuple(lines),
        note=note)


def share_expense(rs: Ruleset, deal: Deal, facts: Facts, expense: Expense,
                  decision: PolicyDecision | None,
                  credit_shares: Mapping[str, Fraction] | None, *, standalone: bool = False,
                  explain: bool = False) -> tuple[ExpenseShare, list[RuleVerdict]]:
    ev = rs._evaluator
    assert isinstance(ev, Evaluator)
    if decision is None:
        raise AllocationError(f"expense {expense.id!r}: the agreement declares no "
                              "entertainment policy precedence", deal_id=deal.id)
    if decision.governs == "payer":
        prule = next(r for r in rs.policy_rules
                     if r.id == decision.rule and r.topic == ENTERTAINMENT)
        decision = ev.policy.decide(deal, ENTERTAINMENT, prule, payer=expense.paid_by)
    efacts = expense_facts(facts, expense)
    rules = {r.id: r for r in rs.expense_rules}
    applicable = [r.id for r in rules.values()
                  if r.when is None or evaluate(r.when, efacts)]
    winners, beaten = ev.policy.expense_precedence.resolve(applicable)
    verdicts = rule_verdicts(rules.values(), applicable, beaten, efacts,
                             f"expense:{expense.id}", explain=explain, version=rs.version)
    if not winners:
        raise NoApplicableRuleError(f"no expense sharing rule applies to expense "
                                    f"{expense.id!r} and none is a default", deal_id=deal.id)
    chosen = [rules[w] for w in winners]
    for other in chosen[1:]:
        if (other.method, dict(other.shares), other.excess) != \
                (chosen[0].method, dict(chosen[0].shares), chosen[0].excess):
            raise AmbiguityError(
                f"expense {expense.id!r}: rules {chosen[0].id} (clause {chosen[0].clause}) "
                f"and {other.id} (clause {other.clause}) both apply and disagree, and "
                "neither prevails; declare which does with 'overrides'",
                rules=(chosen[0].id, other.id), deal_id=deal.id)
    return _bear(rs, deal, expense, decision, chosen[0], credit_shares,
                 standalone=standalone), verdicts


def _bear(rs: Ruleset, deal: Deal, expense: Expense, decision: PolicyDecision,
          rule: ExpenseRule, credit_shares: Mapping[str, Fraction] | None, *,
          standalone: bool) -> ExpenseShare:
    unit = rs.unit
    limits = {lim.name: lim for lim in decision.limits}
    violations: list[str] = []
    whose = _whose(decision)
    n = len(expense.attendees)
    per_attendee = Fraction(expense.amount) / n
    covered_exact = Fraction(0)
    total_cap: Fraction | None = Fraction(0)
    forbidden_for: list[str] = []
    annual = limits.get("annual_cap_per_attendee")
    for attendee in expense.attendees:
        declared = _attendee_cap(limits, expense.kind, attendee.category)
        if not (declared is None or isinstance(declared, Decimal)):
            forbidden_for.append(attendee.category or "any")
            continue
        cap = None if declared is None else Fraction(declared)
        if annual is not None and isinstance(annual.value, Decimal):
            room = max(Fraction(annual.value) - Fraction(attendee.spent_this_year), Fraction(0))
            cap = room if cap is None else min(cap, room)
        if cap is None:
            total_cap = None
            covered_exact += per_attendee
        else:
            if total_cap is not None:
                total_cap += cap
            covered_exact += min(per_attendee, cap)
    if forbidden_for:
        who = ", ".join(sorted(set(forbidden_for)))
        violations.append(f"kind {expense.kind!r} is not allowed for {who} attendees under "
                          f"{whose}")
        covered_exact = Fraction(0)
        total_cap = Fraction(0)
    unit_f = Fraction(unit)
    covered_units = math.floor(covered_exact / unit_f)
    amount_units = to_units(expense.amount, unit)
    excess_units = amount_units - covered_units
    pre = limits.get("preapproval_above")
    if pre is not None and isinstance(pre.value, Decimal) and expense.amount > pre.value \
            and not expense.preapproved:
        violations.append(f"needs pre-approval above {pre.value} under {whose}, and none "
                          "is recorded")
    partners = rs.partner_ids
    if rule.method == "split":
        shares = {p: rule.shares.get(p, Fraction(0)) for p in partners}
    elif rule.method == "equal":
        shares = {p: Fraction(1, len(partners)) for p in partners}
    elif rule.method == "payer":
        shares = {p: Fraction(int(p == expense.paid_by)) for p in partners}
    else:
        if credit_shares is None:
            reason = ("which needs a deal; share this expense with its deal"
                      if standalone else "but this deal got no credit with a fixed total")
            raise AllocationError(f"expense {expense.id!r}: rule {rule.id} (clause "
                                  f"{rule.clause}) shares by credit, {reason}",
                                  deal_id=deal.id)
        total = sum(credit_shares.values(), Fraction(0))
        if total <= 0 or deal.amount <= 0:
            raise AllocationError(f"expense {expense.id!r}: rule {rule.id} shares by credit, "
                                  "but the deal's credit is not positive (a credit note)",
                                  deal_id=deal.id)
        shares = {p: credit_shares.get(p, Fraction(0)) / total for p in partners}
    parts_units = largest_remainder(covered_units, shares, rs.tie_break,
                                    f"{deal.id}\x1f{expense.id}")
    parts = () if forbidden_for else tuple(
        ExpensePart(p, shares[p], from_units(parts_units[p], unit))
        for p in sorted(shares) if shares[p] or parts_units[p])
    bearer = expense.paid_by if forbidden_for or rule.excess in ("payer", "disallowed") \
        else rule.excess
    cap_money = None if total_cap is None else from_units(math.floor(total_cap / unit_f), unit)
    return ExpenseShare(
        expense=expense.id, kind=expense.kind, amount=expense.amount,
        paid_by=expense.paid_by, attendees=n, policy=decision, cap=cap_money,
        covered=from_units(covered_units, unit), excess=from_units(excess_units, unit),
        excess_bearer=bearer,
        disallowed=bool(forbidden_for) or (rule.excess == "disallowed" and excess_units > 0),
        rule=rule.id, clause=rule.clause, method=rule.method, parts=parts,
        violations=tuple(violations))


def standalone_expense(ruleset: Ruleset, expense: Expense | Mapping[str, Any],
                       context: Mapping[str, Any]) -> ExpenseShare:
    """``Ruleset.share_expense``, the plain way."""
    ev = ruleset._evaluator
    assert isinstance(ev, Evaluator)
    if not isinstance(expense, Expense):
        expense = Expense.from_mapping(expense)
    day = context.get("date") or (expense.date.isoformat() if expense.date else None)
    assert day is not None
    deal = Deal.from_mapping({**context, "id": context.get("id", expense.id), "date": day,
                              "amount": "0", "currency": ruleset.currency})
    deal = attrs.evolve(deal, expenses=(expense,))
    ev.check(deal)
    facts = deal_facts(deal, ev.attributes)
    policies, _ = ev.policy.decisions(deal, facts, explain=False, needed={ENTERTAINMENT})
    entertainment = next((p for p in policies if p.topic == ENTERTAINMENT), None)
    share, _ = share_expense(ruleset, deal, facts, expense, entertainment, None,
                             standalone=True)
    return share
