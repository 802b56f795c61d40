"""Worked examples: deals and the credit their authors expect, kept next to a ruleset.

A lawyer writes, in a readable YAML file (conventionally ``<ruleset>-cases.yaml``), a few
deals and what the agreement should give for each; ``creditrules test RULESET CASES`` and
the pytest plugin run them. A failure reads::

    rulesets/cardiozen-cases.yaml:14: case 'beta lead': expected acme 70% got 50%
    (rule beta-sourced, clause 4.2(b))

The format::

    ruleset: cardiozen.yaml          # optional: the ruleset, relative to this file
    cases:
      - name: Acme named account
        deal:                        # the deal as creditrules reads it; id and currency
          date: 2026-03-02           # default to the case number and the ruleset's currency
          amount: "12000.00"
          account: {owner: acme, named: true}
        credit: {acme: 70%, beta: 30%}     # the main credit type (the first with a fixed
                                           # total); or per type: {revenue: {...},
                                           # overlay: none}
        amounts: {acme: "8400.00", beta: "3600.00"}   # optional, same shapes
        reps: {acme-ana: 35%}                         # optional: rep shares
        rules: [named-accounts]                       # optional: the deciding rules
        expenses:                                     # optional: per expense id
          E1: {covered: "200.00", excess: "50.00", parts: {acme: "100.00", beta: "100.00"}}
      - name: two rules disagree
        deal: {...}
        error: ambiguous             # the code of the error the deal must raise instead

Partners not listed under ``credit`` are expected to get nothing. Plain numbers stay exact
(``12000.50`` is read as text, never as a float).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import attrs

from creditrules.agreement._yaml import MapNode, Node, ScalarNode, SeqNode, compose
from creditrules.agreement.ruleset import Ruleset
from creditrules.allocation.results import Allocation, TypeCredit
from creditrules.base._money import MoneyError, parse_decimal, parse_share, percent_text
from creditrules.base._source_files import SourceProblem, read_source, referenced_path
from creditrules.errors import (
    AllocationError,
    CreditRulesError,
    DealError,
    Location,
    Problem,
    RulesetError,
    suggest,
)

__all__ = [
    "Case",
    "CaseResult",
    "CasesError",
    "CasesFile",
    "Expectation",
    "cases_path_for",
    "load_cases",
    "ruleset_path_for",
    "run_case",
    "run_cases",
]

_CASE_KEYS = ("name", "deal", "credit", "amounts", "reps", "rules", "expenses", "error")
_EXPENSE_KEYS = ("covered", "excess", "cap", "parts", "excess_bearer", "disallowed")
_INT = re.compile(r"^-?[0-9]+$")
_MAX_INT_DIGITS = 1000  # Python refuses int() on more than 4,300 digits


class CasesError(RulesetError):
    """A worked-examples file that cannot be read; ``problems`` are located in it."""


@attrs.frozen
class Expectation:
    """One expected value of a case, where it was written.

    ``kind``: ``share``, ``amount`` or ``rep`` (``key`` a partner or rep, ``value`` a
    Fraction or Decimal), ``rules`` (``value`` the rule ids), ``absent`` (no credit of the
    type), ``expense`` (``key`` ``"<id>.<field>"``) or ``error`` (``value`` an error code).
    ``type`` is the credit type (``None``: the ruleset's main type).
    """

    kind: str
    type: str | None
    key: str
    value: Any
    location: Location


@attrs.frozen
class Case:
    """A worked example: a deal and what the agreement should give for it."""

    name: str
    deal: Mapping[str, Any]
    expectations: tuple[Expectation, ...]
    location: Location


@attrs.frozen
class CasesFile:
    """A worked-examples file: its cases and the ruleset they are for (if it names one)."""

    path: Path
    ruleset: Path | None
    cases: tuple[Case, ...]


@attrs.frozen
class CaseResult:
    """A case run against a ruleset: ``failures`` are readable lines, ``file:line:`` first."""

    case: Case
    failures: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.failures


def cases_path_for(ruleset: str | Path) -> Path:
    """Where a ruleset's worked examples live by convention: ``<stem>-cases.yaml``."""
    path = Path(ruleset)
    return path.with_name(f"{path.stem}-cases.yaml")


def ruleset_path_for(cases: CasesFile) -> Path:
    """The ruleset of a cases file: the one it names, else ``<stem without -cases>.yaml``."""
    if cases.ruleset is not None:
        return cases.ruleset
    stem = cases.path.stem
    if stem.endswith("-cases"):
        stem = stem[: -len("-cases")]
    return cases.path.with_name(f"{stem}.yaml")


# -- reading ---------------------------------------------------------------------------------


class _Reader:
    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []

    def problem(self, message: str, loc: Location, code: str = "bad-case") -> None:
        self.problems.append(Problem(code, message, loc))

    def mapping(self, node: Node | None, what: str, loc: Location) -> MapNode | None:
        if node is None:
            return None
        if isinstance(node, MapNode):
            return node
        self.problem(f"{what} must be a mapping (key: value lines)", node.loc)
        return None

    def keys(self, node: MapNode, allowed: Sequence[str], what: str) -> None:
        for key, _ in node:
            if key.text not in allowed:
                self.problem(
                    f"unknown key {key.text!r} in {what}" + suggest(key.text, allowed),
                    key.loc,
                    "unknown-key",
                )

    def scalar(self, node: Node, what: str) -> ScalarNode | None:
        if isinstance(node, ScalarNode):
            return node
        self.problem(f"{what} must be a single value", node.loc)
        return None


def plain(node: Node | None) -> Any:
    """A composed node as JSON-like data: never a float (plain ``1.5`` stays text)."""
    if node is None:
        return None
    if isinstance(node, MapNode):
        return {k.text: plain(v) for k, v in node}
    if isinstance(node, SeqNode):
        return [plain(v) for v in node.items]
    if node.quoted:
        return node.text
    if node.is_null:
        return None
    if node.text in ("true", "false"):
        return node.text == "true"
    if _INT.match(node.text) and len(node.text) <= _MAX_INT_DIGITS:
        return int(node.text)
    # Longer digits stay text: an amount reads it as a decimal, anything else refuses it.
    return node.text


def load_cases(path: str | Path, *, allow_outside: bool = False) -> CasesFile:
    """Read a worked-examples file; raises :class:`CasesError` listing every problem.

    The file must be a regular UTF-8 file of at most 16 MB; the ruleset it names
    (``ruleset:``) must lie in its directory or below, symbolic links resolved, unless
    ``allow_outside`` is true.
    """
    path = Path(path)
    file = str(path)
    try:
        text = read_source(path, "cases")
    except SourceProblem as exc:
        raise CasesError([exc.problem]) from None
    try:
        root = compose(text, file)
    except RulesetError as exc:
        raise CasesError(exc.problems) from None
    r = _Reader(file)
    top = r.mapping(root, "a cases file", Location(file, 1, 1))
    if top is None:
        raise CasesError(
            r.problems
            or [Problem("bad-case", "a cases file must be a mapping", Location(file, 1, 1))]
        )
    r.keys(top, ("ruleset", "cases"), "a cases file")
    ruleset = None
    node = top.get("ruleset")
    if isinstance(node, ScalarNode) and not node.is_null:
        try:
            ruleset = referenced_path(
                path,
                node.text,
                path.parent,
                allow_outside=allow_outside,
                what="ruleset",
                at=node.loc,
            )
        except SourceProblem as exc:
            r.problems.append(exc.problem)
    cases = []
    items = top.get("cases")
    if not isinstance(items, SeqNode):
        r.problem("a cases file needs 'cases': a list of cases", top.loc, "missing-key")
    else:
        names: set[str] = set()
        for number, item in enumerate(items.items, start=1):
            case = _case(r, item, number)
            if case is None:
                continue
            if case.name in names:
                r.problem(f"case {case.name!r} is named twice", case.location)
            names.add(case.name)
            cases.append(case)
    if r.problems:
        raise CasesError(r.problems)
    return CasesFile(path, ruleset, tuple(cases))


def _case(r: _Reader, item: Node, number: int) -> Case | None:
    body = r.mapping(item, "a case", item.loc)
    if body is None:
        return None
    r.keys(body, _CASE_KEYS, "a case")
    name_node = body.get("name")
    name = plain(name_node) if name_node is not None else None
    name = str(name) if name is not None else f"case {number}"
    deal_node = body.get("deal")
    if not isinstance(deal_node, MapNode):
        r.problem(f"case {name!r} needs a 'deal' (a mapping)", body.loc, "missing-key")
        return None
    deal = plain(deal_node)
    deal.setdefault("id", f"case-{number}")
    expectations: list[Expectation] = []
    for key in ("credit", "amounts", "reps"):
        node = body.get(key)
        if node is not None:
            expectations += _by_type(r, node, key, name)
    rules = body.get("rules")
    if rules is not None:
        expectations += _rules(r, rules, name)
    expenses = body.get("expenses")
    if expenses is not None:
        expectations += _expenses(r, expenses, name)
    error = body.get("error")
    if error is not None:
        s = r.scalar(error, "error")
        if s is not None:
            expectations.append(Expectation("error", None, "", s.text, s.loc))
    if not expectations:
        r.problem(
            f"case {name!r} expects nothing: give 'credit', 'amounts', 'rules', "
            "'expenses' or 'error'",
            body.loc,
            "missing-key",
        )
    return Case(name, deal, tuple(expectations), body.loc)


def _value(r: _Reader, node: Node, kind: str, what: str) -> Any:
    s = r.scalar(node, what)
    if s is None:
        return None
    try:
        if kind == "amounts":
            return parse_decimal(s.text)
        return parse_share(s.text)
    except MoneyError as exc:
        r.problem(f"{what}: {exc}", s.loc, "bad-value")
        return None


_KINDS = {"credit": "share", "amounts": "amount", "reps": "rep"}


def _by_type(r: _Reader, node: Node, key: str, name: str) -> list[Expectation]:
    m = r.mapping(node, f"case {name!r} {key}", node.loc)
    if m is None:
        return []
    nested = any(
        isinstance(v, MapNode) or (isinstance(v, ScalarNode) and v.text == "none") for _, v in m
    )
    groups: list[tuple[str | None, Node]] = [(k.text, v) for k, v in m] if nested else [(None, m)]
    out = []
    for type_name, group in groups:
        if isinstance(group, ScalarNode) and group.text == "none":
            if key == "credit":
                out.append(Expectation("absent", type_name, "", None, group.loc))
            continue
        gm = r.mapping(group, f"case {name!r} {key}", group.loc)
        if gm is None:
            continue
        for k, v in gm:
            value = _value(r, v, key, f"case {name!r} {key} of {k.text}")
            if value is not None:
                out.append(Expectation(_KINDS[key], type_name, k.text, value, v.loc))
    return out


def _rules(r: _Reader, node: Node, name: str) -> list[Expectation]:
    if isinstance(node, SeqNode):
        return [Expectation("rules", None, "", tuple(str(plain(x)) for x in node.items), node.loc)]
    m = r.mapping(node, f"case {name!r} rules", node.loc)
    out = []
    for k, v in m or ():
        ids = [str(plain(x)) for x in v.items] if isinstance(v, SeqNode) else [str(plain(v))]
        out.append(Expectation("rules", k.text, "", tuple(ids), v.loc))
    return out


def _expenses(r: _Reader, node: Node, name: str) -> list[Expectation]:
    m = r.mapping(node, f"case {name!r} expenses", node.loc)
    out = []
    for k, v in m or ():
        body = r.mapping(v, f"case {name!r} expense {k.text}", v.loc)
        if body is None:
            continue
        r.keys(body, _EXPENSE_KEYS, f"case {name!r} expense {k.text}")
        for field, value in body:
            what = f"case {name!r} expense {k.text} {field.text}"
            if field.text == "parts":
                parts = r.mapping(value, what, value.loc)
                for p, amount in parts or ():
                    parsed = _value(r, amount, "amounts", f"{what} of {p.text}")
                    if parsed is not None:
                        out.append(
                            Expectation(
                                "expense", None, f"{k.text}.part.{p.text}", parsed, amount.loc
                            )
                        )
            elif field.text in ("covered", "excess", "cap"):
                s = r.scalar(value, what)
                if s is not None and s.is_null:
                    out.append(Expectation("expense", None, f"{k.text}.{field.text}", None, s.loc))
                else:
                    parsed = _value(r, value, "amounts", what)
                    if parsed is not None:
                        out.append(
                            Expectation(
                                "expense", None, f"{k.text}.{field.text}", parsed, value.loc
                            )
                        )
            elif field.text in _EXPENSE_KEYS:
                out.append(
                    Expectation("expense", None, f"{k.text}.{field.text}", plain(value), value.loc)
                )
    return out


# -- running ---------------------------------------------------------------------------------


def _main_type(ruleset: Ruleset) -> str:
    return next(
        (t.name for t in ruleset.credit_types if t.total is not None),
        ruleset.credit_types[0].name if ruleset.credit_types else "revenue",
    )


def _by(credit: TypeCredit | None) -> str:
    if credit is None or not credit.rules:
        return "no rule"
    if len(credit.rules) == 1:
        return f"rule {credit.rules[0]}, clause {credit.clauses[0]}"
    return f"rules {', '.join(credit.rules)}, clauses {', '.join(credit.clauses)}"


def _show(value: Any) -> str:
    if isinstance(value, Fraction):
        return percent_text(value)
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def run_case(ruleset: Ruleset, case: Case) -> CaseResult:
    """Run one case: each expectation that does not hold becomes a failure line."""
    deal = dict(case.deal)
    deal.setdefault("currency", ruleset.currency)

    def where(e: Expectation) -> str:
        return f"{e.location.file}:{e.location.line}: case {case.name!r}: "

    errors = [e for e in case.expectations if e.kind == "error"]
    try:
        allocation = ruleset.allocate(deal)
    except (AllocationError, DealError) as exc:
        code = getattr(exc, "code", "error")
        if errors:
            want = errors[0]
            if want.value in (code, type(exc).__name__, "error"):
                return CaseResult(case, ())
            return CaseResult(
                case, (f"{where(want)}expected error {want.value} got {code}: {exc}",)
            )
        first = case.expectations[0] if case.expectations else None
        loc = first.location if first else case.location
        return CaseResult(case, (f"{loc.file}:{loc.line}: case {case.name!r}: {exc}",))
    except CreditRulesError as exc:
        return CaseResult(case, (f"{case.location}: case {case.name!r}: {exc}",))
    failures: list[str] = []
    if errors:
        failures.append(
            f"{where(errors[0])}expected error {errors[0].value}, but the deal is "
            f"allocated ({_by(allocation.credit(_main_type(ruleset)))})"
        )
    main = _main_type(ruleset)
    checked: set[tuple[str, str]] = set()
    for e in case.expectations:
        type_name = e.type or main
        credit = allocation.credit(type_name)
        failures += _check(ruleset, allocation, e, type_name, credit, where(e))
        if e.kind == "share":
            checked.add((type_name, e.key))
    # Partners the author did not list are expected to get nothing.
    for type_name in {t for t, _ in checked}:
        credit = allocation.credit(type_name)
        for p in credit.partners if credit else ():
            if (type_name, p.partner) not in checked and p.share:
                first = next(
                    e
                    for e in case.expectations
                    if e.kind == "share" and (e.type or main) == type_name
                )
                label = "" if type_name == main else f" of {type_name}"
                failures.append(
                    f"{where(first)}expected {p.partner} 0%{label} got "
                    f"{percent_text(p.share)} ({_by(credit)})"
                )
    return CaseResult(case, tuple(failures))


def _check(
    ruleset: Ruleset,
    allocation: Allocation,
    e: Expectation,
    type_name: str,
    credit: TypeCredit | None,
    where: str,
) -> Iterator[str]:
    label = "" if e.type is None else f" of {type_name}"
    if e.kind == "absent":
        if credit is not None:
            yield f"{where}expected no {type_name} credit got {credit.amount} ({_by(credit)})"
    elif e.kind == "share":
        got = credit.share(e.key) if credit else Fraction(0)
        if got != e.value:
            yield (
                f"{where}expected {e.key} {percent_text(e.value)}{label} got "
                f"{percent_text(got)} ({_by(credit)})"
            )
    elif e.kind == "amount":
        amount = credit.amount_of(e.key) if credit else Decimal(0)
        if amount != e.value:
            yield f"{where}expected {e.key} {e.value}{label} got {amount} ({_by(credit)})"
    elif e.kind == "rep":
        reps = {r.rep: r.share for p in (credit.partners if credit else ()) for r in p.reps}
        got = reps.get(e.key, Fraction(0))
        if got != e.value:
            yield (
                f"{where}expected rep {e.key} {percent_text(e.value)}{label} got "
                f"{percent_text(got)} ({_by(credit)})"
            )
    elif e.kind == "rules":
        got_rules = tuple(credit.rules) if credit else ()
        if sorted(got_rules) != sorted(e.value):
            yield (
                f"{where}expected {type_name} credit by {', '.join(e.value)} got "
                f"{', '.join(got_rules) or 'no rule'}"
                + (f" (clause {', '.join(credit.clauses)})" if credit else "")
            )
    elif e.kind == "expense":
        expense_id, _, field = e.key.partition(".")
        share = next((x for x in allocation.expenses if x.expense == expense_id), None)
        if share is None:
            yield f"{where}expected expense {expense_id}, but the deal has no such expense"
            return
        if field.startswith("part."):
            got_value: Any = share.part(field[len("part.") :])
        else:
            got_value = getattr(share, field)
        expected = e.value
        if field == "disallowed" and isinstance(expected, str):
            expected = expected == "true"
        if isinstance(got_value, Decimal) and isinstance(expected, Decimal):
            same = got_value == expected
        else:
            same = _show(got_value) == _show(expected)
        if not same:
            name = field.replace("part.", "") + ("'s part" if field.startswith("part.") else "")
            yield (
                f"{where}expense {expense_id}: expected {name} {_show(expected)} got "
                f"{_show(got_value)} (rule {share.rule}, clause {share.clause}; policy "
                f"{share.policy.rule}, clause {share.policy.clause})"
            )


def run_cases(ruleset: Ruleset, cases: CasesFile) -> list[CaseResult]:
    """Run every case of a file against a ruleset."""
    return [run_case(ruleset, case) for case in cases.cases]
