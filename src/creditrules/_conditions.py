"""The ``when:`` condition language: parser, type checker, reference evaluator, explanations.

Grammar (lowest precedence first)::

    condition  := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | primary
    primary    := "(" condition ")"
                | operand (cmp_op operand | ["not"] "in" "[" literal ("," literal)* [","] "]")?
    operand    := literal | field | "count" "(" collection ["," condition] ")"
    cmp_op     := "==" | "!=" | "<" | "<=" | ">" | ">="
    literal    := string | number | date | "true" | "false"

Strings take double or single quotes with the escapes ``\\"``, ``\\'`` and ``\\\\`` only;
numbers (``-3``, ``1.5``, ``100_000``) become exact :class:`~decimal.Decimal` values; dates
are bare ``YYYY-MM-DD`` tokens; fields are dotted paths such as ``account.owner``. Inside
``count(collection, ...)`` names refer to the item's own fields.

:func:`parse` checks types against a :class:`~creditrules._ast.Schema` and returns the
typed tree of :mod:`creditrules._ast`; :func:`evaluate` is the reference definition of
the semantics documented there; :func:`explain` says why a condition is false.
"""

from __future__ import annotations

import bisect
import datetime as dt
import re
from collections.abc import Iterator, Mapping
from decimal import Decimal

import attrs

from creditrules._ast import (
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
from creditrules.errors import suggest

__all__ = [
    "MAX_DEPTH",
    "ConditionError",
    "comparisons",
    "evaluate",
    "explain",
    "field_paths",
    "parse",
]

# Parentheses, ``not`` and count predicates each add a level; the limit keeps the
# recursive-descent parser (and every recursive consumer) far from Python's stack limit.
MAX_DEPTH = 64

SYNTAX = "condition-syntax"
UNKNOWN_FIELD = "unknown-field"
TYPE_MISMATCH = "type-mismatch"
UNKNOWN_PARTNER = "unknown-partner"
UNKNOWN_COLLECTION = "unknown-collection"


class ConditionError(Exception):
    """A condition that does not parse or type-check; ``pos`` is inside the condition text."""

    def __init__(self, code: str, message: str, pos: Pos) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.pos = pos

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[type[ConditionError], tuple[str, str, Pos]]:
        # The default reduce replays ``args`` (the message only), which our __init__ rejects.
        return (type(self), (self.code, self.message, self.pos))


# ---------------------------------------------------------------------------------------
# Tokens

_KEYWORDS = frozenset({"and", "or", "not", "in", "true", "false"})
_COMPARE_OPS = ("==", "!=", "<=", ">=", "<", ">")
_ORDERING = frozenset({"<", "<=", ">", ">="})
_FLIPPED = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_PUNCTUATION = ("(", ")", "[", "]", ",")
# Helpful hints for operators borrowed from other languages.
_FOREIGN_OPS = {
    "&&": "use 'and'",
    "||": "use 'or'",
    "=": "use '==' to compare",
    "!": "use 'not' or '!='",
    "&": "use 'and'",
    "|": "use 'or'",
}

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
# A number or date candidate is taken whole, so ``1e5`` or ``2027-1-1`` is reported as one
# bad token rather than as a confusing sequence of smaller ones.
_WORD = re.compile(r"-?[0-9][A-Za-z0-9_.\-]*")
_NUMBER = re.compile(r"-?[0-9]+(?:_[0-9]+)*(?:\.[0-9]+(?:_[0-9]+)*)?")
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_DIGITS = "0123456789"


@attrs.frozen
class _Token:
    kind: str  # name, keyword, string, number, date, op, end
    text: str
    start: int
    end: int
    value: Decimal | str | bool | dt.date | None = None


class _Source:
    """The condition text, with offset -> line/column conversion."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._line_starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]

    def pos(self, offset: int) -> Pos:
        line = bisect.bisect_right(self._line_starts, offset) - 1
        return Pos(line + 1, offset - self._line_starts[line] + 1)

    def error(self, code: str, message: str, offset: int) -> ConditionError:
        return ConditionError(code, message, self.pos(offset))


def _tokenize(src: _Source) -> list[_Token]:
    text = src.text
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        if c in "\"'":
            tok = _string(src, i)
        elif c.isascii() and (c.isalpha() or c == "_"):
            tok = _name(src, i)
        elif c in _DIGITS or (c == "-" and i + 1 < n and text[i + 1] in _DIGITS):
            tok = _number_or_date(src, i)
        else:
            tok = _operator(src, i)
        tokens.append(tok)
        i = tok.end
    # The end token sits right after the last real token, so "expected ... after" errors
    # point at the place where something is missing rather than at trailing blank lines.
    last = tokens[-1].end if tokens else 0
    tokens.append(_Token("end", "", last, last))
    return tokens


def _name(src: _Source, start: int) -> _Token:
    text = src.text
    m = _NAME.match(text, start)
    assert m is not None
    end = m.end()
    if text[end : end + 1] == ".":
        raise src.error(SYNTAX, f"expected a field name after {text[start : end + 1]!r}", end)
    word = m.group()
    if word in _KEYWORDS:
        return _Token("keyword", word, start, end, {"true": True, "false": False}.get(word))
    return _Token("name", word, start, end)


def _string(src: _Source, start: int) -> _Token:
    text = src.text
    quote = text[start]
    chars: list[str] = []
    j = start + 1
    while True:
        if j >= len(text) or text[j] == "\n":
            raise src.error(SYNTAX, "unterminated string", start)
        c = text[j]
        if c == quote:
            break
        if c == "\\":
            nxt = text[j + 1 : j + 2]
            if nxt in ('"', "'", "\\"):
                chars.append(nxt)
                j += 2
                continue
            if nxt in ("", "\n"):
                raise src.error(SYNTAX, "unterminated string", start)
            raise src.error(
                SYNTAX,
                f"invalid escape '\\{nxt}' in string (only \\\", \\' and \\\\ are allowed)",
                j,
            )
        chars.append(c)
        j += 1
    return _Token("string", text[start : j + 1], start, j + 1, "".join(chars))


def _number_or_date(src: _Source, start: int) -> _Token:
    m = _WORD.match(src.text, start)
    assert m is not None
    word, end = m.group(), m.end()
    date = _DATE.fullmatch(word)
    if date is not None:
        try:
            value = dt.date(int(date[1]), int(date[2]), int(date[3]))
        except ValueError as exc:
            raise src.error(SYNTAX, f"invalid date {word!r}: {exc}", start) from None
        return _Token("date", word, start, end, value)
    if _NUMBER.fullmatch(word):
        return _Token("number", word, start, end, Decimal(word.replace("_", "")))
    if "-" in word.lstrip("-"):
        raise src.error(SYNTAX, f"invalid date {word!r} (write dates as YYYY-MM-DD)", start)
    raise src.error(
        SYNTAX, f"invalid number {word!r} (write numbers like 100000, 100_000 or 1.5)", start
    )


def _operator(src: _Source, start: int) -> _Token:
    text = src.text
    two = text[start : start + 2]
    if len(two) == 2 and two in _COMPARE_OPS:
        return _Token("op", two, start, start + 2)
    if len(two) == 2 and two in _FOREIGN_OPS:
        raise src.error(SYNTAX, f"unexpected {two!r}; {_FOREIGN_OPS[two]}", start)
    one = text[start]
    if one in _COMPARE_OPS or one in _PUNCTUATION:
        return _Token("op", one, start, start + 1)
    if one in _FOREIGN_OPS:
        raise src.error(SYNTAX, f"unexpected {one!r}; {_FOREIGN_OPS[one]}", start)
    raise src.error(SYNTAX, f"unexpected character {one!r}", start)


# ---------------------------------------------------------------------------------------
# Parser and type checker


@attrs.frozen
class _Part:
    """A parsed condition with its source span (which includes enclosing parentheses)."""

    expr: Expr
    start: int
    end: int


@attrs.frozen
class _Operand:
    node: Field | Count | Literal
    start: int
    end: int


@attrs.frozen
class _Scope:
    """Where names resolve: the deal's fields, or one collection's item fields."""

    fields: Mapping[Path, Type]
    collection: str | None = None


def _tail(text: str, limit: int = 40) -> str:
    """``text`` quoted, shortened from the left: the end is nearest to the error."""
    if len(text) > limit:
        text = "..." + text[-(limit - 3) :]
    return repr(text)


def _a(type_: Type) -> str:
    return {
        Type.NUMBER: "a number",
        Type.TEXT: "a text",
        Type.BOOL: "a true/false",
        Type.DATE: "a date",
    }[type_]


class _Parser:
    def __init__(self, text: str, schema: Schema) -> None:
        self.src = _Source(text)
        self.schema = schema
        self.tokens = _tokenize(self.src)
        self.i = 0
        self.depth = 0
        self.scope = _Scope(schema.fields)

    # -- token helpers

    def _peek(self, ahead: int = 0) -> _Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def _advance(self) -> _Token:
        tok = self.tokens[self.i]
        self.i = min(self.i + 1, len(self.tokens) - 1)
        return tok

    def _is(self, tok: _Token, kind: str, text: str) -> bool:
        return tok.kind == kind and tok.text == text

    def _slice(self, start: int, end: int) -> str:
        return self.src.text[start:end]

    def _error(self, code: str, message: str, offset: int) -> ConditionError:
        return self.src.error(code, message, offset)

    def _enter(self, tok: _Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self._error(
                SYNTAX,
                f"condition is nested too deeply (more than {MAX_DEPTH} levels of "
                "parentheses, 'not' and count)",
                tok.start,
            )

    def _expect_close(self, after: str, closer: str = ")") -> _Token:
        tok = self._peek()
        if not self._is(tok, "op", closer):
            found = "the end of the condition" if tok.kind == "end" else repr(tok.text)
            raise self._error(
                SYNTAX, f"expected {closer!r} after {_tail(after)}, found {found}", tok.start
            )
        return self._advance()

    # -- grammar

    def parse(self) -> Expr:
        if self._peek().kind == "end":
            raise self._error(SYNTAX, "empty condition", 0)
        part = self._or()
        tok = self._peek()
        if tok.kind != "end":
            if self._is(tok, "op", ")"):
                raise self._error(SYNTAX, "unexpected ')' without a matching '('", tok.start)
            raise self._error(
                SYNTAX,
                f"unexpected {tok.text!r} after {_tail(self._slice(part.start, part.end))}; "
                "expected 'and' or 'or'",
                tok.start,
            )
        return part.expr

    def _or(self) -> _Part:
        parts = [self._and()]
        while self._is(self._peek(), "keyword", "or"):
            self._advance()
            parts.append(self._and())
        return self._join(Or, parts)

    def _and(self) -> _Part:
        parts = [self._not()]
        while self._is(self._peek(), "keyword", "and"):
            self._advance()
            parts.append(self._not())
        return self._join(And, parts)

    def _join(self, kind: type[And] | type[Or], parts: list[_Part]) -> _Part:
        if len(parts) == 1:
            return parts[0]
        start, end = parts[0].start, parts[-1].end
        node = kind(tuple(p.expr for p in parts), self._slice(start, end), self.src.pos(start))
        return _Part(node, start, end)

    def _not(self) -> _Part:
        tok = self._peek()
        if not self._is(tok, "keyword", "not"):
            return self._primary()
        self._advance()
        self._enter(tok)
        inner = self._not()
        self.depth -= 1
        text = self._slice(tok.start, inner.end)
        return _Part(Not(inner.expr, text, self.src.pos(tok.start)), tok.start, inner.end)

    def _primary(self) -> _Part:
        tok = self._peek()
        if self._is(tok, "op", "("):
            self._advance()
            self._enter(tok)
            inner = self._or()
            close = self._expect_close(self._slice(inner.start, inner.end))
            self.depth -= 1
            # The node keeps its own text; only the span grows to cover the parentheses.
            return _Part(inner.expr, tok.start, close.end)
        left = self._operand("a condition")
        nxt = self._peek()
        if nxt.kind == "op" and nxt.text in _COMPARE_OPS:
            self._advance()
            right = self._operand("a value")
            return self._compare(left, nxt, right)
        if self._is(nxt, "keyword", "in"):
            self._advance()
            return self._in_list(left, negated=False)
        if self._is(nxt, "keyword", "not") and self._is(self._peek(1), "keyword", "in"):
            self._advance()
            self._advance()
            return self._in_list(left, negated=True)
        if not (
            nxt.kind == "end"
            or self._is(nxt, "keyword", "and")
            or self._is(nxt, "keyword", "or")
            or self._is(nxt, "op", ")")
        ):
            raise self._error(
                SYNTAX,
                f"unexpected {nxt.text!r} after {_tail(left.node.text)}; "
                "expected a comparison operator, 'and' or 'or'",
                nxt.start,
            )
        return self._bare(left)

    def _operand(self, expected: str) -> _Operand:
        tok = self._peek()
        if tok.kind in ("string", "number", "date") or (
            tok.kind == "keyword" and tok.text in ("true", "false")
        ):
            return self._literal(self._advance())
        if tok.kind == "name":
            if tok.text == "count" and self._is(self._peek(1), "op", "("):
                return self._count()
            self._advance()
            return _Operand(self._field(tok), tok.start, tok.end)
        prev = self.tokens[self.i - 1] if self.i > 0 else None
        if tok.kind == "end":
            after = f" after {prev.text!r}" if prev is not None else ""
            raise self._error(SYNTAX, f"expected {expected}{after}", tok.start)
        raise self._error(SYNTAX, f"unexpected {tok.text!r}; expected {expected}", tok.start)

    def _literal(self, tok: _Token) -> _Operand:
        value = tok.value
        assert value is not None
        type_ = {
            "string": Type.TEXT,
            "number": Type.NUMBER,
            "date": Type.DATE,
            "keyword": Type.BOOL,
        }[tok.kind]
        literal = Literal(value, type_, tok.text, self.src.pos(tok.start))
        return _Operand(literal, tok.start, tok.end)

    def _field(self, tok: _Token) -> Field:
        path = tuple(tok.text.split("."))
        fields = self.scope.fields
        if path in fields:
            return Field(path, fields[path], tok.text, self.src.pos(tok.start))
        known = [".".join(p) for p in fields]
        collection = self.scope.collection
        if collection is None:
            if tok.text in self.schema.collections:
                message = (
                    f"{tok.text!r} is a collection, not a field; "
                    f"use count({tok.text}) or count({tok.text}, condition)"
                )
            else:
                message = f"unknown field {tok.text!r}{suggest(tok.text, known)}"
        else:
            message = f"unknown field {tok.text!r} of {collection} items{suggest(tok.text, known)}"
            if path in self.schema.fields:
                message += "; inside count() names refer to the item's own fields"
        raise self._error(UNKNOWN_FIELD, message, tok.start)

    def _count(self) -> _Operand:
        count_tok = self._advance()
        open_tok = self._advance()
        if self.scope.collection is not None:
            # Item predicates see only the item; a nested count would need a second scope.
            raise self._error(
                SYNTAX, "count() cannot be used inside another count()", count_tok.start
            )
        name_tok = self._peek()
        if name_tok.kind != "name":
            found = "the end of the condition" if name_tok.kind == "end" else repr(name_tok.text)
            raise self._error(
                SYNTAX, f"expected a collection name after 'count(', found {found}", name_tok.start
            )
        self._advance()
        name = name_tok.text
        if name not in self.schema.collections:
            raise self._error(
                UNKNOWN_COLLECTION,
                f"unknown collection {name!r}{suggest(name, self.schema.collections)}",
                name_tok.start,
            )
        where: Expr | None = None
        nxt = self._peek()
        if self._is(nxt, "op", ","):
            self._advance()
            self._enter(open_tok)
            outer = self.scope
            self.scope = _Scope(self.schema.collections[name], name)
            part = self._or()
            self.scope = outer
            self.depth -= 1
            where = part.expr
            close = self._expect_close(self._slice(part.start, part.end))
        elif self._is(nxt, "op", ")"):
            close = self._advance()
        else:
            found = "the end of the condition" if nxt.kind == "end" else repr(nxt.text)
            raise self._error(
                SYNTAX, f"expected ',' or ')' after {name!r}, found {found}", nxt.start
            )
        text = self._slice(count_tok.start, close.end)
        node = Count(name, where, text, self.src.pos(count_tok.start))
        return _Operand(node, count_tok.start, close.end)

    def _compare(self, left: _Operand, op_tok: _Token, right: _Operand) -> _Part:
        op = op_tok.text
        start, end = left.start, right.end
        text = self._slice(start, end)
        if isinstance(left.node, Literal) and isinstance(right.node, Literal):
            raise self._error(
                TYPE_MISMATCH,
                f"{text!r} compares two constants; one side must be a field or count()",
                left.start,
            )
        if isinstance(left.node, Literal):
            # Normalise so consumers only ever see ``field op literal``.
            left, right, op = right, left, _FLIPPED[op]
        subject, other = left.node, right.node
        assert not isinstance(subject, Literal)
        if isinstance(other, Literal):
            if other.type is not subject.type:
                raise self._mismatch(subject, other, right.start)
            if op in _ORDERING and subject.type not in (Type.NUMBER, Type.DATE):
                raise self._error(
                    TYPE_MISMATCH,
                    f"{op!r} needs numbers or dates, but {subject.text} is {_a(subject.type)} "
                    "value; use == or !=",
                    op_tok.start,
                )
            self._check_partner(subject, other)
        else:
            if op in _ORDERING:
                raise self._error(
                    TYPE_MISMATCH,
                    f"cannot order {subject.text} against {other.text}: {op!r} needs a literal "
                    "on one side; two fields or counts can only be compared with == or !=",
                    op_tok.start,
                )
            if other.type is not subject.type:
                raise self._mismatch(subject, other, right.start)
        node = Compare(op, subject, other, text, self.src.pos(start))
        return _Part(node, start, end)

    def _mismatch(
        self, subject: Field | Count, other: Literal | Field | Count, offset: int
    ) -> ConditionError:
        return self._error(
            TYPE_MISMATCH,
            f"cannot compare {subject.text} ({subject.type}) with {other.text} ({other.type})",
            offset,
        )

    def _check_partner(self, subject: Field | Count, literal: Literal) -> None:
        if not isinstance(subject, Field) or not isinstance(literal.value, str):
            return
        collection = self.scope.collection
        path = subject.path if collection is None else (collection, *subject.path)
        if path in self.schema.partner_fields and literal.value not in self.schema.partners:
            raise ConditionError(
                UNKNOWN_PARTNER,
                f"unknown partner {literal.value!r}{suggest(literal.value, self.schema.partners)}",
                literal.pos,
            )

    def _in_list(self, left: _Operand, *, negated: bool) -> _Part:
        subject = left.node
        keyword = "not in" if negated else "in"
        if not isinstance(subject, Field):
            raise self._error(
                TYPE_MISMATCH,
                f"{keyword!r} needs a field on its left, not {subject.text}",
                left.start,
            )
        open_tok = self._peek()
        if not self._is(open_tok, "op", "["):
            found = "the end of the condition" if open_tok.kind == "end" else repr(open_tok.text)
            raise self._error(
                SYNTAX, f"expected '[' after {keyword!r}, found {found}", open_tok.start
            )
        self._advance()
        options: list[Literal] = []
        while not self._is(self._peek(), "op", "]"):
            option = self._list_option()
            if option.type is not subject.type:
                raise self._mismatch(subject, option, self.tokens[self.i - 1].start)
            self._check_partner(subject, option)
            options.append(option)
            sep = self._peek()
            if self._is(sep, "op", ","):
                self._advance()
            elif not self._is(sep, "op", "]"):
                found = "the end of the condition" if sep.kind == "end" else repr(sep.text)
                raise self._error(
                    SYNTAX, f"expected ',' or ']' after {option.text!r}, found {found}", sep.start
                )
        close = self._advance()
        if not options:
            raise self._error(
                TYPE_MISMATCH, f"{keyword!r} needs at least one option in its list", open_tok.start
            )
        text = self._slice(left.start, close.end)
        node = InList(subject, tuple(options), negated, text, self.src.pos(left.start))
        return _Part(node, left.start, close.end)

    def _list_option(self) -> Literal:
        tok = self._peek()
        if tok.kind in ("string", "number", "date") or (
            tok.kind == "keyword" and tok.text in ("true", "false")
        ):
            node = self._literal(self._advance()).node
            assert isinstance(node, Literal)
            return node
        if tok.kind == "end":
            prev = self.tokens[self.i - 1]
            raise self._error(SYNTAX, f"expected a value or ']' after {prev.text!r}", tok.start)
        if tok.kind == "name":
            raise self._error(
                SYNTAX,
                f"unexpected {tok.text!r} in list; lists hold only literal values "
                "(strings, numbers, dates, true, false)",
                tok.start,
            )
        raise self._error(SYNTAX, f"unexpected {tok.text!r}; expected a value", tok.start)

    def _bare(self, operand: _Operand) -> _Part:
        node = operand.node
        if isinstance(node, Field) and node.type is Type.BOOL:
            # A bare boolean field means ``field == true``.
            true = Literal(True, Type.BOOL, "true", node.pos)
            compare = Compare("==", node, true, node.text, node.pos)
            return _Part(compare, operand.start, operand.end)
        if isinstance(node, Field):
            message = (
                f"{node.text} is {_a(node.type)} field, not a condition; "
                f"compare it with a value (e.g. {node.text} == ...)"
            )
        elif isinstance(node, Count):
            message = (
                f"{node.text} is a number, not a condition; compare it (e.g. {node.text} >= 1)"
            )
        else:
            message = f"{node.text} on its own is a constant, not a condition"
        raise self._error(TYPE_MISMATCH, message, operand.start)


def parse(text: str, schema: Schema) -> Expr:
    """Parse and type-check ``text`` against ``schema``.

    Raises :class:`ConditionError` (and nothing else) for any text that is not a valid
    condition; its ``pos`` points at the offending token.
    """
    return _Parser(text, schema).parse()


# ---------------------------------------------------------------------------------------
# Reference evaluator

def _checked(value: object, field: Field) -> Value:
    """``value`` as the field's declared type; a wrongly typed fact is a caller bug."""
    type_ = field.type
    if type_ is Type.NUMBER and isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    ok = {
        Type.NUMBER: isinstance(value, Decimal),
        Type.TEXT: isinstance(value, str),
        Type.BOOL: isinstance(value, bool),
        # datetime is a date subclass but does not compare with dates.
        Type.DATE: isinstance(value, dt.date) and not isinstance(value, dt.datetime),
    }[type_]
    if not ok:
        raise TypeError(
            f"fact {field.text} is {value!r} ({type(value).__name__}), expected {type_}"
        )
    assert isinstance(value, Decimal | str | bool | dt.date)
    return value


def _value(
    operand: Field | Count | Literal, env: Mapping[Path, Value], facts: Facts
) -> Value:
    if isinstance(operand, Literal):
        return operand.value
    if isinstance(operand, Field):
        value = env.get(operand.path)
        return None if value is None else _checked(value, operand)
    items = facts.collections.get(operand.collection, ())
    where = operand.where
    if where is None:
        return Decimal(len(items))
    return Decimal(sum(1 for item in items if _eval(where, item, facts)))


def _equal(a: Value, b: Value) -> bool:
    # Python says True == 1; the language does not mix booleans and numbers.
    return (
        a is not None
        and b is not None
        and isinstance(a, bool) == isinstance(b, bool)
        and a == b
    )


def _holds(op: str, a: Value, b: Value) -> bool:
    if op == "==":
        return _equal(a, b)
    if op == "!=":
        return not _equal(a, b)
    if a is None or b is None:
        return False
    # Separate branches so each comparison is between two values of one type.
    if isinstance(a, Decimal) and isinstance(b, Decimal):  # noqa: SIM114
        sign = (a > b) - (a < b)
    elif isinstance(a, dt.date) and isinstance(b, dt.date):
        sign = (a > b) - (a < b)
    else:
        raise TypeError(f"cannot order {a!r} against {b!r}")
    return {"<": sign < 0, "<=": sign <= 0, ">": sign > 0, ">=": sign >= 0}[op]


def _eval(expr: Expr, env: Mapping[Path, Value], facts: Facts) -> bool:
    if isinstance(expr, Compare):
        return _holds(expr.op, _value(expr.left, env, facts), _value(expr.right, env, facts))
    if isinstance(expr, InList):
        value = _value(expr.subject, env, facts)
        return any(_equal(value, o.value) for o in expr.options) != expr.negated
    if isinstance(expr, And):
        return all(_eval(p, env, facts) for p in expr.parts)
    if isinstance(expr, Or):
        return any(_eval(p, env, facts) for p in expr.parts)
    if isinstance(expr, Not):
        return not _eval(expr.part, env, facts)
    raise TypeError(f"not a condition node: {expr!r}")


def evaluate(expr: Expr, facts: Facts) -> bool:
    """Whether ``expr`` holds for ``facts``: the reference semantics of the language.

    A scalar path absent from ``facts`` (or mapped to None) is missing; an absent
    collection has no items. Raises TypeError if a fact's value does not have its field's
    declared type (int is accepted for numbers).
    """
    return _eval(expr, facts.scalars, facts)


# ---------------------------------------------------------------------------------------
# Explanations


def _show(value: Value) -> str:
    if value is None:
        return "missing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, Decimal):
        return format(value, "f")
    return value.isoformat()


def _is_bare_bool(expr: Compare) -> bool:
    return (
        expr.op == "=="
        and isinstance(expr.left, Field)
        and expr.left.type is Type.BOOL
        and isinstance(expr.right, Literal)
        and expr.right.value is True
        and expr.text == expr.left.text
    )


def _sides(sides: tuple[Field | Count | Literal, ...], facts: Facts) -> str:
    counts = sum(isinstance(s, Count) for s in sides)
    shown = []
    for side in sides:
        if isinstance(side, Literal):
            continue
        # "count is 0" reads best; spell the count out only when two would be ambiguous.
        name = "count" if isinstance(side, Count) and counts == 1 else side.text
        shown.append(f"{name} is {_show(_value(side, facts.scalars, facts))}")
    return ", ".join(shown)


def _why_false(expr: Expr, facts: Facts) -> Iterator[str]:
    if isinstance(expr, Compare):
        if _is_bare_bool(expr):
            value = _value(expr.left, facts.scalars, facts)
            yield f"{expr.text} is {'missing' if value is None else 'false'}"
        else:
            yield f"{expr.text} is false: {_sides((expr.left, expr.right), facts)}"
    elif isinstance(expr, InList):
        yield f"{expr.text} is false: {_sides((expr.subject,), facts)}"
    elif isinstance(expr, And):
        for part in expr.parts:
            if not evaluate(part, facts):
                yield from _why_false(part, facts)
    elif isinstance(expr, Or):
        for part in expr.parts:
            yield from _why_false(part, facts)
    elif isinstance(expr, Not):
        # Quote what follows "not" in the source, parentheses included, so the
        # sentence reads unambiguously.
        inner = expr.text[3:].strip() if expr.text.startswith("not") else expr.part.text
        yield f"{inner or expr.part.text} is true"


def explain(expr: Expr, facts: Facts) -> tuple[str, ...]:
    """Why ``expr`` is false for ``facts``: one sentence per minimal false part.

    Returns ``()`` when the condition holds. Sentences quote the condition's own text and
    the actual values, e.g. ``account.owner == "acme" is false: account.owner is "beta"``;
    ``or`` explains every alternative, ``and`` only its false conjuncts.
    """
    if evaluate(expr, facts):
        return ()
    return tuple(dict.fromkeys(_why_false(expr, facts)))


# ---------------------------------------------------------------------------------------
# Walking the tree


def _atoms(expr: Expr) -> Iterator[Compare | InList]:
    if isinstance(expr, Compare | InList):
        yield expr
    elif isinstance(expr, And | Or):
        for part in expr.parts:
            yield from _atoms(part)
    elif isinstance(expr, Not):
        yield from _atoms(expr.part)


def comparisons(expr: Expr) -> Iterator[tuple[Field | Count, str, Literal | Field | Count]]:
    """Every atomic comparison of ``expr`` as ``(left, op, right)``, in source order.

    ``x in [a, b]`` (negated or not) yields ``(x, "==", a)`` and ``(x, "==", b)``. A
    count's predicate is not entered: its fields are item paths, so callers that need
    them walk ``comparisons(count.where)`` themselves.
    """
    for atom in _atoms(expr):
        if isinstance(atom, Compare):
            yield (atom.left, atom.op, atom.right)
        else:
            for option in atom.options:
                yield (atom.subject, "==", option)


def field_paths(expr: Expr) -> frozenset[Path]:
    """The deal-level scalar paths ``expr`` reads (item fields inside count excluded)."""
    paths: set[Path] = set()
    for atom in _atoms(expr):
        sides = (atom.left, atom.right) if isinstance(atom, Compare) else (atom.subject,)
        paths.update(side.path for side in sides if isinstance(side, Field))
    return frozenset(paths)
