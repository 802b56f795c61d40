"""The recursive-descent parser of the ``when:`` language, which type-checks each node as
it builds it (see :mod:`creditrules.conditions._conditions` for the grammar): :func:`parse`."""

from __future__ import annotations

import re
from collections.abc import Mapping

import attrs

from creditrules.conditions._ast import (
    And,
    Compare,
    Count,
    Expr,
    Field,
    InList,
    Literal,
    Not,
    Or,
    Path,
    Schema,
    Type,
)
from creditrules.conditions._tokens import (
    _COMPARE_OPS,
    SYNTAX,
    TYPE_MISMATCH,
    UNKNOWN_COLLECTION,
    UNKNOWN_FIELD,
    UNKNOWN_PARTNER,
    ConditionError,
    _Source,
    _Token,
    _tokenize,
)
from creditrules.errors import suggest

# Parentheses, ``not`` and count predicates each add a level; the limit keeps the
# recursive-descent parser (and every recursive consumer) far from Python's stack limit.
MAX_DEPTH = 64

_ORDERING = frozenset({"<", "<=", ">", ">="})
_FLIPPED = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


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


def _separator_hint(found: str, after: str) -> str:
    """``amount > 1,000``: a thousands separator splits the number."""
    if found == "," and after[-1:].isdigit():
        return "; numbers take no thousands separator: write 1000 or 1_000"
    return ""


def _quotes_hint(subject: Field | Count, other: Literal | Field | Count) -> str:
    """``date <= "2026-06-30"``: a quoted date or number is text; the quotes must go."""
    if not isinstance(other, Literal) or other.type is not Type.TEXT:
        return ""
    value = str(other.value)
    if subject.type is Type.DATE and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return f"; remove the quotes: a date is written bare ({value}); quoted, it is text"
    if subject.type is Type.NUMBER and re.fullmatch(r"-?\d+(\.\d+)?", value):
        return f"; remove the quotes: a number is written bare ({value}); quoted, it is text"
    return ""


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
            after = self._slice(part.start, part.end)
            raise self._error(
                SYNTAX,
                f"unexpected {tok.text!r} after {_tail(after)}; expected 'and' or 'or'"
                + _separator_hint(tok.text, after),
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
                if "." not in tok.text:
                    # A bare word where text was meant: `territory == germany`.
                    message += f'; if you meant the text {tok.text}, put it in quotes: "{tok.text}"'
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
            f"cannot compare {subject.text} ({subject.type}) with {other.text} ({other.type})"
            + _quotes_hint(subject, other),
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
