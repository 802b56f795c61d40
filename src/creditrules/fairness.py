"""Fairness checks: a catalogue of invariants, checked over deals generated from the ruleset.

"Is our payout equivalent for equivalent results?" :func:`check_fairness` answers it for any
ruleset, mechanically. Each :class:`Invariant` is run with hypothesis over deals derived from
the ruleset itself (:mod:`creditrules.strategies`), and reported as held, violated, waived or
not applicable, with the number of deals tried. A violation carries the *shrunk*
counterexample: the smallest deal found, in the JSON shape :meth:`Ruleset.allocate` reads
(replayable with ``creditrules explain``), the allocations that break the invariant and the
rules and clauses that produced them.

Two layers. The fairness axioms (symmetry, equal treatment, null player, monotonicity,
scale) are checked exactly, on the unrounded shares; the rounding layer has its own bounded
invariants (conservation, one-unit bound, determinism). Rounded cents cannot be exactly
monotone (Balinski-Young), so no invariant asks them to be.

Hard invariants (:data:`HARD_INVARIANTS`) cannot be waived. Soft ones
(:data:`SOFT_INVARIANTS`) may be waived by a declared exemption in the ruleset, with the
clause that permits the departure and the reason; a waived invariant is still run and its
counterexample still shown, marked waived. ``docs/explanation/fairness.md`` defines each
invariant precisely.

hypothesis is imported only when a check runs, so ``import creditrules`` stays light.
"""

from __future__ import annotations

import contextlib
import decimal
import hashlib
import json
import os
import random
import shlex
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from creditrules._money import fraction_text, from_units, percent_text
from creditrules.allocation import Allocation, ExpenseShare, Limit, PolicyDecision, TypeCredit
from creditrules.errors import AllocationError, DealError, Location
from creditrules.ruleset import (
    ByContribution,
    Contribution,
    CreditRule,
    FairnessExemption,
    Overlay,
    Ruleset,
    Split,
)

if TYPE_CHECKING:
    from hypothesis import settings as Settings
    from hypothesis.strategies import SearchStrategy

    from creditrules._ast import Expr
    from creditrules._schema import _Reader
    from creditrules._yaml import Node
    from creditrules.strategies import NullParty, OneMore, Twins

__all__ = [
    "FAST_EXAMPLES",
    "HARD_INVARIANTS",
    "INVARIANTS",
    "SOFT_INVARIANTS",
    "THOROUGH_EXAMPLES",
    "CheckSettings",
    "Counterexample",
    "FairnessReport",
    "Finding",
    "Invariant",
    "InvariantResult",
    "check_fairness",
    "check_settings",
    "invariant",
]

HARD_INVARIANTS = ("coverage", "conservation", "declared-totals", "rounding-bound",
                   "determinism", "idempotence", "refund-mirrors-sale", "caps-respected",
                   "forbidden-kinds", "policy-precedence")
SOFT_INVARIANTS = ("non-negativity", "null-player", "equal-treatment", "monotonicity",
                   "scale", "symmetry")
STATUSES = ("held", "violated", "waived", "not applicable")

FAST_EXAMPLES = 50
THOROUGH_EXAMPLES = 1000

# Partner-valued fields: a literal compared with one names a partner (relabelled when
# partners are exchanged). Collection item fields are keyed with their collection.
_PARTNER_FIELDS = frozenset({("account", "owner"), ("lead", "source"), ("activities", "partner"),
                             ("reps", "partner"), ("expense", "paid_by")})


# =========================================================================================
# Findings and reports


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
class InvariantResult:
    """The outcome of one invariant on one ruleset.

    ``status`` is ``held``, ``violated``, ``waived`` (violated, but the departure is
    covered by a declared ``exemption``) or ``not applicable`` (``reason`` says why; a
    symmetry counterexample of an asymmetric ruleset is attached as information).
    ``tried`` is the number of generated deals tried before the first failure (or in all);
    ``undecided`` how many of them the agreement did not decide (see ``coverage``).
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
    seconds: float = attrs.field(default=0.0, eq=False)

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
            if r.counterexample is None or (r.status == "held" and not verbose):
                continue
            lines.append("\n")
            lines.append(_describe_result(r))
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
    out = [f"{r.name} ({label}): {cx.message}\n"]
    if r.exemption is not None:
        e = r.exemption
        out.append(f"  waived by the exemption for clause {e.clause}: {e.reason}\n")
    for line in r.info:
        out.append(f"  {line}\n")
    if cx.rules:
        out.append("  rules: " + ", ".join(f"{rid} (clause {c})" for rid, c in cx.rules)
                   + "\n")
    out.append(f"  deal: {_dumps(cx.deal)}\n")
    for label_, deal in cx.related:
        out.append(f"  {label_}: {_dumps(deal)}\n")
    out.append(f"  replay: {cx.replay}\n")
    return "".join(out)


def _dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(", ", ": "))


def _canonical(allocation: Allocation) -> str:
    return json.dumps(allocation.to_dict(), ensure_ascii=False, separators=(",", ":"))


# =========================================================================================
# Exemptions


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


# =========================================================================================
# The ruleset under check


class Subject:
    """A ruleset under check, with what the invariants need about it."""

    def __init__(self, ruleset: Ruleset, path: Path | None = None) -> None:
        self.ruleset = ruleset
        self.path = path
        self.partners = ruleset.partner_ids
        self.unit = ruleset.unit
        self._variants: list[tuple[str, Ruleset]] | None = None
        self._spaces: Any = None

    @property
    def replay_path(self) -> str:
        return str(self.path) if self.path is not None else self.ruleset.source

    def allocate(self, deal: Mapping[str, Any], ruleset: Ruleset | None = None) -> Allocation:
        return (ruleset or self.ruleset).allocate(deal, explain=False)

    def rule(self, rule_id: str, type_name: str, day: Any) -> CreditRule | None:
        """The credit rule of that id and type in force on ``day``."""
        for rule in self.ruleset.rules:
            if rule.id == rule_id and rule.type == type_name and rule.effective.contains(day):
                return rule
        return None

    def clause(self, rule_id: str) -> str:
        for group in (self.ruleset.rules, self.ruleset.policy_rules, self.ruleset.expense_rules):
            for rule in group:
                if rule.id == rule_id:
                    return rule.clause
        return "?"

    def credit_rules(self, *allocations: Allocation | str | None,
                     types: Sequence[str] | None = None) -> tuple[tuple[str, str], ...]:
        """The (rule, clause) pairs that decided the allocations' credit (of ``types``)."""
        out: dict[tuple[str, str], None] = {}
        for a in allocations:
            if not isinstance(a, Allocation):
                continue
            for credit in a.credits:
                if types is None or credit.type in types:
                    out.update(dict.fromkeys(zip(credit.rules, credit.clauses, strict=True)))
        return tuple(out)

    def variants(self) -> list[tuple[str, Ruleset]]:
        """The same agreement loaded differently: rules and mapping keys of its file(s)
        reordered (twice), and with the other matching engine."""
        key = (str(self.path), self.ruleset.content_hash, self.ruleset.engine)
        if self._variants is None and key in _VARIANTS:
            self._variants = _VARIANTS[key]
        if self._variants is None:
            self._variants = _VARIANTS[key] = []
            path = self.path or _reloadable(self.ruleset)
            if path is not None:
                for n in (1, 2):
                    rnd = random.Random(n)  # noqa: S311 - a reproducible shuffle, not a secret
                    self._variants.append((f"rules and keys of the file reordered ({n})",
                                           _permuted(path, rnd, self.ruleset.engine)))
            if self.ruleset.engine != "reference" and path is not None:
                from creditrules.ruleset import load

                self._variants.append(("reference engine", load(path, engine="reference")))
        return self._variants


# Loading the reordered files is the slow part of determinism: once per agreement.
_VARIANTS: dict[tuple[str, str, str], list[tuple[str, Ruleset]]] = {}


def _reloadable(ruleset: Ruleset) -> Path | None:
    """The ruleset's own file, when reloading it gives the same agreement (an amendment's
    source is its base file: the amendment itself cannot be found from it)."""
    from creditrules.ruleset import load

    path = Path(ruleset.source)
    if not path.is_file():
        return None
    try:
        again = load(path, engine="reference")
    except Exception:
        return None
    return path if again.content_hash == ruleset.content_hash else None


# Orders that mean something: precedence lists, the tie-break priority, and the credit
# types (declared order is the order of credits in results).
def _keep_order(path: tuple[str, ...]) -> bool:
    return (len(path) == 2 and path[0] == "precedence") or path in (
        ("rounding", "tie_break"), ("credit_types",))


def _permuted(path: Path, rnd: random.Random, engine: str) -> Ruleset:
    """Load ``path`` after rewriting it (and its base, for an amendment) with every mapping's
    keys and every unordered list shuffled."""
    from creditrules._yaml import MapNode, compose
    from creditrules.ruleset import load

    with tempfile.TemporaryDirectory(prefix="creditrules-order-") as name:
        tmp = Path(name)
        current: Path | None = path
        first: Path | None = None
        while current is not None:
            root = compose(current.read_text(encoding="utf-8"), str(current))
            target = tmp / current.name
            target.write_text("".join(_emit(root, 0, rnd, ())), encoding="utf-8")
            first = first or target
            base = root.get("amends") if isinstance(root, MapNode) else None
            current = (current.parent / base.text
                       if base is not None and hasattr(base, "text") else None)
        assert first is not None
        return load(first, engine=engine)


def _scalar(node: Any) -> str:
    if node.quoted:
        return json.dumps(node.text, ensure_ascii=False)
    return node.text if node.text else "~"


def _emit(node: Any, indent: int, rnd: random.Random, path: tuple[str, ...]) -> Iterator[str]:
    """Block-style YAML for a composed node, shuffling keys and unordered lists."""
    from creditrules._yaml import MapNode, SeqNode

    pad = " " * indent
    if isinstance(node, MapNode):
        items = list(node.items)
        if not _keep_order(path):
            rnd.shuffle(items)
        for key, value in items:
            name = _scalar(key)
            yield from _emit_entry(f"{pad}{name}:", value, indent, rnd, (*path, key.text))
    elif isinstance(node, SeqNode):
        elements = list(node.items)
        if not _keep_order(path):
            rnd.shuffle(elements)
        for item in elements:
            yield from _emit_entry(f"{pad}-", item, indent, rnd, path)
    else:
        yield f"{pad}{_scalar(node)}\n"


def _emit_entry(head: str, value: Any, indent: int, rnd: random.Random,
                path: tuple[str, ...]) -> Iterator[str]:
    from creditrules._yaml import MapNode, SeqNode

    if isinstance(value, MapNode):
        if not value.items:
            yield f"{head} {{}}\n"
        else:
            yield f"{head}\n"
            yield from _emit(value, indent + 2, rnd, path)
    elif isinstance(value, SeqNode):
        if not value.items:
            yield f"{head} []\n"
        else:
            yield f"{head}\n"
            yield from _emit(value, indent + 2, rnd, path)
    else:
        yield f"{head} {_scalar(value)}\n"


# =========================================================================================
# Helpers on allocations


def _pct(share: Fraction) -> str:
    return percent_text(share)


def _shares(a: Allocation) -> dict[str, dict[str, Fraction]]:
    return {c.type: {p.partner: p.share for p in c.partners} for c in a.credits}


def _rep_shares(a: Allocation) -> dict[str, dict[str, Fraction]]:
    return {c.type: {r.rep: r.share for p in c.partners for r in p.reps} for c in a.credits}


def _share(a: Allocation, type_name: str, partner: str) -> Fraction:
    credit = a.credit(type_name)
    return Fraction(0) if credit is None else credit.share(partner)


def _rep_share(a: Allocation, type_name: str, rep: str) -> Fraction:
    return _rep_shares(a).get(type_name, {}).get(rep, Fraction(0))


def _units(value: Decimal, unit: Decimal) -> Fraction:
    return Fraction(value) / Fraction(unit)


def _deciding(subject: Subject, credit: TypeCredit, day: Any) -> list[CreditRule]:
    found = [subject.rule(rid, credit.type, day) for rid in credit.rules]
    return [r for r in found if r is not None]


def _points(contribution: Contribution | None, deal: Mapping[str, Any]
            ) -> tuple[dict[str, Fraction], dict[str, Fraction]]:
    """Contribution points per partner (normalised) and per rep (not normalised), as the
    library counts them; without declared weights, each activity counts one."""
    from creditrules._outcomes import participations
    from creditrules.model import Deal

    parsed = Deal.from_mapping(deal)
    partners: dict[str, Fraction] = {}
    reps: dict[str, Fraction] = {}
    for act in participations(parsed):
        weight = (Fraction(1) if contribution is None
                  else contribution.weights.get(act.kind, Fraction(0)))
        if not weight:
            continue
        for p in act.partners:
            factor = Fraction(1) if contribution is None else contribution.factor(p)
            partners[p] = partners.get(p, Fraction(0)) + weight * factor
        for r in act.reps:
            reps[r] = reps.get(r, Fraction(0)) + weight
    return partners, reps


# =========================================================================================
# The invariants


class Invariant:
    """A named fairness invariant: its definition is the class docstring.

    :meth:`examples` gives the hypothesis strategy of examples for a ruleset, :meth:`check`
    returns a :class:`Finding` for an example that breaks the invariant (``None`` when it
    holds) and may raise :class:`~creditrules.errors.AllocationError` for a deal the
    agreement does not decide (counted, and reported by ``coverage``).
    """

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    hard: ClassVar[bool] = True

    def applies(self, subject: Subject) -> str | None:
        """Why the invariant does not apply to the ruleset (``None``: it does)."""
        return None

    def information(self, subject: Subject) -> tuple[str, ...]:
        """Facts about the ruleset that make a counterexample information, not a failure."""
        return ()

    def examples(self, subject: Subject) -> SearchStrategy[Any]:
        from creditrules.strategies import deals

        return deals(subject.ruleset)

    def deals_of(self, example: Any) -> tuple[tuple[str, Mapping[str, Any]], ...]:
        """The labelled deals of an example (the first one is the counterexample)."""
        return (("deal", example),)

    def check(self, subject: Subject, example: Any) -> Finding | None:
        raise NotImplementedError

    @property
    def summary(self) -> str:
        """The first line of the definition."""
        return (self.__doc__ or "").strip().splitlines()[0]


class AllocationInvariant(Invariant):
    """An invariant of each allocation on its own (checkable on hand-built allocations)."""

    def check(self, subject: Subject, example: Any) -> Finding | None:
        allocation = subject.allocate(example)
        found = self.violations(allocation, subject.ruleset, example)
        if not found:
            return None
        rules = found[0].rules or subject.credit_rules(allocation)
        return attrs.evolve(found[0], deals=(("deal", example),),
                            allocations=(("allocation", allocation),), rules=rules)

    def violations(self, allocation: Allocation, ruleset: Ruleset,
                   deal: Mapping[str, Any] | None = None) -> list[Finding]:
        """Every way ``allocation`` (of ``deal`` under ``ruleset``) breaks the invariant."""
        raise NotImplementedError


def _rules_of(credit: TypeCredit) -> tuple[tuple[str, str], ...]:
    return tuple(zip(credit.rules, credit.clauses, strict=True))


class Coverage(Invariant):
    """Every deal is decided: no two applicable rules disagree without precedence between
    them (``AmbiguityError``) and some rule of every required credit type, policy topic and
    expense applies (``NoApplicableRuleError``); a deal the agreement leaves undecided is
    reported with the rules involved."""

    name = "coverage"
    title = "coverage: every deal is decided"

    def check(self, subject: Subject, example: Any) -> Finding | None:
        try:
            subject.allocate(example)
        except AllocationError as exc:
            return _undecided(subject, example, exc)
        return None


def _undecided(subject: Subject, deal: Mapping[str, Any], exc: AllocationError) -> Finding:
    rules: tuple[str, ...] = tuple(getattr(exc, "rules", ()))
    pairs = tuple((r, subject.clause(r)) for r in rules)
    if not pairs:
        # No rule named: list the rules the error text mentions, else the credit rules
        # whose conditions were false for the deal.
        mentioned = [r for r in _all_rule_ids(subject.ruleset) if f"rule {r} " in str(exc)
                     or f"rules {r} " in str(exc)]
        pairs = tuple((r, subject.clause(r)) for r in mentioned)
    return Finding(f"the agreement does not decide this deal: {exc.reason}",
                   deals=(("deal", deal),), allocations=(("deal", str(exc)),), rules=pairs,
                   fields=(exc.code,))


def _all_rule_ids(ruleset: Ruleset) -> list[str]:
    ids = [r.id for r in ruleset.rules] + [r.id for r in ruleset.policy_rules] \
        + [r.id for r in ruleset.expense_rules]
    return list(dict.fromkeys(ids))


class Conservation(AllocationInvariant):
    """Split credit sums to exactly its total (100%, or a declared overlay total) and the
    money to that total of the deal amount, rounded once to the currency unit; each
    partner's reps add up to the partner, share and money; each expense's covered amount
    plus its excess equal its amount to the cent, and its parts add up to the covered
    amount."""

    name = "conservation"
    title = "conservation: shares and money add up"

    def violations(self, allocation: Allocation, ruleset: Ruleset,
                   deal: Mapping[str, Any] | None = None) -> list[Finding]:
        out = []
        unit = ruleset.unit
        deal_units = _units(allocation.amount, unit)
        for credit in allocation.credits:
            rules = _rules_of(credit)
            total = sum((p.share for p in credit.partners), Fraction(0))
            if total != credit.total:
                out.append(Finding(f"{credit.type} shares add up to {_pct(total)}, not the "
                                   f"{_pct(credit.total)} total", rules=rules,
                                   fields=(credit.type,)))
            money = sum((p.amount for p in credit.partners), Decimal(0))
            if money != credit.amount:
                out.append(Finding(f"{credit.type} amounts add up to {money}, not the "
                                   f"{credit.amount} credited", rules=rules,
                                   fields=(credit.type,)))
            target = from_units(round(credit.total * deal_units), unit)
            if credit.amount != target:
                out.append(Finding(f"{credit.type} credit is {credit.amount}, not "
                                   f"{_pct(credit.total)} of {allocation.amount} ({target})",
                                   rules=rules, fields=(credit.type,)))
            for p in credit.partners:
                if not p.reps:
                    continue
                rep_total = sum((r.share for r in p.reps), Fraction(0))
                rep_money = sum((r.amount for r in p.reps), Decimal(0))
                if rep_total != p.share or rep_money != p.amount:
                    out.append(Finding(
                        f"{p.partner}'s reps get {_pct(rep_total)} = {rep_money} of its "
                        f"{credit.type} credit of {_pct(p.share)} = {p.amount}", rules=rules,
                        partners=(p.partner,), fields=(credit.type, "reps")))
        for e in allocation.expenses:
            if e.covered + e.excess != e.amount:
                out.append(Finding(f"expense {e.expense}: covered {e.covered} + excess "
                                   f"{e.excess} is not its amount {e.amount}",
                                   rules=((e.rule, e.clause),), fields=("expenses",)))
            parts = sum((p.amount for p in e.parts), Decimal(0))
            if e.parts and parts != e.covered:
                out.append(Finding(f"expense {e.expense}: parts add up to {parts}, not the "
                                   f"covered {e.covered}", rules=((e.rule, e.clause),),
                                   fields=("expenses",)))
        return out


class DeclaredTotals(AllocationInvariant):
    """Each credit type totals what it declares: a fixed type exactly its total (100%),
    never marked declared; an overlay type exactly the total its deciding rule declares;
    and only a declared overlay may exceed 100%."""

    name = "declared-totals"
    title = "declared totals: overlays total what the rule declares"

    def violations(self, allocation: Allocation, ruleset: Ruleset,
                   deal: Mapping[str, Any] | None = None) -> list[Finding]:
        out = []
        for credit in allocation.credits:
            rules = _rules_of(credit)
            try:
                ctype = ruleset.credit_type(credit.type)
            except KeyError:
                out.append(Finding(f"credit type {credit.type!r} is not declared",
                                   rules=rules, fields=(credit.type,)))
                continue
            if ctype.total is not None:
                if credit.declared or credit.total != ctype.total:
                    out.append(Finding(
                        f"{credit.type} credit totals {_pct(credit.total)}"
                        f"{' (marked declared)' if credit.declared else ''}; its type fixes "
                        f"{_pct(ctype.total)}", rules=rules, fields=(credit.type,)))
                continue
            declared: set[Fraction] = set()
            for rid in credit.rules:
                for rule in ruleset.rules:
                    if rule.id == rid and rule.type == credit.type \
                            and rule.effective.contains(allocation.date):
                        declared.add(_declared_total(rule))
            if not credit.declared or (declared and credit.total not in declared):
                want = ", ".join(_pct(t) for t in sorted(declared)) or "a declared total"
                out.append(Finding(f"{credit.type} credit totals {_pct(credit.total)}; its "
                                   f"rule declares {want}", rules=rules,
                                   fields=(credit.type,)))
        return out


def _declared_total(rule: CreditRule) -> Fraction:
    outcome = rule.outcome
    if isinstance(outcome, Overlay | Split):
        return sum(outcome.shares.values(), Fraction(0))
    return outcome.total


class RoundingBound(AllocationInvariant):
    """Every rounded amount is strictly within one currency unit of its exact share: each
    partner's and each rep's amount of ``share x deal amount``, each expense part of
    ``share x covered amount``."""

    name = "rounding-bound"
    title = "rounding bound: every amount within one unit of its exact share"

    def violations(self, allocation: Allocation, ruleset: Ruleset,
                   deal: Mapping[str, Any] | None = None) -> list[Finding]:
        out = []
        unit = Fraction(ruleset.unit)
        amount = Fraction(allocation.amount)
        for credit in allocation.credits:
            for p in credit.partners:
                lines = [(p.partner, p.share, p.amount)] + [(r.rep, r.share, r.amount)
                                                           for r in p.reps]
                for who, share, got in lines:
                    exact = share * amount
                    if abs(Fraction(got) - exact) >= unit:
                        out.append(Finding(
                            f"{who}'s {credit.type} amount {got} is a unit or more from its "
                            f"exact share {_pct(share)} x {allocation.amount} = "
                            f"{fraction_text(exact)}", rules=_rules_of(credit),
                            partners=(p.partner,), fields=(credit.type,),
                            magnitude=abs(Fraction(got) - exact) / (amount or 1)))
        for e in allocation.expenses:
            for part in e.parts:
                exact = part.share * Fraction(e.covered)
                if abs(Fraction(part.amount) - exact) >= unit:
                    out.append(Finding(f"expense {e.expense}: {part.partner}'s part "
                                       f"{part.amount} is a unit or more from "
                                       f"{_pct(part.share)} of {e.covered}",
                                       rules=((e.rule, e.clause),), partners=(part.partner,),
                                       fields=("expenses",)))
        return out


class NonNegativity(AllocationInvariant):
    """No share is negative, and every amount has the sign of the deal: nothing negative
    on a sale (or a zero deal), nothing positive on a credit note (a negative deal, which
    reverses credit in the same shares). Expense parts, covered amounts and excesses are
    never negative."""

    name = "non-negativity"
    title = "non-negativity: no one is charged on a sale"
    hard = False

    def violations(self, allocation: Allocation, ruleset: Ruleset,
                   deal: Mapping[str, Any] | None = None) -> list[Finding]:
        out = []
        refund = allocation.amount < 0
        for credit in allocation.credits:
            for p in credit.partners:
                for who, share, got, level in [(p.partner, p.share, p.amount, "partners")] + [
                        (r.rep, r.share, r.amount, "reps") for r in p.reps]:
                    wrong_sign = got > 0 if refund else got < 0
                    if share < 0 or wrong_sign:
                        out.append(Finding(
                            f"{who} gets {_pct(share)} = {got} of {credit.type} credit on a "
                            f"{'credit note' if refund else 'sale'} of {allocation.amount}",
                            rules=_rules_of(credit), partners=(p.partner,),
                            fields=(credit.type, level), magnitude=abs(share)))
        for e in allocation.expenses:
            for name, value in (("covered", e.covered), ("excess", e.excess),
                                *((f"{p.partner}'s part", p.amount) for p in e.parts)):
                if value < 0:
                    out.append(Finding(f"expense {e.expense}: {name} is negative ({value})",
                                       rules=((e.rule, e.clause),), fields=("expenses",)))
        return out


class Determinism(Invariant):
    """The allocation is a function of the deal and the agreement alone: shuffling the
    deal's activities, reps, expenses and attendees and the key order of every mapping,
    reordering the rules and keys of the ruleset file, using the other matching engine, and
    a hostile ambient decimal context (3 digits, rounding down) give byte-identical
    ``to_dict`` output."""

    name = "determinism"
    title = "determinism and order independence"

    def examples(self, subject: Subject) -> SearchStrategy[Any]:
        from hypothesis import strategies as st

        from creditrules.strategies import deals

        n = len(subject.variants()) + 1
        # Reversed first (shrinks there), then a seeded shuffle: each list and mapping is
        # shuffled on its own, so dropping one part of a deal does not reshuffle another.
        order = st.one_of(st.just(None), st.integers(0, 2**32 - 1))
        return st.tuples(deals(subject.ruleset), st.integers(0, n - 1), order)

    def deals_of(self, example: Any) -> tuple[tuple[str, Mapping[str, Any]], ...]:
        return (("deal", example[0]), ("shuffled", _shuffle(example[0], example[2])))

    def check(self, subject: Subject, example: Any) -> Finding | None:
        deal, variant, order = example
        base = subject.allocate(deal)
        shuffled = _shuffle(deal, order)
        label, ruleset = "the same ruleset", subject.ruleset
        if variant:
            label, ruleset = subject.variants()[variant - 1]
        with decimal.localcontext() as ctx:
            ctx.prec, ctx.rounding = 3, decimal.ROUND_DOWN
            try:
                again = subject.allocate(shuffled, ruleset)
            except AllocationError as exc:
                return Finding(f"the shuffled deal is not decided ({exc.reason}) under "
                               f"{label}", deals=(("deal", deal), ("shuffled", shuffled)),
                               allocations=(("deal", base), ("shuffled", str(exc))),
                               rules=subject.credit_rules(base))
        a, b = _canonical(base), _canonical(again)
        if a == b:
            return None
        where = _first_difference(base.to_dict(), again.to_dict())
        how = "reversing" if order is None else "shuffling"
        return Finding(f"{how} the deal's lists and keys ({label}, hostile decimal "
                       f"context) changes the allocation at {where}",
                       deals=(("deal", deal), ("shuffled", shuffled)),
                       allocations=(("deal", base), ("shuffled", again)),
                       rules=subject.credit_rules(base, again))


def _shuffle(value: Any, seed: int | None, path: str = "") -> Any:
    """``value`` with every list and mapping reversed (``seed is None``) or shuffled."""

    def reorder(items: list[Any]) -> list[Any]:
        if seed is None:
            return items[::-1]
        rnd = random.Random(f"{seed}:{path}")  # noqa: S311 - a reproducible shuffle
        rnd.shuffle(items)
        return items

    if isinstance(value, Mapping):
        keys = reorder(list(value))
        return {k: _shuffle(value[k], seed, f"{path}/{k}") for k in keys}
    if isinstance(value, list):
        return reorder([_shuffle(v, seed, f"{path}/{i}") for i, v in enumerate(value)])
    return value


def _first_difference(a: Any, b: Any, path: str = "") -> str:
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        if list(a) != list(b):
            return f"{path or '/'} (keys {list(a)} against {list(b)})"
        for k in a:
            if a[k] != b[k] or json.dumps(a[k]) != json.dumps(b[k]):
                return _first_difference(a[k], b[k], f"{path}/{k}")
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if json.dumps(x) != json.dumps(y):
                return _first_difference(x, y, f"{path}/{i}")
    return f"{path or '/'} ({json.dumps(a)} against {json.dumps(b)})"


class Idempotence(Invariant):
    """Allocating is pure: allocating a deal again, after allocating another deal, and from
    its JSON text read back, gives a byte-identical result (no state carried between
    evaluations)."""

    name = "idempotence"
    title = "idempotence: the same deal always gets the same allocation"

    def examples(self, subject: Subject) -> SearchStrategy[Any]:
        from hypothesis import strategies as st

        from creditrules.strategies import deals

        return st.tuples(deals(subject.ruleset), deals(subject.ruleset))

    def deals_of(self, example: Any) -> tuple[tuple[str, Mapping[str, Any]], ...]:
        return (("deal", example[0]), ("other deal", example[1]))

    def check(self, subject: Subject, example: Any) -> Finding | None:
        deal, other = example
        first = subject.allocate(deal)
        with contextlib.suppress(AllocationError, DealError):
            subject.allocate(other)
        again = subject.allocate(json.loads(json.dumps(deal)))
        if _canonical(first) == _canonical(again):
            return None
        where = _first_difference(first.to_dict(), again.to_dict())
        return Finding(f"allocating the deal again after another one changes it at {where}",
                       deals=(("deal", deal), ("other deal", other)),
                       allocations=(("first", first), ("again", again)),
                       rules=subject.credit_rules(first, again))


class RefundMirrorsSale(Invariant):
    """A credit note for the full amount of a sale (the same deal with the amount negated)
    is decided by the same rules, with the same shares, and every amount is exactly the
    negation of the sale's: the partners' net credit over a sale and its refund is zero to
    the cent."""

    name = "refund-mirrors-sale"
    title = "refund mirrors sale"

    def examples(self, subject: Subject) -> SearchStrategy[Any]:
        from creditrules.strategies import deals

        return deals(subject.ruleset, negative=False, expenses=False)

    def deals_of(self, example: Any) -> tuple[tuple[str, Mapping[str, Any]], ...]:
        return (("sale", example), ("refund", _refund(example)))

    def check(self, subject: Subject, example: Any) -> Finding | None:
        sale = subject.allocate(example)
        refund_deal = _refund(example)
        deals = (("sale", example), ("refund", refund_deal))
        try:
            refund = subject.allocate(refund_deal)
        except AllocationError as exc:
            return Finding(f"the sale is decided, its refund is not: {exc.reason}",
                           deals=deals, allocations=(("sale", sale), ("refund", str(exc))),
                           rules=subject.credit_rules(sale))
        a, b = sale.credits, refund.credits
        types_a, types_b = [c.type for c in a], [c.type for c in b]
        if types_a != types_b:
            return Finding(f"the sale gets {', '.join(types_a) or 'no'} credit, its refund "
                           f"{', '.join(types_b) or 'none'}", deals=deals,
                           allocations=(("sale", sale), ("refund", refund)),
                           rules=subject.credit_rules(sale, refund))
        for x, y in zip(a, b, strict=True):
            pairs = subject.credit_rules(sale, refund, types=[x.type])
            if x.rules != y.rules:
                return Finding(
                    f"the sale's {x.type} credit is decided by "
                    f"{_named(x)} but its refund's by {_named(y)}: a condition reads the "
                    "signed amount", deals=deals,
                    allocations=(("sale", sale), ("refund", refund)), rules=pairs,
                    fields=(x.type,))
            for p, q in zip(x.partners, y.partners, strict=False):
                same = (p.partner == q.partner and p.share == q.share
                        and p.amount == -q.amount
                        and [(r.rep, r.share, r.amount) for r in p.reps]
                        == [(r.rep, r.share, -r.amount) for r in q.reps])
                if not same:
                    return Finding(
                        f"{p.partner}'s {x.type} credit is {_pct(p.share)} = {p.amount} on "
                        f"the sale but {q.partner} {_pct(q.share)} = {q.amount} on its refund",
                        deals=deals, allocations=(("sale", sale), ("refund", refund)),
                        rules=pairs, partners=(p.partner,), fields=(x.type,))
            if len(x.partners) != len(y.partners) or x.amount != -y.amount:
                return Finding(f"the refund's {x.type} credit ({y.amount}) does not mirror the "
                               f"sale's ({x.amount})", deals=deals,
                               allocations=(("sale", sale), ("refund", refund)), rules=pairs,
                               fields=(x.type,))
        return None


def _named(credit: TypeCredit) -> str:
    return ", ".join(f"{r} (clause {c})" for r, c in _rules_of(credit))


def _refund(deal: Mapping[str, Any]) -> dict[str, Any]:
    amount = str(deal["amount"])
    negated = amount[1:] if amount.startswith("-") else "-" + amount
    return {**deal, "amount": negated}


class Symmetry(Invariant):
    """Anonymity: exchanging two partners' names throughout a deal (account owner, lead,
    reps, activities, expenses) exchanges their exact credit shares, when the ruleset's
    terms are symmetric under that exchange. For an asymmetric ruleset the check reports
    which clauses break the symmetry, with an example, as information."""

    name = "symmetry"
    title = "symmetry: relabelling the partners relabels the result"
    hard = False

    def information(self, subject: Subject) -> tuple[str, ...]:
        breaks: list[str] = []
        partners = subject.partners
        for i, p in enumerate(partners):
            for q in partners[i + 1:]:
                breaks += asymmetries(subject.ruleset, p, q)
        return tuple(dict.fromkeys(breaks))

    def examples(self, subject: Subject) -> SearchStrategy[Any]:
        from hypothesis import strategies as st

        from creditrules.strategies import deals

        partners = subject.partners
        pairs = [(p, q) for i, p in enumerate(partners) for q in partners[i + 1:]]
        return st.tuples(st.sampled_from(pairs), deals(subject.ruleset))

    def deals_of(self, example: Any) -> tuple[tuple[str, Mapping[str, Any]], ...]:
        (p, q), deal = example
        return (("deal", deal), (f"{p} and {q} exchanged", relabel(deal, {p: q, q: p})))

    def check(self, subject: Subject, example: Any) -> Finding | None:
        (p, q), deal = example
        sigma = {p: q, q: p}
        mirror = relabel(deal, sigma)
        a = subject.allocate(deal)
        b = subject.allocate(mirror)
        deals = self.deals_of(example)
        allocations = (("deal", a), ("exchanged", b))
        sa, sb = _shares(a), _shares(b)
        if sorted(sa) != sorted(sb):
            return Finding(f"the deal gets {', '.join(sa) or 'no'} credit, the exchanged deal "
                           f"{', '.join(sb) or 'none'}", deals=deals, allocations=allocations,
                           rules=subject.credit_rules(a, b), partners=(p, q))
        for type_name, shares in sa.items():
            for x in subject.partners:
                mine = shares.get(x, Fraction(0))
                theirs = sb[type_name].get(sigma.get(x, x), Fraction(0))
                if mine != theirs:
                    y = sigma.get(x, x)
                    return Finding(
                        f"{x} gets {_pct(mine)} of {type_name} credit, but with {p} and {q} "
                        f"exchanged {y} gets {_pct(theirs)}", deals=deals,
                        allocations=allocations,
                        rules=subject.credit_rules(a, b, types=[type_name]), partners=(p, q),
                        fields=(type_name,), magnitude=abs(mine - theirs))
        return None


def relabel(deal: Mapping[str, Any], sigma: Mapping[str, str]) -> dict[str, Any]:
    """``deal`` with partners renamed by ``sigma`` everywhere, and the reps named after
    their partner (``acme-1``) renamed with it."""
    reps = deal.get("reps", ())
    rename: dict[str, str] = {}
    for r in reps:
        owner = str(r["partner"])
        rid = str(r["id"])
        if owner in sigma and rid.startswith(owner + "-"):
            rename[rid] = sigma[owner] + rid[len(owner):]

    def partner(v: Any) -> Any:
        return sigma.get(v, v) if isinstance(v, str) else v

    def rep(v: Any) -> Any:
        return rename.get(v, v) if isinstance(v, str) else v

    out: dict[str, Any] = dict(deal)
    if "account" in deal:
        out["account"] = {k: partner(v) if k == "owner" else v
                          for k, v in deal["account"].items()}
    if "lead" in deal:
        out["lead"] = {k: partner(v) if k == "source" else rep(v) if k == "rep" else v
                       for k, v in deal["lead"].items()}
    if reps:
        out["reps"] = [{k: partner(v) if k == "partner" else rep(v) if k == "id" else v
                        for k, v in r.items()} for r in reps]
    if "activities" in deal:
        out["activities"] = [
            {k: partner(v) if k == "partner" else rep(v) if k == "rep"
             else [rep(x) for x in v] if k == "reps" else v for k, v in a.items()}
            for a in deal["activities"]]
    if "expenses" in deal:
        out["expenses"] = [{k: partner(v) if k == "paid_by" else v for k, v in e.items()}
                           for e in deal["expenses"]]
    return out


def asymmetries(ruleset: Ruleset, p: str, q: str) -> list[str]:
    """The clauses of ``ruleset`` that break its symmetry between partners ``p`` and ``q``:
    each rule whose image (``p`` and ``q`` exchanged in its condition and outcome) is not a
    rule of the ruleset, or whose overrides do not map onto its image's; and a declared
    precedence list that does not map onto itself."""
    sigma = {p: q, q: p}
    forms = {r.key: _rule_form(r, {}) for r in ruleset.rules}
    image: dict[str, str] = {}
    out: list[str] = []
    for rule in sorted(ruleset.rules, key=lambda r: (r.clause, r.key)):
        mirrored = _rule_form(rule, sigma)
        matches = [k for k, f in forms.items() if f == mirrored]
        if not matches:
            out.append(f"clause {rule.clause} ({rule.id}): {_asymmetry(rule, p, q)}")
            continue
        image[rule.id] = rule.id if rule.key in matches else \
            next(r.id for r in ruleset.rules if r.key == matches[0])
    by_id = {r.id: r for r in ruleset.rules}
    for rid, other in sorted(image.items()):
        rule = by_id[rid]
        if not all(t in image for t in rule.overrides):
            continue  # a rule without a mirror is reported already
        mapped = {image[t] for t in rule.overrides}
        if mapped != set(by_id[other].overrides):
            theirs = ", ".join(sorted(by_id[other].overrides)) or "nothing"
            out.append(f"clause {rule.clause} ({rid}): overrides "
                       f"{', '.join(sorted(rule.overrides)) or 'nothing'}, but its mirror "
                       f"{other} overrides {theirs}")
    for plist in ruleset.precedence:
        if not all(r in image for r in plist.rules):
            continue  # a rule without a mirror is reported already
        mapped_list = tuple(image[r] for r in plist.rules)
        if mapped_list != plist.rules:
            out.append(f"precedence for {plist.type} ({', '.join(plist.rules)}) does not map "
                       f"onto itself with {p} and {q} exchanged")
    return out


def _asymmetry(rule: CreditRule, p: str, q: str) -> str:
    outcome = rule.outcome
    if isinstance(outcome, ByContribution):
        c = outcome.contribution
        if c.factor(p) != c.factor(q):
            return (f"weighs {p}'s activities by {c.factor(p)} and {q}'s by "
                    f"{c.factor(q)} (normalise)")
        if outcome.fallback is not None and \
                outcome.fallback.get(p, 0) != outcome.fallback.get(q, 0):
            return (f"without contribution, gives {p} {_pct(outcome.fallback.get(p, Fraction(0)))}"
                    f" and {q} {_pct(outcome.fallback.get(q, Fraction(0)))}")
    elif outcome.shares.get(p, 0) != outcome.shares.get(q, 0) and rule.when is None:
        return (f"gives {p} {_pct(outcome.shares.get(p, Fraction(0)))} and {q} "
                f"{_pct(outcome.shares.get(q, Fraction(0)))}")
    return f"has no counterpart with {p} and {q} exchanged"


def _rule_form(rule: CreditRule, sigma: Mapping[str, str]) -> Any:
    outcome = rule.outcome
    form: Any
    if isinstance(outcome, ByContribution):
        c = outcome.contribution
        normalise = frozenset((sigma.get(k, k), v) for k, v in c.normalise.items() if v != 1)
        fallback = None if outcome.fallback is None else frozenset(
            (sigma.get(k, k), v) for k, v in outcome.fallback.items() if v)
        form = ("by", frozenset(c.weights.items()), normalise, outcome.total, fallback)
    else:
        form = (outcome.kind, frozenset((sigma.get(k, k), v)
                                        for k, v in outcome.shares.items() if v))
    when = None if rule.when is None else _expr_form(rule.when, sigma, None)
    return (rule.type, form, when, rule.default, rule.effective, rule.rep_credit)


def _expr_form(expr: Expr, sigma: Mapping[str, str], collection: str | None) -> Any:
    from creditrules._ast import And, Compare, Count, Field, InList, Literal, Not, Or

    def field_key(node: Any) -> Any:
        if isinstance(node, Field):
            return node.path if collection is None else (collection, *node.path)
        return None

    def operand(node: Any, partner: bool) -> Any:
        if isinstance(node, Literal):
            value = sigma.get(node.value, node.value) if partner and isinstance(
                node.value, str) else node.value
            return ("lit", node.type.value, str(value))
        if isinstance(node, Field):
            return ("field", node.path)
        if isinstance(node, Count):
            return ("count", node.collection, None if node.where is None
                    else _expr_form(node.where, sigma, node.collection))
        raise TypeError(node)

    if isinstance(expr, Compare):
        partner = field_key(expr.left) in _PARTNER_FIELDS
        left, right = operand(expr.left, partner), operand(expr.right, partner)
        if expr.op in ("==", "!=") and not isinstance(expr.right, Literal):
            return ("cmp", expr.op, frozenset((left, right)))
        return ("cmp", expr.op, left, right)
    if isinstance(expr, InList):
        partner = field_key(expr.subject) in _PARTNER_FIELDS
        return ("in", operand(expr.subject, False), expr.negated,
                frozenset(operand(o, partner) for o in expr.options))
    if isinstance(expr, And | Or):
        return (type(expr).__name__, frozenset(_expr_form(x, sigma, collection)
                                                for x in expr.parts))
    if isinstance(expr, Not):
        return ("not", _expr_form(expr.part, sigma, collection))
    raise TypeError(expr)


class EqualTreatment(Invariant):
    """Equal treatment of equals: in a deal where two partners contribute identically
    (mirrored reps, activities and expenses; neither owns the account nor sourced the lead),
    they get identical exact shares of every credit type; two reps of one partner with
    identical activities and owner flags (neither the lead's rep) get identical shares."""

    name = "equal-treatment"
    title = "equal treatment: equivalent payout for equivalent results"
    hard = False

    def examples(self, subject: Subject) -> SearchStrategy[Any]:
        from creditrules.strategies import equal_contributions

        return equal_contributions(subject.ruleset)

    def deals_of(self, example: Twins) -> tuple[tuple[str, Mapping[str, Any]], ...]:
        return (("deal", example.deal),)

    def check(self, subject: Subject, example: Twins) -> Finding | None:
        a = subject.allocate(example.deal)
        x, y = example.pair
        for credit in a.credits:
            if example.level == "partners":
                sx, sy = credit.share(x), credit.share(y)
            else:
                reps = {r.rep: r.share for p in credit.partners for r in p.reps}
                sx, sy = reps.get(x, Fraction(0)), reps.get(y, Fraction(0))
            if sx != sy:
                if example.level == "partners":
                    partner, owner = (x if sx > sy else y), ""
                else:
                    partner = next(p.partner for p in credit.partners
                                   if any(r.rep == x for r in p.reps))
                    owner = f" (reps of {partner})"
                return Finding(
                    f"{x} gets {_pct(sx)} and {y} {_pct(sy)} of {credit.type} credit for "
                    f"identical contributions{owner}", deals=self.deals_of(example),
                    allocations=(("deal", a),), rules=_rules_of(credit),
                    partners=(partner,), fields=(example.level, credit.type),
                    magnitude=abs(sx - sy))
        return None


class NullPlayer(Invariant):
    """Null player: a partner that takes no part in a deal (no reps, activities, expenses,
    account or lead) gets no credit unless the deciding rule names it (a split or overlay
    share, or declared no-contribution shares); a rep with no activity that is neither the
    lead's rep nor the deal owner gets no credit when another rep of its partner did
    contribute, unless the rule credits its partner's deal owner."""

    name = "null-player"
    title = "null player: no credit for no part"
    hard = False

    def examples(self, subject: Subject) -> SearchStrategy[Any]:
        from creditrules.strategies import null_parties

        return null_parties(subject.ruleset)

    def deals_of(self, example: NullParty) -> tuple[tuple[str, Mapping[str, Any]], ...]:
        return (("deal", example.deal),)

    def check(self, subject: Subject, example: NullParty) -> Finding | None:
        a = subject.allocate(example.deal)
        rs = subject.ruleset
        for credit in a.credits:
            rules = _deciding(subject, credit, a.date)
            if example.level == "partners":
                share = credit.share(example.party)
                if share and not any(self._names(rule, example) for rule in rules):
                    return self._finding(example, a, credit, share)
                continue
            share = _rep_share(a, credit.type, example.party)
            if not share:
                continue
            rule = rules[0] if rules else None
            mode = (rule.rep_credit if rule is not None and rule.rep_credit else rs.rep_credit)
            contribution = (rule.outcome.contribution
                            if rule is not None and isinstance(rule.outcome, ByContribution)
                            else rs.contribution)
            _, rep_points = _points(contribution, example.deal)
            team = [str(r["id"]) for r in example.deal.get("reps", ())
                    if r["partner"] == example.partner and r["id"] != example.party]
            if mode != "owner" and any(rep_points.get(r, 0) > 0 for r in team):
                return self._finding(example, a, credit, share)
        return None

    @staticmethod
    def _names(rule: CreditRule, example: NullParty) -> bool:
        outcome = rule.outcome
        if isinstance(outcome, Split | Overlay):
            return outcome.shares.get(example.party, Fraction(0)) > 0
        points, _ = _points(outcome.contribution, example.deal)
        if sum(points.values(), Fraction(0)) == 0:
            # No one contributed: the rule's no-contribution shares decide (all are null).
            return outcome.fallback is None or outcome.fallback.get(example.party, 0) > 0
        return points.get(example.party, Fraction(0)) > 0

    def _finding(self, example: NullParty, a: Allocation, credit: TypeCredit, share: Fraction
                 ) -> Finding:
        what = ("takes no part in the deal" if example.level == "partners" else
                f"did nothing while another {example.partner} rep did")
        return Finding(f"{example.party} {what} but gets {_pct(share)} of {credit.type} credit",
                       deals=self.deals_of(example), allocations=(("deal", a),),
                       rules=_rules_of(credit), partners=(example.partner,),
                       fields=(example.level, credit.type), magnitude=share)


class Monotonicity(Invariant):
    """Monotonicity: one more collaborative activity by a party (a partner, or one of its
    reps) never lowers that party's exact share of any credit type, whichever rule decides
    the deal before and after (a threshold that lowers credit is a violation)."""

    name = "monotonicity"
    title = "monotonicity: more work never means less credit"
    hard = False

    def applies(self, subject: Subject) -> str | None:
        rs = subject.ruleset
        reads = (any(isinstance(r.outcome, ByContribution) for r in rs.rules)
                 or any(_counts(r.when, "activities") for r in rs.rules if r.when is not None)
                 or "by_contribution" in {rs.rep_credit, *(r.rep_credit for r in rs.rules)})
        return None if reads else "no rule reads activities"

    def examples(self, subject: Subject) -> SearchStrategy[Any]:
        from creditrules.strategies import one_more_activity

        return one_more_activity(subject.ruleset)

    def deals_of(self, example: OneMore) -> tuple[tuple[str, Mapping[str, Any]], ...]:
        return (("deal", example.deal), ("with one more activity", example.more))

    def check(self, subject: Subject, example: OneMore) -> Finding | None:
        a = subject.allocate(example.deal)
        b = subject.allocate(example.more)
        who = example.rep or example.partner
        types = list(dict.fromkeys([c.type for c in a.credits] + [c.type for c in b.credits]))
        for type_name in types:
            checks = [("partners", example.partner, _share(a, type_name, example.partner),
                       _share(b, type_name, example.partner))]
            if example.rep is not None:
                checks.append(("reps", example.rep, _rep_share(a, type_name, example.rep),
                               _rep_share(b, type_name, example.rep)))
            for level, party, before, after in checks:
                if after < before:
                    return Finding(
                        f"one more {example.kind} by {who} lowers {party}'s {type_name} "
                        f"credit from {_pct(before)} to {_pct(after)}",
                        deals=self.deals_of(example), allocations=(("deal", a), ("more", b)),
                        rules=subject.credit_rules(a, b, types=[type_name]),
                        partners=(example.partner,),
                        fields=(example.kind, level, type_name), magnitude=before - after)
        return None


def _counts(expr: Expr, collection: str) -> bool:
    """Whether ``expr`` counts items of ``collection``."""
    from creditrules._ast import Count
    from creditrules._conditions import comparisons

    return any(isinstance(side, Count) and side.collection == collection
               for left, _, right in comparisons(expr) for side in (left, right))


class Scale(Invariant):
    """Scale invariance: multiplying the deal amount by k (2, 3, 10, 100, 1000) leaves every
    exact share unchanged (so every exact entitlement is multiplied by k) and the expenses'
    results unchanged; each rounded amount stays within k + 1 units of k times the
    original (rounding only)."""

    name = "scale"
    title = "scale: a bigger deal, the same shares"
    hard = False

    def examples(self, subject: Subject) -> SearchStrategy[Any]:
        from hypothesis import strategies as st

        from creditrules.strategies import deals, space

        sp = space(subject.ruleset)

        @st.composite
        def scaled(draw: st.DrawFn) -> tuple[int, dict[str, Any]]:
            # k first, so the smallest counterexample has the smallest k.
            k = draw(st.sampled_from((2, 3, 10, 100, 1000)))
            deal = draw(deals(subject.ruleset))
            # Often, aim at a rule with an amount threshold, just below it: k times the
            # amount crosses it.
            aim = draw(st.sampled_from((None, *crossings)))
            if aim is not None:
                deal = json.loads(json.dumps(deal))
                sp.aim(deal, aim, owners=(None, *sp.partners))
                threshold = aim.values[("amount",)]
                assert isinstance(threshold, Decimal)
                units = -(-Fraction(threshold) // Fraction(sp.unit) // k)
                deal["amount"] = sp.amount_text(max(1, int(units)))
            return k, deal

        crossings = [t for t in sp.targets if _positive(t.values.get(("amount",)))]

        return scaled()

    def deals_of(self, example: Any) -> tuple[tuple[str, Mapping[str, Any]], ...]:
        k, deal = example
        return (("deal", deal), (f"amount x {k}", _scaled(deal, k)))

    def check(self, subject: Subject, example: Any) -> Finding | None:
        k, deal = example
        a = subject.allocate(deal)
        big = _scaled(deal, k)
        b = subject.allocate(big)
        deals = self.deals_of(example)
        allocations = (("deal", a), (f"x {k}", b))
        sa, sb = _shares(a), _shares(b)
        ra, rb = _rep_shares(a), _rep_shares(b)
        for type_name in dict.fromkeys([*sa, *sb]):
            x, y = sa.get(type_name, {}), sb.get(type_name, {})
            changed = sorted(p for p in set(x) | set(y)
                             if x.get(p, Fraction(0)) != y.get(p, Fraction(0)))
            rep_changed = sorted(r for r in set(ra.get(type_name, {})) | set(rb.get(type_name,
                                                                                    {}))
                                 if ra.get(type_name, {}).get(r, 0)
                                 != rb.get(type_name, {}).get(r, 0))
            if changed or rep_changed:
                who = changed[0] if changed else rep_changed[0]
                before = x.get(who, ra.get(type_name, {}).get(who, Fraction(0)))
                after = y.get(who, rb.get(type_name, {}).get(who, Fraction(0)))
                return Finding(
                    f"multiplying the amount {deal['amount']} by {k} changes {who}'s "
                    f"{type_name} share from {_pct(before)} to {_pct(after)}", deals=deals,
                    allocations=allocations,
                    rules=subject.credit_rules(a, b, types=[type_name]),
                    partners=tuple(changed), fields=("amount", type_name),
                    magnitude=max((abs(x.get(p, Fraction(0)) - y.get(p, Fraction(0)))
                                   for p in changed), default=abs(before - after)))
        unit = Fraction(subject.unit)
        for credit in a.credits:
            other = b.credit(credit.type)
            assert other is not None
            for p in credit.partners:
                got = Fraction(other.amount_of(p.partner))
                if abs(got - k * Fraction(p.amount)) >= (k + 1) * unit:
                    return Finding(f"{p.partner}'s {credit.type} amount {p.amount} becomes "
                                   f"{other.amount_of(p.partner)} when the deal is {k} times "
                                   "larger", deals=deals, allocations=allocations,
                                   rules=_rules_of(credit), partners=(p.partner,),
                                   fields=("amount", credit.type))
        if [e.to_dict() for e in a.expenses] != [e.to_dict() for e in b.expenses]:
            return Finding(f"multiplying the amount by {k} changes how the expenses are borne",
                           deals=deals, allocations=allocations,
                           rules=tuple((e.rule, e.clause) for e in a.expenses),
                           fields=("amount", "expenses"))
        return None


def _positive(value: object) -> bool:
    return isinstance(value, Decimal) and value > 0


def _scaled(deal: Mapping[str, Any], k: int) -> dict[str, Any]:
    return {**deal, "amount": str(Decimal(str(deal["amount"])) * k)}


# -- policies and expenses ----------------------------------------------------------------


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
    from creditrules.policy import FORBIDDEN, EntertainmentPolicy

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


INVARIANTS: tuple[Invariant, ...] = (
    Coverage(), Conservation(), DeclaredTotals(), RoundingBound(), Determinism(),
    Idempotence(), RefundMirrorsSale(), CapsRespected(), ForbiddenKinds(), PolicyPrecedence(),
    NonNegativity(), NullPlayer(), EqualTreatment(), Monotonicity(), Scale(), Symmetry(),
)
assert tuple(i.name for i in INVARIANTS if i.hard) == HARD_INVARIANTS
assert tuple(i.name for i in INVARIANTS if not i.hard) == SOFT_INVARIANTS


def invariant(name: str) -> Invariant:
    """The invariant called ``name``."""
    for inv in INVARIANTS:
        if inv.name == name:
            return inv
    raise KeyError(name)


# =========================================================================================
# Settings and the runner


@attrs.frozen
class CheckSettings:
    """How hypothesis runs the check: derived explicitly (never from whatever profile
    happens to be loaded), see :func:`check_settings`."""

    max_examples: int
    derandomize: bool
    seed: int
    database: bool

    def hypothesis(self) -> Settings:
        from hypothesis import HealthCheck, Phase, Verbosity
        from hypothesis import settings as hsettings
        from hypothesis.database import DirectoryBasedExampleDatabase

        database = (DirectoryBasedExampleDatabase(
            os.environ.get("CREDITRULES_HYPOTHESIS_DB", ".hypothesis/creditrules"))
            if self.database else None)
        return hsettings(
            max_examples=self.max_examples, derandomize=self.derandomize,
            database=database, deadline=None, report_multiple_bugs=False,
            verbosity=Verbosity.quiet, print_blob=False,
            suppress_health_check=list(HealthCheck),
            phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink))


def check_settings(*, max_examples: int | None = None, seed: int | None = None,
                   thorough: bool = False, profile: str | None = None) -> CheckSettings:
    """The settings of a check.

    * ``max_examples`` given: that many deals per invariant; else ``thorough``:
      :data:`THOROUGH_EXAMPLES`; else the named hypothesis ``profile`` (default: the
      ``HYPOTHESIS_PROFILE`` environment variable) if registered; else :data:`FAST_EXAMPLES`.
    * Derandomized (reproducible, no example database) under continuous integration (the
      ``ci`` profile, or the ``CI`` environment variable) unless ``thorough``; a thorough
      run is randomised and keeps its example database (``.hypothesis/creditrules``).
    * ``seed``: the given one (then no database is read, so the run is exactly repeatable);
      0 when derandomized; else a fresh random seed, printed in the report.
    """
    from hypothesis import settings as hsettings

    name = profile if profile is not None else os.environ.get("HYPOTHESIS_PROFILE")
    base = None
    if name:
        with contextlib.suppress(Exception):
            base = hsettings.get_profile(name)
    ci = name == "ci" or (base is None and bool(os.environ.get("CI")))
    if base is not None and name != "ci":
        ci = ci or bool(base.derandomize)
    derandomize = ci and not thorough
    if max_examples is None:
        max_examples = (THOROUGH_EXAMPLES if thorough
                        else base.max_examples if base is not None else FAST_EXAMPLES)
    if seed is None:
        seed = 0 if derandomize else random.SystemRandom().getrandbits(32)
        database = thorough
    else:
        database = False
    return CheckSettings(max_examples=max(1, int(max_examples)), derandomize=derandomize,
                         seed=int(seed), database=database)


class _Failed(Exception):
    """Raised inside the hypothesis test to mark an example that breaks the invariant."""


@attrs.define
class _Search:
    tried: int = 0
    undecided: int = 0
    finding: Finding | None = None
    # The first example the agreement did not decide (for coverage, as a fallback).
    undecided_deals: tuple[tuple[str, Mapping[str, Any]], ...] = ()
    # Rules whose condition held for some deal (the shared pass only).
    rules: set[tuple[str, str]] = attrs.field(factory=set)


_REACHED = "\x00reached"


def _derived_seed(seed: int, *parts: str) -> int:
    digest = hashlib.sha256(":".join([str(seed), *parts]).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def _search(inv: Invariant, subject: Subject, cfg: CheckSettings,
            accept: Callable[[Finding], bool], label: str) -> _Search:
    """Run hypothesis over the invariant's examples; the last failure recorded is the
    shrunk one (hypothesis replays the minimal example last)."""
    import hypothesis
    from hypothesis.errors import Flaky, Unsatisfiable

    rec = _Search()

    def test(example: Any) -> None:
        try:
            finding = inv.check(subject, example)
        except DealError:
            hypothesis.reject()  # the strategy made a deal the library refuses: not a case
        except AllocationError:
            # Undecided deals are coverage's business; here they prove nothing.
            if rec.finding is None:
                rec.undecided += 1
                rec.tried += 1
                if not rec.undecided_deals:
                    rec.undecided_deals = inv.deals_of(example)
            return
        except Exception as exc:
            finding = Finding(f"allocating raised {type(exc).__name__}: {exc}",
                              deals=inv.deals_of(example))
        if finding is not None and not accept(finding):
            finding = None
        if rec.finding is None:
            rec.tried += 1
        if finding is not None:
            rec.finding = finding
            raise _Failed

    wrapped = hypothesis.given(inv.examples(subject))(test)
    wrapped = cfg.hypothesis()(wrapped)
    wrapped = hypothesis.seed(_derived_seed(cfg.seed, inv.name, label))(wrapped)
    # One example-database key per (agreement, invariant, run): closures share a digest.
    key = f"creditrules:{subject.ruleset.content_hash}:{inv.name}:{label}".encode()
    wrapped._hypothesis_internal_database_key = key  # type: ignore[attr-defined]
    try:
        wrapped()
    except (_Failed, Flaky):
        pass
    except Unsatisfiable:
        pass
    return rec


def _shared_pass(invariants: Sequence[Invariant], subject: Subject, cfg: CheckSettings
                 ) -> dict[str, _Search]:
    """One run over generated deals for coverage and every single-allocation invariant:
    each deal is allocated once and checked by all; the first finding of each is kept, and
    nothing fails (so nothing shrinks) here."""
    import hypothesis
    from hypothesis import Phase
    from hypothesis import settings as hsettings
    from hypothesis.errors import Unsatisfiable

    from creditrules.strategies import deals, space

    recs = {inv.name: _Search() for inv in invariants}
    reached = recs.setdefault(_REACHED, _Search())
    coverage = [inv for inv in invariants if isinstance(inv, Coverage)]
    checks = [inv for inv in invariants if isinstance(inv, AllocationInvariant)]

    def test(deal: Mapping[str, Any]) -> None:
        try:
            allocation = subject.allocate(deal)
        except DealError:
            hypothesis.reject()
        except AllocationError as exc:
            for cov in coverage:
                rec = recs[cov.name]
                rec.tried += 1
                if rec.finding is None:
                    rec.finding = _undecided(subject, deal, exc)
            for check in checks:
                recs[check.name].tried += 1
                recs[check.name].undecided += 1
            return
        except Exception as exc:
            crash = Finding(f"allocating raised {type(exc).__name__}: {exc}",
                            deals=(("deal", deal),))
            for name, rec in recs.items():
                if name != _REACHED:
                    rec.tried += 1
                    rec.finding = rec.finding or crash
            return
        reached.rules.update((v.rule, v.clause) for v in allocation.verdicts
                             if v.status in ("applied", "overridden"))
        for cov in coverage:
            recs[cov.name].tried += 1
        for check in checks:
            rec = recs[check.name]
            rec.tried += 1
            if rec.finding is None:
                found = check.violations(allocation, subject.ruleset, deal)
                if found:
                    rec.finding = attrs.evolve(
                        found[0], deals=(("deal", deal),),
                        allocations=(("allocation", allocation),),
                        rules=found[0].rules or subject.credit_rules(allocation))

    factor = _COVERAGE_FACTOR if coverage else 1
    inner: Any = test
    # First, one plain deal aimed at each rule, so that every rule is reached at least once.
    for deal in space(subject.ruleset).witnesses():
        inner = hypothesis.example(deal)(inner)
    wrapped = hypothesis.given(deals(subject.ruleset))(inner)
    wrapped = hsettings(cfg.hypothesis(), max_examples=cfg.max_examples * factor,
                        phases=(Phase.explicit, Phase.reuse, Phase.generate))(wrapped)
    wrapped = hypothesis.seed(_derived_seed(cfg.seed, "shared"))(wrapped)
    key = f"creditrules:{subject.ruleset.content_hash}:shared".encode()
    wrapped._hypothesis_internal_database_key = key  # type: ignore[attr-defined]
    with contextlib.suppress(Unsatisfiable):
        wrapped()
    return recs


def _counterexample(subject: Subject, finding: Finding) -> Counterexample:
    deals = finding.deals or (("deal", {}),)
    allocations = tuple((label, a.to_dict() if isinstance(a, Allocation) else {"error": a})
                        for label, a in finding.allocations)
    first = deals[0][1]
    replay = (f"echo {shlex.quote(json.dumps(first, ensure_ascii=False))} | creditrules "
              f"explain {shlex.quote(subject.replay_path)} -")
    return Counterexample(finding.message, first, tuple(deals[1:]), allocations,
                          finding.rules, replay)


# Coverage is cheap (one allocation a deal) and its gaps are often narrow: more deals.
_COVERAGE_FACTOR = 2


def _run(inv: Invariant, subject: Subject, cfg: CheckSettings,
         undecided: Sequence[tuple[str, tuple[tuple[str, Mapping[str, Any]], ...]]] = ()
         ) -> tuple[InvariantResult, _Search | None]:
    start = time.perf_counter()
    reason = inv.applies(subject)
    if reason is not None:
        return InvariantResult(inv.name, inv.title, inv.hard, "not applicable", 0,
                               reason=reason), None
    info = inv.information(subject)
    exemptions = subject.ruleset.fairness
    if isinstance(inv, Coverage):
        cfg = attrs.evolve(cfg, max_examples=cfg.max_examples * _COVERAGE_FACTOR)
    first = _search(inv, subject, cfg, lambda f: True, "all")
    if isinstance(inv, Coverage) and first.finding is None:
        # Another invariant met a deal the agreement does not decide: report it (as found,
        # not shrunk) rather than claim every deal is decided.
        for name, deals in undecided:
            for _, deal in deals:
                finding = inv.check(subject, deal)
                if finding is not None:
                    first.finding = attrs.evolve(
                        finding, message=f"{finding.message} (found while checking {name})")
                    break
            if first.finding is not None:
                break
    if first.tried == 0 and first.finding is None:
        return InvariantResult(inv.name, inv.title, inv.hard, "not applicable", 0,
                               reason="no valid deal could be generated for it"), first
    result = InvariantResult(inv.name, inv.title, inv.hard, "held", first.tried, info=info,
                             undecided=first.undecided)
    finding = first.finding
    if finding is not None:
        cx = _counterexample(subject, finding)
        if info:
            result = attrs.evolve(result, status="not applicable", counterexample=cx,
                                  reason="the ruleset's terms are asymmetric")
        else:
            exemption = None if inv.hard else waiver(exemptions, inv.name, finding)
            if exemption is None:
                result = attrs.evolve(result, status="violated", counterexample=cx)
            else:
                # Waived: search again for a departure no exemption covers.
                second = _search(inv, subject, cfg,
                                 lambda f: waiver(exemptions, inv.name, f) is None, "unwaived")
                if second.finding is not None:
                    result = attrs.evolve(result, status="violated", tried=second.tried,
                                          counterexample=_counterexample(subject,
                                                                         second.finding))
                else:
                    result = attrs.evolve(result, status="waived", tried=second.tried,
                                          counterexample=cx, exemption=exemption,
                                          undecided=second.undecided)
    return attrs.evolve(result, seconds=time.perf_counter() - start), first


def check_fairness(ruleset: Ruleset | str | os.PathLike[str], *,
                   max_examples: int | None = None, seed: int | None = None,
                   thorough: bool = False, invariants: Sequence[str] | None = None,
                   profile: str | None = None,
                   path: str | os.PathLike[str] | None = None) -> FairnessReport:
    """Check a ruleset against the fairness invariants (all, or those named).

    ``ruleset`` is a loaded :class:`~creditrules.Ruleset` or the path of a ruleset file;
    ``path`` names the file a loaded ruleset came from (with a path, the rule-order check
    also reorders an amendment and its base, and replay commands name it). See
    :func:`check_settings` for ``max_examples``, ``seed``, ``thorough`` and ``profile``.
    Returns a :class:`FairnessReport`; a violation is data in it, never an exception.
    """
    from creditrules.ruleset import load

    if not isinstance(ruleset, Ruleset):
        path = ruleset
        ruleset = load(path)
    path = None if path is None else Path(path)
    cfg = check_settings(max_examples=max_examples, seed=seed, thorough=thorough,
                         profile=profile)
    chosen = INVARIANTS if invariants is None else tuple(invariant(n) for n in invariants)
    subject = Subject(ruleset, path)
    start = time.perf_counter()
    done: dict[str, InvariantResult] = {}
    undecided: list[tuple[str, tuple[tuple[str, Mapping[str, Any]], ...]]] = []
    # Coverage and the invariants of single allocations share one pass over the same deals
    # (each allocated once); only those that found something search again, to shrink.
    shared = [inv for inv in chosen if isinstance(inv, Coverage | AllocationInvariant)
              and inv.applies(subject) is None]
    passed = _shared_pass(shared, subject, cfg) if shared else {}
    for inv in chosen:
        if inv.name in passed and passed[inv.name].finding is None:
            rec = passed[inv.name]
            done[inv.name] = InvariantResult(inv.name, inv.title, inv.hard, "held", rec.tried,
                                             undecided=rec.undecided)
    # Coverage last (it can use the undecided deals the others met); reported first.
    for inv in sorted(chosen, key=lambda i: isinstance(i, Coverage)):
        if inv.name in done:
            continue
        result, search = _run(inv, subject, cfg, undecided)
        found = passed.get(inv.name)
        if result.status == "held" and found is not None and found.finding is not None:
            # The shared pass met a violation the dedicated search did not: report it as
            # found (not shrunk).
            exemption = None if inv.hard else waiver(ruleset.fairness, inv.name, found.finding)
            result = attrs.evolve(result, status="violated" if exemption is None else "waived",
                                  tried=found.tried,
                                  counterexample=_counterexample(subject, found.finding),
                                  exemption=exemption)
        done[inv.name] = result
        if search is not None and search.undecided_deals:
            undecided.append((inv.name, search.undecided_deals))
    results = tuple(done[inv.name] for inv in chosen)
    unreached: tuple[tuple[str, str], ...] = ()
    if _REACHED in passed:
        every = dict.fromkeys((r.id, r.clause) for group in (
            ruleset.rules, ruleset.policy_rules, ruleset.expense_rules) for r in group)
        unreached = tuple(r for r in every if r not in passed[_REACHED].rules)
    return FairnessReport(ruleset.id, ruleset.version, ruleset.content_hash,
                          subject.replay_path, cfg.seed, cfg.max_examples, cfg.derandomize,
                          results, unreached=unreached, seconds=time.perf_counter() - start)


def _cents(value: Fraction) -> str:
    """An exact amount shown to the cent (display only; decimal, never float)."""
    return f"{Decimal(value.numerator) / Decimal(value.denominator):.2f}"
