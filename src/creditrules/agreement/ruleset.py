"""A ruleset: an alliance agreement as data, loaded once and applied to many deals.

:func:`creditrules.load` reads a ruleset file (and the amendments it names);
:meth:`Ruleset.allocate` applies it to one deal. The classes here are frozen values
describing the agreement; the matching engine behind :meth:`Ruleset.allocate` is private
and chosen at load time.

The agreement stage sits below the engine and the allocation stages, so it does not import
them: the stages above hand it what it delegates to (:func:`provide`), which
``import creditrules`` does before any ruleset can be loaded.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import attrs

from creditrules.agreement.policy import EntertainmentPolicy, ExpenseRule, PolicyRule, Topic
from creditrules.base._money import TieBreak, fraction_text
from creditrules.conditions._ast import Expr, Type
from creditrules.errors import EngineError, Location, Problem

if TYPE_CHECKING:
    from creditrules.agreement._acknowledgements import Acknowledgement
    from creditrules.allocation._evaluate import Evaluator
    from creditrules.allocation.model import Deal, Expense
    from creditrules.allocation.results import Allocation, ExpenseShare
    from creditrules.io.batch import Rejection

__all__ = [
    "ENGINES",
    "AttributeSpec",
    "ByContribution",
    "Contribution",
    "CreditRule",
    "CreditType",
    "DateRange",
    "FairnessExemption",
    "Overlay",
    "Partner",
    "PrecedenceList",
    "Ruleset",
    "Split",
    "provide",
]

ENGINES = ("durable", "reference")

# What the stages above provide (see the module doc): "evaluator" (Ruleset, engine name ->
# the object allocate() and share_expense() delegate to) and "allocate_many".
_PROVIDED: dict[str, Callable[..., Any]] = {}


def provide(name: str, implementation: Callable[..., Any]) -> None:
    """Register what a stage above the agreement provides to :class:`Ruleset`."""
    _PROVIDED[name] = implementation


def _provided(name: str) -> Callable[..., Any]:
    try:
        return _PROVIDED[name]
    except KeyError:
        raise EngineError(f"no {name} is registered: import creditrules first") from None


@attrs.frozen
class DateRange:
    """Inclusive dates; ``None`` at either end means open."""

    start: dt.date | None = None
    end: dt.date | None = None

    def contains(self, day: dt.date) -> bool:
        return (self.start is None or self.start <= day) and (self.end is None or day <= self.end)

    def __str__(self) -> str:
        return f"{self.start or '...'} to {self.end or '...'}"

    def to_dict(self) -> dict[str, str | None]:
        return {"from": _iso(self.start), "to": _iso(self.end)}


@attrs.frozen
class Partner:
    """A party to the agreement."""

    id: str
    name: str


@attrs.frozen
class AttributeSpec:
    """A custom deal attribute the ruleset declares, with its type."""

    name: str
    type: Type


@attrs.frozen
class CreditType:
    """A kind of credit (revenue, overlay...). Rules compete only within their type.

    ``total`` is the exact total every allocation of this type must reach (1 for 100%);
    ``None`` means each rule declares its own total (overlay credit, which may exceed 100%).
    ``required``: every deal must get credit of this type (or it is an error).
    """

    name: str
    total: Fraction | None
    required: bool

    @property
    def declared(self) -> bool:
        return self.total is None


@attrs.frozen
class Contribution:
    """How collaborative activities are weighed: points per activity kind, and a factor per
    partner that normalises for selling cultures (a partner whose reps make many short calls
    gets a factor below one)."""

    weights: Mapping[str, Fraction]
    normalise: Mapping[str, Fraction]

    def factor(self, partner: str) -> Fraction:
        return self.normalise.get(partner, Fraction(1))


@attrs.frozen
class Split:
    """Fixed shares per partner, totalling the credit type's total."""

    shares: Mapping[str, Fraction]
    kind: str = "split"


@attrs.frozen
class Overlay:
    """Declared double credit: each partner's share stated; the total may exceed 100%."""

    shares: Mapping[str, Fraction]
    kind: str = "overlay"

    @property
    def total(self) -> Fraction:
        return sum(self.shares.values(), Fraction(0))


@attrs.frozen
class ByContribution:
    """Credit in proportion to each partner's normalised, weighted activities.

    ``total`` is what the shares add up to; ``fallback`` applies when no partner contributed
    (``None``: equal shares).
    """

    contribution: Contribution
    total: Fraction
    fallback: Mapping[str, Fraction] | None = None
    kind: str = "by_contribution"


Outcome = Split | Overlay | ByContribution


@attrs.frozen
class PrecedenceList:
    """A declared order of rules of one credit type (earlier prevails), and when it holds:
    an amendment's list replaces the earlier one from the amendment's date."""

    type: str
    rules: tuple[str, ...]
    effective: DateRange = DateRange()


@attrs.frozen
class CreditRule:
    """One clause of the agreement that gives credit."""

    id: str
    clause: str
    text: str
    type: str
    outcome: Outcome
    when: Expr | None = None
    when_text: str | None = None
    overrides: tuple[str, ...] = ()
    default: bool = False
    effective: DateRange = DateRange()
    rep_credit: str | None = None
    version: str = ""
    location: Location = attrs.field(factory=lambda: Location(""))

    @property
    def key(self) -> str:
        """Unique across amendments: the same id may be in force in different windows."""
        return f"{self.id}@{self.version}"


@attrs.frozen
class FairnessExemption:
    """A declared waiver of a soft fairness invariant (see ``creditrules.fairness``).

    It is bound to ``rules`` (rule ids), which must cite ``clause``, the clause that permits
    the departure: it covers a finding only when every rule that produced it is one of
    these. It is bounded: the finding must concern only the ``partners`` named, depart by
    at most ``at_most`` (a share of the deal), and, when ``when`` is given, be met on a deal
    that condition holds for (``when_text`` is its text). A waived finding outside the
    bound is a violation. ``field`` narrows it further to findings about one field.
    """

    invariant: str
    clause: str
    reason: str
    rules: tuple[str, ...]
    partners: tuple[str, ...]
    at_most: Fraction
    when: Expr | None = attrs.field(default=None, eq=False, repr=False)
    when_text: str | None = None
    field: str | None = None
    location: Location = attrs.field(factory=lambda: Location(""), eq=False)

    def to_dict(self) -> dict[str, Any]:
        bound: dict[str, Any] = {"partners": list(self.partners),
                                 "at_most": fraction_text(self.at_most)}
        if self.when_text is not None:
            bound["when"] = self.when_text
        data: dict[str, Any] = {"invariant": self.invariant, "clause": self.clause,
                                "rules": list(self.rules), "bound": bound,
                                "reason": self.reason}
        if self.field is not None:
            data["field"] = self.field
        return data


@attrs.frozen(eq=False)
class Ruleset:
    """An alliance agreement, loaded and checked; apply it with :meth:`allocate`."""

    id: str
    version: str
    title: str
    effective: DateRange
    currency: str
    unit: Decimal
    tie_break: TieBreak
    partners: tuple[Partner, ...]
    attributes: tuple[AttributeSpec, ...]
    credit_types: tuple[CreditType, ...]
    rules: tuple[CreditRule, ...]
    precedence: tuple[PrecedenceList, ...]
    rep_credit: str
    contribution: Contribution | None
    source: str
    versions: tuple[str, ...] = ()
    topics: tuple[Topic, ...] = attrs.field(default=(), kw_only=True)
    # partner -> topic -> policy (EntertainmentPolicy, or limit name -> value for a Topic)
    policies: Mapping[str, Mapping[str, EntertainmentPolicy | Mapping[str, Fraction]]] = \
        attrs.field(factory=dict, kw_only=True)
    policy_rules: tuple[PolicyRule, ...] = attrs.field(default=(), kw_only=True)
    expense_rules: tuple[ExpenseRule, ...] = attrs.field(default=(), kw_only=True)
    # Declared waivers of soft fairness invariants (``fairness: {exemptions: [...]}``).
    fairness: tuple[FairnessExemption, ...] = attrs.field(default=(), kw_only=True)
    # Clause-cited acknowledgements of analysis warnings (``analysis: {acknowledge: ...}``).
    acknowledgements: tuple[Acknowledgement, ...] = attrs.field(default=(), kw_only=True)
    # Classes of partners the agreement treats alike (``fairness: {interchangeable: ...}``):
    # within each, exchanging two partners in a deal alone must exchange their credit.
    interchangeable: tuple[tuple[str, ...], ...] = attrs.field(default=(), kw_only=True)
    engine_name: str = attrs.field(default="reference", kw_only=True)
    _evaluator: Evaluator | None = attrs.field(default=None, init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_evaluator", _provided("evaluator")(self, self.engine_name))

    @property
    def engine(self) -> str:
        """The matching engine in use: ``"durable"`` (durable_rules) or ``"reference"``."""
        return self.engine_name

    @property
    def engine_notes(self) -> tuple[Problem, ...]:
        """Located notes (code ``engine-fallback``), one per rule whose condition lies
        beyond durable_rules' limits and is therefore matched by the reference evaluator
        (with the same results); empty under the reference engine."""
        assert self._evaluator is not None
        return self._evaluator.engine_notes()

    @property
    def partner_ids(self) -> tuple[str, ...]:
        return tuple(p.id for p in self.partners)

    def credit_type(self, name: str) -> CreditType:
        for ct in self.credit_types:
            if ct.name == name:
                return ct
        raise KeyError(name)

    def precedence_on(self, day: dt.date) -> list[tuple[str, tuple[str, ...]]]:
        """The declared precedence lists in force on ``day``, by credit type."""
        return sorted((p.type, p.rules) for p in self.precedence if p.effective.contains(day))

    def rules_in_force(self, day: dt.date) -> Iterator[CreditRule]:
        """The credit rules in force on ``day``, by id."""
        return (r for r in self.rules if r.effective.contains(day))

    def allocate(self, deal: Deal | Mapping[str, Any], *, explain: bool = True) -> Allocation:
        """Allocate one deal's credit.

        ``deal`` is a :class:`~creditrules.allocation.model.Deal` or its JSON-shaped mapping. Raises
        :class:`~creditrules.errors.DealError` for a malformed deal and
        :class:`~creditrules.errors.AllocationError` when the agreement gives no single answer.
        Which part of each unmatched condition was false (``RuleVerdict.reasons``) is worked
        out when first read, so an allocation nobody explains costs no explaining; with
        ``explain=False`` it is left out (everything else is the same).
        """
        assert self._evaluator is not None
        return self._evaluator.allocate(deal, explain=explain)

    def allocate_many(self, deals: Iterable[Any], *,
                      duplicates: str = "reject") -> Iterator[Allocation | Rejection]:
        """Allocate many deals, lazily and in input order: for each, its
        :class:`~creditrules.allocation.results.Allocation` (as ``allocate(deal, explain=False)``
        gives) or a :class:`~creditrules.io.batch.Rejection` saying why not; a bad deal never
        stops the stream, and a deal id already allocated is rejected unless
        ``duplicates="allow"``. See :func:`creditrules.io.batch.allocate_many`.
        """
        results: Iterator[Allocation | Rejection] = _provided("allocate_many")(
            self, deals, duplicates=duplicates)
        return results

    @property
    def content_hash(self) -> str:
        """sha256 of the ruleset's canonical content: the same agreement gives the same hash
        whatever the order of rules or keys in its files."""
        text = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False)
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()

    def canonical(self) -> dict[str, Any]:
        """The agreement as canonical JSON-ready data (what the content hash covers)."""
        return {
            "ruleset": self.id,
            "version": self.version,
            "title": self.title,
            "effective": self.effective.to_dict(),
            "currency": self.currency,
            "unit": str(self.unit),
            "tie_break": self.tie_break.describe(),
            "partners": {p.id: p.name for p in self.partners},
            "attributes": {a.name: str(a.type) for a in self.attributes},
            # A list: the declared order of credit types is the order of credits in results.
            "credit_types": [
                {"name": ct.name, "total": _opt_share(ct.total), "required": ct.required}
                for ct in self.credit_types
            ],
            "precedence": sorted(
                ({"type": p.type, "rules": list(p.rules), "effective": p.effective.to_dict()}
                 for p in self.precedence), key=lambda d: json.dumps(d, sort_keys=True)),
            "rep_credit": self.rep_credit,
            "contribution": _contribution_dict(self.contribution),
            "rules": [_rule_dict(r) for r in sorted(self.rules, key=lambda r: r.key)],
            "topics": {t.name: dict(sorted(t.limits.items())) for t in self.topics},
            "policies": {p: {t: _policy_dict(v) for t, v in sorted(topics.items())}
                         for p, topics in sorted(self.policies.items())},
            "policy_rules": [_plain_rule_dict(r, governs=r.governs, partner=r.partner,
                                              topic=r.topic)
                             for r in sorted(self.policy_rules, key=lambda r: r.key)],
            "expense_rules": [_plain_rule_dict(r, method=r.method, excess=r.excess,
                                               shares=_shares_dict(r.shares))
                              for r in sorted(self.expense_rules, key=lambda r: r.key)],
            "fairness": {"exemptions": sorted(
                (e.to_dict() for e in self.fairness),
                key=lambda d: json.dumps(d, sort_keys=True)),
                # Only when declared, so agreements without it keep their hash.
                **({"interchangeable": sorted(list(c) for c in self.interchangeable)}
                   if self.interchangeable else {})},
            # Only when declared, so that rulesets without any keep their hash.
            **({"analysis": {"acknowledge": sorted(
                (a.to_dict() for a in self.acknowledgements),
                key=lambda d: json.dumps(d, sort_keys=True))}} if self.acknowledgements
               else {}),
        }

    def share_expense(self, expense: Expense | Mapping[str, Any],
                      context: Mapping[str, Any] | None = None) -> ExpenseShare:
        """Share one entertainment expense not tied to a sale (an event for a territory).

        ``context`` gives the deal-like facts the policy and sharing rules read (``account``,
        ``lead``, ``product``, ``attributes``, ``date``); the expense's own ``date`` is used
        when the context has none. Sharing ``by_credit`` needs a deal and is refused here.
        """
        assert self._evaluator is not None
        return self._evaluator.share_expense(expense, context or {})


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None


def _opt_share(value: Fraction | None) -> str | None:
    return None if value is None else fraction_text(value)


def _shares_dict(shares: Mapping[str, Fraction] | None) -> dict[str, str] | None:
    if shares is None:
        return None
    return {k: fraction_text(v) for k, v in sorted(shares.items())}


def _contribution_dict(c: Contribution | None) -> dict[str, Any] | None:
    if c is None:
        return None
    return {"weights": _shares_dict(c.weights), "normalise": _shares_dict(c.normalise)}


def _rule_dict(rule: CreditRule) -> dict[str, Any]:
    outcome: dict[str, Any] = {"kind": rule.outcome.kind}
    if isinstance(rule.outcome, Split | Overlay):
        outcome["shares"] = _shares_dict(rule.outcome.shares)
    else:
        outcome["contribution"] = _contribution_dict(rule.outcome.contribution)
        outcome["total"] = fraction_text(rule.outcome.total)
        outcome["fallback"] = _shares_dict(rule.outcome.fallback)
    return {
        "id": rule.id,
        "version": rule.version,
        "clause": rule.clause,
        "text": rule.text,
        "type": rule.type,
        "when": rule.when_text,
        "outcome": outcome,
        "overrides": sorted(rule.overrides),
        "default": rule.default,
        "effective": rule.effective.to_dict(),
        "rep_credit": rule.rep_credit,
    }


def _cap_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, Decimal):
        return str(value)
    return "forbidden"


def _policy_dict(policy: EntertainmentPolicy | Mapping[str, Fraction]) -> dict[str, Any]:
    if isinstance(policy, EntertainmentPolicy):
        return {
            "caps": {k: _cap_text(v) for k, v in sorted(policy.caps.items())},
            "categories": {c: {k: _cap_text(v) for k, v in sorted(m.items())}
                           for c, m in sorted(policy.categories.items())},
            "forbidden": sorted(policy.forbidden),
            "preapproval_above": _cap_text(policy.preapproval_above),
            "annual_cap_per_attendee": _cap_text(policy.annual_cap_per_attendee),
        }
    return {k: fraction_text(v) for k, v in sorted(policy.items())}


def _plain_rule_dict(rule: PolicyRule | ExpenseRule, **extra: Any) -> dict[str, Any]:
    return {"id": rule.id, "clause": rule.clause, "text": rule.text, "when": rule.when_text,
            "overrides": sorted(rule.overrides), "default": rule.default, **extra}
