"""``creditrules schema``: the JSON Schema of rulesets and cases files.

Two checks keep it honest: every bundled and test ruleset (and cases file) validates against
it, and at every place where the loader refuses unknown keys, the schema allows exactly the
keys the loader names in its own "unknown key ... (known: ...)" message.

``jsonschema`` (test extra) validates: a real 2020-12 validator is what editors run, and
writing one here would test the schema against our own reading of the standard.
"""

from __future__ import annotations

import json
import re
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import creditrules
from creditrules.agreement._yaml import MapNode, Node, ScalarNode, compose
from creditrules.authoring._schema_json import cases_schema, ruleset_schema
from creditrules.authoring.cases import CasesError, load_cases
from creditrules.cli import main

jsonschema = pytest.importorskip("jsonschema")

ROOT = Path(__file__).resolve().parent.parent
RULESETS = ROOT / "rulesets"
PROBE = "zz-probe"


def editor_view(node: Node | None) -> Any:
    """The document as a YAML 1.2 editor sees it: unquoted true/false/null and numbers are
    typed, everything else (dates included) is text."""
    if node is None:
        return None
    if isinstance(node, ScalarNode):
        if node.quoted:
            return node.text
        if node.is_null:
            return None
        if node.text in ("true", "false"):
            return node.text == "true"
        if re.fullmatch(r"-?\d+(\.\d+)?", node.text):
            return Decimal(node.text)
        return node.text
    if isinstance(node, MapNode):
        return {k.text: editor_view(v) for k, v in node}
    return [editor_view(item) for item in node.items]


def load_view(path: Path) -> Any:
    return editor_view(compose(path.read_text(encoding="utf-8"), str(path)))


RULESET_FILES = sorted([*RULESETS.glob("*.yaml"), *(ROOT / "tests" / "unfair").glob("*.yaml")])


@pytest.mark.parametrize(
    "path", [p for p in RULESET_FILES if not p.name.endswith("-cases.yaml")], ids=lambda p: p.name
)
def test_rulesets_validate(path: Path) -> None:
    jsonschema.Draft202012Validator.check_schema(ruleset_schema())
    jsonschema.Draft202012Validator(ruleset_schema()).validate(load_view(path))


@pytest.mark.parametrize("path", sorted(RULESETS.glob("*-cases.yaml")), ids=lambda p: p.name)
def test_cases_files_validate(path: Path) -> None:
    jsonschema.Draft202012Validator.check_schema(cases_schema())
    jsonschema.Draft202012Validator(cases_schema()).validate(load_view(path))


def test_a_typo_is_flagged() -> None:
    """What the editor shows as the lawyer types: an unknown key, with the allowed ones."""
    data = load_view(RULESETS / "cardiozen.yaml")
    data["credit"][1]["overides"] = ["by-contribution"]
    errors = list(jsonschema.Draft202012Validator(ruleset_schema()).iter_errors(data))
    assert any("'overides' was unexpected" in e.message for e in errors)


def _known(message: str) -> tuple[str, set[str]]:
    m = re.fullmatch(rf"unknown key '{PROBE}' in (.+?) \(known: ([^)]*)\).*", message)
    assert m is not None, message
    return m[1], set(m[2].split(", "))


def _keys(schema: dict[str, Any], *path: str) -> set[str]:
    node = schema
    for step in path:
        node = node[step]
    return set(node["properties"])


def _probe_ruleset(
    text: str, inserts: list[tuple[str, str]], source: Path, probes: int | None = None
) -> dict[str, set[str]]:
    for anchor, replacement in inserts:
        assert anchor in text, anchor
        text = text.replace(anchor, replacement, 1)
    source.write_text(text + f"{PROBE}: 1\n")
    with pytest.raises(creditrules.RulesetError) as info:
        creditrules.load(source, engine="reference")
    found = dict(_known(p.message) for p in info.value.problems if p.code == "unknown-key")
    # One probe per insert unless told (an insert may probe two nested places), plus the top.
    assert len(found) == (len(inserts) if probes is None else probes) + 1, found
    return found


def test_the_schema_has_exactly_the_keys_the_loader_accepts(tmp_path: Path) -> None:
    p = f"{PROBE}: 1"
    found = _probe_ruleset(
        (RULESETS / "cardiozen.yaml").read_text(),
        [
            (
                "effective: {from: 2026-01-01, to: 2028-12-31}",
                f"effective: {{from: 2026-01-01, to: 2028-12-31, {p}}}",
            ),
            (
                'rounding: {unit: "0.01", tie_break: hashed}',
                f'rounding: {{unit: "0.01", tie_break: hashed, {p}}}',
            ),
            ('  acme: {name: "Acme Pharma, Inc."}', f'  acme: {{name: "Acme Pharma, Inc.", {p}}}'),
            ("  revenue: {total: 100%}", f"  revenue: {{total: 100%, {p}}}"),
            (
                "  normalise: {acme: 0.25, beta: 1}\n",
                f"  normalise: {{acme: 0.25, beta: 1}}\n  {p}\n",
            ),
            ("    split: by_contribution\n", f"    split: by_contribution\n    {p}\n"),
            (
                "effective: {from: 2026-01-01, to: 2026-12-31}",
                f"effective: {{from: 2026-01-01, to: 2026-12-31, {p}}}",
            ),
            (
                '      annual_cap_per_attendee: "2000.00"\n',
                f'      annual_cap_per_attendee: "2000.00"\n      {p}\n',
            ),
            ("    governs: stricter\n", f"    governs: stricter\n    {p}\n"),
            ("    excess: payer\n", f"    excess: payer\n    {p}\n"),
            ("fairness:\n", f"fairness:\n  {p}\n"),
            ("      rules: [by-contribution]\n", f"      rules: [by-contribution]\n      {p}\n"),
            (
                "      bound: {partners: [beta], at_most: 60%}\n",
                f"      bound: {{partners: [beta], at_most: 60%, {p}}}\n",
            ),
            ("credit:\n", f"analysis:\n  {p}\n  acknowledge:\n    - {{{p}}}\n\ncredit:\n"),
        ],
        tmp_path / "probe.yaml",
        probes=15,
    )
    schema = ruleset_schema()
    top = ("else", "properties")
    assert found["the ruleset"] == _keys(schema, "else")
    assert found["effective"] == _keys(schema, *top, "effective")
    assert found["rounding"] == _keys(schema, *top, "rounding")
    assert found["partner acme"] == set(
        schema["else"]["properties"]["partners"]["additionalProperties"]["anyOf"][1]["properties"]
    )
    assert found["credit type revenue"] == _keys(
        schema, *top, "credit_types", "additionalProperties"
    )
    assert found["contribution"] == _keys(schema, *top, "contribution")
    assert found["a credit rule"] == _keys(schema, *top, "credit", "items")
    assert found["rule heart-failure-launch effective"] == _keys(
        schema, *top, "credit", "items", "properties", "effective"
    )
    assert found["acme's entertainment policy"] == _keys(
        schema, *top, "policies", "additionalProperties", "properties", "entertainment"
    )
    assert found["a policy precedence rule"] == _keys(schema, *top, "policy_precedence", "items")
    assert found["an expense sharing rule"] == _keys(schema, *top, "expense_sharing", "items")
    assert found["fairness"] == _keys(schema, *top, "fairness")
    assert found["a fairness exemption"] == _keys(
        schema, *top, "fairness", "properties", "exemptions", "items"
    )
    assert found["an exemption's bound"] == _keys(
        schema, *top, "fairness", "properties", "exemptions", "items", "properties", "bound"
    )
    assert found["analysis"] == _keys(schema, *top, "analysis")
    assert found["an acknowledgement"] == _keys(
        schema, *top, "analysis", "properties", "acknowledge", "items"
    )

    topics = _probe_ruleset(
        (RULESETS / "cloudbridge.yaml").read_text(),
        [
            (
                "    limits: {max_discount: lower, min_margin: higher}\n",
                f"    limits: {{max_discount: lower, min_margin: higher}}\n    {p}\n",
            ),
        ],
        tmp_path / "cloudbridge.yaml",
    )
    assert topics["topic discounts"] == _keys(schema, *top, "topics", "additionalProperties")

    shutil.copy(RULESETS / "cloudbridge.yaml", tmp_path / "cloudbridge.yaml")
    amendment = tmp_path / "amendment.yaml"
    amendment.write_text((RULESETS / "cloudbridge-amendment-1.yaml").read_text() + f"{p}\n")
    with pytest.raises(creditrules.RulesetError) as info:
        creditrules.load(amendment, engine="reference")
    ((what, keys),) = [_known(x.message) for x in info.value.problems]
    assert what == "an amendment"
    assert keys == _keys(schema, "then")


def test_the_cases_schema_has_exactly_the_keys_the_loader_accepts(tmp_path: Path) -> None:
    shutil.copy(RULESETS / "cardiozen.yaml", tmp_path / "cardiozen.yaml")
    text = (RULESETS / "cardiozen-cases.yaml").read_text()
    anchor = "    rules: [named-accounts]\n"
    text = text.replace(anchor, anchor + f"    {PROBE}: 1\n", 1) + f"{PROBE}: 1\n"
    anchor = 'E1: {covered: "800.00", '
    assert anchor in text
    text = text.replace(anchor, f'E1: {{{PROBE}: 1, covered: "800.00", ', 1)
    path = tmp_path / "cases.yaml"
    path.write_text(text)
    with pytest.raises(CasesError) as info:
        load_cases(path)
    messages = [str(p) for p in info.value.problems]
    found = {}
    for message in messages:
        m = re.search(rf"unknown key '{PROBE}' in (.+?) \(known: ([^)]*)\)", message)
        assert m is not None, message
        found[m[1].split(" expense ")[0] if m[1].startswith("case ") else m[1]] = set(
            m[2].split(", ")
        )
    schema = cases_schema()
    case = schema["properties"]["cases"]["items"]
    assert found["a cases file"] == set(schema["properties"])
    assert found["a case"] == set(case["properties"])
    assert set(found) == {"a cases file", "a case", next(k for k in found if k.startswith("case "))}
    expense_keys = next(v for k, v in found.items() if k.startswith("case "))
    assert expense_keys == set(case["properties"]["expenses"]["additionalProperties"]["properties"])


def test_cli_prints_the_schemas(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out) == ruleset_schema()
    out = tmp_path / "cases.schema.json"
    assert main(["schema", "--cases", "-o", str(out)]) == 0
    assert json.loads(out.read_text()) == cases_schema()
