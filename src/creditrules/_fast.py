"""The batch fast path: a deal record straight to its credit, without a Deal or explanations.

Why it is exact. Whether a condition holds depends only on the values it reads, and
:mod:`creditrules._compile` encodes exactly that: each value as its rank among the literals
it is compared with. So each group of conditions reading the same features is matched by the
engine once per distinct combination of those encoded values, and looked up afterwards. The
decision of a credit type (its verdicts and winning rules) depends only on which of its
conditions hold and on the rules in force (fixed by where the date falls among the
effective-date boundaries); a policy topic's decision on its conditions, the account owner,
the lead source and whether the deal has expenses. Those decisions are computed once per
distinct input, with the same precedence code as :meth:`Evaluator.allocate`, and each deal
then only computes its own numbers (contribution points, largest remainder, rep splits) in
integer arithmetic.

Whatever the fast reader is not sure of (a value the plain reader would convert or refuse,
a decision that is an error, an unusual shape) makes :meth:`FastPath.compute` return
``None``: the caller then runs the plain path, which gives the authoritative result or error.
The fast path may decline anything, but what it accepts it must get exactly right;
``tests/test_fast.py`` checks it against the plain path on generated deals, on both engines.

Entertainment expenses are read and borne by the plain expense code; only the choice of
their sharing rule is cached (per encoded expense).
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from creditrules._ast import Expr, Facts, Field, Path, Type, Value
from creditrules._compile import Compiled, CompileError, compile_conditions
from creditrules._conditions import evaluate
from creditrules._money import (
    MoneyError,
    TieBreak,
    fraction_text,
    from_units,
    parse_decimal,
    to_units,
)
from creditrules._outcomes import LEAD_KIND
from creditrules._reasons import DeferredReasons
from creditrules.allocation import (
    Allocation,
    ExpensePart,
    ExpenseShare,
    PartnerCredit,
    PolicyDecision,
    RepCredit,
    RuleVerdict,
    TypeCredit,
)
from creditrules.batch import Row, expense_rows, policy_text
from creditrules.errors import AllocationError
from creditrules.model import Account, Deal, Lead
from creditrules.policy import ENTERTAINMENT, ExpenseRule
from creditrules.ruleset import (
    ByContribution,
    Contribution,
    CreditRule,
    CreditType,
    Outcome,
    Overlay,
    Split,
)

if TYPE_CHECKING:
    from creditrules._evaluate import Evaluator
    from creditrules._precedence import Precedence
    from creditrules.ruleset import Ruleset

__all__ = ["CACHE_SIZE", "FastDeal", "FastPath"]

#: Entries per cache (plans, dates, share texts, activities...); a full cache is emptied,
#: which keeps memory flat (a few MB) whatever the number of distinct deals.
CACHE_SIZE = 8_192

# The deal shape the fast reader accepts; a key it does not know sends the record to the
# plain reader (which names the unknown field), so a field added there is never ignored here.
_DEAL_KEYS = frozenset({"id", "date", "amount", "currency", "account", "product", "lead",
                        "reps", "activities", "attributes", "expenses"})
_ACCOUNT_KEYS = frozenset({"id", "owner", "named", "segment", "territory"})
_LEAD_KEYS = frozenset({"source", "rep"})
_REP_KEYS = frozenset({"id", "partner", "owner"})
_ACTIVITY_KEYS = frozenset({"kind", "rep", "reps", "partner", "date", "id"})
_EXPENSE_KEYS = frozenset({"id", "kind", "amount", "paid_by", "attendees", "date",
                           "preapproved"})
_ATTENDEE_KEYS = frozenset({"id", "category", "spent_this_year"})
_DECIMAL = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?", re.ASCII)
_PLAIN_ATTRIBUTE = frozenset({str, bool, type(None)})
_MISSING = object()
_TEXT_TYPES = frozenset({str, type(None)})
_FLAG_TYPES = frozenset({bool, type(None)})
_NO_ACCOUNT: tuple[str | None, str | None, bool, str | None, str | None] = (
    None, None, False, None, None)
_SLOW = "slow"  # a plan marker: deals with this key always take the plain path


class _Decline(Exception):
    """Raised inside the fast reader: this record takes the plain path."""


def _text(value: Any) -> str | None:
    """A text field as the plain reader reads it (None or "" is absent); declines the
    conversions it would make (int -> str) or refuse."""
    if value is None or value == "":
        return None
    if type(value) is not str:
        raise _Decline
    return value


def _required(value: Any) -> str:
    if type(value) is not str or not value:
        raise _Decline
    return value


def _flag(value: Any) -> bool:
    if value is None:
        return False
    if type(value) is not bool:
        raise _Decline
    return value


def _obj(value: Any, keys: frozenset[str]) -> dict[str, Any]:
    if value is None:
        return {}
    if type(value) is not dict or not value.keys() <= keys:
        raise _Decline
    return value


def _seq(value: Any) -> list[Any]:
    if value is None:
        return []
    if type(value) is not list:
        raise _Decline
    return value


class _Amounts:
    """Amount text -> (Decimal, integer units), as ``parse_decimal`` and ``to_units`` do."""

    def __init__(self, unit: Decimal) -> None:
        self.unit = unit
        _, digits, exp = unit.as_tuple()
        # A power-of-ten unit (0.01, 1) converts by string surgery; any other by fractions.
        self.places = -exp if digits == (1,) and isinstance(exp, int) and exp <= 0 else None

    def read(self, value: Any) -> tuple[Decimal, int]:
        if type(value) is int:
            amount = Decimal(value)
        elif type(value) is str and _DECIMAL.fullmatch(value):
            # parse_decimal, its checks already made: exact text, "-0" as 0.
            amount = Decimal(value)
            if not amount:
                amount = amount.copy_abs()
        else:
            raise _Decline
        places = self.places
        if places is not None and type(value) is str:
            whole, _, frac = value.partition(".")
            if len(frac) > places:
                if frac[places:].strip("0"):
                    raise _Decline  # not whole units: the plain path says so
                frac = frac[:places]
            return amount, int(whole + frac.ljust(places, "0"))
        try:
            return amount, to_units(amount, self.unit)
        except MoneyError:
            raise _Decline from None


class _Dates:
    """Date text -> (date, segment), cached: a deal file has few distinct dates."""

    def __init__(self, boundaries: Sequence[dt.date], effective: Callable[[dt.date], bool]):
        self.boundaries = sorted(set(boundaries))
        self.effective = effective
        self.cache: dict[str, tuple[dt.date, int] | None] = {}

    def read(self, value: Any, *, in_agreement: bool) -> tuple[dt.date, int]:
        found = self.cache.get(value) if type(value) is str else None
        if found is None:
            if type(value) is not str or len(value) != 10:
                raise _Decline
            try:
                day = dt.date.fromisoformat(value)
            except ValueError:
                raise _Decline from None
            found = (day, bisect.bisect_right(self.boundaries, day))
            if len(self.cache) >= CACHE_SIZE:
                self.cache.clear()
            self.cache[value] = found
        if in_agreement and not self.effective(found[0]):
            raise _Decline
        return found


def _contribution_ints(contribution: Contribution, partners: Sequence[str]
                       ) -> tuple[dict[str, tuple[int, ...]], dict[str, int]]:
    """Weights as integers over one common denominator (ratios are all that matter):
    per kind, the points each partner earns (weight x normalise) and a rep earns (weight)."""
    by_partner = {k: [w * contribution.factor(p) for p in partners]
                  for k, w in contribution.weights.items() if w}
    scale = math.lcm(1, *(f.denominator for fs in by_partner.values() for f in fs))
    rep_scale = math.lcm(1, *(w.denominator for w in contribution.weights.values()))
    partner_points = {k: tuple(int(f * scale) for f in fs) for k, fs in by_partner.items()}
    rep_points = {k: int(w * rep_scale) for k, w in contribution.weights.items() if w}
    return partner_points, rep_points


class _TypePlan:
    """One credit type's decision for a set of matching conditions and rules in force: its
    verdicts and, when some rule applies, the winners and what their numbers need."""

    __slots__ = ("_verdicts", "active", "clauses", "contribution", "declared", "empty",
                 "fixed", "mode", "name", "outcome", "points", "rep_points", "rules",
                 "rules_text", "total", "total_num")

    def __init__(self, fast: FastPath, ctype: CreditType, winners: Sequence[CreditRule],
                 verdicts: Callable[[], tuple[RuleVerdict, ...]]) -> None:
        self.name = ctype.name
        self.declared = ctype.declared
        self._verdicts: tuple[RuleVerdict, ...] | Callable[[], tuple[RuleVerdict, ...]] = \
            verdicts
        self.active = bool(winners)
        self.rules = tuple(r.id for r in winners)
        self.clauses = tuple(r.clause for r in winners)
        self.rules_text = ";".join(self.rules)
        # Shares as integer numerators over one denominator, in partner order.
        self.fixed: tuple[tuple[int, ...], int] | None = None
        self.empty: tuple[tuple[int, ...], int, str] | None = None
        self.points: dict[str, tuple[int, ...]] = {}
        self.total = Fraction(0)
        self.total_num: tuple[int, int] = (0, 1)
        self.outcome = ""
        self.mode = ""
        self.contribution = False
        self.rep_points: dict[str, int] = {}
        if not winners:
            return
        rs, partners = fast.rs, fast.partners
        first = winners[0]
        outcome = first.outcome
        self.outcome = outcome.kind
        self.mode = first.rep_credit or rs.rep_credit
        contribution = (outcome.contribution if isinstance(outcome, ByContribution)
                        else rs.contribution)
        self.contribution = contribution is not None and self.mode == "by_contribution"
        if contribution is not None:
            self.rep_points = fast.contribution_ints(contribution)[1]
        if isinstance(outcome, Split | Overlay):
            shares = [outcome.shares.get(p, Fraction(0)) for p in partners]
            self.fixed = _common(shares)
            self.total = sum(shares, Fraction(0))
        else:
            assert isinstance(outcome, ByContribution)
            self.points = fast.contribution_ints(outcome.contribution)[0]
            total = outcome.total
            self.total_num = (total.numerator, total.denominator)
            if outcome.fallback is not None:
                empty = [total * outcome.fallback.get(p, Fraction(0)) for p in partners]
                note = "no contribution recorded: the rule's if_no_contribution shares apply"
            else:
                empty = [total / len(partners) for _ in partners]
                note = "no contribution recorded: shared equally"
            nums, den = _common(empty)
            self.empty = (nums, den, note)


    def with_verdicts(self, verdicts: Callable[[], tuple[RuleVerdict, ...]]) -> _TypePlan:
        """The same numbers with other verdicts (another set of matching conditions)."""
        plan = _TypePlan.__new__(_TypePlan)
        for name in _TypePlan.__slots__:
            setattr(plan, name, getattr(self, name))
        plan._verdicts = verdicts
        return plan

    @property
    def verdicts(self) -> tuple[RuleVerdict, ...]:
        """Each rule's verdict: built when first asked (ledger rows never ask)."""
        found = self._verdicts
        if callable(found):
            found = self._verdicts = found()
        return found


def _common(shares: Sequence[Fraction]) -> tuple[tuple[int, ...], int]:
    den = math.lcm(1, *(s.denominator for s in shares))
    return tuple(s.numerator * (den // s.denominator) for s in shares), den


class _PolicyPlan:
    """The policy decisions (one per topic) for a set of matching policy conditions."""

    __slots__ = ("policies", "text", "verdicts")

    def __init__(self, policies: tuple[PolicyDecision, ...],
                 verdicts: tuple[RuleVerdict, ...]) -> None:
        self.policies = policies
        self.verdicts = verdicts
        self.text = ";".join(policy_text(p) for p in policies) or None


_NO_POLICY = _PolicyPlan((), ())


class FastDeal:
    """One deal's credit as the fast path computed it (integers; texts made on demand).

    ``credits`` lists, per credit type with a winner, ``(type plan, partners,
    contributed)``; a partner is ``(id, share numerator, share denominator, units, reps)``
    and a rep ``(id, numerator, denominator, units)``. Shares are fractions of the deal
    amount, not reduced. ``types`` has every type's plan (for verdicts); ``expenses`` each
    expense's share and rule verdicts, by expense id, and ``expense_facts`` the facts its
    sharing conditions read.
    """

    __slots__ = ("credits", "date", "day", "expense_facts", "expenses", "facts", "id",
                 "policy", "segment", "types", "units")

    def __init__(self, deal_id: str, day: dt.date, units: int, segment: int,
                 types: tuple[_TypePlan, ...], policy: _PolicyPlan,
                 credits: list[tuple[_TypePlan, list[Any], bool]],
                 expenses: tuple[tuple[ExpenseShare, tuple[RuleVerdict, ...]], ...],
                 facts: Facts, expense_facts: tuple[Facts, ...]) -> None:
        self.id = deal_id
        self.day = day
        self.date = day.isoformat()
        self.units = units
        self.segment = segment
        self.types = types
        self.policy = policy
        self.credits = credits
        self.expenses = expenses
        # What conditions read, kept for explanations (deferred: read only when asked).
        self.facts = facts
        self.expense_facts = expense_facts


Read = Callable[[tuple[Any, ...]], Any]


class FastPath:
    """Fast credit for one ruleset (see the module docstring). Not thread safe."""

    def __init__(self, ruleset: Ruleset) -> None:
        evaluator = ruleset._evaluator
        assert evaluator is not None
        self.rs = ruleset
        self.ev: Evaluator = evaluator
        self.partners = ruleset.partner_ids
        self.partner_set = frozenset(self.partners)
        self.index = {p: i for i, p in enumerate(self.partners)}
        self.attributes = dict(evaluator.attributes)
        self.tie_break: TieBreak = ruleset.tie_break
        self.amounts = _Amounts(ruleset.unit)
        self.unit = ruleset.unit
        _, digits, exp = ruleset.unit.as_tuple()
        assert isinstance(exp, int)
        # from_units prints plain decimals for these units (no exponent): cheap formatting.
        self.places = -exp if digits == (1,) and -6 <= exp <= 0 else None
        bounds: list[dt.date] = []
        windows = [r.effective for r in ruleset.rules] + [p.effective for p in ruleset.precedence]
        for window in windows:
            if window.start is not None:
                bounds.append(window.start)
            if window.end is not None and window.end < dt.date.max:
                bounds.append(window.end + dt.timedelta(days=1))
        self.dates = _Dates(bounds, ruleset.effective.contains)
        ref = evaluator.ref
        self.tail = (ref.id, ref.version, ref.hash)
        self.texts: dict[tuple[int, int], str] = {}
        self.fractions: dict[tuple[int, int], Fraction] = {}
        self.acts: dict[Any, tuple[str, tuple[str, ...], str | None, dt.date | None]] = {}
        self.items: dict[Any, tuple[Mapping[Path, Value], tuple[int, ...]]] = {}
        self.reps: dict[Any, tuple[str, str, bool, Mapping[Path, Value], tuple[int, ...]]] = {}
        self.attr_values: dict[tuple[str, Any, type], Value] = {}
        self.no_attributes: dict[Path, Value] = {
            ("attributes", name): None for name in self.attributes}
        self._contributions: dict[int, tuple[dict[str, tuple[int, ...]], dict[str, int]]] = {}
        self.type_plans: dict[tuple[Any, ...], _TypePlan | None] = {}
        self.in_force: dict[tuple[int, str], tuple[list[CreditRule], Precedence]] = {}
        self.plan_numbers: dict[tuple[str, ...], _TypePlan] = {}
        self.policy_plans: dict[tuple[Any, ...], _PolicyPlan | None] = {}
        self.out_of_force: dict[int, tuple[RuleVerdict, ...]] = {}
        self.verdicts: dict[tuple[Any, ...], tuple[RuleVerdict, ...]] = {}
        self.shared: dict[tuple[str, str, tuple[str, ...]], RuleVerdict] = {}
        self.policy_on = evaluator.policy.active
        # Each condition by its verdict's (type, rule, version), to explain unmatched ones.
        self.whens: dict[tuple[str, str, str], Expr] = {
            (r.type, r.id, r.version): r.when for r in ruleset.rules if r.when is not None}
        for prule in ruleset.policy_rules:
            if prule.when is not None:
                self.whens[(f"policy:{prule.topic}", prule.id, ruleset.version)] = prule.when
        for erule in ruleset.expense_rules:
            if erule.when is not None:
                self.whens[("expense", erule.id, ruleset.version)] = erule.when
        conditions: dict[str, Any] = dict(evaluator.conditions)
        owner_of = {r.key: r.type for r in ruleset.rules}
        for rule in ruleset.policy_rules:
            owner_of[rule.key] = "policy"
            if rule.when is not None:
                conditions[rule.key] = rule.when
        self.compiled: Compiled | None
        try:
            self.compiled = compile_conditions(conditions)
        except CompileError:  # beyond what can be encoded: every deal takes the plain path
            self.compiled = None
        self.expense = _ExpenseFast(self) if ruleset.expense_rules or self.policy_on else None
        # Conditions grouped by credit type (or policy) and by the features they read: a
        # condition's outcome depends only on those features' encoded values, a far smaller
        # space than the whole deal.
        self.groups: list[tuple[Read, tuple[str, ...], dict[Any, frozenset[str]]]] = []
        self.owned: dict[str, list[int]] = {t.name: [] for t in ruleset.credit_types}
        self.owned["policy"] = []
        self.sets: dict[frozenset[str], frozenset[str]] = {}
        if self.compiled is not None:
            by_reads: dict[tuple[str, tuple[int, ...]], list[str]] = {}
            for name in sorted(conditions):
                reads = self.compiled.reads.get(name, ())
                by_reads.setdefault((owner_of[name], reads), []).append(name)
            group_reads = sorted(by_reads.items())
        # Collection items are built only when some condition counts them.
        both = (self.compiled, self.expense.compiled if self.expense else None)
        sources = [f.source for c in both if c is not None for f in c.features]
        self.need_acts = any(s.startswith("count(activities") for s in sources)
        # How each feature is read (see _encode); None: by the compiled encoders.
        self.act_counts: list[Expr | None] = []
        self.rep_counts: list[Expr | None] = []
        self.ops: list[tuple[int, Any, Any, int]] | None = [] if self.compiled else None
        for feature, origin in zip(*((self.compiled.features, self.compiled.origins)
                                     if self.compiled else ((), ())), strict=True):
            assert self.ops is not None
            literals = feature.literals
            if feature.kind == "raw":
                self.ops = None  # field against field: the compiled encoders know how
                break
            if isinstance(origin, Field):
                if feature.kind == "index":
                    self.ops.append((0, origin.path, {v: i for i, v in enumerate(literals)},
                                     len(literals)))
                else:
                    self.ops.append((1, origin.path, literals, len(literals)))
            elif origin.collection in ("activities", "reps"):
                counts = (self.act_counts if origin.collection == "activities"
                          else self.rep_counts)
                counts.append(origin.where)
                self.ops.append((2 if counts is self.act_counts else 3, len(counts) - 1,
                                 literals, len(literals)))
            else:
                self.ops = None
                break
        if self.ops is None or self.compiled is None:
            self.need_acts = True  # the compiled encoders read the items
        # _encode lays out the index features first (one comprehension), then the others;
        # each group reads its features at their places in that layout.
        order = list(range(len(self.ops or ())))
        if self.ops is not None:
            order.sort(key=lambda i: self.ops[i][0] != 0)  # type: ignore[index]
            self.index_ops = [self.ops[i][1:] for i in order if self.ops[i][0] == 0]
            self.other_ops = [self.ops[i] for i in order if self.ops[i][0] != 0]
        place = {feature: i for i, feature in enumerate(order)}
        if self.compiled is not None:
            for (owner, reads), names in group_reads:
                self.owned[owner].append(len(self.groups))
                if self.ops is not None:
                    reads = tuple(place[r] for r in reads)
                read = operator.itemgetter(*reads) if reads else _nothing
                self.groups.append((read, tuple(names), {}))
        self.credit_types = tuple((t, tuple(self.owned[t.name])) for t in ruleset.credit_types)
        self.policy_groups = tuple(self.owned["policy"])

    def contribution_ints(self, contribution: Contribution
                          ) -> tuple[dict[str, tuple[int, ...]], dict[str, int]]:
        found = self._contributions.get(id(contribution))
        if found is None:
            found = self._contributions[id(contribution)] = _contribution_ints(
                contribution, self.partners)
        return found

    # -- one record -------------------------------------------------------------------------
    def compute(self, data: Any) -> FastDeal | None:
        """The deal's credit, or None when the plain path must decide (see module doc)."""
        if self.compiled is None:
            return None
        try:
            return self._compute(data)
        except _Decline:
            return None

    def _activity(self, item: Any) -> tuple[str, tuple[str, ...], str | None, dt.date | None]:
        """An activity as (kind, reps, partner, date), as the plain reader reads it; cached
        by content, since activities repeat across deals."""
        if type(item) is not dict or not item.keys() <= _ACTIVITY_KEYS:
            raise _Decline
        get = item.get
        kind, one, many, who, raw_date = (get("kind"), get("rep"), get("reps"),
                                          get("partner"), get("date"))
        # Only text (a str, not a subclass such as JsonFloat) is cached: anything else the
        # plain reader would convert or refuse, and equal keys must mean equal records.
        if (type(kind) is not str or type(one) not in _TEXT_TYPES
                or type(who) not in _TEXT_TYPES or type(raw_date) not in _TEXT_TYPES):
            raise _Decline
        if many is not None:
            if type(many) is not list or any(type(r) is not str for r in many):
                raise _Decline
            many = tuple(many)
        key = (kind, one, many, who, raw_date)
        found = self.acts.get(key)
        if found is not None:
            return found
        _required(kind)
        if kind == LEAD_KIND:
            raise _Decline
        one, many = item.get("rep"), item.get("reps")
        if one is not None:
            if many is not None:
                raise _Decline
            reps: tuple[str, ...] = (_required(one),)
        else:
            reps = tuple(_required(r) for r in many or ())
        who = _text(item.get("partner"))
        if who is not None and who not in self.partner_set:
            raise _Decline
        if not reps and who is None:
            raise _Decline
        raw_date = item.get("date")
        day = None if raw_date is None or raw_date == "" else \
            self.dates.read(raw_date, in_agreement=False)[0]
        found = (kind, reps, who, day)
        if len(self.acts) >= CACHE_SIZE:
            self.acts.clear()
        self.acts[key] = found
        return found

    def _act_item(self, kind: str, partners: frozenset[str], reps: tuple[str, ...],
                  day: dt.date | None) -> tuple[Mapping[Path, Value], tuple[int, ...]]:
        """An activity as conditions see it (as ``deal_facts`` builds it; shared, read-only)
        and whether it counts for each ``count(activities, ...)`` feature."""
        key = (kind, partners, reps, day)
        found = self.items.get(key)
        if found is None:
            item: Mapping[Path, Value] = {
                ("kind",): kind,
                ("partner",): next(iter(partners)) if len(partners) == 1 else None,
                ("rep",): reps[0] if len(reps) == 1 else None,
                ("date",): day,
                ("joint",): len(partners) > 1,
                ("reps",): Decimal(len(reps)),
            }
            found = (item, self._hits(item, self.act_counts))
            if len(self.items) >= CACHE_SIZE:
                self.items.clear()
            self.items[key] = found
        return found

    def _rep(self, item: Any) -> tuple[str, str, bool, Mapping[Path, Value], tuple[int, ...]]:
        """A rep as (id, partner, owner), its item as conditions see it and its counts."""
        if type(item) is not dict:
            raise _Decline
        rid, partner, owner = item.get("id"), item.get("partner"), item.get("owner")
        # Text and flags only (what the plain reader would convert declines), and no other
        # key: then the three values are the whole record and a sound cache key.
        if (type(rid) is not str or type(partner) is not str
                or type(owner) not in _FLAG_TYPES or len(item) != 2 + ("owner" in item)):
            raise _Decline
        key = (rid, partner, owner)
        found = self.reps.get(key)
        if found is None:
            _required(rid)
            if partner not in self.partner_set:
                raise _Decline
            is_owner = _flag(owner)
            view: Mapping[Path, Value] = {("id",): rid, ("partner",): partner,
                                          ("owner",): is_owner}
            found = (rid, partner, is_owner, view, self._hits(view, self.rep_counts))
            if len(self.reps) >= CACHE_SIZE:
                self.reps.clear()
            self.reps[key] = found
        return found

    @staticmethod
    def _hits(item: Mapping[Path, Value], predicates: Sequence[Expr | None]
              ) -> tuple[int, ...]:
        return tuple(1 if where is None or evaluate(where, Facts(item, {})) else 0
                     for where in predicates)

    def _scalar(self, name: str, value: Any) -> Value:
        """A declared attribute converted as the plain path does (cached: values repeat)."""
        key = (name, value, type(value))  # 1, True and "1" are different inputs
        try:
            found = self.attr_values.get(key, _MISSING)
        except TypeError:  # unhashable: a list or an object
            raise _Decline from None
        if found is _MISSING:
            found = _attribute(value, self.attributes[name])
            if len(self.attr_values) >= CACHE_SIZE:
                self.attr_values.clear()
            self.attr_values[key] = found
        return found  # type: ignore[return-value]

    def _compute(self, data: Any) -> FastDeal | None:
        if type(data) is not dict or not data.keys() <= _DEAL_KEYS:
            raise _Decline
        deal_id = data.get("id")
        if type(deal_id) is not str or not deal_id:
            raise _Decline
        if data.get("currency") != self.rs.currency:
            raise _Decline
        day, segment = self.dates.read(data.get("date"), in_agreement=True)
        amount, units = self.amounts.read(data.get("amount"))
        account = self._account(data.get("account"))
        owner = account[1]
        lead = self._lead(data.get("lead"))
        source, lead_rep = lead
        rep_partner: dict[str, str] = {}
        by_partner: dict[str, list[str]] = {}
        owners: set[str] = set()
        rep_items: list[Mapping[Path, Value]] = []
        rep_hits: list[tuple[int, ...]] = []
        for item in _seq(data.get("reps")):
            rid, partner, is_owner, view, hits = self._rep(item)
            if rid in rep_partner:
                raise _Decline
            rep_partner[rid] = partner
            by_partner.setdefault(partner, []).append(rid)
            if is_owner:
                owners.add(rid)
            rep_items.append(view)
            rep_hits.append(hits)
        if lead_rep in rep_partner and source is not None and rep_partner[lead_rep] != source:
            raise _Decline
        # Participations (kind, partners, reps), the lead last, as _outcomes builds them.
        acts: list[tuple[str, frozenset[str], tuple[str, ...]]] = []
        act_items: list[Mapping[Path, Value]] = []
        act_hits: list[tuple[int, ...]] = []
        need_acts = self.need_acts
        for item in _seq(data.get("activities")):
            kind, reps, who, act_day = self._activity(item)
            try:
                partners = frozenset([rep_partner[r] for r in reps] + ([who] if who else []))
            except KeyError:
                raise _Decline from None  # a rep not on the deal
            acts.append((kind, partners, reps))
            if need_acts:
                view, hits = self._act_item(kind, partners, reps, act_day)
                act_items.append(view)
                act_hits.append(hits)
        if source is not None:
            acts.append((LEAD_KIND, frozenset((source,)),
                         (lead_rep,) if lead_rep in rep_partner else ()))
        scalars: dict[Path, Value] = {
            ("id",): deal_id, ("date",): day, ("amount",): amount,
            ("currency",): self.rs.currency, ("product",): _text(data.get("product")),
            ("account", "id"): account[0], ("account", "owner"): owner,
            ("account", "named"): account[2], ("account", "segment"): account[3],
            ("account", "territory"): account[4],
            ("lead", "source"): source, ("lead", "rep"): lead_rep,
        }
        scalars.update(self.no_attributes)  # declared attributes not given are missing
        attributes = data.get("attributes")
        if attributes is not None:
            if type(attributes) is not dict:
                raise _Decline
            declared = self.attributes
            for name, value in attributes.items():
                if name in declared:
                    scalars[("attributes", name)] = self._scalar(name, value)
                elif type(value) not in _PLAIN_ATTRIBUTE:
                    raise _Decline  # the plain reader converts or refuses it
        facts = Facts(scalars, {"activities": tuple(act_items), "reps": tuple(rep_items)})
        encoded = self._encode(scalars, act_hits, rep_hits, facts)
        matched = self._matched(encoded, facts)
        raw_expenses = data.get("expenses")
        has_expenses = bool(raw_expenses)
        types = []
        credits: list[tuple[_TypePlan, list[Any], bool]] = []
        for ctype, groups in self.credit_types:
            key = (ctype.name, segment, *[matched[g] for g in groups])
            tp = self.type_plans.get(key)
            if tp is None:
                if key in self.type_plans:
                    raise _Decline  # an error for this key: the plain path reports it
                tp = self._type_plan(ctype, key, day)
            types.append(tp)
            if tp.active:
                credits.append((tp, *self._credit(tp, deal_id, units, acts, by_partner,
                                                  owners)))
        policy = _NO_POLICY
        if self.policy_on:
            key = (owner, source, has_expenses, *[matched[g] for g in self.policy_groups])
            found = self.policy_plans.get(key)
            if found is None:
                found = self._policy_plan(key, data, facts)
            policy = found
        expenses: tuple[tuple[ExpenseShare, tuple[RuleVerdict, ...]], ...] = ()
        expense_facts: tuple[Facts, ...] = ()
        if raw_expenses is not None:
            if self.expense is None:
                raise _Decline
            # A stand-in deal for the sharing code: what it reads of the deal (the id for the
            # rounding salt, the amount's sign, the owner and lead source for policies).
            stub = Deal(deal_id, day, amount, self.rs.currency, account=Account(owner=owner),
                        lead=Lead(source=source, rep=lead_rep))
            expenses, expense_facts = self.expense.share(policy, stub, facts, raw_expenses,
                                                         credits)
        return FastDeal(deal_id, day, units, segment, tuple(types), policy, credits, expenses,
                        facts, expense_facts)

    def _account(self, value: Any) -> tuple[str | None, str | None, bool, str | None,
                                            str | None]:
        """(id, owner, named, segment, territory). Not cached: account ids make nearly
        every account distinct."""
        if value is None:
            return _NO_ACCOUNT
        if type(value) is not dict or not value.keys() <= _ACCOUNT_KEYS:
            raise _Decline
        owner = _text(value.get("owner"))
        if owner is not None and owner not in self.partner_set:
            raise _Decline
        return (_text(value.get("id")), owner, _flag(value.get("named")),
                _text(value.get("segment")), _text(value.get("territory")))

    def _lead(self, value: Any) -> tuple[str | None, str | None]:
        """(source, rep)."""
        if value is None:
            return (None, None)
        lead = _obj(value, _LEAD_KEYS)
        source = _text(lead.get("source"))
        if source is not None and source not in self.partner_set:
            raise _Decline
        return source, _text(lead.get("rep"))

    def _encode(self, scalars: Mapping[Path, Value], act_hits: list[tuple[int, ...]],
                rep_hits: list[tuple[int, ...]], facts: Facts) -> tuple[Any, ...]:
        """The encoded deal (the values of ``Compiled.key``, index features first), read
        directly: an index or a rank per feature, counts summed from each item's cached
        hits."""
        if self.ops is None:
            assert self.compiled is not None
            try:
                return self.compiled.key(facts)
            except TypeError:
                raise _Decline from None
        out: list[Any] = [-1 if (value := scalars[path]) is None else table.get(value, size)
                          for path, table, size in self.index_ops]
        append = out.append
        for op, arg, table, size in self.other_ops:
            if op == 1:
                value = scalars[arg]
                if value is None:
                    append(-1)
                    continue
            else:
                value = sum([h[arg] for h in (act_hits if op == 2 else rep_hits)])
            i = bisect.bisect_left(table, value)
            append(2 * i + 1 if i < size and table[i] == value else 2 * i)
        return tuple(out)

    def _matched(self, encoded: tuple[Any, ...], facts: Facts) -> list[frozenset[str]]:
        """Per group of conditions, those that hold: looked up by the encoded values of the
        features the group reads, and matched by the engine only when new."""
        found_all = [cache.get(read(encoded)) for read, _, cache in self.groups]
        if None not in found_all:
            return found_all  # type: ignore[return-value]
        ev = self.ev
        matched = ev.matcher.match(facts) | ev.policy.policy_matcher.match(facts)
        out = []
        for read, names, cache in self.groups:
            found = frozenset(n for n in names if n in matched)
            found = self.sets.setdefault(found, found)  # one object per distinct set
            if len(cache) >= CACHE_SIZE:
                cache.clear()
            cache[read(encoded)] = found
            out.append(found)
        return out

    def _type_plan(self, ctype: CreditType, key: tuple[Any, ...], day: dt.date) -> _TypePlan:
        """A credit type's decision, as ``Evaluator.allocate`` takes it (the key holds the
        matching conditions; ``day`` stands for its rules in force)."""
        matched: set[str] = set()
        for names in key[2:]:
            matched |= names
        segment = key[1]
        found = self.in_force.get((segment, ctype.name))
        if found is None:
            # The same for every day of the segment: worked out once per segment and type.
            in_force = [r for r in self.rs.rules if r.effective.contains(day)]
            found = self.in_force[(segment, ctype.name)] = (
                [r for r in in_force if r.type == ctype.name],
                self.ev.precedence(in_force, day))
        rules, precedence = found
        applicable = {r.id: r for r in rules if r.when is None or r.key in matched}
        winners, beaten = precedence.resolve(applicable)

        def verdicts() -> tuple[RuleVerdict, ...]:
            return tuple(
                self._verdict(rule, "overridden", tuple(beaten[rule.id])) if rule.id in beaten
                else self._verdict(rule, "not-matched" if rule.id not in applicable
                                   else "applied", ())
                for rule in rules)

        chosen = [applicable[w] for w in winners]
        ok = bool(chosen) or not ctype.required
        if len(chosen) > 1:
            outcomes = [r.outcome for r in chosen]
            # Several winners agree or the deal is ambiguous; with fixed shares that is known
            # now, by contribution it would depend on each deal: the plain path decides.
            ok = all(isinstance(o, Split | Overlay) for o in outcomes) and all(
                _same_shares(outcomes[0], o, self.partners) for o in outcomes[1:])
        plan = None
        if ok:
            # The numbers depend on the winners only: many keys share them.
            numbers = (ctype.name, *(r.key for r in chosen))
            template = self.plan_numbers.get(numbers)
            if template is None:
                if len(self.plan_numbers) >= CACHE_SIZE:
                    self.plan_numbers.clear()
                template = self.plan_numbers[numbers] = _TypePlan(self, ctype, chosen, tuple)
            plan = template.with_verdicts(verdicts)
        if len(self.type_plans) >= CACHE_SIZE:
            self.type_plans.clear()
        self.type_plans[key] = plan
        if plan is None:
            raise _Decline
        return plan

    def _verdict(self, rule: CreditRule, status: str, by: tuple[str, ...]) -> RuleVerdict:
        """One verdict object per rule, status and winners, shared by every plan."""
        key = (rule.key, status, by)
        found = self.shared.get(key)
        if found is None:
            if len(self.shared) >= CACHE_SIZE:
                self.shared.clear()
            found = self.shared[key] = self.ev.verdict(rule, status, by=by)
        return found

    def _policy_plan(self, key: tuple[Any, ...], data: dict[str, Any], facts: Facts
                     ) -> _PolicyPlan:
        """The policy decisions for the key, by the evaluator's own policy code (it reads
        the deal's account owner and lead source, both in the key)."""
        owner, source, has_expenses = key[:3]
        deal = Deal(data["id"], facts.scalars[("date",)], Decimal(0),  # type: ignore[arg-type]
                    self.rs.currency, account=Account(owner=owner), lead=Lead(source=source))
        plan: _PolicyPlan | None
        try:
            policies, verdicts = self.ev.policy.decisions(
                deal, facts, explain=False, needed={ENTERTAINMENT} if has_expenses else set())
            plan = _PolicyPlan(tuple(policies), tuple(verdicts))
        except AllocationError:
            plan = None
        if len(self.policy_plans) >= CACHE_SIZE:
            self.policy_plans.clear()
        self.policy_plans[key] = plan
        if plan is None:
            raise _Decline
        return plan

    # -- numbers --------------------------------------------------------------------------
    def _credit(self, tp: _TypePlan, deal_id: str, units: int,
                acts: list[tuple[str, frozenset[str], tuple[str, ...]]],
                by_partner: dict[str, list[str]], owners: set[str]
                ) -> tuple[list[Any], bool]:
        partners = self.partners
        contributed = True
        if tp.fixed is not None:
            nums, den = tp.fixed
        else:
            points = [0] * len(partners)
            weights = tp.points
            index = self.index
            for kind, who, _ in acts:
                w = weights.get(kind)
                if w is not None:
                    for p in who:
                        i = index[p]
                        points[i] += w[i]
            total = sum(points)
            if total:
                a, b = tp.total_num
                nums, den = tuple(a * p for p in points), b * total
            else:
                assert tp.empty is not None
                nums, den, _ = tp.empty
                contributed = False
        negative = units < 0
        size = -units if negative else units
        target, rest = divmod(size * sum(nums), den)
        # Round half to even, as Fraction's round() does.
        if rest and (2 * rest > den or (2 * rest == den and target % 2)):
            target += 1
        salt = f"{deal_id}\x1f{tp.name}"
        got = _round([size * n for n in nums], den, target, partners, self.tie_break, salt)
        out = []
        rep_points: dict[str, int] | None = None
        for i, pid in enumerate(partners):
            num = nums[i]
            if num == 0:
                continue  # a zero share always rounds to zero: no line
            pu = got[i]
            signed = -pu if negative else pu
            reps: list[tuple[str, int, int, int]] = []
            mine = by_partner.get(pid)
            if mine:
                if len(mine) > 1:
                    mine = sorted(mine)
                if tp.mode == "owner":
                    chosen = [r for r in mine if r in owners]
                    if len(chosen) != 1:
                        raise _Decline  # the plain path names the missing owner
                    reps = [(chosen[0], num, den, signed)]
                elif len(mine) == 1:
                    # A partner's only rep gets its whole share: by contribution or equally.
                    reps = [(mine[0], num, den, signed)]
                else:
                    weights_r: list[int] | None = None
                    total_r = 0
                    if tp.contribution:
                        if rep_points is None:
                            rep_points = _rep_points(tp.rep_points, acts)
                        weights_r = [rep_points.get(r, 0) for r in mine]
                        total_r = sum(weights_r)
                    if not total_r:
                        weights_r = [1] * len(mine)
                        total_r = len(mine)
                    assert weights_r is not None
                    rden = den * total_r
                    rnums = [num * rw for rw in weights_r]
                    rep_units = _round([size * n for n in rnums], rden, pu, mine,
                                       self.tie_break, f"{salt}\x1f{pid}")
                    reps = [(r, rnums[j], rden, -rep_units[j] if negative else rep_units[j])
                            for j, r in enumerate(mine)]
            out.append((pid, num, den, signed, reps))
        return out, contributed

    # -- output -----------------------------------------------------------------------------
    def share_text(self, num: int, den: int) -> str:
        key = (num, den)
        text = self.texts.get(key)
        if text is None:
            if len(self.texts) >= CACHE_SIZE:
                self.texts.clear()
            text = self.texts[key] = fraction_text(Fraction(num, den))
        return text

    def fraction(self, num: int, den: int) -> Fraction:
        """``Fraction(num, den)``, cached: shares repeat from deal to deal."""
        found = self.fractions.get((num, den))
        if found is None:
            if len(self.fractions) >= CACHE_SIZE:
                self.fractions.clear()
            found = self.fractions[(num, den)] = Fraction(num, den)
        return found

    def decimal(self, units: int) -> Decimal:
        """``from_units(units, unit)``: from its text for usual units (exact whatever the
        decimal context, with the unit's exponent)."""
        if self.places is None:
            return from_units(units, self.unit)
        return Decimal(self.money(units))

    def money(self, units: int) -> str:
        """``str(from_units(units, unit))``, without building a Decimal for usual units."""
        places = self.places
        if places is None:
            return str(from_units(units, self.unit))
        if not places:
            return str(units)
        # String surgery is about half the cost of divmod and a nested format spec.
        if units < 0:
            digits = str(-units).rjust(places + 1, "0")
            return f"-{digits[:-places]}.{digits[-places:]}"
        digits = str(units).rjust(places + 1, "0")
        return f"{digits[:-places]}.{digits[-places:]}"

    def rows(self, fd: FastDeal) -> list[Row]:
        """The ledger rows, as :func:`creditrules.batch.ledger_rows` gives for the plain
        allocation."""
        tail = self.tail
        deal, date, currency = fd.id, fd.date, self.rs.currency
        policy = fd.policy.text
        share_text, money = self.share_text, self.money
        out: list[Row] = []
        for tp, partners, contributed in fd.credits:
            name, rules = tp.name, tp.rules_text
            note = None if contributed or tp.empty is None else tp.empty[2]
            for pid, num, den, units, reps in partners:
                share, amount = share_text(num, den), money(units)
                if not reps:
                    out.append((deal, date, "credit", name, pid, None, share, amount, share,
                                amount, currency, rules, None, note, policy, *tail))
                for rep, rnum, rden, runits in reps:
                    out.append((deal, date, "credit", name, pid, rep, share_text(rnum, rden),
                                money(runits), share, amount, currency, rules, None, note,
                                policy, *tail))
        for expense, _ in fd.expenses:
            out.extend(expense_rows(expense, deal, date, currency, tail))
        return out

    def allocation(self, fd: FastDeal, *, explain: bool = False) -> Allocation:
        """The :class:`Allocation` the plain path gives (its reasons deferred, as there)."""
        fraction, decimal = self.fraction, self.decimal
        credits = []
        for tp, partners, contributed in fd.credits:
            lines = []
            amount = 0
            for pid, num, den, pu, reps in partners:
                amount += pu
                lines.append(PartnerCredit(pid, fraction(num, den), decimal(pu), tuple(
                    RepCredit(r, fraction(n, d), decimal(u)) for r, n, d, u in reps)))
            total, note = tp.total, ""
            if tp.fixed is None:
                # The shares add up to the rule's total, or the fallback's.
                assert tp.empty is not None
                nums, den, empty_note = tp.empty
                total, note = ((Fraction(*tp.total_num), "") if contributed
                               else (Fraction(sum(nums), den), empty_note))
            credits.append(TypeCredit(
                type=tp.name, total=total, declared=tp.declared, rules=tp.rules,
                clauses=tp.clauses, outcome=tp.outcome, amount=decimal(amount),
                partners=tuple(lines), note=note))
        verdicts = self._verdicts(fd)
        if explain:
            verdicts = self._explained(fd, verdicts)
        return Allocation(fd.id, fd.day, decimal(fd.units), self.rs.currency,
                          self.ev.ref, tuple(credits), verdicts, fd.policy.policies,
                          tuple(e for e, _ in fd.expenses))

    def _explained(self, fd: FastDeal, verdicts: tuple[RuleVerdict, ...]
                   ) -> tuple[RuleVerdict, ...]:
        """The verdicts with the reasons of each unmatched condition, deferred as
        ``rule_verdicts`` defers them (the cached verdicts are shared: copies)."""
        whens = self.whens
        expense_facts = {share.expense: facts
                         for (share, _), facts in zip(fd.expenses, fd.expense_facts,
                                                      strict=True)} if fd.expenses else {}
        out = []
        for v in verdicts:
            if v.status == "not-matched":
                if v.type.startswith("expense:"):
                    when = whens.get(("expense", v.rule, v.version))
                    facts = expense_facts[v.type[len("expense:"):]]
                else:
                    when, facts = whens.get((v.type, v.rule, v.version)), fd.facts
                if when is not None:
                    v = RuleVerdict(v.rule, v.version, v.clause, v.type, v.status, v.text,
                                    v.by, DeferredReasons(when, facts))
            out.append(v)
        return tuple(out)

    def _verdicts(self, fd: FastDeal) -> tuple[RuleVerdict, ...]:
        ev = self.ev
        outside = self.out_of_force.get(fd.segment)
        if outside is None:
            outside = self.out_of_force[fd.segment] = tuple(
                ev.verdict(rule, "not-in-force",
                           reasons=(f"it is in force {rule.effective} only",))
                for rule in self.rs.rules if not rule.effective.contains(fd.day))
        # Keyed by the plan objects themselves (held, so never confused with a later one).
        key = (fd.segment, *fd.types, fd.policy)
        found = self.verdicts.get(key)
        if found is None:
            found = tuple(sorted((*outside, *(v for t in fd.types for v in t.verdicts),
                                  *fd.policy.verdicts), key=ev.verdict_order))
            if len(self.verdicts) >= CACHE_SIZE:
                self.verdicts.clear()
            self.verdicts[key] = found
        if fd.expenses:
            # Expense verdicts sort after all others (Evaluator.verdict_order), by expense,
            # rule and version; the expenses are already in id order.
            more = [RuleVerdict(v.rule, v.version, v.clause, f"expense:{share.expense}",
                                v.status, v.text, v.by, v.reasons)
                    for share, vs in fd.expenses for v in vs]
            more.sort(key=lambda v: (v.type, v.rule, v.version))
            found = (*found, *more)
        return found


def _rep_points(weights: Mapping[str, int], acts: list[tuple[str, frozenset[str],
                                                             tuple[str, ...]]]
                ) -> dict[str, int]:
    """Each rep's contribution points (weights not normalised: within one partner)."""
    points: dict[str, int] = {}
    for kind, _, reps in acts:
        w = weights.get(kind)
        if w:
            for r in reps:
                points[r] = points.get(r, 0) + w
    return points


def _same_shares(a: Outcome, b: Outcome, partners: Sequence[str]) -> bool:
    assert isinstance(a, Split | Overlay)
    assert isinstance(b, Split | Overlay)
    return all(a.shares.get(p, Fraction(0)) == b.shares.get(p, Fraction(0)) for p in partners)


def _nothing(encoded: tuple[Any, ...]) -> tuple[()]:
    return ()


def _round(scaled: list[int], den: int, target: int, parties: Sequence[str],
           tie_break: TieBreak, salt: str) -> list[int]:
    """Largest remainder on exact entitlements ``scaled[i] / den`` (all >= 0) to ``target``:
    :func:`creditrules._money.apportion` in integers, the tie-break hashed only on a tie."""
    if len(scaled) == 2:  # two parties, the usual alliance: no lists, no sorting
        x0, x1 = scaled
        q0, r0 = divmod(x0, den)
        q1, r1 = divmod(x1, den)
        left = target - q0 - q1
        if not left:
            return [q0, q1]
        if left == (r0 > 0) + (r1 > 0):
            return [q0 + (r0 > 0), q1 + (r1 > 0)]
        if left != 1 or not (r0 and r1):
            raise ValueError(f"target {target} is not reachable within one unit")
        if (r0, x0) == (r1, x1):
            first = (tie_break.key(parties[0], salt), parties[0]) < \
                (tie_break.key(parties[1], salt), parties[1])
        else:
            first = (r0, x0) > (r1, x1)
        return [q0 + 1, q1] if first else [q0, q1 + 1]
    got = [x // den for x in scaled]
    left = target - sum(got)
    if not left:
        return got
    keys: dict[int, tuple[Any, ...]] = {i: (-(x % den), -x) for i, x in enumerate(scaled)
                                        if x % den}
    if left == len(keys):
        for i in keys:
            got[i] += 1
        return got
    if not 0 < left < len(keys):
        raise ValueError(f"target {target} is not reachable within one unit")
    if len(set(keys.values())) < len(keys):  # a tie: the declared tie-break settles it
        for i in keys:
            keys[i] += (tie_break.key(parties[i], salt), parties[i])
    for i in sorted(keys, key=keys.__getitem__)[:left]:
        got[i] += 1
    return got


def _attribute(value: Any, typ: Type) -> Value:
    """A declared attribute as the plain path converts it; declines anything unusual."""
    if value is None:
        return None
    kind = type(value)
    if typ is Type.TEXT:
        if kind is str:
            return value  # type: ignore[no-any-return]
    elif typ is Type.NUMBER:
        if kind is str and _DECIMAL.fullmatch(value):
            return parse_decimal(value)
        if kind is int:
            return Decimal(value)
    elif typ is Type.BOOL:
        if kind is bool:
            return value  # type: ignore[no-any-return]
        if value in ("true", "false"):  # CSV cells
            return bool(value == "true")
    elif kind is str and len(value) == 10:
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise _Decline


_Attendees = list[tuple[str | None, int, int]]  # (category, spent units, how many)


class _ExpenseFast:
    """Entertainment expenses on a fast deal: read and borne in integer units, as
    ``PolicyEvaluator.share`` and ``bear`` do, with the sharing rule decided once per
    encoded expense."""

    def __init__(self, fast: FastPath) -> None:
        self.fast = fast
        self.policy = fast.ev.policy
        self.partners = fast.partners
        self.rules = {r.id: r for r in fast.rs.expense_rules}
        self.decided: dict[tuple[Any, ...], tuple[ExpenseRule, tuple[RuleVerdict, ...]]] = {}
        self.categories = self.policy.categories()
        self.caps: dict[tuple[int, str, str | None], int | str | None] = {}
        self.held: dict[int, PolicyDecision] = {}
        self.splits: dict[str, tuple[ExpenseRule, tuple[int, ...], int]] = {}
        self.order = sorted(range(len(self.partners)), key=self.partners.__getitem__)
        self.limits: dict[int, tuple[PolicyDecision, int | None, Decimal | None, str]] = {}
        self.payer: dict[tuple[str, str], PolicyDecision] = {}
        self.compiled: Compiled | None
        try:
            self.compiled = compile_conditions(
                {r.key: r.when for r in fast.rs.expense_rules if r.when is not None})
        except CompileError:
            self.compiled = None

    def share(self, plan: _PolicyPlan, stub: Deal, facts: Facts, raw: Any,
              credits: list[tuple[_TypePlan, list[Any], bool]]
              ) -> tuple[tuple[tuple[ExpenseShare, tuple[RuleVerdict, ...]], ...],
                         tuple[Facts, ...]]:
        """Each expense's share and its rule verdicts (not yet labelled with the expense),
        by expense id; and the facts each expense's conditions read."""
        if type(raw) is not list:
            raise _Decline
        if not raw:
            return (), ()
        decision = next((p for p in plan.policies if p.topic == ENTERTAINMENT), None)
        if decision is None or self.compiled is None:
            raise _Decline
        revenue = next((parts for tp, parts, _ in credits if not tp.declared), None)
        seen: set[str] = set()
        out = []
        for item in raw:
            (expense_id, kind, amount, units, paid_by, n, attendees, day,
             preapproved) = self._read(item)
            if expense_id in seen:
                raise _Decline
            seen.add(expense_id)
            efacts = self._facts(facts, expense_id, kind, amount, paid_by, n, attendees, day,
                                 preapproved)
            try:
                key = self.compiled.key(efacts)
            except TypeError:
                raise _Decline from None
            found = self.decided.get(key)
            if found is None:
                found = self._decide(efacts)
                if len(self.decided) >= CACHE_SIZE:
                    self.decided.clear()
                self.decided[key] = found
            rule, verdicts = found
            chosen = decision
            if decision.governs == "payer":
                chosen = self._payer(decision, paid_by)
            share = self._bear(stub, expense_id, kind, amount, units, paid_by, n, attendees,
                               preapproved, chosen, rule, revenue)
            out.append((share, verdicts, efacts))  # labelled with the expense when asked
        out.sort(key=lambda e: e[0].expense)
        return tuple((e[0], e[1]) for e in out), tuple(e[2] for e in out)

    def _read(self, item: Any) -> tuple[str, str, Decimal, int, str, int, _Attendees,
                                        dt.date | None, bool]:
        """An expense as the plain reader and ``PolicyEvaluator.check`` accept it."""
        if type(item) is not dict or not item.keys() <= _EXPENSE_KEYS:
            raise _Decline
        expense_id = _required(item.get("id"))
        kind = _required(item.get("kind"))
        paid_by = _required(item.get("paid_by"))
        if paid_by not in self.fast.partner_set:
            raise _Decline
        amount, units = self.fast.amounts.read(item.get("amount"))
        if units < 0:
            raise _Decline
        raw = item.get("attendees")
        attendees: dict[tuple[str | None, int], int] = {}
        if type(raw) is int:
            n = raw
            attendees[(None, 0)] = n
        else:
            n = 0
            for entry in _seq(raw):
                a = _obj(entry, _ATTENDEE_KEYS)
                _text(a.get("id"))
                category = _text(a.get("category"))
                if category is not None and category not in self.categories:
                    raise _Decline
                spent = a.get("spent_this_year")
                spent_units = 0 if spent is None else self.fast.amounts.read(spent)[1]
                if spent_units < 0:
                    raise _Decline  # refused: the plain path says why
                attendees[(category, spent_units)] = attendees.get((category, spent_units),
                                                                   0) + 1
                n += 1
        if not 1 <= n <= 10_000:
            raise _Decline
        raw_date = item.get("date")
        day = None if raw_date is None or raw_date == "" else \
            self.fast.dates.read(raw_date, in_agreement=False)[0]
        preapproved = _flag(item.get("preapproved"))
        return (expense_id, kind, amount, units, paid_by, n,
                [(c, s, m) for (c, s), m in attendees.items()], day, preapproved)

    @staticmethod
    def _facts(facts: Facts, expense_id: str, kind: str, amount: Decimal, paid_by: str,
               n: int, attendees: _Attendees, day: dt.date | None, preapproved: bool) -> Facts:
        """As ``expense_facts`` builds them (attendee order does not change a count)."""
        scalars: dict[Path, Value] = dict(facts.scalars)
        scalars.update({
            ("expense", "id"): expense_id, ("expense", "kind"): kind,
            ("expense", "amount"): amount, ("expense", "paid_by"): paid_by,
            ("expense", "attendees"): Decimal(n), ("expense", "date"): day,
            ("expense", "preapproved"): preapproved,
        })
        items: tuple[Mapping[Path, Value], ...] = tuple(
            {("category",): c} for c, _, m in attendees for _ in range(m))
        return Facts(scalars, {**facts.collections, "attendees": items})

    def _decide(self, efacts: Facts) -> tuple[ExpenseRule, tuple[RuleVerdict, ...]]:
        from creditrules._precedence import rule_verdicts

        policy = self.policy
        matched = policy.expense_matcher.match(efacts)
        rules = self.rules
        applicable = [r.id for r in rules.values() if r.when is None or r.key in matched]
        winners, beaten = policy.expense_precedence.resolve(applicable)
        if not winners:
            raise _Decline  # no rule for this expense: the plain path reports it
        chosen = [rules[w] for w in winners]
        first = chosen[0]
        if any((o.method, dict(o.shares), o.excess) != (first.method, dict(first.shares),
                                                         first.excess) for o in chosen[1:]):
            raise _Decline  # ambiguous: likewise
        verdicts = rule_verdicts(rules.values(), applicable, beaten, efacts, "", explain=False,
                                 version=self.fast.rs.version)
        return first, tuple(verdicts)

    def _payer(self, decision: PolicyDecision, payer: str) -> PolicyDecision:
        key = (decision.rule, payer)
        found = self.payer.get(key)
        if found is None:
            found = self.payer[key] = PolicyDecision(
                decision.topic, decision.rule, decision.clause, decision.governs, payer,
                self.policy.limits(ENTERTAINMENT, payer))
        return found

    def _cap(self, decision: PolicyDecision, kind: str, category: str | None) -> int | str | None:
        """The per-attendee cap in units, None (no cap) or "forbidden"."""
        key = (id(decision), kind, category)
        found = self.caps.get(key, _MISSING)
        if found is _MISSING or self.held.get(id(decision)) is not decision:
            if len(self.caps) >= CACHE_SIZE:
                self.caps.clear()
                self.held.clear()
            self.held[id(decision)] = decision  # held: its id is not reused meanwhile
            from creditrules._expenses import _attendee_cap

            limits = {lim.name: lim for lim in decision.limits}
            declared = _attendee_cap(limits, kind, category)
            if declared is None:
                found = None
            elif isinstance(declared, Decimal):
                found = self._units(declared)
            else:
                found = "forbidden"
            self.caps[key] = found
        return found  # type: ignore[return-value]

    def _units(self, value: Decimal) -> int:
        units = Fraction(value) / Fraction(self.fast.unit)
        if units.denominator != 1:
            raise _Decline  # not whole units: the plain path's fractions handle it
        return units.numerator

    def _limits(self, decision: PolicyDecision) -> tuple[int | None, Decimal | None, str]:
        """The annual cap per attendee in units, the pre-approval threshold, whose."""
        found = self.limits.get(id(decision))
        if found is None or found[0] is not decision:
            if len(self.limits) >= CACHE_SIZE:
                self.limits.clear()
            from creditrules._expenses import _whose

            limits = {lim.name: lim for lim in decision.limits}
            annual = limits.get("annual_cap_per_attendee")
            pre = limits.get("preapproval_above")
            found = (decision,
                     self._units(annual.value) if annual is not None
                     and isinstance(annual.value, Decimal) else None,
                     pre.value if pre is not None and isinstance(pre.value, Decimal) else None,
                     _whose(decision))
            self.limits[id(decision)] = found
        return found[1:]

    def _bear(self, deal: Deal, expense_id: str, kind: str, amount: Decimal, units: int,
              paid_by: str, n: int, attendees: _Attendees, preapproved: bool,
              decision: PolicyDecision, rule: ExpenseRule, revenue: list[Any] | None
              ) -> ExpenseShare:
        """``PolicyEvaluator.bear`` in integer units: the attendees' caps, the covered
        amount (rounded down), the excess, violations, and the parts to the cent."""
        fast = self.fast
        annual, pre, whose = self._limits(decision)
        covered_n = 0  # the covered amount times n: each attendee's part is units / n
        total_cap: int | None = 0
        forbidden_for = []
        for category, spent, many in attendees:
            cap = self._cap(decision, kind, category)
            if cap == "forbidden":
                forbidden_for.append(category or "any")
                continue
            assert not isinstance(cap, str)
            if annual is not None:
                room = max(annual - spent, 0)
                cap = room if cap is None else min(cap, room)
            if cap is None:
                total_cap = None
                covered_n += many * units
            else:
                if total_cap is not None:
                    total_cap += many * cap
                covered_n += many * min(units, cap * n)
        violations = []
        if forbidden_for:
            who = ", ".join(sorted(set(forbidden_for)))
            violations.append(f"kind {kind!r} is not allowed for {who} attendees under "
                              f"{whose}")
            covered_n = 0
            total_cap = 0
        covered = covered_n // n
        excess = units - covered
        if pre is not None and amount > pre and not preapproved:
            violations.append(f"needs pre-approval above {pre} under {whose}, and none "
                              "is recorded")
        partners = self.partners
        method = rule.method
        if method == "split":
            found = self.splits.get(rule.id)
            if found is None or found[0] is not rule:
                found = self.splits[rule.id] = (
                    rule, *_common([rule.shares.get(p, Fraction(0)) for p in partners]))
            _, nums, den = found
        elif method == "equal":
            nums, den = (1,) * len(partners), len(partners)
        elif method == "payer":
            nums, den = tuple(int(p == paid_by) for p in partners), 1
        else:
            if revenue is None or deal.amount <= 0:
                raise _Decline  # the plain path explains why it cannot share by credit
            got = {pid: (num, d) for pid, num, d, _, _ in revenue}
            den_r = revenue[0][2]
            nums = tuple(got[p][0] if p in got else 0 for p in partners)
            den = sum(nums)
            if den <= 0 or any(d != den_r for _, d in got.values()):
                raise _Decline
        target, rest = divmod(covered * sum(nums), den)
        if rest and (2 * rest > den or (2 * rest == den and target % 2)):
            target += 1
        parts_units = _round([covered * x for x in nums], den, target, partners,
                             fast.tie_break, f"{deal.id}\x1f{expense_id}")
        decimal = fast.decimal
        parts = () if forbidden_for else tuple(
            ExpensePart(partners[i], fast.fraction(nums[i], den), decimal(parts_units[i]))
            for i in self.order if nums[i] or parts_units[i])
        bearer = paid_by if forbidden_for or rule.excess in ("payer", "disallowed") \
            else rule.excess
        return ExpenseShare(
            expense=expense_id, kind=kind, amount=amount, paid_by=paid_by, attendees=n,
            policy=decision, cap=None if total_cap is None else decimal(total_cap),
            covered=decimal(covered), excess=decimal(excess),
            excess_bearer=bearer,
            disallowed=bool(forbidden_for) or (rule.excess == "disallowed" and excess > 0),
            rule=rule.id, clause=rule.clause, method=method, parts=parts,
            violations=tuple(violations))
