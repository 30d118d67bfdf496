"""Each kind of mistake is reported once, with its code, the right line and column, and no traceback."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from conftest import BUNDLED, MINI

from engine.cli import main
from engine.validate import validate_file


def _line_col(text: str, needle: str, occurrence: int = 1) -> tuple[int, int]:
    """1-based line and column of the n-th occurrence of `needle` in `text`."""
    index = -1
    for _ in range(occurrence):
        index = text.index(needle, index + 1)
    line = text.count("\n", 0, index) + 1
    col = index - (text.rfind("\n", 0, index) + 1) + 1
    return line, col


def _check(write_graph, text: str, code: str, needle: str, *, message: str = "", **files: str):
    path = write_graph(text, **files)
    findings = validate_file(path).findings
    assert findings, f"expected {code}, got nothing"
    hit = [f for f in findings if f.code == code]
    assert hit, f"expected {code}, got {[f.format() for f in findings]}"
    line, col = _line_col(text, needle)
    assert (hit[0].line, hit[0].col) == (line, col), hit[0].format()
    assert message in hit[0].message, hit[0].format()
    return hit[0]


def test_the_mini_graph_is_clean(write_graph):
    assert validate_file(write_graph()).findings == []


def test_yaml_syntax_error_points_at_the_problem(write_graph):
    text = MINI.replace("tools: [lookup]", "tools: [lookup")
    path = write_graph(text)
    [finding] = validate_file(path).findings
    assert finding.code == "E101" and "YAML syntax error" in finding.message
    assert finding.line == _line_col(text, "handoffs: [helper]")[0]


def test_duplicate_key_is_an_error(write_graph):
    text = MINI.replace("    handoffs: [helper]\n", "    handoffs: [helper]\n    handoffs: [helper]\n")
    _check(write_graph, text, "E104", "handoffs: [helper]\n  helper", message="duplicate key 'handoffs'")


def test_wrong_type(write_graph):
    text = MINI.replace("handoffs: [helper]", "handoffs: 3")
    _check(write_graph, text, "E202", "3\n", message="handoffs")


def test_unknown_key_suggests_the_right_one(write_graph):
    text = MINI.replace("    description: Greets", "    descripton: Greets")
    _check(write_graph, text, "E201", "descripton", message="did you mean 'description'?")


def test_missing_required_key(write_graph):
    text = MINI.replace("start: greeter\n", "")
    path = write_graph(text)
    [finding] = validate_file(path).findings
    assert finding.code == "E203" and "'start'" in finding.message and finding.line == 1


def test_missing_include(write_graph):
    text = MINI.replace("context:\n  company: Acme", "context: !include nowhere.yaml")
    _check(write_graph, text, "E102", "!include", message="nowhere.yaml")


def test_include_inlines_the_file_and_locates_errors_inside_it(write_graph, tmp_path: Path):
    text = MINI.replace("context:\n  company: Acme", "context: !include context.yaml")
    path = write_graph(text, **{"context.yaml": "company: Acme\n"})
    assert validate_file(path).findings == []
    text = MINI.replace("tools:\n  lookup:", "tools: !include tools.yaml\nunused:\n  lookup:")
    (tmp_path / "tools.yaml").write_text("lookup:\n  descriptoin: x\n  returns: 1\n")
    findings = validate_file(write_graph(text)).findings
    inner = [f for f in findings if f.file.endswith("tools.yaml")]
    assert inner and inner[0].code == "E201" and (inner[0].line, inner[0].col) == (2, 3)


def test_include_cycle(write_graph, tmp_path: Path):
    text = MINI.replace("context:\n  company: Acme", "context: !include a.yaml")
    path = write_graph(text, **{"a.yaml": "x: !include b.yaml\n", "b.yaml": "y: !include a.yaml\n"})
    [finding] = validate_file(path).findings
    assert finding.code == "E103" and "b.yaml" in finding.file


def test_missing_instructions_file(write_graph):
    text = MINI.replace("instructions: Help the caller of {{ context.company }}.", "instructions_file: prompts/x.j2")
    _check(write_graph, text, "E305", "prompts/x.j2", message="prompts/x.j2")


def test_run_target_that_does_not_import(write_graph):
    text = MINI.replace("mini_tools:lookup", "mini_tools:lookpu")
    _check(write_graph, text, "E306", "mini_tools:lookpu", message="lookpu")
    text = MINI.replace("mini_tools:lookup", "nowhere_tools:lookup")
    _check(write_graph, text, "E306", "nowhere_tools:lookup")


def test_run_target_whose_parameters_do_not_match(write_graph):
    text = MINI.replace("query: {type: string}", "question: {type: string}").replace("[query]", "[question]")
    _check(write_graph, text, "E307", "mini_tools:lookup", message="question")


def test_invalid_json_schema_points_inside_the_schema(write_graph):
    text = MINI.replace("query: {type: string}", "query: {type: strin}")
    _check(write_graph, text, "E501", "strin}", message="strin")


def test_undefined_template_variable_in_a_block_scalar(write_graph):
    text = MINI.replace("{{ company }}", "{{ compnay }}")
    _check(write_graph, text, "E402", "You greet callers", message="company")


def test_misspelled_context_attribute(write_graph):
    text = MINI.replace("{{ context.company }}", "{{ context.compny }}")
    _check(write_graph, text, "E402", "Help the caller", message="company")


def test_template_syntax_error_in_a_file(write_graph):
    text = MINI.replace("instructions: Help the caller of {{ context.company }}.", "instructions_file: helper.j2")
    path = write_graph(text, **{"helper.j2": "Line one.\nHello {{ company \n"})
    [finding] = [f for f in validate_file(path).findings if f.code == "E401"]
    assert finding.file.endswith("helper.j2") and finding.line in (2, 3)


def test_handoff_to_unknown_agent(write_graph):
    text = MINI.replace("handoffs: [helper]", "handoffs: [helpr]")
    _check(write_graph, text, "E301", "helpr", message="did you mean 'helper'?")


def test_unknown_tool(write_graph):
    text = MINI.replace("tools: [lookup]", "tools: [lokup]")
    _check(write_graph, text, "E302", "lokup", message="did you mean 'lookup'?")


def test_unreachable_agent(write_graph):
    text = MINI.replace("tools:\n  lookup:", "  orphan:\n    instructions: Alone.\ntools:\n  lookup:")
    _check(write_graph, text, "W601", "orphan")


STATES = """\
    states:
      initial: hello
      steps:
        hello:
          instructions: Say hello.
          transitions: [{to: ask, when: greeted}]
        ask:
          instructions: Ask what they need.
          transitions: [{to: handoff:helper, when: they need help, guard: context.company}]
"""


def test_states_are_valid(write_graph):
    text = MINI.replace("    handoffs: [helper]\n", "    handoffs: [helper]\n" + STATES, 1)
    assert validate_file(write_graph(text)).findings == []


def test_transition_to_unknown_state(write_graph):
    text = MINI.replace(
        "    handoffs: [helper]\n", "    handoffs: [helper]\n" + STATES.replace("{to: ask", "{to: aks"), 1
    )
    _check(write_graph, text, "E303", "aks", message="did you mean 'ask'?")


def test_unreachable_and_dead_end_states(write_graph):
    extra = "        lost:\n          instructions: Nobody comes here.\n"
    text = MINI.replace("    handoffs: [helper]\n", "    handoffs: [helper]\n" + STATES + extra, 1)
    _check(write_graph, text, "W602", "lost:")
    # A state that is not the last one, with no way out, in an agent without handoffs.
    stuck = STATES.replace(
        "transitions: [{to: ask, when: greeted}]", "transitions: [{to: ask, when: greeted}, {to: stuck, when: x}]"
    )
    stuck = stuck.replace("      steps:\n", "      steps:\n        stuck:\n          instructions: Wait.\n")
    text = MINI.replace("    handoffs: [helper]\n", stuck, 1)
    _check(write_graph, text, "W603", "stuck:\n")


def test_tool_named_like_a_generated_transfer_tool(write_graph):
    text = MINI.replace("  echo:\n", "  transfer_to_helper:\n").replace("tools: [echo]", "tools: [transfer_to_helper]")
    text = text.replace("tools: [lookup]", "tools: [lookup, transfer_to_helper]")
    hit = _check(write_graph, text, "E605", "transfer_to_helper:\n")
    assert "transfer_to_helper" in hit.message


def test_tool_name_the_api_refuses(write_graph):
    text = MINI.replace("  echo:\n", "  echo back:\n").replace("tools: [echo]", "tools: [echo back]")
    _check(write_graph, text, "E701", "echo back:")


def test_agents_with_different_voices_warn(write_graph):
    text = MINI.replace(
        "    description: Helps with anything.\n", "    description: Helps with anything.\n    voice: ash\n"
    )
    text = text.replace("context:", "session:\n  audio: {output: {voice: sage}}\ncontext:")
    _check(write_graph, text, "W702", "ash")


def test_scripted_arguments_are_checked_against_the_schema(write_graph):
    text = MINI + "demo:\n  turns:\n    - user: hi\n      model:\n        - call: lookup\n          args: {q: x}\n"
    _check(write_graph, text, "E502", "{q: x}", message="lookup")


# --- the command line ---------------------------------------------------------------------------


def test_cli_exit_codes_and_formats(write_graph, capsys):
    good = write_graph()
    assert main(["validate", str(good)]) == 0
    bad = write_graph(MINI.replace("handoffs: [helper]", "handoffs: [helpr]"), name="bad.yaml")
    assert main(["validate", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "bad.yaml:" in out and "error E301" in out
    assert main(["validate", "--format", "json", str(bad)]) == 1
    [finding] = json.loads(capsys.readouterr().out)
    assert finding["code"] == "E301" and finding["line"] > 0
    assert main(["validate", "--format", "github", str(bad)]) == 1
    assert capsys.readouterr().out.startswith("::error file=")
    warn = write_graph(
        MINI.replace("tools:\n  lookup:", "  orphan:\n    instructions: x\ntools:\n  lookup:"), name="w.yaml"
    )
    assert main(["validate", str(warn)]) == 0
    assert main(["validate", "--strict", str(warn)]) == 1
    with pytest.raises(SystemExit) as exc:
        main(["validate"])
    assert exc.value.code == 2


def test_missing_file_is_a_finding_not_a_traceback(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "nope.yaml")]) == 1
    assert "E105" in capsys.readouterr().out


@pytest.mark.parametrize("seed", range(60))
def test_no_traceback_for_any_mangled_file(write_graph, seed: int):
    """Random damage to a valid file yields findings, never an exception."""
    rng = random.Random(seed)
    source = (BUNDLED[0].read_text() if BUNDLED else MINI) if seed % 2 else MINI
    chars = list(source)
    for _ in range(rng.randint(1, 6)):
        i = rng.randrange(len(chars))
        op = rng.choice(["delete", "insert", "swap"])
        if op == "delete":
            del chars[i]
        elif op == "insert":
            chars.insert(i, rng.choice(":-[]{}!&*|>'\"# \n\tabc0"))
        else:
            j = rng.randrange(len(chars))
            chars[i], chars[j] = chars[j], chars[i]
    path = write_graph("".join(chars))
    report = validate_file(path)
    for finding in report.findings:
        assert finding.code and finding.message and finding.format()


def test_bundled_graphs_validate_strictly():
    assert BUNDLED, "graphs/*.yaml missing"
    for path in BUNDLED:
        assert validate_file(path).findings == [], path
