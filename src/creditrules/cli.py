"""The ``creditrules`` command: a thin shell over the public API.

Exit status: 0 success; 1 the run finished but some records were rejected (or, for checks,
an invariant or case failed); 2 the ruleset or the command line is wrong (nothing written).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import creditrules
from creditrules._money import percent_text
from creditrules.allocation import describe_expense
from creditrules.errors import CreditRulesError, DealError, RulesetError
from creditrules.records import (
    BadRecord,
    InputError,
    Record,
    dumps,
    guess_format,
    guess_ledger_format,
    need_pyarrow,
    read_parquet,
    read_records,
)
from creditrules.ruleset import ENGINES

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        status: int = args.run(args)
        return status
    except RulesetError as exc:
        for problem in exc.problems:
            print(f"{problem} [{problem.code}]", file=sys.stderr)
        return 2
    except CreditRulesError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output closed early (| head): not an error
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115  (silences the exit flush)
        return 0
    except OSError as exc:
        print(f"error: {exc.filename or ''}: {exc.strerror}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="creditrules",
        description="Apply alliance agreements (rulesets) to deals: credit, and why.")
    parser.add_argument("--version", action="version",
                        version=f"creditrules {creditrules.__version__}")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    def engine_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument("--engine", choices=ENGINES, default=None,
                       help="matching engine (default: durable where installed, else "
                            "reference; or set CREDITRULES_ENGINE)")
        p.add_argument("--allow-outside", action="store_true",
                       help="let an amendment's 'amends:' (and a cases file's 'ruleset:') "
                            "name a file outside the directory of the file given")

    p = sub.add_parser("allocate", help="allocate every deal of a file into a ledger",
                       description="Allocate every deal of a file (JSON Lines, JSON, CSV or "
                       "Parquet) into a ledger: a row per deal, credit type, partner and rep, "
                       "and per share of each entertainment expense. Every record ends in the "
                       "ledger or in the rejects, with its line (Parquet: row) number and "
                       "reason. Parquet needs the parquet extra.")
    p.add_argument("ruleset", type=Path)
    p.add_argument("deals", help="deals file (.jsonl, .json, .csv or .parquet), or - for "
                                 "stdin (not Parquet)")
    p.add_argument("-o", "--output", metavar="LEDGER",
                   help="the ledger (default: stdout); CSV if the name ends in .csv, Parquet "
                        "if it ends in .parquet")
    p.add_argument("--rejects", metavar="REJECTS",
                   help="rejected records as JSON Lines (default: stderr)")
    p.add_argument("--format", choices=("jsonl", "json", "csv", "parquet"),
                   help="input format (default: from the file name)")
    p.add_argument("--ledger-format", choices=("jsonl", "csv", "parquet"),
                   help="ledger format (default: from the ledger's file name, else jsonl)")
    p.add_argument("--allocations", action="store_true",
                   help="write each deal's whole allocation (canonical JSON) instead of "
                        "ledger rows")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress line, even on a terminal")
    engine_arg(p)
    p.set_defaults(run=_allocate)

    p = sub.add_parser("explain", help="explain one deal: which clauses gave what, and why")
    p.add_argument("ruleset", type=Path)
    p.add_argument("deal", help="a JSON file with one deal, or a deals file with --deal")
    p.add_argument("--deal", dest="deal_id", help="the deal's id in a file of many")
    p.add_argument("--json", action="store_true", help="print the allocation as JSON")
    engine_arg(p)
    p.set_defaults(run=_explain)

    p = sub.add_parser("share", help="share one entertainment expense not tied to a deal")
    p.add_argument("ruleset", type=Path)
    p.add_argument("expense", help="a JSON file with one expense, or - for stdin")
    p.add_argument("--context", help="a JSON file with the deal-like facts the rules read "
                                     "(account, lead, product, attributes, date)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    engine_arg(p)
    p.set_defaults(run=_share)

    p = sub.add_parser("validate", help="check a ruleset and summarise it")
    p.add_argument("ruleset", type=Path)
    engine_arg(p)
    p.set_defaults(run=_validate)

    p = sub.add_parser("check", help="check a ruleset against the fairness invariants")
    p.add_argument("ruleset", type=Path)
    size = p.add_mutually_exclusive_group()
    size.add_argument("--thorough", action="store_true",
                      help="a long randomised run that keeps its example database")
    size.add_argument("--max-examples", type=int, metavar="N", help="deals per invariant")
    p.add_argument("--seed", type=int, help="repeat a run (every report prints its seed)")
    p.add_argument("--invariant", action="append", dest="invariants", metavar="NAME",
                   choices=[*creditrules.fairness.HARD_INVARIANTS,
                            *creditrules.fairness.SOFT_INVARIANTS],
                   help="check only this invariant (repeatable)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--save", type=Path, metavar="DIR",
                   help="write each counterexample deal to DIR/<invariant>.json")
    engine_arg(p)
    p.set_defaults(run=_check)

    p = sub.add_parser("test", help="run a ruleset's worked examples (a cases file)")
    p.add_argument("ruleset", type=Path)
    p.add_argument("cases", type=Path, help="the worked examples (e.g. RULESET-cases.yaml)")
    engine_arg(p)
    p.set_defaults(run=_test)
    return parser


@contextlib.contextmanager
def _open_in(name: str) -> Iterator[IO[str]]:
    if name == "-":
        yield sys.stdin
    else:
        with open(name, encoding="utf-8", newline="") as stream:
            yield stream


def _read_deals(stack: contextlib.ExitStack, name: str, fmt: str
                ) -> Iterator[Record | BadRecord]:
    """The records of a deals file, opened now: a missing or unreadable file raises before
    any output is opened."""
    if fmt == "parquet":
        if name == "-":
            raise InputError("Parquet cannot be read from standard input (the format needs "
                             "to seek): name the file")
        return read_parquet(name)
    return read_records(stack.enter_context(_open_in(name)), fmt)


@contextlib.contextmanager
def _open_out(name: str | None, default: IO[str]) -> Iterator[IO[str]]:
    if name is None or name == "-":
        yield default
    else:
        with open(name, "w", encoding="utf-8", newline="\n") as stream:
            yield stream


def _allocate(args: argparse.Namespace) -> int:
    from creditrules.batch import (
        LedgerSink,
        LedgerWriter,
        Rejection,
        Summary,
        run_batch,
        tty_progress,
        write_rejection,
    )

    # The ruleset and the input are opened first: a mistake in either writes nothing.
    ruleset = _load_ruleset(args)
    fmt = args.format or guess_format(args.deals)
    ledger_format = args.ledger_format or guess_ledger_format(args.output)
    if ledger_format == "parquet":
        if args.output is None or args.output == "-":
            raise InputError("a Parquet ledger is written to a file: give -o LEDGER.parquet")
        if args.allocations:
            raise InputError("--allocations writes JSON Lines, not a Parquet ledger")
        need_pyarrow()
    progress = None if args.no_progress else tty_progress(sys.stderr)
    with contextlib.ExitStack() as stack:
        records = _read_deals(stack, args.deals, fmt)
        if args.allocations:
            out = stack.enter_context(_open_out(args.output, sys.stdout))
            rej = stack.enter_context(_open_out(args.rejects, sys.stderr))
            summary = Summary(ruleset)
            for result in ruleset.allocate_many(records):
                if isinstance(result, Rejection):
                    summary.reject(result)
                    write_rejection(rej, result)
                else:
                    summary.add_allocation(result)
                    out.write(dumps(result.to_dict()) + "\n")
        else:
            sink: LedgerSink
            if ledger_format == "parquet":
                from creditrules.parquet import ParquetLedgerWriter

                sink = stack.enter_context(ParquetLedgerWriter(args.output))
            else:
                sink = LedgerWriter(stack.enter_context(_open_out(args.output, sys.stdout)),
                                    ledger_format)
            rej = stack.enter_context(_open_out(args.rejects, sys.stderr))
            summary = run_batch(ruleset, records, sink, rej, progress=progress)
    print(f"creditrules: {summary.read} read, {summary.allocated} allocated, "
          f"{summary.rejected} rejected (ruleset {ruleset.id} {ruleset.version}, engine "
          f"{ruleset.engine})", file=sys.stderr)
    for line in summary.lines()[1:]:
        print(line, file=sys.stderr)
    return 1 if summary.rejected else 0


def _explain(args: argparse.Namespace) -> int:
    ruleset = _load_ruleset(args)
    with contextlib.ExitStack() as stack:
        records = list(_read_deals(stack, args.deal, guess_format(args.deal)))
    chosen = None
    for item in records:
        if isinstance(item, BadRecord):
            if args.deal_id is None:
                raise DealError(f"line {item.line}: {item.reason}")
            continue
        if args.deal_id is None or (isinstance(item.data, dict)
                                    and str(item.data.get("id")) == args.deal_id):
            chosen = item
            break
    if chosen is None:
        raise DealError("no such deal in the file", deal_id=args.deal_id)
    allocation = ruleset.allocate(chosen.data)
    if args.json:
        print(dumps(allocation.to_dict()))
    else:
        sys.stdout.write(allocation.explain())
    return 0


def _read_one(name: str, what: str) -> Any:
    with _open_in(name) as src:
        items = list(read_records(src, "json"))
    if len(items) != 1 or isinstance(items[0], BadRecord):
        reason = items[0].reason if items and isinstance(items[0], BadRecord) else \
            "expected one JSON object"
        raise DealError(f"{what} {name}: {reason}")
    return items[0].data


def _share(args: argparse.Namespace) -> int:
    ruleset = _load_ruleset(args)
    expense = _read_one(args.expense, "expense")
    context = _read_one(args.context, "context") if args.context else {}
    share = ruleset.share_expense(expense, context)
    if args.json:
        print(dumps(share.to_dict()))
    else:
        print("\n".join(describe_expense(share, ruleset.currency)))
    return 0


def _validate(args: argparse.Namespace) -> int:
    ruleset = _load_ruleset(args)
    print(f"{args.ruleset}: ok")
    for note in ruleset.engine_notes:
        print(f"  note: {note} [{note.code}]")
    print(f"  ruleset {ruleset.id} version {ruleset.version} ({ruleset.content_hash})")
    print(f"  {ruleset.title}")
    print(f"  in force {ruleset.effective}; currency {ruleset.currency}")
    print(f"  partners: {', '.join(ruleset.partner_ids)}")
    for ctype in ruleset.credit_types:
        rules = [r for r in ruleset.rules if r.type == ctype.name]
        total = "declared by each rule" if ctype.total is None else \
            percent_text(ctype.total)
        print(f"  {ctype.name}: {len(rules)} rule(s), total {total}"
              f"{', required' if ctype.required else ''}")
    for topic in sorted({r.topic for r in ruleset.policy_rules}):
        count = sum(1 for r in ruleset.policy_rules if r.topic == topic)
        partners = [p for p in ruleset.partner_ids if topic in ruleset.policies.get(p, {})]
        print(f"  {topic} policy: {count} precedence rule(s); policies of "
              f"{', '.join(partners) or 'no partner'}")
    if ruleset.expense_rules:
        print(f"  expense sharing: {len(ruleset.expense_rules)} rule(s)")
    print(f"  engine: {ruleset.engine}")
    return 0


def _check(args: argparse.Namespace) -> int:
    from creditrules.fairness import check_fairness

    ruleset = _load_ruleset(args)
    report = check_fairness(ruleset, path=args.ruleset, max_examples=args.max_examples,
                            seed=args.seed, thorough=args.thorough,
                            invariants=args.invariants)
    if args.save is not None:
        report.save(args.save)
    if args.json:
        print(dumps(report.to_dict()))
    else:
        sys.stdout.write(report.text())
    return 0 if report.ok else 1


def _test(args: argparse.Namespace) -> int:
    from creditrules.cases import load_cases, run_cases

    ruleset = _load_ruleset(args)
    results = run_cases(ruleset, load_cases(args.cases, allow_outside=args.allow_outside))
    for result in results:
        for failure in result.failures:
            print(failure)
    failed = sum(not r.passed for r in results)
    print(f"creditrules: {len(results)} case(s), {len(results) - failed} passed, {failed} "
          f"failed ({args.cases} against {ruleset.id} {ruleset.version})", file=sys.stderr)
    return 1 if failed else 0


def _load_ruleset(args: argparse.Namespace) -> creditrules.Ruleset:
    return creditrules.load(args.ruleset, engine=args.engine,
                            allow_outside=args.allow_outside)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
