"""Entertainment expenses on a fast-path deal: read and borne in integer units, as
``PolicyEvaluator.share`` and ``bear`` do, with the sharing rule decided once per encoded
expense."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from creditrules.agreement.policy import ENTERTAINMENT, ExpenseRule
from creditrules.allocation._fast_plans import PolicyPlan, TypePlan, common_denominator, round_units
from creditrules.allocation._fast_read import (
    ATTENDEE_KEYS,
    CACHE_SIZE,
    EXPENSE_KEYS,
    MISSING,
    BoundedCache,
    Decline,
    flag,
    list_of,
    mapping_of,
    opt_text,
    req_text,
)
from creditrules.allocation.model import Attendee, Deal, Expense
from creditrules.allocation.results import ExpensePart, ExpenseShare, PolicyDecision, RuleVerdict
from creditrules.conditions._ast import Facts, Path, Value
from creditrules.engine._compile import Compiled, CompileError, compile_conditions

if TYPE_CHECKING:
    from creditrules.allocation._fast import FastPath

__all__ = ["Attendees", "ExpenseFast", "ExpenseReading"]


Attendees = list[tuple[str | None, int, int]]  # (category, spent units, how many)
#: An expense as read: (id, kind, amount, units, paid by, attendees, attendees by category
#: and spend, date, pre-approved).
ExpenseReading = tuple[str, str, Decimal, int, str, int, Attendees, dt.date | None, bool]


class ExpenseFast:
    """Entertainment expenses on a fast deal: read and borne in integer units, as
    ``PolicyEvaluator.share`` and ``bear`` do, with the sharing rule decided once per
    encoded expense."""

    def __init__(self, fast: FastPath) -> None:
        self.fast = fast
        self.policy = fast.ev.policy
        self.partners = fast.partners
        self.rules = {r.id: r for r in fast.rs.expense_rules}
        self.decided: BoundedCache[tuple[Any, ...],
                                   tuple[ExpenseRule, tuple[RuleVerdict, ...]]] = BoundedCache()
        self.categories = self.policy.categories()
        self.caps: dict[tuple[int, str, str | None], int | str | None] = {}
        self.held: dict[int, PolicyDecision] = {}
        self.splits: dict[str, tuple[ExpenseRule, tuple[int, ...], int]] = {}
        self.order = sorted(range(len(self.partners)), key=self.partners.__getitem__)
        self.limits: dict[int, tuple[PolicyDecision, int | None, Decimal | None, str]] = {}
        self.payer: dict[tuple[str, str], PolicyDecision] = {}
        self.compiled: Compiled | None
        try:
            self.compiled = compile_conditions(
                {r.key: r.when for r in fast.rs.expense_rules if r.when is not None})
        except CompileError:
            self.compiled = None

    def share(self, plan: PolicyPlan, stub: Deal, facts: Facts, raw: Sequence[Any],
              credits: list[tuple[TypePlan, list[Any], bool]],
              read: Callable[[Any], ExpenseReading]
              ) -> tuple[tuple[tuple[ExpenseShare, tuple[RuleVerdict, ...]], ...],
                         tuple[Facts, ...]]:
        """Each expense's share and its rule verdicts (not yet labelled with the expense),
        by expense id; and the facts each expense's conditions read. ``read`` reads one
        expense (:meth:`read` a mapping, :meth:`read_object` an :class:`Expense`)."""
        if not raw:
            return (), ()
        decision = next((p for p in plan.policies if p.topic == ENTERTAINMENT), None)
        if decision is None or self.compiled is None:
            raise Decline
        revenue = next((parts for tp, parts, _ in credits if not tp.declared), None)
        seen: set[str] = set()
        out = []
        for item in raw:
            (expense_id, kind, amount, units, paid_by, n, attendees, day,
             preapproved) = read(item)
            if expense_id in seen:
                raise Decline
            seen.add(expense_id)
            efacts = self._facts(facts, expense_id, kind, amount, paid_by, n, attendees, day,
                                 preapproved)
            try:
                key = self.compiled.key(efacts)
            except TypeError:
                raise Decline from None
            found = self.decided.get(key)
            if found is None:
                found = self._decide(efacts)
                self.decided.put(key, found)
            rule, verdicts = found
            chosen = decision
            if decision.governs == "payer":
                chosen = self._payer(decision, paid_by)
            share = self._bear(stub, expense_id, kind, amount, units, paid_by, n, attendees,
                               preapproved, chosen, rule, revenue)
            out.append((share, verdicts, efacts))  # labelled with the expense when asked
        out.sort(key=lambda e: e[0].expense)
        return tuple((e[0], e[1]) for e in out), tuple(e[2] for e in out)

    def read(self, item: Any) -> ExpenseReading:
        """An expense as the plain reader and ``PolicyEvaluator.check`` accept it."""
        if type(item) is not dict or not item.keys() <= EXPENSE_KEYS:
            raise Decline
        expense_id = req_text(item.get("id"))
        kind = req_text(item.get("kind"))
        paid_by = req_text(item.get("paid_by"))
        if paid_by not in self.fast.partner_set:
            raise Decline
        amount, units = self.fast.amounts.read(item.get("amount"))
        if units < 0:
            raise Decline
        raw = item.get("attendees")
        attendees: dict[tuple[str | None, int], int] = {}
        if type(raw) is int:
            n = raw
            attendees[(None, 0)] = n
        else:
            n = 0
            for entry in list_of(raw):
                a = mapping_of(entry, ATTENDEE_KEYS)
                opt_text(a.get("id"))
                category = opt_text(a.get("category"))
                if category is not None and category not in self.categories:
                    raise Decline
                spent = a.get("spent_this_year")
                spent_units = 0 if spent is None else self.fast.amounts.read(spent)[1]
                if spent_units < 0:
                    raise Decline  # refused: the plain path says why
                attendees[(category, spent_units)] = attendees.get((category, spent_units),
                                                                   0) + 1
                n += 1
        if not 1 <= n <= 10_000:
            raise Decline
        raw_date = item.get("date")
        day = None if raw_date is None or raw_date == "" else \
            self.fast.dates.read(raw_date, in_agreement=False)[0]
        preapproved = flag(item.get("preapproved"))
        return (expense_id, kind, amount, units, paid_by, n,
                [(c, s, m) for (c, s), m in attendees.items()], day, preapproved)

    def read_object(self, item: Any) -> ExpenseReading:
        """An :class:`Expense` object as ``PolicyEvaluator.check`` accepts it (its values as
        they are: no reader converted them)."""
        if type(item) is not Expense:
            raise Decline
        expense_id, kind, paid_by = item.id, item.kind, item.paid_by
        if (type(expense_id) is not str or not expense_id or type(kind) is not str
                or not kind or type(paid_by) is not str
                or paid_by not in self.fast.partner_set):
            raise Decline
        amount = item.amount
        if type(amount) is not Decimal or not amount.is_finite():
            raise Decline
        units = self.fast.amounts.units(amount)
        if units < 0 or type(item.attendees) is not tuple:
            raise Decline
        attendees: dict[tuple[str | None, int], int] = {}
        n = 0
        for a in item.attendees:
            if type(a) is not Attendee:
                raise Decline
            category, spent = a.category, a.spent_this_year
            if a.id is not None and type(a.id) is not str:
                raise Decline
            if category is not None and (type(category) is not str
                                         or category not in self.categories):
                raise Decline
            if type(spent) is not Decimal or not spent.is_finite():
                raise Decline
            spent_units = self.fast.amounts.units(spent)
            if spent_units < 0:
                raise Decline
            attendees[(category, spent_units)] = attendees.get((category, spent_units), 0) + 1
            n += 1
        day = item.date
        if not 1 <= n <= 10_000 or (day is not None and type(day) is not dt.date) \
                or type(item.preapproved) is not bool:
            raise Decline
        return (expense_id, kind, amount, units, paid_by, n,
                [(c, s, m) for (c, s), m in attendees.items()], day, item.preapproved)

    @staticmethod
    def _facts(facts: Facts, expense_id: str, kind: str, amount: Decimal, paid_by: str,
               n: int, attendees: Attendees, day: dt.date | None, preapproved: bool) -> Facts:
        """As ``expense_facts`` builds them (attendee order does not change a count)."""
        scalars: dict[Path, Value] = dict(facts.scalars)
        scalars.update({
            ("expense", "id"): expense_id, ("expense", "kind"): kind,
            ("expense", "amount"): amount, ("expense", "paid_by"): paid_by,
            ("expense", "attendees"): Decimal(n), ("expense", "date"): day,
            ("expense", "preapproved"): preapproved,
        })
        items: tuple[Mapping[Path, Value], ...] = tuple(
            {("category",): c} for c, _, m in attendees for _ in range(m))
        return Facts(scalars, {**facts.collections, "attendees": items})

    def _decide(self, efacts: Facts) -> tuple[ExpenseRule, tuple[RuleVerdict, ...]]:
        from creditrules.allocation._precedence import rule_verdicts

        policy = self.policy
        matched = policy.expense_matcher.match(efacts)
        rules = self.rules
        applicable = [r.id for r in rules.values() if r.when is None or r.key in matched]
        winners, beaten = policy.expense_precedence.resolve(applicable)
        if not winners:
            raise Decline  # no rule for this expense: the plain path reports it
        chosen = [rules[w] for w in winners]
        first = chosen[0]
        if any((o.method, dict(o.shares), o.excess) != (first.method, dict(first.shares),
                                                         first.excess) for o in chosen[1:]):
            raise Decline  # ambiguous: likewise
        verdicts = rule_verdicts(rules.values(), applicable, beaten, efacts, "", explain=False,
                                 version=self.fast.rs.version)
        return first, tuple(verdicts)

    def _payer(self, decision: PolicyDecision, payer: str) -> PolicyDecision:
        key = (decision.rule, payer)
        found = self.payer.get(key)
        if found is None:
            found = self.payer[key] = PolicyDecision(
                decision.topic, decision.rule, decision.clause, decision.governs, payer,
                self.policy.limits(ENTERTAINMENT, payer))
        return found

    def _cap(self, decision: PolicyDecision, kind: str, category: str | None) -> int | str | None:
        """The per-attendee cap in units, None (no cap) or "forbidden"."""
        key = (id(decision), kind, category)
        found = self.caps.get(key, MISSING)
        if found is MISSING or self.held.get(id(decision)) is not decision:
            if len(self.caps) >= CACHE_SIZE:
                self.caps.clear()
                self.held.clear()
            self.held[id(decision)] = decision  # held: its id is not reused meanwhile
            from creditrules.allocation._expenses import _attendee_cap

            limits = {lim.name: lim for lim in decision.limits}
            declared = _attendee_cap(limits, kind, category)
            if declared is None:
                found = None
            elif isinstance(declared, Decimal):
                found = self._units(declared)
            else:
                found = "forbidden"
            self.caps[key] = found
        return found  # type: ignore[return-value]

    def _units(self, value: Decimal) -> int:
        units = Fraction(value) / Fraction(self.fast.unit)
        if units.denominator != 1:
            raise Decline  # not whole units: the plain path's fractions handle it
        return units.numerator

    def _limits(self, decision: PolicyDecision) -> tuple[int | None, Decimal | None, str]:
        """The annual cap per attendee in units, the pre-approval threshold, whose."""
        found = self.limits.get(id(decision))
        if found is None or found[0] is not decision:
            if len(self.limits) >= CACHE_SIZE:
                self.limits.clear()
            from creditrules.allocation._expenses import _whose

            limits = {lim.name: lim for lim in decision.limits}
            annual = limits.get("annual_cap_per_attendee")
            pre = limits.get("preapproval_above")
            found = (decision,
                     self._units(annual.value) if annual is not None
                     and isinstance(annual.value, Decimal) else None,
                     pre.value if pre is not None and isinstance(pre.value, Decimal) else None,
                     _whose(decision))
            self.limits[id(decision)] = found
        return found[1:]

    def _bear(self, deal: Deal, expense_id: str, kind: str, amount: Decimal, units: int,
              paid_by: str, n: int, attendees: Attendees, preapproved: bool,
              decision: PolicyDecision, rule: ExpenseRule, revenue: list[Any] | None
              ) -> ExpenseShare:
        """``PolicyEvaluator.bear`` in integer units: the attendees' caps, the covered
        amount (rounded down), the excess, violations, and the parts to the cent."""
        fast = self.fast
        annual, pre, whose = self._limits(decision)
        covered_n = 0  # the covered amount times n: each attendee's part is units / n
        total_cap: int | None = 0
        forbidden_for = []
        for category, spent, many in attendees:
            cap = self._cap(decision, kind, category)
            if cap == "forbidden":
                forbidden_for.append(category or "any")
                continue
            assert not isinstance(cap, str)
            if annual is not None:
                room = max(annual - spent, 0)
                cap = room if cap is None else min(cap, room)
            if cap is None:
                total_cap = None
                covered_n += many * units
            else:
                if total_cap is not None:
                    total_cap += many * cap
                covered_n += many * min(units, cap * n)
        violations = []
        if forbidden_for:
            who = ", ".join(sorted(set(forbidden_for)))
            violations.append(f"kind {kind!r} is not allowed for {who} attendees under "
                              f"{whose}")
            covered_n = 0
            total_cap = 0
        covered = covered_n // n
        excess = units - covered
        if pre is not None and amount > pre and not preapproved:
            violations.append(f"needs pre-approval above {pre} under {whose}, and none "
                              "is recorded")
        partners = self.partners
        method = rule.method
        if method == "split":
            found = self.splits.get(rule.id)
            if found is None or found[0] is not rule:
                found = self.splits[rule.id] = (
                    rule, *common_denominator([rule.shares.get(p, Fraction(0)) for p in partners]))
            _, nums, den = found
        elif method == "equal":
            nums, den = (1,) * len(partners), len(partners)
        elif method == "payer":
            nums, den = tuple(int(p == paid_by) for p in partners), 1
        else:
            if revenue is None or deal.amount <= 0:
                raise Decline  # the plain path explains why it cannot share by credit
            got = {pid: (num, d) for pid, num, d, _, _ in revenue}
            den_r = revenue[0][2]
            nums = tuple(got[p][0] if p in got else 0 for p in partners)
            den = sum(nums)
            if den <= 0 or any(d != den_r for _, d in got.values()):
                raise Decline
        target, rest = divmod(covered * sum(nums), den)
        if rest and (2 * rest > den or (2 * rest == den and target % 2)):
            target += 1
        parts_units = round_units([covered * x for x in nums], den, target, partners,
                                  fast.tie_break, f"{deal.id}\x1f{expense_id}")
        decimal = fast.decimal
        parts = () if forbidden_for else tuple(
            ExpensePart(partners[i], fast.fraction(nums[i], den), decimal(parts_units[i]))
            for i in self.order if nums[i] or parts_units[i])
        bearer = paid_by if forbidden_for or rule.excess in ("payer", "disallowed") \
            else rule.excess
        return ExpenseShare(
            expense=expense_id, kind=kind, amount=amount, paid_by=paid_by, attendees=n,
            policy=decision, cap=None if total_cap is None else decimal(total_cap),
            covered=decimal(covered), excess=decimal(excess),
            excess_bearer=bearer,
            disallowed=bool(forbidden_for) or (rule.excess == "disallowed" and excess > 0),
            rule=rule.id, clause=rule.clause, method=method, parts=parts,
            violations=tuple(violations))
