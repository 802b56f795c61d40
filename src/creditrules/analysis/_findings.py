"""What the analysis finds: :class:`Finding`, :class:`Analysis`, and :func:`reproduce`
(a witness deal run through the engine)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import attrs

from creditrules.agreement._vocabulary import FINDINGS, SEVERITIES
from creditrules.agreement.ruleset import Ruleset
from creditrules.errors import AllocationError, AmbiguityError, DealError, Location
from creditrules.errors import NoApplicableRuleError as _NoRule

__all__ = ["FINDINGS", "SEVERITIES", "Analysis", "Finding", "reproduce"]



@attrs.frozen
class Finding:
    """One finding of the analysis.

    ``code`` is stable (``gap``, ``ambiguity``, ``dead-condition``...; see the findings
    reference); ``severity`` is ``error`` (fails ``creditrules validate``), ``warning``
    (fails it under ``--strict``) or ``unknown`` (the question left the decided part of the
    language: ``reason`` says why). ``witness`` is a deal mapping that
    :meth:`Ruleset.allocate <creditrules.Ruleset.allocate>` accepts and that reproduces
    the finding (``None`` where no single deal shows it, such as a rule no deal can reach).
    """

    code: str
    severity: str
    message: str
    location: Location
    clause: str | None = None
    fix: str = ""
    witness: Mapping[str, Any] | None = attrs.field(default=None, eq=False)
    rules: tuple[str, ...] = ()
    reason: str | None = None
    # What the witness must do under allocate (see reproduce): (kind, detail...).
    expect: tuple[str, ...] = attrs.field(default=(), repr=False, eq=False)

    def __str__(self) -> str:
        clause = f" (clause {self.clause})" if self.clause else ""
        return f"{self.location}: {self.severity}: {self.message}{clause} [{self.code}]"

    def text(self) -> str:
        """The finding, its fix and its witness deal, as ``creditrules lint`` prints them."""
        lines = [str(self)]
        if self.reason:
            lines.append(f"  unknown because: {self.reason}")
        if self.fix:
            lines.append(f"  fix: {self.fix}")
        if self.witness is not None:
            deal = json.dumps(self.witness, sort_keys=True, ensure_ascii=False)
            lines.append(f"  witness: {deal}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """The finding as JSON-ready data (``creditrules lint --json``)."""
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "location": str(self.location),
            "clause": self.clause,
            "fix": self.fix,
            "rules": list(self.rules),
            "reason": self.reason,
            "witness": None if self.witness is None else dict(self.witness),
        }


@attrs.frozen
class Analysis:
    """Every finding about one ruleset (iterate it for the findings), and the warnings
    silenced by the ruleset's clause-cited acknowledgements."""

    ruleset: str
    version: str
    findings: tuple[Finding, ...]
    acknowledged: tuple[Finding, ...] = ()

    def __iter__(self) -> Iterator[Finding]:
        return iter(self.findings)

    def __len__(self) -> int:
        return len(self.findings)

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "error")

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "warning")

    @property
    def unknowns(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "unknown")

    def passes(self, *, strict: bool = False) -> bool:
        """No error (and, when ``strict``, no warning and nothing undecided either)."""
        return not self.errors and not (strict and (self.warnings or self.unknowns))

    def summary(self) -> str:
        return (
            f"{len(self.errors)} error(s), {len(self.warnings)} warning(s), "
            f"{len(self.unknowns)} unknown, {len(self.acknowledged)} acknowledged"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "ruleset": self.ruleset,
            "version": self.version,
            "findings": [f.to_dict() for f in self.findings],
            "acknowledged": [f.to_dict() for f in self.acknowledged],
        }


def reproduce(ruleset: Ruleset, finding: Finding) -> str | None:
    """Run ``finding``'s witness through ``ruleset.allocate``: ``None`` when the engine
    shows exactly what the finding says, else what happened instead."""
    if finding.witness is None:
        return None
    return _check(ruleset, finding.witness, finding.expect)


def _check(ruleset: Ruleset, deal: Mapping[str, Any], expect: tuple[str, ...]) -> str | None:
    kind = expect[0] if expect else ""
    try:
        allocation = ruleset.allocate(deal)
    except _NoRule as exc:
        if kind == "gap" and expect[1] in str(exc):
            return None
        return f"no rule: {exc.reason}"
    except AmbiguityError as exc:
        # The engine names the first disagreeing pair it meets among the prevailing rules:
        # when more than two prevail, that pair may not be ours, but the deal is as
        # ambiguous in this credit type (or policy topic) as the finding says.
        if kind == "ambiguity" and (
            set(exc.rules) == set(expect[2:]) or exc.reason.startswith(_label_prefix(expect[1]))
        ):
            return None
        return f"ambiguity between {', '.join(exc.rules)}"
    except (AllocationError, DealError) as exc:
        return str(exc)
    if kind == "verdict":
        label, rule, statuses = expect[1], expect[2], expect[3:]
        got = [v.status for v in allocation.verdicts if v.type == label and v.rule == rule]
        if got and all(s in statuses for s in got):
            return None
        return f"rule {rule} was {', '.join(got) or 'not listed'}"
    if kind == "no-decision":
        if all(p.topic != expect[1] for p in allocation.policies):
            return None
        return f"a {expect[1]} policy decision was made"
    return "allocated without the finding showing"


def _label_prefix(label: str) -> str:
    """How an AmbiguityError of a credit type (or of a ``policy:`` topic, or of expense
    sharing) begins."""
    if label == "expense:sharing":
        return "expense '"
    if label.startswith("policy:"):
        return f"{label.removeprefix('policy:')} policy:"
    return f"{label} credit:"
