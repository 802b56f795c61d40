"""The finite space the static analysis decides over, and witness deals drawn from it.

The engine already encodes every value a condition reads by its class among the literals
it is compared with (:mod:`creditrules.engine._feature_encoding`): a number or date by its rank
(below the first literal, at it, between it and the next...), a text by which literal it
equals (or none). So each feature has finitely many classes, and each class has a
representative value (``amount < 5000`` and ``amount == 5000``: 4999.99 and 5000.00).
A ``count(collection, predicate)`` is the sum of the multiplicities of the item classes
(tuples of item-field classes) on which the predicate holds: exact, and linear.

:class:`Space` turns each rule's condition (its negation normal form, from the engine's own
normaliser) into a solver formula over those classes; :meth:`Space.deal` turns a model back
into a deal in its JSON shape, which ``Ruleset.allocate`` then confirms.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import Any

from creditrules.agreement.policy import EntertainmentPolicy
from creditrules.agreement.ruleset import Ruleset
from creditrules.allocation._outcomes import LEAD_KIND
from creditrules.allocation._reading import MAX_ATTENDEES
from creditrules.analysis import _solver
from creditrules.analysis._deal_space import _json_value
from creditrules.conditions._ast import Count, Expr, Field, Path, Type, Value
from creditrules.engine._feature_encoding import (
    Feature,
    _features,
    _gather,
    _holds,
    _In,
    _Junction,
    _Node,
    _Normaliser,
    _Ref,
)

__all__ = ["Space", "Unsupported"]

# Fields of the expense being shared (expense sharing conditions read them too).
_EXPENSE_PATHS = frozenset(
    ("expense", name)
    for name in ("id", "kind", "amount", "paid_by", "attendees", "date", "preapproved")
)
# Deal (and expense) fields every deal has (the readers fill or require them).
_NEVER_MISSING = frozenset(
    {("id",), ("date",), ("amount",), ("currency",), ("account", "named")}
    | (_EXPENSE_PATHS - {("expense", "date")})
)
_PARTNER_PATHS = frozenset({("account", "owner"), ("lead", "source"), ("expense", "paid_by")})
_MONEY_PATHS = frozenset({("amount",), ("expense", "amount")})
_DEAL_SUPPORTED = frozenset(
    {
        ("id",),
        ("date",),
        ("amount",),
        ("currency",),
        ("product",),
        ("account", "id"),
        ("account", "owner"),
        ("account", "named"),
        ("account", "segment"),
        ("account", "territory"),
        ("lead", "source"),
    }
)
# Item fields a witness can set, and those every item has.
_ITEM_SUPPORTED = {
    "activities": frozenset({("kind",), ("partner",), ("joint",), ("date",)}),
    "reps": frozenset({("id",), ("partner",), ("owner",)}),
    "attendees": frozenset({("category",)}),
}
_ITEM_REQUIRED = {
    "activities": frozenset({("kind",), ("joint",)}),
    "reps": frozenset({("id",), ("partner",), ("owner",)}),
}
_MAX_ITEM_CLASSES = 4096
WITNESS_ID = "W-1"
# The id of the one expense a witness deal carries (its verdicts are "expense:E1").
WITNESS_EXPENSE = "E1"


class Unsupported(Exception):
    """A condition outside the part of the language the analysis decides exactly."""


def _step_between(lower: Any, upper: Any, step: Any) -> Any:
    """A value strictly between ``lower`` and ``upper`` (either may be None: unbounded) on
    the grid of ``step`` (numbers: a Decimal; dates: a timedelta), or None if there is none.
    The value nearest an existing bound is chosen, so witnesses sit next to thresholds."""
    if isinstance(step, dt.timedelta):
        if lower is None:
            return upper - step
        value = lower + step
        return value if upper is None or value < upper else None
    if lower is None:
        q = Fraction(upper) / Fraction(step)
        n = -(-q.numerator // q.denominator) - 1  # the largest multiple below upper
        return Decimal(n) * step
    q = Fraction(lower) / Fraction(step)
    n = q.numerator // q.denominator + 1  # the smallest multiple above lower
    value = Decimal(n) * step
    return value if upper is None or value < upper else None


def _representatives(
    feature: Feature, path: Path | None, ruleset: Ruleset, partners: Sequence[str]
) -> dict[int, Value]:
    """Class -> representative value, for the classes a deal can be in (missing: None)."""
    lo, hi = feature.domain
    out: dict[int, Value] = {}
    if lo == -1 and (path is None or path not in _NEVER_MISSING):
        out[-1] = None
    lits = feature.literals
    if feature.kind == "index":
        for i, value in enumerate(lits):
            out[i] = value
        other = _other_value(feature, path, ruleset, partners)
        if other is not None:
            out[len(lits)] = other
        if path == ("currency",):
            out = {k: v for k, v in out.items() if v == ruleset.currency}
        return out
    if feature.type is Type.DATE:
        step: Any = dt.timedelta(days=1)
    elif path in _MONEY_PATHS:
        step = ruleset.unit
    else:
        step = Decimal(1)
    for i in range(len(lits) + 1):
        lower = lits[i - 1] if i > 0 else None
        upper = lits[i] if i < len(lits) else None
        try:
            value = _step_between(lower, upper, step)
            if value is None and feature.type is Type.NUMBER and path not in _MONEY_PATHS:
                value = (Decimal(str(lower)) + Decimal(str(upper))) / 2  # no whole number
        except OverflowError:
            value = None
        if value is not None:
            out[2 * i] = value
        if i < len(lits):
            point = lits[i]
            whole = path not in _MONEY_PATHS or (
                Fraction(point) / Fraction(ruleset.unit)  # type: ignore[arg-type]
            ).denominator == 1
            if whole:
                out[2 * i + 1] = point
    if path == ("expense", "amount"):
        # The reader refuses a negative expense.
        out = {k: v for k, v in out.items() if isinstance(v, Decimal) and v >= 0}
    elif path == ("expense", "attendees"):
        # A whole number of people, as many as the reader accepts.
        out = {
            k: v
            for k, v in out.items()
            if isinstance(v, Decimal) and v == int(v) and 1 <= v <= MAX_ATTENDEES
        }
    assert max(out, default=0) <= hi
    return out


def _other_value(
    feature: Feature, path: Path | None, ruleset: Ruleset, partners: Sequence[str]
) -> Value:
    """A value equal to none of the feature's literals (None: there is none)."""
    lits = set(feature.literals)
    if feature.type is Type.BOOL:
        flags = [b for b in (False, True) if b not in lits]
        return flags[0] if flags else None
    if path in _PARTNER_PATHS or path == ("partner",):
        rest = [p for p in partners if p not in lits]
        return rest[0] if rest else None
    if path == ("kind",):
        lits.add(LEAD_KIND)
    candidate, n = "other", 1
    while candidate in lits:
        n += 1
        candidate = f"other{n}"
    return candidate


def _categories(feature: Feature, reps: dict[int, Value], ruleset: Ruleset) -> dict[int, Value]:
    """An attendee's category must be one the policies know: "none of the literals" is
    such a category where there is one (else the class is left out: no attendee is in it)."""
    known = sorted(
        {
            c
            for topics in ruleset.policies.values()
            for policy in topics.values()
            if isinstance(policy, EntertainmentPolicy)
            for c in policy.categories
        }
    )
    other = len(feature.literals)
    if other in reps:
        rest = [c for c in known if c not in feature.literals]
        if rest:
            reps[other] = rest[0]
        else:
            del reps[other]
    return {k: v for k, v in reps.items() if v is None or v in known}


def _uses(node: _Node) -> set[int]:
    if isinstance(node, _In):
        return {node.feature}
    if isinstance(node, _Ref):
        return {node.left, node.right}
    if isinstance(node, _Junction):
        return set().union(*(_uses(p) for p in node.parts))
    return set()


class _Items:
    """One collection's item classes and their multiplicity variables."""

    def __init__(
        self,
        collection: str,
        counts: Sequence[tuple[int, Count]],
        ruleset: Ruleset,
        partners: Sequence[str],
    ) -> None:
        self.collection = collection
        wheres = {str(i): c.where for i, c in counts if c.where is not None}
        drafts = _gather(wheres)
        self.features, by_slot, origins = _features(drafts)
        supported = _ITEM_SUPPORTED.get(collection, frozenset())
        self.paths: list[Path] = []
        for feature, origin in zip(self.features, origins, strict=True):
            if (
                feature.kind == "raw"
                or not isinstance(origin, Field)
                or origin.path not in supported
            ):
                raise Unsupported(
                    f"count({collection}, ...) reads {feature.source}, which "
                    "the analysis cannot yet build into a witness"
                )
            self.paths.append(origin.path)
        norm = _Normaliser(self.features, by_slot)
        predicates = {
            i: norm.nnf(c.where, False) if c.where is not None else True for i, c in counts
        }
        required = _ITEM_REQUIRED.get(collection, frozenset())
        choices = []
        self.reps: list[dict[int, Value]] = []
        for feature, path in zip(self.features, self.paths, strict=True):
            reps = _representatives(feature, path if path in required else None, ruleset, partners)
            if path in required:
                reps.pop(-1, None)
            if collection == "attendees":
                reps = _categories(feature, reps, ruleset)
            if path == ("kind",):
                reps = {k: v for k, v in reps.items() if v != LEAD_KIND}
            self.reps.append(reps)
            choices.append(sorted(reps))
        classes = []
        for combo in itertools.product(*choices):
            classes.append(combo)
            if len(classes) > _MAX_ITEM_CLASSES:
                raise Unsupported(
                    f"count({collection}, ...) has more than "
                    f"{_MAX_ITEM_CLASSES} kinds of item to consider"
                )
        self.classes = [c for c in classes if self._valid(c)]
        self.vars = [_solver.int_var(f"{collection}#{k}") for k in range(len(self.classes))]
        self.counted = {
            i: [k for k, c in enumerate(self.classes) if _holds(p, list(c))]
            for i, p in predicates.items()
        }

    def _valid(self, combo: tuple[int, ...]) -> bool:
        values = {
            path: self.reps[j][v] for j, (path, v) in enumerate(zip(self.paths, combo, strict=True))
        }
        if self.collection == "activities" and ("joint",) in values and ("partner",) in values:
            # A joint activity (reps of two partners) has no single partner, and back.
            return (values[("joint",)] is True) == (values[("partner",)] is None)
        return True

    def background(self) -> list[_solver.Formula]:
        out = [_solver.at_least(v, 0) for v in self.vars]
        if self.collection == "reps" and ("id",) in self.paths:
            j = self.paths.index(("id",))
            named: dict[Value, list[Any]] = {}
            for k, combo in enumerate(self.classes):
                value = self.reps[j][combo[j]]
                if value in self.features[j].literals:
                    named.setdefault(value, []).append(self.vars[k])
            # Rep ids are unique on a deal.
            out += [_solver.negate(_solver.at_least(_solver.total(vs), 2)) for vs in named.values()]
        return out

    def item(self, combo: tuple[int, ...]) -> dict[Path, Value]:
        return {
            path: self.reps[j][v] for j, (path, v) in enumerate(zip(self.paths, combo, strict=True))
        }


class Space:
    """The rank-class space of a set of conditions (keyed by rule key), as solver variables.

    ``formula(key)`` is the condition of that rule; ``unsupported`` maps the keys whose
    conditions leave the decided part of the language to the reason.
    """

    def __init__(
        self, ruleset: Ruleset, conditions: Mapping[str, Expr], *, expenses: bool = False
    ) -> None:
        self.ruleset = ruleset
        # The space of expense sharing: its witnesses name whose policy governs.
        self.expenses = expenses
        partners = ruleset.partner_ids
        self.unsupported: dict[str, str] = {}
        drafts = _gather(conditions)
        self.features, by_slot, self.origins = _features(drafts)
        self.normaliser = norm = _Normaliser(self.features, by_slot)
        nodes = {k: norm.nnf(e, False) for k, e in sorted(conditions.items())}
        self.vars = [_solver.int_var(f"x{i}") for i in range(len(self.features))]
        self.reps: list[dict[int, Value]] = []
        self.background: list[_solver.Formula] = []
        bad: dict[int, str] = {}
        by_collection: dict[str, list[tuple[int, Count]]] = {}
        for i, (feature, origin) in enumerate(zip(self.features, self.origins, strict=True)):
            if feature.kind == "raw":
                bad[i] = f"{feature.source} is compared with another field"
                self.reps.append({})
                continue
            if isinstance(origin, Count):
                by_collection.setdefault(origin.collection, []).append((i, origin))
                self.reps.append({})
                continue
            path = origin.path
            if path not in _DEAL_SUPPORTED | _EXPENSE_PATHS and path[0] != "attributes":
                bad[i] = f"{feature.source} cannot yet be set in a witness deal"
            reps = _representatives(feature, path, ruleset, partners)
            self.reps.append(reps)
            self.background.append(_solver.member(self.vars[i], reps))
        self.items: dict[str, _Items] = {}
        for collection, counts in sorted(by_collection.items()):
            try:
                items = _Items(collection, counts, ruleset, partners)
            except Unsupported as exc:
                for i, _ in counts:
                    bad[i] = str(exc)
                continue
            self.items[collection] = items
            self.background += items.background()
            for i, _count in counts:
                n = _solver.total([items.vars[k] for k in items.counted[i]])
                self.background += self._count_link(i, n)
        attendees = self.items.get("attendees")
        if attendees is not None:
            # The expense's attendees are its counted items: at least one, as many as the
            # reader accepts, and expense.attendees is how many there are.
            n = _solver.total(attendees.vars)
            self.background += [
                _solver.at_least(n, 1),
                _solver.negate(_solver.at_least(n, MAX_ATTENDEES + 1)),
            ]
            for i, origin in enumerate(self.origins):
                if isinstance(origin, Field) and origin.path == ("expense", "attendees"):
                    self.background += self._count_link(i, n)
        self.nodes: dict[str, _Node] = {}
        for key, node in nodes.items():
            reasons = [bad[f] for f in sorted(_uses(node)) if f in bad]
            if reasons:
                self.unsupported[key] = reasons[0]
            else:
                self.nodes[key] = node
        self._formulas: dict[str, _solver.Formula] = {}
        self.day_feature = next(
            (
                i
                for i, o in enumerate(self.origins)
                if isinstance(o, Field) and o.path == ("date",) and self.features[i].kind == "rank"
            ),
            None,
        )

    def _count_link(self, fid: int, n: Any) -> list[_solver.Formula]:
        """Tie the count's class variable to the count ``n`` itself."""
        var, lits = self.vars[fid], self.features[fid].literals
        allowed: list[int] = []
        links = []
        for i in range(len(lits) + 1):
            low = 0 if i == 0 else _floor(lits[i - 1]) + 1
            high = None if i == len(lits) else _ceil(lits[i]) - 1
            if high is None or low <= high:
                allowed.append(2 * i)
                inside = [_solver.at_least(n, low)]
                if high is not None:
                    inside.append(_solver.negate(_solver.at_least(n, high + 1)))
                links.append(_implies(_solver.equals(var, 2 * i), _solver.all_of(inside)))
            if i < len(lits):
                point = lits[i]
                if isinstance(point, Decimal) and point >= 0 and point == int(point):
                    allowed.append(2 * i + 1)
                    links.append(
                        _implies(_solver.equals(var, 2 * i + 1), _solver.equals(n, int(point)))
                    )
        # Every count value falls in exactly one class, so implications pin it down.
        self.reps[fid] = dict.fromkeys(allowed)
        return [_solver.member(var, allowed), *links]

    def formula(self, key: str) -> _solver.Formula:
        """The condition of rule ``key`` (which must be supported) as a formula."""
        found = self._formulas.get(key)
        if found is None:
            found = self._formulas[key] = self._translate(self.nodes[key])
        return found

    def _translate(self, node: _Node) -> _solver.Formula:
        if isinstance(node, bool):
            return _solver.true() if node else _solver.false()
        if isinstance(node, _In):
            return _solver.member(self.vars[node.feature], node.values)
        if isinstance(node, _Junction):
            parts = [self._translate(p) for p in node.parts]
            return _solver.all_of(parts) if node.conjunction else _solver.any_of(parts)
        raise Unsupported("field-to-field comparison")  # excluded in __init__

    def part(self, expr: Expr) -> _solver.Formula:
        """A part of a supported condition (a conjunct, say) as a formula: its fields are
        features of the space already."""
        return self._translate(self.normaliser.nnf(expr, False))

    def on_day(self, day: dt.date) -> list[_solver.Formula]:
        """The constraint that the deal is dated ``day`` (when conditions read the date)."""
        if self.day_feature is None:
            return []
        cls = _rank_of(self.features[self.day_feature].literals, day)
        return [_solver.equals(self.vars[self.day_feature], cls)]

    def variables(self) -> list[Any]:
        return [*self.vars, *(v for items in self.items.values() for v in items.vars)]

    def missing(self, path: Path) -> _solver.Formula | None:
        """The deal lacks ``path`` (None: no condition compares it with a literal)."""
        for i, origin in enumerate(self.origins):
            if isinstance(origin, Field) and origin.path == path and -1 in self.reps[i]:
                return _solver.equals(self.vars[i], -1)
        return None

    # -- witnesses ---------------------------------------------------------------------
    def deal(self, values: Sequence[int], day: dt.date, *, expense: bool = False) -> dict[str, Any]:
        """The deal of a model (``values`` in the order of :meth:`variables`); with
        ``expense``, carrying one expense (built from the expense fields and attendee
        counts of the model)."""
        rs = self.ruleset
        deal: dict[str, Any] = {
            "id": WITNESS_ID,
            "date": day.isoformat(),
            "amount": str(rs.unit * 100_000),
            "currency": rs.currency,
        }
        item: dict[str, Any] = {
            "id": WITNESS_EXPENSE,
            "kind": "meal",
            "amount": str(rs.unit),
            "paid_by": rs.partner_ids[0],
            "attendees": 1,
        }
        read: set[Path] = set()
        for i, origin in enumerate(self.origins):
            if not isinstance(origin, Field) or self.features[i].kind == "raw":
                continue
            path = origin.path
            read.add(path)
            value = self.reps[i].get(values[i])
            if path[0] == "expense":
                if path == ("expense", "attendees") and isinstance(value, Decimal):
                    item["attendees"] = int(value)
                elif path in _MONEY_PATHS and isinstance(value, Decimal):
                    item["amount"] = _amount_text(value, rs.unit)
                elif value is not None:
                    item[path[1]] = _json_value(value)
                continue
            if value is None or path in (("date",), ("currency",)):
                continue
            if path == ("amount",) and isinstance(value, Decimal):
                deal["amount"] = _amount_text(value, rs.unit)
            elif len(path) == 1:
                deal[path[0]] = _json_value(value)
            else:
                deal.setdefault(path[0], {})[path[1]] = _json_value(value)
        offset = len(self.vars)
        reps: list[dict[str, Any]] = []
        activities: list[dict[str, Any]] = []
        attendees: list[dict[str, Any]] = []
        for collection, items in self.items.items():
            counts = values[offset : offset + len(items.vars)]
            offset += len(items.vars)
            for combo, n in zip(items.classes, counts, strict=True):
                for _ in range(n):
                    one = items.item(combo)
                    if collection == "reps":
                        reps.append(_rep(one, len(reps)))
                    elif collection == "attendees":
                        attendee = {"id": f"A{len(attendees) + 1}"}
                        category = one.get(("category",))
                        if isinstance(category, str):
                            attendee["category"] = category
                        attendees.append(attendee)
                    else:
                        activities.append(self._activity(one, reps))
        owner_mode = rs.rep_credit == "owner" or any(r.rep_credit == "owner" for r in rs.rules)
        if owner_mode:
            for partner in rs.partner_ids:
                own = [r for r in reps if r["partner"] == partner]
                if own and not any(r.get("owner") for r in own):
                    own[0]["owner"] = True
        if reps:
            deal["reps"] = reps
        if activities:
            deal["activities"] = activities
        if expense:
            if attendees:
                item["attendees"] = attendees
            deal["expenses"] = [item]
            if self.expenses:
                # A policy may be the account owner's or the lead partner's: where no
                # condition reads who that is, name one, so that a policy is decided.
                for path in (("account", "owner"), ("lead", "source")):
                    if path not in read:
                        deal.setdefault(path[0], {})[path[1]] = rs.partner_ids[0]
        return deal

    def _activity(self, item: Mapping[Path, Value], reps: list[dict[str, Any]]) -> dict[str, Any]:
        partners = self.ruleset.partner_ids
        kind = item.get(("kind",))
        activity: dict[str, Any] = {"kind": kind if isinstance(kind, str) else "call"}
        partner = item.get(("partner",), partners[0])
        joint = item.get(("joint",)) is True or (("partner",) in item and partner is None)
        if joint:
            ids = []
            for p in partners[:2]:
                rep_id = f"{p}-w"
                if not any(r["id"] == rep_id for r in reps):
                    reps.append({"id": rep_id, "partner": p})
                ids.append(rep_id)
            activity["reps"] = ids
        else:
            activity["partner"] = partner
        day = item.get(("date",))
        if isinstance(day, dt.date):
            activity["date"] = day.isoformat()
        return activity


def _rep(item: Mapping[Path, Value], n: int) -> dict[str, Any]:
    rep_id = item.get(("id",))
    rep: dict[str, Any] = {
        "id": rep_id
        if isinstance(rep_id, str) and not rep_id.startswith("other")
        else f"rep-{n + 1}",
        "partner": item.get(("partner",)),
    }
    if item.get(("owner",)) is True:
        rep["owner"] = True
    return rep


def _implies(a: _solver.Formula, b: _solver.Formula) -> _solver.Formula:
    return _solver.any_of([_solver.negate(a), b])


def _floor(value: Value) -> int:
    assert isinstance(value, Decimal)
    q = Fraction(value)
    return q.numerator // q.denominator


def _ceil(value: Value) -> int:
    assert isinstance(value, Decimal)
    q = Fraction(value)
    return -(-q.numerator // q.denominator)


def _rank_of(literals: Iterable[Value], value: Value) -> int:
    """The engine's rank class of ``value`` among sorted ``literals``."""
    lits = list(literals)
    for i, lit in enumerate(lits):
        if value == lit:
            return 2 * i + 1
        if value < lit:  # type: ignore[operator]
            return 2 * i
    return 2 * len(lits)


def _amount_text(value: Decimal, unit: Decimal) -> str:
    """An amount as a deal would carry it, in whole units of the currency where it is a
    whole number of them (100000 -> "100000.00" for cents)."""
    with contextlib.suppress(ArithmeticError):
        if value % unit == 0:
            return str(value.quantize(unit))
    return str(value)
