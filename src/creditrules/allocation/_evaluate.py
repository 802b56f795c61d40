"""Everything a ruleset needs per deal, prepared once: the matcher (durable_rules or the
reference evaluator), precedence, policy decisions, the checks a deal must pass, and the
allocation pipeline (:mod:`creditrules.allocation._pipeline`) they feed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from creditrules.agreement.policy import ExpenseRule, PolicyRule
from creditrules.agreement.ruleset import CreditRule
from creditrules.allocation._attributes import _attribute
from creditrules.allocation._outcomes import (
    LEAD_KIND,
)
from creditrules.allocation._policies import PolicyEvaluator
from creditrules.allocation._precedence import Precedence
from creditrules.allocation.model import Account, Activity, Deal, Expense, Lead, Rep
from creditrules.allocation.results import (
    Allocation,
    ExpenseShare,
    RulesetRef,
    RuleVerdict,
)
from creditrules.base._clauses import clause_key
from creditrules.base._money import (
    MoneyError,
    to_units,
)
from creditrules.conditions import _conditions
from creditrules.conditions._ast import (
    And,
    Compare,
    Facts,
    Field,
    InList,
    Literal,
    Path,
    Type,
    Value,
)
from creditrules.errors import (
    DealError,
    Problem,
    suggest,
)

if TYPE_CHECKING:
    from creditrules.agreement.ruleset import Ruleset
    from creditrules.allocation._pipeline import Pipeline

__all__ = ["Evaluator", "deal_facts"]


class Matcher(Protocol):
    def match(self, facts: Facts) -> frozenset[str]: ...


class ReferenceMatcher:
    """Matches with the reference evaluator over the condition syntax tree.

    A condition that requires a text field to equal one of a few literals
    (``attributes.tier == "t7" and amount >= 7``) cannot hold for a deal whose field has
    another value. With many such conditions on one field (a *pivot*), a deal is
    evaluated against only the conditions pinned to its own value and those not pinned at
    all: an index, not another semantics (each candidate is evaluated in full), which keeps
    a deal's cost flat in the size of a large agreement. Pivots are chosen greedily, as the
    durable engine's are: the field the most conditions are pinned to, then among the
    conditions it does not pin the field the most of those are pinned to (``product ==
    "p3" and ...``), and so on; each condition is indexed under the first pivot pinning
    it, and a deal's candidates are the unpinned conditions and, for each pivot, those
    pinned to its own value of it.
    """

    def __init__(self, conditions: Mapping[str, Any]) -> None:
        self._conditions = sorted(conditions.items())
        #: The pivot fields, in the order they were chosen.
        self._pivots: tuple[Path, ...] = ()
        self._common: list[tuple[str, Any]] = self._conditions
        #: Per pivot (as ``_pivots``), the conditions pinned to each of its values.
        self._indexes: tuple[dict[str, list[tuple[str, Any]]], ...] = ()
        pinned = {name: found for name, expr in self._conditions if (found := _text_pins(expr))}
        pivots: list[Path] = []
        rest = dict(pinned)
        while rest and len(pivots) < _MAX_PIVOTS:
            counts: dict[Path, int] = {}
            for found in rest.values():
                for path in found:
                    counts[path] = counts.get(path, 0) + 1
            most = max(counts.values())
            if most < _PIVOT_AT_LEAST:
                break
            pivot = min(path for path, n in counts.items() if n == most)  # canonical on a tie
            pivots.append(pivot)
            rest = {name: found for name, found in rest.items() if pivot not in found}
        if pivots:
            self._pivots = tuple(pivots)
            self._common = []
            indexes: tuple[dict[str, list[tuple[str, Any]]], ...] = tuple({} for _ in pivots)
            for name, expr in self._conditions:
                found = pinned.get(name, {})
                k = next((k for k, path in enumerate(pivots) if path in found), None)
                if k is None:
                    self._common.append((name, expr))
                else:
                    for value in sorted(found[pivots[k]]):
                        indexes[k].setdefault(value, []).append((name, expr))
            self._indexes = indexes
        self._single = self._pivots[0] if len(self._pivots) == 1 else None

    @property
    def _pivot(self) -> Path | None:
        """The first pivot field (the one pinning the most conditions), if any."""
        return self._pivots[0] if self._pivots else None

    def match(self, facts: Facts) -> frozenset[str]:
        candidates: Any = self._conditions
        if self._single is not None:  # the usual case, one pivot: one lookup
            value = facts.scalars.get(self._single)
            if value is None:
                candidates = self._common
            elif type(value) is str:
                candidates = (*self._common, *self._indexes[0].get(value, ()))
        elif self._pivots:
            candidates = self._candidates(facts)
        return frozenset(k for k, expr in candidates if _conditions.evaluate(expr, facts))

    def _candidates(self, facts: Facts) -> Any:
        """The unpinned conditions and, per pivot, those pinned to the deal's value of it
        (a condition pinned to a missing value cannot hold). All of them when a pivot's
        value is not text: evaluating them raises the reference evaluator's TypeError."""
        scalars = facts.scalars
        candidates = list(self._common)
        for path, index in zip(self._pivots, self._indexes, strict=True):
            value = scalars.get(path)
            if value is None:
                continue
            if type(value) is not str:
                return self._conditions
            candidates += index.get(value, ())
        return candidates


# Fewer conditions pinned to one field than this are simply all evaluated.
_PIVOT_AT_LEAST = 16
# At most this many pivot fields (each costs every deal one lookup).
_MAX_PIVOTS = 4
# A field equal to one of more literals than this is not a pin worth indexing.
_PIN_AT_MOST = 8


def _text_pins(expr: Any) -> dict[Path, frozenset[str]]:
    """The text fields a condition requires to equal one of a few literals: its top-level
    conjuncts ``field == "x"`` or ``field in ["x", "y"]`` (each necessary for it to hold)."""
    parts = expr.parts if isinstance(expr, And) else (expr,)
    found: dict[Path, frozenset[str]] = {}
    for part in parts:
        values: frozenset[str] | None = None
        if (isinstance(part, Compare) and part.op == "==" and isinstance(part.left, Field)
                and part.left.type is Type.TEXT and isinstance(part.right, Literal)
                and type(part.right.value) is str):
            subject, values = part.left, frozenset((part.right.value,))
        elif (isinstance(part, InList) and not part.negated and part.subject.type is Type.TEXT
              and 0 < len(part.options) <= _PIN_AT_MOST
              and all(type(o.value) is str for o in part.options)):
            subject = part.subject
            values = frozenset(str(o.value) for o in part.options)
        if values is not None:
            known = found.get(subject.path)
            found[subject.path] = values if known is None else known & values
    return found


def make_matcher(engine: str, conditions: Mapping[str, Any]) -> Matcher:
    """The matcher for an engine name (``durable`` or ``reference``)."""
    if engine == "durable":
        from creditrules.engine._compile import compile_conditions
        from creditrules.engine._durable import DurableMatcher

        # Conditions beyond the engine's limits are set aside and matched by the
        # reference evaluator (Ruleset.engine_notes says which).
        matcher: Matcher = DurableMatcher(compile_conditions(conditions, set_aside=True))
        return matcher
    return ReferenceMatcher(conditions)


class Evaluator:
    """Everything a ruleset needs per deal, prepared once."""

    def __init__(self, ruleset: Ruleset, engine: str) -> None:
        self.ruleset = ruleset
        self.partners = ruleset.partner_ids
        self.partner_set = frozenset(self.partners)
        self.attributes = {a.name: a.type for a in ruleset.attributes}
        # Precedence depends on which rule versions are in force (an amendment may change a
        # rule's overrides): computed once per distinct set of rules in force.
        self._precedence: dict[tuple[str, ...], Precedence] = {}
        self.type_order = {t.name: i for i, t in enumerate(ruleset.credit_types)}
        self.conditions = {r.key: r.when for r in ruleset.rules if r.when is not None}
        self.matcher = make_matcher(engine, self.conditions)
        self.policy = PolicyEvaluator(ruleset, lambda conds: make_matcher(engine, conds))
        self.ref = RulesetRef(ruleset.id, ruleset.version, ruleset.content_hash)
        self._pipeline: Pipeline | None = None

    @property
    def pipeline(self) -> Pipeline:
        """The ruleset's allocation pipeline (built on first use)."""
        if self._pipeline is None:
            from creditrules.allocation._pipeline import Pipeline

            self._pipeline = Pipeline(self.ruleset)
        return self._pipeline

    def allocate(self, deal: Deal | Mapping[str, Any], *, explain: bool = True
                 ) -> Allocation:
        """One deal through the pipeline: read and checked once, its features encoded, the
        decision for them looked up (or made once), its numbers worked out in integers."""
        pipeline = self.pipeline
        return pipeline.allocation(pipeline.compute(deal), explain=explain)

    def verdict_order(self, verdict: RuleVerdict) -> tuple[Any, ...]:
        """Credit types in declared order, then policy topics, then expenses; within each,
        rules in clause order (4.2(a) < 4.2(b) < 4.10), then by id and version."""
        group = self.type_order.get(verdict.type)
        if group is None:
            group = len(self.type_order) + (0 if verdict.type.startswith("policy:") else 1)
        return (group, verdict.type, clause_key(verdict.clause), verdict.rule,
                verdict.version)

    def engine_notes(self) -> tuple[Problem, ...]:
        """See :attr:`Ruleset.engine_notes`."""
        aside: dict[str, str] = {}
        for matcher in (self.matcher, self.policy.policy_matcher, self.policy.expense_matcher):
            aside.update(getattr(matcher, "set_aside", {}))
        rs = self.ruleset
        rules: list[CreditRule | PolicyRule | ExpenseRule] = [
            *rs.rules, *rs.policy_rules, *rs.expense_rules]
        return tuple(
            Problem("engine-fallback", f"rule {r.id}: its condition is matched by the "
                    f"reference evaluator, not durable_rules: {aside[r.key]}", r.location)
            for r in sorted(rules, key=lambda r: (r.location.line or 0, r.key))
            if r.key in aside)

    def share_expense(self, expense: Expense | Mapping[str, Any],
                      context: Mapping[str, Any]) -> ExpenseShare:
        if not isinstance(expense, Expense):
            expense = Expense.from_mapping(expense)
        day = context.get("date") or (expense.date.isoformat() if expense.date else None)
        if day is None:
            raise DealError("a standalone expense needs a date (on the expense or its "
                            "context)", deal_id=expense.id, field="date", code="missing-field")
        deal = Deal.from_mapping({**context, "id": context.get("id", expense.id), "date": day,
                                  "amount": "0", "currency": self.ruleset.currency})
        deal = attrs.evolve(deal, expenses=(expense,))
        return self.pipeline.checked(deal, credit=False).expenses[0][0]

    def precedence(self, in_force: list[CreditRule], day: dt.date) -> Precedence:
        lists = self.ruleset.precedence_on(day)
        key = (*(r.key for r in in_force), "|", *(f"{t}:{','.join(ids)}" for t, ids in lists))
        found = self._precedence.get(key)
        if found is None:
            found = self._precedence[key] = Precedence(in_force, dict(lists))
        return found

    def verdict(self, rule: CreditRule, status: str, *, by: tuple[str, ...] = (),
                reasons: tuple[str, ...] = ()) -> RuleVerdict:
        return RuleVerdict(rule.id, rule.version, rule.clause, rule.type, status, rule.text,
                           by, reasons)

    # -- checks against the agreement -----------------------------------------------------
    def check(self, deal: Deal) -> None:
        rs = self.ruleset
        _check_shape(deal)
        if not isinstance(deal.amount, Decimal) or not deal.amount.is_finite():
            raise DealError(f"amount must be a finite Decimal, got {deal.amount!r}",
                            deal_id=deal.id, field="amount", code="bad-amount")
        if deal.currency != rs.currency:
            raise DealError(f"currency {deal.currency!r} differs from the agreement's "
                            f"{rs.currency!r}", deal_id=deal.id, field="currency",
                            code="currency")
        if not rs.effective.contains(deal.date):
            raise DealError(f"dated {deal.date.isoformat()}, outside the agreement "
                            f"({rs.effective})", deal_id=deal.id, field="date",
                            code="outside-agreement")
        try:
            to_units(deal.amount, rs.unit)
        except MoneyError:
            raise DealError(f"{deal.amount} is not a whole number of {rs.currency} units "
                            f"({rs.unit})", deal_id=deal.id,
                            field="amount", code="bad-amount") from None
        self.partner(deal, deal.account.owner, "account.owner")
        self.partner(deal, deal.lead.source, "lead.source")
        rep_partner = {}
        for i, rep in enumerate(deal.reps):
            self.partner(deal, rep.partner, f"reps[{i}].partner")
            rep_partner[rep.id] = rep.partner
        for i, act in enumerate(deal.activities):
            self.partner(deal, act.partner, f"activities[{i}].partner")
            if act.kind == LEAD_KIND:
                raise DealError(f"kind {LEAD_KIND!r} comes from the deal's 'lead', not from "
                                "an activity (it would be counted twice)", deal_id=deal.id,
                                field=f"activities[{i}].kind", code="bad-field")
            for rep_id in act.reps:
                if rep_id not in rep_partner:
                    raise DealError(f"rep {rep_id!r} is not among the deal's reps"
                                    + suggest(rep_id, rep_partner), deal_id=deal.id,
                                    field=f"activities[{i}].reps", code="unknown-rep")
        if deal.lead.rep in rep_partner and deal.lead.source is not None \
                and rep_partner[deal.lead.rep] != deal.lead.source:
            raise DealError(f"lead rep {deal.lead.rep!r} works for "
                            f"{rep_partner[deal.lead.rep]!r}, not for the lead's source "
                            f"{deal.lead.source!r}", deal_id=deal.id, field="lead.rep",
                            code="bad-field")
        for name, value in deal.attributes.items():
            if name in self.attributes:
                _attribute(deal, name, value, self.attributes[name])
        for i, expense in enumerate(deal.expenses):
            self.policy.check(deal, expense, f"expenses[{i}]")

    def partner(self, deal: Deal, value: str | None, field: str) -> None:
        if value is not None and value not in self.partner_set:
            raise DealError(f"unknown partner {value!r}" + suggest(value, self.partners),
                            deal_id=deal.id, field=field, code="unknown-partner")


def _check_shape(deal: Deal) -> None:
    """What the deal reader guarantees, for a Deal built in Python: each field of the type
    it is declared with, so that a wrong one is an error naming it, not a crash deeper in."""
    def fail(field: str, message: str) -> DealError:
        return DealError(message, deal_id=deal.id if isinstance(deal.id, str) else None,
                         field=field, code="bad-field")

    if not isinstance(deal.id, str) or not deal.id:
        raise fail("id", f"id must be non-empty text, got {deal.id!r}")
    if type(deal.date) is not dt.date:  # a datetime is not a date here
        raise fail("date", f"date must be a date, got {deal.date!r}")
    if not isinstance(deal.account, Account):
        raise fail("account", f"account must be an Account, got {deal.account!r}")
    if not isinstance(deal.lead, Lead):
        raise fail("lead", f"lead must be a Lead, got {deal.lead!r}")
    if not isinstance(deal.attributes, Mapping):
        raise fail("attributes", f"attributes must be a mapping, got {deal.attributes!r}")
    for name, kind in (("reps", Rep), ("activities", Activity), ("expenses", Expense)):
        items = getattr(deal, name)
        if not isinstance(items, tuple | list):
            raise fail(name, f"{name} must be a tuple, got {items!r}")
        for i, item in enumerate(items):
            if not isinstance(item, kind):
                raise fail(f"{name}[{i}]", f"expected a {kind.__name__}, got {item!r}")
    seen: set[str] = set()
    for i, rep in enumerate(deal.reps):
        if not isinstance(rep.id, str) or not isinstance(rep.partner, str):
            raise fail(f"reps[{i}]", f"a rep's id and partner must be text, got {rep!r}")
        if rep.id in seen:
            raise DealError(f"rep {rep.id!r} is listed twice", deal_id=deal.id,
                            field=f"reps[{i}].id", code="duplicate-rep")
        seen.add(rep.id)
    for i, act in enumerate(deal.activities):
        if not isinstance(act.kind, str) or not isinstance(act.reps, tuple | list) \
                or not all(isinstance(r, str) for r in act.reps):
            raise fail(f"activities[{i}]", f"an activity's kind and reps must be text, got "
                       f"{act!r}")


def deal_facts(deal: Deal, attributes: Mapping[str, Type]) -> Facts:
    """The deal's values as conditions see them (declared attributes converted)."""
    scalars: dict[Path, Value] = {
        ("id",): deal.id,
        ("date",): deal.date,
        ("amount",): deal.amount,
        ("currency",): deal.currency,
        ("product",): deal.product,
        ("account", "id"): deal.account.id,
        ("account", "owner"): deal.account.owner,
        ("account", "named"): deal.account.named,
        ("account", "segment"): deal.account.segment,
        ("account", "territory"): deal.account.territory,
        ("lead", "source"): deal.lead.source,
        ("lead", "rep"): deal.lead.rep,
    }
    for name, typ in attributes.items():
        value = deal.attributes.get(name)
        scalars[("attributes", name)] = (None if value is None
                                         else _attribute(deal, name, value, typ))
    rep_partner = {r.id: r.partner for r in deal.reps}
    activities: list[Mapping[Path, Value]] = []
    for act in deal.activities:
        partners = {rep_partner[r] for r in act.reps if r in rep_partner}
        if act.partner is not None:
            partners.add(act.partner)
        activities.append({
            ("kind",): act.kind,
            ("partner",): next(iter(partners)) if len(partners) == 1 else None,
            ("rep",): act.reps[0] if len(act.reps) == 1 else None,
            ("date",): act.date,
            ("joint",): len(partners) > 1,
            ("reps",): Decimal(len(act.reps)),
        })
    reps: list[Mapping[Path, Value]] = [
        {("id",): r.id, ("partner",): r.partner, ("owner",): r.owner} for r in deal.reps]
    return Facts(scalars, {"activities": tuple(activities), "reps": tuple(reps)})
