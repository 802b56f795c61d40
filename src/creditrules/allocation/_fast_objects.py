"""Deal objects on the fast path: a :class:`~creditrules.allocation.model.Deal` built in
Python is read with its values as they are (no reader converted them), checked as
``Evaluator.check`` checks
them; anything else is declined and takes the plain path."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from creditrules.allocation._fast_plans import FastDeal
from creditrules.allocation._fast_read import MISSING, BoundedCache, Decline
from creditrules.allocation._outcomes import LEAD_KIND
from creditrules.allocation.model import Account, Activity, Deal, Lead, Rep
from creditrules.conditions._ast import Path, Value
from creditrules.errors import CreditRulesError

if TYPE_CHECKING:
    from creditrules.allocation._fast import FastPath, RepReading

__all__ = ["DealObjects"]


class DealObjects:
    """Reads Deal objects for a :class:`~creditrules.allocation._fast.FastPath`."""

    def __init__(self, fast: FastPath) -> None:
        self.fast = fast
        self.partner_set = fast.partner_set
        self.act_objects: BoundedCache[Activity, tuple[str, tuple[str, ...], str | None,
                                               dt.date | None]] = BoundedCache()
        self.attr_objects: BoundedCache[tuple[str, Any, type], Value] = BoundedCache()

    def compute(self, deal: Deal) -> FastDeal:
        """A :class:`Deal` object, as the plain path reads one: its values as they are (no
        reader converted them), checked as ``Evaluator.check`` checks them."""
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
        if (type(account) is not Account or type(deal.reps) is not tuple
                or type(deal.activities) is not tuple
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
        if type(expenses) is not tuple:
            raise Decline
        return fast._finish(deal_id, day, segment, amount, units, owner, source, lead_rep,
                            scalars, people, expenses, fast.expense_object_reader)

    def _rep(self, item: Any) -> RepReading:
        """A :class:`Rep`, its values as they are."""
        if type(item) is not Rep or type(item.id) is not str \
                or type(item.partner) is not str or type(item.owner) is not bool:
            raise Decline
        return self.fast._rep_view(item.id, item.partner, item.owner)

    def _partner(self, value: Any) -> str | None:
        if value is not None and value not in self.partner_set:
            raise Decline  # unknown: the plain path names it
        return value  # type: ignore[no-any-return]

    def _activity(self, act: Any) -> tuple[str, tuple[str, ...], str | None,
                                                   dt.date | None]:
        """An :class:`Activity` as (kind, reps, partner, date), checked as the plain path
        checks it; cached by the (hashable, frozen) object's value."""
        if type(act) is not Activity:
            raise Decline
        try:
            found = self.act_objects.get(act)
        except TypeError:  # a list where a tuple belongs
            raise Decline from None
        if found is None:
            kind, reps, who, day = act.kind, act.reps, act.partner, act.date
            if (type(kind) is not str or not kind or kind == LEAD_KIND
                    or type(reps) is not tuple
                    or any(type(r) is not str or not r for r in reps)
                    or (day is not None and type(day) is not dt.date)):
                raise Decline
            who = self._partner(who)
            if not reps and who is None:
                raise Decline
            found = (kind, reps, who, day)
            self.act_objects.put(act, found)
        return found

    def _attribute(self, deal: Deal, name: str, value: Any) -> Value:
        """A declared attribute of a Deal object as the plain path converts it."""
        key = (name, value, type(value))
        try:
            found = self.attr_objects.get(key, MISSING)
        except TypeError:
            raise Decline from None
        if found is MISSING:
            from creditrules.allocation._evaluate import _attribute

            try:
                found = _attribute(deal, name, value, self.fast.attributes[name])
            except CreditRulesError:
                raise Decline from None
            self.attr_objects.put(key, found)
        return found  # type: ignore[return-value]

