"""Allocation: one deal through the agreement, from the checked deal to its credit,
policy decisions, expense shares and explanation.

The result classes (:class:`Allocation` and its parts) are importable from here."""

from creditrules.allocation.results import (
    Allocation,
    CreditWorkings,
    ExpensePart,
    ExpenseShare,
    Limit,
    PartnerCredit,
    PointsRow,
    PolicyDecision,
    RepCredit,
    RoundingLine,
    RulesetRef,
    RuleVerdict,
    TypeCredit,
    Workings,
)

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
