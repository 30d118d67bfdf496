"""YAML mistakes are reported in plain sentences, where the author has to look."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.validate import validate_file

HEAD = "graph: x\nstart: a\nagents:\n  a:\n"


def _only(tmp_path: Path, text: str) -> tuple[str, int, int, str]:
    path = tmp_path / "graph.yaml"
    path.write_text(text)
    [finding] = validate_file(path).findings
    return finding.code, finding.line, finding.col, finding.message


@pytest.mark.parametrize(
    ("body", "where", "message"),
    [
        (
            "    tools: [lookup, other\n    handoffs: [b]\n  b:\n    instructions: hi\n",
            (5, 12),
            "this '[' is never closed with ']' (the parser gave up at line 6, column 13, expecting ',' or ']')",
        ),
        ("    tools: [lookup, other\n", (5, 12), "this '[' is never closed with ']' (the parser gave up at the end"),
        (
            "    session: {voice: alloy\n  b:\n    instructions: hi\n",
            (5, 14),
            "this '{' is never closed with '}'",
        ),
        (
            '    instructions: "hello there\n  b:\n    instructions: hi\n',
            (5, 19),
            'this quoted text ("...) is never closed: the file ends without a closing "',
        ),
        (
            "    instructions: 'hello there\n  b:\n    instructions: hi\n",
            (5, 19),
            "this quoted text ('...) is never closed",
        ),
    ],
    ids=["bracket", "bracket-at-end", "brace", "double-quote", "single-quote"],
)
def test_unclosed_brackets_and_quotes_point_where_they_opened(tmp_path: Path, body, where, message):
    code, line, col, text = _only(tmp_path, HEAD + body)
    assert (code, (line, col)) == ("E101", where) and message in text, text


def test_tabs_are_called_tabs(tmp_path: Path):
    code, line, col, message = _only(tmp_path, HEAD + "\tinstructions: hi\n")
    assert (code, line, col) == ("E101", 5, 1)
    assert message == "YAML syntax error: line 5 is indented with a tab: YAML indents with spaces only"


def test_a_dedented_mapping_gets_a_hint(tmp_path: Path):
    code, line, col, message = _only(tmp_path, HEAD + "    instructions: hi\nbilling:\n  instructions: hi\n")
    assert (code, line, col) == ("E201", 6, 1)
    assert message == "unknown key 'billing' in the file (is 'billing' meant to be under agents:?)"
    text = (
        HEAD
        + "    instructions: hi\n    states:\n      initial: s\n      steps:\n        s: {}\n    t:\n      description: x\n"
    )
    code, line, _, message = _only(tmp_path, text)
    assert (code, line) == ("E201", 10) and message.endswith("(is 't' meant to be under steps:?)")


@pytest.mark.parametrize(
    ("body", "where", "message"),
    [
        ("    instructions: hi: there\n", (5, 21), "a ': ' here would start a mapping inside a value: quote the value"),
        (
            "    instructions: hi\n   billing:\n    instructions: hi\n",
            (6, 4),
            "this line does not line up with the mapping that starts at line 4 (its keys start at column 3)",
        ),
        ("    tools:\n      - x\n    - y\n", (7, 5), "a list item ('-') that does not line up with the mapping"),
        ("    tools: [x]]\n", (5, 15), "a ']' that closes nothing"),
        (
            "    instructions: *prompt\n",
            (5, 19),
            "'*prompt' refers to an anchor '&prompt' that is not defined above it",
        ),
    ],
    ids=["colon-in-value", "odd-indent", "list-item", "extra-bracket", "alias"],
)
def test_parser_wording_is_rewritten(tmp_path: Path, body, where, message):
    code, line, col, text = _only(tmp_path, HEAD + body)
    assert (code, (line, col)) == ("E101", where) and message in text, text
    for raw in ("while parsing", "while scanning", "did not find expected", "not allowed in this context"):
        assert raw not in text
