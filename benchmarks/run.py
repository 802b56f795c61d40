"""Throughput and memory of batch allocation, against the same agreement written by hand.

For each N (default 10k, 100k and 1M), in a fresh process (so that its peak memory is its
own): N synthetic deals (benchmarks/deals.py) for the ~20-rule agreement
benchmarks/alliance.yaml, allocated into ledger rows by

* creditrules' batch path (``BatchAllocator.rows``: the one allocation path, ledger rows only),
* the hand-written plain-Python implementation (benchmarks/handwritten.py), the bound,
* and, on the first ``--plain`` deals, ``Ruleset.allocate`` one deal at a time,

timed separately over the same deals in the same process, and checked to agree row for row
on every deal. Reports deals/s, the ratio to the hand-written bound, peak RSS and RSS growth
(resident memory at the end less after the first chunk, and less at half way: bounded caches
fill up early, so the second half should add nothing). Unless ``--no-cli``, it also times
``creditrules allocate`` end to end on a JSON Lines file of the same deals (parsing and
writing included) with ``--jobs 1`` and ``--jobs 2`` (``--jobs`` to choose), and the
hand-written code end to end (``handwritten.run_file``: the same file in, the same ledger
out, in one process), checking that the ledgers are byte-identical, and with ``--dask W``
the same file on a local Dask cluster of W worker processes. With ``--baseline-python
PYTHON`` (an interpreter with an earlier creditrules installed, in its own virtualenv) it
also times that version's CLI on the same file in the same run, and checks that its ledger
has the same bytes. A last table puts the figures side by side.

    .venv/bin/python benchmarks/run.py                       # 10k, 100k, 1M
    .venv/bin/python benchmarks/run.py --n 10000 --dask 2    # one size, with Dask
    .venv/bin/python benchmarks/run.py --n 20000 --repeat 3  # the best of three CLI runs
    .venv/bin/python benchmarks/run.py --n 20000 --baseline-python ../before/.venv/bin/python
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RULESET = HERE / "alliance.yaml"
CHUNK = 1000


def rss_mb() -> float:
    """Current resident memory of this process, in MB."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def peak_mb() -> float:
    """Peak resident memory of this process, in MB: VmHWM, the high-water mark of its own
    address space (ru_maxrss would include the forking parent's memory, kept over exec)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1e3  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3


def child(n: int, seed: int, plain: int, engine: str | None) -> dict[str, Any]:
    """One size, in this process."""
    sys.path.insert(0, str(HERE))
    import deals as generated
    import handwritten

    import creditrules
    from creditrules.io.batch import BatchAllocator, Rejection, ledger_rows

    ruleset = creditrules.load(RULESET, engine=engine)
    allocator = BatchAllocator(ruleset)
    ref = (ruleset.id, ruleset.version, ruleset.content_hash)
    t_fast = t_hand = 0.0
    disagreements = rejected = 0
    rss_start = rss_half = None
    stream = generated.deals(n, seed)
    line = 0
    while True:
        chunk = list(itertools.islice(stream, CHUNK))
        if not chunk:
            break
        t0 = time.perf_counter()
        ours = []
        for deal in chunk:
            line += 1
            ours.append(allocator.rows(deal, line))
        t1 = time.perf_counter()
        theirs = [handwritten.allocate(deal, ref) for deal in chunk]
        t2 = time.perf_counter()
        t_fast += t1 - t0
        t_hand += t2 - t1
        for a, b in zip(ours, theirs, strict=True):
            if isinstance(a, Rejection):
                rejected += 1
            if a != b:
                disagreements += 1
        del chunk, ours, theirs
        if rss_start is None:
            rss_start = rss_mb()
        if rss_half is None and line >= n // 2:
            rss_half = rss_mb()
    rss_end = rss_mb()
    fast = allocator.pipeline
    # One deal at a time on the first deals: read through Deal.from_mapping first (the
    # route a record of an unusual shape takes), the single-deal API on deal mappings
    # without and with explanations (their reasons are deferred until read: reading them
    # is timed too, on a tenth of the deals) and on Deal objects.
    from creditrules.allocation.model import Deal

    sample = list(itertools.islice(generated.deals(n, seed), min(plain, n)))
    t0 = time.perf_counter()
    plain_rows = [ledger_rows(ruleset.allocate(Deal.from_mapping(d), explain=False))
                  for d in sample]
    t_plain = time.perf_counter() - t0
    objects = [Deal.from_mapping(d) for d in sample]
    read = sample[: max(1, len(sample) // 10)]

    def best(run: Any, items: list[Any]) -> float:
        """Seconds for ``run`` over ``items``, the best of five (as timeit advises: on a
        shared machine the other times measure the neighbours)."""
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            for item in items:
                run(item)
            times.append(time.perf_counter() - t0)
        return min(times)

    t_single = best(lambda d: ruleset.allocate(d, explain=False), sample)
    t_explained = best(ruleset.allocate, sample)
    t_objects = best(ruleset.allocate, objects)
    t_read = best(lambda d: ruleset.allocate(d).explain(), read)
    t_hand_one = best(lambda d: handwritten.allocate(d, ref), sample)
    check = BatchAllocator(ruleset)
    disagreements += sum(rows != check.rows(d) for rows, d in zip(plain_rows, sample,
                                                                   strict=True))
    matcher = ruleset._evaluator.matcher  # type: ignore[union-attr]
    return {
        "n": n,
        "engine": ruleset.engine,
        "disagreements": disagreements,
        "rejected": rejected,
        "fast": {"deals": n, "seconds": t_fast, "deals_per_s": n / t_fast},
        "handwritten": {"deals": n, "seconds": t_hand, "deals_per_s": n / t_hand},
        "ratio": t_hand / t_fast,
        "plain": {"deals": len(sample), "seconds": t_plain,
                  "deals_per_s": len(sample) / t_plain if t_plain else 0.0},
        "single_deal_api": {"deals": len(sample), "seconds": t_single,
                            "us_per_deal": 1e6 * t_single / len(sample) if sample else 0.0},
        "single_deal_api_explained": {
            "deals": len(sample), "seconds": t_explained,
            "us_per_deal": 1e6 * t_explained / len(sample) if sample else 0.0},
        "handwritten_one_at_a_time": {
            "deals": len(sample), "seconds": t_hand_one,
            "us_per_deal": 1e6 * t_hand_one / len(sample) if sample else 0.0},
        "single_deal_api_objects": {
            "deals": len(sample), "seconds": t_objects,
            "us_per_deal": 1e6 * t_objects / len(sample) if sample else 0.0},
        "explanation_read": {"deals": len(read), "seconds": t_read,
                             "us_per_deal": 1e6 * t_read / len(read) if read else 0.0},
        "peak_rss_mb": peak_mb(),
        "rss_after_first_chunk_mb": rss_start,
        "rss_end_mb": rss_end,
        "rss_growth_mb": rss_end - (rss_start or rss_end),
        # Bounded caches fill up early: the second half of the run should add nothing.
        "rss_at_half_mb": rss_half,
        "rss_growth_second_half_mb": rss_end - (rss_half or rss_end),
        "cache": {"type_plans": len(fast.type_plans), "policy_plans": len(fast.policy_plans),
                  "durable_sessions_leaked": getattr(matcher, "leaked_sessions", 0)},
    }


def cli(path: Path, n: int, engine: str | None, out_dir: Path, jobs: int = 1,
        repeat: int = 1, python: str = sys.executable, name: str = "") -> dict[str, Any]:
    """``creditrules allocate --jobs JOBS`` end to end, in its own process (the best of
    ``repeat`` runs). Peak memory is the main process's plus, with workers, their largest
    (each is a process of its own)."""
    ledger = out_dir / f"ledger-{n}-jobs{jobs}{name}.jsonl"
    args = ["allocate", str(RULESET), str(path), "-o", str(ledger), "--rejects",
            str(out_dir / f"rejects-jobs{jobs}{name}.jsonl"), "--no-progress",
            *(["--jobs", str(jobs)] if jobs != 1 else []),
            *(["--engine", engine] if engine else [])]
    code = (
        "import resource, sys, time\n"
        "from creditrules.cli import main\n"
        "t = time.perf_counter()\n"
        f"status = main({args!r})\n"
        "seconds = time.perf_counter() - t\n"
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0]\n"
        "workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
        "print(seconds, hwm.split()[1], workers, file=sys.stderr)\n"
        "sys.exit(status)\n")
    runs = []
    for _ in range(repeat):
        done = subprocess.run([python, "-c", code], capture_output=True, text=True,
                              check=False)
        if done.returncode not in (0, 1):
            raise RuntimeError(done.stderr)
        # The last line of three numbers (anything the run printed after, a warning say,
        # aside).
        timing = [line.split() for line in done.stderr.splitlines()
                  if len(line.split()) == 3
                  and line.replace(".", "").replace(" ", "").isdigit()]
        if not timing:
            raise RuntimeError(done.stderr)
        runs.append(timing[-1])
    seconds, peak, workers = min(runs, key=lambda r: float(r[0]))
    return {"jobs": jobs, "deals": n, "seconds": float(seconds),
            "deals_per_s": n / float(seconds), "peak_rss_mb": int(peak) / 1e3,
            "worker_peak_rss_mb": int(workers) / 1e3 if jobs > 1 else None,
            "ledger": str(ledger)}


def hand_cli(path: Path, n: int, out_dir: Path, repeat: int = 1) -> dict[str, Any]:
    """The hand-written code end to end (benchmarks/handwritten.py: JSON Lines in, ledger
    out, one process), timed as ``cli`` times the command (the best of ``repeat``)."""
    import creditrules

    ruleset = creditrules.load(RULESET)
    ledger = out_dir / f"ledger-{n}-hand.jsonl"
    code = (
        "import sys, time\n"
        f"sys.path.insert(0, {str(HERE)!r})\n"
        "import handwritten\n"
        "t = time.perf_counter()\n"
        f"handwritten.run_file({str(path)!r}, {str(ledger)!r}, "
        f"{(ruleset.id, ruleset.version, ruleset.content_hash)!r})\n"
        "print(time.perf_counter() - t, file=sys.stderr)\n")
    times: list[float] = []
    for _ in range(repeat):
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              check=False)
        if done.returncode:
            raise RuntimeError(done.stderr)
        times.append(float(done.stderr.split()[-1]))
    seconds = min(times)
    return {"deals": n, "seconds": seconds, "deals_per_s": n / seconds, "ledger": str(ledger)}


def dask_run(path: Path, n: int, workers: int, engine: str | None, out_dir: Path,
             reference: str | None) -> dict[str, Any]:
    """The same file on a local Dask cluster of ``workers`` processes."""
    from distributed import Client, LocalCluster

    from creditrules.integrations.dask import allocate_files

    ledger = out_dir / f"ledger-{n}-dask.jsonl"
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        # Warm the workers (imports, the ruleset) so that the timing is the allocation.
        small = out_dir / "warm.jsonl"
        small.write_text(path.open(encoding="utf-8").readline(), encoding="utf-8")
        allocate_files(RULESET, [str(small)], out_dir / "warm-ledger.jsonl",
                       out_dir / "warm-rejects.jsonl", client=client, engine=engine,
                       chunk_lines=1)
        t0 = time.perf_counter()
        result = allocate_files(RULESET, [str(path)], ledger, out_dir / "dask-rejects.jsonl",
                                client=client, engine=engine)
        seconds = time.perf_counter() - t0
    same = None
    if reference is not None:
        same = Path(reference).read_bytes() == ledger.read_bytes()
    return {"workers": workers, "deals": n, "seconds": seconds, "deals_per_s": n / seconds,
            "chunks": result.chunks, "identical_to_single_process": same}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--plain", type=int, default=2000,
                        help="deals allocated one at a time by Ruleset.allocate (slow)")
    parser.add_argument("--engine", choices=("durable", "reference"))
    parser.add_argument("--no-cli", action="store_true", help="skip the end-to-end run")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2],
                        help="the end-to-end run with each of these --jobs (default 1 2)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="end-to-end runs per --jobs, the best kept (default 1)")
    parser.add_argument("--baseline-python", metavar="PYTHON",
                        help="also time `creditrules allocate` (one process) under this "
                        "Python interpreter, one with an earlier creditrules installed, in "
                        "the same run: its deals/s, our speed-up over it, and whether its "
                        "ledger has the same bytes")
    parser.add_argument("--dask", type=int, metavar="WORKERS",
                        help="also run on a local Dask cluster of WORKERS processes")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        print(json.dumps(child(args.child, args.seed, args.plain, args.engine)))
        return 0
    runs = []
    print(f"{'N':>9} {'creditrules':>12} {'hand':>9} {'ratio':>6} {'plain':>7} "
          f"{'peak RSS':>9} {'growth':>7} {'allocate()':>10}  (deals/s; MB; us/deal)")
    for n in args.n:
        cmd = [sys.executable, __file__, "--child", str(n), "--seed", str(args.seed),
               "--plain", str(args.plain)] + (["--engine", args.engine] if args.engine else [])
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode:
            print(done.stderr, file=sys.stderr)
            return 1
        result = json.loads(done.stdout)
        print(f"{n:>9} {result['fast']['deals_per_s']:>12,.0f} "
              f"{result['handwritten']['deals_per_s']:>9,.0f} {result['ratio']:>6.2f} "
              f"{result['plain']['deals_per_s']:>7,.0f} {result['peak_rss_mb']:>9.1f} "
              f"{result['rss_growth_mb']:>7.1f} "
              f"{result['single_deal_api_explained']['us_per_deal']:>10.0f}  "
              f"disagreements {result['disagreements']}")
        print(f"{'':>9} allocate(deal, explain=False): "
              f"{result['single_deal_api']['us_per_deal']:.0f} us/deal; allocate(Deal object): "
              f"{result['single_deal_api_objects']['us_per_deal']:.0f} us/deal; "
              f"allocate(deal) then explain(): "
              f"{result['explanation_read']['us_per_deal']:.0f} us/deal; RSS growth "
              f"over the second half {result['rss_growth_second_half_mb']:.1f} MB; "
              f"hand-written, one at a time: "
              f"{result['handwritten_one_at_a_time']['us_per_deal']:.0f} us/deal")
        if not args.no_cli or args.dask:
            sys.path.insert(0, str(HERE))
            import deals as generated

            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "deals.jsonl"
                generated.write_jsonl(str(path), n, args.seed)
                reference = None
                if not args.no_cli:
                    result["cli_jobs"] = {}
                    for jobs in args.jobs:
                        run = cli(path, n, args.engine, Path(tmp), jobs, args.repeat)
                        result["cli_jobs"][str(jobs)] = run
                        if reference is None:
                            reference = run["ledger"]
                            result["cli"] = run
                        else:
                            run["identical_to_first"] = (
                                Path(reference).read_bytes() == Path(run["ledger"]).read_bytes())
                            if not run["identical_to_first"]:
                                result["disagreements"] += 1
                        workers = (f", workers {run['worker_peak_rss_mb']:.1f} MB each"
                                   if run["worker_peak_rss_mb"] else "")
                        same = ("" if "identical_to_first" not in run else
                                f", identical: {run['identical_to_first']}")
                        print(f"{'':>9} creditrules allocate --jobs {jobs} end to end: "
                              f"{run['deals_per_s']:,.0f} deals/s, peak RSS "
                              f"{run['peak_rss_mb']:.1f} MB{workers}{same}")
                if not args.no_cli:
                    hand = hand_cli(path, n, Path(tmp), args.repeat)
                    hand["identical"] = (reference is not None and Path(reference).read_bytes()
                                         == Path(hand["ledger"]).read_bytes())
                    result["handwritten_cli"] = hand
                    if not hand["identical"]:
                        result["disagreements"] += 1
                    speed = hand["deals_per_s"]
                    ratios = ", ".join(
                        f"--jobs {j}: {result['cli_jobs'][str(j)]['deals_per_s'] / speed:.2f}x"
                        for j in args.jobs)
                    print(f"{'':>9} hand-written end to end (one process): "
                          f"{hand['deals_per_s']:,.0f} deals/s (ours {ratios}), "
                          f"identical ledger: {hand['identical']}")
                if args.baseline_python and not args.no_cli:
                    base = cli(path, n, args.engine, Path(tmp), 1, args.repeat,
                               python=args.baseline_python, name="-baseline")
                    base["identical"] = (reference is not None and Path(reference).read_bytes()
                                         == Path(base["ledger"]).read_bytes())
                    result["baseline_cli"] = base
                    if not base["identical"]:
                        result["disagreements"] += 1
                    print(f"{'':>9} baseline creditrules allocate end to end: "
                          f"{base['deals_per_s']:,.0f} deals/s (ours --jobs 1: "
                          f"{result['cli']['deals_per_s'] / base['deals_per_s']:.2f}x), "
                          f"identical ledger: {base['identical']}")
                if args.dask:
                    result["dask"] = dask_run(path, n, args.dask, args.engine, Path(tmp),
                                              reference)
                    speedup = (result["cli"]["seconds"] / result["dask"]["seconds"]
                               if "cli" in result else None)
                    result["dask"]["speedup"] = speedup
                    print(f"{'':>9} dask, {args.dask} workers: "
                          f"{result['dask']['deals_per_s']:,.0f} deals/s"
                          + (f", speed-up {speedup:.2f}x" if speedup else "")
                          + f", identical: {result['dask']['identical_to_single_process']}")
        runs.append(result)
    jobs_columns = [] if args.no_cli else args.jobs
    print("\nside by side (deals/s; us/deal; MB):")
    print(f"{'N':>9} {'batch':>8} {'hand':>8} {'ratio':>6} "
          + "".join(f"{'cli -j' + str(j):>9} " for j in jobs_columns)
          + (f"{'hand cli':>9} " if jobs_columns else "")
          + f"{'allocate()':>10} {'peak RSS':>9}")
    for result in runs:
        print(f"{result['n']:>9} {result['fast']['deals_per_s']:>8,.0f} "
              f"{result['handwritten']['deals_per_s']:>8,.0f} {result['ratio']:>6.2f} "
              + "".join(f"{result['cli_jobs'][str(j)]['deals_per_s']:>9,.0f} "
                        for j in jobs_columns)
              + (f"{result['handwritten_cli']['deals_per_s']:>9,.0f} " if jobs_columns else "")
              + f"{result['single_deal_api']['us_per_deal']:>10.0f} "
              f"{result['peak_rss_mb']:>9.1f}")
    if args.json:
        args.json.write_text(json.dumps({"runs": runs}, indent=2))
    return 0 if all(r["disagreements"] == 0 for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
