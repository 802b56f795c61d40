"""The one allocation path against the test oracle (tests/oracle.py), on generated deals.

Every deal, single or in a batch, takes the same pipeline: read and checked once, encoded,
its decision looked up (or made once), its numbers worked out in integers. The oracle
states the same semantics the plain way (Fractions, the reference evaluator, nothing
cached). For every deal both must give the same Allocation, explanation, ledger rows, or
the same error. Deals are generated from each ruleset's own literals, messy on purpose
(ints, floats, empty strings, unknown partners, refunds, ties, expenses), and run on both
engines with one pipeline each, so that its caches carry over from one example to the next
as they do in a batch.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import creditrules
import oracle
from creditrules.agreement.ruleset import Ruleset
from creditrules.allocation.model import Deal
from creditrules.base._money import TieBreak, apportion, round_scaled
from creditrules.conditions import _conditions
from creditrules.conditions._ast import Count, Expr, Field, Literal
from creditrules.engine import _durable
from creditrules.errors import CreditRulesError, DealError
from creditrules.io.batch import BatchAllocator, Rejection, ledger_rows

ROOT = Path(__file__).resolve().parent.parent
RULESETS = {
    "cardiozen": ROOT / "rulesets" / "cardiozen.yaml",
    "cloudbridge": ROOT / "rulesets" / "cloudbridge.yaml",
    "cloudbridge-amendment-1": ROOT / "rulesets" / "cloudbridge-amendment-1.yaml",
    "benchmark": ROOT / "benchmarks" / "alliance.yaml",
}
_CACHE: dict[tuple[str, str], tuple[Ruleset, BatchAllocator]] = {}


def _setup(name: str, engine: str) -> tuple[Ruleset, BatchAllocator]:
    key = (name, engine)
    if key not in _CACHE:
        ruleset = creditrules.load(RULESETS[name], engine=engine)
        _CACHE[key] = (ruleset, BatchAllocator(ruleset))
    return _CACHE[key]


# -- what the conditions compare with ----------------------------------------------------

def _atoms(expr: Expr) -> Iterator[tuple[Any, Any]]:
    for left, _, right in _conditions.comparisons(expr):
        yield left, right
        if isinstance(left, Count) and left.where is not None:
            yield from _atoms(left.where)


def _literals(ruleset: Ruleset) -> dict[tuple[str, ...], list[Any]]:
    found: dict[tuple[str, ...], list[Any]] = {}
    whens = [r.when for r in (*ruleset.rules, *ruleset.policy_rules, *ruleset.expense_rules)
             if r.when is not None]
    for expr in whens:
        for left, right in _atoms(expr):
            if isinstance(left, Field) and isinstance(right, Literal):
                found.setdefault(left.path, []).append(right.value)
            elif isinstance(left, Count) and isinstance(right, Literal):
                found.setdefault(("#count",), []).append(right.value)
    return found


def opt_text(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _attribute_values(ruleset: Ruleset, lits: dict[tuple[str, ...], list[Any]]
                      ) -> dict[str, list[Any]]:
    typed = {"number": ["1", "2", "500000", 3, "0.5"], "text": ["other", "zzz"],
             "bool": [True, False, "true", "false"], "date": ["2026-01-01", "2026-06-15"]}
    return {a.name: [opt_text(v) for v in lits.get(("attributes", a.name), [])]
            + typed[str(a.type)] for a in ruleset.attributes}


DEFECTS = ["id-int", "bad-date", "outside", "float-amount", "int-amount", "exponent",
           "sub-cent", "currency", "unknown-owner", "unknown-rep", "lead-rep", "attribute",
           "paid-by", "negative-expense", "category", "duplicate-rep", "extra-field",
           "no-owner", "empty-text"]


@st.composite
def messy_deals(draw: st.DrawFn, ruleset: Ruleset) -> dict[str, Any]:
    """A deal for ``ruleset`` from the values its conditions compare with: three in four
    well formed, the others with one defect a CRM export could have."""
    lits = _literals(ruleset)
    partners = list(ruleset.partner_ids)
    partner = st.sampled_from(partners)

    def pick(path: tuple[str, ...], extra: list[Any]) -> Any:
        return draw(st.sampled_from([opt_text(v) for v in lits.get(path, [])] + extra))

    days = set()
    for window in [r.effective for r in ruleset.rules] + [p.effective for p in
                                                          ruleset.precedence]:
        for day in (window.start, window.end):
            if day is not None:
                days.update({day - dt.timedelta(days=1), day, day + dt.timedelta(days=1)})
    start, end = ruleset.effective.start, ruleset.effective.end
    inside = sorted(d.isoformat() for d in days
                    if (start is None or d >= start) and (end is None or d <= end))
    inside += [d.isoformat() for d in (start, end) if d is not None]
    date = draw(st.sampled_from(inside))
    units = draw(st.one_of(st.integers(-10**9, 10**9), st.sampled_from([0, 1, -1, 3, 5, 7])))
    sign = "-" if units < 0 else ""
    thresholds = [v for v in lits.get(("amount",), []) if isinstance(v, Decimal)]
    amount = draw(st.sampled_from([
        f"{sign}{abs(units) // 100}.{abs(units) % 100:02d}",
        *(f"{t:.2f}" for t in thresholds), *(f"{t - Decimal('0.01'):.2f}" for t in thresholds),
        f"{sign}{abs(units) // 100}"]))
    deal: dict[str, Any] = {"id": draw(st.sampled_from(["D-1", "D-2", "d\u00e9al \"7\"", "x,y"])),
                            "date": date, "amount": amount, "currency": ruleset.currency}
    if draw(st.booleans()):
        deal["product"] = pick(("product",), ["other"])
    if draw(st.integers(0, 4)):
        account: dict[str, Any] = {}
        if draw(st.integers(0, 4)):
            account["owner"] = draw(partner)
        for key in ("segment", "territory", "id"):
            if draw(st.booleans()):
                account[key] = pick(("account", key), ["other"])
        if draw(st.booleans()):
            account["named"] = draw(st.booleans())
        deal["account"] = account
    reps = []
    for i in range(draw(st.integers(0, 4))):
        rep: dict[str, Any] = {"id": f"r{i}", "partner": draw(partner)}
        if draw(st.booleans()):
            rep["owner"] = draw(st.booleans())
        reps.append(rep)
    # One owner per partner most of the time (rules may credit the deal owner).
    for p in partners:
        mine = [r for r in reps if r["partner"] == p]
        if mine and draw(st.integers(0, 5)):
            for r in mine:
                r.pop("owner", None)
            mine[0]["owner"] = True
    if reps:
        deal["reps"] = reps
    if draw(st.booleans()):
        lead: dict[str, Any] = {"source": draw(partner)}
        same = [r["id"] for r in reps if r["partner"] == lead["source"]]
        if same and draw(st.booleans()):
            lead["rep"] = draw(st.sampled_from(same))
        deal["lead"] = lead
    kinds = sorted({*(ruleset.contribution.weights if ruleset.contribution else {}),
                    *(opt_text(v) for v in lits.get(("kind",), []) if isinstance(v, str)),
                    "call"} - {"lead_sourced"})
    ids = [r["id"] for r in reps]
    acts = []
    for _ in range(draw(st.integers(0, 5))):
        act: dict[str, Any] = {"kind": draw(st.sampled_from(kinds))}
        shape = draw(st.integers(0, 2))
        if shape == 0 and ids:
            act["rep"] = draw(st.sampled_from(ids))
        elif shape == 1 and len(ids) >= 2:
            act["reps"] = draw(st.lists(st.sampled_from(ids), min_size=2, max_size=3,
                                        unique=True))
        else:
            act["partner"] = draw(partner)
        if draw(st.integers(0, 3)) == 0:
            act["date"] = draw(st.sampled_from(inside))
        acts.append(act)
    if acts:
        deal["activities"] = acts
    values = _attribute_values(ruleset, lits)
    if ruleset.attributes and draw(st.integers(0, 3)):
        deal["attributes"] = {
            a.name: draw(st.sampled_from(values[a.name]))
            for a in ruleset.attributes if draw(st.booleans())}
        typed = {a.name: str(a.type) for a in ruleset.attributes}
        for name, value in list(deal["attributes"].items()):
            ok = {"number": lambda v: isinstance(v, int) or (isinstance(v, str) and
                                                            v.replace(".", "").isdigit()),
                  "text": lambda v: isinstance(v, str),
                  "bool": lambda v: v in (True, False, "true", "false"),
                  "date": lambda v: isinstance(v, str) and len(v) == 10}[typed[name]]
            if not ok(value):
                del deal["attributes"][name]
    categories = sorted({c for topics in ruleset.policies.values() for pol in topics.values()
                         for c in getattr(pol, "categories", {})})
    if ruleset.expense_rules and draw(st.integers(0, 2)) == 0 and not amount.startswith("-"):
        kinds_e = sorted({opt_text(v) for v in lits.get(("expense", "kind"), [])
                          if isinstance(v, str)} | {"meal", "gift"})
        expenses = []
        for j in range(draw(st.integers(1, 2))):
            attendees: Any = draw(st.integers(1, 12))
            if draw(st.booleans()):
                attendees = []
                for k in range(draw(st.integers(1, 4))):
                    attendee: dict[str, Any] = {"id": f"a{k}"}
                    category = draw(st.sampled_from([None, *categories]))
                    if category is not None:
                        attendee["category"] = category
                    spent = draw(st.sampled_from([None, "0", "150.00", "1999.99", "2500.00",
                                                  "-0.01", "12.345"]))
                    if spent is not None:
                        attendee["spent_this_year"] = spent
                    attendees.append(attendee)
            expense: dict[str, Any] = {
                "id": f"e{j}", "kind": draw(st.sampled_from(kinds_e)),
                "amount": draw(st.sampled_from(["0.00", "99.99", "100.01", "600.00",
                                                "1234.57", "3000"])),
                "paid_by": draw(partner), "attendees": attendees}
            if draw(st.booleans()):
                expense["preapproved"] = draw(st.booleans())
            if draw(st.booleans()):
                expense["date"] = draw(st.sampled_from(inside))
            expenses.append(expense)
        deal["expenses"] = expenses
    if draw(st.integers(0, 3)) == 0:
        _defect(draw(st.sampled_from(DEFECTS)), deal)
    return deal


def _defect(kind: str, deal: dict[str, Any]) -> None:
    """Spoil ``deal`` the way ``kind`` says (some defects are harmless to some deals)."""
    first_expense = (deal.get("expenses") or [{}])[0]
    if kind == "id-int":
        deal["id"] = 17
    elif kind == "bad-date":
        deal["date"] = "2026-02-30"
    elif kind == "outside":
        deal["date"] = "1999-01-01"
    elif kind == "float-amount":
        deal["amount"] = 12.5
    elif kind == "int-amount":
        deal["amount"] = 1250
    elif kind == "exponent":
        deal["amount"] = "1e3"
    elif kind == "sub-cent":
        deal["amount"] = "10.005"
    elif kind == "currency":
        deal["currency"] = "XXX"
    elif kind == "unknown-owner":
        deal.setdefault("account", {})["owner"] = "nobody"
    elif kind == "unknown-rep":
        deal["activities"] = [*deal.get("activities", []), {"kind": "call", "rep": "ghost"}]
    elif kind == "lead-rep" and deal.get("reps"):
        rep = deal["reps"][0]
        others = [p for p in ("nobody",) if p != rep["partner"]]
        deal["lead"] = {"source": rep["partner"], "rep": rep["id"]}
        deal["reps"][0] = {**rep, "partner": others[0]}
    elif kind == "attribute":
        deal["attributes"] = {"not_declared": [1, 2]}
    elif kind == "paid-by":
        first_expense["paid_by"] = "nobody"
    elif kind == "negative-expense":
        first_expense["amount"] = "-5.00"
    elif kind == "category":
        first_expense["attendees"] = [{"category": "unknown"}]
    elif kind == "duplicate-rep" and deal.get("reps"):
        deal["reps"].append(dict(deal["reps"][0]))
    elif kind == "extra-field":
        deal["acount"] = {}
    elif kind == "no-owner":
        for rep in deal.get("reps", []):
            rep.pop("owner", None)
    elif kind == "empty-text":
        deal.setdefault("account", {})["segment"] = ""


def _plain(ruleset: Ruleset, deal: Any, *, explain: bool = False) -> Any:
    """The oracle's result, or its error."""
    try:
        return oracle.allocate(ruleset, deal, explain=explain)
    except CreditRulesError as exc:
        return type(exc), str(exc)


def _computed(pipeline: Any, deal: Any) -> Any:
    """The pipeline's computed deal, or its error."""
    try:
        return pipeline.compute(deal)
    except CreditRulesError as exc:
        return type(exc), str(exc)


def _same(ruleset: Ruleset, pipeline: Any, deal: Any) -> None:
    """The pipeline gives the oracle's result for ``deal``: the same Allocation, ledger
    rows and explanation, or the same error."""
    expected = _plain(ruleset, deal)
    computed = _computed(pipeline, deal)
    if isinstance(expected, tuple) or isinstance(computed, tuple):
        assert computed == expected
        return
    assert pipeline.rows(computed) == ledger_rows(expected)
    assert pipeline.allocation(computed) == expected
    # With explanations: the same reasons for every unmatched condition (compared once
    # worked out), the same text.
    explained = _plain(ruleset, deal, explain=True)
    got = pipeline.allocation(computed, explain=True)
    assert got == explained
    assert got.explain() == explained.explain()


def _check_object(ruleset: Ruleset, pipeline: Any, deal: Deal) -> None:
    _same(ruleset, pipeline, deal)


def _check(name: str, engine: str, deal: dict[str, Any]) -> None:
    ruleset, allocator = _setup(name, engine)
    expected = _plain(ruleset, deal)
    _same(ruleset, allocator.pipeline, deal)
    try:
        as_object = Deal.from_mapping(deal)
    except DealError:
        pass  # the reader refuses it: no object to try
    else:
        _check_object(ruleset, allocator.pipeline, as_object)
    rows = allocator.rows(deal, 7)
    if isinstance(expected, tuple):
        assert isinstance(rows, Rejection)
        assert rows.line == 7
        assert rows.reason == expected[1]
    else:
        assert rows == ledger_rows(expected)


ENGINES = ["durable", "reference"] if _durable.available() else ["reference"]


@pytest.mark.parametrize("engine_name", ENGINES)
@pytest.mark.parametrize("name", sorted(RULESETS))
@given(data=st.data())
def test_one_path_equals_the_oracle(name: str, engine_name: str, data: st.DataObject) -> None:
    engine = engine_name
    ruleset, _ = _setup(name, engine)
    _check(name, engine, data.draw(messy_deals(ruleset)))


@pytest.mark.parametrize("name", ["cardiozen", "cloudbridge", "cloudbridge-amendment-1"])
def test_sample_deals_equal_the_oracle(name: str, engine: str) -> None:
    """The bundled samples: read directly (no detour through Deal objects), and right."""
    import json

    ruleset, allocator = _setup(name, engine)
    deals_file = RULESETS[name].parent / f"{name.split('-')[0]}-deals.jsonl"
    pipeline = allocator.pipeline
    for line in deals_file.read_text(encoding="utf-8").splitlines():
        deal = json.loads(line)
        computed = pipeline._compute(deal)  # the direct reader takes every sample
        assert pipeline.allocation(computed) == _plain(ruleset, deal)
        assert ruleset.allocate(deal, explain=False) == _plain(ruleset, deal)
        explained = ruleset.allocate(deal)
        assert explained == _plain(ruleset, deal, explain=True)
        assert explained.to_dict() == _plain(ruleset, deal, explain=True).to_dict()
        # The same deal as a Deal object.
        as_object = Deal.from_mapping(deal)
        assert ruleset.allocate(as_object).to_dict() == explained.to_dict()


def test_benchmark_deals_equal_the_oracle(engine: str) -> None:
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import deals as generated
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    ruleset, allocator = _setup("benchmark", engine)
    for deal in generated.deals(300, seed=5):
        computed = allocator.pipeline._compute(deal)  # the direct reader takes them all
        assert allocator.pipeline.rows(computed) == ledger_rows(_plain(ruleset, deal))


@given(st.lists(st.integers(0, 10**6), min_size=1, max_size=5),
       st.integers(1, 10**4), st.integers(-(10**7), 10**7),
       st.sampled_from([TieBreak.hashed(), TieBreak.order(["p2", "p0"])]),
       st.text(max_size=4))
def test_integer_rounding_equals_apportion(weights: list[int], den: int, units: int,
                                           tie_break: TieBreak, salt: str) -> None:
    """round_scaled (integers, hashing only on ties) gives the oracle's Fraction largest
    remainder, and apportion (its Fraction form) too."""
    parties = [f"p{i}" for i in range(len(weights))]
    size = abs(units)
    exact = {p: Fraction(size * w, den) for p, w in zip(parties, weights, strict=True)}
    target = round(sum(exact.values(), Fraction(0)))
    expected = oracle.apportion(exact, target, tie_break, salt)
    got = round_scaled([size * w for w in weights], den, target, parties, tie_break, salt)
    assert dict(zip(parties, got, strict=True)) == expected
    assert apportion(exact, target, tie_break=tie_break, salt=salt) == expected


def test_equal_remainders_use_the_hashed_tie_break(engine: str) -> None:
    """An odd cent between equal shares goes by the hashed tie-break, per deal, on both
    paths (a case the generated deals hit only by chance)."""
    for i in range(40):
        _check("benchmark", engine, {
            "id": f"TIE-{i}", "date": "2026-05-05", "amount": f"{i}.0{i % 10}",
            "currency": "USD", "account": {"owner": "acme", "segment": "government"},
            "reps": [{"id": "a1", "partner": "acme"}, {"id": "a2", "partner": "acme"},
                     {"id": "b1", "partner": "beta"}],
            "activities": [{"kind": "detail", "rep": "a1"}, {"kind": "detail", "rep": "a2"},
                           {"kind": "joint_call", "reps": ["a1", "b1"]}]})


def test_unusual_records_are_read_by_the_deal_reader(engine: str) -> None:
    """Shapes the direct reader does not take (ints for text, Decimal amounts, tuples) are
    read by Deal.from_mapping and checked, with the oracle's exact result."""
    ruleset, allocator = _setup("cardiozen", engine)
    from creditrules.allocation._reading import Decline
    base = {"id": "U-1", "date": "2026-03-02", "amount": "1000.00", "currency": "USD",
            "account": {"owner": "acme", "named": True}}
    for deal in (
        {**base, "id": 17},
        {**base, "amount": Decimal("1000.00")},
        {**base, "reps": ({"id": "r", "partner": "acme"},)},
        {**base, "account": {"owner": "acme", "named": True, "id": 5}},
    ):
        with pytest.raises(Decline):
            allocator.pipeline._compute(deal)
        rows = allocator.rows(deal)
        assert rows == ledger_rows(_plain(ruleset, deal))


def test_caches_stay_bounded(monkeypatch: pytest.MonkeyPatch, engine: str) -> None:
    """No cache grows past its bound, however many distinct deals pass: memory stays flat."""
    from creditrules.allocation import (
        _deal_objects,
        _decisions,
        _expense_sharing,
        _numbers,
        _pipeline,
        _reading,
    )

    for module in (_pipeline, _reading, _decisions, _numbers, _expense_sharing,
                   _deal_objects):
        if hasattr(module, "CACHE_SIZE"):
            monkeypatch.setattr(module, "CACHE_SIZE", 8)
    ruleset = creditrules.load(RULESETS["benchmark"], engine=engine)
    fast = _pipeline.Pipeline(ruleset)
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import deals as generated
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    for deal in generated.deals(400, seed=9):
        fast.compute(deal)
        fast.compute(Deal.from_mapping(deal))
    caches = [fast.type_plans, fast.policy_plans, fast.texts, fast.acts, fast.items, fast.reps,
              fast.attr_values, fast.verdicts, fast.dates.cache, fast.fractions,
              fast.plan_numbers, fast.shared, fast.objects.act_objects,
              fast.objects.attr_objects,
              *(cache for _, _, cache in fast.groups)]
    assert fast.expense is not None
    caches.append(fast.expense.decided)
    assert all(len(c) <= 8 for c in caches), [len(c) for c in caches]
    matcher = ruleset._evaluator.matcher  # type: ignore[union-attr]
    assert getattr(matcher, "leaked_sessions", 0) == 0


def test_cached_readings_keep_types_apart(engine: str) -> None:
    """Values Python calls equal (1 and True, a JSON number's text and a string) are read
    differently by the deal reader: the pipeline's caches must not mix them up."""
    from creditrules.allocation.model import JsonFloat

    ruleset, allocator = _setup("benchmark", engine)
    base: dict[str, Any] = {
        "id": "T-1", "date": "2026-05-05", "amount": "5000.00", "currency": "USD",
        "account": {"owner": "beta", "named": True},
        "reps": [{"id": "b1", "partner": "beta", "owner": True},
                 {"id": "a1", "partner": "acme", "owner": True}],
        "activities": [{"kind": "detail", "rep": "b1"}],
        "attributes": {"tier": 1, "indication": "hypertension"}}
    variants = [
        base,
        {**base, "reps": [{"id": "b1", "partner": "beta", "owner": 1},
                          {"id": "a1", "partner": "acme", "owner": True}]},
        {**base, "attributes": {"tier": True, "indication": "hypertension"}},
        {**base, "attributes": {"tier": 1.0, "indication": "hypertension"}},
        {**base, "activities": [{"kind": JsonFloat("1.5"), "rep": "b1"}]},
        {**base, "activities": [{"kind": "1.5", "rep": "b1"}]},
    ]
    for deal in variants * 2:
        rows = allocator.rows(deal)
        expected = _plain(ruleset, deal)
        if isinstance(expected, tuple):
            assert isinstance(rows, Rejection), deal
            assert rows.reason == expected[1]
        else:
            assert rows == ledger_rows(expected)


@pytest.mark.parametrize("unit", ["1", "0.1", "0.01", "0.001", "0.000001", "0.05", "5"])
@given(units=st.integers(-(10**15), 10**15))
def test_money_text_and_decimal_equal_from_units(unit: str, units: int) -> None:
    """The pipeline's amount text and Decimal are those of ``from_units``, for any unit."""
    from decimal import Decimal

    from creditrules.base._money import from_units

    text = RULESETS["cardiozen"].read_text(encoding="utf-8").replace(
        'unit: "0.01"', f'unit: "{unit}"')
    fast = _unit_fast(text)
    expected = from_units(units, Decimal(unit))
    assert fast.money(units) == str(expected)
    decimal = fast.decimal(units)
    assert decimal == expected
    assert str(decimal) == str(expected)


_UNIT_FAST: dict[str, Any] = {}


def _unit_fast(text: str) -> Any:
    if text not in _UNIT_FAST:
        _UNIT_FAST[text] = creditrules.loads(text, engine="reference")._evaluator.pipeline
    return _UNIT_FAST[text]


# -- Deal objects built in Python: no reader has checked or normalised their values --------

def _odd(kind: str, deal: Deal) -> Deal:
    """``deal`` with one value no reader would have produced."""
    from creditrules.allocation.model import Account, Activity, Attendee, Expense, Lead, Rep

    if kind == "sub-unit":
        return attrs.evolve(deal, amount=deal.amount + Decimal("0.005"))
    if kind == "minus-zero":
        return attrs.evolve(deal, amount=Decimal("-0.00"))
    if kind == "float":
        return attrs.evolve(deal, amount=12.5)
    if kind == "empty-texts":
        return attrs.evolve(deal, product="", account=attrs.evolve(deal.account, segment="",
                                                                    territory=""))
    if kind == "unknown-owner":
        return attrs.evolve(deal, account=Account(owner="acmee"))
    if kind == "empty-source":
        return attrs.evolve(deal, lead=Lead(source=""))
    if kind == "duplicate-rep" and deal.reps:
        return attrs.evolve(deal, reps=(*deal.reps, deal.reps[0]))
    if kind == "list-reps":
        return attrs.evolve(deal, reps=list(deal.reps))
    if kind == "int-rep" and deal.reps:
        return attrs.evolve(deal, reps=(*deal.reps, Rep(7, deal.reps[0].partner)))  # type: ignore[arg-type]
    if kind == "datetime":
        return attrs.evolve(deal, date=dt.datetime.combine(deal.date, dt.time()))
    if kind == "empty-activity":
        return attrs.evolve(deal, activities=(*deal.activities, Activity("detail")))
    if kind == "list-activity-reps" and deal.reps:
        return attrs.evolve(deal, activities=(Activity("detail", [deal.reps[0].id]),))  # type: ignore[arg-type]
    if kind == "lead-activity":
        return attrs.evolve(deal, activities=(Activity("lead_sourced", partner="acme"),))
    if kind == "attribute-text":
        return attrs.evolve(deal, attributes={**deal.attributes,
                                              **{k: "7" for k in list(deal.attributes)[:1]}})
    if kind == "attribute-odd":
        return attrs.evolve(deal, attributes={k: object() for k in deal.attributes})
    if kind == "no-attributes":
        return attrs.evolve(deal, attributes=None)  # type: ignore[arg-type]
    if kind == "expense-negative-spend" and deal.expenses:
        e = deal.expenses[0]
        return attrs.evolve(deal, expenses=(attrs.evolve(
            e, attendees=(Attendee(spent_this_year=Decimal("-1")),)), *deal.expenses[1:]))
    if kind == "expense-no-attendees" and deal.expenses:
        return attrs.evolve(deal, expenses=(attrs.evolve(deal.expenses[0], attendees=()),))
    if kind == "expense-sub-unit" and deal.expenses:
        e = deal.expenses[0]
        return attrs.evolve(deal, expenses=(attrs.evolve(e, amount=e.amount + Decimal(
            "0.001")),))
    if kind == "expense-duplicate" and deal.expenses:
        return attrs.evolve(deal, expenses=(deal.expenses[0], deal.expenses[0]))
    if kind == "expense-list":
        return attrs.evolve(deal, expenses=[Expense("e", "meal", Decimal("10"), "acme",
                                                    (Attendee(),))])  # type: ignore[arg-type]
    return deal


ODD = ["sub-unit", "minus-zero", "float", "empty-texts", "unknown-owner", "empty-source",
       "duplicate-rep", "list-reps", "int-rep", "datetime", "empty-activity",
       "list-activity-reps", "lead-activity", "attribute-text", "attribute-odd",
       "no-attributes", "expense-negative-spend", "expense-no-attendees", "expense-sub-unit",
       "expense-duplicate", "expense-list", "none"]


@pytest.mark.parametrize("engine_name", ENGINES)
@pytest.mark.parametrize("name", sorted(RULESETS))
@given(data=st.data())
def test_deal_objects_equal_the_oracle(name: str, engine_name: str,
                                       data: st.DataObject) -> None:
    ruleset, allocator = _setup(name, engine_name)
    try:
        deal = Deal.from_mapping(data.draw(messy_deals(ruleset)))
    except DealError:
        return
    odd = _odd(data.draw(st.sampled_from(ODD)), deal)
    _check_object(ruleset, allocator.pipeline, odd)
    # Through the public API too.
    expected = _plain(ruleset, odd)
    try:
        got: Any = ruleset.allocate(odd, explain=False)
    except CreditRulesError as exc:
        got = type(exc), str(exc)
    assert got == expected


def test_conditions_beyond_the_encoding_are_matched_afresh(engine: str) -> None:
    """A condition of 200 tests cannot be encoded (64 at most): the pipeline then matches
    each deal afresh, without its caches, and still gives the oracle's results."""
    tests = " and ".join(f'count(activities, kind == "k{i}") == 0' for i in range(200))
    text = (
        'ruleset: wide\nversion: "1"\neffective: {from: 2026-01-01}\ncurrency: USD\n'
        "partners: {acme: {name: A}, beta: {name: B}}\n"
        "credit_types: {revenue: {total: 100%}}\ncredit:\n"
        '  - {id: base, clause: "1", text: base, default: true, split: {acme: 50%, beta: 50%}}\n'
        f"  - {{id: wide, clause: '2', text: wide, overrides: [base], when: '{tests}', "
        "split: {acme: 70%, beta: 30%}}\n")
    ruleset = creditrules.loads(text, engine=engine, source="wide.yaml")
    pipeline = ruleset._evaluator.pipeline  # type: ignore[union-attr]
    assert pipeline.compiled is None
    base = {"id": "W-1", "date": "2026-03-02", "amount": "100.01", "currency": "USD",
            "reps": [{"id": "ana", "partner": "acme"}, {"id": "bo", "partner": "beta"}]}
    deals = [base, {**base, "activities": [{"kind": "k7", "rep": "ana"}]},
             {**base, "activities": [{"kind": "other", "reps": ["ana", "bo"]}]}]
    for deal in deals:
        _same(ruleset, pipeline, deal)
    assert [ruleset.allocate(d).credits[0].rules for d in deals] == [
        ("wide",), ("base",), ("wide",)]


@given(st.lists(st.tuples(st.sampled_from(["t1", "t2", "t3", "zz", None]),
                          st.integers(0, 30), st.sampled_from(["EU", "US", None])),
                min_size=1, max_size=8))
def test_reference_matcher_index_on_a_pivot_field(values: list[Any]) -> None:
    """Twenty rules pinned to a tier (by ==, by `in`, one to two fields at once) and a few
    not pinned: the reference matcher evaluates a deal only against its own tier's rules
    and the unpinned ones, and finds exactly the conditions that hold."""
    whens = [f'attributes.tier == "t{i % 4}" and amount >= {i}' for i in range(16)]
    whens += ['attributes.tier in ["t1", "t2"] and attributes.region == "EU"',
              'attributes.region == "US" and attributes.tier == "t3"',
              'attributes.tier == "t1" and attributes.tier == "t2"',
              "amount >= 25", 'attributes.tier != "t1" and amount < 3']
    lines = ['ruleset: pinned', 'version: "1"', "effective: {from: 2026-01-01}",
             "currency: USD", "partners: {acme: {name: A}, beta: {name: B}}",
             "attributes: {tier: text, region: text}",
             "credit_types: {revenue: {total: 100%}, overlay: {total: declared, required: false}}",
             "credit:",
             '  - {id: base, clause: "0", text: b, default: true, split: {acme: 50%, beta: 50%}}']
    lines += [f"  - {{id: r{i}, clause: '{i + 1}', text: r, when: '{w}', "
              f"overlay: {{acme: {i + 1}%}}}}" for i, w in enumerate(whens)]
    ruleset = creditrules.loads("\n".join(lines) + "\n", engine="reference", source="p.yaml")
    matcher = ruleset._evaluator.matcher  # type: ignore[union-attr]
    assert matcher._pivot == ("attributes", "tier")
    from creditrules.allocation._evaluate import deal_facts

    evaluator = ruleset._evaluator
    assert evaluator is not None
    for n, (tier, amount, region) in enumerate(values):
        attributes = {k: v for k, v in (("tier", tier), ("region", region)) if v is not None}
        deal = Deal.from_mapping({"id": f"P-{n}", "date": "2026-02-02",
                                  "amount": f"{amount}.00", "currency": "USD",
                                  "attributes": attributes})
        facts = deal_facts(deal, evaluator.attributes)
        everything = {k for k, e in evaluator.conditions.items()
                      if _conditions.evaluate(e, facts)}
        assert matcher.match(facts) == everything


def test_reference_matcher_evaluates_only_the_candidates(monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    """With 16 rules pinned to four tiers, a deal of tier t1 is evaluated against its four,
    the one pinned to t1 or t2, and the two pinned to no tier: 7 conditions of 20."""
    from creditrules.allocation import _evaluate
    from creditrules.conditions._ast import Facts, Schema, Type

    schema = Schema(fields={("amount",): Type.NUMBER, ("attributes", "tier"): Type.TEXT},
                    collections={})

    def parse(text: str) -> Any:
        return _conditions.parse(text, schema)

    conditions = {f"r{i}": parse(f'attributes.tier == "t{i % 4}" and amount >= {i}')
                  for i in range(16)}
    conditions["in"] = parse('attributes.tier in ["t1", "t2"]')
    conditions["t3"] = parse('attributes.tier == "t3" and amount > 1')
    conditions["any"] = parse("amount >= 25")
    conditions["not"] = parse('attributes.tier != "t1"')
    matcher = _evaluate.ReferenceMatcher(conditions)
    calls = _counted_evaluations(monkeypatch)
    facts = Facts({("attributes", "tier"): "t1", ("amount",): Decimal("30")}, {})
    assert matcher.match(facts) == {"r1", "r5", "r9", "r13", "in", "any"}
    assert len(calls) == 7


def _spread_conditions() -> dict[str, Any]:
    """24 conditions pinned to four tiers, 21 to four products, 18 to three territories
    (by ``==`` or ``in``, some on two fields at once), and a few pinned nowhere."""
    from creditrules.conditions._ast import Schema, Type

    schema = Schema(fields={("amount",): Type.NUMBER, ("attributes", "tier"): Type.TEXT,
                            ("product",): Type.TEXT, ("account", "territory"): Type.TEXT},
                    collections={})
    texts = {f"t{i}": f'attributes.tier == "t{i % 4}" and amount >= {i}' for i in range(24)}
    texts |= {f"p{i}": f'product == "p{i % 4}" and amount < {i}' for i in range(19)}
    texts["p19"] = 'product in ["p1", "p2"] and account.territory == "x1"'
    texts |= {f"x{i}": f'account.territory == "x{i % 3}" and amount > {i}' for i in range(16)}
    texts["x16"] = 'account.territory in ["x0", "x2"] and attributes.tier != "t1"'
    texts["x17"] = 'account.territory == "x2" and product == "p3" and amount > 2'
    texts["any"] = "amount >= 25"
    texts["not"] = 'attributes.tier != "t1" or product == "p0"'
    texts["many"] = 'product in ["p0", "p1", "p2", "p3", "q0", "q1", "q2", "q3", "q4"]'
    return {k: _conditions.parse(t, schema) for k, t in texts.items()}


def test_reference_matcher_evaluates_only_each_pivots_candidates(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Conditions pinned on three fields: three pivots (tier 24, then product 21 of the
    rest, then territory 17 of the rest: "p19" and "x17" are indexed under the product,
    the first pivot that pins them). A deal of tier t1, product p2 and territory x2 is
    evaluated against its tier's 6, its product's 5 and "p19", its territory's 5 and
    "x16", and the 3 pinned nowhere: 21 of 65."""
    from creditrules.allocation import _evaluate
    from creditrules.conditions._ast import Facts

    conditions = _spread_conditions()
    matcher = _evaluate.ReferenceMatcher(conditions)
    assert matcher._pivots == (("attributes", "tier"), ("product",), ("account", "territory"))
    real = _conditions.evaluate  # uncounted, for the expected sets
    calls = _counted_evaluations(monkeypatch)
    facts = Facts({("attributes", "tier"): "t1", ("product",): "p2",
                   ("account", "territory"): "x2", ("amount",): Decimal("9")}, {})
    everything = {k for k, e in conditions.items() if real(e, facts)}
    assert matcher.match(facts) == everything
    assert len(calls) == 6 + 6 + 6 + 3
    calls.clear()
    nowhere = Facts({("attributes", "tier"): "zz", ("amount",): Decimal("9")}, {})
    assert matcher.match(nowhere) == {k for k, e in conditions.items() if real(e, nowhere)}
    assert len(calls) == 3


@given(st.lists(st.tuples(st.sampled_from(["t0", "t1", "t3", "zz", None]),
                          st.sampled_from(["p0", "p1", "p2", "p3", "q1", None]),
                          st.sampled_from(["x0", "x1", "x2", "zz", None]),
                          st.integers(0, 30)),
                min_size=1, max_size=10))
def test_reference_matcher_with_several_pivots_is_every_condition(values: list[Any]) -> None:
    """Whatever the deal's values of the three pivots (named by rules, not, or missing):
    the reference matcher finds exactly the conditions that hold."""
    from creditrules.allocation import _evaluate
    from creditrules.conditions._ast import Facts

    conditions = _spread_conditions()
    matcher = _evaluate.ReferenceMatcher(conditions)
    assert len(matcher._pivots) == 3
    for tier, product, territory, amount in values:
        facts = Facts({("attributes", "tier"): tier, ("product",): product,
                       ("account", "territory"): territory, ("amount",): Decimal(amount)}, {})
        everything = {k for k, e in conditions.items() if _conditions.evaluate(e, facts)}
        assert matcher.match(facts) == everything


def test_reference_matcher_raises_for_a_pivot_of_the_wrong_type() -> None:
    """A pivot's value of the wrong type is not looked up: every condition is evaluated,
    and the reference evaluator's TypeError is raised as without the index."""
    from creditrules.allocation import _evaluate
    from creditrules.conditions._ast import Facts

    matcher = _evaluate.ReferenceMatcher(_spread_conditions())
    facts = Facts({("attributes", "tier"): "t1", ("product",): 7, ("amount",): Decimal("9")}, {})
    with pytest.raises(TypeError):
        matcher.match(facts)


def _counted_evaluations(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The text of each condition the reference matcher evaluates, in order, from now on."""
    from creditrules.allocation import _evaluate

    calls: list[str] = []
    real = _conditions.evaluate

    def counting(expr: Any, facts: Any) -> bool:
        calls.append(expr.text)
        return real(expr, facts)

    monkeypatch.setattr(_evaluate._conditions, "evaluate", counting)
    return calls
