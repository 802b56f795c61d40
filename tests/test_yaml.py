"""Tests of located YAML composition (``creditrules.agreement._yaml``): positions, raw text,
refusals."""

from __future__ import annotations

import time

import pytest

from creditrules.agreement._yaml import MapNode, ScalarNode, SeqNode, compose
from creditrules.errors import Location, RulesetError

FILE = "rulesets/x.yaml"


def loc(line: int, column: int) -> Location:
    return Location(FILE, line, column)


def refused(text: str) -> RulesetError:
    with pytest.raises(RulesetError) as info:
        compose(text, FILE)
    return info.value


def scalar(node: object) -> ScalarNode:
    assert isinstance(node, ScalarNode)
    return node


def mapping(node: object) -> MapNode:
    assert isinstance(node, MapNode)
    return node


# -- located nodes ------------------------------------------------------------------------


def test_nodes_carry_one_based_line_and_column() -> None:
    root = mapping(compose("name: x\nitems:\n  - a\n  - {k: v}\n", FILE))
    assert root.loc == loc(1, 1)
    assert root.keys() == ["name", "items"]
    name_key = root.key_node("name")
    assert name_key is not None
    assert name_key.loc == loc(1, 1)
    assert scalar(root.get("name")).loc == loc(1, 7)
    items = root.get("items")
    assert isinstance(items, SeqNode)
    assert items.loc == loc(3, 3)
    first, second = items.items
    assert scalar(first) == ScalarNode("a", loc(3, 5), source="a")
    inner = mapping(second)
    assert inner.loc == loc(4, 5)
    assert scalar(inner.get("k")).loc == loc(4, 9)
    assert root.get("missing") is None
    assert root.key_node("missing") is None
    assert [k.text for k, _ in root] == ["name", "items"]


def test_scalars_keep_their_raw_text() -> None:
    root = mapping(compose("a: 0.1\nb: no\nc: 2026-01-01\nd: 1e3\ne: ~\nf: 070\n", FILE))
    texts = {k.text: scalar(v).text for k, v in root}
    assert texts == {"a": "0.1", "b": "no", "c": "2026-01-01", "d": "1e3", "e": "~",
                     "f": "070"}
    assert scalar(root.get("e")).is_null


def test_empty_document_is_none() -> None:
    assert compose("", FILE) is None
    assert compose("# only a comment\n", FILE) is None


def test_keys_of_a_mapping_keep_file_order() -> None:
    root = mapping(compose("z: 1\na: 2\nm: 3\n", FILE))
    assert root.keys() == ["z", "a", "m"]


# -- quoting and styles -------------------------------------------------------------------


def test_quoted_flag_and_style() -> None:
    root = mapping(compose("p: plain\nd: \"double\"\ns: 'single'\nl: |\n  lit\nf: >\n  fold\n",
                           FILE))
    styles = {k.text: (scalar(v).quoted, scalar(v).style) for k, v in root}
    assert styles == {"p": (False, ""), "d": (True, '"'), "s": (True, "'"), "l": (True, "|"),
                      "f": (True, ">")}


def test_quoted_null_words_are_text_not_null() -> None:
    root = mapping(compose("a: null\nb: \"null\"\nc: ''\nd:\n", FILE))
    assert scalar(root.get("a")).is_null
    assert not scalar(root.get("b")).is_null
    assert not scalar(root.get("c")).is_null
    assert scalar(root.get("d")).is_null


def test_block_scalar_indent_and_location() -> None:
    text = "rule:\n  when: >\n    a and\n    b\n"
    when = scalar(mapping(mapping(compose(text, FILE)).get("rule")).get("when"))
    assert when.text == "a and b\n"
    assert when.style == ">"
    assert when.loc == loc(2, 9)  # the '>' indicator
    assert when.indent == 4


def test_block_scalar_indent_skips_leading_blank_lines() -> None:
    text = "when: |\n\n      deep\n"
    when = scalar(mapping(compose(text, FILE)).get("when"))
    assert when.text == "\ndeep\n"
    assert when.indent == 6


def test_plain_and_flow_scalars_have_no_indent() -> None:
    root = mapping(compose("a: x\nb: \"y\"\n", FILE))
    assert scalar(root.get("a")).indent == 0
    assert scalar(root.get("b")).indent == 0


@pytest.mark.parametrize(
    ("text", "offset", "expected"),
    [
        # plain, one line: "a == b" at column 4
        ("k: a == b\n", 5, (1, 9)),
        # double-quoted: one column for the quote
        ('k: "a == b"\n', 5, (1, 10)),
        # escapes before the character take more room in the file than in the text
        ('k: "\\"x\\" == b"\n', 7, (1, 14)),
        ("k: 'it''s == b'\n", 8, (1, 14)),
        # a plain scalar folded over two lines: "a and b == c"
        ("k: a and\n  b == c\n", 6, (2, 3)),
        # folded block: "a and b == c\n"
        ("k: >\n  a and\n  b == c\n", 11, (3, 8)),
        # literal block keeps its lines: "a and\nb == c\n"
        ("k: |\n  a and\n  b == c\n", 6, (3, 3)),
        # just after the last character (end of a condition)
        ("k: a ==\n", 4, (1, 8)),
        ('k: "a =="\n', 4, (1, 9)),
    ],
)
def test_location_at_maps_text_offsets_into_the_file(
    text: str, offset: int, expected: tuple[int, int]
) -> None:
    node = scalar(mapping(compose(text, FILE)).get("k"))
    assert node.location_at(offset) == loc(*expected)


def test_location_at_counts_crlf_as_one_line_break() -> None:
    node = scalar(mapping(compose("k: a and\r\n  b == c\r\n", FILE)).get("k"))
    assert node.text == "a and b == c"
    assert node.location_at(node.text.index("c")) == loc(2, 8)


def test_location_at_without_source_falls_back_to_the_start() -> None:
    node = ScalarNode("a == b", loc(3, 4))
    assert node.location_at(5) == loc(3, 4)


# -- refusals -----------------------------------------------------------------------------


def test_duplicate_keys_are_refused_with_both_lines() -> None:
    error = refused("a: 1\nb: 2\na: 3\n")
    assert [(p.code, p.location) for p in error.problems] == [("duplicate-key", loc(3, 1))]
    assert error.problems[0].message == "duplicate key 'a' (first given at line 1)"


def test_nested_duplicate_keys_are_refused() -> None:
    error = refused("outer:\n  x: 1\n  y: {x: 2, x: 3}\n")
    assert [(p.code, p.location) for p in error.problems] == [("duplicate-key", loc(3, 13))]
    assert "duplicate key 'x' (first given at line 3)" in error.problems[0].message


def test_every_duplicate_key_is_reported() -> None:
    error = refused("a: 1\na: 2\nb: 1\nb: 2\n")
    assert [(p.code, p.location) for p in error.problems] == [
        ("duplicate-key", loc(2, 1)), ("duplicate-key", loc(4, 1))]


def test_non_scalar_keys_are_refused() -> None:
    error = refused("? [a, b]\n: 1\n")
    assert [(p.code, p.location) for p in error.problems] == [("yaml-key", loc(1, 3))]


def test_anchor_and_alias_are_refused_where_written() -> None:
    error = refused("base: &b {x: 1}\nother: *b\n")
    assert [(p.code, p.location) for p in error.problems] == [
        ("yaml-alias", loc(1, 7)), ("yaml-alias", loc(2, 8))]
    assert error.problems[0].message == "anchors and aliases are not allowed in rulesets"


def test_an_unused_anchor_is_refused_too() -> None:
    error = refused("a: &x 1\n")
    assert [(p.code, p.location) for p in error.problems] == [("yaml-alias", loc(1, 4))]


def test_merge_keys_are_refused() -> None:
    error = refused("base: &b {x: 1}\nother:\n  <<: *b\n")
    assert set(error.codes) == {"yaml-alias"}


def test_billion_laughs_is_refused_quickly() -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    started = time.perf_counter()
    error = refused("\n".join(lines) + "\n")
    assert time.perf_counter() - started < 1
    assert set(error.codes) == {"yaml-alias"}
    assert error.problems[0].location == loc(1, 4)


def test_nesting_limit() -> None:
    ok = "a: " + "[" * 32 + "]" * 32 + "\n"
    assert compose(ok, FILE) is not None
    error = refused("a: " + "[" * 33 + "]" * 33 + "\n")
    assert [(p.code, p.location) for p in error.problems] == [("yaml-depth", loc(1, 36))]
    assert error.problems[0].message == "nesting deeper than 32 levels"


def test_very_deep_nesting_is_a_problem_not_a_recursion_error() -> None:
    error = refused("a: " + "[" * 5000 + "]" * 5000 + "\n")
    assert error.codes == ["yaml-depth"]


def test_syntax_errors_are_located() -> None:
    error = refused("a: 1\n\tb: 2\n")
    assert [(p.code, p.location) for p in error.problems] == [("yaml-syntax", loc(2, 1))]
    assert error.problems[0].message.startswith("YAML syntax error: ")
    assert "'\\t'" in error.problems[0].message


def test_unclosed_flow_mapping() -> None:
    error = refused("a: {x: 1\nb: 2\n")
    assert error.codes == ["yaml-syntax"]
    assert error.problems[0].location is not None
    assert error.problems[0].location.line == 2


def test_several_documents_are_refused() -> None:
    error = refused("a: 1\n---\nb: 2\n")
    assert [(p.code, p.location) for p in error.problems] == [("yaml-syntax", loc(2, 1))]
    assert error.problems[0].message == (
        "YAML syntax error: expected a single document in the stream, "
        "but found another document")


def test_undefined_alias_is_refused_as_an_alias() -> None:
    error = refused("a: *nowhere\n")
    assert error.codes == ["yaml-alias"]
