"""Partner policies and the rules that say whose policy governs, and who pays what.

A ruleset declares each partner's policy per *topic* (``entertainment``, plus any topic it
names with its own limits), *policy precedence* rules that choose the governing policy per
topic (``stricter``, ``account_owner``, ``lead_partner``, ``payer`` or a named partner), and
*expense sharing* rules that split each entertainment expense between the partners.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from fractions import Fraction

import attrs

from creditrules.conditions._ast import Expr
from creditrules.errors import Location

__all__ = [
    "ENTERTAINMENT",
    "FORBIDDEN",
    "GOVERNS",
    "EntertainmentPolicy",
    "ExpenseRule",
    "PolicyRule",
    "Topic",
]

ENTERTAINMENT = "entertainment"
GOVERNS = ("stricter", "account_owner", "lead_partner", "payer")


class _Forbidden:
    """The cap of a kind a policy does not allow at all (stricter than any amount)."""

    _instance: _Forbidden | None = None

    def __new__(cls) -> _Forbidden:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "FORBIDDEN"


FORBIDDEN = _Forbidden()

# A per-attendee cap: an amount, None for unlimited, or FORBIDDEN.
Cap = Decimal | None | _Forbidden


@attrs.frozen
class EntertainmentPolicy:
    """One partner's entertainment policy.

    ``caps``: per-attendee cap by expense kind (``None``: allowed without cap); a kind not
    listed, or listed in ``forbidden``, is not allowed. ``categories``: caps that replace the
    default for attendees of a category (``FORBIDDEN`` where the kind is not allowed for
    them). ``preapproval_above``: expenses above it need pre-approval.
    ``annual_cap_per_attendee``: what may be spent on one attendee in a year.
    """

    caps: Mapping[str, Decimal | None]
    categories: Mapping[str, Mapping[str, Cap]] = attrs.field(factory=dict)
    forbidden: frozenset[str] = frozenset()
    preapproval_above: Decimal | None = None
    annual_cap_per_attendee: Decimal | None = None

    def cap(self, kind: str, category: str | None) -> Cap:
        """The per-attendee cap for ``kind`` and an attendee ``category``."""
        if kind in self.forbidden:
            return FORBIDDEN
        if category is not None and kind in self.categories.get(category, {}):
            return self.categories[category][kind]
        if kind in self.caps:
            return self.caps[kind]
        return FORBIDDEN


@attrs.frozen
class Topic:
    """A policy topic beyond entertainment, with its limits and which way each is stricter
    (``lower``: a smaller value is stricter, e.g. a maximum discount; ``higher``: a larger
    one is, e.g. a minimum margin)."""

    name: str
    limits: Mapping[str, str]


@attrs.frozen
class PolicyRule:
    """A clause saying whose policy governs a topic (a policy precedence rule)."""

    id: str
    clause: str
    text: str
    topic: str
    governs: str  # stricter, account_owner, lead_partner, payer, or "partner"
    partner: str | None = None  # when governs == "partner"
    when: Expr | None = None
    when_text: str | None = None
    overrides: tuple[str, ...] = ()
    default: bool = False
    location: Location = attrs.field(factory=lambda: Location(""))

    @property
    def key(self) -> str:
        return f"policy:{self.topic}:{self.id}"


@attrs.frozen
class ExpenseRule:
    """A clause saying how entertainment expenses are shared.

    ``method``: ``split`` (fixed ``shares``), ``equal``, ``by_credit`` (in proportion to the
    deal's revenue credit) or ``payer`` (borne by whoever paid). ``excess``: who bears the
    amount above the prevailing cap: ``payer``, a partner id, or ``disallowed`` (not
    accepted by the alliance at all; the payer carries it).
    """

    id: str
    clause: str
    text: str
    method: str
    shares: Mapping[str, Fraction] = attrs.field(factory=dict)
    excess: str = "payer"
    when: Expr | None = None
    when_text: str | None = None
    overrides: tuple[str, ...] = ()
    default: bool = False
    location: Location = attrs.field(factory=lambda: Location(""))

    @property
    def key(self) -> str:
        return f"expense:{self.id}"
