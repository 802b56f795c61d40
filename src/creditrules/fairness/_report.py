"""What a fairness check reports: findings, counterexamples, per-invariant results and the
report of a whole ruleset (text, JSON-ready data, replayable counterexample files)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from fractions import Fraction
from pathlib import Path
from typing import Any

import attrs

from creditrules.agreement.ruleset import FairnessExemption
from creditrules.allocation.results import Allocation
from creditrules.base._money import percent_text

STATUSES = ("held", "violated", "waived", "not applicable")


@attrs.frozen
class Finding:
    """One way an invariant failed on one example.

    ``deals`` are labelled JSON-shaped deals (the first is the counterexample, the others
    the deals it was compared with); ``allocations`` the labelled results (an
    :class:`Allocation`, or the text of the error a deal raised); ``rules`` the
    ``(rule, clause)`` pairs that produced them. ``partners``, ``fields`` and
    ``magnitude`` (a share of the deal) say what the departure concerns, so that a declared
    exemption can be narrowed to it.
    """

    message: str
    deals: tuple[tuple[str, Mapping[str, Any]], ...] = ()
    allocations: tuple[tuple[str, Allocation | str], ...] = ()
    rules: tuple[tuple[str, str], ...] = ()
    partners: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()
    magnitude: Fraction | None = None

    @property
    def clauses(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c for _, c in self.rules))


@attrs.frozen
class Counterexample:
    """A violation as reported: the shrunk counterexample deal, the deals it was compared
    with, the allocations (``to_dict`` form, or ``{"error": ...}``) and the rules and clauses
    that produced them."""

    message: str
    deal: Mapping[str, Any]
    related: tuple[tuple[str, Mapping[str, Any]], ...]
    allocations: tuple[tuple[str, Mapping[str, Any]], ...]
    rules: tuple[tuple[str, str], ...]
    replay: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "message": self.message,
            "deal": dict(self.deal),
            "related": {label: dict(deal) for label, deal in self.related},
            "allocations": {label: dict(a) for label, a in self.allocations},
            "rules": [{"rule": r, "clause": c} for r, c in self.rules],
            "replay": self.replay,
        }


@attrs.frozen
class Waived:
    """A finding a declared exemption waives: the exemption and the counterexample."""

    exemption: FairnessExemption
    counterexample: Counterexample

    def to_dict(self) -> dict[str, Any]:
        return {"exemption": self.exemption.to_dict(),
                "counterexample": self.counterexample.to_dict()}


@attrs.frozen
class InvariantResult:
    """The outcome of one invariant on one ruleset.

    ``status`` is ``held``, ``violated``, ``waived`` (violated, but the departure is
    covered by a declared ``exemption``) or ``not applicable`` (``reason`` says why; a
    symmetry counterexample of an asymmetric ruleset is attached as information).
    ``tried`` is the number of generated deals tried before the first failure (or in all);
    ``undecided`` how many of them the agreement did not decide (see ``coverage``).
    ``findings`` lists every distinct violation found (the first, ``counterexample``, is
    shrunk), ``waived`` every distinct finding an exemption waives, with that exemption.
    """

    name: str
    title: str
    hard: bool
    status: str
    tried: int
    counterexample: Counterexample | None = None
    exemption: FairnessExemption | None = None
    reason: str = ""
    info: tuple[str, ...] = ()
    undecided: int = 0
    findings: tuple[Counterexample, ...] = ()
    waived: tuple[Waived, ...] = ()
    seconds: float = attrs.field(default=0.0, eq=False)

    @property
    def failed(self) -> bool:
        """Violated and not waived: what makes ``creditrules check`` exit with status 1."""
        return self.status == "violated"

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"invariant": self.name, "title": self.title,
                                "hard": self.hard, "status": self.status,
                                "tried": self.tried, "undecided": self.undecided}
        if self.reason:
            data["reason"] = self.reason
        if self.info:
            data["info"] = list(self.info)
        if self.exemption is not None:
            data["exemption"] = self.exemption.to_dict()
        if self.counterexample is not None:
            data["counterexample"] = self.counterexample.to_dict()
        if self.findings:
            data["findings"] = [c.to_dict() for c in self.findings]
        if self.waived:
            data["waived"] = [w.to_dict() for w in self.waived]
        return data


@attrs.frozen
class FairnessReport:
    """Every invariant's result for one ruleset, and how to run the check again."""

    ruleset: str
    version: str
    hash: str
    source: str
    seed: int
    max_examples: int
    derandomize: bool
    results: tuple[InvariantResult, ...]
    # Rules (rule, clause) whose condition no generated deal met: a blind spot to look at.
    unreached: tuple[tuple[str, str], ...] = ()
    # Exemptions of the invariants checked that waived nothing in this run.
    stale: tuple[FairnessExemption, ...] = ()
    seconds: float = attrs.field(default=0.0, eq=False)

    def waivers(self) -> list[tuple[FairnessExemption, list[Waived]]]:
        """Every waived finding, grouped by the exemption that waives it (in the order the
        ruleset declares them)."""
        groups: dict[FairnessExemption, list[Waived]] = {}
        for r in self.results:
            for w in r.waived:
                groups.setdefault(w.exemption, []).append(w)
        return list(groups.items())

    @property
    def ok(self) -> bool:
        """No invariant violated (waived ones do not count)."""
        return not any(r.failed for r in self.results)

    def result(self, name: str) -> InvariantResult:
        """The result of the invariant called ``name``."""
        for r in self.results:
            if r.name == name:
                return r
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; without timings, so the same run gives the same data."""
        return {
            "ruleset": {"id": self.ruleset, "version": self.version, "hash": self.hash,
                        "source": self.source},
            "seed": self.seed, "max_examples": self.max_examples,
            "derandomize": self.derandomize, "ok": self.ok,
            "invariants": [r.to_dict() for r in self.results],
            "unreached": [{"rule": r, "clause": c} for r, c in self.unreached],
            "stale": [e.to_dict() for e in self.stale],
        }

    def save(self, directory: str | os.PathLike[str]) -> list[Path]:
        """Write each counterexample deal to ``directory/<invariant>.json`` (replayable with
        ``creditrules explain RULESET FILE``); returns the files written."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for r in self.results:
            if r.counterexample is not None:
                target = out / f"{r.name}.json"
                target.write_text(json.dumps(dict(r.counterexample.deal), indent=2,
                                             ensure_ascii=False) + "\n", encoding="utf-8")
                written.append(target)
        return written

    def text(self, *, verbose: bool = False) -> str:
        """A readable report: one line per invariant, then each counterexample."""
        head = (f"creditrules check: {self.ruleset} {self.version} ({self.hash})\n"
                f"  {len(self.results)} invariants, up to {self.max_examples} deals each, "
                f"seed {self.seed}{' (derandomized)' if self.derandomize else ''}; "
                f"repeat with --seed {self.seed}\n")
        width = max((len(r.name) for r in self.results), default=10)
        lines = [head]
        for r in self.results:
            status = r.status.upper() if r.failed else r.status
            kind = "hard" if r.hard else "soft"
            tail = f"{r.tried} deals tried"
            if r.undecided:
                tail += f" ({r.undecided} undecided)"
            if r.reason:
                tail += f"; {r.reason}"
            lines.append(f"  {status:<15} {r.name:<{width}}  {kind}  {tail}\n")
        for r in self.results:
            if r.counterexample is None or (r.status == "held" and not verbose) \
                    or r.status == "waived":
                continue
            lines.append("\n")
            lines.append(_describe_result(r))
            for cx in r.findings[1:]:
                lines.append(_describe(cx, f"{r.name} (VIOLATED, another)"))
        # What a result without a counterexample has to say (the tie-break counts, which
        # partners symmetry exchanged and how).
        for r in self.results:
            if r.info and r.counterexample is None:
                lines.append(f"\n{r.name}:\n" + "".join(f"  {line}\n" for line in r.info))
        for exemption, found in self.waivers():
            lines.append("\n")
            lines.append(_describe_exemption(exemption, len(found)))
            for w in found:
                lines.append(_describe(w.counterexample, "  waived", indent="    "))
        if self.stale:
            lines.append("\nstale exemptions (they waived nothing in this run):\n")
            for e in self.stale:
                lines.append(f"  {e.invariant}, clause {e.clause} (rules "
                             f"{', '.join(e.rules)}): {e.reason}\n")
        if self.unreached:
            lines.append("\nno generated deal reached these rules (their invariants are "
                         "untested there): " + ", ".join(f"{r} (clause {c})"
                                                          for r, c in self.unreached) + "\n")
        failed = [r.name for r in self.results if r.failed]
        lines.append("\n")
        if failed:
            lines.append(f"VIOLATED: {', '.join(failed)}\n")
        else:
            lines.append("ok: no invariant violated\n")
        return "".join(lines)


def _describe_result(r: InvariantResult) -> str:
    cx = r.counterexample
    assert cx is not None
    label = {"violated": "VIOLATED", "waived": "waived", "not applicable": "information",
             "held": "held"}[r.status]
    info = "".join(f"  {line}\n" for line in r.info)
    return _describe(cx, f"{r.name} ({label})", extra=info)


def _describe(cx: Counterexample, head: str, *, indent: str = "  ", extra: str = "") -> str:
    out = [f"{head}: {cx.message}\n", extra]
    if cx.rules:
        out.append(f"{indent}rules: " + ", ".join(f"{rid} (clause {c})" for rid, c in cx.rules)
                   + "\n")
    out.append(f"{indent}deal: {_dumps(cx.deal)}\n")
    for label_, deal in cx.related:
        out.append(f"{indent}{label_}: {_dumps(deal)}\n")
    out.append(f"{indent}replay: {cx.replay}\n")
    return "".join(out)


def _describe_exemption(e: FairnessExemption, n: int) -> str:
    where = f", on deals where {e.when_text}" if e.when_text else ""
    return (f"{e.invariant} waived ({n} finding{'s' if n != 1 else ''}) by the exemption for "
            f"clause {e.clause}, rules {', '.join(e.rules)}: {e.reason}\n"
            f"  bound: concerning {', '.join(e.partners)} only, by at most "
            f"{percent_text(e.at_most)}{where}\n")


def _dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(", ", ": "))
