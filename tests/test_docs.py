"""Every command and code block in the README and docs/ runs as shown.

Each Markdown file is one test. Its blocks run in document order in a scratch folder that
holds a copy of the project's `rulesets/`, so files a tutorial saves are there for the
commands after it:

- a block whose paragraph ends "Save this as `x.yaml`:" or "Create a file `x.yaml`:" (or that
  is preceded by `<!-- docs: file x.yaml -->`) is written to that file;
- `<!-- docs: edit x.yaml append -->`, `... insert-after "LINE"`,
  `... replace "FIRST" "LAST"` and `... lines N M` apply a snippet to a file saved earlier
  (after the first line that starts with LINE; in place of the lines from the one starting
  with FIRST through the next one starting with LAST; in place of lines N and M), and
  `edit y.yaml from x.yaml ...` makes y.yaml a variant of x.yaml that way;
- `<!-- docs: check x.yaml -->` before "the complete file now reads" asserts that the
  page's edits built that (blank lines aside), and the file is the one shown from there on;
- `sh` blocks run with bash (one shown without output must exit 0), `python` blocks with
  this interpreter (`>>>` blocks as doctests), and when an output block (`text` or no
  language) follows, what they print must equal it. A line `...` in the expected output
  stands for any lines, and `...` inside a line for any text, as in doctests;
- an output block further on, after some prose, marked `<!-- docs: excerpt -->`, must
  appear, line by line and in order, in what an earlier command printed (other output
  blocks are illustrations: a grammar, a file's shape); `<!-- docs: exit N -->` before a
  command whose output is quoted that way says its exit status;
- `<!-- docs: output-of COMMAND -->` before an output block quoted for its form runs
  COMMAND, and the block must be an excerpt of what it prints;
- `<!-- docs: skip REASON -->` skips the next block (installs, long benchmarks), with a reason;
- other YAML and JSON blocks (fragments shown in a reference) must at least parse.

`DOCS_UPDATE=1 pytest tests/test_docs.py` rewrites expected outputs that have no `...` with
what the commands print now; read the diff before committing it.
"""

from __future__ import annotations

import doctest
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest
import yaml  # noqa: TID251 (the tests check YAML fragments; the library's reader is stricter)

ROOT = Path(__file__).resolve().parent.parent
DOCS = [*sorted((ROOT / "docs").rglob("*.md")), ROOT / "README.md"]
BIN = Path(sys.executable).parent
OUTPUT_LANGS = {"text", ""}
COMMAND_LANGS = {"sh", "bash", "console", "shell"}
DIRECTIVE = re.compile(r"^<!--\s*docs:\s*(.*?)\s*-->\s*$")
_FILE = r"`([\w./-]+\.(?:ya?ml|jsonl?|csv))`"
# "Save three deals as `deals.jsonl`. The second ...:" or "..., `deal-4.json`:"
SAVE = re.compile(rf"(?:(?:[Ss]ave|[Cc]reate a file)\b[^`]*{_FILE}[^`]*|{_FILE}[^`]{{0,20}}):\s*$")


@attrs.frozen
class Block:
    """One fenced block: its language, text, line in the file and the directive before it."""

    lang: str
    text: str
    line: int
    directive: str | None
    intro: str  # the paragraph just before the block


def blocks(path: Path) -> list[Block]:
    """The fenced blocks of a Markdown file, in order."""
    lines = path.read_text(encoding="utf-8").split("\n")
    found: list[Block] = []
    i = 0
    while i < len(lines):
        fence = re.match(r"^(`{3,})(\w*)\s*$", lines[i])
        if not fence:
            i += 1
            continue
        k = i - 1
        while k >= 0 and not lines[k].strip():
            k -= 1
        directive = None
        match = DIRECTIVE.match(lines[k]) if k >= 0 else None
        if match:
            directive = match.group(1)
            k -= 1
            while k >= 0 and not lines[k].strip():
                k -= 1
        paragraph: list[str] = []
        while k >= 0 and lines[k].strip() and not lines[k].startswith("```"):
            paragraph.insert(0, lines[k].strip())
            k -= 1
        intro = " ".join(paragraph)
        end = i + 1
        while end < len(lines) and lines[end] != fence.group(1):
            end += 1
        found.append(Block(fence.group(2), "\n".join(lines[i + 1 : end]) + "\n", i + 1,
                           directive, intro))
        i = end + 1
    return found


def _engine_name() -> str:
    from creditrules.engine import _durable

    return "durable" if _durable.available() else "reference"


def normalise(text: str) -> str:
    """Output as compared: no trailing spaces or blank lines at the end; engine-neutral."""
    text = "\n".join(line.rstrip() for line in text.replace("\r\n", "\n").split("\n"))
    text = text.strip("\n")
    if _engine_name() != "durable":
        # The docs show the outputs of Python 3.11, where durable_rules is the engine.
        text = re.sub(r"\bengine(:|=| ) ?durable\b", lambda m: m.group(0).replace(
            "durable", "reference"), text)
    return text


def _pattern(expected: str) -> str:
    pattern = ""
    for line in normalise(expected).split("\n"):
        if line.strip() == "...":
            pattern += r"(?:.*\n)*?"
            continue
        pattern += ".*?".join(re.escape(part) for part in line.split("...")) + r"\n"
    return pattern


def matches(expected: str, actual: str) -> bool:
    """Whether actual output equals expected, `...` standing for anything (as in doctests)."""
    return re.fullmatch(_pattern(expected), normalise(actual) + "\n") is not None


def contains(excerpt: str, actual: str) -> bool:
    """Whether the excerpt's lines appear, in order, in the output (a page quoting parts)."""
    lines = iter(normalise(actual).split("\n"))
    for wanted in normalise(excerpt).split("\n"):
        if wanted.strip() == "...":
            continue
        pattern = ".*?".join(re.escape(part) for part in wanted.split("..."))
        if not any(re.fullmatch(pattern, line) for line in lines):
            return False
    return True


def _user_env() -> dict[str, str]:
    """The environment of a reader trying the page: not the test suite's CI settings."""
    return {k: v for k, v in os.environ.items() if k not in {"CI", "HYPOTHESIS_PROFILE"}}


def run_command(script: str, cwd: Path) -> tuple[str, int]:
    script = script.replace(".venv/bin/", f"{BIN}/")
    env = {**_user_env(), "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
           "COLUMNS": "80", "PYTHONHASHSEED": "0"}
    done = subprocess.run(["bash", "-c", script], cwd=cwd, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=300, check=False)
    return done.stdout, done.returncode


def run_python(code: str, cwd: Path, where: str) -> str:
    if ">>>" in code:
        parser = doctest.DocTestParser()
        test = parser.get_doctest(code, {}, where, where, 0)
        runner = doctest.DocTestRunner(
            optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
        old = Path.cwd()
        os.chdir(cwd)
        try:
            out: list[str] = []
            runner.run(test, out=out.append)
        finally:
            os.chdir(old)
        assert runner.failures == 0, "".join(out)
        return ""
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=300, check=False,
                          env={**_user_env(), "PYTHONHASHSEED": "0"})
    return done.stdout


def edit(target: Path, how: str, snippet: str, where: str) -> None:
    """Apply a tutorial's 'add this after ...' to a file it saved earlier."""
    source = re.match(r"from (\S+) (.*)", how)
    if source:  # a variant of another file: "Suppose clause 5.2(a) had been typed like this"
        shutil.copyfile(target.parent / source.group(1), target)
        how = source.group(2)
    assert target.exists(), f"{where}: edit of {target.name}, which no earlier block saved"
    text = target.read_text(encoding="utf-8")
    lines = text.rstrip("\n").split("\n")
    args = re.findall(r'"([^"]*)"', how)
    new = snippet.rstrip("\n").split("\n")
    if how.startswith("append"):
        # A new top-level section is set off by a blank line, as its author would.
        lines += ([""] if new[0][:1] not in ("", " ") else []) + new
    elif how.startswith("insert-after"):
        at = next((n for n, line in enumerate(lines) if line.startswith(args[0])), None)
        assert at is not None, f"{where}: no line starts with {args[0]!r} in {target.name}"
        lines[at + 1 : at + 1] = new
    elif how.startswith("replace"):
        first = next((n for n, line in enumerate(lines) if line.startswith(args[0])), None)
        assert first is not None, f"{where}: no line starts with {args[0]!r} in {target.name}"
        last = next((n for n in range(first, len(lines)) if lines[n].startswith(args[1])),
                    None)
        assert last is not None, f"{where}: no line starts with {args[1]!r} in {target.name}"
        lines[first : last + 1] = new
    elif how.startswith("lines"):
        numbers = [int(n) for n in how.split()[1:]]
        assert len(numbers) == len(new), f"{where}: {len(new)} lines for {numbers}"
        for number, line in zip(numbers, new, strict=True):
            lines[number - 1] = line
    else:
        raise AssertionError(f"{where}: unknown edit {how!r}")
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")


def steps(path: Path) -> Iterator[tuple[Block, Block | None]]:
    """Each block with the output block right after it, if any."""
    found = blocks(path)
    consumed: set[int] = set()
    for n, block in enumerate(found):
        if n in consumed:
            continue
        following = found[n + 1] if n + 1 < len(found) else None
        output = None
        if (block.lang in COMMAND_LANGS | {"python"} and following is not None
                and following.lang in OUTPUT_LANGS and following.directive is None
                and _adjacent(path, block, following)):
            output = following
            consumed.add(n + 1)
        yield block, output


def _adjacent(path: Path, block: Block, following: Block) -> bool:
    """Whether only blank lines stand between a block's closing fence and the next block."""
    lines = path.read_text(encoding="utf-8").split("\n")
    close = block.line + block.text.count("\n")
    return all(not line.strip() for line in lines[close + 1 : following.line - 1])


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_docs_run_as_shown(path: Path, tmp_path: Path) -> None:
    """Every block of this page runs, and prints what the page says it prints."""
    shutil.copytree(ROOT / "rulesets", tmp_path / "rulesets")
    shutil.copytree(ROOT / "benchmarks", tmp_path / "benchmarks",
                    ignore=shutil.ignore_patterns("out", "__pycache__"))
    update = os.environ.get("DOCS_UPDATE") == "1"
    failures: list[str] = []
    rewrites: list[tuple[Block, str]] = []
    printed: list[str] = []  # what each command printed, for the excerpts a page quotes later
    for block, output in steps(path):
        where = f"{path.relative_to(ROOT)}:{block.line}"
        directive = block.directive or ""
        if directive.startswith("skip"):
            assert directive[4:].strip(), f"{where}: a skip needs a reason"
            continue
        if directive.startswith("edit "):
            _, name, how = directive.split(" ", 2)
            edit(tmp_path / name, how, block.text, where)
            continue
        if directive.startswith("check "):
            # "The complete file now reads:": what the page's edits built must be that.
            # Blank lines aside; from here on the file is the one shown, blank lines included.
            target = tmp_path / directive.split()[1]
            built = target.read_text(encoding="utf-8")
            if [line for line in built.split("\n") if line.strip()] != [
                    line for line in block.text.split("\n") if line.strip()]:
                failures.append(f"{where}: the page's edits built\n{built}\n--- but it shows "
                                f"---\n{block.text}")
            target.write_text(block.text, encoding="utf-8")
            continue
        save = re.match(r"file\s+(\S+)", directive) or SAVE.search(block.intro)
        if save and block.lang not in COMMAND_LANGS | {"python"}:
            target = tmp_path / next(g for g in save.groups() if g)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block.text, encoding="utf-8")
            continue
        if directive.startswith("output-of "):
            # A page quoting a line of a command's output, for its form: run the command.
            printed.append(run_command(directive[len("output-of "):], tmp_path)[0])
        if block.lang in OUTPUT_LANGS:
            if not directive.startswith(("excerpt", "output-of")):
                continue  # an illustration: a grammar, a file's shape
            if not any(contains(block.text, out) for out in reversed(printed)):
                failures.append(f"{where}: not in what the commands before printed:\n"
                                f"{block.text}\n--- the last one printed ---\n"
                                f"{printed[-1] if printed else ''}")
            continue
        if block.lang in COMMAND_LANGS:
            actual, status = run_command(block.text, tmp_path)
            printed.append(actual)
            expected_status = re.match(r"exit (\d+)", directive)
            if expected_status and status != int(expected_status.group(1)):
                failures.append(f"{where}: exit status {status}, the page says "
                                f"{expected_status.group(1)}\n{actual}")
            elif output is None and not expected_status and status != 0:
                # A command shown without its output must at least succeed.
                failures.append(f"{where}: exit status {status}\n{actual}")
        elif block.lang == "python":
            actual = run_python(block.text, tmp_path, where)
            printed.append(actual)
        elif block.lang in {"yaml", "yml"}:
            yaml.safe_load(block.text)
            continue
        elif block.lang == "json":
            json.loads(block.text)
            continue
        elif block.lang == "jsonl":
            for line in block.text.splitlines():
                if line.strip():
                    json.loads(line)
            continue
        else:
            continue
        if output is None:
            continue
        if not matches(output.text, actual):
            if update and "..." not in output.text:
                rewrites.append((output, actual))
            else:
                failures.append(f"{where}: printed\n{actual}\n--- but the page shows ---\n"
                                f"{output.text}")
    if rewrites:
        _rewrite(path, rewrites)
    assert not failures, "\n\n".join(failures)


def _rewrite(path: Path, rewrites: list[tuple[Block, str]]) -> None:
    lines = path.read_text(encoding="utf-8").split("\n")
    for block, actual in sorted(rewrites, key=lambda r: -r[0].line):
        body = normalise(actual).split("\n")
        if _engine_name() != "durable":
            return  # the pages show the durable engine's outputs; update them there
        lines[block.line : block.line + block.text.count("\n")] = body
    path.write_text("\n".join(lines), encoding="utf-8")
