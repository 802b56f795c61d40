"""Located YAML nodes -> a checked :class:`~creditrules.agreement.ruleset.Ruleset`.

Every field is converted by its declared type from the scalar's raw text. Problems are
gathered across the whole file (and its amendments) and raised once, each with its own
``file:line:column`` and stable code.

This module loads the document (a ruleset file, or an amendment and the files it amends)
and checks references across rules. Node conversion is in ``_node_reader``, the header
and credit rules in ``_ruleset_builder``, applying an amendment in ``_amendments``; the
names other modules import from here (``_Reader``, ``_RulesetBuilder``, ``_RULE_ID``,
``_condition_location``, the condition field tables) are re-exported.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path

import attrs

from creditrules.agreement._amendments import _apply_amendment, _replace_effective
from creditrules.agreement._builder import _RULE_ID as _RULE_ID
from creditrules.agreement._builder import COLLECTIONS as COLLECTIONS
from creditrules.agreement._builder import DEAL_FIELDS as DEAL_FIELDS
from creditrules.agreement._builder import PARTNER_FIELDS as PARTNER_FIELDS
from creditrules.agreement._builder import _condition_location as _condition_location
from creditrules.agreement._builder import _find_cycle, _intersect
from creditrules.agreement._builder import _RulesetBuilder as _RulesetBuilder
from creditrules.agreement._builder import condition_schema as condition_schema
from creditrules.agreement._node_reader import _Reader as _Reader
from creditrules.agreement._policy_schema import read_policy_sections
from creditrules.agreement._yaml import MapNode, Node, SeqNode, compose
from creditrules.agreement.ruleset import (
    AttributeSpec,
    CreditRule,
    DateRange,
    PrecedenceList,
    Ruleset,
)
from creditrules.base._money import MoneyError, TieBreak, currency_unit, parse_decimal
from creditrules.base._source_files import SourceProblem, read_source, referenced_path
from creditrules.base._wording import clause_hint
from creditrules.errors import Location, Problem, RulesetError, suggest

__all__ = ["condition_schema", "read_ruleset"]

_MAX_AMENDMENT_DEPTH = 16
_MAX_UNIT_TEXT = 40

_TOP_KEYS = (
    "ruleset",
    "version",
    "title",
    "effective",
    "currency",
    "rounding",
    "partners",
    "attributes",
    "credit_types",
    "contribution",
    "rep_credit",
    "precedence",
    "credit",
    "topics",
    "policies",
    "policy_precedence",
    "expense_sharing",
    "fairness",
    "analysis",
)
_AMENDMENT_KEYS = (
    "amends",
    "version",
    "title",
    "effective",
    "credit",
    "retire",
    "precedence",
    "fairness",
    "analysis",
)


def _read_text(path: Path, text: str | None, *, refused_at: Location | None = None) -> str:
    if text is not None:
        return text
    try:
        return read_source(path, "ruleset", refused_at=refused_at)
    except SourceProblem as exc:
        raise RulesetError([exc.problem]) from None


def read_ruleset(
    path: Path, text: str | None, *, engine: str, _depth: int = 0, allow_outside: bool = False
) -> Ruleset:
    """Read and check a ruleset (or an amendment and its base); raise every problem once.

    The files an amendment names must lie in ``path``'s directory unless
    ``allow_outside``."""
    file = str(path)
    root = compose(_read_text(path, text), file)
    if not isinstance(root, MapNode):
        raise RulesetError(
            [Problem("bad-value", "a ruleset file must be a mapping", Location(file, 1, 1))]
        )
    if root.get("amends") is not None:
        if _depth >= _MAX_AMENDMENT_DEPTH:
            raise RulesetError([Problem("amendment-depth", "too many nested amendments", root.loc)])
        return _read_amendment(path, root, engine, _depth, allow_outside)
    return _build(_RulesetBuilder(engine), root, file, [])


def _build(
    b: _RulesetBuilder, root: MapNode, file: str, amendments: list[tuple[MapNode, str]]
) -> Ruleset:
    b.keys(root, _TOP_KEYS, "the ruleset")
    rid = b.name(b.required(root, "ruleset", "the ruleset"), "ruleset id", _RULE_ID) or "?"
    version = b.text(b.required(root, "version", "the ruleset"), "version") or "?"
    title = b.text(root.get("title"), "title") or rid
    effective = b.date_range(b.required(root, "effective", "the ruleset"), "effective")
    currency_node = b.required(root, "currency", "the ruleset")
    currency = b.text(currency_node, "currency") or "?"
    b.read_partners(b.required(root, "partners", "the ruleset"), root.loc)
    b.read_attributes(root.get("attributes"))
    b.read_types(root.get("credit_types"))
    b.schema = condition_schema(frozenset(b.partners), b.attributes)
    b.contribution = b.read_contribution(root.get("contribution"), "contribution")
    rep_credit = b.rep_credit(root.get("rep_credit")) or "equal"
    unit, tie_break = _rounding(b, root.get("rounding"), currency, currency_node)

    base_lists: dict[str, tuple[str, ...]] = {}
    prec_locs: dict[str, Location] = {}
    b.precedence(root.get("precedence"), base_lists, prec_locs)
    precedence = [
        PrecedenceList(t, ids, DateRange(effective.start, None)) for t, ids in base_lists.items()
    ]

    rules: dict[str, CreditRule] = {}
    seen_ids: dict[str, Location] = {}
    for node in b.sequence(b.required(root, "credit", "the ruleset"), "credit"):
        # Open-ended: capped at the agreement's end once amendments (which may extend the
        # term) are applied.
        rule = b.rule(node, version, DateRange(effective.start, None))
        if rule is None:
            continue
        if rule.id in seen_ids:
            b.problem(
                "duplicate-rule",
                f"rule id {rule.id!r} is used twice (first at line {seen_ids[rule.id].line})",
                rule.location,
            )
            continue
        seen_ids[rule.id] = rule.location
        rules[rule.key] = rule

    versions = [version]
    for amend_root, amend_version in amendments:
        effective = _apply_amendment(
            b, amend_root, amend_version, rules, precedence, prec_locs, effective
        )
        versions.append(amend_version)
        version = amend_version
        title = b.text(amend_root.get("title"), "title") or title

    for key, rule in list(rules.items()):
        rules[key] = _replace_effective(rule, _intersect(rule.effective, effective))
    precedence = [attrs.evolve(p, effective=_intersect(p.effective, effective)) for p in precedence]
    _check_references(b, rules, precedence, prec_locs)
    sections = read_policy_sections(b, root)
    # Declared fairness exemptions and interchangeable partners, of the base file and each
    # amendment (_fairness_exemptions.py).
    from creditrules.agreement._fairness_reading import read_fairness

    cited: dict[str, set[str]] = {}
    for group in (rules.values(), sections.policy_rules, sections.expense_rules):
        for r in group:
            cited.setdefault(r.id, set()).add(r.clause)
    declared = [read_fairness(b, node.get("fairness"), {k: sorted(v) for k, v in cited.items()},
                              sorted(b.partners))
                for node in [root, *(a for a, _ in amendments)]]
    exemptions = tuple(e for d in declared for e in d.exemptions)
    interchangeable = tuple(dict.fromkeys(c for d in declared for c in d.interchangeable))
    # Acknowledged analysis warnings, of the base file and each amendment (analysis.py).
    from creditrules.agreement._acknowledgements import read_acknowledgements

    clauses = sorted({c for cs in cited.values() for c in cs})
    acknowledgements = tuple(a for node in [root, *(a for a, _ in amendments)]
                             for a in read_acknowledgements(b, node.get("analysis"), clauses,
                                                            sorted(cited)))
    if b.problems:
        raise RulesetError(b.problems)
    return Ruleset(
        id=rid,
        version=version,
        title=title,
        effective=effective,
        currency=currency,
        unit=unit,
        tie_break=tie_break,
        partners=tuple(sorted(b.partners.values(), key=lambda p: p.id)),
        attributes=tuple(AttributeSpec(n, t) for n, t in sorted(b.attributes.items())),
        credit_types=tuple(b.types.values()),
        rules=tuple(sorted(rules.values(), key=lambda r: r.key)),
        precedence=tuple(sorted(precedence, key=lambda p: (p.type, str(p.effective)))),
        rep_credit=rep_credit, contribution=b.contribution,
        source=file, versions=tuple(versions), engine_name=b.engine,
        topics=sections.topics, policies=sections.policies,
        policy_rules=sections.policy_rules, expense_rules=sections.expense_rules,
        fairness=exemptions, interchangeable=interchangeable,
        acknowledgements=acknowledgements)


def _rounding(
    b: _RulesetBuilder, node: Node | None, currency: str, currency_node: Node | None
) -> tuple[Decimal, TieBreak]:
    unit = currency_unit(currency)
    tie_break = TieBreak.hashed()
    m = b.mapping(node, "rounding", Location(""))
    if m is not None:
        b.keys(m, ("unit", "tie_break"), "rounding")
        unit_node = b.scalar(m.get("unit"), "rounding unit")
        if unit_node is not None:
            try:
                unit = parse_decimal(unit_node.text)
                if unit <= 0:
                    raise MoneyError("must be above 0")
                if len(unit_node.text) > _MAX_UNIT_TEXT:
                    # Amounts are counted in units as integers: a unit of thousands of
                    # digits would make every amount too long to convert.
                    raise MoneyError(f"is longer than {_MAX_UNIT_TEXT} characters")
            except MoneyError as exc:
                shown = unit_node.text if len(unit_node.text) <= 44 else unit_node.text[:40] + "..."
                b.problem("bad-value", f"rounding unit {shown!r}: {exc}", unit_node.loc)
                unit = Decimal("0.01")
        tb = m.get("tie_break")
        if isinstance(tb, SeqNode):
            order: list[str] = []
            for item in tb.items:
                pid = b.text(item, "tie_break partner")
                if pid is None:
                    continue
                if pid not in b.partners:
                    b.problem(
                        "unknown-partner",
                        f"unknown partner {pid!r}" + suggest(pid, b.partners),
                        item.loc,
                    )
                elif pid in order:
                    b.problem(
                        "bad-value", f"partner {pid!r} is listed twice in tie_break", item.loc
                    )
                else:
                    order.append(pid)
            tie_break = TieBreak.order(order)
        elif tb is not None and b.text(tb, "tie_break") != "hashed":
            b.problem(
                "bad-value",
                "tie_break must be 'hashed' or a list of partners in priority order",
                tb.loc,
            )
    if unit is None:
        if currency_node is not None:  # a missing currency is reported already
            b.problem(
                "unknown-currency",
                f"no currency unit known for {currency!r}: give rounding: {{unit: ...}}",
                currency_node.loc,
            )
        unit = Decimal("0.01")
    return unit, tie_break


def _check_references(
    b: _RulesetBuilder,
    rules: dict[str, CreditRule],
    precedence: list[PrecedenceList],
    prec_locs: Mapping[str, Location],
) -> None:
    by_id: dict[str, set[str]] = {}
    for rule in rules.values():
        by_id.setdefault(rule.id, set()).add(rule.type)
    for rule in rules.values():
        locs = b.override_locs.get(rule.key, {})
        for target in rule.overrides:
            loc = locs.get(target, rule.location)
            if target not in by_id:
                hint = clause_hint(target, {r.id: r.clause for r in rules.values()})
                b.problem(
                    "unknown-rule",
                    f"rule {rule.id} overrides unknown rule {target!r}"
                    + (hint or suggest(target, by_id)),
                    loc,
                )
            elif rule.type not in by_id[target]:
                b.problem(
                    "override-type",
                    f"rule {rule.id} ({rule.type}) overrides "
                    f"{target!r}, a rule of another credit type; rules compete only "
                    "within their type",
                    loc,
                )
            elif target == rule.id:
                b.problem("override-cycle", f"rule {rule.id} overrides itself", loc)
    for plist in precedence:
        type_name = plist.type
        for rid in plist.rules:
            if rid not in by_id:
                b.problem(
                    "unknown-rule",
                    f"precedence names unknown rule {rid!r}" + suggest(rid, by_id),
                    prec_locs[f"{type_name}:{rid}"],
                )
            elif type_name not in by_id[rid]:
                b.problem(
                    "override-type",
                    f"precedence for {type_name} names {rid!r}, a rule of another credit type",
                    prec_locs[f"{type_name}:{rid}"],
                )
    # Overrides and declared order together must be acyclic, or "who prevails" has no answer.
    # Checked on each date where what is in force changes (an amendment may reverse an order).
    days = {d for r in rules.values() for d in (r.effective.start, _after(r.effective.end))}
    days |= {d for p in precedence for d in (p.effective.start, _after(p.effective.end))}
    reported: set[tuple[str, ...]] = set()
    check_days: list[dt.date | None] = [None]
    if any(d is not None for d in days):
        check_days = [d for d in sorted(x for x in days if x is not None)]
    for day in check_days:
        edges: dict[str, set[str]] = {}
        for rule in rules.values():
            if day is None or rule.effective.contains(day):
                edges.setdefault(rule.id, set()).update(t for t in rule.overrides if t != rule.id)
        for plist in precedence:
            if day is None or plist.effective.contains(day):
                for i, high in enumerate(plist.rules):
                    edges.setdefault(high, set()).update(plist.rules[i + 1 :])
        cycle = _find_cycle(edges)
        if cycle and tuple(sorted(cycle)) not in reported:
            reported.add(tuple(sorted(cycle)))
            first = next(
                r for r in sorted(rules.values(), key=lambda r: r.location) if r.id in cycle
            )
            b.problem(
                "override-cycle",
                "overrides and precedence form a cycle: " + " -> ".join([*cycle, cycle[0]]),
                first.location,
            )


def _after(day: dt.date | None) -> dt.date | None:
    return day + dt.timedelta(days=1) if day is not None and day < dt.date.max else None


def _read_amendment(
    path: Path, root: MapNode, engine: str, depth: int, allow_outside: bool
) -> Ruleset:
    """An amendment names its base file; the base is read, then the amendment applied."""
    chain: list[tuple[MapNode, str]] = []
    node: MapNode = root
    current = path
    reader = _Reader()
    while node.get("amends") is not None:
        reader.keys(node, _AMENDMENT_KEYS, "an amendment")
        version = reader.text(reader.required(node, "version", "an amendment"), "version")
        base_name = reader.text(node.get("amends"), "amends")
        if reader.problems or base_name is None or version is None:
            raise RulesetError(reader.problems)
        chain.append((node, version))
        if len(chain) > _MAX_AMENDMENT_DEPTH:
            raise RulesetError([Problem("amendment-depth", "too many nested amendments", node.loc)])
        amends = node.get("amends")
        at = amends.loc if amends is not None else node.loc
        try:
            current = referenced_path(
                current, base_name, path.parent, allow_outside=allow_outside, what="amends", at=at
            )
        except SourceProblem as exc:
            raise RulesetError([exc.problem]) from None
        base = compose(_read_text(current, None, refused_at=at), str(current))
        if not isinstance(base, MapNode):
            raise RulesetError(
                [
                    Problem(
                        "bad-value",
                        "a ruleset file must be a mapping",
                        Location(str(current), 1, 1),
                    )
                ]
            )
        node = base
    return _build(_RulesetBuilder(engine), node, str(current), list(reversed(chain)))
