"""Invariants comparing a deal's allocation with the same deal's again: determinism (any
order, engine, decimal context), idempotence, and a refund mirroring its sale."""

from __future__ import annotations

import contextlib
import decimal
import json
import random
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from creditrules.allocation.results import Allocation, TypeCredit
from creditrules.errors import AllocationError, DealError
from creditrules.fairness._invariant import Invariant, _pct, _rules_of
from creditrules.fairness._report import Finding
from creditrules.fairness._subject import Subject

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy


def _canonical(allocation: Allocation) -> str:
    return json.dumps(allocation.to_dict(), ensure_ascii=False, separators=(",", ":"))


class Determinism(Invariant):
    """The allocation is a function of the deal and the agreement alone: shuffling the
    deal's activities, reps, expenses and attendees and the key order of every mapping,
    reordering the rules and keys of the ruleset file, using the other matching engine, and
    a hostile ambient decimal context (3 digits, rounding down) give byte-identical
    ``to_dict`` output."""

    name = "determinism"
    title = "determinism and order independence"

    def examples(self, subject: Subject) -> SearchStrategy[Any]:
        from hypothesis import strategies as st

        from creditrules.fairness.strategies import deals

        n = len(subject.variants()) + 1
        # Reversed first (shrinks there), then a seeded shuffle: each list and mapping is
        # shuffled on its own, so dropping one part of a deal does not reshuffle another.
        order = st.one_of(st.just(None), st.integers(0, 2**32 - 1))
        return st.tuples(deals(subject.ruleset), st.integers(0, n - 1), order)

    def deals_of(self, example: Any) -> tuple[tuple[str, Mapping[str, Any]], ...]:
        return (("deal", example[0]), ("shuffled", _shuffle(example[0], example[2])))

    def boundary(self, subject: Subject) -> list[Any]:
        return []  # order, not thresholds: the boundary deals add nothing here

    def from_deal(self, subject: Subject, deal: Mapping[str, Any]) -> list[Any]:
        return [(deal, v, None) for v in range(len(subject.variants()) + 1)]

    def check(self, subject: Subject, example: Any) -> Finding | None:
        deal, variant, order = example
        base = subject.allocate(deal)
        shuffled = _shuffle(deal, order)
        label, ruleset = "the same ruleset", subject.ruleset
        if variant:
            label, ruleset = subject.variants()[variant - 1]
        with decimal.localcontext() as ctx:
            ctx.prec, ctx.rounding = 3, decimal.ROUND_DOWN
            try:
                again = subject.allocate(shuffled, ruleset)
            except AllocationError as exc:
                return Finding(f"the shuffled deal is not decided ({exc.reason}) under "
                               f"{label}", deals=(("deal", deal), ("shuffled", shuffled)),
                               allocations=(("deal", base), ("shuffled", str(exc))),
                               rules=subject.credit_rules(base))
        a, b = _canonical(base), _canonical(again)
        if a == b:
            return None
        where = _first_difference(base.to_dict(), again.to_dict())
        how = "reversing" if order is None else "shuffling"
        return Finding(f"{how} the deal's lists and keys ({label}, hostile decimal "
                       f"context) changes the allocation at {where}",
                       deals=(("deal", deal), ("shuffled", shuffled)),
                       allocations=(("deal", base), ("shuffled", again)),
                       rules=subject.credit_rules(base, again))


def _shuffle(value: Any, seed: int | None, path: str = "") -> Any:
    """``value`` with every list and mapping reversed (``seed is None``) or shuffled."""

    def reorder(items: list[Any]) -> list[Any]:
        if seed is None:
            return items[::-1]
        rnd = random.Random(f"{seed}:{path}")  # noqa: S311 - a reproducible shuffle
        rnd.shuffle(items)
        return items

    if isinstance(value, Mapping):
        keys = reorder(list(value))
        return {k: _shuffle(value[k], seed, f"{path}/{k}") for k in keys}
    if isinstance(value, list):
        return reorder([_shuffle(v, seed, f"{path}/{i}") for i, v in enumerate(value)])
    return value


def _first_difference(a: Any, b: Any, path: str = "") -> str:
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        if list(a) != list(b):
            return f"{path or '/'} (keys {list(a)} against {list(b)})"
        for k in a:
            if a[k] != b[k] or json.dumps(a[k]) != json.dumps(b[k]):
                return _first_difference(a[k], b[k], f"{path}/{k}")
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if json.dumps(x) != json.dumps(y):
                return _first_difference(x, y, f"{path}/{i}")
    return f"{path or '/'} ({json.dumps(a)} against {json.dumps(b)})"


class Idempotence(Invariant):
    """Allocating is pure: allocating a deal again, after allocating another deal, and from
    its JSON text read back, gives a byte-identical result (no state carried between
    evaluations)."""

    name = "idempotence"
    title = "idempotence: the same deal always gets the same allocation"

    def examples(self, subject: Subject) -> SearchStrategy[Any]:
        from hypothesis import strategies as st

        from creditrules.fairness.strategies import deals

        return st.tuples(deals(subject.ruleset), deals(subject.ruleset))

    def deals_of(self, example: Any) -> tuple[tuple[str, Mapping[str, Any]], ...]:
        return (("deal", example[0]), ("other deal", example[1]))

    def boundary(self, subject: Subject) -> list[Any]:
        return []  # state, not thresholds: the boundary deals add nothing here

    def from_deal(self, subject: Subject, deal: Mapping[str, Any]) -> list[Any]:
        return [(deal, deal)]

    def check(self, subject: Subject, example: Any) -> Finding | None:
        deal, other = example
        first = subject.allocate(deal)
        with contextlib.suppress(AllocationError, DealError):
            subject.allocate(other)
        again = subject.allocate(json.loads(json.dumps(deal)))
        if _canonical(first) == _canonical(again):
            return None
        where = _first_difference(first.to_dict(), again.to_dict())
        return Finding(f"allocating the deal again after another one changes it at {where}",
                       deals=(("deal", deal), ("other deal", other)),
                       allocations=(("first", first), ("again", again)),
                       rules=subject.credit_rules(first, again))


class RefundMirrorsSale(Invariant):
    """A credit note for the full amount of a sale (the same deal with the amount negated)
    is decided by the same rules, with the same shares, and every amount is exactly the
    negation of the sale's: the partners' net credit over a sale and its refund is zero to
    the cent."""

    name = "refund-mirrors-sale"
    title = "refund mirrors sale"

    def examples(self, subject: Subject) -> SearchStrategy[Any]:
        from creditrules.fairness.strategies import deals

        return deals(subject.ruleset, negative=False, expenses=False)

    def deals_of(self, example: Any) -> tuple[tuple[str, Mapping[str, Any]], ...]:
        return (("sale", example), ("refund", _refund(example)))

    def from_deal(self, subject: Subject, deal: Mapping[str, Any]) -> list[Any]:
        amount = str(deal.get("amount", ""))
        sale = {k: v for k, v in deal.items() if k != "expenses"}
        return [{**sale, "amount": amount.lstrip("-")}] if amount else []

    def check(self, subject: Subject, example: Any) -> Finding | None:
        sale = subject.allocate(example)
        refund_deal = _refund(example)
        deals = (("sale", example), ("refund", refund_deal))
        try:
            refund = subject.allocate(refund_deal)
        except AllocationError as exc:
            return Finding(f"the sale is decided, its refund is not: {exc.reason}",
                           deals=deals, allocations=(("sale", sale), ("refund", str(exc))),
                           rules=subject.credit_rules(sale))
        a, b = sale.credits, refund.credits
        types_a, types_b = [c.type for c in a], [c.type for c in b]
        if types_a != types_b:
            return Finding(f"the sale gets {', '.join(types_a) or 'no'} credit, its refund "
                           f"{', '.join(types_b) or 'none'}", deals=deals,
                           allocations=(("sale", sale), ("refund", refund)),
                           rules=subject.credit_rules(sale, refund))
        for x, y in zip(a, b, strict=True):
            pairs = subject.credit_rules(sale, refund, types=[x.type])
            if x.rules != y.rules:
                return Finding(
                    f"the sale's {x.type} credit is decided by "
                    f"{_named(x)} but its refund's by {_named(y)}: a condition reads the "
                    "signed amount", deals=deals,
                    allocations=(("sale", sale), ("refund", refund)), rules=pairs,
                    fields=(x.type,))
            for p, q in zip(x.partners, y.partners, strict=False):
                same = (p.partner == q.partner and p.share == q.share
                        and p.amount == -q.amount
                        and [(r.rep, r.share, r.amount) for r in p.reps]
                        == [(r.rep, r.share, -r.amount) for r in q.reps])
                if not same:
                    return Finding(
                        f"{p.partner}'s {x.type} credit is {_pct(p.share)} = {p.amount} on "
                        f"the sale but {q.partner} {_pct(q.share)} = {q.amount} on its refund",
                        deals=deals, allocations=(("sale", sale), ("refund", refund)),
                        rules=pairs, partners=(p.partner,), fields=(x.type,))
            if len(x.partners) != len(y.partners) or x.amount != -y.amount:
                return Finding(f"the refund's {x.type} credit ({y.amount}) does not mirror the "
                               f"sale's ({x.amount})", deals=deals,
                               allocations=(("sale", sale), ("refund", refund)), rules=pairs,
                               fields=(x.type,))
        return None


def _named(credit: TypeCredit) -> str:
    return ", ".join(f"{r} (clause {c})" for r, c in _rules_of(credit))


def _refund(deal: Mapping[str, Any]) -> dict[str, Any]:
    amount = str(deal["amount"])
    negated = amount[1:] if amount.startswith("-") else "-" + amount
    return {**deal, "amount": negated}
