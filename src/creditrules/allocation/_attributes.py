"""A declared deal attribute's value as conditions compare it: text, an exact number, a
date or a flag, converted from what a reader gives (text from CSV) or refused, naming the
field."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from creditrules.allocation.model import Deal
from creditrules.base._dates import parse_iso_date
from creditrules.base._money import MoneyError, parse_decimal
from creditrules.conditions._ast import Type, Value
from creditrules.errors import DealError

__all__ = ["_attribute"]


def _attribute(deal: Deal, name: str, value: Any, typ: Type) -> Value:
    field = f"attributes.{name}"
    try:
        if typ is Type.NUMBER:
            if isinstance(value, Decimal):
                return value
            if isinstance(value, str):
                return parse_decimal(value)
        elif typ is Type.DATE:
            if isinstance(value, dt.date):
                return value
            if isinstance(value, str):
                return parse_iso_date(value)
        elif typ is Type.BOOL:
            if isinstance(value, bool):
                return value
            if value in ("true", "false"):  # CSV cells
                return bool(value == "true")
        elif isinstance(value, str):
            return value
    except (MoneyError, ValueError):
        pass
    raise DealError(f"expected a {typ} value, got {value!r}", deal_id=deal.id, field=field,
                    code="bad-field")
