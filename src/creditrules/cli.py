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
from creditrules.records import BadRecord, Record, dumps, guess_format, read_records
from creditrules.ruleset import ENGINES, Ruleset

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

    p = sub.add_parser("allocate", help="allocate every deal of a file (JSON Lines or CSV)")
    p.add_argument("ruleset", type=Path)
    p.add_argument("deals", help="deals file (.jsonl, .json or .csv), or - for stdin")
    p.add_argument("-o", "--output", help="allocations as JSON Lines (default: stdout)")
    p.add_argument("--rejects", help="rejected records as JSON Lines (default: stderr)")
    p.add_argument("--format", choices=("jsonl", "json", "csv"),
                   help="input format (default: from the file name)")
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
    return parser


@contextlib.contextmanager
def _open_in(name: str) -> Iterator[IO[str]]:
    if name == "-":
        yield sys.stdin
    else:
        with open(name, encoding="utf-8", newline="") as stream:
            yield stream


@contextlib.contextmanager
def _open_out(name: str | None, default: IO[str]) -> Iterator[IO[str]]:
    if name is None or name == "-":
        yield default
    else:
        with open(name, "w", encoding="utf-8", newline="\n") as stream:
            yield stream


def _reject_row(line: int, deal_id: str | None, code: str, reason: str) -> dict[str, Any]:
    return {"line": line, "deal": deal_id, "code": code, "reason": reason}


def _allocate(args: argparse.Namespace) -> int:
    ruleset = creditrules.load(args.ruleset, engine=args.engine)
    fmt = args.format or guess_format(args.deals)
    read = allocated = rejected = 0
    with _open_in(args.deals) as src, _open_out(args.output, sys.stdout) as out, \
            _open_out(args.rejects, sys.stderr) as rej:
        for item in read_records(src, fmt):
            read += 1
            row = _allocate_one(ruleset, item)
            if "credits" in row:
                allocated += 1
                out.write(dumps(row) + "\n")
            else:
                rejected += 1
                rej.write(dumps(row) + "\n")
    print(f"creditrules: {read} read, {allocated} allocated, {rejected} rejected "
          f"(ruleset {ruleset.id} {ruleset.version}, engine {ruleset.engine})",
          file=sys.stderr)
    return 1 if rejected else 0


def _allocate_one(ruleset: Ruleset, item: Record | BadRecord) -> dict[str, Any]:
    if isinstance(item, BadRecord):
        return _reject_row(item.line, item.deal_id, "unreadable", item.reason)
    deal_id = item.data.get("id") if isinstance(item.data, dict) else None
    try:
        return ruleset.allocate(item.data, explain=False).to_dict()
    except DealError as exc:
        return _reject_row(item.line, exc.deal_id or _text(deal_id), exc.code, str(exc))
    except CreditRulesError as exc:
        return _reject_row(item.line, _text(deal_id), getattr(exc, "code", "error"), str(exc))


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _explain(args: argparse.Namespace) -> int:
    ruleset = creditrules.load(args.ruleset, engine=args.engine)
    with _open_in(args.deal) as src:
        records = list(read_records(src, guess_format(args.deal)))
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
    ruleset = creditrules.load(args.ruleset, engine=args.engine)
    expense = _read_one(args.expense, "expense")
    context = _read_one(args.context, "context") if args.context else {}
    share = ruleset.share_expense(expense, context)
    if args.json:
        print(dumps(share.to_dict()))
    else:
        print("\n".join(describe_expense(share, ruleset.currency)))
    return 0


def _validate(args: argparse.Namespace) -> int:
    ruleset = creditrules.load(args.ruleset, engine=args.engine)
    print(f"{args.ruleset}: ok")
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
    print(f"  engine: {ruleset.engine}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
