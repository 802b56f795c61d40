"""Invariants of policies and expenses: caps respected, forbidden kinds never shared, and
policy precedence well-formed."""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from fractions import Fraction
from typing import Any

from creditrules.agreement.ruleset import Ruleset
from creditrules.allocation.results import Allocation, ExpenseShare, Limit, PolicyDecision
from creditrules.fairness._invariant import AllocationInvariant
from creditrules.fairness._report import Finding
from creditrules.fairness._subject import Subject


def _attendees(deal: Mapping[str, Any] | None, expense_id: str
               ) -> list[tuple[str | None, Decimal]] | None:
    """(category, spent this year) per attendee of an expense of the deal, if known."""
    if deal is None:
        return None
    for e in deal.get("expenses", ()):
        if str(e.get("id")) != expense_id:
            continue
        raw = e.get("attendees")
        if isinstance(raw, int) and not isinstance(raw, bool):
            return [(None, Decimal(0))] * raw
        return [(a.get("category"), Decimal(str(a.get("spent_this_year", "0"))))
                for a in raw or ()]
    return None


def _limits(decision: PolicyDecision) -> dict[str, Limit]:
    return {lim.name: lim for lim in decision.limits}


_FORBID = object()


def _attendee_cap(limits: Mapping[str, Limit], kind: str, category: str | None) -> Any:
    """The prevailing per-attendee cap: an amount, ``None`` (no cap) or ``_FORBID``."""
    names = ([f"{kind}.{category}"] if category else []) + [kind]
    for name in names:
        if f"forbidden.{name}" in limits and limits[f"forbidden.{name}"].value:
            return _FORBID
        lim = limits.get(f"cap.{name}")
        if lim is not None:
            return lim.value
    return _FORBID  # a kind the governing policy does not list is not allowed


def _caps(e: ExpenseShare, deal: Mapping[str, Any] | None) -> list[Any] | None:
    people = _attendees(deal, e.expense)
    if people is None:
        return None
    limits = _limits(e.policy)
    annual = limits.get("annual_cap_per_attendee")
    out = []
    for category, spent in people:
        cap = _attendee_cap(limits, e.kind, category)
        if cap is not _FORBID and annual is not None and isinstance(annual.value, Decimal):
            room = max(annual.value - spent, Decimal(0))
            cap = room if cap is None else min(cap, room)
        out.append(cap)
    return out


class CapsRespected(AllocationInvariant):
    """Caps respected: an expense's covered (shared) amount never exceeds its cap, nor the
    sum over its attendees of the smaller of their equal part of the amount and the
    prevailing per-attendee cap (by category, less what was spent on them this year against
    an annual cap); an excess has a named bearer among the partners."""

    name = "caps-respected"
    title = "caps respected"

    def applies(self, subject: Subject) -> str | None:
        return None if subject.ruleset.policies else "the ruleset declares no policies"

    def violations(self, allocation: Allocation, ruleset: Ruleset,
                   deal: Mapping[str, Any] | None = None) -> list[Finding]:
        out = []
        for e in allocation.expenses:
            rules = ((e.rule, e.clause), (e.policy.rule, e.policy.clause))
            if e.cap is not None and e.covered > e.cap:
                out.append(Finding(f"expense {e.expense}: covered {e.covered} is above its cap "
                                   f"{e.cap}", rules=rules, partners=(e.paid_by,),
                                   fields=("expenses", e.kind)))
            caps = _caps(e, deal)
            if caps is not None and caps:
                each = Fraction(e.amount) / len(caps)
                bound = sum((Fraction(0) if c is _FORBID else each if c is None
                             else min(each, Fraction(c)) for c in caps), Fraction(0))
                if Fraction(e.covered) > bound:
                    out.append(Finding(
                        f"expense {e.expense}: covered {e.covered} is above what the "
                        f"prevailing per-attendee caps allow ({_cents(bound)} for "
                        f"{len(caps)} attendee(s))", rules=rules, partners=(e.paid_by,),
                        fields=("expenses", e.kind)))
            if e.excess > 0 and e.excess_bearer not in ruleset.partner_ids:
                out.append(Finding(f"expense {e.expense}: the excess {e.excess} has no bearer "
                                   f"among the partners ({e.excess_bearer!r})", rules=rules,
                                   fields=("expenses", e.kind)))
        return out


class ForbiddenKinds(AllocationInvariant):
    """Forbidden kinds are never shared: an expense of a kind the prevailing policy forbids
    (for every attendee) has no shared part, nothing covered, all of it as excess borne by
    whoever paid, and is marked disallowed; where it is forbidden for some attendees only,
    their part is not covered (see caps-respected)."""

    name = "forbidden-kinds"
    title = "forbidden kinds are never shared"

    def applies(self, subject: Subject) -> str | None:
        return None if subject.ruleset.policies else "the ruleset declares no policies"

    def violations(self, allocation: Allocation, ruleset: Ruleset,
                   deal: Mapping[str, Any] | None = None) -> list[Finding]:
        out = []
        for e in allocation.expenses:
            caps = _caps(e, deal)
            limits = _limits(e.policy)
            forbidden = (caps is not None and caps and all(c is _FORBID for c in caps)) or (
                caps is None and _attendee_cap(limits, e.kind, None) is _FORBID)
            if not forbidden:
                continue
            shared = [p for p in e.parts if p.amount]
            if shared or e.covered or e.excess != e.amount or not e.disallowed:
                out.append(Finding(
                    f"expense {e.expense}: {e.kind} is forbidden under "
                    f"{e.policy.partner or 'the stricter policy'} (rule {e.policy.rule}) but "
                    f"{'is shared' if shared else 'is covered' if e.covered else 'is accepted'}"
                    f" ({', '.join(f'{p.partner} {p.amount}' for p in shared) or e.covered})",
                    rules=((e.rule, e.clause), (e.policy.rule, e.policy.clause)),
                    partners=tuple(p.partner for p in shared), fields=("expenses", e.kind)))
        return out


def _rank(value: Any) -> tuple[int, Fraction]:
    """Strictness order of a limit value: forbidden < any amount < no limit."""
    if value is True or value is _FORBID:
        return (0, Fraction(0))
    if value is None:
        return (2, Fraction(0))
    return (1, Fraction(value))


def _own_limit(ruleset: Ruleset, partner: str, topic: str, name: str) -> tuple[bool, Any]:
    """A partner's own value of a limit (``(False, None)`` when its policy does not say)."""
    from creditrules.agreement.policy import FORBIDDEN, EntertainmentPolicy

    policy = ruleset.policies.get(partner, {}).get(topic)
    if policy is None:
        return False, None
    if isinstance(policy, EntertainmentPolicy):
        if name in ("preapproval_above", "annual_cap_per_attendee"):
            return True, getattr(policy, name)
        kind, _, category = name.partition(".")[2].partition(".")
        cap = policy.cap(kind, category or None)
        return True, _FORBID if cap is FORBIDDEN else cap
    if name in policy:
        return True, policy[name]
    return False, None


class PolicyPrecedence(AllocationInvariant):
    """Precedence well-formed: exactly one decision per policy topic; a decision by one
    partner's policy has exactly that partner's limits; under ``stricter`` every limit is at
    least as strict as each partner's own (forbidden < any amount < no limit; for other
    topics, by each limit's declared direction), equals the value of the partner(s) it
    names as its source, and no partner's limit is missing."""

    name = "policy-precedence"
    title = "policy precedence well-formed"

    def applies(self, subject: Subject) -> str | None:
        return None if subject.ruleset.policy_rules else \
            "the ruleset declares no policy precedence"

    def violations(self, allocation: Allocation, ruleset: Ruleset,
                   deal: Mapping[str, Any] | None = None) -> list[Finding]:
        out: list[Finding] = []
        topics = [d.topic for d in allocation.policies]
        for topic in sorted({t for t in topics if topics.count(t) > 1}):
            rules = tuple((d.rule, d.clause) for d in allocation.policies if d.topic == topic)
            out.append(Finding(f"{topics.count(topic)} decisions for the {topic} policy",
                               rules=rules, fields=(topic,)))
        decisions = list(allocation.policies) + [e.policy for e in allocation.expenses]
        seen: set[str] = set()
        for d in decisions:
            key = json.dumps(d.to_dict(), sort_keys=True)
            if key in seen or (d.governs == "payer" and d.partner is None):
                continue
            seen.add(key)
            out += self._decision(d, ruleset)
        return out

    @staticmethod
    def _decision(d: PolicyDecision, ruleset: Ruleset) -> list[Finding]:
        out = []
        rules = ((d.rule, d.clause),)
        directions = {t.name: t.limits for t in ruleset.topics}.get(d.topic, {})
        limits = _limits(d)
        partners = sorted(ruleset.policies)
        if d.governs != "stricter":
            partners = [d.partner] if d.partner is not None else []
        for lim in d.limits:
            values = {p: v for p in partners
                      for ok, v in [_own_limit(ruleset, p, d.topic, lim.name)] if ok}
            if not values:
                continue
            if d.governs != "stricter":
                want = values[partners[0]]
                if _rank(want) != _rank(lim.value):
                    out.append(Finding(f"{d.topic} limit {lim.name} is {lim.value} under "
                                       f"{d.partner}'s policy, which says {want}", rules=rules,
                                       partners=tuple(partners), fields=(d.topic, lim.name)))
                continue
            direction = directions.get(lim.name, "lower")
            for p, v in sorted(values.items()):
                looser = (_rank(lim.value) > _rank(v) if direction == "lower"
                          else _rank(lim.value) < _rank(v))
                if looser:
                    out.append(Finding(
                        f"{d.topic} limit {lim.name} under the stricter policy is "
                        f"{lim.value}, looser than {p}'s {v}", rules=rules, partners=(p,),
                        fields=(d.topic, lim.name)))
            for p in lim.source:
                if p in values and _rank(values[p]) != _rank(lim.value):
                    out.append(Finding(f"{d.topic} limit {lim.name} is {lim.value}, said to "
                                       f"come from {p}, whose policy says {values[p]}",
                                       rules=rules, partners=(p,), fields=(d.topic, lim.name)))
        if d.governs == "stricter" and d.topic != "entertainment":
            for name in directions:
                if name not in limits:
                    out.append(Finding(f"{d.topic} limit {name} is missing under the stricter "
                                       "policy", rules=rules, fields=(d.topic, name)))
        return out


def _cents(value: Fraction) -> str:
    """An exact amount shown to the cent (display only; decimal, never float)."""
    return f"{Decimal(value.numerator) / Decimal(value.denominator):.2f}"
