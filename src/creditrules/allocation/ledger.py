"""Ledger rows: an allocation as flat rows of text, one per deal, credit type, partner and
rep, plus one per share of each expense and one for its excess (see :data:`LEDGER_COLUMNS`).
Batch runs write them (:mod:`creditrules.io.batch`)."""

from __future__ import annotations

from creditrules.allocation.results import Allocation, ExpenseShare, PolicyDecision
from creditrules.base._money import fraction_text

__all__ = ["LEDGER_COLUMNS", "Row", "expense_rows", "ledger_rows", "policy_text"]

#: The ledger's columns, in order. ``kind`` is ``credit``, ``expense`` (a partner's share of
#: an expense's covered amount) or ``excess`` (the amount above the cap, borne by
#: ``partner``). For credit, ``type`` is the credit type; ``share`` and ``amount`` are the
#: row's own (the rep's when there is one), ``partner_share`` and ``partner_amount`` the
#: partner's (repeated on each of its reps' rows): sum ``amount``, never ``partner_amount``.
#: For expenses, ``type`` is the expense kind and ``expense`` its id. Shares are exact
#: fractions of the deal (or expense) amount written as ``0.7`` or ``1/3``; amounts are
#: decimal text in the ruleset's currency. ``rules`` names the deciding rule(s) (``;``
#: between several), ``policy`` the prevailing policy per topic (``topic=partner by rule``,
#: ``stricter`` for limits combined across partners), ``note`` a fallback used, an excess
#: ``disallowed``, or policy violations.
LEDGER_COLUMNS: tuple[str, ...] = (
    "deal", "date", "kind", "type", "partner", "rep", "share", "amount", "partner_share",
    "partner_amount", "currency", "rules", "expense", "note", "policy", "ruleset",
    "ruleset_version", "ruleset_hash",
)

Row = tuple[str | None, ...]


def policy_text(decision: PolicyDecision) -> str:
    """A policy decision in one ledger cell: ``entertainment=acme by owner-policy``, with
    ``stricter`` (limits combined) or ``payer`` (decided per expense) in place of a partner."""
    return f"{decision.topic}={decision.partner or decision.governs} by {decision.rule}"


def ledger_rows(allocation: Allocation) -> list[Row]:
    """The ledger rows of one allocation (see :data:`LEDGER_COLUMNS`)."""
    ref = allocation.ruleset
    tail = (ref.id, ref.version, ref.hash)
    deal = allocation.deal_id
    date = allocation.date.isoformat()
    currency = allocation.currency
    policy = ";".join(policy_text(p) for p in allocation.policies) or None
    rows: list[Row] = []
    for credit in allocation.credits:
        rules = ";".join(credit.rules)
        note = credit.note or None
        for p in credit.partners:
            share, amount = fraction_text(p.share), str(p.amount)
            if not p.reps:
                rows.append((deal, date, "credit", credit.type, p.partner, None, share, amount,
                             share, amount, currency, rules, None, note, policy, *tail))
            for r in p.reps:
                rows.append((deal, date, "credit", credit.type, p.partner, r.rep,
                             fraction_text(r.share), str(r.amount), share, amount, currency,
                             rules, None, note, policy, *tail))
    for expense in allocation.expenses:
        rows.extend(expense_rows(expense, deal, date, currency, tail))
    return rows


def expense_rows(e: ExpenseShare, deal: str, date: str, currency: str,
                 tail: tuple[str, str, str]) -> list[Row]:
    """The rows of one expense: a share per partner of the covered amount, and the excess."""
    policy = policy_text(e.policy)
    violations = "; ".join(e.violations) or None
    rows: list[Row] = []
    for part in e.parts:
        share, amount = fraction_text(part.share), str(part.amount)
        rows.append((deal, date, "expense", e.kind, part.partner, None, share, amount, share,
                     amount, currency, e.rule, e.expense, violations, policy, *tail))
    if e.excess:
        note = "; ".join((*(("disallowed",) if e.disallowed else ()), *e.violations)) or None
        excess = str(e.excess)
        rows.append((deal, date, "excess", e.kind, e.excess_bearer, None, None, excess, None,
                     excess, currency, e.rule, e.expense, note, policy, *tail))
    return rows
