"""The decided part of the analysis: gaps, ambiguity, dead and shadowed rules, overrides
that never matter, alternatives that never hold, negations of optional fields, dated gaps
(of credit, policy precedence and expense sharing rules).

The term is cut into segments on which nothing changes (the rules and precedence lists in
force, the class of the deal date among the dates conditions compare with); on each, every
question is a satisfiability question over the rank-class space
(:mod:`creditrules.analysis._space`). A model becomes a witness deal, which must then make
``Ruleset.allocate`` show the finding; a model it does not confirm is excluded and the
solver asked again, a few times, before the finding is reported as ``unknown``.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from decimal import Decimal
from typing import Any

import attrs

from creditrules.agreement.policy import ENTERTAINMENT, ExpenseRule
from creditrules.agreement.ruleset import CreditRule, Ruleset
from creditrules.allocation._precedence import Precedence
from creditrules.allocation._reading import MAX_ATTENDEES
from creditrules.analysis import _solver
from creditrules.analysis._findings import Finding, _check
from creditrules.analysis._space import WITNESS_EXPENSE, Space, _rank_of, _uses
from creditrules.analysis._terms import (
    Rule,
    _box,
    _disjoint,
    _negated_fields,
    _rank_text,
    _reads,
    _same_outcome,
    _segments,
    _source_key,
    _span,
    window_gaps,
)
from creditrules.conditions import _conditions
from creditrules.conditions._ast import And, Compare, Count, Expr, Field, Literal, Not, Or
from creditrules.engine._feature_encoding import _canon_value, _In, _shape
from creditrules.errors import Location

__all__ = ["decide"]

_GAP_FIX = (
    "add a rule (or a default) for these deals, or widen a neighbouring condition to "
    "include them (check each boundary: < against <=)"
)
_EXPENSE_GAP_FIX = (
    "add an expense sharing rule (or a default) for these expenses, or widen a neighbouring "
    "condition to include them (check each boundary: < against <=)"
)
_RETRIES = 4
# Distinct gaps reported per credit type (or topic) and stretch of the term.
_MAX_GAPS = 6


# The label of the expense sharing group (no credit type or topic is spelt so).
_EXPENSES = "expense:sharing"


def decide(ruleset: Ruleset) -> list[Finding]:
    """Every decided finding about ``ruleset`` (see the module doc)."""
    found = _Decider(ruleset).run()
    if any(r.topic == ENTERTAINMENT for r in ruleset.policy_rules):
        # Its own space (the expense's fields and attendees besides the deal's), so that the
        # questions about credit and policies are asked exactly as without expenses.
        found += _Decider(ruleset, expenses=True).run_expenses()
    return found


@attrs.frozen
class _Group:
    """Rules that compete: one credit type, or the precedence rules of one policy topic."""

    label: str  # as in RuleVerdict.type: the credit type's name, or "policy:<topic>"
    name: str
    required: bool
    policy: bool
    expense: bool = False  # expense sharing: each witness carries an expense


@attrs.frozen
class _Result:
    sat: bool
    deal: dict[str, Any] | None = None
    values: tuple[int, ...] = ()
    why: str | None = None  # set when undecided or unconfirmed


class _Decider:
    def __init__(self, ruleset: Ruleset, *, expenses: bool = False) -> None:
        self.rs = ruleset
        conditions = {r.key: r.when for r in ruleset.rules if r.when is not None}
        conditions.update({r.key: r.when for r in ruleset.policy_rules if r.when is not None})
        if expenses:
            conditions.update(
                {r.key: r.when for r in ruleset.expense_rules if r.when is not None}
            )
        self.space = Space(ruleset, conditions, expenses=expenses)
        self.solver = _solver.Solver(self.space.background)
        self.vars = self.space.variables()
        self.segments = _segments(ruleset, self.space)
        self.term = (self.segments[0][0], ruleset.effective.end)
        self.findings: list[Finding] = []
        self.seen: set[tuple[Any, ...]] = set()
        self.boxes = {k: _box(n) for k, n in self.space.nodes.items()}
        self.pending: dict[str, tuple[str, list[_solver.Formula], dt.date]] = {}
        self.first: dict[str, tuple[str, list[_solver.Formula], dt.date]] = {}
        # The first day of each stretch of the term on which a rule is in force.
        self.days: dict[str, list[dt.date]] = {}
        self.gaps: dict[tuple[Any, ...], tuple[Finding, dt.date, dt.date | None]] = {}
        self.entertainment = bool(ruleset.expense_rules) or any(
            ENTERTAINMENT in t for t in ruleset.policies.values()
        )

    # -- helpers -----------------------------------------------------------------------
    def cond(self, rule: Rule) -> _solver.Formula | None:
        if rule.when is None:
            return _solver.true()
        if rule.key in self.space.unsupported:
            return None
        return self.space.formula(rule.key)

    def day_class(self, day: dt.date) -> int | None:
        f = self.space.day_feature
        return None if f is None else _rank_of(self.space.features[f].literals, day)

    def once(self, *key: Any) -> bool:
        if key in self.seen:
            return False
        self.seen.add(key)
        return True

    def unknown(self, group: _Group, rule: Rule, what: str) -> None:
        if self.once("unknown", group.label, rule.key):
            reason = self.space.unsupported.get(rule.key, "")
            self.findings.append(
                Finding(
                    "undecided",
                    "unknown",
                    f"{what} of {group.name} not decided for rule {rule.id}",
                    rule.location,
                    rule.clause,
                    reason=reason,
                    rules=(rule.id,),
                    fix="rewrite the condition within the decided language (see the findings "
                    "reference), or check these deals with worked examples",
                )
            )

    def solve(
        self,
        formulas: Sequence[_solver.Formula],
        day: dt.date,
        expect: tuple[str, ...] | None,
        *,
        expense: bool = False,
        protect: Sequence[Rule] | None = (),
    ) -> _Result:
        """A model of ``formulas`` whose deal ``allocate`` confirms (``expect``: as in
        analysis._check; None: any model)."""
        blocks: list[_solver.Formula] = []
        why = None
        for _ in range(_RETRIES + 1):
            with self.solver.assuming(*formulas, *self.space.on_day(day), *blocks):
                found = self.solver.solve(self.vars)
            if found is None:
                return _Result(
                    bool(blocks),
                    why=None
                    if why is None
                    else f"the engine did not reproduce the witness ({why})",
                )
            if isinstance(found, str):
                return _Result(True, why=f"the solver could not decide: {found}")
            if expense:
                found = self.fewest(found, [*formulas, *self.space.on_day(day), *blocks])
            deal = self.space.deal(found, day, expense=expense)
            if expect is None:
                return _Result(True, deal, tuple(found))
            why = _check(self.rs, deal, expect)
            if why is None:
                if protect is not None:
                    deal = self.shrink(
                        deal,
                        expect,
                        {
                            part
                            for rule in protect
                            if rule.when is not None
                            for part in _reads(rule.when)
                        },
                    )
                return _Result(True, deal, tuple(found))
            blocks.append(self.solver.block(self.vars, found))
        return _Result(True, why=f"the engine did not reproduce the witness ({why})")

    def fewest(self, found: list[int], formulas: Sequence[_solver.Formula]) -> list[int]:
        """The model of a sale where there is one, with the fewest attendees of each
        category, the most specific first (so a witness has plain attendees but where a
        category matters): a solver's model is any model, and which one can depend on the
        questions asked before."""
        amount = next(
            (
                i
                for i, o in enumerate(self.space.origins)
                if isinstance(o, Field) and o.path == ("amount",) and self.space.reps[i]
            ),
            None,
        )
        if amount is not None:
            # A sale, where one shows it: a credit note carries no expenses in practice.
            reps = self.space.reps[amount]
            sales = [c for c, v in reps.items() if isinstance(v, Decimal) and v > 0]
            with self.solver.assuming(*formulas, _solver.member(self.vars[amount], sales)):
                got = self.solver.solve(self.vars)
            if isinstance(got, list):
                found = got
                formulas = [*formulas, _solver.member(self.vars[amount], sales)]
        items = self.space.items.get("attendees")
        if items is None:
            return found
        offset = len(self.space.vars)
        for name in self.space.items:
            if name == "attendees":
                break
            offset += len(self.space.items[name].vars)
        fixed: list[_solver.Formula] = []
        for k in reversed(range(len(items.vars))):
            var = items.vars[k]
            low, high = 0, found[offset + k]
            while low < high:
                mid = (low + high) // 2
                with self.solver.assuming(
                    *formulas, *fixed, _solver.negate(_solver.at_least(var, mid + 1))
                ):
                    got = self.solver.solve(self.vars)
                if isinstance(got, list):
                    found, high = got, got[offset + k]
                else:
                    low = mid + 1
            fixed.append(_solver.equals(var, high))
        return found

    def shrink(
        self, deal: dict[str, Any], expect: tuple[str, ...], reads: set[str]
    ) -> dict[str, Any]:
        """Drop what the finding does not need (greedily, each drop confirmed again), so
        that the witness shows only what matters; what ``reads`` names (``amount``,
        ``account.owner``, ``activities``) stays: it places the witness in the cell the
        finding describes."""

        def still(candidate: dict[str, Any]) -> bool:
            return _check(self.rs, candidate, expect) is None

        # A policy gap needs its expense: the engine decides a policy only for one.
        keep = {"expenses"} if expect[0] in ("gap", "no-decision") else set()
        for key in ("expenses", "lead", "product", "activities", "reps", "account", "attributes"):
            if (
                key in deal
                and key not in keep
                and not any(r == key or r.startswith(key + ".") for r in reads)
            ):
                trial = {k: v for k, v in deal.items() if k != key}
                if still(trial):
                    deal = trial
        for key in ("account", "attributes", "lead"):
            for sub in sorted(deal.get(key, {})):
                if f"{key}.{sub}" in reads:
                    continue
                trial = {**deal, key: {k: v for k, v in deal[key].items() if k != sub}}
                if not trial[key]:
                    del trial[key]
                if still(trial):
                    deal = trial
        for key in ("activities", "reps"):
            i = 0
            while key not in reads and i < len(deal.get(key, ())) and i < 50:
                trial = {**deal, key: deal[key][:i] + deal[key][i + 1 :]}
                if not trial[key]:
                    del trial[key]
                if still(trial):
                    deal = trial
                else:
                    i += 1
        return deal

    def report(self, result: _Result, finding: Finding, *, keep: bool = True) -> Finding:
        masked = (
            result.why is not None
            and finding.severity == "warning"
            and ("no rule:" in result.why or "ambiguity between" in result.why)
        )
        if masked:
            # Every such deal stops at an error reported too: the warning stands, shown
            # by no deal of its own.
            finding = attrs.evolve(
                finding,
                message=finding.message + " (every such deal "
                "also meets a gap or an ambiguity reported here)",
            )
        elif result.why is not None:
            finding = attrs.evolve(finding, severity="unknown", reason=result.why, witness=None)
        else:
            finding = attrs.evolve(finding, witness=result.deal)
        if keep:
            self.findings.append(finding)
        return finding

    def dated_gaps(self) -> None:
        """The gaps, each with the stretch of the term it lasts (located, when it is not the
        whole term, at the rule whose dates leave it)."""
        for (label, _, _), (finding, first, last) in self.gaps.items():
            span = _span(first, last, self.term)
            edge = self.edge(label, first, last) if span else None
            if edge is not None:
                finding = attrs.evolve(finding, location=edge.location, clause=edge.clause)
            self.findings.append(attrs.evolve(finding, message=finding.message + span))

    def describe(
        self, values: Sequence[int], rules: Sequence[Rule], only: set[int] | None = None
    ) -> str:
        used: set[int] = set()
        for rule in rules:
            node = self.space.nodes.get(rule.key)
            if node is not None:
                used |= _uses(node)
        if only is not None:
            used &= only
        parts = []
        for f in sorted(used, key=lambda f: self.space.features[f].source):
            rep = self.space.reps[f].get(values[f]) if f < len(values) else None
            origin = self.space.origins[f]
            source = origin.text
            # expense.attendees counts the attendees when conditions count them too.
            counted = isinstance(origin, Count) or (
                rep is None and origin.path == ("expense", "attendees")
            )
            if counted:
                parts.append(f"{source} {_rank_text(self.space.features[f].literals, values[f])}")
            elif rep is None:
                parts.append(f"no {source}")
            elif source != "date":
                parts.append(f"{source} = {rep}")
        return ", ".join(parts) or "any deal"

    def nearest(self, rules: Sequence[Rule], values: Sequence[int]) -> Location:
        """The rule a gap is best shown at: the first (in the file) comparing a field with
        a literal next to the witness's value, else the first reading a field it sets."""
        near: set[tuple[str, str]] = set()
        for f, feature in enumerate(self.space.features):
            lits, cls = feature.literals, values[f]
            if feature.kind != "rank" or cls < 0:
                continue
            for i in {cls // 2} if cls % 2 else {cls // 2 - 1, cls // 2}:
                if 0 <= i < len(lits):
                    near.add((feature.source, _canon_value(lits[i])))
        ordered = sorted(rules, key=lambda r: r.location)
        for rule in ordered:
            if rule.when is not None and any(
                isinstance(right, Literal) and (_shape(left), _canon_value(right.value)) in near
                for left, _, right in _conditions.comparisons(rule.when)
            ):
                return rule.location
        for rule in ordered:
            node = self.space.nodes.get(rule.key)
            if node is not None and any(values[f] != -1 for f in _uses(node)):
                return rule.location
        return ordered[0].location if ordered else Location(self.rs.source, 1, 1)

    def together(self, a: Rule, b: Rule) -> str:
        """When two rules are both in force (their windows within the term), as text."""
        starts: list[dt.date] = [self.term[0]]
        ends: list[dt.date] = [] if self.term[1] is None else [self.term[1]]
        for rule in (a, b):
            if isinstance(rule, CreditRule):
                if rule.effective.start is not None:
                    starts.append(rule.effective.start)
                if rule.effective.end is not None:
                    ends.append(rule.effective.end)
        return _span(max(starts), min(ends) if ends else None, self.term)

    def edge(self, label: str, first: dt.date, last: dt.date | None) -> Rule | None:
        """For a gap in part of the term: the rule (version) whose dates leave it, one
        starting just after it or ending just before it."""
        day = dt.timedelta(days=1)
        versions = sorted((r for r in self.rs.rules if r.type == label), key=lambda r: r.location)
        for rule in versions:
            if last is not None and rule.effective.start == last + day:
                return rule
        for rule in versions:
            if rule.effective.end is not None and rule.effective.end + day == first:
                return rule
        return None

    # -- the questions -------------------------------------------------------------------
    def run(self) -> list[Finding]:
        rs = self.rs
        groups = [(_Group(t.name, f"{t.name} credit", t.required, False)) for t in rs.credit_types]
        topics = sorted({r.topic for r in rs.policy_rules})
        groups += [
            _Group(
                f"policy:{t}",
                f"{t} policy precedence",
                t == ENTERTAINMENT and self.entertainment,
                True,
            )
            for t in topics
        ]
        reach: dict[str, bool] = {}
        prevail: dict[str, bool] = {}
        meet: dict[tuple[str, str], bool] = {}
        for first, last in self.segments:
            day = first
            in_force = list(rs.rules_in_force(day))
            prec = Precedence(in_force, dict(rs.precedence_on(day)))
            members: dict[str, list[Rule]] = {g.label: [] for g in groups}
            for credit_rule in in_force:
                members[credit_rule.type].append(credit_rule)
            for policy_rule in rs.policy_rules:
                members[f"policy:{policy_rule.topic}"].append(policy_rule)
            covers = {}
            for g in groups:
                if not g.policy and g.required:
                    conds = [self.cond(r) for r in members[g.label]]
                    covers[g.label] = None if None in conds else _solver.any_of(conds)
            for g in groups:
                rules = sorted(members[g.label], key=lambda r: r.key)
                precedence = Precedence(rules, {}) if g.policy else prec  # type: ignore[arg-type]
                context = [c for label, c in covers.items() if label != g.label and c is not None]
                self.gap(g, rules, context, first, last)
                self.ambiguity(g, rules, precedence, context, first, last)
                self.rules(g, rules, precedence, context, first, reach, prevail, meet)
        self.unreached(reach, prevail, meet)
        self.dated_gaps()
        return self.findings

    def run_expenses(self) -> list[Finding]:
        """Gaps and ambiguities of expense sharing: among deals with an expense whose credit
        and entertainment policy are decided (their own holes are their own findings);
        sharing rules no expense meets, that never prevail, whose overrides never matter or
        with an alternative no expense meets (:meth:`expense_rules`); and ``!=`` on a field
        an expense may lack (:meth:`negated_optional_expenses`)."""
        rs = self.rs
        group = _Group(_EXPENSES, "expense sharing", True, False, expense=True)
        rules: list[Rule] = sorted(rs.expense_rules, key=lambda r: r.key)
        prec = Precedence(rules, {})  # type: ignore[arg-type]
        decided = self.policy_decided()
        stretches: list[tuple[dt.date, list[_solver.Formula]]] = []
        for first, last in self.segments:
            in_force = list(rs.rules_in_force(first))
            context = list(decided)
            for t in rs.credit_types:
                if t.required:
                    conds = [self.cond(r) for r in in_force if r.type == t.name]
                    if None not in conds:
                        context.append(_solver.any_of(conds))
            scope = tuple(sorted(r.key for r in in_force))
            self.gap(group, rules, context, first, last, scope)
            self.ambiguity(group, rules, prec, context, first, last)
            stretches.append((first, context))
        self.expense_rules(rules, prec, stretches)
        self.negated_optional_expenses(rules, prec, stretches)
        self.dated_gaps()
        return self.findings

    def possible(self, formulas: Sequence[_solver.Formula], days: Sequence[dt.date]) -> bool:
        """Whether some deal (with its expense) on one of ``days`` satisfies ``formulas``;
        an answer the solver cannot give counts as yes (nothing is reported as dead or
        overridden on a guess)."""
        for day in days:
            with self.solver.assuming(*formulas, *self.space.on_day(day)):
                if self.solver.solve(self.vars) is not None:
                    return True
        return False

    def expense_rules(
        self,
        rules: list[Rule],
        prec: Precedence,
        stretches: Sequence[tuple[dt.date, list[_solver.Formula]]],
    ) -> None:
        """Expense sharing rules that can never apply (``dead-condition``), have an
        alternative that can never hold (``dead-alternative``), override a rule they never
        meet (``override-unused``) or never prevail (``always-overridden``). Sharing rules
        have no dates and no precedence lists: the engine resolves them by ``overrides``
        (and chains of them) and defaults alone, as ``prec`` does; only the deal's date
        class changes along the term."""
        by_class: dict[int | None, dt.date] = {}
        for first, _ in stretches:
            by_class.setdefault(self.day_class(first), first)
        days = list(by_class.values())
        for rule in sorted(rules, key=lambda r: r.location):
            c = self.cond(rule)
            if c is None:
                continue  # undecided: reported with the coverage of expense sharing
            if rule.when is not None and not self.possible([c], days):
                self.dead_expense_rule(rule, days)
                continue
            self.dead_alternatives(rule, days, "expense", "expense sharing rule")
            self.unused_expense_overrides(rule, rules, c, days)
            beaters = sorted(
                (o for o in rules if o.id != rule.id and prec.beats(o.id, rule.id)),
                key=lambda r: r.location,
            )
            conds = [self.cond(o) for o in beaters]
            if not beaters or None in conds:
                continue  # nothing prevails over it, or what does is undecided
            formulas = [cb for cb in conds if cb is not None]
            if self.possible([c, *(_solver.negate(cb) for cb in formulas)], days):
                continue  # it decides some expense
            # Name only rules needed to cover it: drop each whose part the others cover.
            cover = list(zip(beaters, formulas, strict=True))
            for pair in list(cover):
                rest = [cb for other, cb in cover if other is not pair[0]]
                if not self.possible([c, *(_solver.negate(cb) for cb in rest)], days):
                    cover.remove(pair)
            self.overridden_expense_rule(rule, [b for b, _ in cover], c, stretches)

    def never_together(
        self, parts: Sequence[Expr], days: Sequence[dt.date], *, whole: bool = False
    ) -> str:
        """Why a conjunction of ``parts`` that no deal (with its expense) meets cannot
        hold: the fewest of its parts that cannot hold together (the slip is there, not in
        the rest), and the expense reader's bound where one comparison alone is ruled out by
        it. The parts are named when they are fewer than all of them, or when ``whole``
        (two rules' conditions side by side: which parts clash is the news). "" when there
        is nothing to add."""
        unique: dict[str, Expr] = {}
        for p in parts:
            unique.setdefault(p.text, p)
        parts = list(unique.values())
        core = list(range(len(parts)))
        formulas = [self.space.part(p) for p in parts]
        if not parts or self.possible(formulas, days):
            return ""  # not ruled out on these days: nothing to say
        if len(parts) > 1:
            for i in range(len(parts)):
                trial = [k for k in core if k != i]
                if trial and not self.possible([formulas[k] for k in trial], days):
                    core = trial
        why = []
        if len(core) < len(parts) or (whole and len(core) > 1):
            words = " and ".join(parts[k].text for k in core)
            why.append(f"{words} " + ("never holds" if len(core) == 1 else "never hold together"))
        # One comparison that never holds on its own: a bound of the expense reader.
        bound = _bound(parts[core[0]]) if len(core) == 1 else None
        if bound is not None:
            why.append(bound)
        return "; ".join(why)

    def version_of(self, target: str, rule: Rule) -> Rule | None:
        """The rule ``rule`` overrides by ``target`` (of its own kind; for a credit rule,
        the version in force on its first stretch), when its condition is decided."""
        others: list[Rule]
        if isinstance(rule, CreditRule):
            days = self.days.get(rule.key)
            others = list(self.rs.rules_in_force(days[0]) if days else self.rs.rules)
        elif isinstance(rule, ExpenseRule):
            others = list(self.rs.expense_rules)
        else:
            others = list(self.rs.policy_rules)
        found = next((r for r in others if r.id == target), None)
        if found is None or found.when is None or found.key not in self.space.nodes:
            return None
        return found

    def dead_alternatives(
        self, rule: Rule, days: Sequence[dt.date], subject: str, name: str
    ) -> None:
        """Report each alternative of an ``or`` anywhere in a rule's condition that can
        never hold where it stands: on its own, or together with what the condition
        requires around it (the other conjuncts of each ``and`` it sits in, and the
        negated alternatives of each ``or`` a ``not`` turns into a conjunction). Such an
        alternative is redundant: the condition with it replaced by false is the same
        condition. The rule itself can apply (a dead rule is its own finding), by its
        other alternatives alone: the impossible one is a slip (a reversed bound, a literal
        no value takes, a value the rest of the condition excludes) that silently drops the
        deals it was meant for. An alternative inside one reported is not reported again;
        an ``or`` under an odd number of ``not`` is a conjunction, not checked here."""
        if rule.when is None or rule.key not in self.space.nodes or not days:
            return
        reported: set[int] = set()
        for alt, context, within in _contextual_alternatives(rule.when):
            if reported & set(within):
                continue  # inside an alternative reported already
            if self.possible([self.space.part(alt)], days):
                formulas = [self._context_formula(e, positive) for e, positive in context]
                if self.possible([self.space.part(alt), *formulas], days):
                    continue
                # The fewest parts around it that it cannot hold with.
                core = list(range(len(context)))
                for i in range(len(context)):
                    trial = [k for k in core if k != i]
                    if not self.possible(
                        [self.space.part(alt), *(formulas[k] for k in trial)], days
                    ):
                        core = trial
                # And the fewest of its own parts that cannot hold with those.
                parts = _conjuncts(alt)
                own = list(range(len(parts)))
                around = [formulas[k] for k in core]
                for i in range(len(parts)):
                    trial = [k for k in own if k != i]
                    if trial and not self.possible(
                        [*(self.space.part(parts[k]) for k in trial), *around], days
                    ):
                        own = trial
                which = "it" if len(own) == len(parts) else " and ".join(
                    parts[k].text for k in own
                )
                why = f"{which} never holds together with " + " and ".join(
                    _context_text(*context[k]) for k in core
                )
            else:
                why = self.never_together(_conjuncts(alt), days)
            reported.add(id(alt))
            self.findings.append(
                Finding(
                    "dead-alternative",
                    "warning",
                    f"no {subject} can satisfy the alternative ({alt.text}) in the condition "
                    f"of {name} {rule.id}" + (f": {why}" if why else ""),
                    rule.location,
                    rule.clause,
                    fix="correct the alternative (a reversed < or >, a literal no value "
                    "takes, a value the rest of the condition excludes) or remove it: as "
                    "written, the rule applies by its other alternatives alone",
                    rules=(rule.id,),
                )
            )

    def _context_formula(self, expr: Expr, positive: bool) -> _solver.Formula:
        formula = self.space.part(expr)
        return formula if positive else _solver.negate(formula)

    def unused_expense_overrides(
        self, rule: Rule, rules: Sequence[Rule], c: _solver.Formula, days: Sequence[dt.date]
    ) -> None:
        """Report each rule a sharing rule overrides that no expense meets together with
        it: that override never decides anything (it probably names the wrong rule). An
        override of a rule that would give way anyway (a default, or one reached through a
        chain of overrides) is not reported: "notwithstanding 8.1" restates the precedence
        on purpose."""
        for target in rule.overrides:
            other = next((o for o in rules if o.id == target), None)
            co = None if other is None else self.cond(other)
            if other is None or co is None or self.possible([c, co], days):
                continue
            why = self.never_together(
                [*_conjuncts(rule.when), *_conjuncts(other.when)], days, whole=True
            )
            self.findings.append(
                Finding(
                    "override-unused",
                    "warning",
                    f"expense sharing rule {rule.id} overrides {target} (clause "
                    f"{other.clause}), but no expense satisfies both conditions: "
                    + (f"{why}, so " if why else "")
                    + "the override never matters",
                    rule.location,
                    rule.clause,
                    fix=f"check that {rule.id} overrides the rule meant (or drop the override)",
                    rules=(rule.id, target),
                )
            )

    def negated_optional_expenses(
        self,
        rules: Sequence[Rule],
        prec: Precedence,
        stretches: Sequence[tuple[dt.date, list[_solver.Formula]]],
    ) -> None:
        """``!=`` / ``not in`` (or ``not`` of an ordered comparison) in a sharing rule's
        condition on a field an expense or its deal may lack (the expense's date; the
        account's owner, segment...; an attribute): true of every expense without it. An
        attendee's ``category`` inside a count is not reported: an attendee without one is
        in the default category, which is indeed not ``hcp`` (and the expense's kind,
        amount, payer, attendees and pre-approval are never missing)."""
        partners = frozenset(self.rs.partner_ids)
        expect_label = f"expense:{WITNESS_EXPENSE}"
        for rule in sorted(rules, key=lambda r: r.location):
            c = self.cond(rule)
            if rule.when is None or c is None:
                continue
            for field, compare in _negated_fields(rule.when, False, partners):
                missing = self.space.missing(field.path)
                if missing is None or not self.once("negated-optional", rule.key, field.path):
                    continue
                expect = ("verdict", expect_label, rule.id, "applied", "overridden")
                # The witness best shows the rule deciding the expense, with no other field
                # missing or set than the finding needs: asked first, then any expense it
                # applies to.
                beaters = [
                    self.cond(o) for o in rules if o.id != rule.id and prec.beats(o.id, rule.id)
                ]
                reads = _reads(rule.when)
                plain: list[_solver.Formula] = [
                    m
                    for i, o in enumerate(self.space.origins)
                    if isinstance(o, Field)
                    and ".".join(o.path) not in reads
                    and (m := self.space.missing(o.path)) is not None
                ]
                attempts: list[tuple[list[_solver.Formula], tuple[str, ...]]] = []
                if None not in beaters:
                    wins = [_solver.negate(b) for b in beaters if b is not None]
                    # Each other field left out where it can be (the owner whose policy
                    # governs cannot).
                    day, context = stretches[0]
                    prefer: list[_solver.Formula] = []
                    for m in plain:
                        if self.possible([c, missing, *wins, *prefer, m, *context], [day]):
                            prefer.append(m)
                    attempts.append((wins + prefer, (*expect[:3], "applied")))
                    attempts.append((wins, (*expect[:3], "applied")))
                attempts.append(([], expect))
                result = _Result(False)
                for extra, wanted in attempts:
                    for day, context in stretches:
                        result = self.solve(
                            [c, missing, *extra, *context],
                            day,
                            wanted,
                            expense=True,
                            protect=(rule,),
                        )
                        if result.sat and result.why is None:
                            break
                    if result.sat and result.why is None:
                        break
                if not result.sat:
                    continue
                on = "" if field.path[0] == "expense" else "on a deal "
                self.report(result, _negated_optional(
                    rule, f"expense sharing rule {rule.id} applies to every expense {on}",
                    field.text, expect, compare))

    def dead_expense_rule(self, rule: Rule, days: Sequence[dt.date]) -> None:
        """Report a sharing rule whose condition no expense meets, naming the conjuncts
        that cannot hold together (the slip is there, not in the rest)."""
        assert rule.when is not None
        why = self.never_together(_conjuncts(rule.when), days)
        self.findings.append(
            Finding(
                "dead-condition",
                "warning",
                f"no expense can satisfy the condition of expense sharing rule {rule.id} "
                f"({rule.when_text})" + (f": {why}" if why else ""),
                rule.location,
                rule.clause,
                fix="check each comparison for a typo (a reversed < or >, a bound no "
                "expense reaches) or remove the rule",
                rules=(rule.id,),
            )
        )

    def overridden_expense_rule(
        self,
        rule: Rule,
        cover: Sequence[Rule],
        c: _solver.Formula,
        stretches: Sequence[tuple[dt.date, list[_solver.Formula]]],
    ) -> None:
        """Report a sharing rule that never decides an expense, naming the rules that
        prevail over it wherever it applies; the witness is an expense it applies to and
        is overridden on (on a deal whose credit and policy are decided)."""
        expect = ("verdict", f"expense:{WITNESS_EXPENSE}", rule.id, "overridden")
        result = _Result(False)
        for day, context in stretches:
            result = self.solve([c, *context], day, expect, expense=True, protect=(rule,))
            if result.sat and result.why is None:
                break
        names = " or ".join(f"{o.id} (clause {o.clause})" for o in cover)
        by = " and ".join(o.id for o in cover)
        # A default gives way to every other rule that applies: no override to drop.
        fix = (
            f"remove it, or narrow {by} if {rule.id} should decide some expenses"
            if rule.default
            else f"remove it, or narrow {by} (or drop the overrides that make "
            f"{'them' if len(cover) > 1 else 'it'} prevail) if {rule.id} should decide some "
            "expenses"
        )
        self.report(
            result,
            Finding(
                "always-overridden",
                "warning",
                f"expense sharing rule {rule.id} never decides an expense: wherever it "
                f"applies, {names} applies too and prevails over it",
                rule.location,
                rule.clause,
                fix=fix,
                rules=(rule.id, *(o.id for o in cover)),
                expect=expect,
            ),
        )

    def policy_decided(self) -> list[_solver.Formula]:
        """The deal gets an entertainment policy decision: some rule prevails, those that
        prevail agree, and the partner it names (account owner, lead source) is there. A
        condition outside the decided language is left out: the engine's confirmation of
        each witness then decides."""
        rules = [r for r in self.rs.policy_rules if r.topic == ENTERTAINMENT]
        prec = Precedence(rules, {})  # type: ignore[arg-type]
        conds = {r.id: self.cond(r) for r in rules}
        wins: dict[str, _solver.Formula] = {}
        for r in rules:
            own = conds[r.id]
            if own is None:
                continue
            beaters = [conds[o.id] for o in rules if o.id != r.id and prec.beats(o.id, r.id)]
            wins[r.id] = _solver.all_of(
                [own, *(_solver.negate(b) for b in beaters if b is not None)]
            )
        out = [_solver.any_of(list(wins.values()))]
        for a, b in itertools.combinations([r for r in rules if r.id in wins], 2):
            if (a.governs, a.partner) != (b.governs, b.partner):
                out.append(_solver.negate(_solver.all_of([wins[a.id], wins[b.id]])))
        named = {"account_owner": ("account", "owner"), "lead_partner": ("lead", "source")}
        for r in rules:
            path = named.get(r.governs)
            missing = None if path is None else self.space.missing(path)
            if r.id in wins and missing is not None:
                out.append(_solver.negate(_solver.all_of([wins[r.id], missing])))
        return out

    def gap(
        self,
        g: _Group,
        rules: list[Rule],
        context: list[_solver.Formula],
        first: dt.date,
        last: dt.date | None,
        scope: tuple[str, ...] = (),
    ) -> None:
        """``scope``: what else the question depends on on this stretch (for expense
        sharing, the credit rules in force: its rules are the same all the term)."""
        if not g.required and not g.policy:
            return  # overlay credit: a deal may well get none
        conds = [self.cond(r) for r in rules]
        if None in conds:
            for rule, c in zip(rules, conds, strict=True):
                if c is None:
                    self.unknown(g, rule, "coverage")
            return
        if not self.once(
            "gap", g.label, tuple(r.key for r in rules), self.day_class(first), scope
        ):
            return
        word = (
            "no expense sharing rule applies"
            if g.expense
            else f"whose {g.label.removeprefix('policy:')} policy"
            if g.policy
            else f"no {g.label} credit rule"
        )
        # A topic other than entertainment is decided when it can be; a deal without a
        # decision still allocates, so the hole is a warning shown by the missing decision.
        topic = g.label.removeprefix("policy:")
        expect = ("gap", word) if g.required else ("no-decision", topic)
        code, severity = ("gap", "error") if g.required else ("policy-gap", "warning")
        seen: list[_solver.Formula] = []
        for _ in range(_MAX_GAPS):
            gap_formulas = [_solver.negate(c) for c in conds] + context + seen
            result = self.solve(
                gap_formulas,
                first,
                expect,
                expense=g.expense or (g.policy and g.required),
                protect=None,
            )
            if not result.sat:
                return
            values = result.values or tuple(-1 for _ in self.vars)
            cell = self.widen(conds, self.regions(rules, values), first) if result.values else {}
            # Within the cell, a witness on the thresholds themselves shows the boundary.
            on_points = [
                _solver.member(self.vars[f], {c for c in region if c % 2 == 1})
                for f, region in cell.items()
                if self.space.features[f].kind == "rank" and any(c % 2 == 1 for c in region)
            ]
            if on_points and result.deal is not None:
                inside = [_solver.member(self.vars[f], region) for f, region in cell.items()]
                pointed = self.solve(
                    [*gap_formulas, *inside, *on_points],
                    first,
                    expect,
                    expense=g.expense or (g.policy and g.required),
                    protect=None,
                )
                if pointed.deal is not None:
                    result, values = pointed, pointed.values
            if result.deal is not None:
                reads = {_source_key(self.space.origins[f]) for f in cell}
                result = attrs.evolve(result, deal=self.shrink(result.deal, expect, reads))
            key = (
                g.label,
                tuple(sorted((f, tuple(sorted(r))) for f, r in cell.items())),
                result.why is None,
            )
            earlier = self.gaps.get(key)
            if (
                earlier is not None
                and earlier[2] is not None
                and earlier[2] + dt.timedelta(days=1) == first
            ):
                self.gaps[key] = (earlier[0], earlier[1], last)  # the same hole, continued
            else:
                what = (
                    "deals with " + self.describe(values, rules, set(cell))
                    if cell
                    else "any deal"
                    if result.values
                    else "some deals"
                )
                if g.expense:
                    # No sharing rule at all: a model of nothing still decides every expense.
                    what = "the expenses of " + (
                        "any deal" if not rules and result.why is None else what
                    )
                where = self.nearest(rules, values)
                if g.expense and not rules:
                    # No sharing rule to show it at: the entertainment policy's clause.
                    policy = min(
                        (r for r in self.rs.policy_rules if r.topic == ENTERTAINMENT),
                        key=lambda r: r.location,
                    )
                    where = policy.location
                finding = Finding(
                    code,
                    severity,
                    f"no {g.name} rule decides {what}",
                    where,
                    next(
                        (r.clause for r in [*rules, *self.rs.policy_rules] if r.location == where),
                        None,
                    ),
                    fix=_EXPENSE_GAP_FIX if g.expense else _GAP_FIX,
                    rules=tuple(r.id for r in rules),
                    expect=expect,
                )
                self.gaps[key] = (self.report(result, finding, keep=False), first, last)
            if not cell:
                return
            # The next gap lies outside this cell: each cell once.
            seen.append(
                _solver.any_of(
                    [
                        _solver.negate(_solver.member(self.vars[f], region))
                        for f, region in cell.items()
                    ]
                )
            )

    def widen(
        self, conds: Sequence[_solver.Formula], cell: dict[int, set[int]], day: dt.date
    ) -> dict[int, set[int]]:
        """Drop from a gap's cell each field whose value does not matter: no rule applies
        anywhere in the cell with that field free."""
        cell = dict(cell)
        for f in sorted(cell):
            trial = {k: v for k, v in cell.items() if k != f}
            inside = [_solver.member(self.vars[k], v) for k, v in trial.items()]
            with self.solver.assuming(
                _solver.any_of(list(conds)), *inside, *self.space.on_day(day)
            ):
                if self.solver.solve([]) is None:
                    cell = trial
        return cell

    def regions(self, rules: Sequence[Rule], values: Sequence[int]) -> dict[int, set[int]]:
        """Per feature the rules read, the classes no comparison of theirs tells apart from
        the witness's class."""
        atoms: dict[int, list[AbstractSet[int]]] = {}
        for rule in rules:
            if rule.when is None or rule.key not in self.space.nodes:
                continue
            for atom in _conditions._atoms(rule.when):
                node = self.space.normaliser.nnf(atom, False)
                if isinstance(node, _In):
                    atoms.setdefault(node.feature, []).append(node.values)
        out = {}
        for f, sets in atoms.items():
            region = set(self.space.reps[f])
            for allowed in sets:
                region = region & allowed if values[f] in allowed else region - allowed
            out[f] = region
        return out

    def ambiguity(
        self,
        g: _Group,
        rules: list[Rule],
        prec: Precedence,
        context: list[_solver.Formula],
        first: dt.date,
        last: dt.date | None,
    ) -> None:
        for a, b in itertools.combinations(rules, 2):
            if (
                a.id == b.id
                or prec.beats(a.id, b.id)
                or prec.beats(b.id, a.id)
                or _same_outcome(a, b)
            ):
                continue
            if (
                a.when is not None
                and b.when is not None
                and _disjoint(self.boxes.get(a.key, {}), self.boxes.get(b.key, {}))
            ):
                continue
            ca, cb = self.cond(a), self.cond(b)
            if ca is None or cb is None:
                self.unknown(g, a if ca is None else b, "ambiguity")
                continue
            if not self.once("ambiguity", g.label, a.key, b.key):
                continue
            beaters = [
                self.cond(c)
                for c in rules
                if c.id not in (a.id, b.id) and (prec.beats(c.id, a.id) or prec.beats(c.id, b.id))
            ]
            if None in beaters:
                continue
            pair = tuple(sorted((a.id, b.id)))
            expect = ("ambiguity", g.label, *pair)
            result = self.solve(
                [ca, cb, *(_solver.negate(c) for c in beaters), *context],
                first,
                expect,
                expense=g.expense,
                protect=(a, b),
            )
            if not result.sat:
                continue
            later = max(a, b, key=lambda r: r.location)
            other = a if later is b else b
            span = self.together(a, b)
            what = self.describe(result.values, [a, b]) if result.values else "some values"
            subject = "the expenses of deals" if g.expense else "deals"
            # Expense sharing rules have no precedence lists: overrides alone decide.
            lists = "" if g.expense else ", or a precedence list"
            self.report(
                result,
                Finding(
                    "ambiguity",
                    "error",
                    f"rules {other.id} and {later.id} both apply to {subject} "
                    f"with {what}{span}, disagree, and nothing decides between them",
                    later.location,
                    later.clause,
                    fix=f"declare which prevails: 'overrides: [{other.id}]' on {later.id} (or "
                    f"the reverse){lists}; or make the conditions exclusive",
                    rules=pair,
                    expect=expect,
                ),
            )

    def rules(
        self,
        g: _Group,
        rules: list[Rule],
        prec: Precedence,
        context: list[_solver.Formula],
        day: dt.date,
        reach: dict[str, bool],
        prevail: dict[str, bool],
        meet: dict[tuple[str, str], bool],
    ) -> None:
        """Record, per rule, whether it can apply and prevail on this segment."""
        for rule in rules:
            c = self.cond(rule)
            self.first.setdefault(rule.key, (g.label, context, day))
            self.days.setdefault(rule.key, []).append(day)
            if c is None or (rule.when is None and not rule.default):
                reach.setdefault(rule.key, True)
                prevail.setdefault(rule.key, True)
                continue
            if not reach.get(rule.key):
                reach[rule.key] = self.solve([c], day, None).sat
            beaters = [self.cond(o) for o in rules if o.id != rule.id and prec.beats(o.id, rule.id)]
            if not prevail.get(rule.key) and None not in beaters:
                prevail[rule.key] = self.solve(
                    [c, *(_solver.negate(b) for b in beaters)], day, None
                ).sat
            for target in rule.overrides:
                other = next((o for o in rules if o.id == target), None)
                co = None if other is None else self.cond(other)
                if co is not None and not meet.get((rule.key, target)):
                    meet[(rule.key, target)] = self.solve([c, co], day, None).sat
            if (
                not prevail.get(rule.key)
                and reach.get(rule.key)
                and self.once("overridden-witness", rule.key)
            ):
                label = g.label
                self.pending[rule.key] = (label, [c, *context], day)

    def unreached(
        self,
        reach: Mapping[str, bool],
        prevail: Mapping[str, bool],
        meet: Mapping[tuple[str, str], bool],
    ) -> None:
        rs = self.rs
        every: list[Rule] = [*rs.rules, *rs.policy_rules]
        for rule in every:
            eff = getattr(rule, "effective", None)
            if eff is not None and rule.key not in reach:
                self.findings.append(
                    Finding(
                        "never-in-force",
                        "warning",
                        f"rule {rule.id} is in force on no day of "
                        f"the agreement ({eff}; the term is {rs.effective})",
                        rule.location,
                        rule.clause,
                        fix="correct its effective dates, or remove it",
                        rules=(rule.id,),
                    )
                )
                continue
            if reach.get(rule.key) is False:
                self.findings.append(
                    Finding(
                        "dead-condition",
                        "warning",
                        f"no deal can satisfy the condition of rule {rule.id} ({rule.when_text})",
                        rule.location,
                        rule.clause,
                        fix="check each comparison for a typo (a reversed < or >, a literal no "
                        "value takes) or remove the rule",
                        rules=(rule.id,),
                    )
                )
            elif prevail.get(rule.key) is False and rule.key in self.pending:
                label, formulas, day = self.pending[rule.key]
                expect = ("verdict", label, rule.id, "overridden")
                result = self.solve(formulas, day, expect, protect=(rule,))
                self.report(
                    result,
                    Finding(
                        "always-overridden",
                        "warning",
                        f"rule {rule.id} never decides a deal: "
                        "wherever it applies, a rule that prevails over it applies too",
                        rule.location,
                        rule.clause,
                        fix="remove it, or narrow the rules that "
                        "override it if it should decide some deals",
                        rules=(rule.id,),
                        expect=expect,
                    ),
                )
            days = self.days.get(rule.key, [])
            for target in rule.overrides:
                if meet.get((rule.key, target)) is False and reach.get(rule.key):
                    other = self.version_of(target, rule)
                    why = "" if other is None else self.never_together(
                        [*_conjuncts(rule.when), *_conjuncts(other.when)], days, whole=True
                    )
                    self.findings.append(
                        Finding(
                            "override-unused",
                            "warning",
                            f"rule {rule.id} overrides {target}, but no deal satisfies both "
                            "conditions: "
                            + (f"{why}, so " if why else "")
                            + "the override never matters",
                            rule.location,
                            rule.clause,
                            fix=f"check that {rule.id} overrides the "
                            "rule meant (or drop the override)",
                            rules=(rule.id, target),
                        )
                    )
            if reach.get(rule.key):
                self.dead_alternatives(rule, days, "deal", "rule")
        self.findings += window_gaps(self.rs)
        self.negated_optional()

    def negated_optional(self) -> None:
        """``!=`` / ``not in`` (or ``not`` of an ordered comparison) on a field a deal may
        lack: true on every deal without it."""
        every: list[Rule] = [*self.rs.rules, *self.rs.policy_rules]
        for rule in every:
            if rule.when is None or rule.key not in self.first:
                continue
            c = self.cond(rule)
            for field, compare in _negated_fields(
                rule.when, False, frozenset(self.rs.partner_ids)
            ):
                missing = self.space.missing(field.path)
                if (
                    c is None
                    or missing is None
                    or not self.once("negated-optional", rule.key, field.path)
                ):
                    continue
                label, context, day = self.first[rule.key]
                expect = ("verdict", label, rule.id, "applied", "overridden")
                result = self.solve([c, missing, *context], day, expect)
                if not result.sat:
                    continue
                self.report(result, _negated_optional(
                    rule, f"rule {rule.id} applies to every deal ", field.text, expect, compare))


_FLIPPED = {"<": ">=", "<=": ">", ">": "<=", ">=": "<"}


def _negated_optional(rule: Rule, applies: str, field: str,
                      expect: tuple[str, ...], compare: Compare | None = None) -> Finding:
    """The ``negated-optional`` finding for ``rule`` (a credit, policy or expense sharing
    rule), ``applies`` saying to what it applies, ``field`` the field a deal may lack;
    ``compare`` the ordered comparison negated (None: != or not in)."""
    if compare is None:
        why = "a missing value is != to everything"
        fix = (f"add '{field} == ...' for the values meant, or 'and {field} in [...]' before "
               "the negation")
    else:
        why = f"a missing value makes {compare.text} false, and the condition negates it"
        flipped = f"{compare.left.text} {_FLIPPED[compare.op]} {compare.right.text}"
        fix = (f"write the comparison meant without the negation ({flipped} rather than "
               f"not ({compare.text})), which a missing {field} fails")
    return Finding(
        "negated-optional",
        "warning",
        f"{applies}without {field}: {why}",
        rule.location,
        rule.clause,
        fix=fix,
        rules=(rule.id,),
        expect=expect,
    )


def _conjuncts(expr: Expr | None) -> list[Expr]:
    """The parts of a conjunction (nested ones flattened); a condition that is not one is
    its own single part."""
    if expr is None:
        return []
    if isinstance(expr, And):
        return [p for part in expr.parts for p in _conjuncts(part)]
    return [expr]


def _alternatives(expr: Or) -> list[Expr]:
    """The alternatives of a disjunction, nested ones flattened (``a or (b or c)``)."""
    return [
        p for part in expr.parts for p in (_alternatives(part) if isinstance(part, Or) else [part])
    ]


def _contextual_alternatives(
    expr: Expr,
) -> list[tuple[Expr, list[tuple[Expr, bool]], tuple[int, ...]]]:
    """Each alternative of each ``or`` that acts as a disjunction in ``expr`` (under an
    even number of ``not``), with what the condition requires beside it: the parts of each
    conjunction on the way to it (a part under an odd number of ``not`` paired with
    False), and the alternatives it sits in (their ``id``), outermost first. In the order
    of the text; nested alternatives (``a or (b or c)``) are flattened; ``and`` under a
    ``not`` (a disjunction of negated parts) is walked through, not checked."""
    out: list[tuple[Expr, list[tuple[Expr, bool]], tuple[int, ...]]] = []

    def walk(
        node: Expr, positive: bool, context: list[tuple[Expr, bool]], within: tuple[int, ...]
    ) -> None:
        if isinstance(node, Not):
            walk(node.part, not positive, context, within)
        elif isinstance(node, And | Or) and isinstance(node, And) == positive:
            # A conjunction: "a and b", or "not (a or b)" (not a and not b).
            parts = _conjuncts(node) if isinstance(node, And) else _alternatives(node)
            for i, part in enumerate(parts):
                rest = [(p, positive) for k, p in enumerate(parts) if k != i]
                walk(part, positive, [*context, *rest], within)
        elif isinstance(node, Or):
            for alt in _alternatives(node):
                out.append((alt, context, within))
                walk(alt, positive, context, (*within, id(alt)))
        elif isinstance(node, And):
            for part in node.parts:
                walk(part, positive, context, within)

    walk(expr, True, [], ())
    return out


def _context_text(expr: Expr, positive: bool) -> str:
    return expr.text if positive else f"not ({expr.text})"


def _bound(part: Expr) -> str | None:
    """Why a comparison that never holds on its own cannot: the expense reader's bounds
    (an amount below zero, no attendee, more than the reader takes)."""
    if not isinstance(part, Compare) or not isinstance(part.right, Literal):
        return None
    left, value = part.left, part.right.value
    if isinstance(left, Field) and left.path == ("expense", "amount"):
        # Below zero, not a value finer than the currency's unit (which the reader refuses
        # too, for another reason).
        below = isinstance(value, Decimal) and value <= 0 and part.op in ("<", "<=", "==")
        return "an expense's amount is never negative" if below else None
    if (isinstance(left, Field) and left.path == ("expense", "attendees")) or (
        isinstance(left, Count) and left.collection == "attendees" and left.where is None
    ):
        return f"an expense has a whole number of attendees, from 1 to {MAX_ATTENDEES:,}"
    return None
