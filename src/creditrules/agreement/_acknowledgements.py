"""Declared acknowledgements of analysis warnings (``analysis: {acknowledge: [...]}``).

An acknowledgement names a warning's code, the clause that makes the flagged text right
(and, optionally, the rule), and why: like a fairness exemption, it is part of the
agreement, so it counts in the content hash. Errors (gaps, ambiguity) cannot be
acknowledged: a deal would still get no single answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs

from creditrules.errors import Location, suggest

if TYPE_CHECKING:
    from creditrules.agreement._node_reader import _Reader
    from creditrules.agreement._yaml import Node
    from creditrules.analysis import Finding

__all__ = ["Acknowledgement", "read_acknowledgements"]


@attrs.frozen
class Acknowledgement:
    """A clause-cited acknowledgement silencing one kind of warning (for one rule)."""

    finding: str
    clause: str
    reason: str
    rule: str | None = None
    location: Location = attrs.field(factory=lambda: Location(""), eq=False)

    def covers(self, finding: Finding) -> bool:
        """Whether this acknowledgement silences ``finding``."""
        return (
            finding.code == self.finding
            and (self.rule is None or self.rule in finding.rules)
            and (finding.clause is None or finding.clause == self.clause)
        )

    def to_dict(self) -> dict[str, Any]:
        data = {"finding": self.finding, "clause": self.clause, "reason": self.reason}
        if self.rule is not None:
            data["rule"] = self.rule
        return data


def read_acknowledgements(
    reader: _Reader, node: Node | None, clauses: Sequence[str], rules: Sequence[str]
) -> tuple[Acknowledgement, ...]:
    """Read ``analysis: {acknowledge: [...]}`` of one file (problems go to ``reader``)."""
    from creditrules.agreement._vocabulary import FINDINGS

    m = reader.mapping(node, "analysis", Location(""))
    if m is None:
        return ()
    reader.keys(m, ("acknowledge",), "analysis")
    found = []
    for item in reader.sequence(m.get("acknowledge"), "analysis acknowledge"):
        body = reader.mapping(item, "an acknowledgement", Location(""))
        if body is None:
            continue
        reader.keys(body, ("finding", "clause", "rule", "reason"), "an acknowledgement")
        code = reader.text(reader.required(body, "finding", "an acknowledgement"), "finding")
        clause = reader.text(reader.required(body, "clause", "an acknowledgement"), "clause")
        reason = reader.text(reader.required(body, "reason", "an acknowledgement"), "reason")
        rule = reader.text(body.get("rule"), "rule")
        if code is None or clause is None or reason is None:
            continue
        ok = True
        if FINDINGS.get(code) != "warning":
            what = (
                "an error: amend the agreement instead"
                if code in FINDINGS
                else "unknown" + suggest(code, [c for c, s in FINDINGS.items() if s == "warning"])
            )
            reader.problem(
                "bad-acknowledgement", f"finding {code!r} cannot be acknowledged ({what})", body.loc
            )
            ok = False
        if clause not in clauses:
            reader.problem(
                "unknown-clause",
                f"acknowledgement cites unknown clause {clause!r}" + suggest(clause, clauses),
                body.loc,
            )
            ok = False
        if rule is not None and rule not in rules:
            reader.problem(
                "unknown-rule",
                f"acknowledgement names unknown rule {rule!r}" + suggest(rule, rules),
                body.loc,
            )
            ok = False
        if not reason.strip():
            reader.problem("missing-key", "an acknowledgement needs a reason", body.loc)
            ok = False
        if ok:
            found.append(Acknowledgement(code, clause, reason, rule, body.loc))
    return tuple(found)
