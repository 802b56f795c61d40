"""Which declared exemption (if any) waives a fairness finding; the exemptions themselves
are read with the agreement (:mod:`creditrules.agreement._fairness_reading`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from creditrules.agreement.ruleset import FairnessExemption
from creditrules.fairness._report import Finding

if TYPE_CHECKING:
    from creditrules.agreement.ruleset import Ruleset

__all__ = ["waiver"]


def waiver(exemptions: Sequence[FairnessExemption], invariant: str, finding: Finding,
           ruleset: Ruleset | None = None) -> FairnessExemption | None:
    """The first exemption covering ``finding``: same invariant, every rule that produced
    it among the exemption's rules, within the bound (every partner it concerns named, its
    magnitude at most ``at_most``, its deal one ``when`` holds for) and, when given, its
    field among the finding's fields."""
    for e in exemptions:
        if e.invariant != invariant or not finding.rules:
            continue
        if not {r for r, _ in finding.rules} <= set(e.rules):
            continue
        if not finding.partners or not set(finding.partners) <= set(e.partners):
            continue
        if finding.magnitude is None or finding.magnitude > e.at_most:
            continue
        if e.field is not None and e.field not in finding.fields:
            continue
        if e.when is not None and not _holds(e, finding, ruleset):
            continue
        return e
    return None


def _holds(e: FairnessExemption, finding: Finding, ruleset: Ruleset | None) -> bool:
    from creditrules.allocation._evaluate import deal_facts
    from creditrules.allocation.model import Deal
    from creditrules.conditions._conditions import evaluate

    if not finding.deals or ruleset is None or e.when is None:
        return False
    try:
        deal = Deal.from_mapping(finding.deals[0][1])
        facts = deal_facts(deal, {a.name: a.type for a in ruleset.attributes})
        return bool(evaluate(e.when, facts))
    except Exception:  # a deal the condition cannot read is outside the bound
        return False
