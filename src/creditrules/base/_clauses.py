"""Clause numbers in the order a reader expects: 4.2(a) < 4.2(b) < 4.3 < 4.3A < 4.10."""

from __future__ import annotations

import re

__all__ = ["clause_key"]

_PARTS = re.compile(r"\d+|[^\d\W]+")


def clause_key(clause: str) -> tuple[tuple[int, int, str], ...]:
    """Sort key for a clause number: runs of digits compare as numbers, letters as text
    (case-folded), and punctuation only separates them, so ``4.10`` follows ``4.9``."""
    return tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part.casefold())
        for part in _PARTS.findall(clause)
    )
