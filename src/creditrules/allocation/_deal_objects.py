"""Reading a :class:`~creditrules.allocation.model.Deal` object (built in Python, or by
:meth:`Deal.from_mapping` for a record of an unusual shape) once ``Evaluator.check`` has
checked it: its values as they are, no reader having converted them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from creditrules.allocation._attributes import _attribute
from creditrules.allocation._decisions import ComputedDeal
from creditrules.allocation._outcomes import LEAD_KIND
from creditrules.allocation._reading import MISSING, BoundedCache, Decline
from creditrules.allocation.model import Account, Activity, Deal, Lead, Rep
from creditrules.conditions._ast import Path, Value

if TYPE_CHECKING:
    from creditrules.allocation._pipeline import Pipeline, RepReading

__all__ = ["DealObjects"]


class DealObjects:
    """Reads Deal objects for a :class:`~creditrules.allocation._pipeline.Pipeline`."""

    def __init__(self, fast: Pipeline) -> None:
        self.fast = fast
        self.partner_set = fast.partner_set
        self.act_objects: BoundedCache[Activity, tuple[str, tuple[str, ...], str | None,
                                               dt.date | None]] = BoundedCache()
        self.attr_objects: BoundedCache[tuple[str, Any, type], Value] = BoundedCache()

    def compute(self, deal: Deal, *, credit: bool = True) -> ComputedDeal:
        """A checked :class:`Deal` object, its values as they are (no reader converted
        them); ``credit=False``: its expenses only."""
        fast = self.fast
        deal_id = deal.id
        if type(deal_id) is not str or not deal_id or deal.currency != fast.rs.currency:
            raise Decline
        day = deal.date
        segment = fast.dates.place(day, in_agreement=True)
        amount = deal.amount
        if type(amount) is not Decimal or not amount.is_finite():
            raise Decline
        units = fast.amounts.units(amount)
        account = deal.account
        # Lists where tuples belong pass the checks as they pass the oracle: read alike.
        if (type(account) is not Account or type(deal.reps) not in (tuple, list)
                or type(deal.activities) not in (tuple, list)
                or not isinstance(deal.attributes, Mapping)):
            raise Decline
        owner = self._partner(account.owner)
        named = account.named
        if type(named) is not bool:
            raise Decline
        lead = deal.lead
        if type(lead) is not Lead:
            raise Decline
        source = self._partner(lead.source)
        lead_rep = lead.rep
        if lead_rep is not None and (type(lead_rep) is not str or not lead_rep):
            raise Decline
        people = fast._people(map(self._rep, deal.reps),
                              map(self._activity, deal.activities), source, lead_rep)
        texts = (deal.product, account.id, account.segment, account.territory)
        if any(t is not None and type(t) is not str for t in texts):
            raise Decline
        scalars: dict[Path, Value] = {
            ("id",): deal_id, ("date",): day, ("amount",): amount,
            ("currency",): fast.rs.currency, ("product",): deal.product,
            ("account", "id"): account.id, ("account", "owner"): owner,
            ("account", "named"): named, ("account", "segment"): account.segment,
            ("account", "territory"): account.territory,
            ("lead", "source"): source, ("lead", "rep"): lead_rep,
        }
        scalars.update(fast.no_attributes)
        attributes = deal.attributes
        if attributes:
            get = attributes.get
            for name in fast.attributes:
                value = get(name)
                if value is not None:
                    scalars[("attributes", name)] = self._attribute(deal, name, value)
        expenses = deal.expenses
        if type(expenses) not in (tuple, list):
            raise Decline
        read = fast.expense.read_object
        return fast._finish(deal_id, day, segment, amount, units, owner, source, lead_rep,
                            scalars, people, [read(e) for e in expenses], credit=credit)

    def _rep(self, item: Any) -> RepReading:
        """A :class:`Rep`, its values as they are."""
        if type(item) is not Rep or type(item.id) is not str \
                or type(item.partner) is not str or type(item.owner) is not bool:
            raise Decline
        return self.fast._rep_view(item.id, item.partner, item.owner)

    def _partner(self, value: Any) -> str | None:
        if value is not None and value not in self.partner_set:
            raise Decline  # unknown: the checks name it
        return value  # type: ignore[no-any-return]

    def _activity(self, act: Any) -> tuple[str, tuple[str, ...], str | None,
                                                   dt.date | None]:
        """An :class:`Activity` as (kind, reps, partner, date), its types checked (the deal
        checks have checked the rest); cached by the (hashable, frozen) object's value."""
        if type(act) is not Activity:
            raise Decline
        try:
            found = self.act_objects.get(act)
            cached = True
        except TypeError:  # a list where a tuple belongs: unhashable, read uncached
            found, cached = None, False
        if found is None:
            kind, who, day = act.kind, act.partner, act.date
            reps: Any = act.reps
            if type(reps) is list:  # typed a tuple; a list passes the checks all the same
                reps = tuple(reps)
            # Only types: the checks have refused what the agreement refuses (an activity
            # with no one on it is read, and counts for no one).
            if (type(kind) is not str or kind == LEAD_KIND or type(reps) is not tuple
                    or any(type(r) is not str for r in reps)
                    or (day is not None and type(day) is not dt.date)):
                raise Decline
            who = self._partner(who)
            found = (kind, reps, who, day)
            if cached:
                self.act_objects.put(act, found)
        return found

    def _attribute(self, deal: Deal, name: str, value: Any) -> Value:
        """A declared attribute of a Deal object, converted as the checks convert it."""
        key = (name, value, type(value))
        try:
            found = self.attr_objects.get(key, MISSING)
        except TypeError:
            raise Decline from None
        if found is MISSING:
            found = _attribute(deal, name, value, self.fast.attributes[name])
            self.attr_objects.put(key, found)
        return found  # type: ignore[return-value]

