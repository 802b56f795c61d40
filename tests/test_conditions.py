"""Tests of the ``when:`` condition language: parsing, type checking, evaluation, explanations."""

from __future__ import annotations

import datetime as dt
import pickle
from collections.abc import Mapping
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from creditrules.conditions._ast import (
    And,
    Compare,
    Count,
    Expr,
    Facts,
    Field,
    InList,
    Literal,
    Not,
    Or,
    Path,
    Pos,
    Schema,
    Type,
    Value,
)
from creditrules.conditions._conditions import (
    MAX_DEPTH,
    ConditionError,
    comparisons,
    evaluate,
    explain,
    field_paths,
    parse,
)

SCHEMA = Schema(
    fields={
        ("amount",): Type.NUMBER,
        ("date",): Type.DATE,
        ("product",): Type.TEXT,
        ("currency",): Type.TEXT,
        ("account", "owner"): Type.TEXT,
        ("account", "named"): Type.BOOL,
        ("account", "segment"): Type.TEXT,
        ("account", "territory"): Type.TEXT,
        ("lead", "source"): Type.TEXT,
        ("attributes", "tier"): Type.NUMBER,
    },
    collections={
        "activities": {
            ("kind",): Type.TEXT,
            ("partner",): Type.TEXT,
            ("rep",): Type.TEXT,
            ("date",): Type.DATE,
        },
        "reps": {("id",): Type.TEXT, ("partner",): Type.TEXT, ("owner",): Type.BOOL},
    },
    partner_fields=frozenset(
        {("account", "owner"), ("lead", "source"), ("activities", "partner"), ("reps", "partner")}
    ),
    partners=frozenset({"acme", "beta"}),
)

KNOWN_FIELDS = (
    "account.named, account.owner, account.segment, account.territory, amount, "
    "attributes.tier, currency, date, lead.source, product"
)


def p(text: str) -> Expr:
    return parse(text, SCHEMA)


def facts(
    scalars: Mapping[Path, Value] | None = None,
    **collections: tuple[Mapping[Path, Value], ...],
) -> Facts:
    return Facts(dict(scalars or {}), collections)


def holds(text: str, f: Facts) -> bool:
    return evaluate(p(text), f)


def error(text: str) -> ConditionError:
    with pytest.raises(ConditionError) as info:
        p(text)
    return info.value


# ---------------------------------------------------------------------------------------
# Parsing


def test_and_of_bool_field_and_partner_comparison() -> None:
    expr = p('account.named and account.owner == "acme"')
    assert isinstance(expr, And)
    assert expr.text == 'account.named and account.owner == "acme"'
    assert expr.pos == Pos(1, 1)
    named, owner = expr.parts
    # A bare boolean field is sugar for ``field == true``.
    assert named == Compare(
        "==",
        Field(("account", "named"), Type.BOOL, "account.named", Pos(1, 1)),
        Literal(True, Type.BOOL, "true", Pos(1, 1)),
        "account.named",
        Pos(1, 1),
    )
    assert owner == Compare(
        "==",
        Field(("account", "owner"), Type.TEXT, "account.owner", Pos(1, 19)),
        Literal("acme", Type.TEXT, '"acme"', Pos(1, 36)),
        'account.owner == "acme"',
        Pos(1, 19),
    )


def test_numbers_and_dates_are_exact_literals() -> None:
    expr = p("amount >= 100_000 and date < 2027-01-01 and attributes.tier > -3 and amount != 1.50")
    assert isinstance(expr, And)
    values = [c.right for c in expr.parts if isinstance(c, Compare)]
    assert [type(v) for v in values] == [Literal] * 4
    lits = [v for v in values if isinstance(v, Literal)]
    assert [lit.value for lit in lits] == [
        Decimal("100000"),
        dt.date(2027, 1, 1),
        Decimal("-3"),
        Decimal("1.50"),
    ]
    assert type(lits[0].value) is Decimal
    assert type(lits[3].value) is Decimal
    assert [lit.type for lit in lits] == [Type.NUMBER, Type.DATE, Type.NUMBER, Type.NUMBER]
    assert [lit.text for lit in lits] == ["100_000", "2027-01-01", "-3", "1.50"]


def test_strings_in_both_quotes_with_escapes() -> None:
    expr = p(r"""product == 'it\'s' or product == "say \"hi\" \\ 'x'" """)
    assert isinstance(expr, Or)
    first, second = expr.parts
    assert isinstance(first, Compare)
    assert isinstance(first.right, Literal)
    assert first.right.value == "it's"
    assert first.right.text == r"'it\'s'"
    assert isinstance(second, Compare)
    assert isinstance(second.right, Literal)
    assert second.right.value == "say \"hi\" \\ 'x'"
    assert expr.text == r"""product == 'it\'s' or product == "say \"hi\" \\ 'x'" """.strip()


@pytest.mark.parametrize(
    ("text", "op"),
    [
        ("100 < amount", ">"),
        ("100 <= amount", ">="),
        ("100 > amount", "<"),
        ("100 >= amount", "<="),
        ("100 == amount", "=="),
        ("100 != amount", "!="),
    ],
)
def test_literal_on_the_left_is_flipped(text: str, op: str) -> None:
    expr = p(text)
    assert isinstance(expr, Compare)
    assert expr.op == op
    assert expr.left == Field(("amount",), Type.NUMBER, "amount", Pos(1, len(text) - 5))
    assert expr.right == Literal(Decimal(100), Type.NUMBER, "100", Pos(1, 1))
    # The source text is kept as written, so explanations quote the author.
    assert expr.text == text
    assert expr.pos == Pos(1, 1)


def test_in_and_not_in() -> None:
    expr = p('account.territory in ["north", "east"] and currency not in [\'EUR\',]')
    assert isinstance(expr, And)
    inlist, notin = expr.parts
    assert isinstance(inlist, InList)
    assert isinstance(notin, InList)
    assert inlist.negated is False
    assert notin.negated is True
    assert [o.value for o in inlist.options] == ["north", "east"]
    assert [o.pos for o in inlist.options] == [Pos(1, 23), Pos(1, 32)]
    assert [o.value for o in notin.options] == ["EUR"]
    assert inlist.text == 'account.territory in ["north", "east"]'
    assert notin.text == "currency not in ['EUR',]"
    assert notin.pos == Pos(1, 44)


def test_count_with_and_without_predicate() -> None:
    expr = p('count(activities, kind == "joint_call") >= 1 or count(reps) == 0')
    assert isinstance(expr, Or)
    with_pred, bare = expr.parts
    assert isinstance(with_pred, Compare)
    assert isinstance(with_pred.left, Count)
    count = with_pred.left
    assert count.collection == "activities"
    assert count.type is Type.NUMBER
    assert count.text == 'count(activities, kind == "joint_call")'
    # Names inside the predicate are item fields, keyed by item paths.
    assert count.where == Compare(
        "==",
        Field(("kind",), Type.TEXT, "kind", Pos(1, 19)),
        Literal("joint_call", Type.TEXT, '"joint_call"', Pos(1, 27)),
        'kind == "joint_call"',
        Pos(1, 19),
    )
    assert with_pred.op == ">="
    assert with_pred.right == Literal(
        Decimal(1), Type.NUMBER, "1", Pos(1, 44)
    )
    assert isinstance(bare, Compare)
    assert isinstance(bare.left, Count)
    assert bare.left.where is None
    assert bare.left.collection == "reps"


def test_count_predicate_checks_partner_item_fields_and_bool_items() -> None:
    expr = p('count(reps, owner and partner == "acme") >= 2')
    assert isinstance(expr, Compare)
    assert isinstance(expr.left, Count)
    where = expr.left.where
    assert isinstance(where, And)
    owner = where.parts[0]
    assert isinstance(owner, Compare)
    assert owner.left.text == "owner"
    assert owner.op == "=="
    err = error('count(reps, partner == "acmee") >= 2')
    assert (err.code, err.pos) == ("unknown-partner", Pos(1, 24))


def test_field_against_field() -> None:
    expr = p("account.owner == lead.source")
    assert expr == Compare(
        "==",
        Field(("account", "owner"), Type.TEXT, "account.owner", Pos(1, 1)),
        Field(("lead", "source"), Type.TEXT, "lead.source", Pos(1, 18)),
        "account.owner == lead.source",
        Pos(1, 1),
    )


def test_precedence_or_and_not() -> None:
    expr = p('account.named or amount > 1 and not product == "x"')
    assert isinstance(expr, Or)
    assert isinstance(expr.parts[1], And)
    assert isinstance(expr.parts[1].parts[1], Not)
    assert expr.parts[1].text == 'amount > 1 and not product == "x"'
    # ``not`` binds looser than ``in``.
    negated = p('not account.territory in ["north"]')
    assert isinstance(negated, Not)
    assert isinstance(negated.part, InList)
    chain = p("account.named and account.named and account.named")
    assert isinstance(chain, And)
    assert len(chain.parts) == 3


def test_parenthesised_node_keeps_inner_text_parent_spans_parentheses() -> None:
    expr = p('not (account.segment == "oncology" or product != "cardiozen")')
    assert isinstance(expr, Not)
    assert expr.text == 'not (account.segment == "oncology" or product != "cardiozen")'
    inner = expr.part
    assert isinstance(inner, Or)
    assert inner.text == 'account.segment == "oncology" or product != "cardiozen"'
    assert inner.pos == Pos(1, 6)
    both = p("(account.named) and amount > 1")
    assert isinstance(both, And)
    assert both.text == "(account.named) and amount > 1"
    assert both.parts[0].text == "account.named"


def test_multiline_positions_and_stripped_text() -> None:
    expr = p('\n  amount > 1\n  and account.owner ==\n      "beta"  \n')
    assert isinstance(expr, And)
    assert expr.pos == Pos(2, 3)
    assert expr.text == 'amount > 1\n  and account.owner ==\n      "beta"'
    second = expr.parts[1]
    assert isinstance(second, Compare)
    assert second.pos == Pos(3, 7)
    assert second.right.pos == Pos(4, 7)


# ---------------------------------------------------------------------------------------
# Errors


@pytest.mark.parametrize(
    ("text", "code", "pos", "message"),
    [
        (
            'acount.owner == "acme"',
            "unknown-field",
            (1, 1),
            f"unknown field 'acount.owner' (known: {KNOWN_FIELDS}); did you mean 'account.owner'?",
        ),
        (
            "amount > 1 and\n  lead.sorce == 'beta'",
            "unknown-field",
            (2, 3),
            f"unknown field 'lead.sorce' (known: {KNOWN_FIELDS}); did you mean 'lead.source'?",
        ),
        (
            "count(activities, knd == 'call') > 0",
            "unknown-field",
            (1, 19),
            "unknown field 'knd' of activities items (known: date, kind, partner, rep); "
            "did you mean 'kind'?",
        ),
        (
            "count(activities, amount > 1) > 0",
            "unknown-field",
            (1, 19),
            "unknown field 'amount' of activities items (known: date, kind, partner, rep); "
            "inside count() names refer to the item's own fields",
        ),
        (
            "activities == 1",
            "unknown-field",
            (1, 1),
            "'activities' is a collection, not a field; "
            "use count(activities) or count(activities, condition)",
        ),
        (
            'account.owner == "acmee"',
            "unknown-partner",
            (1, 18),
            "unknown partner 'acmee' (known: acme, beta); did you mean 'acme'?",
        ),
        (
            '"nobody" != lead.source',
            "unknown-partner",
            (1, 1),
            "unknown partner 'nobody' (known: acme, beta)",
        ),
        (
            'lead.source in ["acme", "bta"]',
            "unknown-partner",
            (1, 25),
            "unknown partner 'bta' (known: acme, beta); did you mean 'beta'?",
        ),
        (
            "count(activites) >= 1",
            "unknown-collection",
            (1, 7),
            "unknown collection 'activites' (known: activities, reps); did you mean 'activities'?",
        ),
        (
            'amount == "100"',
            "type-mismatch",
            (1, 11),
            'cannot compare amount (number) with "100" (text); remove the quotes: a number is '
            "written bare (100); quoted, it is text",
        ),
        (
            "date < 2027",
            "type-mismatch",
            (1, 8),
            "cannot compare date (date) with 2027 (number)",
        ),
        (
            'product < "b"',
            "type-mismatch",
            (1, 9),
            "'<' needs numbers or dates, but product is a text value; use == or !=",
        ),
        (
            "account.named >= true",
            "type-mismatch",
            (1, 15),
            "'>=' needs numbers or dates, but account.named is a true/false value; use == or !=",
        ),
        (
            "amount > attributes.tier",
            "type-mismatch",
            (1, 8),
            "cannot order amount against attributes.tier: '>' needs a literal on one side; "
            "two fields or counts can only be compared with == or !=",
        ),
        (
            "account.owner == amount",
            "type-mismatch",
            (1, 18),
            "cannot compare account.owner (text) with amount (number)",
        ),
        (
            "1 < 2",
            "type-mismatch",
            (1, 1),
            "'1 < 2' compares two constants; one side must be a field or count()",
        ),
        (
            "amount",
            "type-mismatch",
            (1, 1),
            "amount is a number field, not a condition; compare it with a value "
            "(e.g. amount == ...)",
        ),
        (
            "account.named and product",
            "type-mismatch",
            (1, 19),
            "product is a text field, not a condition; compare it with a value "
            "(e.g. product == ...)",
        ),
        (
            "count(reps)",
            "type-mismatch",
            (1, 1),
            "count(reps) is a number, not a condition; compare it (e.g. count(reps) >= 1)",
        ),
        ("true", "type-mismatch", (1, 1), "true on its own is a constant, not a condition"),
        (
            "account.territory in []",
            "type-mismatch",
            (1, 22),
            "'in' needs at least one option in its list",
        ),
        (
            'amount in [1, "2"]',
            "type-mismatch",
            (1, 15),
            'cannot compare amount (number) with "2" (text); remove the quotes: a number is '
            "written bare (2); quoted, it is text",
        ),
        (
            "count(reps) in [1]",
            "type-mismatch",
            (1, 1),
            "'in' needs a field on its left, not count(reps)",
        ),
        ("", "condition-syntax", (1, 1), "empty condition"),
        ("  \n ", "condition-syntax", (1, 1), "empty condition"),
        (
            "(account.named or amount > 1",
            "condition-syntax",
            (1, 29),
            "expected ')' after 'account.named or amount > 1', found the end of the condition",
        ),
        (
            "(account.named amount > 1)",
            "condition-syntax",
            (1, 16),
            "unexpected 'amount' after 'account.named'; "
            "expected a comparison operator, 'and' or 'or'",
        ),
        (
            "amount > 1 account.named",
            "condition-syntax",
            (1, 12),
            "unexpected 'account.named' after 'amount > 1'; expected 'and' or 'or'",
        ),
        ("and amount > 1", "condition-syntax", (1, 1), "unexpected 'and'; expected a condition"),
        (
            "amount > 1 and or account.named",
            "condition-syntax",
            (1, 16),
            "unexpected 'or'; expected a condition",
        ),
        ("amount >=", "condition-syntax", (1, 10), "expected a value after '>='"),
        ("account.named and\n", "condition-syntax", (1, 18), "expected a condition after 'and'"),
        ("amount > 1)", "condition-syntax", (1, 11), "unexpected ')' without a matching '('"),
        ('product == "cardio', "condition-syntax", (1, 12), "unterminated string"),
        ("product == 'a\n'", "condition-syntax", (1, 12), "unterminated string"),
        (
            r'product == "a\n"',
            "condition-syntax",
            (1, 14),
            "invalid escape '\\n' in string (only \\\", \\' and \\\\ are allowed)",
        ),
        ("amount = 1", "condition-syntax", (1, 8), "unexpected '='; use '==' to compare"),
        ("account.named && amount > 1", "condition-syntax", (1, 15), "unexpected '&&'; use 'and'"),
        ("!account.named", "condition-syntax", (1, 1), "unexpected '!'; use 'not' or '!='"),
        ("amount > 1 @", "condition-syntax", (1, 12), "unexpected character '@'"),
        (
            "date < 2027-02-30",
            "condition-syntax",
            (1, 8),
            "invalid date '2027-02-30': February has 28 days in 2027",
        ),
        (
            "date < 2027-1-1",
            "condition-syntax",
            (1, 8),
            "invalid date '2027-1-1' (write dates as YYYY-MM-DD)",
        ),
        (
            "amount > 1e5",
            "condition-syntax",
            (1, 10),
            "invalid number '1e5' (write numbers like 100000, 100_000 or 1.5)",
        ),
        ("amount > 1__0", "condition-syntax", (1, 10), "invalid number '1__0' "
         "(write numbers like 100000, 100_000 or 1.5)"),
        ("account. == 1", "condition-syntax", (1, 8), "expected a field name after 'account.'"),
        (
            "account.territory in 'north'",
            "condition-syntax",
            (1, 22),
            "expected '[' after 'in', found \"'north'\"",
        ),
        (
            "account.territory in ['north' 'east']",
            "condition-syntax",
            (1, 31),
            "expected ',' or ']' after \"'north'\", found \"'east'\"",
        ),
        (
            "account.territory in [product]",
            "condition-syntax",
            (1, 23),
            "unexpected 'product' in list; lists hold only literal values "
            "(strings, numbers, dates, true, false)",
        ),
        (
            "count(reps",
            "condition-syntax",
            (1, 11),
            "expected ',' or ')' after 'reps', found the end of the condition",
        ),
        (
            "count(1) > 0",
            "condition-syntax",
            (1, 7),
            "expected a collection name after 'count(', found '1'",
        ),
        (
            "count(activities, count(reps) > 0) > 0",
            "condition-syntax",
            (1, 19),
            "count() cannot be used inside another count()",
        ),
        (
            "count(activities, kind == 'x' rep == 'y') > 0",
            "condition-syntax",
            (1, 31),
            "expected ')' after \"kind == 'x'\", found 'rep'",
        ),
    ],
)
def test_errors(text: str, code: str, pos: tuple[int, int], message: str) -> None:
    err = error(text)
    assert (err.code, err.pos, err.message) == (code, Pos(*pos), message)
    assert str(err) == message


def test_condition_error_pickles() -> None:
    err = error("amount")
    copy = pickle.loads(pickle.dumps(err))
    assert (copy.code, copy.message, copy.pos) == (err.code, err.message, err.pos)


def test_nesting_limit() -> None:
    ok = "(" * MAX_DEPTH + "account.named" + ")" * MAX_DEPTH
    assert p(ok).text == "account.named"
    too_deep = "(" * (MAX_DEPTH + 1) + "account.named" + ")" * (MAX_DEPTH + 1)
    err = error(too_deep)
    assert err.code == "condition-syntax"
    assert err.pos == Pos(1, MAX_DEPTH + 1)
    assert err.message.startswith("condition is nested too deeply")
    # Far past Python's recursion limit: still a ConditionError, never RecursionError.
    assert error("not " * 5000 + "account.named").code == "condition-syntax"
    assert error("(" * 20000).code == "condition-syntax"
    # Long flat chains are not nesting.
    chain = p(" and ".join(["account.named"] * 3000))
    assert isinstance(chain, And)
    assert len(chain.parts) == 3000


# ---------------------------------------------------------------------------------------
# Evaluation

OWNER = ("account", "owner")
SOURCE = ("lead", "source")
NAMED = ("account", "named")
TERRITORY = ("account", "territory")


@pytest.mark.parametrize(
    ("text", "scalars", "expected"),
    [
        # == needs both sides present; != is its negation.
        ('account.owner == "acme"', {OWNER: "acme"}, True),
        ('account.owner == "acme"', {OWNER: "Acme"}, False),
        ('account.owner == "acme"', {}, False),
        ('account.owner == "acme"', {OWNER: None}, False),
        ('account.owner != "acme"', {}, True),
        ('account.owner != "acme"', {OWNER: "acme"}, False),
        ("account.owner == lead.source", {OWNER: "acme", SOURCE: "acme"}, True),
        ("account.owner == lead.source", {}, False),
        ("account.owner != lead.source", {}, True),
        ("account.owner != lead.source", {OWNER: "acme"}, True),
        # Ordering is false when a side is missing, in either direction.
        ("amount >= 100000", {}, False),
        ("amount < 100000", {}, False),
        ("amount >= 100000", {("amount",): Decimal("100000.00")}, True),
        ("amount > 100000", {("amount",): Decimal("100000.00")}, False),
        ("amount == 0.3", {("amount",): Decimal("0.30")}, True),
        ("amount > 0.1", {("amount",): Decimal("0.1000000000000000000001")}, True),
        ("amount >= 5", {("amount",): 5}, True),
        ("date < 2027-01-01", {("date",): dt.date(2026, 12, 31)}, True),
        ("date < 2027-01-01", {("date",): dt.date(2027, 1, 1)}, False),
        ("date <= 2027-01-01", {("date",): dt.date(2027, 1, 1)}, True),
        # in / not in.
        ('account.territory in ["north", "east"]', {TERRITORY: "east"}, True),
        ('account.territory in ["north", "east"]', {TERRITORY: "south"}, False),
        ('account.territory in ["north", "east"]', {}, False),
        ('account.territory not in ["north", "east"]', {}, True),
        ('account.territory not in ["north", "east"]', {TERRITORY: "north"}, False),
        # Bare booleans mean == true, so missing is false and not-missing is true.
        ("account.named", {NAMED: True}, True),
        ("account.named", {NAMED: False}, False),
        ("account.named", {}, False),
        ("not account.named", {}, True),
        ("account.named == false", {}, False),
        ("account.named != true", {}, True),
    ],
)
def test_evaluate_null_semantics(
    text: str, scalars: Mapping[Path, Value], expected: bool
) -> None:
    assert holds(text, facts(scalars)) is expected


def test_count() -> None:
    acts: tuple[dict[Path, Value], ...] = (
        {("kind",): "joint_call", ("partner",): "acme"},
        {("kind",): "call", ("partner",): "acme"},
        {("kind",): "joint_call"},
        {("partner",): "beta"},
    )
    reps: tuple[dict[Path, Value], ...] = (
        {("id",): "r1", ("owner",): True, ("partner",): "acme"},
        {("id",): "r2"},
    )
    f = facts(activities=acts, reps=reps)
    assert holds('count(activities, kind == "joint_call") == 2', f)
    assert holds('count(activities, kind == "joint_call" and partner == "acme") == 1', f)
    assert holds('count(activities, partner != "acme") == 2', f)
    assert holds("count(activities) == 4", f)
    assert holds("count(reps, owner) == 1 and count(reps, not owner) == 1", f)
    # A missing collection has no items.
    assert holds("count(activities) == 0", facts())
    assert holds('count(activities, kind == "joint_call") >= 1', facts()) is False
    assert holds("count(reps) == count(activities)", facts())


def test_evaluate_rejects_wrongly_typed_facts() -> None:
    with pytest.raises(TypeError, match=r"fact amount is 1\.5"):
        holds("amount > 1", facts({("amount",): 1.5}))  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="expected number"):
        holds("amount > 1", facts({("amount",): True}))
    with pytest.raises(TypeError, match="expected date"):
        holds("date > 2020-01-01", facts({("date",): dt.datetime(2021, 1, 1)}))


# ---------------------------------------------------------------------------------------
# Explanations


def test_explain_examples() -> None:
    f = facts(
        {OWNER: "beta", NAMED: False, ("amount",): Decimal("5"), ("date",): dt.date(2027, 3, 1)}
    )
    assert explain(p('account.named and account.owner == "acme"'), f) == (
        "account.named is false",
        'account.owner == "acme" is false: account.owner is "beta"',
    )
    assert explain(p('count(activities, kind == "joint_call") >= 1'), f) == (
        'count(activities, kind == "joint_call") >= 1 is false: count is 0',
    )
    assert explain(p('account.segment == "oncology" or amount >= 100_000 or account.named'), f) == (
        'account.segment == "oncology" is false: account.segment is missing',
        "amount >= 100_000 is false: amount is 5",
        "account.named is false",
    )
    assert explain(p("date < 2027-01-01"), f) == (
        "date < 2027-01-01 is false: date is 2027-03-01",
    )
    assert explain(p("lead.source == account.owner"), f) == (
        'lead.source == account.owner is false: lead.source is missing, account.owner is "beta"',
    )
    assert explain(p('account.territory in ["north", "east"]'), f) == (
        'account.territory in ["north", "east"] is false: account.territory is missing',
    )
    assert explain(p("count(reps) != count(activities)"), f) == (
        "count(reps) != count(activities) is false: count(reps) is 0, count(activities) is 0",
    )


def test_explain_and_lists_only_false_conjuncts_missing_bool() -> None:
    f = facts({OWNER: "acme"})
    assert explain(p('account.owner == "acme" and account.named and amount > 1'), f) == (
        "account.named is missing",
        "amount > 1 is false: amount is missing",
    )


def test_explain_not_and_true() -> None:
    f = facts({("account", "segment"): "oncology", ("product",): "x \"q\""})
    expr = p('not (account.segment == "oncology" or product != "cardiozen")')
    assert explain(expr, f) == (
        '(account.segment == "oncology" or product != "cardiozen") is true',
    )
    assert explain(p('not product == "x \\"q\\""'), f) == ('product == "x \\"q\\"" is true',)
    assert explain(p('product == "y"'), f) == ('product == "y" is false: product is "x \\"q\\""',)
    assert explain(p('account.segment == "oncology"'), f) == ()


def test_explain_deduplicates_and_is_deterministic() -> None:
    expr = p("account.named or account.named")
    assert explain(expr, facts()) == ("account.named is missing",)
    assert explain(expr, facts()) == explain(expr, facts())


# ---------------------------------------------------------------------------------------
# Walking


def test_comparisons_in_source_order() -> None:
    expr = p(
        'not (account.territory in ["north", "east"]) and 100 < amount '
        'or count(activities, kind == "x") >= 1 or account.owner == lead.source'
    )
    got = [(left.text, op, right.text) for left, op, right in comparisons(expr)]
    assert got == [
        ("account.territory", "==", '"north"'),
        ("account.territory", "==", '"east"'),
        ("amount", ">", "100"),
        ('count(activities, kind == "x")', ">=", "1"),
        ("account.owner", "==", "lead.source"),
    ]


def test_field_paths_excludes_item_fields() -> None:
    expr = p(
        'account.named and count(activities, date > 2020-01-01 and kind == "x") > 0 '
        "and account.owner == lead.source and amount in [1, 2]"
    )
    assert field_paths(expr) == frozenset({NAMED, OWNER, SOURCE, ("amount",)})


# ---------------------------------------------------------------------------------------
# Properties

ATOMS = [
    "amount >= 100000",
    "1.5 <= amount",
    "date < 2027-01-01",
    "account.named",
    'account.owner == "acme"',
    "account.owner == lead.source",
    "account.owner != lead.source",
    'account.territory in ["north", "east"]',
    'account.territory not in ["north"]',
    'count(activities, kind == "joint_call") >= 1',
    "count(reps) == 0",
    'count(reps, owner and partner == "beta") >= 1',
    'product != "cardiozen"',
    "attributes.tier > -3",
    'account.segment == "oncology"',
]

conditions = st.recursive(
    st.sampled_from(ATOMS),
    lambda inner: st.one_of(
        st.builds(lambda a, b: f"({a}) and ({b})", inner, inner),
        st.builds(lambda a, b: f"{a} or {b}", inner, inner),
        st.builds(lambda a: f"not ({a})", inner),
    ),
    max_leaves=8,
)


def _maybe(values: st.SearchStrategy[Value]) -> st.SearchStrategy[Value]:
    return st.one_of(st.none(), values)


TEXTS = st.sampled_from(["acme", "beta", "north", "east", "oncology", "cardiozen", ""])
NUMBERS = st.sampled_from([Decimal(0), Decimal("1.5"), Decimal(100000), Decimal("-3"), Decimal(7)])
DATES = st.sampled_from([dt.date(2026, 12, 31), dt.date(2027, 1, 1)])

random_facts = st.builds(
    lambda scalars, acts, reps: Facts(
        {k: v for k, v in scalars.items() if v is not None},
        {"activities": tuple(acts), "reps": tuple(reps)},
    ),
    st.fixed_dictionaries(
        {
            ("amount",): _maybe(NUMBERS),
            ("date",): _maybe(DATES),
            ("product",): _maybe(TEXTS),
            OWNER: _maybe(TEXTS),
            NAMED: _maybe(st.booleans()),
            ("account", "segment"): _maybe(TEXTS),
            TERRITORY: _maybe(TEXTS),
            SOURCE: _maybe(TEXTS),
            ("attributes", "tier"): _maybe(NUMBERS),
        }
    ),
    st.lists(
        st.fixed_dictionaries({("kind",): st.sampled_from(["joint_call", "call"])}),
        max_size=3,
    ),
    st.lists(
        st.fixed_dictionaries({("owner",): st.booleans(), ("partner",): TEXTS}),
        max_size=3,
    ),
)

@given(conditions, conditions, random_facts)
def test_connectives_follow_python_truth(a: str, b: str, f: Facts) -> None:
    x, y = evaluate(p(a), f), evaluate(p(b), f)
    assert evaluate(p(f"not ({a})"), f) is (not x)
    assert evaluate(p(f"({a}) and ({b})"), f) is (x and y)
    assert evaluate(p(f"({a}) or ({b})"), f) is (x or y)


@given(conditions, random_facts)
def test_explain_is_empty_exactly_when_true(text: str, f: Facts) -> None:
    expr = p(text)
    reasons = explain(expr, f)
    assert (reasons == ()) is evaluate(expr, f)
    assert all(" is " in r for r in reasons)


def _check_error_position(text: str, err: ConditionError) -> None:
    lines = text.split("\n")
    assert 1 <= err.pos.line <= len(lines)
    assert 1 <= err.pos.column <= len(lines[err.pos.line - 1]) + 1


@given(st.text())
def test_parser_raises_only_condition_error_on_random_text(text: str) -> None:
    try:
        p(text)
    except ConditionError as err:
        _check_error_position(text, err)


TOKENS = [
    "amount", "account.named", "account.owner", "count", "activities", "kind", "(", ")",
    "[", "]", ",", "and", "or", "not", "in", "==", "!=", "<", ">=", "1", "-2.5", "100_000",
    "2027-01-01", '"acme"', "'beta'", '"x', "true", "false", "\n", ".", "=", "@",
]


@given(st.lists(st.sampled_from(TOKENS), max_size=14).map(" ".join))
def test_parser_raises_only_condition_error_on_token_soup(text: str) -> None:
    try:
        expr = p(text)
    except ConditionError as err:
        _check_error_position(text, err)
    else:
        assert isinstance(expr, Compare | InList | And | Or | Not)
        assert isinstance(evaluate(expr, facts()), bool)
        _check_texts(text, expr)


def _offset(text: str, pos: Pos) -> int:
    lines = text.split("\n")
    return sum(len(line) + 1 for line in lines[: pos.line - 1]) + pos.column - 1


def _check_texts(text: str, node: object) -> None:
    """Every node's text is the source slice starting at its position, without padding."""
    if isinstance(node, Compare | InList | And | Or | Not | Field | Count | Literal):
        assert node.text == node.text.strip()
        start = _offset(text, node.pos)
        if not (isinstance(node, Literal) and node.text == "true" and node.value is True):
            assert text[start : start + len(node.text)] == node.text
    children: tuple[object, ...] = ()
    if isinstance(node, Compare):
        children = (node.left, node.right)
    elif isinstance(node, InList):
        children = (node.subject, *node.options)
    elif isinstance(node, And | Or):
        children = node.parts
    elif isinstance(node, Not):
        children = (node.part,)
    elif isinstance(node, Count):
        children = (node.where,) if node.where is not None else ()
    for child in children:
        _check_texts(text, child)


@given(conditions)
def test_node_texts_are_source_slices(text: str) -> None:
    # Spread over lines so positions are checked across line breaks too.
    source = "\n  " + text.replace(" and ", " and\n ") + "  "
    _check_texts(source, p(source))
