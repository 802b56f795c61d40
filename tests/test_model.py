"""Tests of deal records as read at the input edge (``Deal.from_mapping``)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from creditrules.allocation.model import Account, Activity, Deal, JsonFloat, Lead, Rep
from creditrules.errors import CreditRulesError, DealError

_DROP = object()  # base(field=_DROP) leaves the field out


def base(**changes: Any) -> dict[str, Any]:
    deal: dict[str, Any] = {"id": "D1", "date": "2026-03-01", "amount": "100.00",
                            "currency": "USD"}
    deal.update(changes)
    return {k: v for k, v in deal.items() if v is not _DROP}


def refused(data: Any) -> DealError:
    with pytest.raises(DealError) as info:
        Deal.from_mapping(data)
    return info.value


# -- the happy path -----------------------------------------------------------------------


def test_every_field() -> None:
    deal = Deal.from_mapping({
        "id": "D-2026-0001",
        "date": "2026-03-15",
        "amount": "312500.50",
        "currency": "USD",
        "account": {"id": "A-9", "owner": "acme", "named": True, "segment": "hospital",
                    "territory": "north"},
        "product": "cardiozen-10mg",
        "lead": {"source": "beta", "rep": "b-rep-1"},
        "reps": [{"id": "a-rep-1", "partner": "acme", "owner": True},
                 {"id": "b-rep-1", "partner": "beta"}],
        "activities": [
            {"kind": "joint_call", "reps": ["a-rep-1", "b-rep-1"], "date": "2026-02-01"},
            {"kind": "detail", "rep": "a-rep-1"},
            {"id": "ACT-3", "kind": "presentation", "partner": "beta"},
        ],
        "attributes": {"indication": "heart-failure", "units": 12, "priority": True,
                       "launch": dt.date(2026, 1, 1), "discount": "0.1",
                       "exact": Decimal("2.50"), "skipped": None},
    })
    assert deal == Deal(
        id="D-2026-0001",
        date=dt.date(2026, 3, 15),
        amount=Decimal("312500.50"),
        currency="USD",
        account=Account(id="A-9", owner="acme", named=True, segment="hospital",
                        territory="north"),
        product="cardiozen-10mg",
        lead=Lead(source="beta", rep="b-rep-1"),
        reps=(Rep("a-rep-1", "acme", owner=True), Rep("b-rep-1", "beta", owner=False)),
        activities=(
            Activity("joint_call", ("a-rep-1", "b-rep-1"), None, dt.date(2026, 2, 1)),
            Activity("detail", ("a-rep-1",)),
            Activity("presentation", (), "beta"),
        ),
        attributes={"indication": "heart-failure", "units": Decimal(12), "priority": True,
                    "launch": dt.date(2026, 1, 1), "discount": "0.1",
                    "exact": Decimal("2.50")},
    )
    assert str(deal.amount) == "312500.50"  # trailing zeros kept


def test_minimal_deal_has_defaults() -> None:
    deal = Deal.from_mapping(base())
    assert deal == Deal("D1", dt.date(2026, 3, 1), Decimal("100.00"), "USD")
    assert deal.account == Account()
    assert deal.lead == Lead()
    assert deal.reps == ()
    assert deal.activities == ()
    assert deal.attributes == {}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(100, Decimal(100)), ("-25.10", Decimal("-25.10")), (Decimal("7.5"), Decimal("7.5")),
     ("-0", Decimal(0))],
)
def test_amounts_accepted_exactly(raw: Any, expected: Decimal) -> None:
    amount = Deal.from_mapping(base(amount=raw)).amount
    assert amount == expected
    assert str(amount) == str(expected)


def test_integer_id_and_date_object_accepted() -> None:
    deal = Deal.from_mapping(base(id=42, date=dt.date(2026, 3, 1)))
    assert deal.id == "42"
    assert deal.date == dt.date(2026, 3, 1)


# -- errors: the deal, the field, the reason ----------------------------------------------


@pytest.mark.parametrize("raw_id", [_DROP, None, "", True, 1.5, JsonFloat("1.5"), ["D1"]])
def test_missing_or_bad_id(raw_id: Any) -> None:
    error = refused(base(id=raw_id))
    assert error.code == "missing-field"
    assert error.deal_id is None
    assert error.field == "id"
    assert str(error) == "deal, field 'id': missing or not a non-empty string"


@pytest.mark.parametrize("field", ["date", "amount", "currency"])
@pytest.mark.parametrize("value", [_DROP, None, ""])
def test_missing_required_fields(field: str, value: Any) -> None:
    error = refused(base(**{field: value}))
    assert (error.code, error.deal_id, error.field) == ("missing-field", "D1", field)
    assert str(error) == f"deal 'D1', field {field!r}: missing"


@pytest.mark.parametrize("text", ["2026-3-1", "2026-02-30", "20260301", "01/03/2026",
                                  "2026-03-01T10:00", " 2026-03-01"])
def test_bad_date_text(text: str) -> None:
    error = refused(base(date=text))
    assert (error.code, error.field) == ("bad-field", "date")
    assert str(error) == f"deal 'D1', field 'date': expected a date (YYYY-MM-DD), got {text!r}"


def test_datetime_refused() -> None:
    error = refused(base(date=dt.datetime(2026, 3, 1, 12, 0)))
    assert str(error) == ("deal 'D1', field 'date': expected a date (YYYY-MM-DD), "
                          "got a date and time")


def test_non_text_date_refused() -> None:
    error = refused(base(date=20260301))
    assert str(error) == ("deal 'D1', field 'date': expected a date (YYYY-MM-DD), "
                          "got int 20260301")


@pytest.mark.parametrize("value", [10.5, JsonFloat("10.5")])
def test_float_amount_refused(value: Any) -> None:
    error = refused(base(amount=value))
    assert (error.code, error.deal_id, error.field) == ("float-amount", "D1", "amount")
    assert str(error).startswith("deal 'D1', field 'amount': is a float (10.5); give amounts "
                                 "as decimal strings or integers")


def test_float_amount_refused_even_when_whole() -> None:
    assert refused(base(amount=100.0)).code == "float-amount"
    assert refused(base(amount=JsonFloat("1e3"))).code == "float-amount"


@pytest.mark.parametrize(
    ("value", "reason"),
    [("1e3", "'1e3' is not a plain decimal amount"),
     ("1,000", "'1,000' is not a plain decimal amount"),
     (True, "expected an amount, got a boolean"),
     (Decimal("NaN"), "expected a finite amount, got NaN"),
     ([1], "expected an amount, got a list")],
)
def test_bad_amounts(value: Any, reason: str) -> None:
    error = refused(base(amount=value))
    assert (error.code, error.field) == ("bad-field", "amount")
    assert str(error).startswith(f"deal 'D1', field 'amount': {reason}")


def test_unknown_field_with_suggestion() -> None:
    error = refused(base(amout="5"))
    assert (error.code, error.field) == ("unknown-field", "amout")
    assert str(error) == (
        "deal 'D1', field 'amout': unknown field (known: account, activities, amount, "
        "attributes, currency, date, expenses, id, lead, product, reps); did you mean 'amount'?")


@pytest.mark.parametrize(
    ("changes", "field", "suggestion"),
    [({"account": {"ownr": "acme"}}, "account.ownr", "account"),
     ({"lead": {"sorce": "beta"}}, "lead.sorce", "lead"),
     ({"reps": [{"id": "r", "partner": "acme", "onwer": True}]}, "reps[0].onwer", "reps"),
     ({"activities": [{"kind": "call", "partner": "acme", "knd": "x"}]},
      "activities[0].knd", "activities")],
)
def test_unknown_nested_fields(changes: dict[str, Any], field: str, suggestion: str) -> None:
    error = refused(base(**changes))
    assert (error.code, error.field, error.deal_id) == ("unknown-field", field, "D1")
    assert str(error).startswith(f"deal 'D1', field {field!r}: unknown field (known: ")
    assert "did you mean" in str(error)


def test_duplicate_rep() -> None:
    error = refused(base(reps=[{"id": "r1", "partner": "acme"},
                               {"id": "r1", "partner": "beta"}]))
    assert (error.code, error.field) == ("duplicate-rep", "reps[1].id")
    assert str(error) == "deal 'D1', field 'reps[1].id': rep 'r1' is listed twice"


def test_rep_needs_partner_and_id() -> None:
    error = refused(base(reps=[{"id": "r1"}]))
    assert (error.code, error.field) == ("missing-field", "reps[0].partner")
    assert str(error) == "deal 'D1', field 'reps[0].partner': missing"
    error = refused(base(reps=[{"id": "r1", "partner": "acme"}, {"partner": "beta"}]))
    assert str(error) == "deal 'D1', field 'reps[1].id': missing"


def test_rep_partner_must_be_text() -> None:
    error = refused(base(reps=[{"id": "r1", "partner": 1.5}]))
    assert str(error) == "deal 'D1', field 'reps[0].partner': expected text, got float 1.5"


@pytest.mark.parametrize("activity", [{"kind": "call"}, {"kind": "call", "reps": []},
                                      {"kind": "call", "partner": ""}])
def test_activity_needs_rep_reps_or_partner(activity: dict[str, Any]) -> None:
    error = refused(base(activities=[{"kind": "call", "partner": "acme"}, activity]))
    assert (error.code, error.field) == ("missing-field", "activities[1]")
    assert str(error) == ("deal 'D1', field 'activities[1]': an activity needs a 'rep', "
                          "'reps' or 'partner'")


def test_activity_with_both_rep_and_reps() -> None:
    error = refused(base(activities=[{"kind": "call", "rep": "r1", "reps": ["r2"]}]))
    assert (error.code, error.field) == ("bad-field", "activities[0]")
    assert str(error) == ("deal 'D1', field 'activities[0]': give either 'rep' or 'reps', "
                          "not both")


def test_activity_needs_kind() -> None:
    error = refused(base(activities=[{"rep": "r1"}]))
    assert str(error) == "deal 'D1', field 'activities[0].kind': missing"


def test_activity_empty_rep_is_missing_not_a_crash() -> None:
    error = refused(base(activities=[{"kind": "call", "rep": ""}]))
    assert (error.code, error.field) == ("missing-field", "activities[0].rep")


def test_activity_reps_entries_are_named() -> None:
    error = refused(base(activities=[{"kind": "call", "reps": ["r1", None]}]))
    assert str(error) == "deal 'D1', field 'activities[0].reps[1]': missing"


def test_activity_bad_date() -> None:
    error = refused(base(activities=[{"kind": "call", "partner": "acme", "date": "soon"}]))
    assert str(error) == ("deal 'D1', field 'activities[0].date': expected a date "
                          "(YYYY-MM-DD), got 'soon'")


@pytest.mark.parametrize("value", [0.1, JsonFloat("0.1")])
def test_attribute_floats_refused(value: Any) -> None:
    error = refused(base(attributes={"discount": value}))
    assert (error.code, error.field) == ("float-amount", "attributes.discount")
    assert str(error).startswith("deal 'D1', field 'attributes.discount': is a float (0.1)")


@pytest.mark.parametrize(
    ("value", "reason"),
    [([1], "expected a scalar value, got a list"),
     ({"a": 1}, "expected a scalar value, got an object"),
     (dt.datetime(2026, 1, 1, 9, 0), "expected a date (YYYY-MM-DD), got a date and time"),
     (Decimal("Infinity"), "expected a finite number, got Infinity")],
)
def test_attribute_bad_values(value: Any, reason: str) -> None:
    error = refused(base(attributes={"x": value}))
    assert str(error) == f"deal 'D1', field 'attributes.x': {reason}"


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"account": ["acme"]}, "deal 'D1', field 'account': expected an object, got a list"),
     ({"account": {"named": "yes"}},
      "deal 'D1', field 'account.named': expected true or false, got text 'yes'"),
     ({"reps": "r1"}, "deal 'D1', field 'reps': expected a list, got text 'r1'"),
     ({"product": JsonFloat("1.5")},
      "deal 'D1', field 'product': expected text, got a number (1.5)"),
     ({"currency": True}, "deal 'D1', field 'currency': expected text, got a boolean")],
)
def test_wrong_shapes(changes: dict[str, Any], message: str) -> None:
    assert str(refused(base(**changes))) == message


def test_not_a_mapping() -> None:
    error = refused(["D1"])
    assert error.code == "bad-record"
    assert str(error) == "deal: a deal must be a JSON object, got a list"


def test_deal_errors_are_creditrules_errors() -> None:
    error = refused(base(amount=1.5))
    assert isinstance(error, CreditRulesError)
    assert error.reason.startswith("is a float")
