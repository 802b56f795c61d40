"""Condition errors (:class:`ConditionError` and its codes) and the tokenizer of the
``when:`` language (see :mod:`creditrules.conditions._conditions` for the grammar)."""

from __future__ import annotations

import bisect
import datetime as dt
import re
from decimal import Decimal

import attrs

from creditrules.base._dates import DATE_SHAPE, parse_iso_date
from creditrules.base._wording import date_hint
from creditrules.conditions._ast import Pos

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


_KEYWORDS = frozenset({"and", "or", "not", "in", "true", "false"})
_COMPARE_OPS = ("==", "!=", "<=", ">=", "<", ">")
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
_DATE = DATE_SHAPE  # the project's one date syntax
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
            value = parse_iso_date(word)
        except ValueError as exc:
            raise src.error(
                SYNTAX, f"invalid date {word!r}: {date_hint(word) or exc}", start
            ) from None
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
