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

:func:`parse` checks types against a :class:`~creditrules.conditions._ast.Schema` and returns the
typed tree of :mod:`creditrules.conditions._ast`; :func:`evaluate` is the reference definition of
the semantics documented there; :func:`explain` says why a condition is false.

The parts live in ``_condition_tokens`` (errors and the tokenizer), ``_condition_parser``
(the parser and type checker) and ``_condition_eval`` (the evaluator and explanations);
this module re-exports them and walks the typed tree (:func:`comparisons`,
:func:`field_paths`).
"""

from __future__ import annotations

from collections.abc import Iterator

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
)
from creditrules.conditions._eval import evaluate as evaluate
from creditrules.conditions._eval import explain as explain
from creditrules.conditions._parser import MAX_DEPTH as MAX_DEPTH
from creditrules.conditions._parser import parse as parse
from creditrules.conditions._tokens import SYNTAX as SYNTAX
from creditrules.conditions._tokens import TYPE_MISMATCH as TYPE_MISMATCH
from creditrules.conditions._tokens import UNKNOWN_COLLECTION as UNKNOWN_COLLECTION
from creditrules.conditions._tokens import UNKNOWN_FIELD as UNKNOWN_FIELD
from creditrules.conditions._tokens import UNKNOWN_PARTNER as UNKNOWN_PARTNER
from creditrules.conditions._tokens import ConditionError as ConditionError

__all__ = [
    "MAX_DEPTH",
    "ConditionError",
    "comparisons",
    "evaluate",
    "explain",
    "field_paths",
    "parse",
]


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
