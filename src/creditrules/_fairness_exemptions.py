"""Declared fairness exemptions: reading them from a ruleset file, and finding the one that
waives a finding."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from creditrules._fairness_report import Finding
from creditrules._invariant import HARD_INVARIANTS, SOFT_INVARIANTS
from creditrules.errors import Location
from creditrules.ruleset import FairnessExemption

if TYPE_CHECKING:
    from creditrules._node_reader import _Reader
    from creditrules._yaml import Node


def read_exemptions(reader: _Reader, node: Node | None, clauses: Sequence[str],
                    partners: Sequence[str]) -> tuple[FairnessExemption, ...]:
    """Read ``fairness: {exemptions: [...]}`` of a ruleset file (problems go to ``reader``).

    Each exemption names a soft invariant, the clause permitting the departure (one of the
    ruleset's clauses) and a reason; optionally a partner, a field and a bound (a share).
    """
    from creditrules.errors import suggest

    m = reader.mapping(node, "fairness", Location(""))
    if m is None:
        return ()
    reader.keys(m, ("exemptions",), "fairness")
    found: list[FairnessExemption] = []
    for item in reader.sequence(m.get("exemptions"), "fairness exemptions"):
        body = reader.mapping(item, "a fairness exemption", Location(""))
        if body is None:
            continue
        reader.keys(body, ("invariant", "clause", "reason", "partner", "field", "bound"),
                    "a fairness exemption")
        name = reader.text(reader.required(body, "invariant", "a fairness exemption"),
                           "invariant")
        clause = reader.text(reader.required(body, "clause", "a fairness exemption"), "clause")
        reason = reader.text(reader.required(body, "reason", "a fairness exemption"), "reason")
        partner = reader.text(body.get("partner"), "partner")
        field = reader.text(body.get("field"), "field")
        bound = reader.share(body.get("bound"), "bound") if body.get("bound") is not None \
            else None
        ok = True
        if reason is not None and not reason.strip():
            reader.problem("missing-key", "a fairness exemption needs a reason: say why the "
                           "clause permits it", body.loc)
            ok = False
        if name is not None and name in HARD_INVARIANTS:
            reader.problem("hard-invariant", f"{name} is a hard invariant: no clause can "
                           "waive it", body.loc)
            ok = False
        elif name is not None and name not in SOFT_INVARIANTS:
            reader.problem("unknown-invariant", f"unknown invariant {name!r}"
                           + suggest(name, SOFT_INVARIANTS), body.loc)
            ok = False
        if clause is not None and clause not in clauses:
            reader.problem("unknown-clause", f"no rule cites clause {clause!r}"
                           + suggest(clause, clauses), body.loc)
            ok = False
        if partner is not None and partner not in partners:
            reader.problem("unknown-partner", f"unknown partner {partner!r}"
                           + suggest(partner, partners), body.loc)
            ok = False
        if ok and name is not None and clause is not None and reason:
            found.append(FairnessExemption(name, clause, " ".join(reason.split()), partner,
                                           field, bound, body.loc))
    return tuple(found)


def waiver(exemptions: Sequence[FairnessExemption], invariant: str, finding: Finding
           ) -> FairnessExemption | None:
    """The first exemption covering ``finding``: same invariant, a clause among those that
    produced it, and (when given) its partner among the finding's partners, its field among
    the finding's fields and the finding's magnitude within its bound."""
    for e in exemptions:
        if e.invariant != invariant or e.clause not in finding.clauses:
            continue
        if e.partner is not None and e.partner not in finding.partners:
            continue
        if e.field is not None and e.field not in finding.fields:
            continue
        if e.bound is not None and (finding.magnitude is None or finding.magnitude > e.bound):
            continue
        return e
    return None
