"""Fuzzing ruleset and cases loading with hostile input (issue 11): whatever the bytes,
encoding, size, tags, paths, nesting or numbers, loading ends in a ruleset or in located
problems with stable codes (a ``CreditRulesError``), never another exception, and quickly.

Rulesets are built by mutating a valid one, so most examples get past the YAML parser and
reach the schema, the conditions and the engines; deals then go through both engines,
which must agree.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import creditrules
from creditrules.authoring.cases import CasesFile, load_cases, run_cases
from creditrules.engine import _durable
from creditrules.errors import CreditRulesError, Problem, RulesetError

BASE = """\
ruleset: fuzz
version: "1"
effective: {from: 2026-01-01}
currency: USD
rounding: {unit: "0.01", tie_break: hashed}
partners: {acme: {name: A}, beta: {name: B}}
attributes: {tier: text, score: number, since: date}
credit_types: {revenue: {total: 100%}}
credit:
  - {id: base, clause: "1", text: base, default: true, split: {acme: 50%, beta: 50%}}
  - id: rule
    clause: "2"
    text: rule
    overrides: [base]
    when: WHEN
    split: {acme: SHARE, beta: 30%}
"""
ENGINES = ["durable", "reference"] if _durable.available() else ["reference"]

HOSTILE_TEXT = st.sampled_from(
    [
        "!!binary aGVsbG8=",
        "!!python/object/apply:os.system [ls]",
        "!x {a: 1}",
        "&a 1",
        "*a",
        "\x00",
        "\ufeff",
        "\ud7ff",
        "é",
        "\u2028",
        "'" + "a" * 70000 + "'",
        "9" * 5000,
        "1e400",
        "-0",
        "0.000000000000000000000000000001",
        "2026063000",
        "2026-W10-1",
        "20260302XX",
        "2026-02-30",
        "[" * 200 + "]" * 200,
        "{" * 40 + "}" * 40,
        "~",
        "null",
        "id",
        "sid",
        "$ne",
        "../../etc/passwd",
        "/dev/zero",
        '"\\x00"',
        "'",
        '"',
        ":",
    ]
)
WHENS = st.one_of(
    st.sampled_from(
        [
            "attributes.tier == attributes.tier",
            "attributes.score > " + "9" * 5000,
            "attributes.since >= 2026-02-30",
            "attributes.since >= 2026063000",
            "(" * 100 + "amount > 1" + ")" * 100,
            "not " * 100 + "amount > 1",
            " and ".join(f'(amount >= {i} or attributes.tier == "t{i}")' for i in range(30)),
            " and ".join(f'count(activities, kind == "k{i}") == 0' for i in range(80)),
            "attributes.id == 1",
            "amount > 1e400",
            "attributes.tier == '" + "x" * 40000 + "'",
        ]
    ),
    st.text(alphabet="amount<>=!() andornt1.\"'0123456789-", max_size=40),
    HOSTILE_TEXT,
)
SHARES = st.one_of(
    st.sampled_from(
        ["70%", "5" * 5000 + "%", "1/" + "3" * 5000, "0.7", "70 %", "-70%", "1e2%", "NaN", "70%%"]
    ),
    HOSTILE_TEXT,
)


def refused(call: Callable[[], object]) -> list[Problem] | None:
    """The problems ``call`` was refused with (None when it succeeded)."""
    try:
        call()
    except RulesetError as exc:  # CasesError is a RulesetError
        return list(exc.problems)
    return None


def load_or_problems(text: str, engine: str) -> creditrules.Ruleset | None:
    """The ruleset, or None when it was refused with located problems."""
    loaded: list[creditrules.Ruleset] = []
    problems = refused(
        lambda: loaded.append(creditrules.loads(text, engine=engine, source="fuzz.yaml"))
    )
    if problems is None:
        return loaded[0]
    assert problems, "a refused ruleset names at least one problem"
    assert all(
        p.code and p.location is not None and p.location.file == "fuzz.yaml" for p in problems
    ), problems
    return None


def outcome(ruleset: creditrules.Ruleset, deal: dict[str, Any]) -> Any:
    try:
        return ruleset.allocate(deal, explain=True).to_dict()
    except CreditRulesError as exc:
        return (type(exc).__name__, str(exc))


DEALS = st.fixed_dictionaries(
    {
        "id": st.just("D-1"),
        "date": st.sampled_from(["2026-03-02", "2026063000"]),
        "amount": st.sampled_from(["100.00", "9" * 400, "-5.00", "0.001"]),
        "currency": st.just("USD"),
        "attributes": st.fixed_dictionaries(
            {},
            optional={
                "tier": st.one_of(st.text(max_size=5), st.just("x" * 40000)),
                "score": st.sampled_from(["1", "9" * 5000, "0.5", "-0"]),
                "since": st.sampled_from(["2026-01-01", "2026-W10-1"]),
            },
        ),
    }
)


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(when=WHENS, share=SHARES, deal=DEALS)
def test_hostile_conditions_and_shares_never_trace_and_engines_agree(
    when: str, share: str, deal: dict[str, Any]
) -> None:
    """A mutated ruleset loads or is refused with located problems, the same way under
    both engines; when it loads, both engines give the same result for a hostile deal."""
    text = BASE.replace("WHEN", _yaml_text(when)).replace("SHARE", _yaml_text(share))
    loaded = [load_or_problems(text, engine) for engine in ENGINES]
    assert len({r is None for r in loaded}) == 1, "both engines accept the same rulesets"
    if loaded[0] is not None:
        results = [outcome(r, deal) for r in loaded if r is not None]
        assert all(r == results[0] for r in results)


def _yaml_text(value: str) -> str:
    """``value`` as a double-quoted YAML scalar half the time, raw the other half (raw
    values test the parser; quoted ones reach the schema)."""
    if len(value) % 2:
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\x00", "\\0")
    return f'"{escaped}"'


@given(st.binary(max_size=300))
def test_arbitrary_bytes_are_refused_with_a_location(tmp_path_factory: Any, data: bytes) -> None:
    """Any bytes as a ruleset file, and as a cases file: a ruleset, or located problems."""
    folder = tmp_path_factory.mktemp("bytes")
    path = folder / "r.yaml"
    path.write_bytes(data)
    problems = refused(lambda: creditrules.load(path, engine="reference")) or []
    assert all(p.location is not None and p.location.file == str(path) for p in problems)
    cases = folder / "r-cases.yaml"
    cases.write_bytes(data)
    problems = refused(lambda: load_cases(cases)) or []
    assert all(p.location is not None and p.location.file == str(cases) for p in problems)


PIECES = st.sampled_from(
    [
        "ruleset: x\n",
        "cases:\n",
        "  - name: a\n",
        "    deal: {amount: AMOUNT, date: DATE}\n",
        "    credit: {acme: SHARE}\n",
        "    error: ambiguous\n",
        "ruleset: ../../etc/passwd\n",
        "ruleset: /dev/zero\n",
        "    amounts: {acme: AMOUNT}\n",
        "  - !!python/none\n",
        "    deal: !!binary aGVsbG8=\n",
        "    rules: [base, base]\n",
        "- [\n",
        "\t",
        "\x00",
    ]
)
FILLERS = {
    "AMOUNT": ["'100.00'", "9" * 5000, "1e400", "-0", "1.5"],
    "DATE": ["2026-03-02", "2026063000", "2026-W10-1", "2026-02-30"],
    "SHARE": ["70%", "5" * 5000 + "%", "!!float 0.7", "NaN"],
}


@given(
    pieces=st.lists(PIECES, max_size=12),
    picks=st.lists(st.integers(0, 4), min_size=3, max_size=3),
    encoding=st.sampled_from(["utf-8", "utf-16", "latin-1", "utf-8-sig"]),
)
def test_hostile_cases_files_are_located(
    tmp_path_factory: Any, pieces: list[str], picks: list[int], encoding: str
) -> None:
    """Cases files stitched from hostile pieces, in several encodings: loaded, or refused
    with located problems; the cases that load run against a ruleset without a trace."""
    text = "".join(pieces)
    for (name, options), pick in zip(FILLERS.items(), picks, strict=True):
        text = text.replace(name, options[pick % len(options)])
    folder = tmp_path_factory.mktemp("cases")
    (folder / "base.yaml").write_text(
        BASE.replace("WHEN", "amount > 1").replace("SHARE", "70%"), encoding="utf-8"
    )
    path = folder / "base-cases.yaml"
    try:
        path.write_bytes(text.encode(encoding))
    except UnicodeEncodeError:
        return
    loaded: list[CasesFile] = []
    problems = refused(lambda: loaded.append(load_cases(path)))
    if problems is not None:
        assert problems
        assert all(p.location is not None for p in problems)
        return
    ruleset = creditrules.load(folder / "base.yaml", engine="reference")
    for result in run_cases(ruleset, loaded[0]):
        assert isinstance(result.passed, bool)


@pytest.mark.parametrize("depth", [33, 1000, 100_000])
def test_deep_nesting_is_refused_quickly(depth: int) -> None:
    """Deeply nested YAML is refused at the first level too deep, however deep it goes."""
    text = "a: " + "[" * depth + "]" * depth + "\n"
    with pytest.raises(RulesetError) as info:
        creditrules.loads(text, engine="reference", source="deep.yaml")
    assert info.value.codes[0] == "yaml-depth"


def test_files_over_the_bound_are_refused_unparsed(tmp_path: Path) -> None:
    """One byte over the size bound is refused without being parsed, located at the file."""
    from creditrules.base._source_files import MAX_SOURCE_BYTES

    over = tmp_path / "over.yaml"
    with over.open("wb") as handle:
        handle.truncate(MAX_SOURCE_BYTES + 1)
    with pytest.raises(RulesetError) as info:
        creditrules.load(over, engine="reference")
    assert info.value.codes == ["too-large"]
    with pytest.raises(RulesetError) as info:
        load_cases(over)
    assert info.value.codes == ["too-large"]


def test_symlink_loops_and_directories_are_located(tmp_path: Path) -> None:
    loop = tmp_path / "loop.yaml"
    os.symlink(loop, loop)
    with pytest.raises(RulesetError) as info:
        creditrules.load(loop, engine="reference")
    assert info.value.codes == ["unreadable"]
    amendment = tmp_path / "a.yaml"
    amendment.write_text(
        'amends: loop.yaml\nversion: "2"\neffective: {from: 2026-01-01}\n', encoding="utf-8"
    )
    with pytest.raises(RulesetError) as info:
        creditrules.load(amendment, engine="reference")
    assert info.value.codes in (["unreadable"], ["path-outside"])


PATH_PIECES = st.sampled_from(
    [
        "..",
        ".",
        "base.yaml",
        "sub",
        "link",
        "loop",
        "fifo",
        "/",
        "/dev/zero",
        "/etc",
        "~",
        "secret.yaml",
        "%2e%2e",
        "\\..\\",
        "nul\x00",
        " ",
        "a" * 300,
        "é",
    ]
)


@pytest.fixture(scope="module")
def maze(tmp_path_factory: Any) -> Path:
    """A ruleset folder with a base, a subfolder, a link out, a link loop and a FIFO,
    next to a secret file it must never read."""
    root = tmp_path_factory.mktemp("maze")
    (root / "secret.yaml").write_text("password: hunter2\n", encoding="utf-8")
    folder = root / "agreement"
    (folder / "sub").mkdir(parents=True)
    (folder / "base.yaml").write_text(
        BASE.replace("WHEN", "amount > 1").replace("SHARE", "70%"), encoding="utf-8"
    )
    (folder / "link").symlink_to(root / "secret.yaml")
    (folder / "loop").symlink_to(folder / "loop")
    os.mkfifo(folder / "fifo")
    return folder


@given(pieces=st.lists(PATH_PIECES, min_size=1, max_size=5))
def test_hostile_amends_paths_never_leave_the_folder(maze: Path, pieces: list[str]) -> None:
    """Whatever ``amends:`` says, loading ends in a ruleset read from inside the folder or
    in located problems; the secret outside is never read, and nothing hangs."""
    name = "/".join(pieces).replace("//", "/")
    amendment = maze / "amendment.yaml"
    text = f'amends: "{_escaped(name)}"\nversion: "2"\neffective: {{from: 2026-06-01}}\n'
    amendment.write_text(text, encoding="utf-8")
    loaded: list[creditrules.Ruleset] = []
    problems = refused(lambda: loaded.append(creditrules.load(amendment, engine="reference")))
    if problems is None:
        assert loaded[0].versions == ("1", "2")  # only base.yaml is a ruleset in reach
        return
    assert all(p.location is not None for p in problems)
    assert "hunter2" not in " ".join(p.message for p in problems)


def _escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\x00", "\\0")
