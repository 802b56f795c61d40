"""The ``creditrules`` command: a thin shell over the public API.

Exit status (the same for every command; see docs/how-to/batch.md):

* 0: success, every record allocated;
* 1: the run finished but some records were rejected (or, for checks, an invariant or a
  case failed);
* 2: the command line or the ruleset is wrong (nothing written);
* 3: an input or output failed (a deals file that cannot be read, an output that cannot be
  written, a full disk, standard output closed early): no output file was replaced;
* 130 / 143: interrupted by SIGINT / SIGTERM: no output file was replaced.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any, cast

import creditrules
from creditrules.agreement.ruleset import ENGINES
from creditrules.allocation.results import describe_expense, partner_label
from creditrules.base._money import percent_text
from creditrules.errors import CreditRulesError, DealError, RulesetError, UsageError
from creditrules.io.records import (
    BadRecord,
    InputError,
    Record,
    dumps,
    guess_format,
    guess_ledger_format,
    need_pyarrow,
    read_records,
)

__all__ = ["main"]


#: Exit statuses (see the module docstring).
EXIT_OK, EXIT_REJECTED, EXIT_USAGE, EXIT_IO = 0, 1, 2, 3
EXIT_SIGINT, EXIT_SIGTERM = 128 + signal.SIGINT, 128 + signal.SIGTERM


class _UsageError(CreditRulesError):
    """Options that cannot go together, or an output the command cannot write there."""


class _Terminated(BaseException):
    """SIGTERM, raised in the main thread so that the run unwinds as for SIGINT."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise _Terminated


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        status: int = args.run(args)
        return status
    except RulesetError as exc:
        for problem in exc.problems:
            print(f"{problem} [{problem.code}]", file=sys.stderr)
        return EXIT_USAGE
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_IO
    except CreditRulesError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        if isinstance(exc, BrokenPipeError):
            with contextlib.suppress(OSError):  # silences the flush at exit
                sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        _say(f"error: {exc.filename or 'input/output'}: {exc.strerror or exc}"
             + ("; the output is incomplete" if exc.filename in _STREAMS else ""))
        return EXIT_IO
    except (KeyboardInterrupt, _Terminated) as exc:
        name = "SIGINT" if isinstance(exc, KeyboardInterrupt) else "SIGTERM"
        _say(f"creditrules: interrupted ({name})"
             + ("; no output file was replaced" if args.run is _allocate else ""))
        return EXIT_SIGINT if name == "SIGINT" else EXIT_SIGTERM
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


_STREAMS = ("<stdout>", "<stderr>")


def _say(text: str) -> None:
    """A line on standard error, if it is still open."""
    with contextlib.suppress(OSError, ValueError):
        print(text, file=sys.stderr)


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
    p.add_argument("--duplicate-ids", choices=("reject", "allow"), default="reject",
                   help="a deal id already allocated in the run: reject the record "
                        "(default; the reject names the first line) or allocate it again")
    p.add_argument("--jobs", type=_jobs, default=1, metavar="N",
                   help="allocate parts of the input in N worker processes (default 1); "
                        "the ledger, rejects and summary are the same bytes whatever N. "
                        "JSON Lines and Parquet files only: other input (CSV, JSON, "
                        "standard input) is read in one process")
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

    p = sub.add_parser("validate", help="check a ruleset and summarise it",
                       description="Load a ruleset, summarise it and analyse it: gaps and "
                       "ambiguity (errors) fail it; warnings fail it under --strict.")
    p.add_argument("ruleset", type=Path)
    p.add_argument("--strict", action="store_true",
                   help="fail on analysis warnings (and undecided findings) too")
    engine_arg(p)
    p.set_defaults(run=_validate)

    p = sub.add_parser("lint", help="analyse rulesets: gaps, overlaps, dead rules, slips",
                       description="Analyse each ruleset (an amendment with its base) and "
                       "print every finding, located, with its fix and a witness deal that "
                       "reproduces it. Exit status 1 when a ruleset has errors (with "
                       "--strict: warnings or undecided findings too).")
    p.add_argument("rulesets", type=Path, nargs="+", metavar="RULESET")
    p.add_argument("--json", action="store_true", help="print the findings as JSON")
    p.add_argument("--strict", action="store_true",
                   help="fail on warnings (and undecided findings) too")
    engine_arg(p)
    p.set_defaults(run=_lint)

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
    p.add_argument("--seeds", metavar="FILE",
                   help="deals every invariant also tries, deterministically (JSON Lines, "
                        "JSON, CSV or Parquet)")
    engine_arg(p)
    p.set_defaults(run=_check)

    p = sub.add_parser("test", help="run a ruleset's worked examples (a cases file)")
    p.add_argument("ruleset", type=Path)
    p.add_argument("cases", type=Path, help="the worked examples (e.g. RULESET-cases.yaml)")
    engine_arg(p)
    p.set_defaults(run=_test)
    _document_commands(sub, engine_arg)
    return parser


def _jobs(text: str) -> int:
    try:
        jobs = int(text)
    except ValueError:
        jobs = 0
    if jobs < 1:
        raise argparse.ArgumentTypeError(f"expected a number of processes (1 or more), "
                                         f"got {text!r}")
    return jobs


@contextlib.contextmanager
def _open_in(name: str) -> Iterator[IO[bytes]]:
    # Bytes: the reader decodes each record on its own (a bad byte rejects one record).
    if name == "-":
        yield sys.stdin.buffer
    else:
        with open(name, "rb") as stream:
            yield stream


def _read_deals(stack: contextlib.ExitStack, name: str, fmt: str
                ) -> Iterator[Record | BadRecord]:
    """The records of a deals file, opened now: a missing or unreadable file raises before
    any output is opened."""
    if fmt == "parquet":
        if name == "-":
            raise _UsageError("Parquet cannot be read from standard input (the format needs "
                             "to seek): name the file")
        need_pyarrow()
        from creditrules.io.parquet import read_parquet

        return read_parquet(name)
    return read_records(stack.enter_context(_open_in(name)), fmt)


def _allocate(args: argparse.Namespace) -> int:
    from creditrules.io._output import AtomicOutputs, NamedStream
    from creditrules.io.batch import (
        AllocationWriter,
        LedgerSink,
        LedgerWriter,
        run_batch,
        tty_progress,
    )

    # The ruleset, the input and every output are opened first: a mistake in any of them
    # writes nothing. Output files are written beside their names and renamed at the end.
    ruleset = _load_ruleset(args)
    fmt = args.format or guess_format(args.deals)
    ledger_format = args.ledger_format or guess_ledger_format(args.output)
    output = None if args.output in (None, "-") else args.output
    rejects = None if args.rejects in (None, "-") else args.rejects
    if ledger_format == "parquet":
        if output is None:
            raise _UsageError("a Parquet ledger is written to a file: give -o LEDGER.parquet")
        if args.allocations:
            raise _UsageError("--allocations writes JSON Lines, not a Parquet ledger")
        need_pyarrow()
    for path in (output, rejects):
        if path is not None and args.deals != "-" and os.path.exists(path) \
                and os.path.samefile(path, args.deals):
            raise _UsageError(f"{path} is the deals file: writing it would replace the input")
    progress = None if args.no_progress else tty_progress(sys.stderr)
    # Write errors on the standard streams name them (a file object's errors name nothing).
    stdout = cast(IO[str], NamedStream(sys.stdout, "<stdout>"))
    stderr = cast(IO[str], NamedStream(sys.stderr, "<stderr>"))
    with contextlib.ExitStack() as stack:
        records = _read_deals(stack, args.deals, fmt)
        files = stack.enter_context(AtomicOutputs())
        try:
            out = stdout
            if output is not None and ledger_format != "parquet":
                out = files.text(output)
            rej = stderr if rejects is None else files.text(rejects)
            parquet_out = files.binary(output) if ledger_format == "parquet" and output \
                else None
        except ValueError as exc:  # one file named for two outputs
            raise _UsageError(str(exc)) from None
        sink: LedgerSink | AllocationWriter
        if args.allocations:
            sink = AllocationWriter(out)
        elif parquet_out is not None:
            from creditrules.io.parquet import ParquetLedgerWriter

            sink = stack.enter_context(ParquetLedgerWriter(parquet_out))
        else:
            sink = LedgerWriter(out, ledger_format)
        if args.jobs > 1 and fmt in ("jsonl", "parquet") and args.deals != "-":
            # Imported only here: process pools cost a few MB that one process never needs.
            from creditrules.io._parallel import run_parallel

            summary = run_parallel(ruleset, (str(args.ruleset), ruleset.engine,
                                             args.allow_outside),
                                   args.deals, fmt, sink, ledger_format, rej, jobs=args.jobs,
                                   duplicates=args.duplicate_ids, progress=progress)
        else:
            if args.jobs > 1:
                _say(f"creditrules: --jobs: {'standard input' if args.deals == '-' else fmt} "
                     "is read in one process (parts are cut from JSON Lines and Parquet "
                     "files only)")
            summary = run_batch(ruleset, records, sink, rej,
                                progress=progress, duplicates=args.duplicate_ids)
        # Standard output is not renamed into place: its last bytes must reach it now, so
        # that a full disk or a closed pipe is seen before success is claimed.
        stdout.flush()
    print(f"creditrules: {summary.read} read, {summary.allocated} allocated, "
          f"{summary.rejected} rejected (ruleset {ruleset.id} {ruleset.version}, engine "
          f"{ruleset.engine})", file=sys.stderr)
    for line in summary.lines()[1:]:
        print(line, file=sys.stderr)
    return EXIT_REJECTED if summary.rejected else EXIT_OK


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
        partners = [(p.id, p.name) for p in ruleset.partners]
        lines = describe_expense(share, ruleset.currency, lambda p: partner_label(partners, p))
        print("\n".join(lines))
    return 0


def _validate(args: argparse.Namespace) -> int:
    ruleset = _load_ruleset(args)
    analysis = creditrules.analyse(ruleset)
    passes = analysis.passes(strict=args.strict)
    print(f"{args.ruleset}: {'ok' if passes else 'fails: ' + analysis.summary()}")
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
    if analysis.findings:
        print(f"  analysis: {analysis.summary()} (creditrules lint shows each with a "
              "witness deal)")
        for finding in analysis.findings:
            print(f"    {finding}")
    return 0 if passes else 1


def _lint(args: argparse.Namespace) -> int:
    analyses = [creditrules.analyse(creditrules.load(path, engine=args.engine))
                for path in args.rulesets]
    if args.json:
        data = [a.to_dict() for a in analyses]
        print(dumps(data[0] if len(data) == 1 else data))
    else:
        for path, analysis in zip(args.rulesets, analyses, strict=True):
            for finding in analysis.findings:
                print(finding.text())
            print(f"{path}: {analysis.summary()}")
    return 0 if all(a.passes(strict=args.strict) for a in analyses) else 1


def _check(args: argparse.Namespace) -> int:
    from creditrules.fairness import check_fairness

    ruleset = _load_ruleset(args)
    seeds = []
    if args.seeds is not None:
        with contextlib.ExitStack() as stack:
            for item in _read_deals(stack, args.seeds, guess_format(args.seeds)):
                if isinstance(item, BadRecord):
                    raise DealError(f"{args.seeds}:{item.line}: {item.reason}")
                seeds.append(item.data)
    report = check_fairness(ruleset, path=args.ruleset, max_examples=args.max_examples,
                            seed=args.seed, thorough=args.thorough,
                            invariants=args.invariants, seeds=seeds)
    if args.save is not None:
        report.save(args.save)
    if args.json:
        print(dumps(report.to_dict()))
    else:
        sys.stdout.write(report.text())
    return 0 if report.ok else 1


def _test(args: argparse.Namespace) -> int:
    from creditrules.authoring.cases import load_cases, run_cases

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


# -- the agreement as people read it: init, schema, render, diff ---------------------------


def _document_commands(sub: Any, engine_arg: Any) -> None:
    p = sub.add_parser("init", help="write a commented starter agreement with deals and cases",
                       description="Write NAME.yaml (a commented starter agreement: two "
                       "partners, a default split, an exception with 'overrides', a policy and "
                       "a sharing rule), NAME-deals.jsonl, NAME-cases.yaml and the editor "
                       "schema, which pass validate, check and test as written. Never "
                       "overwrites a file.")
    p.add_argument("name", help="the ruleset id and file name stem (e.g. medco-deviceco)")
    p.add_argument("--dir", type=Path, default=Path("."), help="where to write (default: .)")
    p.set_defaults(run=_init)

    p = sub.add_parser("schema", help="print the JSON Schema of rulesets (or cases files)",
                       description="Print a JSON Schema (2020-12) of the ruleset format, or "
                       "with --cases of the cases file, for YAML editors: key completion, "
                       "descriptions and typos flagged as you type.")
    p.add_argument("--cases", action="store_true", help="the cases file's schema")
    p.add_argument("-o", "--output", type=Path, default=None, help="write to FILE")
    p.set_defaults(run=_schema)

    p = sub.add_parser("render", help="the agreement as a document (HTML or Markdown)",
                       description="Render the agreement for people who do not read YAML: "
                       "parties and term, each clause in order with its condition in plain "
                       "words and its outcome as a table, precedence and effective dates as "
                       "pictures and in words, the partners' policies side by side, fairness "
                       "exemptions and the content hash. -o FILE.html gives one "
                       "self-contained, printable HTML file; FILE.md gives Markdown. "
                       "Amendments given after the ruleset are rendered as amended.")
    p.add_argument("ruleset", type=Path)
    p.add_argument("amendments", type=Path, nargs="*",
                   help="amendments of RULESET, in order (each amends the one before)")
    p.add_argument("-o", "--output", type=Path, required=True,
                   help="FILE.html or FILE.md")
    engine_arg(p)
    p.set_defaults(run=_render)

    p = sub.add_parser("diff", help="what changed between two versions of an agreement",
                       description="What changed from OLD to NEW, by clause: rules added, "
                       "removed, reworded, given a new condition or outcome, re-dated, "
                       "re-prioritised; precedence; policies limit by limit. NEW may be an "
                       "amendment of OLD. With --deals, a what-if on those deals: each deal "
                       "whose credit changes, and totals per credit type and partner. Exit "
                       "status: 0 nothing changed, 1 something changed, 2 error.")
    p.add_argument("old", type=Path, help="the earlier ruleset")
    p.add_argument("new", type=Path, help="the later ruleset, or an amendment of OLD")
    p.add_argument("--deals", default=None, help="deals file (.jsonl, .json, .csv, .parquet)")
    p.add_argument("--json", action="store_true", help="print JSON")
    engine_arg(p)
    p.set_defaults(run=_diff)


def _init(args: argparse.Namespace) -> int:
    from creditrules.authoring._starter import write_starter

    schemas = {name: text for name, text in _schema_files().items()
               if not (args.dir / name).exists()}  # the same text: keep one already there
    for path in write_starter(args.name, args.dir, schemas):
        print(f"wrote {path}")
    print(f"next: creditrules validate {args.dir / (args.name + '.yaml')}", file=sys.stderr)
    return 0


def _schema_files() -> dict[str, str]:
    """The editor schemas, by the file names the starter files' modelines name."""
    from creditrules.authoring._schema_json import cases_schema, ruleset_schema

    return {"creditrules-ruleset.schema.json": _json_text(ruleset_schema()),
            "creditrules-cases.schema.json": _json_text(cases_schema())}


def _json_text(data: Any) -> str:
    import json

    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _schema(args: argparse.Namespace) -> int:
    from creditrules.io._output import write_text

    files = _schema_files()
    text = files["creditrules-cases.schema.json" if args.cases
                 else "creditrules-ruleset.schema.json"]
    if args.output is None:
        sys.stdout.write(text)
    else:
        write_text(args.output, text)
    return 0


def _render(args: argparse.Namespace) -> int:
    from creditrules.authoring.render import render_html, render_markdown
    from creditrules.io._output import write_text

    suffix = args.output.suffix.lower()
    if suffix not in (".html", ".htm", ".md"):
        raise UsageError(f"{args.output}: the output must end in .html or .md")
    files = [args.ruleset, *args.amendments]
    loaded = [creditrules.load(path, engine=args.engine) for path in files]
    final = loaded[-1]
    for i in range(1, len(files)):
        earlier, later = loaded[i - 1], loaded[i]
        if earlier.id != later.id or earlier.version not in later.versions:
            raise UsageError(f"{files[i]} does not amend {files[i - 1]} (its versions: "
                             f"{', '.join(later.versions)})")
    text = render_markdown(final) if suffix == ".md" else render_html(final)
    write_text(args.output, text)
    print(f"wrote {args.output} ({final.id} {final.version})", file=sys.stderr)
    return 0


def _diff(args: argparse.Namespace) -> int:
    from creditrules.authoring.diff import diff_rulesets, examples, examples_text, what_if

    old = creditrules.load(args.old, engine=args.engine)
    new = creditrules.load(args.new, engine=args.engine)
    found = diff_rulesets(old, new)
    result = None
    if args.deals is not None:
        with contextlib.ExitStack() as stack:
            records = [r for r in _read_deals(stack, args.deals, guess_format(args.deals))
                       if isinstance(r, Record)]
            result = what_if(old, new, (r.data for r in records))
    # Without deals, deals found from the two versions show what the change does.
    shown = examples(old, new) if result is None and found.changed else ()
    if args.json:
        data = found.to_dict()
        if result is not None:
            data["what_if"] = result.to_dict()
        else:
            data["examples"] = [e.to_dict() for e in shown]
        print(dumps(data))
    else:
        sys.stdout.write(found.text())
        if result is not None:
            sys.stdout.write(result.text(new.currency))
        elif shown:
            sys.stdout.write(examples_text(shown, new.currency))
    changed = found.changed or (result is not None and bool(result.changed))
    return 1 if changed else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
