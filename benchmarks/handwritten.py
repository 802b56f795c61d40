"""benchmarks/alliance.yaml written by hand in plain Python: the bound to measure against.

What a competent developer would write for this one agreement, without a rules library:
the clauses as ``if`` statements in precedence order, money in integer cents, largest
remainder with the same hashed tie-break, the same ledger rows. It checks what it reads
(types, partners, dates) but nothing it does not need. ``benchmarks/run.py`` checks that it
agrees with creditrules on every deal.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import sys
from collections.abc import Sequence
from json.encoder import encode_basestring
from typing import Any

PARTNERS = ("acme", "beta")
WEIGHTS = {"detail": 1, "joint_call": 2, "presentation": 3, "workshop": 4, "lead_sourced": 5}
FACTOR4 = {"acme": 1, "beta": 4}  # normalise acme 0.25, beta 1: times four, in integers
START, END = "2026-01-01", "2027-12-31"
LAUNCH = ("2026-04-01", "2026-09-30")
FALLBACK_NOTE = "no contribution recorded: the rule's if_no_contribution shares apply"

# Revenue clauses, as (rule id, acme share, beta share) in the declared precedence order.
FIXED = {
    "reserved-nordics": (1, 0), "reserved-iberia": (0, 1), "government": (0.5, 0.5),
    "hospital-tenders": (0.4, 0.6), "hf-launch": (0.2, 0.8), "registered-beta": (0.3, 0.7),
    "acme-sourced": (0.6, 0.4), "beta-sourced": (0.5, 0.5), "named-acme": (0.7, 0.3),
    "named-beta": (0.25, 0.75), "marketplace": (0.45, 0.55), "small-deals": (0.5, 0.5),
    "product-xr": (0.55, 0.45), "product-iv": (0.35, 0.65),
}
# Shares in hundredths (exact), and their ledger text.
HUNDREDTHS = {rule: (round(a * 100), round(b * 100)) for rule, (a, b) in FIXED.items()}
OVERLAYS = {"strategic": (150, 150), "joint-calls": (100, 100), "workshops": (0, 100)}
FORBIDDEN = -1  # a per-attendee cap meaning "not allowed"
# Per-attendee caps in cents by governing policy, kind and attendee category.
CAPS = {
    "acme": {"meal": {None: 15000, "hcp": 10000, "government": 2500},
             "reception": {None: 25000, "hcp": FORBIDDEN, "government": FORBIDDEN},
             "speaker_program": {None: 50000, "hcp": 50000, "government": FORBIDDEN}},
    "beta": {"meal": {None: 12500, "hcp": 7500, "government": FORBIDDEN},
             "reception": {None: 30000, "hcp": 30000, "government": FORBIDDEN},
             "speaker_program": {None: 40000, "hcp": 40000, "government": FORBIDDEN}},
    "stricter": {"meal": {None: 12500, "hcp": 7500, "government": FORBIDDEN},
                 "reception": {None: 25000, "hcp": FORBIDDEN, "government": FORBIDDEN},
                 "speaker_program": {None: 40000, "hcp": 40000, "government": FORBIDDEN}},
}
PREAPPROVAL = {"acme": 100000, "beta": 50000, "stricter": 50000}
ANNUAL = {"acme": 200000, "beta": None, "stricter": 200000}
CLAUSES = {"hcp-stricter": "7.2", "government-stricter": "7.3", "owner-policy": "7.4"}


def cents(text: Any) -> int:
    if type(text) is not str:
        raise ValueError("amount must be text")
    sign = 1
    if text[:1] == "-":
        sign, text = -1, text[1:]
    whole, _, frac = text.partition(".")
    if not whole.isdigit() or len(frac) > 2 or (frac and not frac.isdigit()):
        raise ValueError(f"bad amount {text!r}")
    return sign * (int(whole) * 100 + int(frac.ljust(2, "0") or 0))


def money(units: int) -> str:
    sign = "-" if units < 0 else ""
    whole, frac = divmod(abs(units), 100)
    return f"{sign}{whole}.{frac:02d}"


def share_text(num: int, den: int) -> str:
    g = math.gcd(num, den)
    num, den = num // g, den // g
    d, twos, fives = den, 0, 0
    while d % 2 == 0:
        d //= 2
        twos += 1
    while d % 5 == 0:
        d //= 5
        fives += 1
    if d != 1:
        return f"{num}/{den}"
    places = max(twos, fives)
    whole, frac = divmod(num * 10**places // den, 10**places)
    text = str(frac).rjust(places, "0").rstrip("0") if places else ""
    return f"{whole}.{text}" if text else str(whole)


def split(units: int, nums: Sequence[int], den: int, names: Sequence[str], salt: str,
          target: int | None = None) -> list[int]:
    """Largest remainder of ``units * nums[i] / den`` to ``target`` (default: the rounded
    total), ties by the larger share then sha256 of the salt and name; refunds mirrored."""
    if units < 0:
        return [-u for u in split(-units, nums, den, names, salt,
                                  None if target is None else -target)]
    if target is None:
        target, rest = divmod(units * sum(nums), den)
        if 2 * rest > den or (2 * rest == den and target % 2):
            target += 1
    exact = [units * n for n in nums]
    got = [x // den for x in exact]
    left = target - sum(got)
    if left:
        keys = {i: (-(x % den), -x) for i, x in enumerate(exact) if x % den}
        if len(set(keys.values())) < len(keys):  # a tie: the hashed tie-break decides
            for i in keys:
                keys[i] += (hashlib.sha256(f"{salt}\x1f{names[i]}".encode()).digest(), names[i])
        for i in sorted(keys, key=keys.__getitem__)[:left]:
            got[i] += 1
    return got


def allocate(deal: dict[str, Any], ref: tuple[str, str, str]) -> list[tuple[Any, ...]]:
    """The ledger rows of one deal (the columns of creditrules.io.batch.LEDGER_COLUMNS)."""
    deal_id = deal["id"]
    date = deal["date"]
    if type(deal_id) is not str or type(date) is not str or len(date) != 10:
        raise ValueError("bad id or date")
    dt.date.fromisoformat(date)
    if not START <= date <= END or deal["currency"] != "USD":
        raise ValueError("outside the agreement")
    units = cents(deal["amount"])
    account = deal.get("account") or {}
    owner = account.get("owner")
    named = account.get("named") is True
    segment = account.get("segment")
    territory = account.get("territory")
    lead = deal.get("lead") or {}
    source = lead.get("source")
    product = deal.get("product")
    attributes = deal.get("attributes") or {}
    rep_partner = {}
    owners = {}
    for rep in deal.get("reps") or ():
        if rep["partner"] not in PARTNERS:
            raise ValueError("unknown partner")
        rep_partner[rep["id"]] = rep["partner"]
        if rep.get("owner"):
            owners.setdefault(rep["partner"], []).append(rep["id"])
    # Activities: (kind, partners, reps); the lead counts as one more.
    acts = []
    joint = joint_calls = workshops = 0
    for act in deal.get("activities") or ():
        reps = act["reps"] if "reps" in act else [act["rep"]]
        partners = {rep_partner[r] for r in reps}
        acts.append((act["kind"], partners, reps))
        joint += len(partners) > 1
        joint_calls += act["kind"] == "joint_call"
        workshops += act["kind"] == "workshop"
    if source is not None:
        rep = lead.get("rep")
        acts.append(("lead_sourced", {source}, [rep] if rep in rep_partner else []))
    amount_ge = units >= 0  # amounts compared in cents below

    # Revenue: the first clause that applies, in the declared order; else by contribution.
    tier = attributes.get("tier")
    registered = attributes.get("registered")
    if territory in ("nordics", "baltics"):
        rule = "reserved-nordics"
    elif territory == "iberia":
        rule = "reserved-iberia"
    elif segment == "government":
        rule = "government"
    elif segment == "hospital" and units >= 25_000_000:
        rule = "hospital-tenders"
    elif (LAUNCH[0] <= date <= LAUNCH[1] and attributes.get("indication") == "heart-failure"
          and owner == "beta"):
        rule = "hf-launch"
    elif (source == "beta" and registered is not None and registered >= "2026-01-01"
          and tier is not None and int(tier) >= 2):
        rule = "registered-beta"
    elif source == "acme" and owner == "beta":
        rule = "acme-sourced"
    elif source == "beta":
        rule = "beta-sourced"
    elif named and owner == "acme":
        rule = "named-acme"
    elif named and owner == "beta":
        rule = "named-beta"
    elif attributes.get("channel") == "marketplace":
        rule = "marketplace"
    elif -100_000 < units < 100_000:
        rule = "small-deals"
    elif product == "cardiozen-xr":
        rule = "product-xr"
    elif product in ("cardiozen-iv", "cardiozen-kit"):
        rule = "product-iv"
    else:
        rule = "by-contribution"
    del amount_ge
    note = None
    if rule == "by-contribution":
        points = [0, 0]
        for kind, partners, _ in acts:
            w = WEIGHTS.get(kind, 0)
            for p in partners:
                i = 0 if p == "acme" else 1
                points[i] += w * FACTOR4[p]
        if points[0] + points[1]:
            nums, den = points, points[0] + points[1]
        else:
            nums, den, note = [1, 1], 2, FALLBACK_NOTE
    else:
        nums, den = list(HUNDREDTHS[rule]), 100
    owner_mode = rule in ("named-acme", "named-beta")
    credits = [("revenue", rule, nums, den, owner_mode, note)]
    if units >= 50_000_000 and joint >= 2:
        credits.append(("overlay", "strategic", list(OVERLAYS["strategic"]), 100, False, None))
    elif joint_calls >= 1:
        credits.append(("overlay", "joint-calls", list(OVERLAYS["joint-calls"]), 100, False,
                        None))
    elif workshops >= 2:
        credits.append(("overlay", "workshops", list(OVERLAYS["workshops"]), 100, False,
                        None))

    if segment in ("hospital", "clinic"):
        governs, policy_rule = "stricter", "hcp-stricter"
    elif segment == "government":
        governs, policy_rule = "stricter", "government-stricter"
    else:
        governs, policy_rule = owner, "owner-policy"
    policy = f"entertainment={governs} by {policy_rule}"

    rows: list[tuple[Any, ...]] = []
    revenue_shares: tuple[list[int], int] | None = None
    for type_name, rule, nums, den, owner_mode, note in credits:
        if type_name == "revenue":
            revenue_shares = (nums, den)
        salt = f"{deal_id}\x1f{type_name}"
        got = split(units, nums, den, PARTNERS, salt)
        for i, pid in enumerate(PARTNERS):
            if not nums[i]:
                continue
            share, amount = share_text(nums[i], den), money(got[i])
            mine = sorted(r for r, p in rep_partner.items() if p == pid)
            if not mine:
                rows.append((deal_id, date, "credit", type_name, pid, None, share, amount, share,
                             amount, "USD", rule, None, note, policy, *ref))
                continue
            if owner_mode:
                chosen = owners.get(pid, [])
                if len(chosen) != 1:
                    raise ValueError("no single deal owner")
                weights = [1 if r == chosen[0] else 0 for r in mine]
            else:
                points_r = dict.fromkeys(mine, 0)
                for kind, _, reps in acts:
                    for r in reps:
                        if r in points_r:
                            points_r[r] += WEIGHTS.get(kind, 0)
                weights = [points_r[r] for r in mine]
                if not sum(weights):
                    weights = [1] * len(mine)
            total = sum(weights)
            rep_units = split(units, [nums[i] * w for w in weights], den * total, mine,
                              f"{salt}\x1f{pid}", got[i])
            for r, w, u in zip(mine, weights, rep_units, strict=True):
                if owner_mode and not w:
                    continue
                rows.append((deal_id, date, "credit", type_name, pid, r,
                             share_text(nums[i] * w, den * total), money(u), share, amount,
                             "USD", rule, None, note, policy, *ref))
    for expense in deal.get("expenses") or ():
        rows.extend(_expense(deal_id, date, expense, governs, policy_rule, policy,
                             revenue_shares, ref))
    return rows


def _expense(deal_id: str, date: str, expense: dict[str, Any], governs: str,
             policy_rule: str, policy: str, revenue: tuple[list[int], int] | None,
             ref: tuple[str, str, str]) -> list[tuple[Any, ...]]:
    kind = expense["kind"]
    amount = cents(expense["amount"])
    paid_by = expense["paid_by"]
    raw = expense["attendees"]
    attendees = ([(None, 0)] * raw if type(raw) is int else
                 [(a.get("category"), cents(a["spent_this_year"]) if "spent_this_year" in a
                   else 0) for a in raw])
    n = len(attendees)
    caps = CAPS[governs].get(kind, {})
    annual = ANNUAL[governs]
    whose = (f"the stricter of the policies (rule {policy_rule}, clause "
             f"{CLAUSES[policy_rule]})" if governs == "stricter" else
             f"{governs}'s policy (rule {policy_rule}, clause {CLAUSES[policy_rule]})")
    forbidden = set()
    covered_n = 0  # covered amount times n: each attendee's part is amount / n
    for category, spent in attendees:
        cap = caps.get(category, caps.get(None, FORBIDDEN)) if caps else FORBIDDEN
        if cap == FORBIDDEN:
            forbidden.add(category or "any")
            continue
        if annual is not None:
            cap = min(cap, max(annual - spent, 0))
        covered_n += min(amount, cap * n)
    violations = []
    if forbidden:
        violations.append(f"kind {kind!r} is not allowed for {', '.join(sorted(forbidden))} "
                          f"attendees under {whose}")
        covered_n = 0
    covered = covered_n // n
    excess = amount - covered
    if amount > PREAPPROVAL[governs] and not expense.get("preapproved"):
        violations.append(f"needs pre-approval above {money(PREAPPROVAL[governs])} under "
                          f"{whose}, and none is recorded")
    if kind in ("speaker_program", "reception"):
        rule, disallow = "joint-events", False
        assert revenue is not None
        nums, den = revenue
    else:
        rule, disallow = "meals", True
        nums, den = [1, 1], 2
    got = split(covered, nums, den, PARTNERS, f"{deal_id}\x1f{expense['id']}")
    note = "; ".join(violations) or None
    rows: list[tuple[Any, ...]] = []
    if not forbidden:
        for i, pid in enumerate(PARTNERS):
            if nums[i] or got[i]:
                share, part = share_text(nums[i], den), money(got[i])
                rows.append((deal_id, date, "expense", kind, pid, None, share, part, share,
                             part, "USD", rule, expense["id"], note, policy, *ref))
    if excess:
        flags = (["disallowed"] if forbidden or disallow else []) + violations
        rows.append((deal_id, date, "excess", kind, paid_by, None, None, money(excess), None,
                     money(excess), "USD", rule, expense["id"], "; ".join(flags) or None,
                     policy, *ref))
    return rows


COLUMNS = ("deal", "date", "kind", "type", "partner", "rep", "share", "amount",
           "partner_share", "partner_amount", "currency", "rules", "expense", "note", "policy",
           "ruleset", "ruleset_version", "ruleset_hash")


def run_file(source: str, target: str, ref: tuple[str, str, str]) -> int:
    """JSON Lines deals in, JSON Lines ledger out, as a competent script would: ``json``
    to read each line, each row written in the ledger's column order with the standard
    library's string encoder (no dict per row). Returns the number of deals."""
    keys = [f'"{c}":' for c in COLUMNS]
    text = encode_basestring  # the C encoder json.dumps uses, with ensure_ascii=False
    n = 0
    with open(source, encoding="utf-8") as lines, open(target, "w", encoding="utf-8") as out:
        for line in lines:
            out.write("".join(
                "{" + ",".join([k + ("null" if v is None else text(v))
                                for k, v in zip(keys, row, strict=True)]) + "}\n"
                for row in allocate(json.loads(line), ref)))
            n += 1
    return n


if __name__ == "__main__":
    # handwritten.py DEALS.jsonl LEDGER.jsonl RULESET_ID VERSION HASH
    run_file(sys.argv[1], sys.argv[2], (sys.argv[3], sys.argv[4], sys.argv[5]))
