"""Load time and memory of large rulesets, under each engine.

For each number of rules N (default 1,000 and 5,000), in a fresh process per engine (so
its peak memory is its own): a ruleset of N threshold rules with three tests each
(``attributes.tier == "tI" and amount >= I and attributes.score < 3I``, each overriding a
default) is loaded, then one deal is allocated (which builds the allocation pipeline), then
``--deals`` deals are allocated and compared between the engines. Then the batch cost:
``--warmup`` deals go through ``Ruleset.allocate_many`` (filling the caches), and
``--batch`` other deals (another seed) are timed through it; the engine evaluations
(durable_rules sessions asked about a deal, one per cache miss) during that timed pass are
counted, and a digest of the batch results is compared between the engines.
With ``--fields 2`` (or 3) rule I is pinned to field I mod 2 (or 3) instead of always the
tier: ``attributes.tier == "tI"``, ``product == "pI"``, ``account.territory == "xI"``
(the same amount and score tests); the rules of each further field credit a declared
type of their own (a deal may match one rule per field without ambiguity), and deals
draw a value for each field.
Reports load seconds, first-allocation seconds, per-deal allocate time (without its
``to_dict``, which lists a verdict per rule and is reported apart in ``--json``), peak RSS
before the batch, batch microseconds per deal, engine evaluations and engine sessions (one
per engine ruleset asked) in the timed batch, peak RSS after it (it holds the batch's
allocations), the engine rulesets the network was split into and the rules set aside for
the reference evaluator (none expected for this shape).

    .venv/bin/python benchmarks/load_size.py                  # 1,000 and 5,000 rules
    .venv/bin/python benchmarks/load_size.py --rules 10 100 1000 5000 --batch 20000
    .venv/bin/python benchmarks/load_size.py --rules 200 --json out.json
    .venv/bin/python benchmarks/load_size.py --batch-engines durable   # skip the slow one
    .venv/bin/python benchmarks/load_size.py --fields 2   # rules pinned on two fields
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ENGINES = ("durable", "reference")
#: The fields rules are pinned to with ``--fields``: (condition field, value prefix).
FIELDS = (("attributes.tier", "t"), ("product", "p"), ("account.territory", "x"))


def ruleset_text(n: int, fields: int = 1) -> str:
    """A ruleset of ``n`` rules with three tests each, plus a default; rule I is pinned to
    field I mod ``fields`` (the tier alone when 1)."""
    types = "".join(f", f{k}: {{total: declared, required: false}}" for k in range(1, fields))
    lines = [
        "ruleset: load-size",
        'version: "1"',
        "effective: {from: 2026-01-01}",
        "currency: USD",
        'rounding: {unit: "0.01", tie_break: hashed}',
        "partners: {acme: {name: A}, beta: {name: B}}",
        "attributes: {tier: text, score: number}",
        f"credit_types: {{revenue: {{total: 100%}}{types}}}",
        "credit:",
        '  - {id: base, clause: "0", text: base, default: true, split: {acme: 50%, beta: 50%}}',
    ]
    for i in range(n):
        k = i % fields
        field, prefix = FIELDS[k]
        when = f'{field} == "{prefix}{i}" and amount >= {i} and attributes.score < {3 * i}'
        if k == 0:  # as with one field: the text of earlier runs
            lines.append(
                f"  - {{id: r{i}, clause: '{i + 1}', text: r, overrides: [base], "
                f"when: '{when}', split: {{acme: {1 + i % 99}%, beta: {99 - i % 99}%}}}}"
            )
        else:
            lines.append(
                f"  - {{id: r{i}, clause: '{i + 1}', text: r, type: f{k}, when: '{when}', "
                f"overlay: {{acme: {1 + i % 9}%, beta: {9 - i % 9}%}}}}"
            )
    return "\n".join(lines) + "\n"


def deals(n: int, count: int, seed: int = 2026, fields: int = 1) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for k in range(count):
        deal: dict[str, Any] = {
            "id": f"L-{k}",
            "date": "2026-03-02",
            "amount": f"{rng.randrange(2 * n)}.00",
            "currency": "USD",
            "attributes": {"tier": f"t{rng.randrange(n + 10)}", "score": str(rng.randrange(6 * n))},
        }
        # Drawn after the others, so the one-field deals are those of earlier runs.
        if fields > 1:
            deal["product"] = f"p{rng.randrange(n + 10)}"
        if fields > 2:
            deal["account"] = {"territory": f"x{rng.randrange(n + 10)}"}
        out.append(deal)
    return out


def peak_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1e3
    return 0.0


def child(
    n: int, engine: str, count: int, warmup: int, batch: int, fields: int = 1
) -> dict[str, Any]:
    import creditrules
    from creditrules.engine import _durable

    evaluations = [0, 0]
    if engine == "durable":
        # Count the engine's evaluations (a cache miss in a DurableMatcher) and the engine
        # sessions they open (one per engine ruleset asked) by wrapping the methods that
        # ask the engine; the benchmark only observes.
        evaluate, fire = _durable.DurableMatcher._evaluate, _durable.DurableMatcher._fire

        def counted(self: Any, key: Any) -> Any:
            evaluations[0] += 1
            return evaluate(self, key)

        def fired(self: Any, handle: Any, fact: Any) -> Any:
            evaluations[1] += 1
            return fire(self, handle, fact)

        _durable.DurableMatcher._evaluate = counted  # type: ignore[method-assign]
        _durable.DurableMatcher._fire = fired  # type: ignore[method-assign]

    text = ruleset_text(n, fields)
    t0 = time.perf_counter()
    ruleset = creditrules.loads(text, engine=engine, source="load-size.yaml")
    t1 = time.perf_counter()
    sample = deals(n, count, fields=fields)
    ruleset.allocate(sample[0], explain=False)
    t2 = time.perf_counter()
    allocations = [ruleset.allocate(d, explain=False) for d in sample]
    t3 = time.perf_counter()
    # Timed apart: to_dict lists a verdict for every rule (5,000 at the largest size),
    # which is the explanation's cost, not the allocation's.
    results = [a.to_dict()["credits"] for a in allocations]
    t_dict = time.perf_counter() - t3
    peak = peak_mb()  # loading and allocating one by one, before the batch
    batch_us = 0.0
    digest = ""
    before = list(evaluations)
    if batch:
        for _ in ruleset.allocate_many(deals(n, warmup, seed=7, fields=fields), duplicates="allow"):
            pass
        before = list(evaluations)
        timed = deals(n, batch, seed=11, fields=fields)
        t4 = time.perf_counter()
        out = list(ruleset.allocate_many(timed, duplicates="allow"))
        t5 = time.perf_counter()
        batch_us = (t5 - t4) / batch * 1e6
        sha = hashlib.sha256()
        for a in out:  # one at a time: the whole batch as JSON would dwarf the peak
            sha.update(
                json.dumps(a.to_dict()["credits"] if hasattr(a, "to_dict") else repr(a)).encode()
            )
        digest = sha.hexdigest()
    # The engine rulesets the network was split into (0 under the reference engine).
    matcher = getattr(getattr(ruleset, "_evaluator", None), "matcher", None)
    groups = len(getattr(matcher, "_handles", ()))
    return {
        "rules": n,
        "fields": fields,
        "engine": engine,
        "load_s": t1 - t0,
        "first_allocate_s": t2 - t1,
        "allocate_us": (t3 - t2) / max(1, count) * 1e6,
        "to_dict_us": t_dict / max(1, count) * 1e6,
        "peak_rss_mb": peak,
        "batch_peak_rss_mb": peak_mb(),
        "batch_us": batch_us,
        "evaluations": evaluations[0] - before[0],
        "sessions": evaluations[1] - before[1],
        "batch_digest": digest,
        "engine_rulesets": groups,
        "set_aside": len(ruleset.engine_notes),
        "results": results,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rules", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--deals", type=int, default=200, help="deals compared per size")
    parser.add_argument("--warmup", type=int, default=2000, help="batch warm-up deals")
    parser.add_argument("--batch", type=int, default=20000, help="timed batch deals (0: none)")
    parser.add_argument(
        "--batch-engines",
        nargs="+",
        default=list(ENGINES),
        help="engines whose batch is timed (the reference one is slow on large rulesets)",
    )
    parser.add_argument(
        "--fields",
        type=int,
        choices=range(1, len(FIELDS) + 1),
        default=1,
        help="pin the rules on this many fields, in turn (tier, product, territory)",
    )
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        n, engine = int(args.child[0]), args.child[1]
        batch = args.batch if engine in args.batch_engines else 0
        print(json.dumps(child(n, engine, args.deals, args.warmup, batch, args.fields)))
        return 0
    from creditrules.engine import _durable

    engines = ENGINES if _durable.available() else ("reference",)
    runs: list[dict[str, Any]] = []
    print(
        f"{'rules':>6} {'engine':>9} {'load s':>7} {'1st alloc s':>11} {'us/deal':>8} "
        f"{'peak RSS MB':>11} {'batch us':>8} {'evals':>6} {'sessions':>8} {'batch MB':>8} "
        f"{'groups':>6} {'set aside':>9}"
    )
    ok = True
    for n in args.rules:
        by_engine = {}
        digests: dict[str, str] = {}
        for engine in engines:
            cmd = [
                sys.executable, __file__, "--child", str(n), engine, "--deals", str(args.deals),
                "--warmup", str(args.warmup), "--batch", str(args.batch),
                "--fields", str(args.fields), "--batch-engines", *args.batch_engines,
            ]  # fmt: skip
            done = subprocess.run(
                cmd,
                capture_output=True,
                text=True,
                check=False,
                env={**os.environ, "PYTHONHASHSEED": "0"},
            )
            if done.returncode:
                print(done.stderr, file=sys.stderr)
                return 1
            result = json.loads(done.stdout)
            by_engine[engine] = result.pop("results")
            if result["batch_digest"]:
                digests[engine] = result["batch_digest"]
            runs.append(result)
            print(
                f"{n:>6} {engine:>9} {result['load_s']:>7.2f} "
                f"{result['first_allocate_s']:>11.2f} {result['allocate_us']:>8.0f} "
                f"{result['peak_rss_mb']:>11.1f} {result['batch_us']:>8.0f} "
                f"{result['evaluations']:>6} {result['sessions']:>8} "
                f"{result['batch_peak_rss_mb']:>8.1f} {result['engine_rulesets']:>6} "
                f"{result['set_aside']:>9}"
            )
        same = len({json.dumps(r) for r in by_engine.values()}) == 1
        ok = ok and same
        print(f"{'':>6} engines agree on {args.deals} deals: {same}")
        if len(digests) > 1:
            same_batch = len(set(digests.values())) == 1
            ok = ok and same_batch
            print(f"{'':>6} engines agree on the {args.batch} batch deals: {same_batch}")
    if args.json:
        args.json.write_text(json.dumps({"runs": runs, "agree": ok}, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
