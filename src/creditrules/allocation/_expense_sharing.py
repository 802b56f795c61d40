"""Entertainment expenses of a deal: read, then borne in currency units (the attendees'
caps, the covered amount, the excess and who bears it, the parts to the unit), the sharing
rule decided once per encoded expense."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from creditrules.agreement.policy import ENTERTAINMENT, ExpenseRule
from creditrules.allocation._decisions import PolicyPlan, TypePlan, common_denominator
from creditrules.allocation._reading import (
    ATTENDEE_KEYS,
    CACHE_SIZE,
    EXPENSE_KEYS,
    MAX_ATTENDEES,
    MISSING,
    BoundedCache,
    Decline,
    absent,
    flag,
    list_of,
    mapping_of,
    opt_text,
    req_text,
)
from creditrules.allocation.model import Attendee, Deal, Expense
from creditrules.allocation.results import ExpensePart, ExpenseShare, PolicyDecision, RuleVerdict
from creditrules.base._money import round_scaled
from creditrules.conditions._ast import Facts, Path, Value
from creditrules.engine._compile import Compiled, CompileError, compile_conditions
from creditrules.errors import AllocationError, AmbiguityError, NoApplicableRuleError

if TYPE_CHECKING:
    from creditrules.allocation._pipeline import Pipeline

__all__ = ["Attendees", "ExpenseReading", "ExpenseSharing"]


# (category, spent units (a Fraction for a part of a unit), how many)
Attendees = list[tuple[str | None, int | Fraction, int]]
#: An expense as read: (id, kind, amount, units, paid by, attendees, attendees by category
#: and spend, date, pre-approved).
ExpenseReading = tuple[str, str, Decimal, int, str, int, Attendees, dt.date | None, bool]


class ExpenseSharing:
    """Entertainment expenses on a fast deal: read and borne in integer units, as
    ``PolicyEvaluator.share`` and ``bear`` do, with the sharing rule decided once per
    encoded expense."""

    def __init__(self, fast: Pipeline) -> None:
        self.fast = fast
        self.policy = fast.ev.policy
        self.partners = fast.partners
        self.rules = {r.id: r for r in fast.rs.expense_rules}
        self.decided: BoundedCache[tuple[Any, ...],
                                   tuple[ExpenseRule, tuple[RuleVerdict, ...]]] = BoundedCache()
        self.categories = self.policy.categories()
        self.caps: dict[tuple[int, str, str | None], int | Fraction | str | None] = {}
        self.held: dict[int, PolicyDecision] = {}
        self.splits: dict[str, tuple[ExpenseRule, tuple[int, ...], int]] = {}
        self.order = sorted(range(len(self.partners)), key=self.partners.__getitem__)
        self.limits: dict[int, tuple[PolicyDecision, int | Fraction | None, Decimal | None,
                                     str]] = {}
        self.payer: dict[tuple[str, str], PolicyDecision] = {}
        self.compiled: Compiled | None
        try:
            self.compiled = compile_conditions(
                {r.key: r.when for r in fast.rs.expense_rules if r.when is not None})
        except CompileError:
            self.compiled = None

    def share(self, plan: PolicyPlan, stub: Deal, facts: Facts,
              expenses: Sequence[ExpenseReading],
              credits: list[tuple[TypePlan, list[Any], bool]], *, standalone: bool = False
              ) -> tuple[tuple[tuple[ExpenseShare, tuple[RuleVerdict, ...]], ...],
                         tuple[Facts, ...]]:
        """Each expense's share and its rule verdicts (not yet labelled with the expense),
        by expense id; and the facts each expense's conditions read. ``standalone``: an
        expense shared without a sale (no credit to share it by)."""
        if not expenses:
            return (), ()
        decision = next((p for p in plan.policies if p.topic == ENTERTAINMENT), None)
        if decision is None:
            raise AllocationError(f"expense {expenses[0][0]!r}: the agreement declares no "
                                  "entertainment policy precedence", deal_id=stub.id)
        revenue = next((parts for tp, parts, _ in credits if not tp.declared), None)
        out = []
        for (expense_id, kind, amount, units, paid_by, n, attendees, day,
             preapproved) in expenses:
            efacts = self._facts(facts, expense_id, kind, amount, paid_by, n, attendees, day,
                                 preapproved)
            key = None
            if self.compiled is not None:
                try:
                    key = self.compiled.key(efacts)
                except TypeError:  # not encodable: decided afresh
                    key = None
            found = None if key is None else self.decided.get(key)
            if found is None:
                found = self._decide(efacts, expense_id, stub.id)
                if key is not None:
                    self.decided.put(key, found)
            rule, verdicts = found
            chosen = decision
            if decision.governs == "payer":
                chosen = self._payer(decision, paid_by)
            share = self._bear(stub, expense_id, kind, amount, units, paid_by, n, attendees,
                               preapproved, chosen, rule, revenue, standalone)
            out.append((share, verdicts, efacts))  # labelled with the expense when asked
        out.sort(key=lambda e: e[0].expense)
        return tuple((e[0], e[1]) for e in out), tuple(e[2] for e in out)

    def read(self, item: Any) -> ExpenseReading:
        """An expense as the deal reader and ``PolicyEvaluator.check`` accept it."""
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
                    raise Decline  # refused: the deal reader says why
                attendees[(category, spent_units)] = attendees.get((category, spent_units),
                                                                   0) + 1
                n += 1
        if not 1 <= n <= MAX_ATTENDEES:
            raise Decline
        raw_date = item.get("date")
        day = None if absent(raw_date) else \
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
        attendees: dict[tuple[str | None, int | Fraction], int] = {}
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
            spent_units = self._units(spent)  # a part of a unit stays exact
            if spent_units < 0:
                raise Decline
            attendees[(category, spent_units)] = attendees.get((category, spent_units), 0) + 1
            n += 1
        day = item.date
        if not n or (day is not None and type(day) is not dt.date) \
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

    def _decide(self, efacts: Facts, expense_id: str, deal_id: str
                ) -> tuple[ExpenseRule, tuple[RuleVerdict, ...]]:
        from creditrules.allocation._precedence import rule_verdicts

        policy = self.policy
        matched = policy.expense_matcher.match(efacts)
        rules = self.rules
        applicable = [r.id for r in rules.values() if r.when is None or r.key in matched]
        winners, beaten = policy.expense_precedence.resolve(applicable)
        if not winners:
            raise NoApplicableRuleError(f"no expense sharing rule applies to expense "
                                        f"{expense_id!r} and none is a default",
                                        deal_id=deal_id)
        chosen = [rules[w] for w in winners]
        first = chosen[0]
        for other in chosen[1:]:
            if (other.method, dict(other.shares), other.excess) != \
                    (first.method, dict(first.shares), first.excess):
                raise AmbiguityError(
                    f"expense {expense_id!r}: rules {first.id} (clause {first.clause}) and "
                    f"{other.id} (clause {other.clause}) both apply and disagree, and "
                    "neither prevails; declare which does with 'overrides'",
                    rules=(first.id, other.id), deal_id=deal_id)
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

    def _cap(self, decision: PolicyDecision, kind: str, category: str | None
             ) -> int | Fraction | str | None:
        """The per-attendee cap in units, None (no cap) or "forbidden"."""
        key = (id(decision), kind, category)
        found = self.caps.get(key, MISSING)
        if found is MISSING or self.held.get(id(decision)) is not decision:
            if len(self.caps) >= CACHE_SIZE:
                self.caps.clear()
                self.held.clear()
            self.held[id(decision)] = decision  # held: its id is not reused meanwhile
            from creditrules.allocation._policies import _attendee_cap

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

    def _units(self, value: Decimal) -> int | Fraction:
        """A limit in currency units: an int, or a Fraction for a part of a unit (a cap of
        33.335 in cents), with which the same arithmetic stays exact."""
        units = Fraction(value) / Fraction(self.fast.unit)
        return units.numerator if units.denominator == 1 else units

    def _limits(self, decision: PolicyDecision
                ) -> tuple[int | Fraction | None, Decimal | None, str]:
        """The annual cap per attendee in units, the pre-approval threshold, whose."""
        found = self.limits.get(id(decision))
        if found is None or found[0] is not decision:
            if len(self.limits) >= CACHE_SIZE:
                self.limits.clear()
            from creditrules.allocation._policies import _whose

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
              decision: PolicyDecision, rule: ExpenseRule, revenue: list[Any] | None,
              standalone: bool = False) -> ExpenseShare:
        """Who bears an expense, in currency units: the attendees' caps, the covered amount
        (rounded down: never above the caps), the excess, violations, and the parts to the
        unit. Caps or spend in parts of a unit make these Fractions, exactly."""
        fast = self.fast
        annual, pre, whose = self._limits(decision)
        # The covered amount times n: each attendee's part is units / n.
        covered_n: int | Fraction = 0
        total_cap: int | Fraction | None = 0
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
        # Round the covered amount down: never above the caps; the rest is excess.
        covered = covered_n // n  # exact: ints, or Fractions for parts of a unit
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
            if revenue is None:
                reason = ("which needs a deal; share this expense with its deal"
                          if standalone else "but this deal got no credit with a fixed total")
                raise AllocationError(f"expense {expense_id!r}: rule {rule.id} (clause "
                                      f"{rule.clause}) shares by credit, {reason}",
                                      deal_id=deal.id)
            # The partners' credit shares, over their one common denominator.
            got = {pid: num for pid, num, _, _, _ in revenue}
            nums = tuple(got.get(p, 0) for p in partners)
            den = sum(nums)
            # Shares are of the deal amount, so a credit note has positive shares too: its
            # credit (the amount) is what is not positive.
            if den <= 0 or deal.amount <= 0:
                raise AllocationError(f"expense {expense_id!r}: rule {rule.id} shares by "
                                      "credit, but the deal's credit is not positive (a "
                                      "credit note)", deal_id=deal.id)
        target, rest = divmod(covered * sum(nums), den)
        if rest and (2 * rest > den or (2 * rest == den and target % 2)):
            target += 1
        parts_units = round_scaled([covered * x for x in nums], den, target, partners,
                                  fast.tie_break, f"{deal.id}\x1f{expense_id}")
        decimal = fast.decimal
        parts = () if forbidden_for else tuple(
            ExpensePart(partners[i], fast.fraction(nums[i], den), decimal(parts_units[i]))
            for i in self.order if nums[i] or parts_units[i])
        bearer = paid_by if forbidden_for or rule.excess in ("payer", "disallowed") \
            else rule.excess
        return ExpenseShare(
            expense=expense_id, kind=kind, amount=amount, paid_by=paid_by, attendees=n,
            policy=decision, cap=None if total_cap is None else decimal(math.floor(total_cap)),
            covered=decimal(covered), excess=decimal(excess),
            excess_bearer=bearer,
            disallowed=bool(forbidden_for) or (rule.excess == "disallowed" and excess > 0),
            rule=rule.id, clause=rule.clause, method=method, parts=parts,
            violations=tuple(violations))
