"""Results: the credit a deal gets, per credit type, partner and rep, with its explanation.

Shares are exact :class:`~fractions.Fraction` values (of the deal amount); amounts are
:class:`~decimal.Decimal` rounded to the currency unit so that each type's amounts add up
exactly to its total. :meth:`Allocation.to_dict` is the canonical JSON-ready form: the same
ruleset and deal always give the same data, whatever the order of their inputs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from decimal import Decimal
from fractions import Fraction
from typing import Any

import attrs

from creditrules.allocation._deferred import Deferred, resolve
from creditrules.base._money import fraction_text
from creditrules.base._readable import number_reading, percent_reading

__all__ = [
    "Allocation",
    "CreditWorkings",
    "ExpensePart",
    "ExpenseShare",
    "Limit",
    "PartnerCredit",
    "PointsRow",
    "PolicyDecision",
    "RepCredit",
    "RoundingLine",
    "RuleVerdict",
    "RulesetRef",
    "TypeCredit",
    "Workings",
]


_OUTCOMES = {"split": "fixed split", "overlay": "overlay", "by_contribution": "by contribution"}


@attrs.frozen
class RepCredit:
    """A rep's part of its partner's credit."""

    rep: str
    share: Fraction
    amount: Decimal

    def to_dict(self) -> dict[str, Any]:
        return {"rep": self.rep, "share": fraction_text(self.share), "amount": str(self.amount)}


@attrs.frozen
class PartnerCredit:
    """A partner's credit of one type: exact share of the deal and rounded amount."""

    partner: str
    share: Fraction
    amount: Decimal
    reps: tuple[RepCredit, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "partner": self.partner,
            "share": fraction_text(self.share),
            "amount": str(self.amount),
            "reps": [r.to_dict() for r in self.reps],
        }


@attrs.frozen
class TypeCredit:
    """The credit of one type (revenue, overlay...) and the rules that decided it."""

    type: str
    total: Fraction
    declared: bool  # the total was declared by the rule (overlay), not fixed by the type
    rules: tuple[str, ...]
    clauses: tuple[str, ...]
    outcome: str  # split, overlay, by_contribution
    amount: Decimal
    partners: tuple[PartnerCredit, ...]
    note: str = ""

    def share(self, partner: str) -> Fraction:
        """The partner's exact share (0 when it gets none)."""
        return next((p.share for p in self.partners if p.partner == partner), Fraction(0))

    def amount_of(self, partner: str) -> Decimal:
        """The partner's rounded amount (0, to the unit, when it gets none)."""
        return next((p.amount for p in self.partners if p.partner == partner), abs(self.amount) * 0)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "type": self.type,
            "total": fraction_text(self.total),
            "total_declared": self.declared,
            "outcome": self.outcome,
            "rules": list(self.rules),
            "clauses": list(self.clauses),
            "amount": str(self.amount),
            "partners": [p.to_dict() for p in self.partners],
        }
        if self.note:
            data["note"] = self.note
        return data


@attrs.frozen
class RuleVerdict:
    """What one rule did for a deal.

    ``status`` is ``applied``, ``overridden`` (``by`` names the rules that prevailed),
    ``not-matched`` (``reasons`` says which part of the condition was false) or
    ``not-in-force`` (the deal date is outside the rule's effective dates).
    """

    rule: str
    version: str
    clause: str
    type: str
    status: str
    text: str = ""
    by: tuple[str, ...] = ()
    # The reasons, or what explains them on first read (Deferred): compared, hashed
    # and shown as the reasons themselves.
    _reasons: tuple[str, ...] | Deferred[tuple[str, ...]] = attrs.field(
        default=(), alias="reasons", eq=resolve, repr=lambda r: repr(resolve(r))
    )

    @property
    def reasons(self) -> tuple[str, ...]:
        """Which part of the condition was false (``not-matched``), or why the rule was not
        in force (``not-in-force``); empty otherwise or when not asked for."""
        return resolve(self._reasons)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "rule": self.rule,
            "version": self.version,
            "clause": self.clause,
            "type": self.type,
            "status": self.status,
        }
        if self.by:
            data["by"] = list(self.by)
        if self.reasons:
            data["reasons"] = list(self.reasons)
        return data


@attrs.frozen
class Limit:
    """One policy limit as it prevails: its value and the partner(s) whose policy set it.

    ``name`` is e.g. ``cap.meal`` (per attendee, default category), ``cap.meal.hcp``,
    ``forbidden.gift``, ``preapproval_above``, ``annual_cap_per_attendee``, or a limit of
    another topic. ``value`` is a Decimal amount, a Fraction, ``True`` (forbidden) or
    ``None`` (no limit).
    """

    name: str
    value: Decimal | Fraction | bool | None
    source: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        value: Any = self.value
        if isinstance(value, Decimal):
            value = str(value)
        elif isinstance(value, Fraction):
            value = fraction_text(value)
        return {"name": self.name, "value": value, "from": list(self.source)}


@attrs.frozen
class PolicyDecision:
    """Which policy governs a topic for a deal (or one expense), and by which rule.

    ``governs`` is how it was chosen (``stricter``, ``account_owner``, ``lead_partner``,
    ``payer`` or ``partner``); ``partner`` is the prevailing partner, or ``None`` under
    ``stricter`` where ``limits`` may combine several policies.
    """

    topic: str
    rule: str
    clause: str
    governs: str
    partner: str | None
    limits: tuple[Limit, ...]

    def limit(self, name: str) -> Limit | None:
        return next((lim for lim in self.limits if lim.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "rule": self.rule,
            "clause": self.clause,
            "governs": self.governs,
            "partner": self.partner,
            "limits": [lim.to_dict() for lim in self.limits],
        }


@attrs.frozen
class ExpensePart:
    """A partner's part of the covered (within-cap) amount of an expense."""

    partner: str
    share: Fraction
    amount: Decimal

    def to_dict(self) -> dict[str, Any]:
        return {
            "partner": self.partner,
            "share": fraction_text(self.share),
            "amount": str(self.amount),
        }


@attrs.frozen
class ExpenseShare:
    """How one entertainment expense is borne.

    ``covered + excess == amount`` exactly; ``parts`` share ``covered`` (their amounts add up
    to it); ``excess`` (above the prevailing cap, or all of a forbidden expense) is borne by
    ``excess_bearer``, and ``disallowed`` says the alliance does not accept it at all.
    ``cap`` is the expense's total cap (per-attendee caps added up), ``None`` if uncapped.
    """

    expense: str
    kind: str
    amount: Decimal
    paid_by: str
    attendees: int
    policy: PolicyDecision
    cap: Decimal | None
    covered: Decimal
    excess: Decimal
    excess_bearer: str
    disallowed: bool
    rule: str
    clause: str
    method: str  # split, equal, by_credit, payer
    parts: tuple[ExpensePart, ...]
    violations: tuple[str, ...] = ()

    def part(self, partner: str) -> Decimal:
        """The partner's share of the covered amount (0 when none)."""
        return next((p.amount for p in self.parts if p.partner == partner), Decimal(0))

    def to_dict(self) -> dict[str, Any]:
        return {
            "expense": self.expense,
            "kind": self.kind,
            "amount": str(self.amount),
            "paid_by": self.paid_by,
            "attendees": self.attendees,
            "policy": self.policy.to_dict(),
            "cap": None if self.cap is None else str(self.cap),
            "covered": str(self.covered),
            "excess": str(self.excess),
            "excess_bearer": self.excess_bearer,
            "disallowed": self.disallowed,
            "rule": self.rule,
            "clause": self.clause,
            "method": self.method,
            "parts": [p.to_dict() for p in self.parts],
            "violations": list(self.violations),
        }


@attrs.frozen
class RulesetRef:
    """Which agreement produced a result: enough to reproduce and audit it."""

    id: str
    version: str
    hash: str

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "version": self.version, "hash": self.hash}


@attrs.frozen
class PointsRow:
    """One line of a by-contribution points table: a partner's activities of one kind.

    ``points = count x weight x normalise``; ``count`` is the number of activities of that
    kind the partner took part in (once per activity, however many of its reps were there).
    """

    partner: str
    activity: str
    count: int
    weight: Fraction
    normalise: Fraction
    points: Fraction

    def to_dict(self) -> dict[str, Any]:
        return {
            "partner": self.partner,
            "activity": self.activity,
            "count": self.count,
            "weight": fraction_text(self.weight),
            "normalise": fraction_text(self.normalise),
            "points": fraction_text(self.points),
        }


@attrs.frozen
class RoundingLine:
    """How one partner's exact amount was rounded to the currency unit.

    ``exact`` is the amount before rounding (a Fraction of the currency); ``odd_unit`` says
    the partner took one unit more than its exact amount rounded towards zero (the largest
    remainder method hands out the units the rounding down left over); ``reason`` says why.
    """

    partner: str
    exact: Fraction
    amount: Decimal
    odd_unit: bool
    reason: str
    #: The rep, for a rep's share of its partner's rounded amount (None: the partner's).
    rep: str | None = attrs.field(default=None, kw_only=True)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"partner": self.partner}
        if self.rep is not None:
            data["rep"] = self.rep
        data.update({
            "exact": fraction_text(self.exact),
            "amount": str(self.amount),
            "odd_unit": self.odd_unit,
            "reason": self.reason,
        })
        return data


@attrs.frozen
class CreditWorkings:
    """What a reader needs to check one credit type by hand: the points table behind a
    by-contribution split (empty for fixed splits, or when nothing was recorded) with each
    partner's points, the rounding of every partner's amount, and then of each partner's
    rounded amount among its reps (``rep_rounding``)."""

    type: str
    points: tuple[PointsRow, ...]
    partner_points: tuple[tuple[str, Fraction], ...]
    rounding: tuple[RoundingLine, ...]
    unit: Decimal
    rep_rounding: tuple[RoundingLine, ...] = attrs.field(default=(), kw_only=True)

    @property
    def total_points(self) -> Fraction:
        return sum((p for _, p in self.partner_points), Fraction(0))

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "type": self.type,
            "unit": str(self.unit),
            "rounding": [r.to_dict() for r in self.rounding],
        }
        if self.rep_rounding:
            data["rep_rounding"] = [r.to_dict() for r in self.rep_rounding]
        if self.points:
            data["points"] = [r.to_dict() for r in self.points]
            data["partner_points"] = {p: fraction_text(v) for p, v in self.partner_points}
            data["total_points"] = fraction_text(self.total_points)
        return data


@attrs.frozen
class Workings:
    """The parts of an explanation worked out only when read: every partner of the
    agreement by name, and each credit type's points table and rounding."""

    partners: tuple[tuple[str, str], ...]  # (id, name) in the agreement's order
    credits: tuple[CreditWorkings, ...]

    def name(self, partner: str) -> str:
        """``Name (id)``, or the id alone for a partner the agreement does not name."""
        return partner_label(self.partners, partner)

    def credit(self, type_name: str) -> CreditWorkings | None:
        return next((c for c in self.credits if c.type == type_name), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "partners": [{"id": p, "name": n} for p, n in self.partners],
            "credits": [c.to_dict() for c in self.credits],
        }


@attrs.frozen
class Allocation:
    """The credit of one deal under one ruleset, with the reason for it."""

    deal_id: str
    date: dt.date
    amount: Decimal
    currency: str
    ruleset: RulesetRef
    credits: tuple[TypeCredit, ...]
    # Every rule's verdict, or what lists them on first read (Deferred): compared, hashed and
    # shown as the verdicts themselves.
    _verdicts: tuple[RuleVerdict, ...] | Deferred[tuple[RuleVerdict, ...]] = attrs.field(
        alias="verdicts", eq=resolve, repr=lambda v: repr(resolve(v))
    )
    policies: tuple[PolicyDecision, ...] = ()
    expenses: tuple[ExpenseShare, ...] = ()
    # The points tables and rounding steps, worked out when an explanation is read (None
    # for an allocation built by hand): derived from the rest, so not compared.
    _workings: Workings | Deferred[Workings] | None = attrs.field(
        default=None, alias="workings", eq=False, repr=False
    )

    @property
    def verdicts(self) -> tuple[RuleVerdict, ...]:
        """What each rule did for this deal, in a stable order: credit types as declared,
        then policy topics, then expenses; within each, rules in clause order."""
        return resolve(self._verdicts)

    @property
    def workings(self) -> Workings | None:
        """Every partner by name, and each credit type's points table (by-contribution
        splits) and rounding step: what a reader needs to check the credit by hand."""
        found = self._workings
        return found.get() if isinstance(found, Deferred) else found

    def credit(self, type_name: str) -> TypeCredit | None:
        """The credit of the given type, or ``None`` when no rule of it applied."""
        return next((c for c in self.credits if c.type == type_name), None)

    def to_dict(self) -> dict[str, Any]:
        """Canonical JSON-ready data: money as decimal strings, shares as exact strings;
        ``workings`` holds the partners' names, points tables and rounding steps."""
        data = {
            "deal": self.deal_id,
            "date": self.date.isoformat(),
            "amount": str(self.amount),
            "currency": self.currency,
            "ruleset": self.ruleset.to_dict(),
            "credits": [c.to_dict() for c in self.credits],
            "policies": [p.to_dict() for p in self.policies],
            "expenses": [e.to_dict() for e in self.expenses],
            "explanation": [v.to_dict() for v in self.verdicts],
        }
        workings = self.workings
        if workings is not None:
            data["workings"] = workings.to_dict()
        return data

    def explain(self) -> str:
        """A readable account of the deal a lawyer can check by hand: which clauses gave
        what and why, every partner by name (0% too), shares as percentages (with the exact
        fraction where the decimal does not terminate), the points table behind each
        by-contribution split and how each amount was rounded."""
        workings = self.workings
        name = workings.name if workings is not None else str
        lines = [
            f"Deal {self.deal_id} of {self.date.isoformat()}: {self.amount} {self.currency}",
            f"Ruleset {self.ruleset.id} version {self.ruleset.version} ({self.ruleset.hash})",
        ]
        if workings is not None:
            lines.append("Partners: " + "; ".join(name(p) for p, _ in workings.partners))
        for credit in self.credits:
            total = percent_reading(credit.total)
            kind = "declared overlay total" if credit.declared else "total"
            rules = ", ".join(
                f"{r} (clause {c})" for r, c in zip(credit.rules, credit.clauses, strict=True)
            )
            lines.append("")
            outcome = _OUTCOMES.get(credit.outcome, credit.outcome)
            lines.append(
                f"{credit.type} credit: {kind} {total} = {credit.amount} "
                f"{self.currency}, {outcome} under {rules}"
            )
            if credit.note:
                lines.append(f"  note: {credit.note}")
            shown = (
                [p for p, _ in workings.partners]
                if workings is not None
                else [p.partner for p in credit.partners]
            )
            for pid in shown:
                line = next((p for p in credit.partners if p.partner == pid), None)
                lines.append(
                    f"  {name(pid)}: {percent_reading(credit.share(pid))} = {credit.amount_of(pid)}"
                )
                for r in line.reps if line is not None else ():
                    lines.append(f"    rep {r.rep}: {percent_reading(r.share)} = {r.amount}")
            found = workings.credit(credit.type) if workings is not None else None
            if found is not None:
                lines.extend(_workings_lines(found, credit, self.currency))
        for decision in self.policies:
            lines.append("")
            lines.append(f"{decision.topic} policy: {describe_decision(decision, name)}")
        for expense in self.expenses:
            lines.append("")
            lines.extend(describe_expense(expense, self.currency, name))
        lines.append("")
        lines.append("Rules (in clause order):")
        for v in self.verdicts:
            head = f"  [{v.status}] {v.rule} (clause {v.clause}, {v.type})"
            if v.by:
                head += f": overridden by {', '.join(v.by)}"
            lines.append(head)
            if v.text and v.status == "applied":
                lines.append(f"      {v.text}")
            for reason in v.reasons:
                lines.append(f"      because {reason}")
        return "\n".join(lines) + "\n"


def _workings_lines(workings: CreditWorkings, credit: TypeCredit, currency: str) -> list[str]:
    """The points table (by-contribution splits) and the rounding step of one credit."""
    lines: list[str] = []
    if workings.points:
        total = workings.total_points
        lines.append(f"  points (clause {', '.join(credit.clauses)}): count x weight x normalise")
        lines.append(
            f"    {'partner':<12} {'activity':<16} {'count':>5} {'weight':>7} "
            f"{'normalise':>9} {'points':>8}"
        )
        for row in workings.points:
            lines.append(
                f"    {row.partner:<12} {row.activity:<16} {row.count:>5} "
                f"{fraction_text(row.weight):>7} {fraction_text(row.normalise):>9} "
                f"{number_reading(row.points):>8}"
            )
        for pid, points in workings.partner_points:
            share = credit.total * points / total
            lines.append(
                f"    {pid} total {number_reading(points)} of "
                f"{number_reading(total)} points: share "
                f"{percent_reading(credit.total)} x {number_reading(points)} / "
                f"{number_reading(total)} = {percent_reading(share)}"
            )
    if any(line.exact != line.amount for line in workings.rounding):
        lines.append(
            f"  rounding to {workings.unit} {currency} (largest remainder: each "
            "amount rounded down, the units left over to the largest remainders)"
        )
        for line in workings.rounding:
            lines.append(
                f"    {line.partner}: exact {number_reading(line.exact)} -> "
                f"{line.amount}: {line.reason}"
            )
    if any(line.exact != line.amount for line in workings.rep_rounding):
        lines.append(
            "  rounding among reps (each partner's rounded amount shared by the same rule, "
            "from each rep's exact share of the deal)"
        )
        for line in workings.rep_rounding:
            lines.append(
                f"    {line.partner} {line.rep}: exact {number_reading(line.exact)} -> "
                f"{line.amount}: {line.reason}"
            )
    return lines


def partner_label(partners: Iterable[tuple[str, str]], partner: str) -> str:
    """``Name (id)`` of ``partner`` among ``partners`` ((id, name) pairs), or the id alone
    for a partner not named there."""
    found = next((n for p, n in partners if p == partner), None)
    return partner if found is None or found == partner else f"{found} ({partner})"


def describe_decision(decision: PolicyDecision, name: Callable[[str], str] = str) -> str:
    """One line: whose policy governs and by which clause (partners shown by ``name``)."""
    if decision.governs == "stricter":
        who = "the stricter of the partners' policies, limit by limit"
    elif decision.partner is None:
        who = "the payer's policy, expense by expense"
    elif decision.governs == decision.partner:  # the agreement names the partner
        who = f"the policy of {name(decision.partner)}"
    else:
        who = f"the policy of {name(decision.partner)}, the {decision.governs.replace('_', ' ')}"
    return f"{who}, by {decision.rule} (clause {decision.clause})"


def describe_expense(
    expense: ExpenseShare, currency: str, name: Callable[[str], str] = str
) -> list[str]:
    """Readable lines for one expense: the policy and its limits (with the partner each came
    from), the cap, the covered amount and its shares, the excess and who bears it (partners
    shown by ``name``)."""
    cap = "no cap" if expense.cap is None else f"cap {expense.cap}"
    lines = [
        f"expense {expense.expense}: {expense.kind} {expense.amount} {currency} paid by "
        f"{name(expense.paid_by)}, {expense.attendees} attendee(s)",
        f"  governed by {describe_decision(expense.policy, name)}",
    ]
    relevant = [
        lim
        for lim in expense.policy.limits
        if lim.name.split(".")[1:2] == [expense.kind] or "." not in lim.name
    ]
    if not any(lim.name.split(".")[1:2] == [expense.kind] for lim in relevant):
        lines.append(
            f"  {expense.kind} is not listed by the governing policy, so it is not allowed"
        )
    if relevant:
        lines.append(
            "  limits: "
            + "; ".join(f"{_limit_text(lim)} (from {', '.join(lim.source)})" for lim in relevant)
        )
    lines.append(
        f"  {cap}; covered {expense.covered}, shared "
        f"({expense.method.replace('_', ' ')}) by {expense.rule} "
        f"(clause {expense.clause})"
    )
    for part in expense.parts:
        lines.append(f"    {name(part.partner)}: {percent_reading(part.share)} = {part.amount}")
    if expense.excess:
        tail = " (disallowed)" if expense.disallowed else ""
        lines.append(f"  excess {expense.excess} borne by {name(expense.excess_bearer)}{tail}")
    for violation in expense.violations:
        lines.append(f"  VIOLATION: {violation}")
    return lines


def _limit_text(limit: Limit) -> str:
    name = limit.name.split(".", 1)[-1] if "." in limit.name else limit.name
    if limit.name.startswith("forbidden."):
        return f"{name} forbidden"
    if limit.value is None:
        return f"{name} no limit"
    value = fraction_text(limit.value) if isinstance(limit.value, Fraction) else limit.value
    return f"{name} {value}"
