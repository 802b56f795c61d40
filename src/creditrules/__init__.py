"""creditrules: partnership agreements as executable, checkable rules.

Load an alliance agreement (a ruleset file) and apply it to deals::

    import creditrules

    ruleset = creditrules.load("rulesets/cardiozen.yaml")
    allocation = ruleset.allocate({"id": "D1", "date": "2026-03-01", "amount": "1000.00", ...})
    allocation.to_dict()       # canonical, JSON-ready
    print(allocation.explain())  # which clauses gave what, and why
"""

from creditrules.agreement.ruleset import (
    CreditRule,
    CreditType,
    FairnessExemption,
    Partner,
    Ruleset,
)
from creditrules.allocation.loading import load, loads
from creditrules.allocation.model import Account, Activity, Attendee, Deal, Expense, Lead, Rep
from creditrules.allocation.results import (
    Allocation,
    ExpensePart,
    ExpenseShare,
    Limit,
    PartnerCredit,
    PolicyDecision,
    RepCredit,
    RulesetRef,
    RuleVerdict,
    TypeCredit,
)
from creditrules.analysis import Analysis, Finding, analyse
from creditrules.errors import (
    AllocationError,
    AmbiguityError,
    CreditRulesError,
    DealError,
    EngineError,
    Location,
    NoApplicableRuleError,
    Problem,
    RulesetError,
    UsageError,
)
from creditrules.fairness import (
    Counterexample,
    FairnessReport,
    InvariantResult,
    check_fairness,
)
from creditrules.io.batch import Rejection, Summary

__version__ = "0.1.0"

__all__ = [
    "Account",
    "Activity",
    "Allocation",
    "AllocationError",
    "AmbiguityError",
    "Analysis",
    "Attendee",
    "Counterexample",
    "CreditRule",
    "CreditRulesError",
    "CreditType",
    "Deal",
    "DealError",
    "EngineError",
    "Expense",
    "ExpensePart",
    "ExpenseShare",
    "FairnessExemption",
    "FairnessReport",
    "Finding",
    "InvariantResult",
    "Lead",
    "Limit",
    "Location",
    "NoApplicableRuleError",
    "Partner",
    "PartnerCredit",
    "PolicyDecision",
    "Problem",
    "Rejection",
    "Rep",
    "RepCredit",
    "RuleVerdict",
    "Ruleset",
    "RulesetError",
    "RulesetRef",
    "Summary",
    "TypeCredit",
    "UsageError",
    "__version__",
    "analyse",
    "check_fairness",
    "load",
    "loads",
]
