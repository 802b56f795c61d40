"""Parts of a result worked out only when somebody reads them.

Explaining why a condition was false ("amount >= 250000 is false: amount is 10000.00") costs
several times what matching it does, and listing every rule's verdict costs a good part of
an allocation; most callers of ``Ruleset.allocate`` read neither. A :class:`Deferred` holds
a function and the read-only data it needs, calls it on first use and keeps the answer, so
the answer is the one an eager computation would have given.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from creditrules.conditions._ast import Expr, Facts

__all__ = ["Deferred", "deferred_reasons", "resolve"]

T = TypeVar("T")


class Deferred(Generic[T]):
    """A value computed on first use (then kept)."""

    __slots__ = ("_args", "_function", "_value")

    def __init__(self, function: Callable[..., T], *args: Any) -> None:
        self._function: Callable[..., T] | None = function
        self._args: tuple[Any, ...] = args
        self._value: T | None = None

    def get(self) -> T:
        function = self._function
        if function is not None:
            self._value = function(*self._args)
            self._function, self._args = None, ()  # the inputs need not outlive the answer
        return self._value  # type: ignore[return-value]

    @property
    def done(self) -> bool:
        """Whether the value has been worked out."""
        return self._function is None

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled (to a Dask worker, say) as the value itself.
        return (_value, (self.get(),))

    def __repr__(self) -> str:
        return repr(self.get())


def _value(value: T) -> T:
    return value


def resolve(value: T | Deferred[T]) -> T:
    """The value itself, worked out now if it was deferred."""
    return value.get() if isinstance(value, Deferred) else value


def _explain(expr: Expr, facts: Facts) -> tuple[str, ...]:
    from creditrules.conditions._conditions import explain

    return explain(expr, facts)


def deferred_reasons(expr: Expr, facts: Facts) -> Deferred[tuple[str, ...]]:
    """Why ``expr`` is false for ``facts``, explained when first read."""
    return Deferred(_explain, expr, facts)
