"""Reading a ruleset's header (partners, attributes, credit types, contribution) and its
credit rules (:class:`_RulesetBuilder`), and what conditions may read
(:func:`condition_schema`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from fractions import Fraction

from creditrules.agreement._node_reader import _Reader
from creditrules.agreement._yaml import MapNode, Node, ScalarNode
from creditrules.agreement.ruleset import (
    ByContribution,
    Contribution,
    CreditRule,
    CreditType,
    DateRange,
    Outcome,
    Overlay,
    Partner,
    Split,
)
from creditrules.conditions import _conditions
from creditrules.conditions._ast import Expr, Schema, Type
from creditrules.errors import Location, suggest

# Attribute names are read by conditions, whose field names take no '-'.
_ATTRIBUTE = re.compile(r"^[a-z][a-z0-9_]*$")
_RULE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_REP_CREDIT = ("equal", "by_contribution", "owner")
_TYPE_NAMES = {t.value: t for t in Type}
_RULE_KEYS = ("id", "clause", "text", "type", "when", "split", "overlay", "weights",
              "normalise", "total", "if_no_contribution", "overrides", "default", "effective",
              "rep_credit")

# Deal fields conditions may read, with their types; partner-valued ones are checked.
DEAL_FIELDS: Mapping[tuple[str, ...], Type] = {
    ("id",): Type.TEXT,
    ("date",): Type.DATE,
    ("amount",): Type.NUMBER,
    ("currency",): Type.TEXT,
    ("product",): Type.TEXT,
    ("account", "id"): Type.TEXT,
    ("account", "owner"): Type.TEXT,
    ("account", "named"): Type.BOOL,
    ("account", "segment"): Type.TEXT,
    ("account", "territory"): Type.TEXT,
    ("lead", "source"): Type.TEXT,
    ("lead", "rep"): Type.TEXT,
}
COLLECTIONS: Mapping[str, Mapping[tuple[str, ...], Type]] = {
    "activities": {("kind",): Type.TEXT, ("partner",): Type.TEXT, ("rep",): Type.TEXT,
                   ("date",): Type.DATE, ("joint",): Type.BOOL, ("reps",): Type.NUMBER},
    "reps": {("id",): Type.TEXT, ("partner",): Type.TEXT, ("owner",): Type.BOOL},
}
PARTNER_FIELDS = frozenset({("account", "owner"), ("lead", "source"), ("activities", "partner"),
                            ("reps", "partner")})


def condition_schema(partners: frozenset[str], attributes: Mapping[str, Type]) -> Schema:
    """What a ruleset's conditions may read: deal fields plus its declared attributes."""
    fields = dict(DEAL_FIELDS)
    for name, typ in attributes.items():
        fields[("attributes", name)] = typ
    return Schema(fields=fields, collections=COLLECTIONS, partner_fields=PARTNER_FIELDS,
                  partners=partners)


class _RulesetBuilder(_Reader):
    def __init__(self, engine: str) -> None:
        super().__init__()
        self.engine = engine
        self.partners: dict[str, Partner] = {}
        self.attributes: dict[str, Type] = {}
        self.types: dict[str, CreditType] = {}
        self.schema: Schema | None = None
        self.contribution: Contribution | None = None
        # Where each rule's overrides were written, for located reference errors.
        self.override_locs: dict[str, dict[str, Location]] = {}

    # -- header ---------------------------------------------------------------------------
    def read_partners(self, node: Node | None, loc: Location) -> None:
        m = self.mapping(node, "partners", loc)
        if m is None:
            return
        for key, value in m:
            pid = self.name(key, "partner id")
            if pid is None:
                continue
            body = self.mapping(value, f"partner {pid}", key.loc)
            name = pid
            if body is not None:
                self.keys(body, ("name",), f"partner {pid}")
                name = self.text(body.get("name"), f"partner {pid} name") or pid
            self.partners[pid] = Partner(pid, name)
        if len(self.partners) < 2:
            self.problem("too-few-partners", "an alliance needs at least two partners", m.loc)

    def read_attributes(self, node: Node | None) -> None:
        m = self.mapping(node, "attributes", Location(""))
        if m is None:
            return
        for key, value in m:
            name = self.name(key, "attribute name", _ATTRIBUTE)
            typ = self.text(value, f"attribute {key.text} type")
            if name is None or typ is None:
                continue
            if typ not in _TYPE_NAMES:
                self.problem("bad-type", f"attribute {name!r} has unknown type {typ!r}"
                             + suggest(typ, _TYPE_NAMES), value.loc)
                continue
            self.attributes[name] = _TYPE_NAMES[typ]

    def read_types(self, node: Node | None) -> None:
        m = self.mapping(node, "credit_types", Location(""))
        if m is None:
            self.types = {"revenue": CreditType("revenue", Fraction(1), True),
                          "overlay": CreditType("overlay", None, False)}
            return
        for key, value in m:
            name = self.name(key, "credit type")
            body = self.mapping(value, f"credit type {key.text}", key.loc)
            if name is None or body is None:
                continue
            self.keys(body, ("total", "required"), f"credit type {name}")
            total_node = self.required(body, "total", f"credit type {name}")
            total: Fraction | None = Fraction(1)
            if isinstance(total_node, ScalarNode) and total_node.text == "declared":
                total = None
            elif total_node is not None:
                total = self.share(total_node, f"credit type {name} total")
                if total is not None and total <= 0:
                    self.problem("bad-share", f"credit type {name} total must be above 0%",
                                 total_node.loc)
            required = self.boolean(body.get("required"), f"credit type {name} required")
            if required is None:
                required = total is not None
            self.types[name] = CreditType(name, total, required)

    def read_contribution(self, node: Node | None, what: str) -> Contribution | None:
        m = self.mapping(node, what, Location(""))
        if m is None:
            return None
        self.keys(m, ("weights", "normalise"), what)
        return self.contribution_parts(m.get("weights"), m.get("normalise"), what, m.loc)

    def contribution_parts(self, weights_node: Node | None, normalise_node: Node | None,
                           what: str, loc: Location) -> Contribution | None:
        wm = self.mapping(weights_node, f"{what} weights", loc)
        if wm is None:
            self.problem("missing-key", f"{what} needs 'weights' (points per activity kind)",
                         loc)
            return None
        weights: dict[str, Fraction] = {}
        for key, value in wm:
            w = self.share(value, f"weight of {key.text!r}")
            if w is not None:
                weights[key.text] = w
        normalise = self.partner_map(normalise_node, f"{what} normalise", self.partners,
                                     lambda n, w: self.share(n, w)) or {}
        for pid, factor in normalise.items():
            if factor == 0:
                self.problem("bad-share", f"normalise factor for {pid} must be above 0",
                             loc)
        return Contribution(weights, normalise)

    # -- rules ----------------------------------------------------------------------------
    def condition(self, node: Node | None) -> tuple[Expr | None, str | None]:
        s = self.scalar(node, "when")
        if s is None or s.is_null:
            return None, None
        assert self.schema is not None
        try:
            return _conditions.parse(s.text, self.schema), " ".join(s.text.split())
        except _conditions.ConditionError as exc:
            self.problem(exc.code, exc.message, _condition_location(s, exc.pos.line,
                                                                    exc.pos.column))
            return None, None

    def outcome(self, body: MapNode, rid: str) -> tuple[Outcome | None, bool]:
        """The rule's outcome and whether it is an overlay."""
        split_node, overlay_node = body.get("split"), body.get("overlay")
        if split_node is not None and overlay_node is not None:
            self.problem("two-outcomes", f"rule {rid} gives both 'split' and 'overlay'",
                         body.loc)
            return None, False
        if split_node is None and overlay_node is None:
            self.problem("missing-outcome", f"rule {rid} needs an outcome: 'split' or "
                         "'overlay'", body.loc)
            return None, False
        if overlay_node is not None:
            shares = self.partner_map(overlay_node, f"rule {rid} overlay", self.partners,
                                      lambda n, w: self.share(n, w, limit=Fraction(10)))
            return (Overlay(shares) if shares is not None else None), True
        assert split_node is not None
        if isinstance(split_node, ScalarNode) and split_node.text == "by_contribution":
            return self.by_contribution(body, rid), False
        if isinstance(split_node, ScalarNode) and split_node.text == "equal":
            n = len(self.partners)
            return (Split({p: Fraction(1, n) for p in self.partners}) if n else None), False
        if isinstance(split_node, ScalarNode):
            self.problem("bad-value", f"rule {rid} split must be partner shares, "
                         f"'by_contribution' or 'equal', got {split_node.text!r}",
                         split_node.loc)
            return None, False
        shares = self.partner_map(split_node, f"rule {rid} split", self.partners,
                                  lambda n, w: self.share(n, w, limit=Fraction(1)))
        return (Split(shares) if shares is not None else None), False

    def by_contribution(self, body: MapNode, rid: str) -> ByContribution | None:
        weights, normalise = body.get("weights"), body.get("normalise")
        contribution: Contribution | None
        if weights is not None:
            contribution = self.contribution_parts(weights, normalise, f"rule {rid}", body.loc)
        else:
            contribution = self.contribution
            if contribution is None:
                self.problem("missing-key", f"rule {rid} splits by contribution but neither "
                             "it nor the ruleset gives 'weights'", body.loc)
            elif normalise is not None:
                extra = self.partner_map(normalise, f"rule {rid} normalise", self.partners,
                                         lambda n, w: self.share(n, w))
                contribution = Contribution(contribution.weights, extra or {})
        fallback: Mapping[str, Fraction] | None = None
        fb_node = body.get("if_no_contribution")
        if isinstance(fb_node, ScalarNode) and fb_node.text == "equal":
            fallback = None
        elif fb_node is not None:
            fallback = self.partner_map(fb_node, f"rule {rid} if_no_contribution",
                                        self.partners, lambda n, w: self.share(n, w))
            if fallback is not None and sum(fallback.values()) != 1:
                self.problem("split-total", f"rule {rid} if_no_contribution shares total "
                             f"{_pct(sum(fallback.values(), Fraction(0)))}, not 100%",
                             fb_node.loc)
        total = Fraction(1)
        if body.get("total") is not None:
            total = self.share(body.get("total"), f"rule {rid} total") or Fraction(1)
        if contribution is None:
            return None
        return ByContribution(contribution, total, fallback)

    def rule(self, node: Node, version: str, window: DateRange) -> CreditRule | None:
        body = self.mapping(node, "a credit rule", Location(""))
        if body is None:
            return None
        self.keys(body, _RULE_KEYS, "a credit rule")
        rid = self.name(self.required(body, "id", "a credit rule"), "rule id", _RULE_ID)
        if rid is None:
            return None
        clause = self.text(self.required(body, "clause", f"rule {rid}"), "clause") or ""
        text = self.text(body.get("text"), "text") or ""
        when, when_text = self.condition(body.get("when"))
        before = len(self.problems)
        outcome, is_overlay = self.outcome(body, rid)
        # A share already reported (unknown partner, bad text) would make the total wrong too.
        outcome_ok = len(self.problems) == before
        type_name = self.text(body.get("type"), "type")
        if type_name is None:
            type_name = next((t.name for t in self.types.values()
                              if t.declared == is_overlay), None)
            if type_name is None:
                self.problem("unknown-type", f"rule {rid}: no credit type takes "
                             f"{'overlay' if is_overlay else 'split'} credit; declare one in "
                             "credit_types or give 'type'", body.loc)
                return None
        elif type_name not in self.types:
            type_node = body.get("type")
            assert type_node is not None
            self.problem("unknown-type", f"rule {rid}: unknown credit type {type_name!r}"
                         + suggest(type_name, self.types), type_node.loc)
            return None
        ctype = self.types[type_name]
        if outcome is not None and outcome_ok:
            self.check_total(ctype, outcome, rid, body)
        overrides = []
        for item in self.sequence(body.get("overrides"), "overrides"):
            target = self.text(item, "overrides")
            if target is not None:
                overrides.append((target, item.loc))
        default = self.boolean(body.get("default"), "default") or False
        effective = self.date_range(body.get("effective"), f"rule {rid} effective")
        effective = _intersect(effective, window)
        rep_credit = self.rep_credit(body.get("rep_credit"))
        if outcome is not None and not isinstance(outcome, ByContribution):
            for key in ("weights", "normalise", "total", "if_no_contribution"):
                key_node = body.key_node(key)
                if key_node is not None:
                    self.problem("unused-key", f"rule {rid}: {key!r} applies only to "
                                 "'split: by_contribution'", key_node.loc)
        if outcome is None:
            return None
        rule = CreditRule(
            id=rid, clause=clause, text=text, type=type_name, outcome=outcome, when=when,
            when_text=when_text, overrides=tuple(sorted({t for t, _ in overrides})),
            default=default, effective=effective, rep_credit=rep_credit, version=version,
            location=body.loc)
        self.override_locs[rule.key] = dict(overrides)
        return rule

    def check_total(self, ctype: CreditType, outcome: Outcome, rid: str, body: MapNode) -> None:
        node = body.get("overlay") or body.get("split") or body
        if isinstance(outcome, Overlay):
            if not ctype.declared:
                self.problem("overlay-in-fixed-type", f"rule {rid} gives overlay credit in "
                             f"credit type {ctype.name!r}, whose total is fixed at "
                             f"{_pct(ctype.total)}; use a type with 'total: declared'",
                             node.loc)
            return
        if isinstance(outcome, Split) and ctype.total is not None:
            total = sum(outcome.shares.values(), Fraction(0))
            if total != ctype.total:
                self.problem("split-total", f"rule {rid} split totals {_pct(total)}; "
                             f"credit type {ctype.name!r} requires exactly "
                             f"{_pct(ctype.total)}", node.loc)
        if isinstance(outcome, ByContribution) and ctype.total is not None \
                and outcome.total != ctype.total:
            self.problem("split-total", f"rule {rid} by_contribution total "
                         f"{_pct(outcome.total)} differs from credit type {ctype.name!r} "
                         f"total {_pct(ctype.total)}", node.loc)

    def rep_credit(self, node: Node | None) -> str | None:
        value = self.text(node, "rep_credit")
        if value is not None and value not in _REP_CREDIT:
            assert node is not None
            self.problem("bad-value", f"rep_credit must be one of {', '.join(_REP_CREDIT)}, "
                         f"got {value!r}", node.loc)
            return None
        return value

    def precedence(self, node: Node | None, into: dict[str, tuple[str, ...]],
                   locs: dict[str, Location]) -> None:
        m = self.mapping(node, "precedence", Location(""))
        if m is None:
            return
        for key, value in m:
            if key.text not in self.types:
                self.problem("unknown-type", f"precedence for unknown credit type "
                             f"{key.text!r}" + suggest(key.text, self.types), key.loc)
                continue
            ids = []
            for item in self.sequence(value, f"precedence for {key.text}"):
                rid = self.text(item, "rule id")
                if rid is not None:
                    ids.append(rid)
                    locs[f"{key.text}:{rid}"] = item.loc
            into[key.text] = tuple(ids)


def _intersect(a: DateRange, b: DateRange) -> DateRange:
    start = max((d for d in (a.start, b.start) if d), default=None)
    end = min((d for d in (a.end, b.end) if d), default=None)
    return DateRange(start, end)


def _pct(value: Fraction | None) -> str:
    from creditrules.base._money import percent_text

    return "declared" if value is None else percent_text(value)


def _condition_location(node: ScalarNode, line: int, column: int) -> Location:
    """The file location of (line, column) inside the condition text ``node.text``: YAML
    may have folded its lines, stripped its indentation or decoded escapes."""
    starts = [0] + [i + 1 for i, c in enumerate(node.text) if c == "\n"]
    offset = starts[min(max(line, 1), len(starts)) - 1] + column - 1
    return node.location_at(offset)


def _find_cycle(edges: Mapping[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None
