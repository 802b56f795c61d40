"""Located YAML nodes -> a checked :class:`~creditrules.ruleset.Ruleset`.

Every field is converted by its declared type from the scalar's raw text. Problems are
gathered across the whole file (and its amendments) and raised once, each with its own
``file:line:column`` and stable code.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import TypeVar

import attrs

from creditrules import _conditions
from creditrules._ast import Expr, Schema, Type
from creditrules._money import MoneyError, TieBreak, currency_unit, parse_decimal, parse_share
from creditrules._policy_schema import read_policy_sections
from creditrules._yaml import MapNode, Node, ScalarNode, SeqNode, compose
from creditrules.errors import Location, Problem, RulesetError, suggest
from creditrules.ruleset import (
    AttributeSpec,
    ByContribution,
    Contribution,
    CreditRule,
    CreditType,
    DateRange,
    Outcome,
    Overlay,
    Partner,
    PrecedenceList,
    Ruleset,
    Split,
)

__all__ = ["condition_schema", "read_ruleset"]

_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
# Attribute names are read by conditions, whose field names take no '-'.
_ATTRIBUTE = re.compile(r"^[a-z][a-z0-9_]*$")
_RULE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_REP_CREDIT = ("equal", "by_contribution", "owner")
_TYPE_NAMES = {t.value: t for t in Type}
_MAX_AMENDMENT_DEPTH = 16

_TOP_KEYS = ("ruleset", "version", "title", "effective", "currency", "rounding", "partners",
             "attributes", "credit_types", "contribution", "rep_credit", "precedence", "credit",
             "topics", "policies", "policy_precedence", "expense_sharing", "fairness")
_AMENDMENT_KEYS = ("amends", "version", "title", "effective", "credit", "retire", "precedence",
                   "fairness")
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

T = TypeVar("T")


def condition_schema(partners: frozenset[str], attributes: Mapping[str, Type]) -> Schema:
    """What a ruleset's conditions may read: deal fields plus its declared attributes."""
    fields = dict(DEAL_FIELDS)
    for name, typ in attributes.items():
        fields[("attributes", name)] = typ
    return Schema(fields=fields, collections=COLLECTIONS, partner_fields=PARTNER_FIELDS,
                  partners=partners)


class _Reader:
    """Converts nodes, collecting problems instead of stopping at the first."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def problem(self, code: str, message: str, loc: Location) -> None:
        self.problems.append(Problem(code, message, loc))

    # -- shapes ---------------------------------------------------------------------------
    def mapping(self, node: Node | None, what: str, loc: Location) -> MapNode | None:
        if node is None:
            return None
        if isinstance(node, MapNode):
            return node
        if isinstance(node, ScalarNode) and node.is_null:
            return MapNode((), node.loc)
        self.problem("bad-value", f"{what} must be a mapping (key: value lines)", node.loc)
        return None

    def sequence(self, node: Node | None, what: str) -> tuple[Node, ...]:
        if node is None:
            return ()
        if isinstance(node, SeqNode):
            return node.items
        if isinstance(node, ScalarNode) and node.is_null:
            return ()
        self.problem("bad-value", f"{what} must be a list", node.loc)
        return ()

    def keys(self, node: MapNode, allowed: tuple[str, ...], what: str) -> None:
        for key, _ in node:
            if key.text not in allowed:
                self.problem("unknown-key", f"unknown key {key.text!r} in {what}"
                             + suggest(key.text, allowed), key.loc)

    def required(self, node: MapNode, key: str, what: str) -> Node | None:
        value = node.get(key)
        if value is None or (isinstance(value, ScalarNode) and value.is_null):
            self.problem("missing-key", f"{what} needs {key!r}", node.loc)
            return None
        return value

    # -- scalars --------------------------------------------------------------------------
    def scalar(self, node: Node | None, what: str) -> ScalarNode | None:
        if node is None:
            return None
        if isinstance(node, ScalarNode):
            return node
        self.problem("bad-value", f"{what} must be a single value", node.loc)
        return None

    def text(self, node: Node | None, what: str) -> str | None:
        s = self.scalar(node, what)
        return None if s is None or s.is_null else s.text

    def name(self, node: Node | None, what: str, pattern: re.Pattern[str] = _NAME) -> str | None:
        s = self.scalar(node, what)
        if s is None:
            return None
        if not pattern.match(s.text):
            self.problem("bad-name", f"{what} {s.text!r} must be a short name: lower-case "
                         "letters, digits, '-' or '_'", s.loc)
            return None
        return s.text

    def boolean(self, node: Node | None, what: str) -> bool | None:
        s = self.scalar(node, what)
        if s is None:
            return None
        if not s.quoted and s.text in ("true", "false"):
            return s.text == "true"
        self.problem("bad-value", f"{what} must be true or false, got {s.text!r}", s.loc)
        return None

    def date(self, node: Node | None, what: str) -> dt.date | None:
        s = self.scalar(node, what)
        if s is None or s.is_null:
            return None
        try:
            if len(s.text) != 10:
                raise ValueError
            return dt.date.fromisoformat(s.text)
        except ValueError:
            self.problem("bad-date", f"{what} must be a date YYYY-MM-DD, got {s.text!r}", s.loc)
            return None

    def share(self, node: Node | None, what: str, *, limit: Fraction | None = None
              ) -> Fraction | None:
        s = self.scalar(node, what)
        if s is None:
            return None
        try:
            value = parse_share(s.text)
        except MoneyError as exc:
            self.problem("bad-share", f"{what}: {exc}", s.loc)
            return None
        if limit is not None and value > limit:
            self.problem("bad-share", f"{what} {s.text} is above {limit * 100}%", s.loc)
            return None
        return value

    def date_range(self, node: Node | None, what: str) -> DateRange:
        m = self.mapping(node, what, Location(""))
        if m is None:
            return DateRange()
        self.keys(m, ("from", "to"), what)
        start = self.date(m.get("from"), f"{what} 'from'")
        end = self.date(m.get("to"), f"{what} 'to'")
        if start and end and end < start:
            self.problem("bad-effective", f"{what} ends ({end}) before it starts ({start})",
                         m.loc)
        return DateRange(start, end)

    def partner_map(self, node: Node | None, what: str, partners: Mapping[str, Partner],
                    convert: Callable[[Node, str], T | None]) -> dict[str, T] | None:
        m = self.mapping(node, what, Location(""))
        if m is None:
            return None
        out: dict[str, T] = {}
        for key, value in m:
            if key.text not in partners:
                self.problem("unknown-partner", f"unknown partner {key.text!r}"
                             + suggest(key.text, partners), key.loc)
                continue
            converted = convert(value, f"{what} for {key.text}")
            if converted is not None:
                out[key.text] = converted
        return out


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
    from creditrules._money import percent_text

    return "declared" if value is None else percent_text(value)


def _condition_location(node: ScalarNode, line: int, column: int) -> Location:
    """The file location of (line, column) inside the condition text ``node.text``: YAML
    may have folded its lines, stripped its indentation or decoded escapes."""
    starts = [0] + [i + 1 for i, c in enumerate(node.text) if c == "\n"]
    offset = starts[min(max(line, 1), len(starts)) - 1] + column - 1
    return node.location_at(offset)


def _read_text(path: Path, text: str | None) -> str:
    if text is not None:
        return text
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesetError([Problem("unreadable", f"cannot read ruleset: {exc.strerror}",
                                    Location(str(path)))]) from None
    except UnicodeDecodeError:
        raise RulesetError([Problem("unreadable", "ruleset is not UTF-8 text",
                                    Location(str(path)))]) from None


def read_ruleset(path: Path, text: str | None, *, engine: str, _depth: int = 0) -> Ruleset:
    """Read and check a ruleset (or an amendment and its base); raise every problem once."""
    file = str(path)
    root = compose(_read_text(path, text), file)
    if not isinstance(root, MapNode):
        raise RulesetError([Problem("bad-value", "a ruleset file must be a mapping",
                                    Location(file, 1, 1))])
    if root.get("amends") is not None:
        if _depth >= _MAX_AMENDMENT_DEPTH:
            raise RulesetError([Problem("amendment-depth", "too many nested amendments",
                                        root.loc)])
        return _read_amendment(path, root, engine, _depth)
    return _build(_RulesetBuilder(engine), root, file, [])


def _build(b: _RulesetBuilder, root: MapNode, file: str,
           amendments: list[tuple[MapNode, str]]) -> Ruleset:
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
    precedence = [PrecedenceList(t, ids, DateRange(effective.start, None))
                  for t, ids in base_lists.items()]

    rules: dict[str, CreditRule] = {}
    seen_ids: dict[str, Location] = {}
    for node in b.sequence(b.required(root, "credit", "the ruleset"), "credit"):
        # Open-ended: capped at the agreement's end once amendments (which may extend the
        # term) are applied.
        rule = b.rule(node, version, DateRange(effective.start, None))
        if rule is None:
            continue
        if rule.id in seen_ids:
            b.problem("duplicate-rule", f"rule id {rule.id!r} is used twice (first at line "
                      f"{seen_ids[rule.id].line})", rule.location)
            continue
        seen_ids[rule.id] = rule.location
        rules[rule.key] = rule

    versions = [version]
    for amend_root, amend_version in amendments:
        effective = _apply_amendment(b, amend_root, amend_version, rules, precedence,
                                     prec_locs, effective)
        versions.append(amend_version)
        version = amend_version
        title = b.text(amend_root.get("title"), "title") or title

    for key, rule in list(rules.items()):
        rules[key] = _replace_effective(rule, _intersect(rule.effective, effective))
    precedence = [attrs.evolve(p, effective=_intersect(p.effective, effective))
                  for p in precedence]
    _check_references(b, rules, precedence, prec_locs)
    sections = read_policy_sections(b, root)
    # Declared fairness exemptions, of the base file and each amendment (fairness.py).
    from creditrules.fairness import read_exemptions

    clauses = sorted({r.clause for r in rules.values()}
                     | {r.clause for r in sections.policy_rules}
                     | {r.clause for r in sections.expense_rules})
    exemptions = tuple(e for node in [root, *(a for a, _ in amendments)]
                       for e in read_exemptions(b, node.get("fairness"), clauses,
                                                sorted(b.partners)))
    if b.problems:
        raise RulesetError(b.problems)
    return Ruleset(
        id=rid, version=version, title=title, effective=effective, currency=currency,
        unit=unit, tie_break=tie_break,
        partners=tuple(sorted(b.partners.values(), key=lambda p: p.id)),
        attributes=tuple(AttributeSpec(n, t) for n, t in sorted(b.attributes.items())),
        credit_types=tuple(b.types.values()),
        rules=tuple(sorted(rules.values(), key=lambda r: r.key)),
        precedence=tuple(sorted(precedence, key=lambda p: (p.type, str(p.effective)))),
        rep_credit=rep_credit, contribution=b.contribution,
        source=file, versions=tuple(versions), engine_name=b.engine,
        topics=sections.topics, policies=sections.policies,
        policy_rules=sections.policy_rules, expense_rules=sections.expense_rules,
        fairness=exemptions)


def _rounding(b: _RulesetBuilder, node: Node | None, currency: str,
              currency_node: Node | None) -> tuple[Decimal, TieBreak]:
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
            except MoneyError as exc:
                b.problem("bad-value", f"rounding unit {unit_node.text!r}: {exc}",
                          unit_node.loc)
                unit = Decimal("0.01")
        tb = m.get("tie_break")
        if isinstance(tb, SeqNode):
            order: list[str] = []
            for item in tb.items:
                pid = b.text(item, "tie_break partner")
                if pid is None:
                    continue
                if pid not in b.partners:
                    b.problem("unknown-partner", f"unknown partner {pid!r}"
                              + suggest(pid, b.partners), item.loc)
                elif pid in order:
                    b.problem("bad-value", f"partner {pid!r} is listed twice in tie_break",
                              item.loc)
                else:
                    order.append(pid)
            tie_break = TieBreak.order(order)
        elif tb is not None and b.text(tb, "tie_break") != "hashed":
            b.problem("bad-value", "tie_break must be 'hashed' or a list of partners in "
                      "priority order", tb.loc)
    if unit is None:
        if currency_node is not None:  # a missing currency is reported already
            b.problem("unknown-currency", f"no currency unit known for {currency!r}: give "
                      "rounding: {unit: ...}", currency_node.loc)
        unit = Decimal("0.01")
    return unit, tie_break


def _check_references(b: _RulesetBuilder, rules: dict[str, CreditRule],
                      precedence: list[PrecedenceList],
                      prec_locs: Mapping[str, Location]) -> None:
    by_id: dict[str, set[str]] = {}
    for rule in rules.values():
        by_id.setdefault(rule.id, set()).add(rule.type)
    for rule in rules.values():
        locs = b.override_locs.get(rule.key, {})
        for target in rule.overrides:
            loc = locs.get(target, rule.location)
            if target not in by_id:
                b.problem("unknown-rule", f"rule {rule.id} overrides unknown rule {target!r}"
                          + suggest(target, by_id), loc)
            elif rule.type not in by_id[target]:
                b.problem("override-type", f"rule {rule.id} ({rule.type}) overrides "
                          f"{target!r}, a rule of another credit type; rules compete only "
                          "within their type", loc)
            elif target == rule.id:
                b.problem("override-cycle", f"rule {rule.id} overrides itself", loc)
    for plist in precedence:
        type_name = plist.type
        for rid in plist.rules:
            if rid not in by_id:
                b.problem("unknown-rule", f"precedence names unknown rule {rid!r}"
                          + suggest(rid, by_id), prec_locs[f"{type_name}:{rid}"])
            elif type_name not in by_id[rid]:
                b.problem("override-type", f"precedence for {type_name} names {rid!r}, a "
                          "rule of another credit type", prec_locs[f"{type_name}:{rid}"])
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
                edges.setdefault(rule.id, set()).update(t for t in rule.overrides
                                                        if t != rule.id)
        for plist in precedence:
            if day is None or plist.effective.contains(day):
                for i, high in enumerate(plist.rules):
                    edges.setdefault(high, set()).update(plist.rules[i + 1:])
        cycle = _find_cycle(edges)
        if cycle and tuple(sorted(cycle)) not in reported:
            reported.add(tuple(sorted(cycle)))
            first = next(r for r in sorted(rules.values(), key=lambda r: r.location)
                         if r.id in cycle)
            b.problem("override-cycle", "overrides and precedence form a cycle: "
                      + " -> ".join([*cycle, cycle[0]]), first.location)


def _after(day: dt.date | None) -> dt.date | None:
    return day + dt.timedelta(days=1) if day is not None and day < dt.date.max else None


def _find_cycle(edges: Mapping[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):]
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


def _read_amendment(path: Path, root: MapNode, engine: str, depth: int) -> Ruleset:
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
            raise RulesetError([Problem("amendment-depth", "too many nested amendments",
                                        node.loc)])
        current = current.parent / base_name
        base = compose(_read_text(current, None), str(current))
        if not isinstance(base, MapNode):
            raise RulesetError([Problem("bad-value", "a ruleset file must be a mapping",
                                        Location(str(current), 1, 1))])
        node = base
    return _build(_RulesetBuilder(engine), node, str(current), list(reversed(chain)))


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

