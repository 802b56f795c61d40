"""Synthetic deals for benchmarks/alliance.yaml: a CRM export as JSON-shaped dicts.

Deterministic for a seed: ``deals(n, seed)`` always yields the same deals, one at a time
(nothing is kept, so a million deals take no memory). The mix aims at a real quarter: most
deals small to medium, a few tenders and strategic deals, named and sourced accounts,
reserved territories, two to four reps, up to eight activities, and entertainment expenses
on about one deal in seven.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Iterator
from typing import Any

START = dt.date(2026, 1, 1)
DAYS = 730  # the agreement's two years
DATES = [(START + dt.timedelta(days=i)).isoformat() for i in range(DAYS)]
PRODUCTS = ["cardiozen"] * 6 + ["cardiozen-xr"] * 2 + ["cardiozen-iv", "cardiozen-kit"]
SEGMENTS = ["clinic"] * 7 + ["hospital"] * 5 + ["pharmacy"] * 6 + ["government"] * 2
TERRITORIES = (["us-east"] * 5 + ["us-west"] * 5 + ["dach"] * 3 + ["france"] * 3
               + ["uk"] * 3 + ["nordics", "baltics", "iberia"])
INDICATIONS = ["hypertension", "heart-failure", "arrhythmia"]
CHANNELS = ["direct"] * 7 + ["marketplace"] * 2 + ["distributor"]
KINDS = ["detail"] * 6 + ["presentation"] * 2 + ["workshop", "joint_call"]
EXPENSE_KINDS = ["meal"] * 14 + ["speaker_program"] * 3 + ["reception"] * 2 + ["gift"]
CATEGORIES = [None, None, "hcp", "hcp", "government"]
REPS = {p: [f"{p}-rep{i:02d}" for i in range(30)] for p in ("acme", "beta")}


def _amount(rng: random.Random) -> str:
    bucket = rng.random()
    if bucket < 0.2:
        cents = rng.randrange(5_000, 100_000)  # under USD 1,000
    elif bucket < 0.8:
        cents = rng.randrange(100_000, 10_000_000)
    elif bucket < 0.95:
        cents = rng.randrange(10_000_000, 40_000_000)
    else:
        cents = rng.randrange(40_000_000, 90_000_000)
    if rng.random() < 0.02:
        cents = -cents  # a credit note
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    return f"{sign}{whole}.{frac:02d}"


def deal(i: int, rng: random.Random) -> dict[str, Any]:
    """Deal number ``i`` (its id) drawn from ``rng``."""
    owner = rng.choice(("acme", "beta"))
    account: dict[str, Any] = {"id": f"ACC-{rng.randrange(5000):04d}", "owner": owner,
                               "segment": rng.choice(SEGMENTS),
                               "territory": rng.choice(TERRITORIES)}
    if rng.random() < 0.3:
        account["named"] = True
    reps: list[dict[str, Any]] = []
    for partner in ("acme", "beta"):
        chosen = rng.sample(REPS[partner], rng.choice((1, 1, 2)))
        for j, rep in enumerate(chosen):
            entry: dict[str, Any] = {"id": rep, "partner": partner}
            if j == 0:
                entry["owner"] = True
            reps.append(entry)
    data: dict[str, Any] = {
        "id": f"BM-{i:08d}", "date": rng.choice(DATES), "amount": _amount(rng),
        "currency": "USD", "product": rng.choice(PRODUCTS), "account": account, "reps": reps,
    }
    if rng.random() < 0.6:
        source = rng.choice(("acme", "beta"))
        lead: dict[str, Any] = {"source": source}
        if rng.random() < 0.5:
            lead["rep"] = next(r["id"] for r in reps if r["partner"] == source)
        data["lead"] = lead
    activities = []
    for _ in range(rng.randrange(0, 9)):
        kind = rng.choice(KINDS)
        if kind == "joint_call":
            acme = next(r["id"] for r in reps if r["partner"] == "acme")
            beta = next(r["id"] for r in reps if r["partner"] == "beta")
            activities.append({"kind": kind, "reps": [acme, beta]})
        else:
            activities.append({"kind": kind, "rep": rng.choice(reps)["id"]})
    if activities:
        data["activities"] = activities
    attributes: dict[str, Any] = {"indication": rng.choice(INDICATIONS),
                                  "channel": rng.choice(CHANNELS),
                                  "tier": str(rng.randrange(1, 4))}
    if rng.random() < 0.5:
        attributes["registered"] = rng.choice(DATES)
    data["attributes"] = attributes
    if rng.random() < 0.15 and not data["amount"].startswith("-"):
        data["expenses"] = [_expense(data["id"], rng)]
    return data


def _expense(deal_id: str, rng: random.Random) -> dict[str, Any]:
    kind = rng.choice(EXPENSE_KINDS)
    expense: dict[str, Any] = {
        "id": f"{deal_id}-x", "kind": kind,
        "amount": f"{rng.randrange(20, 3000)}.{rng.randrange(100):02d}",
        "paid_by": rng.choice(("acme", "beta")), "date": rng.choice(DATES),
    }
    if rng.random() < 0.7:
        expense["attendees"] = rng.randrange(1, 11)
    else:
        attendees: list[dict[str, Any]] = []
        for _ in range(rng.randrange(1, 5)):
            attendee: dict[str, Any] = {"id": f"hcp-{rng.randrange(900)}"}
            category = rng.choice(CATEGORIES)
            if category is not None:
                attendee["category"] = category
            if rng.random() < 0.3:
                attendee["spent_this_year"] = f"{rng.randrange(0, 2500)}.00"
            attendees.append(attendee)
        expense["attendees"] = attendees
    if rng.random() < 0.3:
        expense["preapproved"] = True
    return expense


def deals(n: int, seed: int = 2026) -> Iterator[dict[str, Any]]:
    """``n`` synthetic deals, deterministic for ``seed``."""
    rng = random.Random(seed)
    for i in range(n):
        yield deal(i, rng)


def write_jsonl(path: str, n: int, seed: int = 2026) -> None:
    """Write ``n`` deals as JSON Lines to ``path``."""
    with open(path, "w", encoding="utf-8") as out:
        for d in deals(n, seed):
            out.write(json.dumps(d, separators=(",", ":")) + "\n")
