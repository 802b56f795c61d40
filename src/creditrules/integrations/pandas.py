"""pandas DataFrames in, ledger and rejects DataFrames out (``pip install creditrules[pandas]``).

A deal DataFrame has one deal per row, with the columns of the CSV input format: dotted names
for nested fields (``account.owner``), JSON text (or lists of dicts) in ``reps``,
``activities`` and ``expenses``, missing values as ``None``/``NaN``. Read CSV files with
``dtype=str`` so that amounts stay exact text: a float amount is rejected, as everywhere.
A DataFrame read from JSON Lines with nested objects (``pd.read_json(..., lines=True,
dtype=False)``) works as well.

    ledger, rejects = allocate_frame(ruleset, deals)

The ledger has the columns of :data:`creditrules.io.batch.LEDGER_COLUMNS` (text, ``None`` for
no value); rejects have ``line`` (the row's position from 1, or from ``first_line``),
``deal``, ``code`` and ``reason``. Every row ends in one or the other.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pandas as pd

from creditrules.io.batch import LEDGER_COLUMNS, LedgerRows, Rejection, Row, run_batch
from creditrules.io.records import BadRecord, Record

if TYPE_CHECKING:
    from creditrules.agreement.ruleset import Ruleset

__all__ = ["REJECT_COLUMNS", "allocate_frame", "ledger_frame", "records_from_frame"]

REJECT_COLUMNS = ("line", "deal", "code", "reason")
_JSON_COLUMNS = frozenset({"reps", "activities", "expenses", "attributes", "account", "lead"})


def _plain(value: Any) -> Any:
    """A cell as a plain Python value: numpy scalars unwrapped, NaN/NA as missing."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    item = getattr(value, "item", None)
    if item is not None and not isinstance(value, str | bytes):
        value = item()  # numpy int64 -> int, float64 -> float, bool_ -> bool
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def records_from_frame(frame: pd.DataFrame, *, first_line: int = 1
                       ) -> Iterator[Record | BadRecord]:
    """The rows of ``frame`` as deal records (:class:`~creditrules.io.records.Record`, or a
    :class:`~creditrules.io.records.BadRecord` for a cell that cannot be read), numbered from
    ``first_line``."""
    columns = [(str(c), str(c).split(".")) for c in frame.columns]
    for offset, values in enumerate(frame.itertuples(index=False, name=None)):
        line = first_line + offset
        record: dict[str, Any] = {}
        try:
            for (name, parts), cell in zip(columns, values, strict=True):
                value = _plain(cell)
                if value is None:
                    continue
                if name in _JSON_COLUMNS and isinstance(value, str):
                    from creditrules.io.records import _loads

                    value = _loads(value)
                elif name == "account.named" and value in ("true", "false"):
                    value = value == "true"
                target = record
                for part in parts[:-1]:
                    target = target.setdefault(part, {})
                    if not isinstance(target, dict):
                        raise ValueError(f"column {name}: {part} is not an object")
                target[parts[-1]] = value
        except (ValueError, RecursionError) as exc:
            deal = record.get("id")
            yield BadRecord(line, f"column {name}: {exc}" if "column" not in str(exc)
                            else str(exc), None if deal is None else str(deal),
                            getattr(exc, "code", "unreadable"))  # duplicate-key, too-large
            continue
        yield Record(line, record)


def ledger_frame(rows: list[Row]) -> pd.DataFrame:
    """Ledger rows as a DataFrame with the ledger's columns (all text)."""
    return pd.DataFrame(rows, columns=list(LEDGER_COLUMNS), dtype=object)


def rejects_frame(rejections: list[Rejection]) -> pd.DataFrame:
    """Rejections as a DataFrame (``line``, ``deal``, ``code``, ``reason``)."""
    frame = pd.DataFrame([(r.line, r.deal_id, r.code, r.reason) for r in rejections],
                         columns=list(REJECT_COLUMNS), dtype=object)
    return frame.astype({"line": "int64"})


def allocate_frame(ruleset: Ruleset, frame: pd.DataFrame, *, first_line: int = 1
                   ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Allocate every deal row of ``frame``: ``(ledger, rejects)`` DataFrames, rows in input
    order. ``first_line`` numbers the first row in the rejects (default 1)."""
    ledger = LedgerRows()
    rejects: list[Rejection] = []
    run_batch(ruleset, records_from_frame(frame, first_line=first_line), ledger,
              rejects.append)
    return ledger_frame(ledger.rows), rejects_frame(rejects)
