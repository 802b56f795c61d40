"""The analysis against brute force: on generated small rulesets, "no gap found" (and "no
ambiguity found") agrees with allocating one deal from every rank class of every field,
and every witness the analysis reports reproduces through allocate on each engine. Dead
alternatives, unused overrides and negations of optional fields agree with evaluating the
conditions on those deals."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

import creditrules
from creditrules.analysis import Analysis, reproduce
from creditrules.conditions._ast import And, Compare, Expr, Facts, Field, InList, Not, Or
from creditrules.conditions._eval import evaluate
from creditrules.engine import _durable

_HEADER = """\
ruleset: generated
version: "1"
effective: {from: 2026-01-01, to: 2026-12-31}
currency: USD
partners:
  acme: {name: Acme}
  beta: {name: Beta}
attributes:
  units: number
  tier: text
credit_types:
  revenue: {total: 100%}
credit:
"""

_units = st.builds(
    lambda op, n: f"attributes.units {op} {n}",
    st.sampled_from(["<", "<=", ">", ">=", "==", "!="]),
    st.integers(0, 4),
)
_tier = st.one_of(
    st.builds(
        lambda op, t: f'attributes.tier {op} "{t}"',
        st.sampled_from(["==", "!="]),
        st.sampled_from(["a", "b"]),
    ),
    st.just('attributes.tier in ["a", "b"]'),
)
# A negated ordered comparison holds of a deal without units, as != does.
_not_ordered = st.builds(
    lambda op, n: f"not (attributes.units {op} {n})",
    st.sampled_from(["<", "<=", ">", ">="]),
    st.integers(0, 4),
)
_atom = st.one_of(
    _units, _tier, _not_ordered, st.just("account.named"), st.just("not account.named")
)
_conjunction = st.lists(_atom, min_size=1, max_size=2).map(" and ".join)
# Now and then two alternatives, one of which may never hold ("units > 3 and units < 1"),
# or never beside the rest ("tier == "a" and (units > 1 or tier == "b")"); at the top, in
# a conjunction, or under one or two "not".
_condition = st.one_of(
    _conjunction,
    st.builds(lambda a, b: f"{a} or ({b})", _conjunction, _conjunction),
    st.builds(lambda a, b, c: f"{a} and ({b} or ({c}))", _atom, _conjunction, _conjunction),
    st.builds(lambda a, b, c: f"{a} and not ({b} or {c})", _atom, _atom, _atom),
    st.builds(
        lambda a, b, c, d: f"{a} and not ({b} and not ({c} or ({d})))",
        _atom, _atom, _conjunction, _conjunction,
    ),
)
_split = st.sampled_from(["{acme: 50%, beta: 50%}", "{acme: 70%, beta: 30%}"])


@st.composite
def rulesets(draw: st.DrawFn) -> str:
    n = draw(st.integers(1, 4))
    lines = []
    for i in range(n):
        lines.append(
            f'  - id: r{i}\n    clause: "{i + 1}"\n'
            f"    when: {draw(_condition)}\n    split: {draw(_split)}\n"
        )
        if i and draw(st.booleans()):
            lines.append(f"    overrides: [r{i - 1}]\n")
    if draw(st.integers(0, 4)) == 0:
        lines.append(
            '  - id: standard\n    clause: "9"\n    default: true\n'
            "    split: {acme: 50%, beta: 50%}\n"
        )
    return _HEADER + "".join(lines)


def _every_class(text: str) -> list[dict[str, Any]]:
    """One deal per combination of field classes: each units literal, one below and one
    above it, half way between neighbours, and none; each tier literal, another, none."""
    numbers = sorted({Decimal(n) for n in range(0, 5) if f" {n}" in text})
    units: set[Decimal | None] = {None}
    for n in numbers:
        units |= {n - 1, n, n + 1}
    units |= {(a + b) / 2 for a, b in itertools.pairwise(numbers)}
    deals = []
    for u, tier, named in itertools.product(
        sorted(units, key=str), [None, "a", "b", "z"], [False, True]
    ):
        attributes = {
            k: v
            for k, v in (("units", None if u is None else str(u)), ("tier", tier))
            if v is not None
        }
        deals.append(
            {
                "id": "E",
                "date": "2026-03-01",
                "amount": "100.00",
                "currency": "USD",
                "account": {"named": named},
                "attributes": attributes,
            }
        )
    return deals


@given(rulesets())
def test_no_gap_found_agrees_with_enumeration(text: str) -> None:
    ruleset = creditrules.loads(text, source="generated.yaml", engine="reference")
    analysis = creditrules.analyse(ruleset)
    assert not analysis.unknowns, [f.text() for f in analysis.unknowns]
    gaps = [f for f in analysis if f.code == "gap"]
    overlaps = [f for f in analysis if f.code == "ambiguity"]
    undecided, ambiguous = [], []
    for deal in _every_class(text):
        try:
            ruleset.allocate(deal)
        except creditrules.NoApplicableRuleError:
            undecided.append(deal)
        except creditrules.AmbiguityError:
            ambiguous.append(deal)
    assert bool(gaps) == bool(undecided), (text, undecided[:1])
    assert bool(overlaps) == bool(ambiguous), (text, ambiguous[:1])
    facts = [_credit_facts(deal) for deal in _every_class(text)]
    _agree_on_conditions(ruleset.rules, analysis, facts, text)
    for engine in ["durable", "reference"] if _durable.available() else ["reference"]:
        on_engine = creditrules.loads(text, source="generated.yaml", engine=engine)
        for finding in analysis:
            assert reproduce(on_engine, finding) is None, (text, finding.text())


def _credit_facts(deal: dict[str, Any]) -> tuple[Facts, frozenset[str]]:
    """What a generated deal's conditions read, and which of those fields it lacks."""
    attributes = deal["attributes"]
    units = attributes.get("units")
    scalars = {
        ("attributes", "units"): None if units is None else Decimal(units),
        ("attributes", "tier"): attributes.get("tier"),
        ("account", "named"): deal["account"]["named"],
    }
    missing = frozenset(".".join(k) for k, v in scalars.items() if v is None)
    return Facts(scalars, {}), missing


def _in_context(
    expr: Expr, positive: bool = True, context: tuple[tuple[Expr, bool], ...] = ()
) -> list[tuple[Expr, tuple[tuple[Expr, bool], ...], Expr]]:
    """Each alternative of each "or" acting as a disjunction (under an even number of
    "not"), with the parts (and their polarity) that must hold beside it, and the node it
    is an alternative of. Written again from the language's meaning, not from the
    analysis."""
    if isinstance(expr, Not):
        return _in_context(expr.part, not positive, context)
    if isinstance(expr, And | Or):
        parts = _flat(expr, type(expr))
        if isinstance(expr, And) == positive:  # a conjunction
            return [
                found
                for i, part in enumerate(parts)
                for found in _in_context(
                    part, positive,
                    (*context, *((p, positive) for k, p in enumerate(parts) if k != i)),
                )
            ]
        out = []
        for part in parts:
            if isinstance(expr, Or):
                out.append((part, context, expr))
            out += _in_context(part, positive, context)
        return out
    return []


def _inside(node: Expr, outer: Expr) -> bool:
    """Whether ``node`` is ``outer`` or one of its parts, at any depth."""
    if node is outer:
        return True
    parts = outer.parts if isinstance(outer, And | Or) else (
        (outer.part,) if isinstance(outer, Not) else ())
    return any(_inside(node, p) for p in parts)


def _flat(expr: Expr, kind: type) -> list[Expr]:
    return [a for p in expr.parts for a in _flat(p, kind)] if isinstance(expr, kind) else [expr]


def _negated_fields(expr: Expr, negated: bool = False) -> set[str]:
    """The fields a condition asks to differ, after pushing "not" inwards: != (or == under
    a "not"), and <, <=, >, >= under a "not"."""
    if isinstance(expr, Compare) and isinstance(expr.left, Field):
        name = ".".join(expr.left.path)
        if expr.op in ("==", "!=") and (expr.op == "!=") != negated:
            return {name}
        return {name} if negated and expr.op not in ("==", "!=") else set()
    if isinstance(expr, InList):
        return {".".join(expr.subject.path)} if expr.negated != negated else set()
    if isinstance(expr, Not):
        return _negated_fields(expr.part, not negated)
    if isinstance(expr, And | Or):
        return set().union(*(_negated_fields(p, negated) for p in expr.parts))
    return set()


def _agree_on_conditions(
    rules: Iterable[Any], analysis: Analysis, facts: list[tuple[Facts, frozenset[str]]],
    text: str,
) -> None:
    """Dead alternatives, unused overrides and negated optional fields, each exactly where
    the conditions evaluated on every class of deal say."""
    findings = [*analysis, *analysis.acknowledged]
    by_id = {r.id: r for r in rules}

    def holds(expr: Expr | None, missing: str | None = None) -> bool:
        return any(
            expr is None or evaluate(expr, f)
            for f, lacks in facts
            if missing is None or missing in lacks
        )

    for rule in by_id.values():
        if rule.when is None or not holds(rule.when):
            continue  # a dead rule is its own finding
        dead = {f.message for f in findings
                if f.code == "dead-alternative" and f.rules == (rule.id,)}
        # An alternative no deal meets together with what must hold beside it; not one
        # inside an alternative so reported.
        expected: set[str] = set()
        dead_nodes: list[Expr] = []
        for alt, context, _ in _in_context(rule.when):
            if any(_inside(alt, d) for d in dead_nodes):
                continue
            if not any(
                evaluate(alt, f) and all(evaluate(e, f) == pos for e, pos in context)
                for f, _ in facts
            ):
                expected.add(alt.text)
                dead_nodes.append(alt)
        assert {t for t in expected if any(f"({t})" in m for m in dead)} == expected, (
            text, rule.id, dead)
        assert len(dead) == len(expected), (text, rule.id, dead, expected)
        for target in rule.overrides:
            other = by_id[target]
            both = any(
                evaluate(rule.when, f) and (other.when is None or evaluate(other.when, f))
                for f, _ in facts
            )
            unused = any(f.code == "override-unused" and f.rules == (rule.id, target)
                         for f in findings)
            assert unused == (not both), (text, rule.id, target)
        negated = _negated_fields(rule.when)
        for field in negated:
            reported = any(
                f.code == "negated-optional" and f.rules == (rule.id,)
                and f"without {field}:" in f.message
                for f in findings
            )
            assert reported == holds(rule.when, field), (text, rule.id, field)
        assert not any(
            f.code == "negated-optional" and f.rules == (rule.id,)
            and not any(f"without {n}:" in f.message for n in negated)
            for f in findings
        ), (text, rule.id)


_EXPENSE_HEADER = """\
ruleset: generated-expenses
version: "1"
effective: {from: 2026-01-01, to: 2026-12-31}
currency: USD
partners:
  acme: {name: Acme}
  beta: {name: Beta}
credit_types:
  revenue: {total: 100%}
credit:
  - id: standard
    clause: "4.1"
    default: true
    split: {acme: 50%, beta: 50%}
policies:
  acme:
    entertainment:
      caps: {meal: "150.00", event: "400.00"}
      categories:
        hcp: {meal: "100.00"}
  beta:
    entertainment:
      caps: {meal: "125.00", event: "300.00"}
policy_precedence:
"""

# Whose policy governs: the stricter; the account owner's (an expense on a deal without
# an owner is then refused before any sharing rule is asked); or the owner's, and the
# payer's where the account has no owner.
_POLICIES = [
    '  - {id: stricter, clause: "7.1", topic: entertainment, default: true, '
    "governs: stricter}\n",
    '  - {id: owner, clause: "7.1", topic: entertainment, default: true, '
    "governs: account_owner}\n",
    '  - {id: owner, clause: "7.1", topic: entertainment, default: true, '
    "governs: account_owner}\n"
    '  - {id: unowned, clause: "7.2", topic: entertainment, overrides: [owner], '
    """when: 'account.owner not in ["acme", "beta"]', governs: payer}\n""",
]

_expense_atom = st.one_of(
    st.builds(
        lambda op, k: f'expense.kind {op} "{k}"',
        st.sampled_from(["==", "!="]),
        st.sampled_from(["meal", "event"]),
    ),
    st.builds(
        lambda op, n: f"expense.amount {op} {n}",
        st.sampled_from(["<", "<=", ">", ">=", "=="]),
        st.sampled_from([100, 200]),
    ),
    st.builds(
        lambda op, n: f"expense.attendees {op} {n}",
        st.sampled_from(["<", ">=", "=="]),
        st.integers(1, 3),
    ),
    st.builds(
        lambda op, n: f'count(attendees, category == "hcp") {op} {n}',
        st.sampled_from(["<", ">=", "=="]),
        st.integers(0, 2),
    ),
)
# The expense's date may be missing: "!=" then holds.
_expense_date = st.one_of(
    st.builds(lambda op: f"expense.date {op} 2026-03-15", st.sampled_from(["!=", "=="])),
    # So does a negated ordered comparison.
    st.builds(
        lambda op: f"not (expense.date {op} 2026-03-15)", st.sampled_from(["<", ">="])
    ),
)
_expense_conjunction = st.lists(
    st.one_of(_expense_atom, _expense_date), min_size=1, max_size=2
).map(" and ".join)
_expense_condition = st.one_of(
    _expense_conjunction,
    st.builds(lambda a, b: f"{a} or ({b})", _expense_conjunction, _expense_conjunction),
    st.builds(
        lambda a, b, c: f"{a} and ({b} or ({c}))",
        st.one_of(_expense_atom, _expense_date), _expense_conjunction, _expense_conjunction,
    ),
    st.builds(
        lambda a, b, c: f"{a} and not ({b} and not ({c}))",
        _expense_atom, _expense_atom,
        st.builds(lambda x, y: f"{x} or {y}", _expense_conjunction, _expense_conjunction),
    ),
)
_expense_share = st.sampled_from(["equal", "payer", "{acme: 70%, beta: 30%}"])


@st.composite
def expense_rulesets(draw: st.DrawFn) -> str:
    n = draw(st.integers(1, 3))
    lines = []
    for i in range(n):
        condition = draw(_expense_condition)
        lines.append(
            f'  - id: e{i}\n    clause: "8.{i + 1}"\n'
            f"    when: '{condition}'\n    share: {draw(_expense_share)}\n"
        )
        if i and draw(st.booleans()):
            lines.append(f"    overrides: [e{i - 1}]\n")
    if draw(st.integers(0, 4)) == 0:
        lines.append('  - id: shared\n    clause: "8.9"\n    default: true\n    share: equal\n')
    policies = draw(st.sampled_from(_POLICIES))
    return _EXPENSE_HEADER + policies + "expense_sharing:\n" + "".join(lines)


def _every_expense(text: str = "") -> list[dict[str, Any]]:
    """One deal per combination of expense classes: each kind and another, each amount
    literal one unit below, at and above (and nothing), one to five attendees with none to
    all of them healthcare professionals; where conditions read the expense's date, none,
    the date they name, the day before and the day after."""
    deals = []
    amounts = ["0.00", "99.00", "100.00", "101.00", "199.00", "200.00", "201.00"]
    dates = [None, "2026-03-14", "2026-03-15", "2026-03-16"] if "expense.date" in text else [None]
    for kind, amount, n, owner, day in itertools.product(
        ["meal", "event", "other"], amounts, range(1, 6), [None, "beta"], dates
    ):
        for hcp in range(n + 1):
            attendees = [{"category": "hcp"}] * hcp + [{}] * (n - hcp)
            expense = {"id": "E1", "kind": kind, "amount": amount, "paid_by": "acme",
                       "attendees": attendees}
            if day is not None:
                expense["date"] = day
            deal = {"id": "E", "date": "2026-03-01", "amount": "100.00", "currency": "USD",
                    "expenses": [expense]}
            if owner is not None:
                deal["account"] = {"owner": owner}
            deals.append(deal)
    return deals


def _expense_facts(deal: dict[str, Any]) -> tuple[Facts, frozenset[str]]:
    """What a generated expense's sharing conditions read, and which fields it lacks."""
    [expense] = deal["expenses"]
    day = expense.get("date")
    scalars = {
        ("expense", "id"): expense["id"],
        ("expense", "kind"): expense["kind"],
        ("expense", "amount"): Decimal(expense["amount"]),
        ("expense", "paid_by"): expense["paid_by"],
        ("expense", "attendees"): Decimal(len(expense["attendees"])),
        ("expense", "date"): None if day is None else dt.date.fromisoformat(day),
        ("expense", "preapproved"): False,
    }
    items = tuple({("category",): a.get("category")} for a in expense["attendees"])
    missing = frozenset(".".join(k) for k, v in scalars.items() if v is None)
    return Facts(scalars, {"attendees": items}), missing


@given(expense_rulesets())
def test_expense_sharing_findings_agree_with_enumeration(text: str) -> None:
    """The same for expense sharing: an expense no sharing rule decides (or two decide,
    disagreeing) exists among the enumerated ones exactly when the analysis says so; and a
    sharing rule is reported dead (always overridden) exactly when no enumerated expense
    meets its condition (none is decided by it)."""
    ruleset = creditrules.loads(text, source="generated.yaml", engine="reference")
    analysis = creditrules.analyse(ruleset)
    assert not analysis.unknowns, [f.text() for f in analysis.unknowns]
    gaps = [f for f in analysis if f.code == "gap"]
    overlaps = [f for f in analysis if f.code == "ambiguity"]
    undecided, ambiguous, refused = [], [], []
    seen: dict[str, set[str]] = {r.id: set() for r in ruleset.expense_rules}
    deals = _every_expense(text)
    for deal in deals:
        try:
            allocation = ruleset.allocate(deal)
        except creditrules.NoApplicableRuleError:
            undecided.append(deal)
        except creditrules.AmbiguityError:
            ambiguous.append(deal)
        except creditrules.AllocationError as exc:
            refused.append(str(exc))
        else:
            for v in allocation.verdicts:
                if v.type == "expense:E1":
                    seen[v.rule].add(v.status)
    # No owner where the owner's policy governs: no policy, so no sharing asked.
    assert all("names no account owner" in r for r in refused), refused[:1]
    assert bool(gaps) == bool(undecided), (text, undecided[:1])
    assert bool(overlaps) == bool(ambiguous), (text, ambiguous[:1])
    dead = {f.rules[0] for f in analysis if f.code == "dead-condition"}
    overridden = {f.rules[0] for f in analysis if f.code == "always-overridden"}
    for rule_id, statuses in seen.items():
        met = bool(statuses & {"applied", "overridden"})
        # Sound whatever else is wrong: a reported rule is never shown to decide.
        assert not (rule_id in dead and met), (text, rule_id)
        assert not (rule_id in overridden and "applied" in statuses), (text, rule_id)
        if not undecided and not ambiguous:
            # Every enumerated expense was shared: the enumeration shows every class.
            assert (rule_id in dead) == (not met), (text, rule_id, statuses)
            assert (rule_id in overridden) == (met and "applied" not in statuses), (
                text, rule_id, statuses)
    facts = [_expense_facts(d) for d in deals if "account" not in d]
    _agree_on_conditions(ruleset.expense_rules, analysis, facts, text)
    for engine in ["durable", "reference"] if _durable.available() else ["reference"]:
        on_engine = creditrules.loads(text, source="generated.yaml", engine=engine)
        for finding in analysis:
            assert reproduce(on_engine, finding) is None, (text, finding.text())
