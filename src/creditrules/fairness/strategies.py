"""Hypothesis strategies for deals, derived from a ruleset.

The deals are JSON-shaped mappings, exactly what :meth:`creditrules.Ruleset.allocate` reads,
built from the ruleset itself: its partners, the values its conditions compare against
(thresholds one below, at and one above; names; activity kinds; dates; counts inside
``count(...)``), its declared attributes by type, activities with the kinds it weighs, reps
per partner with owner flags, amounts from one currency unit to very large and negative
(credit notes), dates inside and outside its rules' windows but inside the agreement, and
entertainment expenses when it declares policies. Use them to write your own properties::

    from hypothesis import given
    import creditrules
    from creditrules.fairness.strategies import deals

    ruleset = creditrules.load("rulesets/cardiozen.yaml")

    @given(deals(ruleset))
    def test_revenue_is_fully_credited(deal):
        allocation = ruleset.allocate(deal)
        assert allocation.credit("revenue").amount == allocation.amount

Every strategy shrinks towards the simplest deal: the agreement's first day, one currency
unit, no account, lead, reps, activities, attributes or expenses; so a failing example is
reported in its smallest form.

:class:`DealSpace` and the deal building blocks are defined in ``_deal_space``, what is
mined from the ruleset's conditions (:func:`literals`, :func:`targets`) in
``_ruleset_mining``; this module re-exports them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
from hypothesis import strategies as st

from creditrules.agreement.ruleset import Ruleset
from creditrules.allocation._outcomes import LEAD_KIND
from creditrules.analysis._deal_space import Block as Block
from creditrules.analysis._deal_space import Deal as Deal
from creditrules.analysis._deal_space import DealSpace as DealSpace
from creditrules.analysis._deal_space import finish as finish
from creditrules.analysis._mining import CountBound as CountBound
from creditrules.analysis._mining import Literals as Literals
from creditrules.analysis._mining import Target as Target
from creditrules.analysis._mining import count_bounds as count_bounds
from creditrules.analysis._mining import literals as literals
from creditrules.analysis._mining import targets as targets

__all__ = [
    "Block",
    "CountBound",
    "DealSpace",
    "Literals",
    "NullParty",
    "OneMore",
    "Target",
    "Twins",
    "activities",
    "amounts",
    "count_bounds",
    "dates",
    "deals",
    "equal_contributions",
    "expenses",
    "literals",
    "null_parties",
    "one_more_activity",
    "one_more_at_bounds",
    "one_more_of",
    "space",
    "targets",
]


_SPACES: dict[int, tuple[Ruleset, DealSpace]] = {}


def space(ruleset: Ruleset) -> DealSpace:
    """The (cached) :class:`DealSpace` of a ruleset."""
    found = _SPACES.get(id(ruleset))
    if found is None or found[0] is not ruleset:
        found = _SPACES[id(ruleset)] = (ruleset, DealSpace(ruleset))
    return found[1]


def deals(ruleset: Ruleset, *, negative: bool = True, expenses: bool = True
          ) -> st.SearchStrategy[Deal]:
    """Deals for ``ruleset`` as JSON-shaped mappings (what :meth:`Ruleset.allocate` reads).

    ``negative=False`` keeps amounts positive (no credit notes); ``expenses=False`` leaves
    out entertainment expenses even where the ruleset declares policies.
    """
    sp = space(ruleset)
    return sp.deals(amount=sp.amount_units(negative=negative), expenses=expenses)


def amounts(ruleset: Ruleset, *, negative: bool = True) -> st.SearchStrategy[str]:
    """Deal amounts as decimal text, from one currency unit to very large (see
    :meth:`DealSpace.amount_units`)."""
    sp = space(ruleset)
    return sp.amount_units(negative=negative).map(sp.amount_text)


def dates(ruleset: Ruleset) -> st.SearchStrategy[dt.date]:
    """Deal dates inside the agreement, around every rule's window (see
    :meth:`DealSpace.dates`)."""
    return space(ruleset).dates()


def activities(ruleset: Ruleset, reps: Sequence[Mapping[str, Any]] = ()
               ) -> st.SearchStrategy[list[dict[str, Any]]]:
    """Activities in their JSON shape, by the given reps or by partners, with the kinds the
    ruleset weighs or names."""
    sp = space(ruleset)
    ids = [str(r["id"]) for r in reps]
    return sp.blocks(ids).map(lambda bs: [b.activity() for b in bs for _ in range(b.repeat)])


def expenses(ruleset: Ruleset) -> st.SearchStrategy[list[dict[str, Any]]]:
    """Entertainment expenses in their JSON shape, with the kinds and attendee categories
    the ruleset's policies name and amounts around their caps."""
    return space(ruleset).expenses()


# -- deals of a particular shape, for metamorphic properties ----------------------------------

@attrs.frozen
class Twins:
    """A deal in which two parties contribute identically: two partners (``level ==
    "partners"``) with mirrored reps, activities and expenses, neither owning the account
    nor sourcing the lead; or two reps of one partner (``level == "reps"``) with mirrored
    activities and the same owner flag, neither the lead's rep."""

    deal: Deal
    level: str
    pair: tuple[str, str]


@attrs.frozen
class NullParty:
    """A deal with a party that takes no part in it: a partner (``level == "partners"``)
    with no reps, activities or expenses, not owning the account nor sourcing the lead; or a
    rep (``level == "reps"``) with no activity, not the lead's rep nor the deal owner,
    while another rep of its partner did some work."""

    deal: Deal
    level: str
    party: str
    partner: str


@attrs.frozen
class OneMore:
    """A deal, and the same deal with one more activity (of ``kind``) by one party:
    ``partner`` itself (``rep is None``) or its ``rep``."""

    deal: Deal
    more: Deal
    partner: str
    rep: str | None
    kind: str


def _pick(sp: DealSpace, options: Sequence[Any]) -> st.SearchStrategy[Any]:
    return sp._cached(("pick", tuple(options)), lambda: st.sampled_from(list(options)))


@st.composite
def _lead(draw: st.DrawFn, sp: DealSpace, sources: Sequence[str | None],
          reps: Sequence[Mapping[str, Any]], barred: Sequence[str] = ()) -> dict[str, Any]:
    source = draw(_pick(sp, list(sources)))
    if source is None:
        return {}
    lead: dict[str, Any] = {"source": source}
    own = [str(r["id"]) for r in reps if r["partner"] == source and r["id"] not in barred]
    if own:
        rep = draw(_pick(sp, [None, *own]))
        if rep is not None:
            lead["rep"] = rep
    return lead


def _expense_list(items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [{"id": f"E{i + 1}", **{k: v for k, v in item.items() if k != "id"}}
            for i, item in enumerate(items)]


@st.composite
def _twin_partners(draw: st.DrawFn, sp: DealSpace) -> Twins:
    pairs = [(p, q) for i, p in enumerate(sp.partners) for q in sp.partners[i + 1:]]
    p, q = draw(_pick(sp, pairs))
    others = [x for x in sp.partners if x not in (p, q)]
    deal = draw(sp.header(owners=[None, *others], target=draw(sp.target())))
    n = draw(st.integers(0, sp.max_reps))
    reps_p: list[dict[str, Any]] = [{"id": f"{p}-{i + 1}", "partner": p} for i in range(n)]
    reps_q: list[dict[str, Any]] = [{"id": f"{q}-{i + 1}", "partner": q} for i in range(n)]
    if n:
        index = (draw(st.integers(0, n - 1)) if sp.owner_mode
                 else draw(sp._cached(("maybe-index", n), lambda: st.one_of(
                     st.none(), st.integers(0, n - 1)))))
        if index is not None:
            reps_p[index]["owner"] = reps_q[index]["owner"] = True
    twin = {r["id"]: t["id"] for r, t in zip(reps_p, reps_q, strict=True)}
    twin[p] = q
    other_reps = [r for x in others for r in draw(sp.reps(x))]
    blocks: list[Block] = []
    for block in draw(sp.blocks([r["id"] for r in reps_p], [p], max_size=3)):
        mirrored = tuple(twin[i] for i in block.ids)
        # A joint activity of both twins is its own mirror image.
        if block.who == "reps" and draw(st.booleans()):
            blocks.append(attrs.evolve(block, ids=block.ids + mirrored))
        else:
            blocks += [block, attrs.evolve(block, ids=mirrored)]
    if others:
        blocks += draw(sp.blocks([r["id"] for r in other_reps], others, max_size=2))
    reps = reps_p + reps_q + other_reps
    lead = draw(_lead(sp, [None, *others], reps))
    if lead:
        deal["lead"] = lead
    finish(deal, reps, blocks)
    if sp.with_expenses:
        paid = draw(sp._cached(("paid-by", p), lambda: st.lists(sp.expense(0, [p]),
                                                                  max_size=2)))
        items = [e for item in paid for e in (item, {**item, "paid_by": q})]
        if others:
            items += draw(sp._cached(("paid-by", tuple(others)), lambda: st.lists(
                sp.expense(0, others), max_size=1)))
        sp.add_expenses(deal, _expense_list(items))
    return Twins(deal, "partners", (p, q))


@st.composite
def _twin_reps(draw: st.DrawFn, sp: DealSpace) -> Twins:
    p = draw(_pick(sp, sp.partners))
    deal = draw(sp.header(target=draw(sp.target())))
    r1, r2 = f"{p}-1", f"{p}-2"
    # Under owner credit, a third rep owns the deal, so the twins stay alike.
    extra = sp.owner_mode or draw(st.booleans())
    reps_p: list[dict[str, Any]] = [{"id": r1, "partner": p}, {"id": r2, "partner": p}]
    if not sp.owner_mode and draw(st.booleans()):
        reps_p[0]["owner"] = reps_p[1]["owner"] = True
    if extra:
        reps_p.append({"id": f"{p}-3", "partner": p, **({"owner": True} if sp.owner_mode
                                                         else {})})
    other_reps = [r for x in sp.partners if x != p for r in draw(sp.reps(x))]
    ids = [r1, *(r["id"] for r in reps_p[2:]), *(r["id"] for r in other_reps)]
    blocks: list[Block] = []
    for block in draw(sp.blocks(ids, max_size=4)):
        if r1 not in block.ids:
            blocks.append(block)
        elif draw(st.booleans()):
            blocks.append(attrs.evolve(block, ids=(*block.ids, r2)))
        else:
            mirrored = tuple(r2 if i == r1 else i for i in block.ids)
            blocks += [block, attrs.evolve(block, ids=mirrored)]
    reps = reps_p + other_reps
    lead = draw(_lead(sp, [None, *sp.partners], reps, barred=(r1, r2)))
    if lead:
        deal["lead"] = lead
    finish(deal, reps, blocks)
    sp.add_expenses(deal, draw(sp.expenses()))
    return Twins(deal, "reps", (r1, r2))


def equal_contributions(ruleset: Ruleset) -> st.SearchStrategy[Twins]:
    """Deals in which two partners, or two reps of one partner, contribute identically
    (see :class:`Twins`): fairness demands they get identical credit."""
    sp = space(ruleset)
    return sp._cached("twins", lambda: st.one_of(_twin_partners(sp), _twin_reps(sp)))


@st.composite
def _absent_partner(draw: st.DrawFn, sp: DealSpace) -> NullParty:
    p = draw(_pick(sp, sp.partners))
    others = [x for x in sp.partners if x != p]
    deal = draw(sp.header(owners=[None, *others], target=draw(sp.target())))
    reps = [r for x in others for r in draw(sp.reps(x))]
    blocks = draw(sp.blocks([r["id"] for r in reps], others))
    lead = draw(_lead(sp, [None, *others], reps))
    if lead:
        deal["lead"] = lead
    finish(deal, reps, blocks)
    sp.add_expenses(deal, draw(sp.expenses(others)))
    return NullParty(deal, "partners", p, p)


@st.composite
def _idle_rep(draw: st.DrawFn, sp: DealSpace) -> NullParty:
    p = draw(_pick(sp, sp.partners))
    deal = draw(sp.header(target=draw(sp.target())))
    idle, worker = f"{p}-1", f"{p}-2"
    reps: list[dict[str, Any]] = [{"id": idle, "partner": p}, {"id": worker, "partner": p}]
    if sp.owner_mode:
        reps[1]["owner"] = True
    reps += [r for x in sp.partners if x != p for r in draw(sp.reps(x))]
    ids = [r["id"] for r in reps if r["id"] != idle]
    # The worker does something alone, so the idle rep is not idle merely because no
    # one in its team did anything.
    first = draw(sp._cached(("alone", worker), lambda: sp.block(st.just(("reps", (worker,))))))
    blocks = [first, *draw(sp.blocks(ids, max_size=3))]
    lead = draw(_lead(sp, [None, *sp.partners], reps, barred=(idle,)))
    if lead:
        deal["lead"] = lead
    finish(deal, reps, blocks)
    sp.add_expenses(deal, draw(sp.expenses()))
    return NullParty(deal, "reps", idle, p)


def null_parties(ruleset: Ruleset) -> st.SearchStrategy[NullParty]:
    """Deals with a partner or a rep that takes no part in them (see :class:`NullParty`)."""
    sp = space(ruleset)
    return sp._cached("null", lambda: st.one_of(_absent_partner(sp), _idle_rep(sp)))


@st.composite
def _one_more(draw: st.DrawFn, sp: DealSpace) -> OneMore:
    deal = draw(sp.deals(expenses=False))
    # Often, one activity short of a count(...) threshold, the next one crossing it: the
    # monotonicity bugs sit one joint call past a threshold.
    below = draw(sp._cached("below", lambda: st.sampled_from(
        [None, *((t, i) for t in sp.targets for i, c in enumerate(t.counts)
                 if c[0] == "activities")])))
    options: list[tuple[str, str | None]] = [(p, None) for p in sp.partners]
    options += [(str(r["partner"]), str(r["id"])) for r in deal.get("reps", ())]
    partner, rep = draw(st.sampled_from(options))
    kind = draw(sp._cached("kinds", lambda: st.sampled_from(sp.kinds)))
    if below is not None:
        target, index = below
        _, values, n = target.counts[index]
        aimed = Target(target.rule, {}, ((("activities", values, n - 1)),))
        reps = [dict(r) for r in deal.get("reps", ())]
        blocks = sp.aimed_blocks(aimed, reps) if n > 1 else []
        deal = {**deal, "activities": [*deal.get("activities", ()),
                                       *(b.activity() for b in blocks for _ in range(b.repeat))]}
        if reps:
            deal["reps"] = reps
        wanted = values.get(("partner",))
        if isinstance(wanted, str) and wanted in sp.partners:
            partner, rep = wanted, None
        wanted_kind = values.get(("kind",))
        if isinstance(wanted_kind, str) and wanted_kind != LEAD_KIND:
            kind = wanted_kind
    block = Block(kind, "partner" if rep is None else "reps", (partner,) if rep is None
                  else (rep,))
    more = {**deal, "activities": [*deal.get("activities", ()), block.activity()]}
    return OneMore(deal, more, partner, rep, kind)


def one_more_activity(ruleset: Ruleset) -> st.SearchStrategy[OneMore]:
    """A deal and the same deal with one more activity by one party (see :class:`OneMore`)."""
    sp = space(ruleset)
    return sp._cached("one-more", lambda: _one_more(sp))


def one_more_of(ruleset: Ruleset, deal: Mapping[str, Any]) -> list[OneMore]:
    """``deal`` with one more activity of each kind the ruleset weighs or names, by each
    partner and by each of the deal's reps (explicit examples built on a given deal)."""
    sp = space(ruleset)
    parties: list[tuple[str, str | None]] = [(p, None) for p in sp.partners]
    parties += [(str(r["partner"]), str(r["id"])) for r in deal.get("reps", ())]
    out = []
    for partner, rep in parties:
        for kind in sp.kinds:
            block = Block(kind, "partner" if rep is None else "reps",
                          (partner,) if rep is None else (rep,))
            more = {**deal, "activities": [*deal.get("activities", ()), block.activity()]}
            out.append(OneMore(dict(deal), more, partner, rep, kind))
    return out


def one_more_at_bounds(ruleset: Ruleset) -> list[OneMore]:
    """At every count threshold of the ruleset's conditions (upper bounds included), the
    deal with one item fewer than the threshold, and with as many as it, each with one
    more: the counted activity added once more. Built on the plainest deal and on the
    plainest deal aimed at each rule; deterministic, whatever the seed."""
    sp = space(ruleset)
    out: list[OneMore] = []
    for bound in count_bounds(ruleset):
        if bound.collection != "activities":
            continue
        doer = bound.values.get(("partner",))
        others = [Block(sp.kinds[0], "partner", (p,)).activity() for p in sp.partners
                  if p != (doer if doer in sp.partners else sp.partners[0])]
        bases = sp.boundary_bases()
        # Also with one activity by each other partner, whose share the count may move.
        bases += [{**b, "activities": [*b.get("activities", ()), *others]} for b in bases]
        for base in bases:
            for k in (bound.n - 1, bound.n):
                if k < 0:
                    continue
                deal = sp.with_items(base, "activities", bound.values, k)
                more = sp.with_items(deal, "activities", bound.values, 1)
                added = more["activities"][-1]
                owner = {str(r["id"]): str(r["partner"]) for r in more.get("reps", ())}
                kind = str(added["kind"])
                # A joint activity is work by several parties, which credits each of them:
                # not "one more activity by a party".
                if "partner" in added:
                    out.append(OneMore(deal, more, str(added["partner"]), None, kind))
                elif added.get("rep") is not None and str(added["rep"]) in owner:
                    rep = str(added["rep"])
                    out.append(OneMore(deal, more, owner[rep], rep, kind))
    return out
