"""Which applicable credit rules prevail: exceptions (``overrides``), declared order, defaults.

Rule A *prevails over* rule B (same credit type) when A overrides B, directly or through a
chain of overrides (an exception to an exception still beats the general rule); or A comes
before B in the type's declared ``precedence`` list; or B is a ``default`` and A is not. The
loader has already refused cycles, so among applicable rules at least one is not beaten.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from creditrules.agreement.policy import ExpenseRule, PolicyRule
from creditrules.agreement.ruleset import CreditRule
from creditrules.allocation._deferred import Deferred, deferred_reasons
from creditrules.allocation.results import RuleVerdict
from creditrules.conditions._ast import Facts

__all__ = ["Precedence", "rule_verdicts"]


class Precedence:
    """The prevails-over relation among the rules in force on some date."""

    def __init__(self, rules: Iterable[CreditRule],
                 precedence: Mapping[str, tuple[str, ...]]) -> None:
        """``rules``: the rules in force (one version per id); ``precedence``: the declared
        lists in force, by credit type."""
        rules = list(rules)
        self._default = {r.id for r in rules if r.default}
        direct: dict[str, set[str]] = {}
        for rule in rules:
            direct.setdefault(rule.id, set()).update(rule.overrides)
        for ids in precedence.values():
            for i, high in enumerate(ids):
                direct.setdefault(high, set()).update(ids[i + 1:])
        self._beats = {rid: _reachable(rid, direct) for rid in direct}
        # The converse, for resolve: by whom each known rule is beaten. Indexed once (a
        # scan of every rule per rule would be quadratic in a ruleset of thousands).
        self._known = frozenset({r.id for r in rules} | set(direct))
        self._overridden_by: dict[str, set[str]] = {}
        for a, beaten in self._beats.items():
            for b in beaten:
                self._overridden_by.setdefault(b, set()).add(a)
        self._not_default = frozenset(self._known - self._default)
        self._beaten_by: dict[str, frozenset[str]] = {}

    def beats(self, a: str, b: str) -> bool:
        """Whether rule ``a`` prevails over rule ``b`` (by id)."""
        if b in self._beats.get(a, ()):
            return True
        return b in self._default and a not in self._default

    def _beaten(self, b: str) -> frozenset[str]:
        """The known rules that prevail over ``b``: those whose overrides or declared order
        reach it, and, when ``b`` is a default, every rule that is not one."""
        found = self._beaten_by.get(b)
        if found is None:
            by = set(self._overridden_by.get(b, ()))
            if b in self._default:
                by |= self._not_default
            by.discard(b)
            found = self._beaten_by[b] = frozenset(by)
        return found

    def resolve(self, applicable: Iterable[str]) -> tuple[list[str], dict[str, list[str]]]:
        """Split applicable rule ids into the prevailing ones and, for each other one, the
        applicable rules that prevail over it."""
        ids = sorted(set(applicable))
        if self._known.issuperset(ids):
            beaten = {}
            for b in ids:
                by = self._beaten(b)
                beaten[b] = [a for a in ids if a in by]
        else:
            beaten = {b: [a for a in ids if a != b and self.beats(a, b)] for b in ids}
        winners = [r for r in ids if not beaten[r]]
        return winners, {b: by for b, by in beaten.items() if by}


def _reachable(start: str, edges: Mapping[str, set[str]]) -> frozenset[str]:
    seen: set[str] = set()
    todo = list(edges.get(start, ()))
    while todo:
        node = todo.pop()
        if node not in seen and node != start:
            seen.add(node)
            todo.extend(edges.get(node, ()))
    return frozenset(seen)


def rule_verdicts(rules: Iterable[CreditRule | PolicyRule | ExpenseRule],
                  applicable: Iterable[str], beaten: Mapping[str, Sequence[str]],
                  facts: Facts, label: str, *, explain: bool, version: str = ""
                  ) -> list[RuleVerdict]:
    """Each rule's verdict once precedence is resolved: applied, overridden (by which), or
    not matched (and, when asked, which part of its condition was false: worked out when
    first read). A credit rule carries its own version; other rules take ``version``."""
    applicable = set(applicable)
    out = []
    for rule in rules:
        by = tuple(beaten.get(rule.id, ()))
        status = "applied"
        reasons: tuple[str, ...] | Deferred[tuple[str, ...]] = ()
        if by:
            status = "overridden"
        elif rule.id not in applicable:
            status = "not-matched"
            if explain and rule.when is not None:
                reasons = deferred_reasons(rule.when, facts)  # explained when read
        out.append(RuleVerdict(rule.id, rule.version if isinstance(rule, CreditRule)
                               else version, rule.clause, label, status, rule.text, by,
                               reasons))
    return out
