"""Where a deal's time goes in the command, stage by stage, beside the hand-written code.

For N synthetic deals (benchmarks/deals.py) under benchmarks/alliance.yaml, as JSON Lines
text in memory, it times in one process (the best of ``--repeat`` passes, after a warm-up
pass, so that caches are as in a long run):

* reading: the command's strict record reader (``read_records``: bytes decoded per record,
  duplicate keys, floats, sizes and nesting checked) against ``json.loads`` per line;
* allocating: the one allocation path from a decoded record to ledger rows
  (``BatchAllocator.rows``) against the hand-written ``allocate``;
* writing: ledger rows to JSON Lines text (``LedgerWriter``) against the hand-written
  writer's formatting (``handwritten.run_file``'s).

Each figure is µs per deal. The sums show how far the command's per-deal cost is from the
hand-written code's, and which stage holds the difference. ::

    .venv/bin/python benchmarks/stages.py --n 20000
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import sys
import time
from collections.abc import Callable
from json.encoder import encode_basestring
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def best(run: Callable[[], Any], repeat: int) -> float:
    """The least of ``repeat`` timings of ``run`` (after one untimed pass), in seconds."""
    run()
    times: list[float] = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(HERE))
    import deals as generated
    import handwritten

    import creditrules
    from creditrules.io.batch import BatchAllocator, LedgerWriter, Rejection
    from creditrules.io.records import Record, read_records

    ruleset = creditrules.load(HERE / "alliance.yaml")
    ref = (ruleset.id, ruleset.version, ruleset.content_hash)
    text = "".join(json.dumps(d, separators=(",", ":")) + "\n"
                   for d in generated.deals(args.n, args.seed))
    data = text.encode()
    lines = text.splitlines()
    n = len(lines)

    # The inputs of each stage, made once and set aside (gc.freeze) so that timing a stage
    # does not pay for the collector walking what the other stages keep; each timed pass
    # then streams, as the command does, keeping nothing.
    records = [r.data for r in read_records(io.BytesIO(data), "jsonl") if isinstance(r, Record)]
    decoded = [json.loads(line) for line in lines]
    if records != decoded:
        raise SystemExit("the two readers read different records")
    allocator = BatchAllocator(ruleset)
    our_rows = [allocator.rows(d, i) for i, d in enumerate(records, 1)]
    hand_rows = [handwritten.allocate(d, ref) for d in decoded]
    if any(isinstance(r, Rejection) for r in our_rows) or our_rows != hand_rows:
        raise SystemExit("creditrules and the hand-written code disagree")
    gc.collect()
    gc.freeze()

    def ours_read() -> None:
        for _ in read_records(io.BytesIO(data), "jsonl"):
            pass

    def hand_read() -> None:
        for line in lines:
            json.loads(line)

    def ours_allocate() -> None:
        rows = allocator.rows
        for i, d in enumerate(records, 1):
            rows(d, i)

    def hand_allocate() -> None:
        for d in decoded:
            handwritten.allocate(d, ref)

    out: dict[str, str] = {}

    def ours_write() -> None:
        buffer = io.StringIO()
        writer = LedgerWriter(buffer, "jsonl")
        for rows in our_rows:
            writer.write(rows)
        out["ours"] = buffer.getvalue()

    keys = [f'"{c}":' for c in handwritten.COLUMNS]

    def hand_write() -> None:
        buffer = io.StringIO()
        for rows in hand_rows:
            buffer.write("".join(
                "{" + ",".join([k + ("null" if v is None else encode_basestring(v))
                                for k, v in zip(keys, row, strict=True)]) + "}\n"
                for row in rows))
        out["hand"] = buffer.getvalue()

    t_read, t_hand_read = best(ours_read, args.repeat), best(hand_read, args.repeat)
    t_alloc, t_hand_alloc = best(ours_allocate, args.repeat), best(hand_allocate, args.repeat)
    t_write, t_hand_write = best(ours_write, args.repeat), best(hand_write, args.repeat)
    if out["ours"] != out["hand"]:
        raise SystemExit("the two writers wrote different ledgers")

    per = 1e6 / n
    table = [("reading", t_read, t_hand_read), ("allocating", t_alloc, t_hand_alloc),
             ("writing", t_write, t_hand_write)]
    print(f"{n:,} deals, µs per deal (the best of {args.repeat})")
    print(f"{'stage':<11} {'creditrules':>11} {'hand-written':>12} {'ratio':>6}")
    for name, ours, hand in table:
        print(f"{name:<11} {ours * per:>11.1f} {hand * per:>12.1f} {ours / hand:>6.2f}")
    ours_total, hand_total = (sum(t[1] for t in table), sum(t[2] for t in table))
    print(f"{'total':<11} {ours_total * per:>11.1f} {hand_total * per:>12.1f} "
          f"{ours_total / hand_total:>6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
