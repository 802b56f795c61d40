"""Invariants of each deal's allocation on its own: coverage (every deal is decided),
conservation, declared totals, the one-unit rounding bound and non-negativity."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from fractions import Fraction
from typing import Any

from creditrules.agreement.ruleset import CreditRule, Overlay, Ruleset, Split
from creditrules.allocation.results import Allocation
from creditrules.base._money import fraction_text, from_units
from creditrules.errors import AllocationError
from creditrules.fairness._invariant import AllocationInvariant, Invariant, _pct, _rules_of, _units
from creditrules.fairness._report import Finding
from creditrules.fairness._subject import Subject


class Coverage(Invariant):
    """Every deal is decided: no two applicable rules disagree without precedence between
    them (``AmbiguityError``) and some rule of every required credit type, policy topic and
    expense applies (``NoApplicableRuleError``); a deal the agreement leaves undecided is
    reported with the rules involved."""

    name = "coverage"
    title = "coverage: every deal is decided"

    def check(self, subject: Subject, example: Any) -> Finding | None:
        try:
            subject.allocate(example)
        except AllocationError as exc:
            return _undecided(subject, example, exc)
        return None


def _undecided(subject: Subject, deal: Mapping[str, Any], exc: AllocationError) -> Finding:
    rules: tuple[str, ...] = tuple(getattr(exc, "rules", ()))
    pairs = tuple((r, subject.clause(r)) for r in rules)
    if not pairs:
        # No rule named: list the rules the error text mentions, else the credit rules
        # whose conditions were false for the deal.
        mentioned = [r for r in _all_rule_ids(subject.ruleset) if f"rule {r} " in str(exc)
                     or f"rules {r} " in str(exc)]
        pairs = tuple((r, subject.clause(r)) for r in mentioned)
    return Finding(f"the agreement does not decide this deal: {exc.reason}",
                   deals=(("deal", deal),), allocations=(("deal", str(exc)),), rules=pairs,
                   fields=(exc.code,))


def _all_rule_ids(ruleset: Ruleset) -> list[str]:
    ids = [r.id for r in ruleset.rules] + [r.id for r in ruleset.policy_rules] \
        + [r.id for r in ruleset.expense_rules]
    return list(dict.fromkeys(ids))


class Conservation(AllocationInvariant):
    """Split credit sums to exactly its total (100%, or a declared overlay total) and the
    money to that total of the deal amount, rounded once to the currency unit; each
    partner's reps add up to the partner, share and money; each expense's covered amount
    plus its excess equal its amount to the cent, and its parts add up to the covered
    amount."""

    name = "conservation"
    title = "conservation: shares and money add up"

    def violations(self, allocation: Allocation, ruleset: Ruleset,
                   deal: Mapping[str, Any] | None = None) -> list[Finding]:
        out = []
        unit = ruleset.unit
        deal_units = _units(allocation.amount, unit)
        for credit in allocation.credits:
            rules = _rules_of(credit)
            total = sum((p.share for p in credit.partners), Fraction(0))
            if total != credit.total:
                out.append(Finding(f"{credit.type} shares add up to {_pct(total)}, not the "
                                   f"{_pct(credit.total)} total", rules=rules,
                                   fields=(credit.type,)))
            money = sum((p.amount for p in credit.partners), Decimal(0))
            if money != credit.amount:
                out.append(Finding(f"{credit.type} amounts add up to {money}, not the "
                                   f"{credit.amount} credited", rules=rules,
                                   fields=(credit.type,)))
            target = from_units(round(credit.total * deal_units), unit)
            if credit.amount != target:
                out.append(Finding(f"{credit.type} credit is {credit.amount}, not "
                                   f"{_pct(credit.total)} of {allocation.amount} ({target})",
                                   rules=rules, fields=(credit.type,)))
            for p in credit.partners:
                if not p.reps:
                    continue
                rep_total = sum((r.share for r in p.reps), Fraction(0))
                rep_money = sum((r.amount for r in p.reps), Decimal(0))
                if rep_total != p.share or rep_money != p.amount:
                    out.append(Finding(
                        f"{p.partner}'s reps get {_pct(rep_total)} = {rep_money} of its "
                        f"{credit.type} credit of {_pct(p.share)} = {p.amount}", rules=rules,
                        partners=(p.partner,), fields=(credit.type, "reps")))
        for e in allocation.expenses:
            if e.covered + e.excess != e.amount:
                out.append(Finding(f"expense {e.expense}: covered {e.covered} + excess "
                                   f"{e.excess} is not its amount {e.amount}",
                                   rules=((e.rule, e.clause),), fields=("expenses",)))
            parts = sum((p.amount for p in e.parts), Decimal(0))
            if e.parts and parts != e.covered:
                out.append(Finding(f"expense {e.expense}: parts add up to {parts}, not the "
                                   f"covered {e.covered}", rules=((e.rule, e.clause),),
                                   fields=("expenses",)))
        return out


class DeclaredTotals(AllocationInvariant):
    """Each credit type totals what it declares: a fixed type exactly its total (100%),
    never marked declared; an overlay type exactly the total its deciding rule declares;
    and only a declared overlay may exceed 100%."""

    name = "declared-totals"
    title = "declared totals: overlays total what the rule declares"

    def violations(self, allocation: Allocation, ruleset: Ruleset,
                   deal: Mapping[str, Any] | None = None) -> list[Finding]:
        out = []
        for credit in allocation.credits:
            rules = _rules_of(credit)
            try:
                ctype = ruleset.credit_type(credit.type)
            except KeyError:
                out.append(Finding(f"credit type {credit.type!r} is not declared",
                                   rules=rules, fields=(credit.type,)))
                continue
            if ctype.total is not None:
                if credit.declared or credit.total != ctype.total:
                    out.append(Finding(
                        f"{credit.type} credit totals {_pct(credit.total)}"
                        f"{' (marked declared)' if credit.declared else ''}; its type fixes "
                        f"{_pct(ctype.total)}", rules=rules, fields=(credit.type,)))
                continue
            declared: set[Fraction] = set()
            for rid in credit.rules:
                for rule in ruleset.rules:
                    if rule.id == rid and rule.type == credit.type \
                            and rule.effective.contains(allocation.date):
                        declared.add(_declared_total(rule))
            if not credit.declared or (declared and credit.total not in declared):
                want = ", ".join(_pct(t) for t in sorted(declared)) or "a declared total"
                out.append(Finding(f"{credit.type} credit totals {_pct(credit.total)}; its "
                                   f"rule declares {want}", rules=rules,
                                   fields=(credit.type,)))
        return out


def _declared_total(rule: CreditRule) -> Fraction:
    outcome = rule.outcome
    if isinstance(outcome, Overlay | Split):
        return sum(outcome.shares.values(), Fraction(0))
    return outcome.total


class RoundingBound(AllocationInvariant):
    """Every rounded amount is strictly within one currency unit of its exact share: each
    partner's and each rep's amount of ``share x deal amount``, each expense part of
    ``share x covered amount``."""

    name = "rounding-bound"
    title = "rounding bound: every amount within one unit of its exact share"

    def violations(self, allocation: Allocation, ruleset: Ruleset,
                   deal: Mapping[str, Any] | None = None) -> list[Finding]:
        out = []
        unit = Fraction(ruleset.unit)
        amount = Fraction(allocation.amount)
        for credit in allocation.credits:
            for p in credit.partners:
                lines = [(p.partner, p.share, p.amount)] + [(r.rep, r.share, r.amount)
                                                           for r in p.reps]
                for who, share, got in lines:
                    exact = share * amount
                    if abs(Fraction(got) - exact) >= unit:
                        out.append(Finding(
                            f"{who}'s {credit.type} amount {got} is a unit or more from its "
                            f"exact share {_pct(share)} x {allocation.amount} = "
                            f"{fraction_text(exact)}", rules=_rules_of(credit),
                            partners=(p.partner,), fields=(credit.type,),
                            magnitude=abs(Fraction(got) - exact) / (amount or 1)))
        for e in allocation.expenses:
            for part in e.parts:
                exact = part.share * Fraction(e.covered)
                if abs(Fraction(part.amount) - exact) >= unit:
                    out.append(Finding(f"expense {e.expense}: {part.partner}'s part "
                                       f"{part.amount} is a unit or more from "
                                       f"{_pct(part.share)} of {e.covered}",
                                       rules=((e.rule, e.clause),), partners=(part.partner,),
                                       fields=("expenses",)))
        return out


class NonNegativity(AllocationInvariant):
    """No share is negative, and every amount has the sign of the deal: nothing negative
    on a sale (or a zero deal), nothing positive on a credit note (a negative deal, which
    reverses credit in the same shares). Expense parts, covered amounts and excesses are
    never negative."""

    name = "non-negativity"
    title = "non-negativity: no one is charged on a sale"
    hard = False

    def violations(self, allocation: Allocation, ruleset: Ruleset,
                   deal: Mapping[str, Any] | None = None) -> list[Finding]:
        out = []
        refund = allocation.amount < 0
        for credit in allocation.credits:
            for p in credit.partners:
                for who, share, got, level in [(p.partner, p.share, p.amount, "partners")] + [
                        (r.rep, r.share, r.amount, "reps") for r in p.reps]:
                    wrong_sign = got > 0 if refund else got < 0
                    if share < 0 or wrong_sign:
                        out.append(Finding(
                            f"{who} gets {_pct(share)} = {got} of {credit.type} credit on a "
                            f"{'credit note' if refund else 'sale'} of {allocation.amount}",
                            rules=_rules_of(credit), partners=(p.partner,),
                            fields=(credit.type, level), magnitude=abs(share)))
        for e in allocation.expenses:
            for name, value in (("covered", e.covered), ("excess", e.excess),
                                *((f"{p.partner}'s part", p.amount) for p in e.parts)):
                if value < 0:
                    out.append(Finding(f"expense {e.expense}: {name} is negative ({value})",
                                       rules=((e.rule, e.clause),), fields=("expenses",)))
        return out
