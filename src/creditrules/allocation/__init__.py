"""Allocation: one deal through the agreement, from the checked deal to its credit,
policy decisions, expense shares and explanation.

The result classes (:class:`Allocation` and its parts) are importable from here."""

from creditrules.allocation import results as _results
from creditrules.allocation.results import *  # noqa: F403  (the result classes, re-exported)

__all__ = _results.__all__
