"""The deal space of a ruleset (:class:`DealSpace`): everything the deal strategies need
about it, computed once, with the building blocks of a deal (header, reps, activity
blocks, expenses) and the general deal strategy."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
from collections.abc import Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import Any

import attrs
from hypothesis import strategies as st

from creditrules.agreement.policy import ENTERTAINMENT, EntertainmentPolicy
from creditrules.agreement.ruleset import ByContribution, Ruleset
from creditrules.allocation._outcomes import LEAD_KIND
from creditrules.analysis._mining import Target, _conditions_of, _fresh, _texts, literals, targets
from creditrules.conditions import _conditions
from creditrules.conditions._ast import Path, Type, Value

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
        self._boundary: list[Deal] | None = None

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
            deal = self.aimed_deal(target, 10_000)
            if deal not in out:
                out.append(deal)
        return out

    def aimed_deal(self, target: Target | None, units: int) -> Deal:
        """The plainest deal of ``units`` currency units on the agreement's first day,
        aimed at ``target`` (its fields, lead, counted items and expense)."""
        deal: Deal = {"id": _DEAL_ID, "date": self.first_day.isoformat(),
                      "amount": self.amount_text(units), "currency": self.ruleset.currency}
        if target is None:
            return deal
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
        return deal

    def boundary_deals(self) -> list[Deal]:
        """Deterministic deals at every boundary the conditions draw: the plainest deal
        (one currency unit, the first day) and one aimed at each rule, each tried with the
        amount at every threshold, one unit below and one above (a unit of currency and a
        whole one), with every count threshold's items one below, at and one above
        (upper bounds included), and with each number or date literal of a declared
        attribute; the plainest deal also on each day around every rule's window. Tried
        whatever the random draws do, smallest first."""
        if self._boundary is None:
            self._boundary = self._boundaries()
        return self._boundary

    def _boundaries(self) -> list[Deal]:
        from creditrules.analysis._mining import count_bounds

        lits = self.literals
        negative = any(isinstance(v, Decimal) and v < 0 for v in lits.of(("amount",)))
        signs = (1, -1) if negative else (1,)
        bounds = count_bounds(self.ruleset)
        attributes = [(name, v) for name, typ in self.attributes
                      if typ in (Type.NUMBER, Type.DATE)
                      for v in lits.of(("attributes", name))]
        plain, *_ = bases = self.boundary_bases()
        out: dict[str, Deal] = {}

        def add(deal: Deal) -> None:
            if str(deal["amount"]).startswith("-"):
                deal.pop("expenses", None)  # a credit note carries none
            out.setdefault(json.dumps(deal, sort_keys=True), deal)

        for base in bases:
            add(base)
            for units in self.thresholds:
                for sign in signs:
                    add({**base, "amount": self.amount_text(sign * units)})
            for bound in bounds:
                for k in (bound.n - 1, bound.n, bound.n + 1):
                    if 0 <= k <= _MAX_REPEAT:
                        add(self.with_items(base, bound.collection, bound.values, k))
            for name, value in attributes:
                add({**base, "attributes": {**base.get("attributes", {}),
                                            name: _json_value(value)}})
        for day in self.days:
            add({**plain, "date": day.isoformat()})
        for deal in self.expense_boundary_deals():
            add(deal)
        return list(out.values())

    def expense_boundary_deals(self) -> list[Deal]:
        """The plainest deal, and the plainest deal aimed at each policy precedence and
        expense sharing rule, with one expense at each expense-side threshold
        (:meth:`expense_thresholds`), paid by each partner, the partner also owning the
        account and sourcing the lead where the deal names neither: so each policy that can
        govern (the payer's, the owner's, the lead partner's, the stricter) caps it."""
        if not self.with_expenses:
            return []
        rules = {r.id for r in self.ruleset.policy_rules} | {
            r.id for r in self.ruleset.expense_rules}
        bases: dict[str, Deal] = {}
        for target in (None, *(t for t in self.targets if t.rule in rules)):
            deal = self.aimed_deal(target, 1)
            bases.setdefault(json.dumps(deal, sort_keys=True), deal)
        out: list[Deal] = []
        for base in bases.values():
            aimed = base.get("expenses", [{}])[0]
            for partner in self.partners:
                deal = {k: v for k, v in base.items() if k != "expenses"}
                account = dict(deal.get("account", {}))
                if "account" not in deal or "owner" not in account:
                    account.setdefault("owner", partner)
                    deal["account"] = account
                deal.setdefault("lead", {"source": partner})
                for expense in self.expense_thresholds():
                    item = {**aimed, **expense, "id": "E1", "paid_by": partner}
                    out.append(self.add_expenses({**deal}, [item]))
        return out

    def expense_thresholds(self) -> list[dict[str, Any]]:
        """Expenses (without payer) one unit below, at and one unit above each threshold on
        the expense side: each per-attendee cap of each kind (and of each attendee category)
        times one and two attendees, the annual cap per attendee (nothing spent yet, and
        half the kind's cap left), the pre-approval threshold, and each literal an expense
        sharing condition compares ``expense.amount`` with; and one below, at and one above
        each attendee count a condition compares with (``expense.attendees``,
        ``count(attendees, ...)``)."""
        from creditrules.analysis._mining import count_bounds

        found: dict[str, dict[str, Any]] = {}
        unit = self.unit
        first_kind = (self.expense_kinds or ("meal",))[0]

        def around(kind: str, attendees: Any, amount: Decimal, **more: Any) -> None:
            for step in (-1, 0, 1):
                value = amount + step * unit
                exact = Fraction(value) / Fraction(unit)
                if value < 0 or exact.denominator != 1 or exact.numerator >= _MAX_UNITS:
                    continue
                expense = {"kind": kind, "amount": self.amount_text(exact.numerator),
                           "attendees": attendees, **more}
                found.setdefault(json.dumps(expense, sort_keys=True), expense)

        for topics in self.ruleset.policies.values():
            policy = topics.get(ENTERTAINMENT)
            if not isinstance(policy, EntertainmentPolicy):
                continue
            for kind, cap in sorted(policy.caps.items()):
                for n in (1, 2):
                    if isinstance(cap, Decimal):
                        around(kind, n, cap * n)
                annual = policy.annual_cap_per_attendee
                if annual is not None:
                    limit = annual if cap is None else min(cap, annual)
                    around(kind, 1, limit)
                    # Spent so far leaves half the cap for this year: the annual cap binds.
                    left = math.floor(Fraction(limit) / 2 / Fraction(unit)) * unit
                    if left > 0:
                        around(kind, [{"spent_this_year": str(annual - left)}], left)
            for category, table in sorted(policy.categories.items()):
                for kind, per in sorted(table.items()):
                    if isinstance(per, Decimal):
                        for n in (1, 2):
                            around(kind, [{"category": category}] * n, per * n)
            if policy.preapproval_above is not None:
                around(first_kind, 1, policy.preapproval_above)
        for value in self.literals.of(("expense", "amount")):
            if isinstance(value, Decimal):
                around(first_kind, 1, value)
        counts = [int(v) for v in self.literals.of(("expense", "attendees"))
                  if isinstance(v, Decimal) and v == int(v)]
        for n in sorted(counts):
            for k in (n - 1, n, n + 1):
                if 1 <= k <= _MAX_REPEAT:
                    around(first_kind, k, Decimal(100) * unit)
        for bound in count_bounds(self.ruleset):
            named = bound.values.get(("category",))
            if bound.collection != "attendees":
                continue
            for k in (bound.n - 1, bound.n, bound.n + 1):
                if 0 <= k <= _MAX_REPEAT:
                    people: list[dict[str, Any]] = [
                        {"category": named} if isinstance(named, str) else {}] * k
                    around(first_kind, people or [{}], Decimal(100) * unit)
        return list(found.values())

    def boundary_bases(self) -> list[Deal]:
        """The plainest deal (one currency unit, the first day), then the plainest deal
        aimed at each rule (see :meth:`aimed_deal`), without repeats."""
        out: dict[str, Deal] = {}
        for target in (None, *self.targets):
            deal = self.aimed_deal(target, 1)
            out.setdefault(json.dumps(deal, sort_keys=True), deal)
        return list(out.values())

    def with_items(self, deal: Deal, collection: str, values: Mapping[Path, Value],
                    k: int) -> Deal:
        """``deal`` with ``k`` more items of ``collection`` having ``values``."""
        reps = [dict(r) for r in deal.get("reps", ())]
        blocks = self.aimed_blocks(Target("", {}, ((collection, values, k),)), reps) \
            if k else []
        out = {**deal}
        acts = [*deal.get("activities", ()),
                *(b.activity() for b in blocks for _ in range(b.repeat))]
        if acts:
            out["activities"] = acts
        if reps:
            out["reps"] = reps
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
                exact = Fraction(value) / Fraction(self.unit)
                # In the currency's own figures (150.00), as the boundary expenses are.
                expense["amount"] = (self.amount_text(exact.numerator)
                                     if exact.denominator == 1 else str(value))
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
