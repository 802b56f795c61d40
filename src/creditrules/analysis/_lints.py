"""Suspicious values: warnings, each with the likely fix.

These read the ruleset as written (the raw YAML text of each share, where each key sits)
as well as the loaded values: ``overlay: {medco: 10}`` loads as 1000%, which is legal but
almost never meant where the rest of the file writes ``%``. Sample deals beside the
ruleset (``NAME-deals.jsonl``), when present, count as uses of activity kinds and field
values.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterator, Mapping
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

from creditrules.agreement._yaml import MapNode, Node, ScalarNode, SeqNode, compose
from creditrules.agreement.policy import EntertainmentPolicy, ExpenseRule, PolicyRule
from creditrules.agreement.ruleset import CreditRule, Ruleset, Split
from creditrules.allocation._outcomes import LEAD_KIND
from creditrules.analysis._findings import Finding
from creditrules.base._money import parse_share, percent_text
from creditrules.conditions import _conditions
from creditrules.conditions._ast import Count, Expr, Field, Literal
from creditrules.errors import CreditRulesError, Location

__all__ = ["lint"]

_CLOSE = 0.8  # difflib ratio from which two names count as near misses
_MAX_SAMPLE_BYTES = 20_000_000
_STRICTER = re.compile(
    r"\b(stricter|strictest|more (stringent|restrictive)|most "
    r"(stringent|restrictive))\b",
    re.IGNORECASE,
)
_OWNER = re.compile(r"\b(owner|owns)\b", re.IGNORECASE)
_NEGATION = re.compile(r"\b(neither|not|no|none)\b", re.IGNORECASE)
_EQUALLY = re.compile(r"\b(equally|equal shares|in equal parts)\b|\b50/50\b", re.IGNORECASE)
_DIGITS = re.compile(r"\d+")
_THOUSANDS = re.compile(r"^-?\d{1,3}([.,]\d{3})+$")


def lint(ruleset: Ruleset) -> list[Finding]:
    """Every suspicious-value warning about ``ruleset`` (see the module doc)."""
    files = _files(ruleset)
    samples = _samples(ruleset)
    out: list[Finding] = []
    for path, root in files.items():
        out += _shares(path, root)
        out += _category_caps(ruleset, root)
        out += _limit_directions(root)
        out += _partner_declarations(ruleset, root, samples)
        out += _weight_keys(ruleset, root, samples)
    out += _literal_near_misses(ruleset, samples)
    out += _thousands(ruleset)
    out += _governs_text(ruleset)
    out += _equally(ruleset)
    return out


# -- reading -------------------------------------------------------------------------------
def _files(ruleset: Ruleset) -> dict[str, MapNode]:
    """The ruleset's files (base and amendments), composed; those not on disk skipped."""
    names = {ruleset.source, *(r.location.file for r in ruleset.rules)}
    out: dict[str, MapNode] = {}
    for name in sorted(names):
        try:
            root = compose(Path(name).read_text(encoding="utf-8"), name)
        except (OSError, UnicodeDecodeError, CreditRulesError):
            continue
        if isinstance(root, MapNode):
            out[name] = root
    return out


def _samples(ruleset: Ruleset) -> list[Mapping[str, Any]]:
    """The sample deals beside the base file (``NAME-deals.jsonl``), if any."""
    base = Path(ruleset.source)
    path = base.with_name(base.stem + "-deals.jsonl")
    try:
        if path.stat().st_size > _MAX_SAMPLE_BYTES:
            return []
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return []
    deals: list[Mapping[str, Any]] = []
    for line in lines:
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if isinstance(item, dict):
            deals.append(item)
    return deals


def _map(node: Node | None) -> MapNode | None:
    return node if isinstance(node, MapNode) else None


def _items(node: Node | None) -> Iterator[MapNode]:
    if isinstance(node, SeqNode):
        yield from (i for i in node.items if isinstance(i, MapNode))


def _scalar(node: Node | None) -> str | None:
    return node.text if isinstance(node, ScalarNode) else None


def _close(word: str, others: Any) -> str | None:
    """The nearest of ``others`` if it is a near miss of ``word``; names that differ only
    in their digits (``r1``, ``r10``; ``tier-2``, ``tier-3``) are deliberate series."""
    letters = _DIGITS.sub("", word)
    candidates = sorted(o for o in others if o != word and _DIGITS.sub("", o) != letters)
    found = difflib.get_close_matches(word, candidates, n=1, cutoff=_CLOSE)
    return found[0] if found else None


# -- shares ----------------------------------------------------------------------------------
def _share_nodes(root: MapNode) -> Iterator[tuple[str, str, ScalarNode]]:
    """(rule id, what, share scalar) for every share written in the file."""
    for rule in _items(root.get("credit")):
        rid = _scalar(rule.get("id")) or "?"
        for key in ("split", "overlay", "if_no_contribution"):
            for _, value in _map(rule.get(key)) or ():
                if isinstance(value, ScalarNode):
                    yield rid, key, value
    for rule in _items(root.get("expense_sharing")):
        rid = _scalar(rule.get("id")) or "?"
        for _, value in _map(rule.get("share")) or ():
            if isinstance(value, ScalarNode):
                yield rid, "share", value


def _shares(file: str, root: MapNode) -> list[Finding]:
    shares = list(_share_nodes(root))
    uses_percent = any(s.text.strip().endswith("%") for _, _, s in shares)
    out = []
    for rid, what, node in shares:
        text = node.text.strip()
        try:
            value = parse_share(text)
        except CreditRulesError:
            continue
        meant = text + "%"
        if not text.endswith("%") and uses_percent:
            out.append(
                Finding(
                    "share-without-percent",
                    "warning",
                    f"rule {rid} {what} share {text} is "
                    f"{percent_text(value)}, written without % where the file writes shares in %",
                    node.loc,
                    fix=f"write {percent_text(value)}"
                    + (f" (or {meant} if {meant} is meant)" if value > 1 else ""),
                    rules=(rid,),
                )
            )
        elif value > 1:
            out.append(
                Finding(
                    "share-above-100",
                    "warning",
                    f"rule {rid} {what} share {text} is above 100%",
                    node.loc,
                    fix="check the figure: overlay credit above 100% of the sale is rarely meant",
                    rules=(rid,),
                )
            )
    return out


# -- policies --------------------------------------------------------------------------------
def _category_caps(ruleset: Ruleset, root: MapNode) -> list[Finding]:
    out = []
    for partner_key, topics in _map(root.get("policies")) or ():
        partner = partner_key.text
        policy = ruleset.policies.get(partner, {}).get("entertainment")
        body = _map(topics)
        ent = _map(body.get("entertainment")) if body is not None else None
        if not isinstance(policy, EntertainmentPolicy) or ent is None:
            continue
        for cat_key, table in _map(ent.get("categories")) or ():
            for kind_key, node in _map(table) or ():
                cap = policy.categories.get(cat_key.text, {}).get(kind_key.text)
                general = policy.caps.get(kind_key.text)
                if isinstance(cap, Decimal) and isinstance(general, Decimal) and cap > general:
                    out.append(
                        Finding(
                            "category-cap-above-general",
                            "warning",
                            f"{partner}'s "
                            f"{cat_key.text} {kind_key.text} cap {cap} is above its general "
                            f"{kind_key.text} cap {general}: a category cap normally tightens",
                            node.loc,
                            fix=f"check the figure (a digit too many?); at most {general}",
                        )
                    )
    return out


def _limit_directions(root: MapNode) -> list[Finding]:
    out = []
    for topic_key, value in _map(root.get("topics")) or ():
        body = _map(value)
        for name_key, node in (_map(body.get("limits")) if body is not None else None) or ():
            name, direction = name_key.text, _scalar(node)
            wrong = (name.startswith("max") and direction == "higher") or (
                name.startswith("min") and direction == "lower"
            )
            if wrong:
                right = "lower" if direction == "higher" else "higher"
                out.append(
                    Finding(
                        "limit-direction",
                        "warning",
                        f"{topic_key.text} limit {name} is declared "
                        f"stricter when {direction}, which its name contradicts",
                        node.loc,
                        fix=f"declare it '{right}' (a {name.split('_')[0]}imum is "
                        f"stricter when {right})",
                    )
                )
    return out


def _governs_text(ruleset: Ruleset) -> list[Finding]:
    out = []
    for rule in ruleset.policy_rules:
        text = rule.text
        says = None
        if _STRICTER.search(text) and rule.governs != "stricter":
            says = "stricter"
        elif (
            _OWNER.search(text)
            and not _NEGATION.search(text)
            and rule.governs not in ("account_owner", "stricter")
        ):
            says = "account_owner"
        if says is not None:
            declared = rule.partner if rule.governs == "partner" else rule.governs
            out.append(
                _about(
                    rule,
                    "governs-text",
                    f"policy rule {rule.id}: its text reads as 'governs: {says}' but it "
                    f"declares 'governs: {declared}'",
                    f"declare 'governs: {says}', or correct the text",
                )
            )
    return out


def _equally(ruleset: Ruleset) -> list[Finding]:
    out = []
    checks: list[tuple[str, str, str, Mapping[str, Fraction] | None, Location]] = []
    for r in ruleset.rules:
        shares = r.outcome.shares if isinstance(r.outcome, Split) else None
        checks.append((r.id, r.clause, r.text, shares, r.location))
    for e in ruleset.expense_rules:
        checks.append(
            (e.id, e.clause, e.text, e.shares if e.method == "split" else None, e.location)
        )
    for rid, clause, text, shares, loc in checks:
        if shares and _EQUALLY.search(text) and len(set(shares.values())) > 1:
            split = ", ".join(f"{p} {percent_text(s)}" for p, s in sorted(shares.items()))
            out.append(
                Finding(
                    "equally-text",
                    "warning",
                    f"rule {rid}: its text says equally, but it splits {split}",
                    loc,
                    clause,
                    fix="split equally ('equal'), or correct the text",
                    rules=(rid,),
                )
            )
    return out


# -- names ----------------------------------------------------------------------------------
def _weight_keys(
    ruleset: Ruleset, root: MapNode, samples: list[Mapping[str, Any]]
) -> list[Finding]:
    used = {LEAD_KIND}
    for expr in _all_conditions(ruleset):
        used.update(
            v for path, v in _literals(expr) if path == "activities.kind" and isinstance(v, str)
        )
    sample_kinds = {
        a.get("kind") for d in samples for a in _list(d.get("activities")) if isinstance(a, dict)
    }
    used.update(k for k in sample_kinds if isinstance(k, str))
    out = []
    tables: list[tuple[str | None, MapNode | None]] = [(None, _map(root.get("contribution")))]
    tables += [(_scalar(r.get("id")), r) for r in _items(root.get("credit"))]
    for rid, table in tables:
        weights = _map(table.get("weights")) if table is not None else None
        for key, _ in weights or ():
            if key.text in used:
                continue
            near = _close(key.text, used)
            if near is None and not sample_kinds:
                continue  # nothing to compare with: no sample says which kinds occur
            where = f"rule {rid}" if rid else "contribution"
            out.append(
                Finding(
                    "unused-weight",
                    "warning",
                    f"{where} weight key {key.text!r} is an activity "
                    "kind no condition or sample deal uses"
                    + (f" (they use {near!r})" if near else ""),
                    key.loc,
                    fix=f"rename it {near!r}"
                    if near
                    else "check the kind's spelling against the activity records",
                    rules=(rid,) if rid else (),
                )
            )
    return out


def _partner_declarations(
    ruleset: Ruleset, root: MapNode, samples: list[Mapping[str, Any]]
) -> list[Finding]:
    declared = _map(root.get("partners"))
    if declared is None:
        return []
    uses = {p: 0 for p in ruleset.partner_ids}
    for r in ruleset.rules:
        shares = getattr(r.outcome, "shares", None) or {}
        for p, s in shares.items():
            uses[p] = uses.get(p, 0) + (1 if s else 0)
    for expr in _all_conditions(ruleset):
        for _, v in _literals(expr):
            if isinstance(v, str) and v in uses:
                uses[v] += 1
    for p in ruleset.policies:
        uses[p] = uses.get(p, 0) + 1
    for d in samples:
        for value in (_get(d, "account", "owner"), _get(d, "lead", "source")):
            if value in uses:
                uses[value] += 1
    out = []
    for key, _ in declared:
        pid = key.text
        if uses.get(pid, 0):
            continue
        near = _close(pid, [p for p, n in uses.items() if n])
        if near is not None:
            out.append(
                Finding(
                    "unused-partner",
                    "warning",
                    f"partner {pid!r} is declared but never used, "
                    f"while {near!r} is used throughout",
                    key.loc,
                    fix=f"remove {pid!r} (or correct the uses of {near!r})",
                )
            )
    return out


def _literal_near_misses(ruleset: Ruleset, samples: list[Mapping[str, Any]]) -> list[Finding]:
    counts: dict[str, dict[str, int]] = {}
    where: dict[tuple[str, str], Any] = {}
    rules = _every_rule(ruleset)
    for rule in sorted(rules, key=lambda r: r.location):
        if rule.when is None:
            continue
        for path, v in _literals(rule.when):
            if isinstance(v, str):
                counts.setdefault(path, {})
                counts[path][v] = counts[path].get(v, 0) + 1
                where.setdefault((path, v), rule)
    partners = set(ruleset.partner_ids)
    for d in samples:
        for path in list(counts):
            value = _get(d, *path.split("."))
            if isinstance(value, str):
                counts[path][value] = counts[path].get(value, 0) + 1
    out = []
    for path, values in sorted(counts.items()):
        for v in sorted(values):
            found = where.get((path, v))
            if found is None or v in partners:
                continue
            near = _close(v, values)
            if near is None or values[near] < values[v] or (values[near] == values[v] and near < v):
                continue
            out.append(
                _about(
                    found,
                    "near-miss-literal",
                    f"rule {found.id} compares {path} with {v!r}, a near miss of {near!r} "
                    "used elsewhere",
                    f"write {near!r} if that is meant",
                )
            )
    return out


def _thousands(ruleset: Ruleset) -> list[Finding]:
    out = []
    for rule in _every_rule(ruleset):
        if rule.when is None:
            continue
        for left, _, right in _walk(rule.when):
            if (
                isinstance(right, Literal)
                and isinstance(right.value, Decimal)
                and _THOUSANDS.match(right.text)
            ):
                plain = right.text.replace(",", "").replace(".", "")
                out.append(
                    _about(
                        rule,
                        "thousands-separator",
                        f"rule {rule.id} compares {left.text} with {right.text}, read as "
                        f"{_plain(right.value)}",
                        f"write {plain} (or {int(plain):_}) if {int(plain):,} is meant",
                    )
                )
    return out


def _about(
    rule: CreditRule | PolicyRule | ExpenseRule, code: str, message: str, fix: str
) -> Finding:
    """A warning about one rule, at the rule, citing its clause."""
    return Finding(code, "warning", message, rule.location, rule.clause, fix=fix, rules=(rule.id,))


# -- walking conditions -------------------------------------------------------------------
def _every_rule(ruleset: Ruleset) -> list[CreditRule | PolicyRule | ExpenseRule]:
    return [*ruleset.rules, *ruleset.policy_rules, *ruleset.expense_rules]


def _all_conditions(ruleset: Ruleset) -> list[Expr]:
    return [r.when for r in _every_rule(ruleset) if r.when is not None]


def _walk(expr: Expr) -> Iterator[tuple[Any, str, Any]]:
    """Every comparison, entering count predicates."""
    for left, op, right in _conditions.comparisons(expr):
        for side in (left, right):
            if isinstance(side, Count) and side.where is not None:
                yield from _walk(side.where)
        yield left, op, right


def _literals(expr: Expr, prefix: str = "") -> Iterator[tuple[str, Any]]:
    for left, _, right in _conditions.comparisons(expr):
        for side in (left, right):
            if isinstance(side, Count) and side.where is not None:
                yield from _literals(side.where, side.collection + ".")
        if isinstance(left, Field) and isinstance(right, Literal):
            yield prefix + ".".join(left.path), right.value


def _plain(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _get(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data
