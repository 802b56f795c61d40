"""Applying an amendment to the rules and precedence lists read so far: replaced, added
and retired rules, replaced precedence lists, and the agreement's new term."""

from __future__ import annotations

import datetime as dt

import attrs

from creditrules.agreement._builder import _RulesetBuilder
from creditrules.agreement._yaml import MapNode
from creditrules.agreement.ruleset import CreditRule, DateRange, PrecedenceList
from creditrules.errors import Location, suggest


def _apply_amendment(b: _RulesetBuilder, root: MapNode, version: str,
                     rules: dict[str, CreditRule], precedence: list[PrecedenceList],
                     prec_locs: dict[str, Location], agreement: DateRange) -> DateRange:
    """Rules given by the amendment replace same-id rules from its date on, or are added;
    ``retire`` ends rules; ``precedence`` lists replace the base's for their types."""
    window_node = b.required(root, "effective", "an amendment")
    window = b.date_range(window_node, "amendment effective")
    if window.start is None:
        if window_node is not None:
            b.problem("missing-key", "an amendment's effective needs 'from'", window_node.loc)
        return agreement
    start = window.start
    new_agreement = DateRange(agreement.start, window.end or agreement.end)
    before = start - dt.timedelta(days=1)

    def end_current(rid: str) -> bool:
        found = False
        for key, rule in list(rules.items()):
            if rule.id == rid and (rule.effective.end is None or rule.effective.end >= start):
                found = True
                rules[key] = _replace_effective(rule, DateRange(rule.effective.start, before))
        return found

    for node in b.sequence(root.get("retire"), "retire"):
        rid = b.text(node, "retire")
        if rid is None or end_current(rid):
            continue
        ended = [r.effective.end for r in rules.values() if r.id == rid and r.effective.end]
        if ended:
            b.problem("unknown-rule", f"amendment retires rule {rid!r} from {start}, but it "
                      f"is no longer in force then (it ends {max(ended)})", node.loc)
        else:
            b.problem("unknown-rule", f"amendment retires unknown rule {rid!r}"
                      + suggest(rid, {r.id for r in rules.values()}), node.loc)
    amend_window = DateRange(window.start, None)
    for node in b.sequence(root.get("credit"), "credit"):
        rule = b.rule(node, version, amend_window)
        if rule is None:
            continue
        end_current(rule.id)
        rules[rule.key] = rule
    # An amendment's precedence list replaces the type's earlier list from its date on.
    new_lists: dict[str, tuple[str, ...]] = {}
    b.precedence(root.get("precedence"), new_lists, prec_locs)
    for type_name, ids in new_lists.items():
        for i, plist in enumerate(precedence):
            if plist.type == type_name and plist.effective.contains(start):
                precedence[i] = attrs.evolve(plist, effective=DateRange(plist.effective.start,
                                                                       before))
        precedence.append(PrecedenceList(type_name, ids, amend_window))
    precedence[:] = [p for p in precedence
                     if not (p.effective.start and p.effective.end
                             and p.effective.end < p.effective.start)]
    # Rules whose window is now empty never apply; drop them so ids stay unambiguous.
    for key, rule in list(rules.items()):
        eff = rule.effective
        if eff.start and eff.end and eff.end < eff.start:
            del rules[key]
    return new_agreement


def _replace_effective(rule: CreditRule, effective: DateRange) -> CreditRule:
    return attrs.evolve(rule, effective=effective)
