"""Why a rule's condition was false, worked out only when somebody reads it.

Explaining a condition ("amount >= 250000 is false: amount is 10000.00") costs several times
what matching it does, and most callers of ``Ruleset.allocate`` never read the reasons: a
:class:`DeferredReasons` keeps the condition and the facts it was matched on, and explains
on first use (then keeps the answer). The facts are read-only, so the answer is the one an
eager explanation would have given.
"""

from __future__ import annotations

from typing import Any

from creditrules._ast import Expr, Facts

__all__ = ["DeferredReasons", "resolve"]


class DeferredReasons:
    """The reasons a condition is false for some facts, explained on first use."""

    __slots__ = ("_expr", "_facts", "_value")

    def __init__(self, expr: Expr, facts: Facts) -> None:
        self._expr: Expr | None = expr
        self._facts: Facts | None = facts
        self._value: tuple[str, ...] | None = None

    def get(self) -> tuple[str, ...]:
        value = self._value
        if value is None:
            from creditrules._conditions import explain

            assert self._expr is not None
            assert self._facts is not None
            value = self._value = explain(self._expr, self._facts)
            self._expr = self._facts = None  # the deal's facts need not outlive the answer
        return value

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled (to a Dask worker, say) as the answer itself.
        return (tuple, (self.get(),))

    def __repr__(self) -> str:
        return repr(self.get())


def resolve(reasons: tuple[str, ...] | DeferredReasons) -> tuple[str, ...]:
    """The reasons themselves, explained now if they were deferred."""
    return reasons if type(reasons) is tuple else reasons.get()  # type: ignore[union-attr]
