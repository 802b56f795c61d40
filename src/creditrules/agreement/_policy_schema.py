"""Located YAML -> policies, policy precedence rules and expense sharing rules.

The ruleset sections ``topics``, ``policies``, ``policy_precedence`` and ``expense_sharing``
(see docs/reference/ruleset-format.md). Problems are added to the same builder as the rest
of the file, so every mistake is reported at once with its location.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING

import attrs

from creditrules.agreement._yaml import MapNode, Node, ScalarNode
from creditrules.agreement.policy import (
    ENTERTAINMENT,
    FORBIDDEN,
    GOVERNS,
    Cap,
    EntertainmentPolicy,
    ExpenseRule,
    PolicyRule,
    Topic,
)
from creditrules.base._money import MoneyError, parse_decimal
from creditrules.conditions._ast import Count, Expr, Field, Literal, Schema, Type
from creditrules.errors import Location, suggest

if TYPE_CHECKING:
    from creditrules.agreement._schema import _RulesetBuilder

__all__ = ["PolicySections", "expense_schema", "read_policy_sections"]

_ENTERTAINMENT_KEYS = ("caps", "categories", "forbidden", "preapproval_above",
                       "annual_cap_per_attendee")
_POLICY_RULE_KEYS = ("id", "clause", "text", "topic", "when", "governs", "overrides",
                     "default")
_EXPENSE_RULE_KEYS = ("id", "clause", "text", "when", "share", "excess", "overrides",
                      "default")
_DIRECTIONS = ("lower", "higher")

EXPENSE_FIELDS: Mapping[tuple[str, ...], Type] = {
    ("expense", "id"): Type.TEXT,
    ("expense", "kind"): Type.TEXT,
    ("expense", "amount"): Type.NUMBER,
    ("expense", "paid_by"): Type.TEXT,
    ("expense", "attendees"): Type.NUMBER,
    ("expense", "date"): Type.DATE,
    ("expense", "preapproved"): Type.BOOL,
}


def expense_schema(schema: Schema) -> Schema:
    """The deal schema plus the fields of the expense being shared and its attendees."""
    return attrs.evolve(
        schema,
        fields={**schema.fields, **EXPENSE_FIELDS},
        collections={**schema.collections, "attendees": {("category",): Type.TEXT}},
        partner_fields=schema.partner_fields | {("expense", "paid_by")})


@attrs.frozen
class PolicySections:
    topics: tuple[Topic, ...]
    policies: Mapping[str, Mapping[str, EntertainmentPolicy | Mapping[str, Fraction]]]
    policy_rules: tuple[PolicyRule, ...]
    expense_rules: tuple[ExpenseRule, ...]


def read_policy_sections(b: _RulesetBuilder, root: MapNode) -> PolicySections:
    """Read and cross-check the policy sections of a ruleset's root mapping."""
    topics = _topics(b, root.get("topics"))
    policies = _policies(b, root.get("policies"), topics)
    named: set[str] = set()
    policy_rules = _policy_rules(b, root.get("policy_precedence"), topics, policies, named)
    expense_rules = _expense_rules(b, root.get("expense_sharing"), policies)
    _check_coverage(b, root, policies, policy_rules, expense_rules, named)
    return PolicySections(tuple(sorted(topics.values(), key=lambda t: t.name)), policies,
                          policy_rules, expense_rules)


def _topics(b: _RulesetBuilder, node: Node | None) -> dict[str, Topic]:
    m = b.mapping(node, "topics", Location(""))
    out: dict[str, Topic] = {}
    if m is None:
        return out
    for key, value in m:
        name = b.name(key, "topic")
        if name is None:
            continue
        if name == ENTERTAINMENT:
            b.problem("bad-value", "the entertainment topic is built in; declare only other "
                      "topics here", key.loc)
            continue
        body = b.mapping(value, f"topic {name}", key.loc)
        if body is None:
            continue
        b.keys(body, ("limits",), f"topic {name}")
        limits = b.mapping(b.required(body, "limits", f"topic {name}"), f"topic {name} limits",
                           body.loc)
        directions: dict[str, str] = {}
        for lkey, lvalue in limits or ():
            direction = b.text(lvalue, f"limit {lkey.text}")
            if direction not in _DIRECTIONS:
                b.problem("bad-value", f"limit {lkey.text!r} of topic {name}: say which value "
                          "is stricter, 'lower' or 'higher'", lvalue.loc)
                continue
            directions[lkey.text] = direction
        out[name] = Topic(name, directions)
    return out


def _amount(b: _RulesetBuilder, node: Node | None, what: str, *, keywords: tuple[str, ...]
            ) -> Cap | str:
    """A non-negative amount, or one of the keywords (returned as text)."""
    s = b.scalar(node, what)
    if s is None:
        return None
    if s.text in keywords:
        if s.quoted:
            b.problem("bad-amount", f"{what}: write {s.text} without quotes", s.loc)
            return None
        return s.text
    try:
        value = parse_decimal(s.text)
    except MoneyError as exc:
        expected = " or ".join(f"'{k}'" for k in keywords)
        b.problem("bad-amount", f"{what}: {exc}" + (f" (or {expected})" if keywords else ""),
                  s.loc)
        return None
    if value < 0:
        b.problem("negative-cap", f"{what} cannot be negative ({s.text})", s.loc)
        return None
    return value


def _cap(b: _RulesetBuilder, node: Node, what: str) -> Cap:
    value = _amount(b, node, what, keywords=("unlimited", "forbidden"))
    if value == "unlimited":
        return None
    if value == "forbidden":
        return FORBIDDEN
    assert not isinstance(value, str)
    return value


def _limit_amount(b: _RulesetBuilder, node: Node | None, what: str) -> Decimal | None:
    if node is None:
        return None
    value = _amount(b, node, what, keywords=("none",))
    return value if isinstance(value, Decimal) else None


def _entertainment(b: _RulesetBuilder, node: Node, partner: str) -> EntertainmentPolicy | None:
    what = f"{partner}'s entertainment policy"
    body = b.mapping(node, what, node.loc)
    if body is None:
        return None
    b.keys(body, _ENTERTAINMENT_KEYS, what)
    caps: dict[str, Decimal | None] = {}
    for key, value in b.mapping(b.required(body, "caps", what), f"{what} caps", body.loc) or ():
        cap = _cap(b, value, f"{partner} cap for {key.text}")
        if cap is FORBIDDEN:
            b.problem("bad-value", f"list forbidden kinds under 'forbidden', not as a cap "
                      f"({key.text})", value.loc)
        elif not isinstance(cap, str):
            caps[key.text] = cap if isinstance(cap, Decimal) else None
    categories: dict[str, dict[str, Cap]] = {}
    for ckey, cvalue in b.mapping(body.get("categories"), f"{what} categories",
                                  body.loc) or ():
        kinds: dict[str, Cap] = {}
        for kkey, kvalue in b.mapping(cvalue, f"{what} category {ckey.text}", ckey.loc) or ():
            kinds[kkey.text] = _cap(b, kvalue, f"{partner} cap for {kkey.text} ({ckey.text})")
        categories[ckey.text] = kinds
    forbidden = set()
    for item in b.sequence(body.get("forbidden"), f"{what} forbidden"):
        kind = b.text(item, "forbidden kind")
        if kind is not None:
            if kind in caps:
                b.problem("bad-value", f"{kind!r} is both capped and forbidden in {what}",
                          item.loc)
            forbidden.add(kind)
    return EntertainmentPolicy(
        caps=caps, categories=categories, forbidden=frozenset(forbidden),
        preapproval_above=_limit_amount(b, body.get("preapproval_above"),
                                        f"{partner} preapproval_above"),
        annual_cap_per_attendee=_limit_amount(b, body.get("annual_cap_per_attendee"),
                                              f"{partner} annual_cap_per_attendee"))


def _policies(b: _RulesetBuilder, node: Node | None, topics: Mapping[str, Topic]
              ) -> dict[str, dict[str, EntertainmentPolicy | Mapping[str, Fraction]]]:
    m = b.mapping(node, "policies", Location(""))
    out: dict[str, dict[str, EntertainmentPolicy | Mapping[str, Fraction]]] = {}
    if m is None:
        return out
    known_topics = [ENTERTAINMENT, *topics]
    for pkey, pvalue in m:
        if pkey.text not in b.partners:
            b.problem("unknown-partner", f"policies of unknown partner {pkey.text!r}"
                      + suggest(pkey.text, b.partners), pkey.loc)
            continue
        body = b.mapping(pvalue, f"{pkey.text}'s policies", pkey.loc)
        per_topic: dict[str, EntertainmentPolicy | Mapping[str, Fraction]] = {}
        for tkey, tvalue in body or ():
            if tkey.text not in known_topics:
                b.problem("unknown-topic", f"unknown policy topic {tkey.text!r}"
                          + suggest(tkey.text, known_topics) + "; declare it under 'topics'",
                          tkey.loc)
                continue
            if tkey.text == ENTERTAINMENT:
                policy = _entertainment(b, tvalue, pkey.text)
                if policy is not None:
                    per_topic[ENTERTAINMENT] = policy
                continue
            limits: dict[str, Fraction] = {}
            declared = topics[tkey.text].limits
            for lkey, lvalue in b.mapping(tvalue, f"{pkey.text} {tkey.text}", tkey.loc) or ():
                if lkey.text not in declared:
                    b.problem("unknown-key", f"unknown limit {lkey.text!r} for topic "
                              f"{tkey.text}" + suggest(lkey.text, declared), lkey.loc)
                    continue
                value = b.share(lvalue, f"{pkey.text} {tkey.text} {lkey.text}")
                if value is not None:
                    limits[lkey.text] = value
            per_topic[tkey.text] = limits
        out[pkey.text] = per_topic
    return out


def _common(b: _RulesetBuilder, body: MapNode, what: str
            ) -> tuple[str | None, str, str, tuple[str, ...], bool]:
    from creditrules.agreement._builder import _RULE_ID

    rid = b.name(b.required(body, "id", what), "rule id", _RULE_ID)
    clause = b.text(b.required(body, "clause", f"{what} {rid}"), "clause") or ""
    text = b.text(body.get("text"), "text") or ""
    overrides = []
    for item in b.sequence(body.get("overrides"), "overrides"):
        target = b.text(item, "overrides")
        if target is not None:
            overrides.append(target)
    default = b.boolean(body.get("default"), "default") or False
    return rid, clause, text, tuple(sorted(set(overrides))), default


def _policy_rules(b: _RulesetBuilder, node: Node | None, topics: Mapping[str, Topic],
                  policies: Mapping[str, Mapping[str, object]], named: set[str]
                  ) -> tuple[PolicyRule, ...]:
    """The valid rules; ``named`` collects every topic a rule names, even a rule refused
    for another mistake (so that its topic is not also reported as having no rule)."""
    rules: list[PolicyRule] = []
    known_topics = [ENTERTAINMENT, *topics]
    for item in b.sequence(node, "policy_precedence"):
        body = b.mapping(item, "a policy precedence rule", item.loc)
        if body is None:
            continue
        b.keys(body, _POLICY_RULE_KEYS, "a policy precedence rule")
        rid, clause, text, overrides, default = _common(b, body, "a policy precedence rule")
        topic = b.text(b.required(body, "topic", f"policy rule {rid}"), "topic")
        topic_node = body.get("topic")
        if topic is not None and topic not in known_topics:
            assert topic_node is not None
            b.problem("unknown-topic", f"unknown policy topic {topic!r}"
                      + suggest(topic, known_topics), topic_node.loc)
            topic = None
        if topic is not None:
            named.add(topic)
        governs_node = b.required(body, "governs", f"policy rule {rid}")
        governs = b.text(governs_node, "governs")
        partner = None
        if governs is not None and governs not in GOVERNS:
            assert governs_node is not None
            if governs in b.partners:
                partner, governs = governs, "partner"
                if topic is not None and topic not in policies.get(partner, {}):
                    b.problem("missing-policy", f"policy rule {rid} says {partner}'s {topic} "
                              f"policy governs, but {partner} declares none", governs_node.loc)
            else:
                b.problem("bad-value", f"policy rule {rid}: governs must be one of "
                          f"{', '.join(GOVERNS)} or a partner, got {governs!r}"
                          + suggest(governs, [*GOVERNS, *b.partners]), governs_node.loc)
                governs = None
        if governs == "payer" and topic not in (None, ENTERTAINMENT):
            assert governs_node is not None
            b.problem("bad-value", "governs: payer applies to entertainment expenses only",
                      governs_node.loc)
        when, when_text = b.condition(body.get("when"))
        if rid is None or topic is None or governs is None:
            continue
        rules.append(PolicyRule(rid, clause, text, topic, governs, partner, when, when_text,
                                overrides, default, body.loc))
    _check_group(b, [(f"policy_precedence for {r.topic}", r.topic, r.id, r.overrides,
                      r.location) for r in rules])
    return tuple(sorted(rules, key=lambda r: r.key))


def _expense_rules(b: _RulesetBuilder, node: Node | None,
                   policies: Mapping[str, Mapping[str, object]]) -> tuple[ExpenseRule, ...]:
    rules: list[ExpenseRule] = []
    deal_schema = b.schema
    assert deal_schema is not None
    b.schema = expense_schema(deal_schema)
    try:
        for item in b.sequence(node, "expense_sharing"):
            rule = _expense_rule(b, item)
            when = item.get("when") if isinstance(item, MapNode) else None
            if rule is not None and rule.when is not None and isinstance(when, ScalarNode):
                _check_literals(b, rule.when, when, policies)
            if rule is not None:
                rules.append(rule)
    finally:
        b.schema = deal_schema
    _check_group(b, [("expense_sharing", "", r.id, r.overrides, r.location) for r in rules])
    return tuple(sorted(rules, key=lambda r: r.key))


def _check_literals(b: _RulesetBuilder, when: Expr, node: ScalarNode,
                    policies: Mapping[str, Mapping[str, object]]) -> None:
    """Expense kinds and attendee categories a condition names must be ones the policies
    know: a misspelt kind would load and silently never match."""
    from creditrules.agreement._builder import _condition_location
    from creditrules.conditions._conditions import comparisons

    entertainment: list[EntertainmentPolicy] = []
    for per_topic in policies.values():
        policy = per_topic.get(ENTERTAINMENT)
        if isinstance(policy, EntertainmentPolicy):
            entertainment.append(policy)
    kinds = {k for p in entertainment for k in (*p.caps, *p.forbidden,
                                                 *(k for c in p.categories.values() for k in c))}
    categories = {c for p in entertainment for c in p.categories}
    if not entertainment:
        return
    checks: list[tuple[object, str, set[str], str]] = []
    for left, _, right in comparisons(when):
        if isinstance(left, Field) and left.path == ("expense", "kind"):
            checks.append((right, "expense kind", kinds, "unknown-kind"))
        if isinstance(left, Count) and left.collection == "attendees" and left.where:
            for item_left, _, item_right in comparisons(left.where):
                if isinstance(item_left, Field) and item_left.path == ("category",):
                    checks.append((item_right, "attendee category", categories,
                                   "unknown-category"))
    for literal, what, known, code in checks:
        if isinstance(literal, Literal) and isinstance(literal.value, str) \
                and literal.value not in known:
            b.problem(code, f"no policy names the {what} {literal.value!r}"
                      + suggest(literal.value, known),
                      _condition_location(node, literal.pos.line, literal.pos.column))


def _expense_rule(b: _RulesetBuilder, item: Node) -> ExpenseRule | None:
    body = b.mapping(item, "an expense sharing rule", item.loc)
    if body is None:
        return None
    b.keys(body, _EXPENSE_RULE_KEYS, "an expense sharing rule")
    rid, clause, text, overrides, default = _common(b, body, "an expense sharing rule")
    share_node = b.required(body, "share", f"expense rule {rid}")
    method, shares = "split", {}
    if isinstance(share_node, ScalarNode):
        method = share_node.text
        if method not in ("equal", "by_credit", "payer"):
            b.problem("bad-value", f"expense rule {rid}: share must be partner shares, "
                      f"'equal', 'by_credit' or 'payer', got {method!r}", share_node.loc)
            return None
        if method == "by_credit" and all(t.total is None for t in b.types.values()):
            b.problem("bad-value", f"expense rule {rid} shares by credit, but no credit type "
                      "has a fixed total", share_node.loc)
    elif share_node is not None:
        before = len(b.problems)
        shares = b.partner_map(share_node, f"expense rule {rid} share", b.partners,
                               lambda n, w: b.share(n, w, limit=Fraction(1))) or {}
        total = sum(shares.values(), Fraction(0))
        # (a share already refused, e.g. of a misspelt partner, is not reported twice)
        if shares and total != 1 and len(b.problems) == before:
            from creditrules.base._money import percent_text

            b.problem("split-total", f"expense rule {rid} shares total {percent_text(total)}, "
                      "not 100%", share_node.loc)
    excess_node = body.get("excess")
    excess = b.text(excess_node, "excess") or "payer"
    if excess not in ("payer", "disallowed") and excess not in b.partners:
        assert excess_node is not None
        b.problem("bad-value", f"expense rule {rid}: excess is borne by 'payer', a partner, or "
                  f"'disallowed', got {excess!r}"
                  + suggest(excess, ["payer", "disallowed", *b.partners]), excess_node.loc)
    when, when_text = b.condition(body.get("when"))
    if rid is None or share_node is None:
        return None
    return ExpenseRule(rid, clause, text, method, shares, excess, when, when_text, overrides,
                       default, body.loc)


def _check_group(b: _RulesetBuilder,
                 rules: list[tuple[str, str, str, tuple[str, ...], Location]]) -> None:
    """Ids unique within a group; overrides name rules of the same group; no cycles."""
    from creditrules.agreement._builder import _find_cycle

    groups: dict[str, dict[str, tuple[tuple[str, ...], Location]]] = {}
    for what, group, rid, overrides, loc in rules:
        members = groups.setdefault(group, {})
        if rid in members:
            b.problem("duplicate-rule", f"rule id {rid!r} is used twice in {what} (first at "
                      f"line {members[rid][1].line})", loc)
            continue
        members[rid] = (overrides, loc)
    for group, members in groups.items():
        for rid, (overrides, loc) in members.items():
            for target in overrides:
                if target == rid:
                    b.problem("override-cycle", f"rule {rid} overrides itself", loc)
                elif target not in members:
                    b.problem("unknown-rule", f"rule {rid} overrides unknown rule {target!r}"
                              + (f" (topic {group})" if group else "")
                              + suggest(target, members), loc)
        cycle = _find_cycle({rid: set(o) - {rid} for rid, (o, _) in members.items()})
        if cycle:
            b.problem("override-cycle", "overrides form a cycle: "
                      + " -> ".join([*cycle, cycle[0]]), members[cycle[0]][1])


def _check_coverage(b: _RulesetBuilder, root: MapNode,
                    policies: Mapping[str, Mapping[str, object]],
                    policy_rules: tuple[PolicyRule, ...],
                    expense_rules: tuple[ExpenseRule, ...], named: set[str]) -> None:
    """Each topic with policies needs a precedence rule; sharing expenses needs an
    entertainment policy for every partner whose policy may govern. ``named``: the topics
    rules name, including rules refused for another mistake (reported on their own)."""
    with_policies = {t for per_topic in policies.values() for t in per_topic}
    ruled = {r.topic for r in policy_rules} | named
    loc = (root.key_node("policies") or root).loc
    for topic in sorted(with_policies - ruled):
        b.problem("no-policy-precedence", f"partners declare {topic} policies but no "
                  "policy_precedence rule says whose governs", loc)
    if expense_rules and ENTERTAINMENT not in ruled:
        node = root.key_node("expense_sharing") or root
        b.problem("no-policy-precedence", "expenses are shared but no policy_precedence rule "
                  "says whose entertainment policy governs", node.loc)
    for rule in policy_rules:
        if rule.governs in ("partner",):
            continue
        missing = [p for p in b.partners if rule.topic not in policies.get(p, {})]
        if missing:
            verb = "declares" if len(missing) == 1 else "declare"
            b.problem("missing-policy", f"policy rule {rule.id} ({rule.governs}) may choose "
                      f"any partner's {rule.topic} policy, but {', '.join(sorted(missing))} "
                      f"{verb} none", rule.location)
