"""What changed between two versions of an agreement, clause by clause, and what the
change does to real deals.

:func:`diff_rulesets` compares two loaded rulesets (an amendment is loaded on top of its
base, so ``diff(base, amendment)`` shows what the amendment changes): rules added, removed,
reworded, given a new condition or outcome, re-dated, re-prioritised; precedence lists;
policies limit by limit; policy and sharing rules; the agreement's own settings. It works
on :meth:`~creditrules.agreement.ruleset.Ruleset.canonical`, the data the content hash covers, so
anything that changes the hash shows here.

:func:`what_if` runs deals through both versions: per deal whose credit changes, the old
and new amounts per partner with the clauses that decided them; totals per credit type and
partner; how many deals did not change.

:func:`examples` finds such deals without any given: it runs both versions on the deals
their conditions draw (every threshold one unit below, at and above, every rule's window,
a deal aimed at each rule: the fairness check's boundary deals) and on the static
analysis's witnesses, and keeps the smallest deal for each distinct change.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import Any

import attrs

from creditrules.agreement.ruleset import Ruleset
from creditrules.allocation.results import Allocation
from creditrules.base._clauses import clause_key
from creditrules.base._readable import percent_reading
from creditrules.errors import CreditRulesError

__all__ = [
    "Change",
    "DealChange",
    "Example",
    "RulesetDiff",
    "WhatIf",
    "diff_rulesets",
    "examples",
    "examples_text",
    "what_if",
]

_SETTINGS = (
    "ruleset",
    "version",
    "title",
    "effective",
    "currency",
    "unit",
    "tie_break",
    "partners",
    "attributes",
    "credit_types",
    "rep_credit",
    "contribution",
    "topics",
)


@attrs.frozen
class Change:
    """One change. ``kind`` is ``added``, ``removed``, ``changed`` (``aspects`` say what:
    ``reworded``, ``condition``, ``outcome``, ``re-prioritised``, ``re-dated``,
    ``renumbered``...), or for settings and policies ``setting`` / ``policy``."""

    section: str  # credit, policy_precedence, expense_sharing, precedence, policies, settings
    clause: str
    name: str  # the rule id, policy path or setting
    kind: str
    aspects: tuple[str, ...] = ()
    details: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "section": self.section,
            "clause": self.clause,
            "name": self.name,
            "kind": self.kind,
            "aspects": list(self.aspects),
            "details": list(self.details),
        }

    def text(self) -> str:
        if self.kind in ("setting", "policy"):
            return f"{self.name}: {'; '.join(self.details)}"
        where = f"clause {self.clause} {self.name}" if self.clause else self.name
        what = self.kind if not self.aspects else ", ".join(self.aspects)
        lines = [f"{where}: {what}"]
        lines.extend(f"    {d}" for d in self.details)
        return "\n".join(lines)


@attrs.frozen
class RulesetDiff:
    """The changes from ``old`` to ``new``, settings first, then by clause."""

    old: tuple[str, str, str]  # id, version, content hash
    new: tuple[str, str, str]
    changes: tuple[Change, ...]

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    def clauses(self) -> list[str]:
        """The clauses whose rules changed, in clause order."""
        return sorted({c.clause for c in self.changes if c.clause}, key=clause_key)

    def to_dict(self) -> dict[str, Any]:
        return {
            "old": dict(zip(("id", "version", "hash"), self.old, strict=True)),
            "new": dict(zip(("id", "version", "hash"), self.new, strict=True)),
            "changed": self.changed,
            "changes": [c.to_dict() for c in self.changes],
        }

    def text(self) -> str:
        head = (
            f"{self.old[0]} {self.old[1]} -> {self.new[0]} {self.new[1]}: "
            f"{len(self.changes) or 'no'} change(s)"
        )
        return "\n".join([head, *(c.text() for c in self.changes)]) + "\n"


def diff_rulesets(old: Ruleset, new: Ruleset) -> RulesetDiff:
    """What changed from ``old`` to ``new``, clause by clause."""
    a, b = old.canonical(), new.canonical()
    changes = [
        Change("settings", "", key, "setting", (), (f"{_show(a[key])} -> {_show(b[key])}",))
        for key in _SETTINGS
        if a[key] != b[key]
    ]
    rule_changes = _rule_changes("credit", a["rules"], b["rules"], lambda r: r["id"])
    rule_changes += _rule_changes(
        "policy_precedence",
        a["policy_rules"],
        b["policy_rules"],
        lambda r: f"{r['topic']}:{r['id']}",
    )
    rule_changes += _rule_changes(
        "expense_sharing", a["expense_rules"], b["expense_rules"], lambda r: r["id"]
    )
    rule_changes.sort(key=lambda c: (clause_key(c.clause), c.section, c.name))
    changes += rule_changes
    old_lists = {_key(p) for p in a["precedence"]}
    new_lists = {_key(p) for p in b["precedence"]}
    for item in sorted(old_lists ^ new_lists):
        kind = "added" if item in new_lists else "removed"
        ptype, rules, start, end = item
        changes.append(
            Change(
                "precedence",
                "",
                f"precedence {ptype}",
                kind,
                (),
                (f"{' before '.join(rules)} (in force {start or '...'} to {end or '...'})",),
            )
        )
    old_limits, new_limits = _flatten(a["policies"]), _flatten(b["policies"])
    for path in sorted(old_limits.keys() | new_limits.keys()):
        before, after = old_limits.get(path), new_limits.get(path)
        if before != after:
            changes.append(
                Change(
                    "policies",
                    "",
                    f"policy {path}",
                    "policy",
                    (),
                    (f"{_show(before)} -> {_show(after)}",),
                )
            )
    old_ex = {_show(e) for e in a["fairness"]["exemptions"]}
    new_ex = {_show(e) for e in b["fairness"]["exemptions"]}
    for text in sorted(old_ex ^ new_ex):
        changes.append(
            Change(
                "fairness",
                "",
                "fairness exemption",
                "added" if text in new_ex else "removed",
                (),
                (text,),
            )
        )
    return RulesetDiff(
        (old.id, old.version, old.content_hash),
        (new.id, new.version, new.content_hash),
        tuple(changes),
    )


def _key(p: Mapping[str, Any]) -> tuple[str, tuple[str, ...], str | None, str | None]:
    return (p["type"], tuple(p["rules"]), p["effective"]["from"], p["effective"]["to"])


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(data, Mapping) or not data:
        return {prefix: data} if prefix else {}
    out: dict[str, Any] = {}
    for k, v in data.items():
        out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def _show(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {_show(v)}" for k, v in value.items()) + "}"
    return str(value)


def _rule_changes(
    section: str, old: list[dict[str, Any]], new: list[dict[str, Any]], key: Any
) -> list[Change]:
    def group(rules: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        for r in rules:
            out.setdefault(key(r), []).append(r)
        for versions in out.values():  # in force order: the current text last
            versions.sort(key=lambda r: (r.get("effective") or {}).get("from") or "")
        return out

    before, after = group(old), group(new)
    changes = []
    for name in before.keys() | after.keys():
        olds, news = before.get(name, []), after.get(name, [])
        if olds == news:
            continue
        if not olds:
            rule = news[-1]
            changes.append(Change(section, rule["clause"], rule["id"], "added", (), _summary(rule)))
            continue
        if not news:
            rule = olds[-1]
            changes.append(
                Change(section, rule["clause"], rule["id"], "removed", (), _summary(rule))
            )
            continue
        was, now = olds[-1], news[-1]
        aspects, details = _aspects(was, now)
        if len(news) > len(olds) and now.get("effective"):
            aspects.insert(0, f"replaced from {now['effective']['from']}")
        elif was.get("effective") != now.get("effective"):
            start, end = _dates(was), _dates(now)
            retired = (
                start[0] == end[0]
                and end[1] is not None
                and (start[1] is None or end[1] < start[1])
            )
            aspects.append(
                f"retired after {end[1]}" if retired and len(aspects) == 0 else "re-dated"
            )
            details.append(
                f"in force {start[0] or '...'} to {start[1] or '...'} -> "
                f"{end[0] or '...'} to {end[1] or '...'}"
            )
        changes.append(
            Change(section, now["clause"], now["id"], "changed", tuple(aspects), tuple(details))
        )
    return changes


def _dates(rule: Mapping[str, Any]) -> tuple[str | None, str | None]:
    effective = rule.get("effective") or {}
    return effective.get("from"), effective.get("to")


_ASPECTS = {
    "text": "reworded",
    "when": "condition",
    "outcome": "outcome",
    "overrides": "re-prioritised",
    "default": "re-prioritised",
    "clause": "renumbered",
    "type": "credit type",
    "rep_credit": "rep credit",
    "governs": "governs",
    "partner": "governs",
    "topic": "topic",
    "method": "sharing",
    "excess": "excess",
    "shares": "sharing",
}


def _aspects(was: Mapping[str, Any], now: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    aspects: list[str] = []
    details: list[str] = []
    for field, aspect in _ASPECTS.items():
        if field in was and was.get(field) != now.get(field):
            if aspect not in aspects:
                aspects.append(aspect)
            if field == "text" and was.get(field) and now.get(field):
                details.append(f"text: {_reworded(was[field], now[field])}")
                continue
            details.append(
                f"{field}: {_describe(field, was.get(field))} -> {_describe(field, now.get(field))}"
            )
    return aspects, details


def _reworded(was: str, now: str) -> str:
    """The words that changed, in context: ``credited [70% -> 65%] to Vertex``."""
    a, b = was.split(), now.split()
    parts: list[str] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op == "equal":
            words = a[i1:i2]
            parts.extend(words if len(words) <= 6 else [*words[:3], "...", *words[-3:]])
        else:
            parts.append(f"[{' '.join(a[i1:i2]) or '+'} -> {' '.join(b[j1:j2]) or '-'}]")
    return " ".join(parts)


def _describe(field: str, value: Any) -> str:
    if field == "outcome" and isinstance(value, Mapping):
        if value.get("shares") is not None:
            return ", ".join(
                f"{p} {percent_reading(Fraction(s))}" for p, s in value["shares"].items()
            )
        return str(value.get("kind"))
    return _show(value)


def _summary(rule: Mapping[str, Any]) -> tuple[str, ...]:
    out = []
    if rule.get("effective"):
        start, end = _dates(rule)
        out.append(f"in force {start or '...'} to {end or '...'}")
    if rule.get("when"):
        out.append(f"when {rule['when']}")
    if rule.get("outcome"):
        out.append(f"outcome {_describe('outcome', rule['outcome'])}")
    if rule.get("overrides"):
        out.append(f"overrides {', '.join(rule['overrides'])}")
    return tuple(out)


# -- what-if on deals -----------------------------------------------------------------------


@attrs.frozen
class DealChange:
    """One deal whose credit changed: per credit type, old and new amount per partner, and
    the clauses that decided each (``error`` when a version refused the deal)."""

    deal: str
    old: Mapping[str, Mapping[str, Decimal]]  # type -> partner -> amount
    new: Mapping[str, Mapping[str, Decimal]]
    old_clauses: Mapping[str, tuple[str, ...]]
    new_clauses: Mapping[str, tuple[str, ...]]
    old_error: str | None = None
    new_error: str | None = None

    def delta(self, ctype: str, partner: str) -> Decimal:
        zero = Decimal(0)
        return self.new.get(ctype, {}).get(partner, zero) - self.old.get(ctype, {}).get(
            partner, zero
        )

    def lines(self, currency: str) -> list[str]:
        """The change in words: each credit type whose amounts or clauses changed."""
        lines = []
        if self.old_error or self.new_error:
            lines.append(
                f"    old: {self.old_error or 'allocated'}; new: {self.new_error or 'allocated'}"
            )
        for ctype in sorted(self.old.keys() | self.new.keys()):
            olds, news = self.old.get(ctype, {}), self.new.get(ctype, {})
            if olds == news and self.old_clauses.get(ctype) == self.new_clauses.get(ctype):
                continue
            was = ", ".join(self.old_clauses.get(ctype, ())) or "none"
            now = ", ".join(self.new_clauses.get(ctype, ())) or "none"
            lines.append(f"    {ctype} (clause {was} -> clause {now}):")
            for p in sorted(olds.keys() | news.keys()):
                o = olds.get(p, _zero_like(news.get(p)))
                n = news.get(p, _zero_like(olds.get(p)))
                lines.append(f"      {p}: {o} -> {n} ({n - o:+} {currency})")
        return lines

    def moves_money(self) -> bool:
        """Whether any partner's amount of any credit type changed."""
        return any(
            self.delta(t, p)
            for t in self.old.keys() | self.new.keys()
            for p in self.old.get(t, {}).keys() | self.new.get(t, {}).keys()
        )

    def signature(self) -> tuple[Any, ...]:
        """What changed, without the amounts: the clauses per credit type, and refusals."""
        types = sorted(self.old.keys() | self.new.keys())
        return (
            tuple((t, self.old_clauses.get(t), self.new_clauses.get(t)) for t in types),
            self.old_error is None,
            self.new_error is None,
        )

    def to_dict(self) -> dict[str, Any]:
        def amounts(m: Mapping[str, Mapping[str, Decimal]]) -> dict[str, dict[str, str]]:
            return {t: {p: str(v) for p, v in ps.items()} for t, ps in m.items()}

        data: dict[str, Any] = {
            "deal": self.deal,
            "old": amounts(self.old),
            "new": amounts(self.new),
            "old_clauses": {t: list(c) for t, c in self.old_clauses.items()},
            "new_clauses": {t: list(c) for t, c in self.new_clauses.items()},
        }
        if self.old_error is not None:
            data["old_error"] = self.old_error
        if self.new_error is not None:
            data["new_error"] = self.new_error
        return data


@attrs.frozen
class WhatIf:
    """Deals run through both versions. ``totals`` maps (credit type, partner) to (old
    total, new total) over the deals both versions allocated; the deltas of ``changed``
    add up to the totals' deltas."""

    changed: tuple[DealChange, ...]
    unchanged: int
    totals: Mapping[tuple[str, str], tuple[Decimal, Decimal]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "changed": [c.to_dict() for c in self.changed],
            "unchanged": self.unchanged,
            "totals": [
                {"type": t, "partner": p, "old": str(o), "new": str(n), "delta": str(n - o)}
                for (t, p), (o, n) in self.totals.items()
            ],
        }

    def text(self, currency: str) -> str:
        lines = [f"what-if: {len(self.changed)} deal(s) changed, {self.unchanged} unchanged"]
        for c in self.changed:
            lines.append(f"  deal {c.deal}:")
            lines += c.lines(currency)
        lines.append("  totals:")
        for (ctype, p), (o, n) in self.totals.items():
            lines.append(f"    {ctype} {p}: {o} -> {n} ({n - o:+} {currency})")
        return "\n".join(lines) + "\n"


def _zero_like(amount: Decimal | None) -> Decimal:
    """Zero written to the unit of ``amount`` (0.00 beside 12.50)."""
    return Decimal(0) if amount is None else abs(amount) * 0


def _credit_map(a: Allocation) -> tuple[dict[str, dict[str, Decimal]], dict[str, tuple[str, ...]]]:
    return (
        {c.type: {p.partner: p.amount for p in c.partners} for c in a.credits},
        {c.type: c.clauses for c in a.credits},
    )


def what_if(old: Ruleset, new: Ruleset, deals: Iterable[Mapping[str, Any]]) -> WhatIf:
    """Run each deal through ``old`` and ``new``; see :class:`WhatIf`."""
    changed: list[DealChange] = []
    unchanged = 0
    totals: dict[tuple[str, str], list[Decimal]] = {}
    for deal in deals:
        results: list[tuple[Allocation | None, str | None]] = []
        for ruleset in (old, new):
            try:
                results.append((ruleset.allocate(deal, explain=False), None))
            except CreditRulesError as exc:
                results.append((None, str(exc)))
        (a, a_err), (b, b_err) = results
        before, before_clauses = _credit_map(a) if a is not None else ({}, {})
        after, after_clauses = _credit_map(b) if b is not None else ({}, {})
        if a is not None and b is not None:
            for amounts, slot in ((before, 0), (after, 1)):
                for ctype, parts in amounts.items():
                    for partner, amount in parts.items():
                        totals.setdefault((ctype, partner), [Decimal(0), Decimal(0)])[slot] += (
                            amount
                        )
        if (before, before_clauses, a_err) == (after, after_clauses, b_err):
            unchanged += 1
            continue
        deal_id = str(deal.get("id")) if isinstance(deal, Mapping) else str(deal)
        changed.append(
            DealChange(deal_id, before, after, before_clauses, after_clauses, a_err, b_err)
        )
    ordered = {k: (v[0], v[1]) for k, v in sorted(totals.items())}
    return WhatIf(tuple(changed), unchanged, ordered)


@attrs.frozen
class Example:
    """A deal (JSON shape) that the two versions credit differently, and how."""

    deal: Mapping[str, Any]
    change: DealChange

    def to_dict(self) -> dict[str, Any]:
        return {"deal": dict(self.deal), **self.change.to_dict()}


def examples(old: Ruleset, new: Ruleset, *, limit: int = 12) -> tuple[Example, ...]:
    """Deals, found rather than given, whose credit ``old`` and ``new`` decide differently:
    one deal for each distinct change (which clauses decide each credit type, and which
    version refuses the deal), the first whose amounts show it, at most ``limit``,
    numbered ``EX-1``, ``EX-2``..."""
    import json

    from creditrules.analysis import analyse
    from creditrules.analysis._deal_space import DealSpace

    candidates: dict[str, Mapping[str, Any]] = {}
    for ruleset in (old, new):
        space = DealSpace(ruleset)
        found = analyse(ruleset)
        # A deal aimed at each rule, on each day a window opens or closes (an amendment's
        # date, a retired clause's last day), besides the boundary deals and witnesses.
        aimed = [{**deal, "date": day.isoformat()} for deal in space.witnesses()
                 for day in space.days]
        for deal in [*space.boundary_deals(), *aimed,
                     *(f.witness for f in (*found.findings, *found.acknowledged)
                       if f.witness is not None)]:
            # Each also at a round amount, where a change of clause moves money visibly.
            for each in (deal, {**deal, "amount": space.amount_text(10_000)}):
                candidates.setdefault(json.dumps(each, sort_keys=True), each)
    kept: dict[tuple[Any, ...], tuple[Mapping[str, Any], DealChange]] = {}
    for deal in candidates.values():
        (change,) = what_if(old, new, [deal]).changed or (None,)
        if change is None:
            continue
        # For each kind of change, the first deal whose amounts show it (a deal of one
        # cent can change clauses without moving a cent).
        first = kept.get(change.signature())
        if first is None or (not first[1].moves_money() and change.moves_money()):
            kept[change.signature()] = (deal, change)
    out = []
    for n, (deal, change) in enumerate(list(kept.values())[:limit], start=1):
        named = {**deal, "id": f"EX-{n}"}
        out.append(Example(named, attrs.evolve(change, deal=named["id"])))
    return tuple(out)


def examples_text(found: Sequence[Example], currency: str) -> str:
    """The examples in words, each deal as JSON to replay with ``creditrules explain``."""
    import json

    lines = [f"examples: {len(found)} deal(s) credited differently (found from the two "
             "versions' boundaries and the analysis's witnesses; give --deals for real ones)"]
    for example in found:
        lines.append(f"  deal {example.change.deal}: {json.dumps(dict(example.deal))}")
        lines += example.change.lines(currency)
    return "\n".join(lines) + "\n"
