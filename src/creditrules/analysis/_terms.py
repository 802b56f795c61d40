"""Pure helpers of the decided analysis (:mod:`creditrules.analysis._checks`): the
stretches of the term, cheap disjointness, outcomes compared, what a condition reads, and
findings that need no solver (rule versions that leave days between them)."""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
from collections.abc import Iterator, Sequence
from collections.abc import Set as AbstractSet
from typing import Any

from creditrules.agreement.policy import ExpenseRule, PolicyRule
from creditrules.agreement.ruleset import CreditRule, Overlay, Ruleset, Split
from creditrules.allocation._outcomes import same_shares
from creditrules.analysis._findings import Finding
from creditrules.analysis._space import Space
from creditrules.conditions import _conditions
from creditrules.conditions._ast import And, Compare, Count, Expr, Field, InList, Not, Or
from creditrules.engine._feature_encoding import _In, _Junction, _Node

Rule = CreditRule | PolicyRule | ExpenseRule


def _segments(ruleset: Ruleset, space: Space) -> list[tuple[dt.date, dt.date | None]]:
    """The term cut where what is in force, or the date's class, changes."""
    points: set[dt.date] = set()

    def add(day: dt.date | None, after: bool = False) -> None:
        if day is None:
            return
        with contextlib.suppress(OverflowError):
            points.add(day + dt.timedelta(days=1) if after else day)

    for rule in ruleset.rules:
        add(rule.effective.start)
        add(rule.effective.end, after=True)
    for plist in ruleset.precedence:
        add(plist.effective.start)
        add(plist.effective.end, after=True)
    if space.day_feature is not None:
        for lit in space.features[space.day_feature].literals:
            if isinstance(lit, dt.date):
                add(lit)
                add(lit, after=True)
    start, end = ruleset.effective.start, ruleset.effective.end
    if start is None:
        start = min(points, default=dt.date(2000, 1, 1))
    cuts = sorted(p for p in points if p > start and (end is None or p <= end))
    bounds = [start, *cuts]
    out: list[tuple[dt.date, dt.date | None]] = []
    for i, first in enumerate(bounds):
        last = bounds[i + 1] - dt.timedelta(days=1) if i + 1 < len(bounds) else end
        out.append((first, last))
    return out


def _box(node: _Node) -> dict[int, AbstractSet[int]] | None:
    """A cheap over-approximation of a condition: per feature, the values it allows
    (None: the condition is false)."""
    if node is False:
        return None
    if isinstance(node, _In):
        return {node.feature: node.values}
    if isinstance(node, _Junction) and node.conjunction:
        out: dict[int, AbstractSet[int]] = {}
        for part in node.parts:
            if isinstance(part, _In):
                out[part.feature] = out.get(part.feature, part.values) & part.values
        return out
    return {}


def _disjoint(
    a: dict[int, AbstractSet[int]] | None, b: dict[int, AbstractSet[int]] | None
) -> bool:
    if a is None or b is None:
        return True
    return any(not (a[f] & b[f]) for f in a.keys() & b.keys())


def _same_outcome(a: Rule, b: Rule) -> bool:
    if isinstance(a, ExpenseRule) or isinstance(b, ExpenseRule):
        # As the engine compares two prevailing sharing rules.
        return (
            isinstance(a, ExpenseRule)
            and isinstance(b, ExpenseRule)
            and (a.method, dict(a.shares), a.excess) == (b.method, dict(b.shares), b.excess)
        )
    if isinstance(a, PolicyRule) or isinstance(b, PolicyRule):
        return (getattr(a, "governs", None), getattr(a, "partner", None)) == (
            getattr(b, "governs", None),
            getattr(b, "partner", None),
        )
    if isinstance(a.outcome, Split | Overlay) and isinstance(b.outcome, Split | Overlay):
        return same_shares(a.outcome.shares, b.outcome.shares)
    return a.outcome == b.outcome


def _span(first: dt.date, last: dt.date | None, term: tuple[dt.date | None, dt.date | None]) -> str:
    if (first, last) == term or (term[0] is None and last == term[1]):
        return ""
    if last == first:
        return f" on {first}"
    return f" from {first} to {last or 'the end of the term'}"


def _source_key(origin: Field | Count) -> str:
    return origin.collection if isinstance(origin, Count) else ".".join(origin.path)


def _reads(expr: Expr) -> set[str]:
    """What a condition reads, as deal keys: ``amount``, ``account.owner``, ``activities``."""
    out = {".".join(p) for p in _conditions.field_paths(expr)}
    for left, _, right in _conditions.comparisons(expr):
        out.update(side.collection for side in (left, right) if isinstance(side, Count))
    return out


_ORDERED = ("<", "<=", ">", ">=")


def _negated_fields(
    expr: Expr, negated: bool, partners: frozenset[str] = frozenset()
) -> Iterator[tuple[Field, Compare | None]]:
    """Deal fields a condition asks to differ (after pushing ``not`` inwards): compared
    by != or not in, each with None; or compared by <, <=, > or >= under a ``not``, each
    with its comparison. Either holds of a deal without the field (a missing value is !=
    to everything and fails every ordered comparison)."""
    if isinstance(expr, Compare) and isinstance(expr.left, Field):
        # (An ordered comparison has a literal on its right.)
        if (expr.op == "!=") != negated and expr.op in ("==", "!="):
            yield expr.left, None
        elif negated and expr.op in _ORDERED:
            yield expr.left, expr
    elif isinstance(expr, InList):
        # "not in [every partner]" says "no partner" on purpose: nothing to warn about.
        if expr.negated != negated and not (
            partners and {o.value for o in expr.options} >= partners
        ):
            yield expr.subject, None
    elif isinstance(expr, Not):
        yield from _negated_fields(expr.part, not negated, partners)
    elif isinstance(expr, And | Or):
        for part in expr.parts:
            yield from _negated_fields(part, negated, partners)


def _rank_text(literals: Sequence[Any], cls: int) -> str:
    if cls % 2 == 1:
        return f"= {literals[cls // 2]}"
    i = cls // 2
    if i == 0:
        return f"< {literals[0]}"
    if i == len(literals):
        return f"> {literals[-1]}"
    return f"between {literals[i - 1]} and {literals[i]}"


def window_gaps(ruleset: Ruleset) -> list[Finding]:
    """Rules replaced by an amendment that leave days between their versions."""
    out = []
    by_id: dict[str, list[CreditRule]] = {}
    for rule in ruleset.rules:
        by_id.setdefault(rule.id, []).append(rule)
    for rid, versions in sorted(by_id.items()):
        versions.sort(key=lambda r: r.effective.start or dt.date.min)
        for prev, nxt in itertools.pairwise(versions):
            end, start = prev.effective.end, nxt.effective.start
            if end is not None and start is not None and start > end + dt.timedelta(days=1):
                out.append(
                    Finding(
                        "window-gap",
                        "warning",
                        f"rule {rid} is in force to {end} "
                        f"(version {prev.version}) and again from {start} (version "
                        f"{nxt.version}): not"
                        + _span(
                            end + dt.timedelta(days=1),
                            start - dt.timedelta(days=1),
                            (None, None),
                        ),
                        nxt.location,
                        nxt.clause,
                        fix="make the amendment take effect the day after the earlier version ends",
                        rules=(rid,),
                    )
                )
    return out
