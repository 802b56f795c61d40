"""The only module that talks to the SMT solver (z3).

The static analysis (:mod:`creditrules.analysis._findings`) states its questions as formulas over
small integer variables (each condition feature's rank or index class, and how many items
of each kind a collection holds) and asks for a model. Keeping z3 behind this seam means the
rest of the code sees plain ints and opaque formulas, and another solver (or BDDs) could
replace it here alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import z3  # noqa: TID251  (this module is the solver seam)

__all__ = [
    "Formula",
    "Solver",
    "Var",
    "all_of",
    "any_of",
    "at_least",
    "equals",
    "false",
    "int_var",
    "member",
    "negate",
    "total",
    "true",
]

# Opaque to callers: z3 expressions.
Formula = Any
Var = Any


def int_var(name: str) -> Var:
    """A fresh integer variable."""
    return z3.Int(name)


def true() -> Formula:
    return z3.BoolVal(True)


def false() -> Formula:
    return z3.BoolVal(False)


def member(var: Var, values: Iterable[int]) -> Formula:
    """``var`` takes one of ``values`` (written as ranges: the sets are mostly intervals)."""
    ordered = sorted(set(values))
    if not ordered:
        return false()
    parts = []
    start = prev = ordered[0]
    for v in [*ordered[1:], None]:
        if v is not None and v == prev + 1:
            prev = v
            continue
        parts.append(var == start if start == prev else z3.And(var >= start, var <= prev))
        if v is not None:
            start = prev = v
    return parts[0] if len(parts) == 1 else z3.Or(*parts)


def equals(term: Var, value: int) -> Formula:
    return term == value


def at_least(term: Var, value: int) -> Formula:
    return term >= value


def all_of(parts: Sequence[Formula]) -> Formula:
    if not parts:
        return true()
    return parts[0] if len(parts) == 1 else z3.And(*parts)


def any_of(parts: Sequence[Formula]) -> Formula:
    if not parts:
        return false()
    return parts[0] if len(parts) == 1 else z3.Or(*parts)


def negate(formula: Formula) -> Formula:
    return z3.Not(formula)


def total(terms: Sequence[Var]) -> Var:
    """The sum of integer terms (0 for none)."""
    if not terms:
        return z3.IntVal(0)
    return z3.Sum(*terms) if len(terms) > 1 else terms[0]


class Solver:
    """Background constraints, and questions asked under them one at a time."""

    def __init__(self, background: Sequence[Formula] = ()) -> None:
        self._solver = z3.Solver()
        for formula in background:
            self._solver.add(formula)

    @contextmanager
    def assuming(self, *formulas: Formula) -> Iterator[None]:
        """Add ``formulas`` for the duration of the block."""
        self._solver.push()
        try:
            for formula in formulas:
                self._solver.add(formula)
            yield
        finally:
            self._solver.pop()

    def solve(self, variables: Sequence[Var]) -> list[int] | str | None:
        """The values of ``variables`` in a model of the current constraints; ``None`` when
        there is none; the solver's reason (text) when it cannot decide."""
        result = self._solver.check()
        if result == z3.unsat:
            return None
        if result != z3.sat:
            return str(self._solver.reason_unknown()) or "solver gave up"
        model = self._solver.model()
        return [model.evaluate(v, model_completion=True).as_long() for v in variables]

    def block(self, variables: Sequence[Var], values: Sequence[int]) -> Formula:
        """A formula excluding exactly this assignment (to ask for another model)."""
        return (
            z3.Or(*[v != x for v, x in zip(variables, values, strict=True)])
            if variables
            else false()
        )
