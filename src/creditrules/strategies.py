"""Hypothesis strategies for deals, derived from a ruleset.

The deals are JSON-shaped mappings, exactly what :meth:`creditrules.Ruleset.allocate` reads,
built from the ruleset itself: its partners, the values its conditions compare against
(thresholds one below, at and one above; names; activity kinds; dates; counts inside
``count(...)``), its declared attributes by type, activities with the kinds it weighs, reps
per partner with owner flags, amounts from one currency unit to very large and negative
(credit notes), dates inside and outside its rules' windows but inside the agreement, and
entertainment expenses when it declares policies. Use them to write your own properties::

    from hypothesis import given
    import creditrules
    from creditrules.strategies import deals

    ruleset = creditrules.load("rulesets/cardiozen.yaml")

    @given(deals(ruleset))
    def test_revenue_is_fully_credited(deal):
        allocation = ruleset.allocate(deal)
        assert allocation.credit("revenue").amount == allocation.amount

Every strategy shrinks towards the simplest deal: the agreement's first day, one currency
unit, no account, lead, reps, activities, attributes or expenses; so a failing example is
reported in its smallest form.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import Any

import attrs
from hypothesis import strategies as st

from creditrules import _conditions
from creditrules._ast import Count, Expr, Literal, Path, Type, Value
from creditrules._outcomes import LEAD_KIND
from creditrules.ruleset import ByContribution, Ruleset

__all__ = [
    "Block",
    "DealSpace",
    "Literals",
    "NullParty",
    "OneMore",
    "Target",
    "Twins",
    "activities",
    "amounts",
    "dates",
    "deals",
    "equal_contributions",
    "expenses",
    "literals",
    "null_parties",
    "one_more_activity",
    "space",
    "targets",
]

Deal = dict[str, Any]

# Amounts in currency units tried besides the ruleset's own thresholds: the smallest, odd
# ones that do not split evenly, round ones, and very large ones.
_UNITS = (1, 2, 3, 7, 10, 99, 100, 101, 12_345, 1_000_001, 123_456_789_012, 10**15 - 1)
_MAX_UNITS = 10**15
_DEAL_ID = "X-1"
_MAX_REPS = 3
_MAX_BLOCKS = 5
_MAX_EXPENSES = 3
# A count threshold above this is reached with one block repeated, never beyond it.
_MAX_REPEAT = 50


def _key(value: Value) -> tuple[str, str]:
    return (type(value).__name__, str(value))


@attrs.frozen
class Literals:
    """The values a ruleset's conditions compare against, with their neighbours.

    ``values``: deal fields (``("account", "segment")``, ``("amount",)``,
    ``("attributes", "arr")``, ``("expense", "kind")``...) to the values worth trying: each
    literal, and for numbers and dates the values one below and one above it.
    ``items``: the same for the item fields of a collection inside ``count(...)``, keyed by
    ``(collection, path)`` (``("activities", ("kind",))``). ``counts``: per collection, the
    item counts worth reaching (each threshold, one below and one above).
    """

    values: Mapping[Path, tuple[Value, ...]]
    items: Mapping[tuple[str, Path], tuple[Value, ...]]
    counts: Mapping[str, tuple[int, ...]]

    def of(self, path: Path) -> tuple[Value, ...]:
        """The literals compared with a deal field (``()`` when none)."""
        return self.values.get(path, ())

    def item(self, collection: str, path: Path) -> tuple[Value, ...]:
        """The literals compared with an item field inside ``count(collection, ...)``."""
        return self.items.get((collection, path), ())


def _conditions_of(ruleset: Ruleset) -> list[Expr]:
    exprs: list[Expr] = [r.when for r in ruleset.rules if r.when is not None]
    # Policy precedence and expense sharing rules (when the ruleset declares them).
    for name in ("policy_rules", "expense_rules"):
        for rule in getattr(ruleset, name, ()):
            when = getattr(rule, "when", None)
            if when is not None:
                exprs.append(when)
    return exprs


def _neighbours(value: Value, typ: Type, unit: Decimal | None) -> list[Value]:
    if typ is Type.NUMBER and isinstance(value, Decimal):
        near = [value - 1, value, value + 1]
        if unit is not None:
            near += [value - unit, value + unit]
        return list(near)
    if typ is Type.DATE and isinstance(value, dt.date):
        out: list[Value] = [value]
        for step in (-1, 1):
            with contextlib.suppress(OverflowError):
                out.append(value + dt.timedelta(days=step))
        return out
    return [value]


def literals(ruleset: Ruleset) -> Literals:
    """Mine the ruleset's conditions for the values worth generating (see :class:`Literals`).

    Walks every condition with :func:`creditrules._conditions.comparisons`, entering the
    predicates of ``count(...)``; a number compared with ``amount`` also gets its neighbours
    one currency unit away.
    """
    values: dict[Path, dict[tuple[str, str], Value]] = {}
    items: dict[tuple[str, Path], dict[tuple[str, str], Value]] = {}
    counts: dict[str, set[int]] = {}

    def walk(expr: Expr, collection: str | None) -> None:
        for left, _op, right in _conditions.comparisons(expr):
            for side in (left, right):
                if isinstance(side, Count) and side.where is not None:
                    walk(side.where, side.collection)
            if not isinstance(right, Literal):
                continue
            if isinstance(left, Count):
                if isinstance(right.value, Decimal):
                    n = int(right.value)
                    counts.setdefault(left.collection, set()).update(
                        k for k in (n - 1, n, n + 1, n + 2) if k >= 0)
                continue
            money = left.path in (("amount",), ("expense", "amount"))
            found = _neighbours(right.value, left.type, ruleset.unit if money else None)
            target = (values.setdefault(left.path, {}) if collection is None
                      else items.setdefault((collection, left.path), {}))
            for value in found:
                target.setdefault(_key(value), value)

    for expr in _conditions_of(ruleset):
        walk(expr, None)
    return Literals(
        values={p: tuple(v.values()) for p, v in sorted(values.items())},
        items={k: tuple(v.values()) for k, v in sorted(items.items())},
        counts={c: tuple(sorted(n)) for c, n in sorted(counts.items())},
    )


def _fresh(taken: Iterable[Value], base: str = "other") -> str:
    """A text value none of the conditions names (to fail every ``==``)."""
    names = {v for v in taken if isinstance(v, str)}
    candidate, n = base, 1
    while candidate in names:
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def _texts(values: Sequence[Value]) -> list[str]:
    return [v for v in values if isinstance(v, str)]


@attrs.frozen
class Target:
    """One way to satisfy a rule's condition, so that generated deals reach the rule and
    not only the defaults: deal field values, items to add to a collection (``(collection,
    item field values, how many)``) and a day inside the rule's window."""

    rule: str
    values: Mapping[Path, Value]
    counts: tuple[tuple[str, Mapping[Path, Value], int], ...] = ()
    day: dt.date | None = None
    # The deal needs an expense to reach the rule (a rule of the entertainment policy).
    expense: bool = False


_Witness = tuple[dict[Path, Value], list[tuple[str, Mapping[Path, Value], int]]]
_FLIP = {"==": "!=", "!=": "==", "<": ">=", ">=": "<", ">": "<=", "<=": ">"}
_MAX_WITNESSES = 8


def _differ(value: Value) -> Value:
    if isinstance(value, bool):
        return not value
    if isinstance(value, Decimal):
        return value + 1
    if isinstance(value, dt.date):
        return value + dt.timedelta(days=1)
    return _fresh([value])


def _satisfy(op: str, value: Value, step: Decimal) -> Value:
    if op in ("==", ">=", "<="):
        return value
    if op == "!=":
        return _differ(value)
    sign = 1 if op == ">" else -1
    if isinstance(value, Decimal):
        return value + sign * step
    if isinstance(value, dt.date):
        return value + dt.timedelta(days=sign)
    return value


def _negate(expr: Expr) -> Expr | None:
    from creditrules._ast import And, Compare, InList, Not, Or

    if isinstance(expr, Compare):
        return attrs.evolve(expr, op=_FLIP[expr.op])
    if isinstance(expr, InList):
        return attrs.evolve(expr, negated=not expr.negated)
    if isinstance(expr, Not):
        return expr.part
    parts = [_negate(p) for p in expr.parts]
    if any(p is None for p in parts):
        return None
    kind = Or if isinstance(expr, And) else And
    return kind(tuple(p for p in parts if p is not None), expr.text, expr.pos)


def _witnesses(expr: Expr, unit: Decimal) -> list[_Witness]:
    """Ways to make ``expr`` true (best effort: each atom on its own, conjunctions merged
    where they agree)."""
    from creditrules._ast import And, Compare, Field, InList, Not, Or

    if isinstance(expr, Or):
        return [w for part in expr.parts for w in _witnesses(part, unit)][:_MAX_WITNESSES]
    if isinstance(expr, And):
        combos: list[_Witness] = [({}, [])]
        for part in expr.parts:
            merged: list[_Witness] = []
            for values, counts in combos:
                for more_values, more_counts in _witnesses(part, unit):
                    clash = [k for k, v in more_values.items() if values.get(k, v) != v]
                    if not clash:
                        merged.append(({**values, **more_values}, counts + more_counts))
                    elif _holds(part, values):
                        # ``x >= a and x <= b``: the value chosen for ``a`` may do for both.
                        merged.append((values, counts + more_counts))
            combos = merged[:_MAX_WITNESSES]
        return combos
    if isinstance(expr, Not):
        negated = _negate(expr.part)
        return [] if negated is None else _witnesses(negated, unit)
    if isinstance(expr, InList):
        path = expr.subject.path
        if expr.negated:
            return [({path: _fresh([o.value for o in expr.options])}, [])]
        return [({path: o.value}, []) for o in expr.options]
    assert isinstance(expr, Compare)
    right = expr.right
    if not isinstance(right, Literal):
        return [({}, [])]
    if isinstance(expr.left, Field):
        money = expr.left.path in (("amount",), ("expense", "amount"))
        step = unit if money else Decimal(1)
        return [({expr.left.path: _satisfy(expr.op, right.value, step)}, [])]
    count = expr.left
    if not isinstance(right.value, Decimal):
        return [({}, [])]
    n = int(right.value)
    need = {">=": n, ">": n + 1, "==": n}.get(expr.op, 0)
    if need <= 0:
        return [({}, [])]
    items = _witnesses(count.where, unit) if count.where is not None else [({}, [])]
    return [({}, [(count.collection, values, need)]) for values, _ in items[:2]]


def _holds(expr: Expr, values: Mapping[Path, Value]) -> bool:
    from creditrules._ast import Facts

    try:
        return _conditions.evaluate(expr, Facts(dict(values), {}))
    except TypeError:
        return False


def targets(ruleset: Ruleset) -> tuple[Target, ...]:
    """A :class:`Target` per way of satisfying each rule's condition (credit, policy and
    expense rules), and one per rule window."""
    out: list[Target] = []
    rules: list[Any] = [*ruleset.rules, *getattr(ruleset, "policy_rules", ()),
                        *getattr(ruleset, "expense_rules", ())]
    for rule in rules:
        window = getattr(rule, "effective", None)
        day = window.start if window is not None else None
        when = rule.when
        found = _witnesses(when, ruleset.unit) if when is not None else []
        if not found and day is not None:
            found = [({}, [])]
        for values, counts in found:
            if values or counts or day is not None:
                out.append(Target(rule.id, values, tuple(counts), day))
        # A policy that follows the account owner or the lead: also try the deal that
        # names none, with an expense that needs the policy.
        missing = {"account_owner": ("account", "owner"), "lead_partner": ("lead", "source")}
        fact = missing.get(getattr(rule, "governs", ""))
        if fact is not None:
            for values, counts in found or [({}, [])]:
                out.append(Target(rule.id, {**values, fact: None}, tuple(counts), None,
                                  expense=getattr(rule, "topic", "") == "entertainment"))
    return tuple(out)



class DealSpace:
    """Everything the strategies need about one ruleset, computed once.

    The building blocks (:meth:`header`, :meth:`reps`, :meth:`blocks`, :meth:`expenses`)
    are public so that properties needing a particular shape of deal (two partners with
    identical contributions, one activity more...) can assemble one; :meth:`deals` is the
    general strategy.
    """

    def __init__(self, ruleset: Ruleset) -> None:
        self.ruleset = ruleset
        self.partners: tuple[str, ...] = ruleset.partner_ids
        self.literals = literals(ruleset)
        self.unit = ruleset.unit
        lits = self.literals
        start, end = ruleset.effective.start, ruleset.effective.end
        self.first_day = start or (end - dt.timedelta(days=3 * 365) if end
                                   else dt.date(2000, 1, 1))
        self.last_day = end or self.first_day + dt.timedelta(days=3 * 365)
        self.days = self._days()
        self.thresholds = self._units()
        # Ascending, so that shrinking finds the smallest amount that fails.
        self.units = tuple(sorted(set(_UNITS) | set(self.thresholds)))
        kinds: dict[str, None] = {}
        contributions = [ruleset.contribution] + [
            r.outcome.contribution for r in ruleset.rules
            if isinstance(r.outcome, ByContribution)]
        for contribution in contributions:
            if contribution is not None:
                kinds.update(dict.fromkeys(sorted(contribution.weights)))
        kinds.update(dict.fromkeys(_texts(lits.item("activities", ("kind",)))))
        kinds.pop(LEAD_KIND, None)
        # A ruleset that weighs no activity still gets some, under a neutral kind.
        self.kinds: tuple[str, ...] = tuple(kinds) or ("call",)
        repeats = {1, 2} | {n for n in lits.counts.get("activities", ()) if n >= 1}
        self.repeats = tuple(sorted(n for n in repeats if n <= _MAX_REPEAT))
        reps_needed = max(lits.counts.get("reps", (0,)), default=0)
        self.max_reps = min(max(_MAX_REPS, reps_needed), 8)
        self.owner_mode = ruleset.rep_credit == "owner" or any(
            r.rep_credit == "owner" for r in ruleset.rules)
        activity_days = [v for v in lits.item("activities", ("date",))
                         if isinstance(v, dt.date)]
        self.activity_days = tuple(sorted(set(activity_days)))
        self.attributes = tuple((a.name, a.type) for a in ruleset.attributes)
        self.attribute_types = dict(self.attributes)
        self.targets = targets(ruleset)
        # Fields no condition reads cannot change any result: left out (fewer draws).
        self.read: frozenset[Path] = frozenset(
            path for expr in _conditions_of(ruleset) for path in _conditions.field_paths(expr))
        self._expense_setup()
        self._strategies: dict[Any, st.SearchStrategy[Any]] = {}

    def _cached(self, key: Any, make: Any) -> st.SearchStrategy[Any]:
        # Building (and validating) a strategy costs more than drawing from it: build once.
        found = self._strategies.get(key)
        if found is None:
            found = self._strategies[key] = make()
        return found

    # -- the values --------------------------------------------------------------------
    def _days(self) -> tuple[dt.date, ...]:
        rs = self.ruleset
        found: set[dt.date] = {self.first_day, self.last_day}

        def near(day: dt.date | None) -> None:
            if day is None:
                return
            for step in (-1, 0, 1):
                with contextlib.suppress(OverflowError):
                    found.add(day + dt.timedelta(days=step))

        for rule in rs.rules:
            near(rule.effective.start)
            near(rule.effective.end)
        for plist in rs.precedence:
            near(plist.effective.start)
            near(plist.effective.end)
        for value in self.literals.of(("date",)):
            if isinstance(value, dt.date):
                found.add(value)
        inside = sorted(d for d in found if self.first_day <= d <= self.last_day)
        inside.remove(self.first_day)
        return (self.first_day, *inside)

    def _units(self) -> tuple[int, ...]:
        """The amounts (in units) the conditions compare against, and their neighbours."""
        found: set[int] = set()
        unit = Fraction(self.unit)
        for value in self.literals.of(("amount",)):
            if isinstance(value, Decimal):
                exact = Fraction(value) / unit
                for n in (exact.numerator // exact.denominator,
                          -(-exact.numerator // exact.denominator)):
                    if 0 < abs(n) < _MAX_UNITS:
                        found.add(abs(n))
        return tuple(sorted(found))

    def amount_text(self, units: int) -> str:
        """``units`` currency units as the decimal text a deal carries."""
        return str(Decimal(units) * self.unit)

    # -- strategies ----------------------------------------------------------------------
    def dates(self) -> st.SearchStrategy[dt.date]:
        """Deal dates: the agreement's first day first, then the days around every rule's
        window and the dates conditions compare against, then any day of the agreement."""
        return self._cached("dates", lambda: st.one_of(
            st.sampled_from(self.days), st.dates(self.first_day, self.last_day)))

    def amount_units(self, *, negative: bool = True) -> st.SearchStrategy[int]:
        """Deal amounts in currency units: one unit first, the ruleset's thresholds and
        their neighbours (often: a third of the draws), then any amount up to 10**15 units;
        about one in five negative (a credit note) when ``negative``."""
        def make() -> st.SearchStrategy[int]:
            branches = [st.sampled_from(self.units)]
            if self.thresholds:
                branches.append(st.sampled_from(self.thresholds))
            magnitude = st.one_of(*branches, st.integers(1, _MAX_UNITS))
            if not negative:
                return magnitude
            # Drawn after the magnitude, and shrinking to "not negative".
            sign = st.integers(0, 4).map(lambda n: -1 if n == 4 else 1)
            return st.tuples(magnitude, sign).map(lambda t: t[0] * t[1])

        return self._cached(("amounts", negative), make)

    def text_field(self, path: Path, *, required: bool = False) -> st.SearchStrategy[Any]:
        """A deal text field: missing, a value the conditions name, or one they do not."""
        def make() -> st.SearchStrategy[Any]:
            named = _texts(self.literals.of(path))
            options = st.sampled_from([*named, _fresh(named)])
            return options if required else st.one_of(st.none(), options)

        return self._cached(("text", path, required), make)

    def attribute(self, name: str, typ: Type) -> st.SearchStrategy[Any]:
        """A declared attribute's value in its JSON shape, or ``None`` (missing)."""
        return self._cached(("attribute", name), lambda: self._attribute(name, typ))

    def _attribute(self, name: str, typ: Type) -> st.SearchStrategy[Any]:
        mined = self.literals.of(("attributes", name))
        value: st.SearchStrategy[Any]
        if typ is Type.TEXT:
            named = _texts(mined)
            value = st.sampled_from([*named, _fresh(named)])
        elif typ is Type.NUMBER:
            numbers = [str(v) for v in mined if isinstance(v, Decimal)]
            plain = st.integers(-10**6, 10**12).map(str)
            value = st.one_of(st.sampled_from(numbers), plain) if numbers else plain
        elif typ is Type.DATE:
            days = sorted(v.isoformat() for v in mined if isinstance(v, dt.date))
            lo = self.first_day - dt.timedelta(days=366)
            hi = self.last_day + dt.timedelta(days=366)
            any_day = st.dates(lo, hi).map(dt.date.isoformat)
            value = st.one_of(st.sampled_from(days), any_day) if days else any_day
        else:
            value = st.booleans()
        return st.one_of(st.none(), value)

    def target(self) -> st.SearchStrategy[Target | None]:
        """A rule to aim at (``None`` first: shrinking drops the aim when it is not
        needed)."""
        return self._cached("targets", lambda: st.sampled_from([None, *self.targets]))

    @st.composite
    def header(draw: st.DrawFn, self: DealSpace, *,
               owners: Sequence[str | None] | None = None,
               amount: st.SearchStrategy[int] | None = None,
               target: Target | None = None) -> Deal:
        """The deal without reps, activities, lead or expenses: id, date, amount, currency,
        account (owner among ``owners``, default any partner or none), product and
        attributes; with the deal-level values of ``target`` where they fit."""
        deal: Deal = {"id": _DEAL_ID}
        deal["date"] = draw(self.dates()).isoformat()
        units = draw(amount if amount is not None else self.amount_units())
        deal["amount"] = self.amount_text(units)
        deal["currency"] = self.ruleset.currency
        owner_choices = list(owners) if owners is not None else [None, *self.partners]
        account: dict[str, Any] = {}
        owner = draw(self._cached(("pick", tuple(owner_choices)),
                                  lambda: st.sampled_from(owner_choices)))
        if owner is not None:
            account["owner"] = owner
        if ("account", "named") in self.read and draw(st.booleans()):
            account["named"] = True
        for field in ("segment", "territory", "id"):
            if ("account", field) not in self.read:
                continue
            value = draw(self.text_field(("account", field)))
            if value is not None:
                account[field] = value
        if account:
            deal["account"] = account
        if ("product",) in self.read:
            product = draw(self.text_field(("product",)))
            if product is not None:
                deal["product"] = product
        attributes = {}
        for name, typ in self.attributes:
            if ("attributes", name) not in self.read:
                continue
            value = draw(self.attribute(name, typ))
            if value is not None:
                attributes[name] = value
        if attributes:
            deal["attributes"] = attributes
        if target is not None:
            self.aim(deal, target, owners=owner_choices)
        return deal

    def aim(self, deal: Deal, target: Target, *, owners: Sequence[str | None]) -> None:
        """Set the deal-level fields ``target`` asks for (not the lead, reps, activities or
        expenses, which the callers build)."""
        if target.day is not None and self.first_day <= target.day <= self.last_day:
            deal["date"] = target.day.isoformat()
        for path, value in target.values.items():
            head, tail = path[0], path[1:]
            if path == ("date",) and isinstance(value, dt.date) \
                    and self.first_day <= value <= self.last_day:
                deal["date"] = value.isoformat()
            elif path == ("amount",) and isinstance(value, Decimal) and value > 0:
                units = -(-Fraction(value) // Fraction(self.unit))
                negative = str(deal["amount"]).startswith("-")
                deal["amount"] = self.amount_text(-units if negative else units)
            elif path == ("amount",) and isinstance(value, Decimal) and value < 0:
                # A condition on credit notes (amount <= -X): aim at a credit note.
                units = -(-Fraction(-value) // Fraction(self.unit))
                deal["amount"] = self.amount_text(-units)
            elif head == "account" and len(tail) == 1 and value is None:
                deal.get("account", {}).pop(tail[0], None)
                if deal.get("account") == {}:
                    del deal["account"]
            elif head == "account" and len(tail) == 1:
                if tail[0] == "owner" and value not in owners:
                    continue
                deal.setdefault("account", {})[tail[0]] = value
            elif path == ("product",) and isinstance(value, str):
                deal["product"] = value
            elif head == "attributes" and len(tail) == 1 and tail[0] in self.attribute_types:
                deal.setdefault("attributes", {})[tail[0]] = _json_value(value)

    @st.composite
    def reps(draw: st.DrawFn, self: DealSpace, partner: str,
             *, min_size: int = 0) -> list[dict[str, Any]]:
        """Reps of one partner (ids ``<partner>-1``, ``-2``...). Where the ruleset credits
        a partner's deal owner, exactly one is marked owner; elsewhere maybe one."""
        n = draw(st.integers(min_size, max(min_size, self.max_reps)))
        reps: list[dict[str, Any]] = [{"id": f"{partner}-{i + 1}", "partner": partner}
                                      for i in range(n)]
        if n:
            index = (draw(st.integers(0, n - 1)) if self.owner_mode
                     else draw(self._cached(("maybe-index", n), lambda: st.one_of(
                         st.none(), st.integers(0, n - 1)))))
            if index is not None:
                reps[index]["owner"] = True
        return reps

    def performers(self, rep_ids: Sequence[str], partners: Sequence[str] | None = None
                   ) -> st.SearchStrategy[tuple[str, tuple[str, ...]]]:
        """Who performs an activity: ``("partner", (p,))`` for a partner without a named
        rep, or ``("reps", ids)`` for one rep or several (a joint activity)."""
        who = tuple(partners if partners is not None else self.partners)
        ids = tuple(rep_ids)
        # One flat choice (partners, then single reps, then pairs of reps): shrinking moves
        # from a rep to its partner, then drops the rep, one step at a time.
        options: list[tuple[str, tuple[str, ...]]] = [("partner", (p,)) for p in who]
        options += [("reps", (r,)) for r in ids]
        options += [("reps", (a, b)) for i, a in enumerate(ids) for b in ids[i + 1:]]
        return self._cached(("performers", who, ids), lambda: st.sampled_from(options))

    @st.composite
    def block(draw: st.DrawFn, self: DealSpace,
              performers: st.SearchStrategy[tuple[str, tuple[str, ...]]]) -> Block:
        """One kind of activity by one performer, repeated (to reach count thresholds)."""
        kind = draw(self._cached("kinds", lambda: st.sampled_from(self.kinds)))
        who = draw(performers)
        repeat = draw(self._cached("repeats", lambda: st.sampled_from(self.repeats)))
        day = None
        if self.activity_days:
            day = draw(self._cached("activity-days", lambda: st.one_of(
                st.none(), st.sampled_from(self.activity_days))))
        return Block(kind, who[0], who[1], repeat, day)

    def blocks(self, rep_ids: Sequence[str], partners: Sequence[str] | None = None,
               *, max_size: int = _MAX_BLOCKS) -> st.SearchStrategy[list[Block]]:
        """Activities, as blocks of identical ones."""
        performers = self.performers(rep_ids, partners)
        return self._cached(("blocks", performers, max_size), lambda: st.lists(
            self.block(performers), max_size=max_size))

    # -- expenses --------------------------------------------------------------------------
    def _expense_setup(self) -> None:
        rs = self.ruleset
        policies = getattr(rs, "policies", {}) or {}
        kinds: dict[str, None] = {}
        categories: dict[str, None] = {}
        caps: set[Decimal] = set()
        annual: set[Decimal] = set()
        for topics in policies.values():
            for policy in topics.values():
                for name in ("caps",):
                    table = getattr(policy, name, None) or {}
                    kinds.update(dict.fromkeys(sorted(table)))
                    caps.update(v for v in table.values() if isinstance(v, Decimal))
                for category, table in sorted((getattr(policy, "categories", None)
                                               or {}).items()):
                    categories.setdefault(category)
                    kinds.update(dict.fromkeys(sorted(table)))
                    caps.update(v for v in table.values() if isinstance(v, Decimal))
                kinds.update(dict.fromkeys(sorted(getattr(policy, "forbidden", ()) or ())))
                for name in ("preapproval_above", "annual_cap_per_attendee"):
                    value = getattr(policy, name, None)
                    if isinstance(value, Decimal):
                        caps.add(value)
                value = getattr(policy, "annual_cap_per_attendee", None)
                if isinstance(value, Decimal):
                    annual.update((value - self.unit, value, value + self.unit))
        kinds.update(dict.fromkeys(_texts(self.literals.of(("expense", "kind")))))
        categories.update(dict.fromkeys(_texts(self.literals.item("attendees",
                                                                  ("category",)))))
        self.expense_kinds: tuple[str, ...] = tuple(kinds)
        self.categories: tuple[str, ...] = tuple(categories)
        self.with_expenses = bool(policies or getattr(rs, "expense_rules", ()))
        unit = Fraction(self.unit)
        around: dict[int, None] = dict.fromkeys((1, 2, 3, 100))
        for cap in sorted(caps):
            for n in (1, 2, 3):
                exact = Fraction(cap) * n / unit
                if exact.denominator == 1:
                    base = exact.numerator
                    around.update(dict.fromkeys(k for k in (base - 1, base, base + 1)
                                                if k > 0))
        self.expense_units: tuple[int, ...] = tuple(sorted(around))
        # What was already spent on an attendee this year, around the annual caps.
        self.annual_caps: tuple[str, ...] = tuple(str(v) for v in sorted(annual) if v >= 0)

    @st.composite
    def expense(draw: st.DrawFn, self: DealSpace, number: int,
                payers: Sequence[str] | None = None) -> dict[str, Any]:
        """One entertainment expense (id ``E<number>``) in its JSON shape."""
        kinds = self.expense_kinds or ("meal",)
        kind = draw(self._cached("expense-kinds", lambda: st.sampled_from(kinds)))
        expense: dict[str, Any] = {"id": f"E{number}", "kind": kind}
        units = draw(self._cached("expense-units", lambda: st.one_of(
            st.sampled_from(self.expense_units), st.integers(0, 10**9))))
        expense["amount"] = self.amount_text(units)
        who = tuple(payers or self.partners)
        expense["paid_by"] = draw(self._cached(("pick", who), lambda: st.sampled_from(who)))
        expense["attendees"] = draw(self._cached("attendees", self._attendees))
        if draw(st.booleans()):
            expense["preapproved"] = True
        return expense

    def _attendees(self) -> st.SearchStrategy[Any]:
        if not self.categories and not self.annual_caps:
            return st.integers(1, 4)
        category = (st.one_of(st.none(), st.sampled_from(self.categories)) if self.categories
                    else st.none())
        spent = (st.one_of(st.none(), st.sampled_from(self.annual_caps)) if self.annual_caps
                 else st.none())

        def attendee(pair: tuple[str | None, str | None]) -> dict[str, Any]:
            out: dict[str, Any] = {}
            if pair[0] is not None:
                out["category"] = pair[0]
            if pair[1] is not None:
                out["spent_this_year"] = pair[1]
            return out

        listed = st.lists(st.tuples(category, spent).map(attendee), min_size=1, max_size=4)
        return st.one_of(st.integers(1, 4), listed)

    def expenses(self, payers: Sequence[str] | None = None
                 ) -> st.SearchStrategy[list[dict[str, Any]]]:
        """Entertainment expenses (none when the ruleset declares no policy)."""
        if not self.with_expenses:
            return st.just([])
        who = tuple(payers or self.partners)
        def numbered(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [{"id": f"E{i + 1}", **{k: v for k, v in item.items() if k != "id"}}
                    for i, item in enumerate(items)]

        return self._cached(("expenses", who), lambda: st.lists(
            self.expense(0, who), max_size=_MAX_EXPENSES).map(numbered))

    # -- whole deals --------------------------------------------------------------------------
    @st.composite
    def deals(draw: st.DrawFn, self: DealSpace, *,
              amount: st.SearchStrategy[int] | None = None,
              expenses: bool = True) -> Deal:
        """Any deal of this ruleset (see :func:`deals`)."""
        target = draw(self.target())
        deal = draw(self.header(amount=amount, target=target))
        reps: list[dict[str, Any]] = []
        for partner in self.partners:
            reps += draw(self.reps(partner))
        rep_ids = [r["id"] for r in reps]
        source = draw(self._cached(("pick", (None, *self.partners)),
                                   lambda: st.sampled_from([None, *self.partners])))
        if target is not None and ("lead", "source") in target.values:
            wanted = target.values[("lead", "source")]
            source = str(wanted) if wanted in self.partners else None
        if source is not None:
            lead: dict[str, Any] = {"source": source}
            own = [r["id"] for r in reps if r["partner"] == source]
            if own:
                rep = draw(self._cached(("maybe", tuple(own)), lambda: st.one_of(
                    st.none(), st.sampled_from(own))))
                if rep is not None:
                    lead["rep"] = rep
            deal["lead"] = lead
        blocks = draw(self.blocks(rep_ids))
        if target is not None:
            blocks += self.aimed_blocks(target, reps)
        finish(deal, reps, blocks)
        if expenses:
            items = draw(self.expenses())
            if target is not None and target.expense and not items and self.with_expenses:
                items = [{"id": "E1", **{k: v for k, v in draw(self.expense(1)).items()
                                         if k != "id"}}]
            self.add_expenses(deal, items)
            if target is not None and deal.get("expenses"):
                self.aim_expense(deal["expenses"][0], target)
        return deal

    def witnesses(self) -> list[Deal]:
        """One plain deal per target, aimed at its rule: explicit examples that reach
        every rule whose condition the targets solve, whatever the random draws do."""
        out: list[Deal] = []
        for target in self.targets:
            deal: Deal = {"id": _DEAL_ID, "date": self.first_day.isoformat(),
                          "amount": self.amount_text(10_000), "currency": self.ruleset.currency}
            self.aim(deal, target, owners=(None, *self.partners))
            source = target.values.get(("lead", "source"))
            if isinstance(source, str) and source in self.partners:
                deal["lead"] = {"source": source}
            reps: list[dict[str, Any]] = []
            finish(deal, reps, self.aimed_blocks(target, reps))
            wants_expense = target.expense or any(p[0] == "expense" for p in target.values)
            if wants_expense and self.with_expenses:
                expense: dict[str, Any] = {
                    "id": "E1", "kind": (self.expense_kinds or ("meal",))[0],
                    "amount": self.amount_text(10_000), "paid_by": self.partners[0],
                    "attendees": 1}
                self.aim_expense(expense, target)
                self.add_expenses(deal, [expense])
            if deal not in out:
                out.append(deal)
        return out

    def aimed_blocks(self, target: Target, reps: list[dict[str, Any]]) -> list[Block]:
        """Activities (and reps) that a target's ``count(...)`` needs; ``reps`` may grow."""
        out: list[Block] = []
        for collection, values, n in target.counts:
            if collection == "reps":
                partner = values.get(("partner",))
                partner = partner if partner in self.partners else self.partners[0]
                have = sum(1 for r in reps if r["partner"] == partner)
                for i in range(have, have + n):
                    rep: dict[str, Any] = {"id": f"{partner}-{i + 1}", "partner": partner}
                    if values.get(("owner",)) is True or (self.owner_mode and i == 0):
                        rep["owner"] = True
                    reps.append(rep)
                continue
            if collection != "activities":
                continue
            kind = values.get(("kind",))
            kind = kind if isinstance(kind, str) else self.kinds[0]
            if kind == LEAD_KIND:
                continue
            day = values.get(("date",))
            day = day if isinstance(day, dt.date) else None
            partner = values.get(("partner",))
            if values.get(("joint",)) is True:
                ids = []
                for p in self.partners[:2]:
                    own = [r["id"] for r in reps if r["partner"] == p]
                    if not own:
                        reps.append({"id": f"{p}-1", "partner": p,
                                     **({"owner": True} if self.owner_mode else {})})
                        own = [f"{p}-1"]
                    ids.append(own[0])
                out.append(Block(kind, "reps", tuple(ids), min(n, _MAX_REPEAT), day))
            else:
                who = partner if isinstance(partner, str) and partner in self.partners \
                    else self.partners[0]
                out.append(Block(kind, "partner", (who,), min(n, _MAX_REPEAT), day))
        return out

    def aim_expense(self, expense: dict[str, Any], target: Target) -> None:
        """Give an expense the fields a target's condition asks for."""
        for path, value in target.values.items():
            if path[0] != "expense" or len(path) != 2:
                continue
            field = path[1]
            if field == "kind" and isinstance(value, str):
                expense["kind"] = value
            elif field == "amount" and isinstance(value, Decimal) and value >= 0:
                expense["amount"] = str(value)
            elif field == "paid_by" and value in self.partners:
                expense["paid_by"] = value
            elif field == "preapproved" and isinstance(value, bool):
                expense["preapproved"] = value
            elif field == "attendees" and isinstance(value, Decimal) and 0 < value <= 50:
                expense["attendees"] = int(value)
        for collection, values, n in target.counts:
            category = values.get(("category",))
            if collection == "attendees" and isinstance(category, str) \
                    and category in self.categories:
                expense["attendees"] = [{"category": category}] * min(n, 50)

    @staticmethod
    def add_expenses(deal: Deal, items: Sequence[Mapping[str, Any]]) -> Deal:
        """Attach entertainment expenses to a sale (a credit note carries none: the
        expenses were borne with the sale it reverses)."""
        if items and not str(deal["amount"]).startswith("-"):
            deal["expenses"] = [dict(item) for item in items]
        return deal


def _json_value(value: Value) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


@attrs.frozen
class Block:
    """``repeat`` identical activities of one ``kind`` by one performer: a partner
    (``who == "partner"``, ``ids == (partner,)``) or reps (``who == "reps"``)."""

    kind: str
    who: str
    ids: tuple[str, ...]
    repeat: int = 1
    date: dt.date | None = None

    def activity(self) -> dict[str, Any]:
        """One of the block's activities in its JSON shape."""
        item: dict[str, Any] = {"kind": self.kind}
        if self.who == "partner":
            item["partner"] = self.ids[0]
        elif len(self.ids) == 1:
            item["rep"] = self.ids[0]
        else:
            item["reps"] = list(self.ids)
        if self.date is not None:
            item["date"] = self.date.isoformat()
        return item


def finish(deal: Deal, reps: Sequence[Mapping[str, Any]], blocks: Sequence[Block]) -> Deal:
    """Add reps and the activities of ``blocks`` to ``deal`` (omitting empty lists)."""
    if reps:
        deal["reps"] = [dict(r) for r in reps]
    acts = [b.activity() for b in blocks for _ in range(b.repeat)]
    if acts:
        deal["activities"] = acts
    return deal


_SPACES: dict[int, tuple[Ruleset, DealSpace]] = {}


def space(ruleset: Ruleset) -> DealSpace:
    """The (cached) :class:`DealSpace` of a ruleset."""
    found = _SPACES.get(id(ruleset))
    if found is None or found[0] is not ruleset:
        found = _SPACES[id(ruleset)] = (ruleset, DealSpace(ruleset))
    return found[1]


def deals(ruleset: Ruleset, *, negative: bool = True, expenses: bool = True
          ) -> st.SearchStrategy[Deal]:
    """Deals for ``ruleset`` as JSON-shaped mappings (what :meth:`Ruleset.allocate` reads).

    ``negative=False`` keeps amounts positive (no credit notes); ``expenses=False`` leaves
    out entertainment expenses even where the ruleset declares policies.
    """
    sp = space(ruleset)
    return sp.deals(amount=sp.amount_units(negative=negative), expenses=expenses)


def amounts(ruleset: Ruleset, *, negative: bool = True) -> st.SearchStrategy[str]:
    """Deal amounts as decimal text, from one currency unit to very large (see
    :meth:`DealSpace.amount_units`)."""
    sp = space(ruleset)
    return sp.amount_units(negative=negative).map(sp.amount_text)


def dates(ruleset: Ruleset) -> st.SearchStrategy[dt.date]:
    """Deal dates inside the agreement, around every rule's window (see
    :meth:`DealSpace.dates`)."""
    return space(ruleset).dates()


def activities(ruleset: Ruleset, reps: Sequence[Mapping[str, Any]] = ()
               ) -> st.SearchStrategy[list[dict[str, Any]]]:
    """Activities in their JSON shape, by the given reps or by partners, with the kinds the
    ruleset weighs or names."""
    sp = space(ruleset)
    ids = [str(r["id"]) for r in reps]
    return sp.blocks(ids).map(lambda bs: [b.activity() for b in bs for _ in range(b.repeat)])


def expenses(ruleset: Ruleset) -> st.SearchStrategy[list[dict[str, Any]]]:
    """Entertainment expenses in their JSON shape, with the kinds and attendee categories
    the ruleset's policies name and amounts around their caps."""
    return space(ruleset).expenses()


# -- deals of a particular shape, for metamorphic properties ----------------------------------

@attrs.frozen
class Twins:
    """A deal in which two parties contribute identically: two partners (``level ==
    "partners"``) with mirrored reps, activities and expenses, neither owning the account
    nor sourcing the lead; or two reps of one partner (``level == "reps"``) with mirrored
    activities and the same owner flag, neither the lead's rep."""

    deal: Deal
    level: str
    pair: tuple[str, str]


@attrs.frozen
class NullParty:
    """A deal with a party that takes no part in it: a partner (``level == "partners"``)
    with no reps, activities or expenses, not owning the account nor sourcing the lead; or a
    rep (``level == "reps"``) with no activity, not the lead's rep nor the deal owner,
    while another rep of its partner did some work."""

    deal: Deal
    level: str
    party: str
    partner: str


@attrs.frozen
class OneMore:
    """A deal, and the same deal with one more activity (of ``kind``) by one party:
    ``partner`` itself (``rep is None``) or its ``rep``."""

    deal: Deal
    more: Deal
    partner: str
    rep: str | None
    kind: str


def _pick(sp: DealSpace, options: Sequence[Any]) -> st.SearchStrategy[Any]:
    return sp._cached(("pick", tuple(options)), lambda: st.sampled_from(list(options)))


@st.composite
def _lead(draw: st.DrawFn, sp: DealSpace, sources: Sequence[str | None],
          reps: Sequence[Mapping[str, Any]], barred: Sequence[str] = ()) -> dict[str, Any]:
    source = draw(_pick(sp, list(sources)))
    if source is None:
        return {}
    lead: dict[str, Any] = {"source": source}
    own = [str(r["id"]) for r in reps if r["partner"] == source and r["id"] not in barred]
    if own:
        rep = draw(_pick(sp, [None, *own]))
        if rep is not None:
            lead["rep"] = rep
    return lead


def _expense_list(items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [{"id": f"E{i + 1}", **{k: v for k, v in item.items() if k != "id"}}
            for i, item in enumerate(items)]


@st.composite
def _twin_partners(draw: st.DrawFn, sp: DealSpace) -> Twins:
    pairs = [(p, q) for i, p in enumerate(sp.partners) for q in sp.partners[i + 1:]]
    p, q = draw(_pick(sp, pairs))
    others = [x for x in sp.partners if x not in (p, q)]
    deal = draw(sp.header(owners=[None, *others], target=draw(sp.target())))
    n = draw(st.integers(0, sp.max_reps))
    reps_p: list[dict[str, Any]] = [{"id": f"{p}-{i + 1}", "partner": p} for i in range(n)]
    reps_q: list[dict[str, Any]] = [{"id": f"{q}-{i + 1}", "partner": q} for i in range(n)]
    if n:
        index = (draw(st.integers(0, n - 1)) if sp.owner_mode
                 else draw(sp._cached(("maybe-index", n), lambda: st.one_of(
                     st.none(), st.integers(0, n - 1)))))
        if index is not None:
            reps_p[index]["owner"] = reps_q[index]["owner"] = True
    twin = {r["id"]: t["id"] for r, t in zip(reps_p, reps_q, strict=True)}
    twin[p] = q
    other_reps = [r for x in others for r in draw(sp.reps(x))]
    blocks: list[Block] = []
    for block in draw(sp.blocks([r["id"] for r in reps_p], [p], max_size=3)):
        mirrored = tuple(twin[i] for i in block.ids)
        # A joint activity of both twins is its own mirror image.
        if block.who == "reps" and draw(st.booleans()):
            blocks.append(attrs.evolve(block, ids=block.ids + mirrored))
        else:
            blocks += [block, attrs.evolve(block, ids=mirrored)]
    if others:
        blocks += draw(sp.blocks([r["id"] for r in other_reps], others, max_size=2))
    reps = reps_p + reps_q + other_reps
    lead = draw(_lead(sp, [None, *others], reps))
    if lead:
        deal["lead"] = lead
    finish(deal, reps, blocks)
    if sp.with_expenses:
        paid = draw(sp._cached(("paid-by", p), lambda: st.lists(sp.expense(0, [p]),
                                                                  max_size=2)))
        items = [e for item in paid for e in (item, {**item, "paid_by": q})]
        if others:
            items += draw(sp._cached(("paid-by", tuple(others)), lambda: st.lists(
                sp.expense(0, others), max_size=1)))
        sp.add_expenses(deal, _expense_list(items))
    return Twins(deal, "partners", (p, q))


@st.composite
def _twin_reps(draw: st.DrawFn, sp: DealSpace) -> Twins:
    p = draw(_pick(sp, sp.partners))
    deal = draw(sp.header(target=draw(sp.target())))
    r1, r2 = f"{p}-1", f"{p}-2"
    # Under owner credit, a third rep owns the deal, so the twins stay alike.
    extra = sp.owner_mode or draw(st.booleans())
    reps_p: list[dict[str, Any]] = [{"id": r1, "partner": p}, {"id": r2, "partner": p}]
    if not sp.owner_mode and draw(st.booleans()):
        reps_p[0]["owner"] = reps_p[1]["owner"] = True
    if extra:
        reps_p.append({"id": f"{p}-3", "partner": p, **({"owner": True} if sp.owner_mode
                                                         else {})})
    other_reps = [r for x in sp.partners if x != p for r in draw(sp.reps(x))]
    ids = [r1, *(r["id"] for r in reps_p[2:]), *(r["id"] for r in other_reps)]
    blocks: list[Block] = []
    for block in draw(sp.blocks(ids, max_size=4)):
        if r1 not in block.ids:
            blocks.append(block)
        elif draw(st.booleans()):
            blocks.append(attrs.evolve(block, ids=(*block.ids, r2)))
        else:
            mirrored = tuple(r2 if i == r1 else i for i in block.ids)
            blocks += [block, attrs.evolve(block, ids=mirrored)]
    reps = reps_p + other_reps
    lead = draw(_lead(sp, [None, *sp.partners], reps, barred=(r1, r2)))
    if lead:
        deal["lead"] = lead
    finish(deal, reps, blocks)
    sp.add_expenses(deal, draw(sp.expenses()))
    return Twins(deal, "reps", (r1, r2))


def equal_contributions(ruleset: Ruleset) -> st.SearchStrategy[Twins]:
    """Deals in which two partners, or two reps of one partner, contribute identically
    (see :class:`Twins`): fairness demands they get identical credit."""
    sp = space(ruleset)
    return sp._cached("twins", lambda: st.one_of(_twin_partners(sp), _twin_reps(sp)))


@st.composite
def _absent_partner(draw: st.DrawFn, sp: DealSpace) -> NullParty:
    p = draw(_pick(sp, sp.partners))
    others = [x for x in sp.partners if x != p]
    deal = draw(sp.header(owners=[None, *others], target=draw(sp.target())))
    reps = [r for x in others for r in draw(sp.reps(x))]
    blocks = draw(sp.blocks([r["id"] for r in reps], others))
    lead = draw(_lead(sp, [None, *others], reps))
    if lead:
        deal["lead"] = lead
    finish(deal, reps, blocks)
    sp.add_expenses(deal, draw(sp.expenses(others)))
    return NullParty(deal, "partners", p, p)


@st.composite
def _idle_rep(draw: st.DrawFn, sp: DealSpace) -> NullParty:
    p = draw(_pick(sp, sp.partners))
    deal = draw(sp.header(target=draw(sp.target())))
    idle, worker = f"{p}-1", f"{p}-2"
    reps: list[dict[str, Any]] = [{"id": idle, "partner": p}, {"id": worker, "partner": p}]
    if sp.owner_mode:
        reps[1]["owner"] = True
    reps += [r for x in sp.partners if x != p for r in draw(sp.reps(x))]
    ids = [r["id"] for r in reps if r["id"] != idle]
    # The worker does something alone, so the idle rep is not idle merely because no
    # one in its team did anything.
    first = draw(sp._cached(("alone", worker), lambda: sp.block(st.just(("reps", (worker,))))))
    blocks = [first, *draw(sp.blocks(ids, max_size=3))]
    lead = draw(_lead(sp, [None, *sp.partners], reps, barred=(idle,)))
    if lead:
        deal["lead"] = lead
    finish(deal, reps, blocks)
    sp.add_expenses(deal, draw(sp.expenses()))
    return NullParty(deal, "reps", idle, p)


def null_parties(ruleset: Ruleset) -> st.SearchStrategy[NullParty]:
    """Deals with a partner or a rep that takes no part in them (see :class:`NullParty`)."""
    sp = space(ruleset)
    return sp._cached("null", lambda: st.one_of(_absent_partner(sp), _idle_rep(sp)))


@st.composite
def _one_more(draw: st.DrawFn, sp: DealSpace) -> OneMore:
    deal = draw(sp.deals(expenses=False))
    # Often, one activity short of a count(...) threshold, the next one crossing it: the
    # monotonicity bugs sit one joint call past a threshold.
    below = draw(sp._cached("below", lambda: st.sampled_from(
        [None, *((t, i) for t in sp.targets for i, c in enumerate(t.counts)
                 if c[0] == "activities")])))
    options: list[tuple[str, str | None]] = [(p, None) for p in sp.partners]
    options += [(str(r["partner"]), str(r["id"])) for r in deal.get("reps", ())]
    partner, rep = draw(st.sampled_from(options))
    kind = draw(sp._cached("kinds", lambda: st.sampled_from(sp.kinds)))
    if below is not None:
        target, index = below
        _, values, n = target.counts[index]
        aimed = Target(target.rule, {}, ((("activities", values, n - 1)),))
        reps = [dict(r) for r in deal.get("reps", ())]
        blocks = sp.aimed_blocks(aimed, reps) if n > 1 else []
        deal = {**deal, "activities": [*deal.get("activities", ()),
                                       *(b.activity() for b in blocks for _ in range(b.repeat))]}
        if reps:
            deal["reps"] = reps
        wanted = values.get(("partner",))
        if isinstance(wanted, str) and wanted in sp.partners:
            partner, rep = wanted, None
        wanted_kind = values.get(("kind",))
        if isinstance(wanted_kind, str) and wanted_kind != LEAD_KIND:
            kind = wanted_kind
    block = Block(kind, "partner" if rep is None else "reps", (partner,) if rep is None
                  else (rep,))
    more = {**deal, "activities": [*deal.get("activities", ()), block.activity()]}
    return OneMore(deal, more, partner, rep, kind)


def one_more_activity(ruleset: Ruleset) -> st.SearchStrategy[OneMore]:
    """A deal and the same deal with one more activity by one party (see :class:`OneMore`)."""
    sp = space(ruleset)
    return sp._cached("one-more", lambda: _one_more(sp))
