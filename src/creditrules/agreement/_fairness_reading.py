"""Reading ``fairness:`` from a ruleset file: declared exemptions (each bound to rules,
partners and a size) and interchangeable partners. Applying them is the fairness check's
(:mod:`creditrules.fairness._exemptions`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from creditrules.agreement._vocabulary import HARD_INVARIANTS, SOFT_INVARIANTS
from creditrules.agreement.ruleset import FairnessExemption
from creditrules.errors import Location

if TYPE_CHECKING:
    from creditrules.agreement._builder import _RulesetBuilder
    from creditrules.agreement._yaml import Node

_BOUND_HELP = ("a bound: {partners: [...], at_most: N%} (which partners the departure may "
               "concern, how far at most, and optionally 'when', the deals it covers)")


@attrs.frozen
class DeclaredFairness:
    """What one ruleset file declares under ``fairness:``."""

    exemptions: tuple[FairnessExemption, ...] = ()
    interchangeable: tuple[tuple[str, ...], ...] = ()


def read_fairness(reader: _RulesetBuilder, node: Node | None,
                  rules: Mapping[str, Sequence[str]], partners: Sequence[str]
                  ) -> DeclaredFairness:
    """Read ``fairness: {exemptions: [...], interchangeable: [...]}`` of a ruleset file
    (problems go to ``reader``). ``rules`` maps each rule id to the clauses it cites."""
    m = reader.mapping(node, "fairness", Location(""))
    if m is None:
        return DeclaredFairness()
    reader.keys(m, ("exemptions", "interchangeable"), "fairness")
    found = [e for item in reader.sequence(m.get("exemptions"), "fairness exemptions")
             if (e := _exemption(reader, item, rules, partners)) is not None]
    classes: list[tuple[str, ...]] = []
    for item in reader.sequence(m.get("interchangeable"), "fairness interchangeable"):
        members = _partner_list(reader, item, partners, "an interchangeable class")
        if members is not None and len(members) < 2:
            reader.problem("bad-value", "an interchangeable class names two partners or more",
                           item.loc)
        elif members is not None:
            classes.append(tuple(sorted(members)))
    return DeclaredFairness(tuple(found), tuple(classes))


def read_exemptions(reader: _RulesetBuilder, node: Node | None,
                    rules: Mapping[str, Sequence[str]], partners: Sequence[str]
                    ) -> tuple[FairnessExemption, ...]:
    """The exemptions of :func:`read_fairness`."""
    return read_fairness(reader, node, rules, partners).exemptions


def _partner_list(reader: _RulesetBuilder, node: Node, partners: Sequence[str], what: str
                  ) -> list[str] | None:
    from creditrules.agreement._yaml import ScalarNode
    from creditrules.errors import suggest

    items = [node] if isinstance(node, ScalarNode) else reader.sequence(node, what)
    out: list[str] = []
    ok = True
    for item in items:
        name = reader.text(item, what)
        if name is None:
            ok = False
        elif name not in partners:
            reader.problem("unknown-partner", f"unknown partner {name!r}"
                           + suggest(name, partners), item.loc)
            ok = False
        elif name not in out:
            out.append(name)
    return out if ok else None


def _exemption(reader: _RulesetBuilder, item: Node, rules: Mapping[str, Sequence[str]],
               partners: Sequence[str]) -> FairnessExemption | None:
    from creditrules.errors import suggest

    body = reader.mapping(item, "a fairness exemption", Location(""))
    if body is None:
        return None
    what = "a fairness exemption"
    reader.keys(body, ("invariant", "clause", "rules", "bound", "reason", "field"), what)
    name = reader.text(reader.required(body, "invariant", what), "invariant")
    clause = reader.text(reader.required(body, "clause", what), "clause")
    reason = reader.text(reader.required(body, "reason", what), "reason")
    rules_node = reader.required(body, "rules", what)
    field = reader.text(body.get("field"), "field")
    ok = None not in (name, clause, reason, rules_node)
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
    every_clause = sorted({c for cs in rules.values() for c in cs})
    if clause is not None and clause not in every_clause:
        reader.problem("unknown-clause", f"no rule cites clause {clause!r}"
                       + suggest(clause, every_clause), body.loc)
        ok = False
    ids: list[str] = []
    for node in reader.sequence(rules_node, "the exemption's rules") if rules_node else ():
        rid = reader.text(node, "a rule id")
        if rid is not None and rid not in rules:
            reader.problem("unknown-rule", f"unknown rule {rid!r}" + suggest(rid, sorted(rules)),
                           node.loc)
            ok = False
        elif rid is not None and rid not in ids:
            ids.append(rid)
    if rules_node is not None and ok and not ids:
        reader.problem("missing-key", "a fairness exemption names the rules it covers",
                       rules_node.loc)
        ok = False
    if ok and clause is not None and not any(clause in rules[r] for r in ids):
        reader.problem("clause-mismatch", f"none of the rules {', '.join(ids)} cites clause "
                       f"{clause!r}: an exemption covers the rules that clause permits",
                       rules_node.loc if rules_node is not None else body.loc)
        ok = False
    bound = _bound(reader, body, partners)
    if bound is None or not ok:
        return None
    assert name is not None
    assert clause is not None
    assert reason is not None
    bound_partners, at_most, when, when_text = bound
    # Sets, not orders: sorted so the agreement's hash does not depend on how they are listed.
    return FairnessExemption(name, clause, " ".join(reason.split()), tuple(sorted(ids)),
                             tuple(sorted(bound_partners)), at_most, when, when_text, field,
                             body.loc)


def _bound(reader: _RulesetBuilder, body: Any, partners: Sequence[str]) -> Any:
    node = body.get("bound")
    if node is None:
        reader.problem("missing-bound", "a fairness exemption needs " + _BOUND_HELP, body.loc)
        return None
    from creditrules.agreement._yaml import MapNode

    if not isinstance(node, MapNode):
        reader.problem("missing-bound", "an exemption's bound is no longer a bare share: "
                       "write " + _BOUND_HELP, node.loc)
        return None
    reader.keys(node, ("partners", "at_most", "when"), "an exemption's bound")
    who = reader.required(node, "partners", "an exemption's bound")
    limit = reader.required(node, "at_most", "an exemption's bound")
    members = None if who is None else _partner_list(reader, who, partners, "a partner")
    at_most = None if limit is None else reader.share(limit, "at_most")
    when, when_text = reader.condition(node.get("when"))
    if node.get("when") is not None and when is None:
        return None
    if not members or at_most is None:
        return None
    return tuple(members), at_most, when, when_text


