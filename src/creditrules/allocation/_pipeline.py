"""The one allocation path: a deal (a record or a :class:`Deal`) to its computed credit.

Every deal takes it, whether ``Ruleset.allocate`` asked for one or a batch for millions:

1. **Read and check, once.** A record of the usual shape is read directly
   (:mod:`~creditrules.allocation._reading`); anything else is read by
   :meth:`Deal.from_mapping` and checked by ``Evaluator.check``
   (:mod:`~creditrules.allocation._deal_objects`), which raise the located errors. Nothing
   is decided before the whole deal, expenses included, is read.
2. **Encode.** Whether a condition holds depends only on the values it reads, and
   :mod:`creditrules.engine._compile` encodes exactly that: each value as its rank among
   the literals it is compared with, each count as a number.
3. **Decide, once per distinct input.** Each group of conditions reading the same features
   is matched by the engine once per distinct combination of their encoded values and
   looked up afterwards. A credit type's decision (verdicts, winning rules) depends only on
   which of its conditions hold and on the rules in force (where the date falls among the
   effective-date boundaries); a policy topic's on its conditions, the account owner, the
   lead source and whether the deal has expenses
   (:mod:`~creditrules.allocation._decisions`). A decision that is an error (no rule, two
   disagreeing) is raised for the deal, never cached.
4. **Work out the numbers** in integers (:mod:`~creditrules.allocation._numbers`,
   :mod:`~creditrules.allocation._expense_sharing`): contribution points, the largest
   remainder at partner then rep level, expense caps and shares.
5. **Write**: ledger rows, or an :class:`Allocation` whose verdicts, reasons and workings
   are derived from the decision and the deal only when read.

``tests/test_one_path.py`` compares it with a plain statement of the same semantics
(``tests/oracle.py``: Fractions, the reference evaluator, nothing cached) on generated
deals, on both engines.
"""

from __future__ import annotations

import bisect
import datetime as dt
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from creditrules.agreement.policy import ENTERTAINMENT
from creditrules.agreement.ruleset import Contribution, CreditRule, CreditType, Overlay, Split
from creditrules.allocation._deal_objects import DealObjects
from creditrules.allocation._decisions import (
    NO_POLICY,
    ComputedDeal,
    PolicyPlan,
    TypePlan,
    ambiguity,
    fixed_shares,
    integer_weights,
    same_fixed_shares,
)
from creditrules.allocation._expense_sharing import ExpenseReading, ExpenseSharing
from creditrules.allocation._numbers import Numbers
from creditrules.allocation._outcomes import LEAD_KIND
from creditrules.allocation._reading import (
    ACCOUNT_KEYS,
    ACTIVITY_KEYS,
    CACHE_SIZE,
    DEAL_KEYS,
    FLAG_TYPES,
    LEAD_KEYS,
    MISSING,
    NO_ACCOUNT,
    PLAIN_ATTRIBUTE,
    TEXT_TYPES,
    Amounts,
    BoundedCache,
    Dates,
    Decline,
    absent,
    flag,
    list_of,
    mapping_of,
    opt_text,
    read_attribute,
    req_text,
)
from creditrules.allocation.model import Account, Deal, Lead
from creditrules.allocation.results import ExpenseShare, RuleVerdict
from creditrules.base._money import TieBreak
from creditrules.conditions._ast import Expr, Facts, Field, Path, Value
from creditrules.conditions._conditions import evaluate
from creditrules.engine._compile import Compiled, CompileError, compile_conditions
from creditrules.errors import DealError, NoApplicableRuleError

if TYPE_CHECKING:
    from creditrules.agreement.ruleset import Ruleset
    from creditrules.allocation._evaluate import Evaluator
    from creditrules.allocation._precedence import Precedence

__all__ = ["CACHE_SIZE", "ComputedDeal", "Pipeline"]


Read = Callable[[tuple[Any, ...]], Any]
#: A rep as read: (id, partner, owner, its item as conditions see it, its count hits).
RepReading = tuple[str, str, bool, Mapping[Path, Value], tuple[int, ...]]
#: An activity as read: (kind, reps, partner, date).
ActivityReading = tuple[str, tuple[str, ...], str | None, dt.date | None]
#: A deal's people: reps by partner, deal owners, participations, activity items and hits,
#: rep items and hits.
People = tuple[dict[str, list[str]], set[str], list[tuple[str, frozenset[str], tuple[str, ...]]],
               list[Mapping[Path, Value]], list[tuple[int, ...]], list[Mapping[Path, Value]],
               list[tuple[int, ...]]]


class Pipeline(Numbers):
    """Fast credit for one ruleset (see the module docstring). Not thread safe."""

    def __init__(self, ruleset: Ruleset) -> None:
        evaluator = ruleset._evaluator
        assert evaluator is not None
        self.rs = ruleset
        self.ev: Evaluator = evaluator
        self.partners = ruleset.partner_ids
        self.partner_set = frozenset(self.partners)
        #: {partner}, one object per partner (the participants of most activities).
        self.alone = {p: frozenset((p,)) for p in self.partners}
        self.index = {p: i for i, p in enumerate(self.partners)}
        self.attributes = dict(evaluator.attributes)
        self.tie_break: TieBreak = ruleset.tie_break
        self.amounts = Amounts(ruleset.unit)
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
        self.dates = Dates(bounds, ruleset.effective.contains)
        ref = evaluator.ref
        self.tail = (ref.id, ref.version, ref.hash)
        self.texts: BoundedCache[tuple[int, int], str] = BoundedCache()
        self.fractions: BoundedCache[tuple[int, int], Fraction] = BoundedCache()
        self.acts: BoundedCache[Any, ActivityReading] = BoundedCache()
        self.items: BoundedCache[Any, tuple[Mapping[Path, Value], tuple[int, ...]]] = (
            BoundedCache())
        self.reps: BoundedCache[Any, RepReading] = BoundedCache()
        self.attr_values: BoundedCache[tuple[str, Any, type], Value] = BoundedCache()
        self.no_attributes: dict[Path, Value] = {
            ("attributes", name): None for name in self.attributes}
        self._contributions: dict[int, tuple[dict[str, tuple[int, ...]], dict[str, int]]] = {}
        self.type_plans: BoundedCache[tuple[Any, ...], TypePlan] = BoundedCache()
        self.in_force: dict[tuple[int, str], tuple[list[CreditRule], Precedence,
                                                   list[CreditRule], dict[str, CreditRule]]] = {}
        self.plan_numbers: BoundedCache[tuple[str, ...], TypePlan] = BoundedCache()
        self.policy_plans: BoundedCache[tuple[Any, ...], PolicyPlan] = BoundedCache()
        self.out_of_force: dict[int, tuple[RuleVerdict, ...]] = {}
        self.verdicts: BoundedCache[tuple[Any, ...], tuple[RuleVerdict, ...]] = BoundedCache()
        self.shared: BoundedCache[tuple[str, str, tuple[str, ...]], RuleVerdict] = BoundedCache()
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
        except CompileError:  # beyond what can be encoded: each deal is matched afresh
            self.compiled = None
        self.expense = ExpenseSharing(self)
        self.objects = DealObjects(self)
        # Conditions grouped by credit type (or policy) and by the features they read: a
        # condition's outcome depends only on those features' encoded values, a far smaller
        # space than the whole deal.
        self.groups: list[tuple[Read, frozenset[str], BoundedCache[Any, frozenset[str]]]] = []
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
        both = (self.compiled, self.expense.compiled)
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
        # The key is snapped as Compiled.key snaps it (laid out as _encode lays it out), so
        # deals the conditions cannot tell apart share one cache entry.
        self.snap = (
            self.compiled.snap.moved(place) if self.compiled is not None and self.ops is not None
            else None)
        if self.compiled is not None:
            for (owner, reads), names in group_reads:
                self.owned[owner].append(len(self.groups))
                if self.ops is not None:
                    reads = tuple(place[r] for r in reads)
                read = operator.itemgetter(*reads) if reads else _nothing
                self.groups.append((read, frozenset(names), BoundedCache()))
        else:
            # Beyond what can be encoded: one group per credit type (and the policies),
            # matched afresh for each deal.
            for owner_name in sorted(self.owned):
                owned = tuple(sorted(n for n in conditions if owner_of[n] == owner_name))
                self.owned[owner_name].append(len(self.groups))
                self.groups.append((_nothing, frozenset(owned), BoundedCache()))
        self.credit_types = tuple((t, tuple(self.owned[t.name])) for t in ruleset.credit_types)
        self.policy_groups = tuple(self.owned["policy"])

    def contribution_ints(self, contribution: Contribution
                          ) -> tuple[dict[str, tuple[int, ...]], dict[str, int]]:
        found = self._contributions.get(id(contribution))
        if found is None:
            found = self._contributions[id(contribution)] = integer_weights(
                contribution, self.partners)
        return found

    # -- one record -------------------------------------------------------------------------
    def compute(self, data: Any) -> ComputedDeal:
        """The deal's decisions and numbers, or the error the agreement gives for it.

        A record of the usual shape is read directly; anything else (a value to convert, a
        mistake to report, a :class:`Deal` built in Python) is read by
        :meth:`Deal.from_mapping` and checked by :meth:`Evaluator.check`, which raise the
        located :class:`~creditrules.errors.DealError`. Either way the deal is read and
        checked once, before anything is decided.
        """
        if type(data) is not Deal:
            try:
                return self._compute(data)
            except Decline:
                if not isinstance(data, Deal):
                    if not isinstance(data, Mapping):
                        raise DealError(f"a deal must be a JSON object, got "
                                        f"{type(data).__name__}", code="bad-record") from None
                    data = Deal.from_mapping(data)
        return self.checked(data)

    def checked(self, deal: Deal, *, credit: bool = True) -> ComputedDeal:
        """A :class:`Deal` object's decisions and numbers, after :meth:`Evaluator.check`
        (``credit=False``: its expenses only, for an expense shared without a sale)."""
        self.ev.check(deal)
        try:
            return self.objects.compute(deal, credit=credit)
        except Decline:
            # What the checks leave to the object reader: the types of the values a deal
            # built in Python holds (a reader never makes the wrong ones).
            raise DealError("a value of the wrong type (see the Deal, Rep, Activity and "
                            "Expense classes for each field's type)", deal_id=deal.id,
                            code="bad-field") from None

    def _activity(self, item: Any) -> tuple[str, tuple[str, ...], str | None, dt.date | None]:
        """An activity as (kind, reps, partner, date), as the deal reader reads it; cached
        by content, since activities repeat across deals."""
        if type(item) is not dict:
            raise Decline
        get = item.get
        if len(item) == 2:
            # The usual {"kind", "rep"}: straight to the cache, under the key the general
            # reading below gives it (both texts, nothing else in the record).
            kind, one = get("kind"), get("rep")
            if type(kind) is str and type(one) is str:
                found = self.acts.get((kind, one, None, None, None))
                if found is not None:
                    return found
        if not item.keys() <= ACTIVITY_KEYS:
            raise Decline
        kind, one, many, who, raw_date = (get("kind"), get("rep"), get("reps"),
                                          get("partner"), get("date"))
        # Only text (a str, not a subclass such as JsonFloat) is cached: anything else the
        # deal reader would convert or refuse, and equal keys must mean equal records.
        if (type(kind) is not str or type(one) not in TEXT_TYPES
                or type(who) not in TEXT_TYPES or type(raw_date) not in TEXT_TYPES):
            raise Decline
        if many is not None:
            if type(many) is not list or any(type(r) is not str for r in many):
                raise Decline
            many = tuple(many)
        key = (kind, one, many, who, raw_date)
        found = self.acts.get(key)
        if found is not None:
            return found
        req_text(kind)
        if kind == LEAD_KIND:
            raise Decline
        one, many = item.get("rep"), item.get("reps")
        if one is not None:
            if many is not None:
                raise Decline
            reps: tuple[str, ...] = (req_text(one),)
        else:
            reps = tuple(req_text(r) for r in many or ())
        who = opt_text(item.get("partner"))
        if who is not None and who not in self.partner_set:
            raise Decline
        if not reps and who is None:
            raise Decline
        raw_date = item.get("date")
        day = None if absent(raw_date) else \
            self.dates.read(raw_date, in_agreement=False)[0]
        found = (kind, reps, who, day)
        self.acts.put(key, found)
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
            self.items.put(key, found)
        return found

    def _rep(self, item: Any) -> tuple[str, str, bool, Mapping[Path, Value], tuple[int, ...]]:
        """A rep as (id, partner, owner), its item as conditions see it and its counts."""
        if type(item) is not dict:
            raise Decline
        rid, partner, owner = item.get("id"), item.get("partner"), item.get("owner")
        # Text and flags only (what the deal reader would convert declines), and no other
        # key: then the three values are the whole record and a sound cache key.
        if (type(rid) is not str or type(partner) is not str
                or type(owner) not in FLAG_TYPES or len(item) != 2 + ("owner" in item)):
            raise Decline
        return self.reps.get((rid, partner, owner)) or self._rep_view(rid, partner, owner)

    def _rep_view(self, rid: str, partner: str, owner: bool | None
                  ) -> tuple[str, str, bool, Mapping[Path, Value], tuple[int, ...]]:
        key = (rid, partner, owner)
        found = self.reps.get(key)
        if found is None:
            req_text(rid)
            if partner not in self.partner_set:
                raise Decline
            is_owner = flag(owner)
            view: Mapping[Path, Value] = {("id",): rid, ("partner",): partner,
                                          ("owner",): is_owner}
            found = (rid, partner, is_owner, view, self._hits(view, self.rep_counts))
            self.reps.put(key, found)
        return found

    @staticmethod
    def _hits(item: Mapping[Path, Value], predicates: Sequence[Expr | None]
              ) -> tuple[int, ...]:
        return tuple(1 if where is None or evaluate(where, Facts(item, {})) else 0
                     for where in predicates)

    def _scalar(self, name: str, value: Any) -> Value:
        """A declared attribute converted as the deal reader does (cached: values repeat)."""
        key = (name, value, type(value))  # 1, True and "1" are different inputs
        try:
            found = self.attr_values.get(key, MISSING)
        except TypeError:  # unhashable: a list or an object
            raise Decline from None
        if found is MISSING:
            found = read_attribute(value, self.attributes[name])
            self.attr_values.put(key, found)
        return found  # type: ignore[return-value]

    def _compute(self, data: Any) -> ComputedDeal:
        if type(data) is not dict or not data.keys() <= DEAL_KEYS:
            raise Decline
        deal_id = data.get("id")
        if type(deal_id) is not str or not deal_id:
            raise Decline
        currency = self.rs.currency
        if data.get("currency") != currency:
            raise Decline
        day, segment = self.dates.read(data.get("date"), in_agreement=True)
        amount, units = self.amounts.read(data.get("amount"))
        account = self._account(data.get("account"))
        owner = account[1]
        lead = self._lead(data.get("lead"))
        source, lead_rep = lead
        people = self._people(map(self._rep, list_of(data.get("reps"))),
                              map(self._activity, list_of(data.get("activities"))),
                              source, lead_rep)
        scalars: dict[Path, Value] = {
            ("id",): deal_id, ("date",): day, ("amount",): amount,
            ("currency",): currency, ("product",): opt_text(data.get("product")),
            ("account", "id"): account[0], ("account", "owner"): owner,
            ("account", "named"): account[2], ("account", "segment"): account[3],
            ("account", "territory"): account[4],
            ("lead", "source"): source, ("lead", "rep"): lead_rep,
        }
        scalars.update(self.no_attributes)  # declared attributes not given are missing
        attributes = data.get("attributes")
        if attributes is not None:
            if type(attributes) is not dict:
                raise Decline
            declared = self.attributes
            for name, value in attributes.items():
                if name in declared:
                    scalars[("attributes", name)] = self._scalar(name, value)
                elif type(value) not in PLAIN_ATTRIBUTE:
                    raise Decline  # the deal reader converts or refuses it
        raw_expenses = data.get("expenses")
        if raw_expenses is not None and type(raw_expenses) is not list:
            raise Decline
        read = self.expense.read
        expenses = [read(item) for item in raw_expenses] if raw_expenses else []
        if expenses and len({e[0] for e in expenses}) != len(expenses):
            raise Decline  # an expense listed twice: the reader names it
        return self._finish(deal_id, day, segment, amount, units, owner, source, lead_rep,
                            scalars, people, expenses)

    def _people(self, reps: Iterable[RepReading], activities: Iterable[ActivityReading],
                source: str | None, lead_rep: str | None) -> People:
        """The reps and participations of a deal, however its reps and activities were
        read: by partner, owners, participations (the lead last, as _outcomes builds them),
        and the items (with their count hits) conditions see."""
        rep_partner: dict[str, str] = {}
        by_partner: dict[str, list[str]] = {}
        owners: set[str] = set()
        rep_items: list[Mapping[Path, Value]] = []
        rep_hits: list[tuple[int, ...]] = []
        for rid, partner, is_owner, view, hits in reps:
            if rid in rep_partner:
                raise Decline  # a repeated rep: the deal reader says so
            rep_partner[rid] = partner
            by_partner.setdefault(partner, []).append(rid)
            if is_owner:
                owners.add(rid)
            rep_items.append(view)
            rep_hits.append(hits)
        if lead_rep in rep_partner and source is not None and rep_partner[lead_rep] != source:
            raise Decline
        acts: list[tuple[str, frozenset[str], tuple[str, ...]]] = []
        act_items: list[Mapping[Path, Value]] = []
        act_hits: list[tuple[int, ...]] = []
        need_acts = self.need_acts
        alone = self.alone
        items = self.items
        for kind, act_reps, who, act_day in activities:
            try:
                if who is None and len(act_reps) == 1:
                    # The usual activity, one rep: a shared set (its hash kept) per partner.
                    partner = rep_partner[act_reps[0]]
                    partners = alone.get(partner) or frozenset((partner,))
                else:
                    partners = frozenset([rep_partner[r] for r in act_reps]
                                         + ([who] if who else []))
            except KeyError:
                raise Decline from None  # a rep not on the deal
            acts.append((kind, partners, act_reps))
            if need_acts:
                found = items.get((kind, partners, act_reps, act_day))
                if found is None:
                    found = self._act_item(kind, partners, act_reps, act_day)
                act_items.append(found[0])
                act_hits.append(found[1])
        if source is not None:
            acts.append((LEAD_KIND, frozenset((source,)),
                         (lead_rep,) if lead_rep in rep_partner else ()))
        return by_partner, owners, acts, act_items, act_hits, rep_items, rep_hits

    def _finish(self, deal_id: str, day: dt.date, segment: int, amount: Decimal, units: int,
                owner: str | None, source: str | None, lead_rep: str | None,
                scalars: dict[Path, Value], people: People, expenses_read: list[ExpenseReading],
                *, credit: bool = True) -> ComputedDeal:
        """The decisions and numbers of a deal, however it was read (and wholly read: what
        is decided here raises the agreement's own errors, never a reading one)."""
        by_partner, owners, acts, act_items, act_hits, rep_items, rep_hits = people
        facts = Facts(scalars, {"activities": tuple(act_items), "reps": tuple(rep_items)})
        encoded = self._encode(scalars, act_hits, rep_hits, facts) if self.compiled else None
        matched = self._matched(encoded, facts)
        has_expenses = bool(expenses_read)
        types = []
        credits: list[tuple[TypePlan, list[Any], bool]] = []
        for ctype, groups in self.credit_types if credit else ():
            key = (ctype.name, segment, *[matched[g] for g in groups])
            tp = self.type_plans.get(key)
            if tp is None:
                tp = self._type_plan(ctype, key, day, deal_id)
            types.append(tp)
            if tp.active:
                credits.append((tp, *self._credit(tp, deal_id, units, acts, by_partner,
                                                  owners)))
        policy = NO_POLICY
        if self.policy_on:
            key = (owner, source, has_expenses, *[matched[g] for g in self.policy_groups])
            found = self.policy_plans.get(key)
            if found is None:
                found = self._policy_plan(key, deal_id, facts)
            policy = found
        expenses: tuple[tuple[ExpenseShare, tuple[RuleVerdict, ...]], ...] = ()
        expense_facts: tuple[Facts, ...] = ()
        if expenses_read:
            # A stand-in deal for the sharing code: what it reads of the deal (the id for the
            # rounding salt, the amount's sign, the owner and lead source for policies).
            stub = Deal(deal_id, day, amount, self.rs.currency, account=Account(owner=owner),
                        lead=Lead(source=source, rep=lead_rep))
            expenses, expense_facts = self.expense.share(policy, stub, facts, expenses_read,
                                                         credits, standalone=not credit)
        return ComputedDeal(deal_id, day, units, segment, tuple(types), policy, credits, expenses,
                        facts, expense_facts, acts)

    def _account(self, value: Any) -> tuple[str | None, str | None, bool, str | None,
                                            str | None]:
        """(id, owner, named, segment, territory). Not cached: account ids make nearly
        every account distinct."""
        if value is None:
            return NO_ACCOUNT
        if type(value) is not dict or not value.keys() <= ACCOUNT_KEYS:
            raise Decline
        owner = opt_text(value.get("owner"))
        if owner is not None and owner not in self.partner_set:
            raise Decline
        return (opt_text(value.get("id")), owner, flag(value.get("named")),
                opt_text(value.get("segment")), opt_text(value.get("territory")))

    def _lead(self, value: Any) -> tuple[str | None, str | None]:
        """(source, rep)."""
        if value is None:
            return (None, None)
        lead = mapping_of(value, LEAD_KEYS)
        source = opt_text(lead.get("source"))
        if source is not None and source not in self.partner_set:
            raise Decline
        return source, opt_text(lead.get("rep"))

    def _encode(self, scalars: Mapping[Path, Value], act_hits: list[tuple[int, ...]],
                rep_hits: list[tuple[int, ...]], facts: Facts) -> tuple[Any, ...] | None:
        """The encoded deal (the values of ``Compiled.key``, index features first), read
        directly: an index or a rank per feature, counts summed from each item's cached
        hits, then snapped to the cells the conditions tell apart (``KeySnap``). None when
        the deal cannot be encoded: it is then matched afresh."""
        if self.ops is None:
            assert self.compiled is not None
            try:
                return self.compiled.key(facts)
            except TypeError:
                return None
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
        assert self.snap is not None
        return self.snap(tuple(out))

    def _matched(self, encoded: tuple[Any, ...] | None, facts: Facts
                 ) -> list[frozenset[str]]:
        """Per group of conditions, those that hold: looked up by the encoded values of the
        features the group reads, and matched by the engine only when new."""
        if encoded is None:
            ev = self.ev
            matched = ev.matcher.match(facts) | ev.policy.policy_matcher.match(facts)
            return [frozenset(n for n in names if n in matched) for _, names, _ in self.groups]
        found_all = [cache.get(read(encoded)) for read, _, cache in self.groups]
        if None not in found_all:
            return found_all  # type: ignore[return-value]
        ev = self.ev
        matched = ev.matcher.match(facts) | ev.policy.policy_matcher.match(facts)
        out = []
        for read, names, cache in self.groups:
            found = matched & names  # walks the smaller set: few hold among thousands
            found = self.sets.setdefault(found, found)  # one object per distinct set
            cache.put(read(encoded), found)
            out.append(found)
        return out

    def _type_plan(self, ctype: CreditType, key: tuple[Any, ...], day: dt.date,
                   deal_id: str) -> TypePlan:
        """A credit type's decision (the key holds the matching conditions; ``day`` stands
        for its rules in force): cached, or the agreement's error for this deal (an error
        is not cached: it is rare, and names the deal)."""
        matched: set[str] = set()
        for names in key[2:]:
            matched |= names
        segment = key[1]
        found = self.in_force.get((segment, ctype.name))
        if found is None:
            # The same for every day of the segment: worked out once per segment and type,
            # with the conditional rules by condition key (a deal's matching conditions are
            # few; the rules of a large agreement are thousands).
            in_force = [r for r in self.rs.rules if r.effective.contains(day)]
            of_type = [r for r in in_force if r.type == ctype.name]
            found = self.in_force[(segment, ctype.name)] = (
                of_type, self.ev.precedence(in_force, day),
                [r for r in of_type if r.when is None],
                {r.key: r for r in of_type if r.when is not None})
        rules, precedence, always, by_key = found
        applicable = {r.id: r for r in always}
        for name in matched:
            rule = by_key.get(name)
            if rule is not None:
                applicable[rule.id] = rule
        winners, beaten = precedence.resolve(applicable)

        def verdicts() -> tuple[RuleVerdict, ...]:
            return tuple(
                self._verdict(rule, "overridden", tuple(beaten[rule.id])) if rule.id in beaten
                else self._verdict(rule, "not-matched" if rule.id not in applicable
                                   else "applied", ())
                for rule in rules)

        chosen = [applicable[w] for w in winners]
        if not chosen and ctype.required:
            raise NoApplicableRuleError(
                f"no {ctype.name} credit rule applies and the ruleset declares no default",
                deal_id=deal_id)
        if len(chosen) > 1 and all(isinstance(r.outcome, Split | Overlay) for r in chosen):
            # Several winners with fixed shares: they agree, or every such deal is ambiguous.
            for other in chosen[1:]:
                if not same_fixed_shares(chosen[0].outcome, other.outcome, self.partners):
                    raise ambiguity(ctype, chosen[0], other, fixed_shares(chosen[0]),
                                    fixed_shares(other), deal_id)
        # The numbers depend on the winners only: many keys share them.
        numbers = (ctype.name, *(r.key for r in chosen))
        template = self.plan_numbers.get(numbers)
        if template is None:
            template = self.plan_numbers.put(numbers, TypePlan(self, ctype, chosen, tuple))
        plan = template.with_verdicts(verdicts)
        self.type_plans.put(key, plan)
        return plan

    def _verdict(self, rule: CreditRule, status: str, by: tuple[str, ...]) -> RuleVerdict:
        """One verdict object per rule, status and winners, shared by every plan."""
        key = (rule.key, status, by)
        found = self.shared.get(key)
        if found is None:
            found = self.shared.put(key, self.ev.verdict(rule, status, by=by))
        return found

    def _policy_plan(self, key: tuple[Any, ...], deal_id: str, facts: Facts) -> PolicyPlan:
        """The policy decisions for the key, by the evaluator's own policy code (it reads
        the deal's account owner and lead source, both in the key); an error (no rule, two
        disagreeing) is raised for this deal and not cached."""
        owner, source, has_expenses = key[:3]
        deal = Deal(deal_id, facts.scalars[("date",)], Decimal(0),  # type: ignore[arg-type]
                    self.rs.currency, account=Account(owner=owner), lead=Lead(source=source))
        policies, verdicts = self.ev.policy.decisions(
            deal, facts, explain=False, needed={ENTERTAINMENT} if has_expenses else set())
        return self.policy_plans.put(key, PolicyPlan(tuple(policies), tuple(verdicts)))


def _nothing(encoded: tuple[Any, ...]) -> tuple[()]:
    return ()
