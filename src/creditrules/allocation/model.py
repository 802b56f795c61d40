"""Deals as the library reads them: frozen attrs values, validated once at the edge.

A deal arrives as a mapping (the JSON shape documented in ``docs/reference/deals.md``) or is
built directly from these classes. :meth:`Deal.from_mapping` refuses what would silently
change money: floats, malformed dates, unknown fields. Partner names are checked against a
ruleset later, by the ruleset that allocates the deal.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import attrs

from creditrules.allocation._reading import (
    ACCOUNT_KEYS,
    ACTIVITY_KEYS,
    ATTENDEE_KEYS,
    DEAL_KEYS,
    EXPENSE_KEYS,
    LEAD_KEYS,
    MAX_ATTENDEES,
    REP_KEYS,
    Decline,
    absent,
    flag,
    list_of,
    mapping_of,
    opt_text,
)
from creditrules.base._dates import parse_iso_date
from creditrules.base._money import MoneyError, parse_decimal
from creditrules.errors import DealError, suggest

__all__ = ["Account", "Activity", "Attendee", "Deal", "Expense", "JsonFloat", "Lead", "Rep"]


class JsonFloat(str):
    """The text of a JSON number with a fraction or exponent, kept unconverted so that it
    is refused by name rather than passed through a binary float."""


AttributeValue = Decimal | str | bool | dt.date


@attrs.frozen
class Account:
    """The customer account a deal is sold to, as the alliance's account mapping gives it."""

    id: str | None = None
    owner: str | None = None  # partner id owning the account
    named: bool = False
    segment: str | None = None
    territory: str | None = None


@attrs.frozen
class Lead:
    """Where the deal came from: the sourcing partner and, if known, its rep."""

    source: str | None = None
    rep: str | None = None


@attrs.frozen
class Rep:
    """A sales rep on the deal; ``owner`` marks the partner's deal owner."""

    id: str
    partner: str
    owner: bool = False


@attrs.frozen
class Activity:
    """A collaborative activity that led to the sale (call, joint call, presentation...).

    Performed by ``reps`` (credited through each rep's partner) or, when no rep is recorded,
    by ``partner``.
    """

    kind: str
    reps: tuple[str, ...] = ()
    partner: str | None = None
    date: dt.date | None = None


@attrs.frozen
class Attendee:
    """A customer attendee of an entertainment expense.

    ``category`` selects category caps in the prevailing policy (e.g. ``hcp`` for healthcare
    professionals, ``government``); ``None`` is the default category. ``spent_this_year`` is
    what the alliance already spent on this attendee this year (from the caller's records),
    against a policy's annual cap per attendee.
    """

    id: str | None = None
    category: str | None = None
    spent_this_year: Decimal = Decimal(0)


@attrs.frozen
class Expense:
    """Entertainment spent with customers (a meal, an event...), paid by one partner."""

    id: str
    kind: str
    amount: Decimal
    paid_by: str
    attendees: tuple[Attendee, ...]
    date: dt.date | None = None
    preapproved: bool = False

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Expense:
        """Build a standalone expense from its JSON shape."""
        reader = _DealReader({})
        return reader.expense(data, "expense")


@attrs.frozen
class Deal:
    """One sale (or, with a negative amount, a credit note or refund)."""

    id: str
    date: dt.date
    amount: Decimal
    currency: str
    account: Account = Account()
    product: str | None = None
    lead: Lead = Lead()
    reps: tuple[Rep, ...] = ()
    activities: tuple[Activity, ...] = ()
    attributes: Mapping[str, AttributeValue] = attrs.field(factory=dict)
    expenses: tuple[Expense, ...] = ()

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Deal:
        """Build a deal from its JSON shape, refusing floats and malformed fields."""
        return _DealReader(data).read()


class _DealReader:
    """Reads one deal mapping; every error names the deal id and the field path."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data
        self.deal_id: str | None = None

    def fail(self, field: str, message: str, code: str = "bad-field") -> DealError:
        return DealError(message, deal_id=self.deal_id, field=field, code=code)

    def read(self) -> Deal:
        data = self.data
        if not isinstance(data, Mapping):
            raise DealError(f"a deal must be a JSON object, got {_kind(data)}", code="bad-record")
        try:
            # Read as any text field is (an id exported as a JSON integer is its text).
            self.deal_id = self.text(data.get("id"), "id", required=True)
        except DealError:
            raise self.fail("id", "missing or not a non-empty string",
                            "missing-field") from None
        self.keys(data, DEAL_KEYS, "")
        return Deal(
            id=self.deal_id,  # type: ignore[arg-type]
            date=self.date(data.get("date"), "date", required=True),  # type: ignore[arg-type]
            amount=self.amount(data.get("amount"), "amount"),
            currency=self.text(data.get("currency"), "currency", required=True),  # type: ignore[arg-type]
            account=self.account(data.get("account")),
            product=self.text(data.get("product"), "product"),
            lead=self.lead(data.get("lead")),
            reps=self.reps(data.get("reps")),
            activities=self.activities(data.get("activities")),
            attributes=self.attributes(data.get("attributes")),
            expenses=self.expenses(data.get("expenses")),
        )

    def expenses(self, value: Any) -> tuple[Expense, ...]:
        out = []
        seen: set[str] = set()
        for i, item in enumerate(self.seq(value, "expenses")):
            expense = self.expense(item, f"expenses[{i}]")
            if expense.id in seen:
                raise self.fail(
                    f"expenses[{i}].id",
                    f"expense {expense.id!r} is listed twice",
                    "duplicate-expense",
                )
            seen.add(expense.id)
            out.append(expense)
        return tuple(out)

    def expense(self, item: Any, where: str) -> Expense:
        obj = self.record(item, where, EXPENSE_KEYS)
        expense_id = self.text(obj.get("id"), where + ".id", required=True)
        kind = self.text(obj.get("kind"), where + ".kind", required=True)
        paid_by = self.text(obj.get("paid_by"), where + ".paid_by", required=True)
        assert expense_id is not None
        assert kind is not None
        assert paid_by is not None
        amount = self.amount(obj.get("amount"), where + ".amount")
        if amount < 0:
            raise self.fail(where + ".amount", f"an expense cannot be negative ({amount})")
        raw = obj.get("attendees")
        attendees: list[Attendee] = []
        if isinstance(raw, int) and not isinstance(raw, bool):
            if raw > MAX_ATTENDEES:  # checked before the list is built
                raise self.fail(where + ".attendees", f"more than {MAX_ATTENDEES:,} attendees")
            attendees = [Attendee() for _ in range(raw)]
        else:
            for j, entry in enumerate(self.seq(raw, where + ".attendees")):
                at = f"{where}.attendees[{j}]"
                a = self.record(entry, at, ATTENDEE_KEYS)
                spent = a.get("spent_this_year")
                attendees.append(
                    Attendee(
                        self.text(a.get("id"), at + ".id"),
                        self.text(a.get("category"), at + ".category"),
                        Decimal(0)
                        if spent is None
                        else self.amount(spent, at + ".spent_this_year"),
                    )
                )
        if not attendees:
            raise self.fail(
                where + ".attendees",
                "an expense needs at least one attendee (a number, or a list of attendees)",
                "missing-field",
            )
        if len(attendees) > MAX_ATTENDEES:
            raise self.fail(where + ".attendees", f"more than {MAX_ATTENDEES:,} attendees")
        return Expense(
            expense_id,
            kind,
            amount,
            paid_by,
            tuple(attendees),
            self.date(obj.get("date"), where + ".date"),
            self.boolean(obj.get("preapproved"), where + ".preapproved"),
        )

    def keys(self, obj: Mapping[str, Any], allowed: frozenset[str], prefix: str) -> None:
        for key in sorted(str(k) for k in obj):
            if key not in allowed:
                raise self.fail(
                    prefix + key, "unknown field" + suggest(key, allowed), "unknown-field"
                )

    # Each reading below tries the quick form first (``_reading``: the rules themselves);
    # what it declines is converted here where the rules allow it, or refused by name.
    def mapping(self, value: Any, field: str) -> Mapping[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self.fail(field, f"expected an object, got {_kind(value)}")
        return value

    def record(self, value: Any, field: str, allowed: frozenset[str]) -> Mapping[str, Any]:
        """An object of the record holding only ``allowed`` keys (None: an empty one)."""
        try:
            return mapping_of(value, allowed)
        except Decline:
            obj = self.mapping(value, field)
            self.keys(obj, allowed, field + ".")
            return obj

    def seq(self, value: Any, field: str) -> Sequence[Any]:
        try:
            return list_of(value)
        except Decline:
            if isinstance(value, str | bytes) or not isinstance(value, Sequence):
                raise self.fail(field, f"expected a list, got {_kind(value)}") from None
            return value

    def text(self, value: Any, field: str, *, required: bool = False) -> str | None:
        try:
            found = opt_text(value)
        except Decline:
            # A JSON integer is read as its text (ids exported as numbers); nothing else.
            if isinstance(value, bool | JsonFloat) or not isinstance(value, str | int):
                raise self.fail(field, f"expected text, got {_kind(value)}") from None
            found = str(value)
        if found is None and required:
            raise self.fail(field, "missing", "missing-field")
        return found

    def boolean(self, value: Any, field: str) -> bool:
        try:
            return flag(value)
        except Decline:
            raise self.fail(field, f"expected true or false, got {_kind(value)}") from None

    def date(self, value: Any, field: str, *, required: bool = False) -> dt.date | None:
        if absent(value):
            if required:
                raise self.fail(field, "missing", "missing-field")
            return None
        if isinstance(value, dt.datetime):
            raise self.fail(field, "expected a date (YYYY-MM-DD), got a date and time")
        if isinstance(value, dt.date):
            return value
        if not isinstance(value, str):
            raise self.fail(field, f"expected a date (YYYY-MM-DD), got {_kind(value)}")
        try:
            return parse_iso_date(value)
        except ValueError:
            raise self.fail(field, f"expected a date (YYYY-MM-DD), got {value!r}") from None

    def amount(self, value: Any, field: str) -> Decimal:
        if absent(value):
            raise self.fail(field, "missing", "missing-field")
        if isinstance(value, float | JsonFloat):
            raise self.fail(
                field,
                f"is a float ({value}); give amounts as decimal strings "
                "or integers so no cent is lost in conversion",
                "float-amount",
            )
        if isinstance(value, bool):
            raise self.fail(field, "expected an amount, got a boolean")
        if isinstance(value, Decimal):
            if not value.is_finite():
                raise self.fail(field, f"expected a finite amount, got {value}")
            return value
        if isinstance(value, int):
            return Decimal(value)
        if isinstance(value, str):
            try:
                return parse_decimal(value)
            except MoneyError as exc:
                raise self.fail(field, str(exc)) from None
        raise self.fail(field, f"expected an amount, got {_kind(value)}")

    def account(self, value: Any) -> Account:
        obj = self.record(value, "account", ACCOUNT_KEYS)
        return Account(
            id=self.text(obj.get("id"), "account.id"),
            owner=self.text(obj.get("owner"), "account.owner"),
            named=self.boolean(obj.get("named"), "account.named"),
            segment=self.text(obj.get("segment"), "account.segment"),
            territory=self.text(obj.get("territory"), "account.territory"),
        )

    def lead(self, value: Any) -> Lead:
        obj = self.record(value, "lead", LEAD_KEYS)
        return Lead(
            source=self.text(obj.get("source"), "lead.source"),
            rep=self.text(obj.get("rep"), "lead.rep"),
        )

    def reps(self, value: Any) -> tuple[Rep, ...]:
        reps = []
        seen: set[str] = set()
        for i, item in enumerate(self.seq(value, "reps")):
            where = f"reps[{i}]"
            obj = self.record(item, where, REP_KEYS)
            rep_id = self.text(obj.get("id"), where + ".id", required=True)
            partner = self.text(obj.get("partner"), where + ".partner", required=True)
            assert rep_id is not None
            assert partner is not None
            if rep_id in seen:
                raise self.fail(where + ".id", f"rep {rep_id!r} is listed twice", "duplicate-rep")
            seen.add(rep_id)
            reps.append(Rep(rep_id, partner, self.boolean(obj.get("owner"), where + ".owner")))
        return tuple(reps)

    def activities(self, value: Any) -> tuple[Activity, ...]:
        out = []
        for i, item in enumerate(self.seq(value, "activities")):
            where = f"activities[{i}]"
            obj = self.record(item, where, ACTIVITY_KEYS)
            kind = self.text(obj.get("kind"), where + ".kind", required=True)
            assert kind is not None
            reps: list[str] = []
            if obj.get("rep") is not None:
                if obj.get("reps") is not None:
                    raise self.fail(where, "give either 'rep' or 'reps', not both")
                rep = self.text(obj.get("rep"), where + ".rep", required=True)
                assert rep is not None
                reps.append(rep)
            for j, rep_value in enumerate(self.seq(obj.get("reps"), where + ".reps")):
                rep = self.text(rep_value, f"{where}.reps[{j}]", required=True)
                assert rep is not None
                reps.append(rep)
            partner = self.text(obj.get("partner"), where + ".partner")
            if not reps and partner is None:
                raise self.fail(
                    where, "an activity needs a 'rep', 'reps' or 'partner'", "missing-field"
                )
            out.append(
                Activity(kind, tuple(reps), partner, self.date(obj.get("date"), where + ".date"))
            )
        return tuple(out)

    def attributes(self, value: Any) -> Mapping[str, AttributeValue]:
        obj = self.mapping(value, "attributes")
        out: dict[str, AttributeValue] = {}
        for key in sorted(obj, key=str):
            raw = obj[key]
            field = f"attributes.{key}"
            if raw is None:
                continue
            if isinstance(raw, float | JsonFloat):
                raise self.fail(
                    field,
                    f"is a float ({raw}); give numbers as decimal strings or integers",
                    "float-amount",
                )
            if isinstance(raw, dt.datetime):
                raise self.fail(field, "expected a date (YYYY-MM-DD), got a date and time")
            if isinstance(raw, Decimal) and not raw.is_finite():
                raise self.fail(field, f"expected a finite number, got {raw}")
            if isinstance(raw, bool | str | Decimal | dt.date):
                out[str(key)] = raw
            elif isinstance(raw, int):
                out[str(key)] = Decimal(raw)
            else:
                raise self.fail(field, f"expected a scalar value, got {_kind(raw)}")
        return out


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, JsonFloat):
        return f"a number ({value})"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, str):
        return f"text {value!r}"
    if isinstance(value, list | tuple):
        return "a list"
    return f"{type(value).__name__} {value!r}"
