"""Errors raised by creditrules, one class per way a caller reacts.

::

    CreditRulesError                 everything creditrules raises on purpose
    ├── RulesetError                 fix the ruleset file (carries every Problem found)
    ├── DealError                    fix the input record (names the deal and the field)
    ├── AllocationError              amend the agreement: the ruleset gives no single answer
    │   ├── AmbiguityError           two applicable rules disagree, no precedence between them
    │   └── NoApplicableRuleError    no rule covers the deal and there is no default
    ├── EngineError                  the matching engine is unavailable or misbehaved
    └── UsageError                   fix the call: an argument the command cannot take

Bugs in creditrules itself stay outside this tree, so ``except CreditRulesError`` never
hides one. Fairness violations are data in a report, never exceptions.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

import attrs

__all__ = [
    "AllocationError",
    "AmbiguityError",
    "CreditRulesError",
    "DealError",
    "EngineError",
    "Location",
    "NoApplicableRuleError",
    "Problem",
    "RulesetError",
    "UsageError",
    "suggest",
]


@attrs.frozen(order=True)
class Location:
    """A place in a source file: 1-based line and column (column 0 means unknown)."""

    file: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line and self.column:
            return f"{self.file}:{self.line}:{self.column}"
        if self.line:
            return f"{self.file}:{self.line}"
        return self.file

    def shifted(self, line_offset: int, column: int) -> Location:
        """The location ``line_offset`` lines below this one, at ``column`` (1-based)."""
        return Location(self.file, self.line + line_offset, column)


@attrs.frozen
class Problem:
    """One thing wrong with an input, with a stable ``code`` tests and tools can match on."""

    code: str
    message: str
    location: Location | None = None

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location is not None else ""
        return f"{where}{self.message}"


class CreditRulesError(Exception):
    """Base class of every error creditrules raises on purpose."""


class RulesetError(CreditRulesError):
    """A ruleset could not be loaded; ``problems`` lists every mistake found, in file order."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(
            sorted(problems, key=lambda p: (p.location or Location(""), p.code, p.message))
        )
        super().__init__("\n".join(str(p) for p in self.problems))

    @property
    def codes(self) -> list[str]:
        """The codes of the problems, in file order."""
        return [p.code for p in self.problems]


class DealError(CreditRulesError):
    """A deal record is malformed: names the deal (when known), the field and the reason."""

    def __init__(self, message: str, *, deal_id: str | None = None, field: str | None = None,
                 code: str = "bad-deal") -> None:
        self.deal_id = deal_id
        self.field = field
        self.code = code
        self.reason = message
        prefix = f"deal {deal_id!r}" if deal_id is not None else "deal"
        if field:
            prefix += f", field {field!r}"
        super().__init__(f"{prefix}: {message}")


class AllocationError(CreditRulesError):
    """The ruleset gives no single answer for a deal: the agreement needs amending."""

    code = "allocation"

    def __init__(self, message: str, *, deal_id: str | None = None) -> None:
        self.deal_id = deal_id
        self.reason = message
        prefix = f"deal {deal_id!r}: " if deal_id is not None else ""
        super().__init__(prefix + message)


class AmbiguityError(AllocationError):
    """Two or more applicable rules disagree and no precedence orders them."""

    code = "ambiguous"

    def __init__(self, message: str, *, rules: Sequence[str], deal_id: str | None = None) -> None:
        self.rules = tuple(rules)
        super().__init__(message, deal_id=deal_id)


class NoApplicableRuleError(AllocationError):
    """No rule of a required credit type covers the deal and the ruleset has no default."""

    code = "no-rule"


class EngineError(CreditRulesError):
    """The matching engine is unavailable or returned something inconsistent."""


def suggest(word: str, known: Iterable[str]) -> str:
    """``" (known: a, b); did you mean 'a'?"`` for an unknown name among ``known``."""
    names = sorted(set(known))
    text = f" (known: {', '.join(names)})" if names else ""
    close = difflib.get_close_matches(word, names, n=1)
    if close:
        text += f"; did you mean {close[0]!r}?"
    return text


class UsageError(CreditRulesError):
    """An argument the command cannot take: a name that is no id, a file it will not
    overwrite, an output of the wrong kind. Fix the call."""
