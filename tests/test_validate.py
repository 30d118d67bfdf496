"""Each kind of mistake is reported once, with its code, the right line and column, and no traceback."""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import BUNDLED, MINI, ROOT

from engine.cli import main
from engine.spec import CODES, Finding
from engine.validate import load_graph, validate_file


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
    assert finding.code == "E101" and "YAML syntax error: this '[' is never closed with ']'" in finding.message
    assert (finding.line, finding.col) == _line_col(text, "[lookup")  # where it opened
    gave_up = _line_col(text, "handoffs: [helper]")[0]
    assert f"the parser gave up at line {gave_up}, column" in finding.message


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


# --- odd and hostile input ----------------------------------------------------------------------


def _run_validate(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`engine validate` in its own process: a crash (not just an exception) must show as a failure."""
    cmd = [sys.executable, "-m", "engine.cli", "validate", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=cwd, check=False)


@pytest.mark.parametrize(
    ("content", "code", "where"),
    [
        (b"", "E202", (1, 1)),
        (b"- a\n- b\n", "E202", (1, 1)),
        (bytes(range(256)) * 4, "E105", (0, 0)),
        (b"graph: t\nstart: a\x01\n", "E101", (2, 9)),
        (b"graph: t\nstart: [a\n", "E101", (2, 8)),  # where the '[' opened
        (b"graph: " + b"[" * 100_000 + b"]" * 100_000 + b"\n", "E101", "nesting"),
        (b"graph: t\ncontext: " + b"{a: " * 3000 + b"1" + b"}" * 3000 + b"\n", "E101", "nesting"),
    ],
    ids=["empty", "list", "binary", "control-character", "unclosed", "deep-flow", "deep-mapping"],
)
def test_odd_files_give_one_located_finding_and_exit_1(
    tmp_path: Path, content: bytes, code: str, where: tuple[int, int] | str
):
    """`where` is the exact position, or for nesting (whose position depends on which of PyYAML's and our
    own depth limits trips first) a word of the message: the finding must still be on line 1 or 2."""
    path = tmp_path / "odd.yaml"
    path.write_bytes(content)
    done = _run_validate(str(path), "--format", "json")
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    [finding] = json.loads(done.stdout)
    assert finding["code"] == code, finding
    if isinstance(where, str):
        assert where in finding["message"] and finding["line"] in (1, 2) and finding["col"] > 1, finding
    else:
        assert (finding["line"], finding["col"]) == where, finding


def test_a_folder_or_a_missing_file_is_a_finding(tmp_path: Path, capsys):
    assert main(["validate", str(tmp_path), str(tmp_path / "nope.yaml")]) == 1
    out = capsys.readouterr().out
    assert "is a directory" in out and "no such file or directory" in out


def test_python_tags_are_refused_and_never_run(write_graph, tmp_path: Path):
    marker = tmp_path / "ran"
    text = MINI.replace("graph: mini", f"graph: !!python/object/apply:os.system ['touch {marker}']")
    [finding] = validate_file(write_graph(text)).findings
    assert finding.code == "E101" and "unsupported tag '!!python/object/apply:os.system'" in finding.message
    assert (finding.line, finding.col) == _line_col(text, "!!python")
    assert not marker.exists()


def test_merge_keys_may_be_overridden_but_keys_may_not_repeat(write_graph):
    text = MINI.replace("company: Acme", "company: Acme\n  base: &b {name: Ada, x: 1}\n  more: {<<: *b, x: 2}")
    path = write_graph(text)
    assert validate_file(path).findings == []
    doc = load_graph(path)
    assert doc.spec.context["more"] == {"name": "Ada", "x": 2}
    text = text.replace("x: 2}", "x: 2, x: 3}")
    _check(write_graph, text, "E104", "x: 3", message="duplicate key 'x'")


def test_alias_bombs_are_refused(write_graph):
    levels = [f"  l0: &l0 [{', '.join(['lol'] * 9)}]"]
    levels += [f"  l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 9)]
    text = MINI.replace("context:\n  company: Acme", "context:\n" + "\n".join(levels))
    findings = validate_file(write_graph(text)).findings
    assert [f.code for f in findings] == ["E101"] and "expands to more than" in findings[0].message


def test_an_include_that_is_not_text_is_located_at_the_include(write_graph, tmp_path: Path):
    (tmp_path / "blob.md").write_bytes(b"\x9c\xff\x00")
    text = MINI.replace("instructions: Help the caller of {{ context.company }}.", "instructions: !include blob.md")
    _check(write_graph, text, "E102", "!include blob.md", message="not UTF-8")


# --- schema messages ----------------------------------------------------------------------------


def test_a_value_no_arm_of_a_union_accepts_is_one_finding(write_graph):
    text = MINI.replace("context:", "session: {max_output_tokens: lots}\ncontext:")
    [finding] = validate_file(write_graph(text)).findings
    assert finding.code == "E202" and "a valid integer or 'inf'" in finding.message
    text = MINI.replace("handoffs: [helper]", "handoffs: [{agent: 3}]")
    [finding] = validate_file(write_graph(text)).findings
    assert "handoffs[0].agent" in finding.message


def test_two_kinds_point_at_the_second_kind(write_graph):
    text = MINI.replace(
        '    returns: "You said {{ args.text }}"', '    returns: "You said {{ args.text }}"\n    run: x:y'
    )
    _check(write_graph, text, "E204", "run: x:y", message="got run, returns")


def test_durations_and_patterns_are_checked(write_graph):
    text = MINI.replace("    run: mini_tools:lookup", "    run: mini_tools:lookup\n    timeout: true")
    _check(write_graph, text, "E202", "true", message="duration")
    text = MINI + "guardrails:\n  g: {regex: [ok, '(open']}\n"
    _check(write_graph, text, "E202", "'(open'", message="not a valid regular expression")


# --- files, templates, callables, payloads ---------------------------------------------------------


@pytest.mark.parametrize(("name", "message"), [('""', "not found"), ("blob.md", "not UTF-8")])
def test_instructions_file_that_is_no_text_file(write_graph, tmp_path: Path, name: str, message: str):
    (tmp_path / "blob.md").write_bytes(b"\x9c\xff")
    text = MINI.replace("instructions: Help the caller of {{ context.company }}.", f"instructions_file: {name}")
    _check(write_graph, text, "E305", name, message=message)


def test_sandbox_escapes_are_refused_where_written(write_graph):
    text = MINI.replace("{{ context.company }}", "{{ ''.__class__.__mro__ }}")
    _check(write_graph, text, "E403", "Help the caller", message="'__class__' is not allowed")


def test_tool_templates_are_checked_against_the_tool_arguments(write_graph):
    text = MINI.replace("{{ args.text }}", "{{ args.txt }}")
    _check(write_graph, text, "E402", '"You said', message="did you mean 'text'?")
    nested = MINI.replace('returns: "You said {{ args.text }}"', 'returns: {said: ["{{ args.text }}", "{{ nope }}"]}')
    _check(write_graph, nested, "E402", '"{{ nope }}"', message="'nope'")


def test_a_template_that_fails_when_rendered_is_located(write_graph):
    text = MINI.replace("You greet callers for {{ company }}.", "You greet callers.\n      {{ company.upper().nope }}")
    _check(write_graph, text, "E404", "{{ company.upper", message="has no attribute 'nope'")


def test_callables_that_exit_print_or_take_the_wrong_arguments(write_graph, tmp_path: Path, capsys):
    text = MINI.replace("mini_tools:lookup", "exiting:f") + "guardrails:\n  g: {run: 'mini_tools:check'}\n"
    (tmp_path / "exiting.py").write_text("print('loaded')\nraise SystemExit(3)\n")
    path = write_graph(text)
    (tmp_path / "mini_tools.py").write_text("print('hello')\ndef check(text):\n    return None\n")
    assert main(["validate", "--format", "json", str(path)]) == 1
    findings = json.loads(capsys.readouterr().out)  # nothing the modules print reaches stdout
    assert [(f["code"], f["line"]) for f in findings] == [
        ("E306", _line_col(text, "exiting:f")[0]),
        ("E307", _line_col(text, "'mini_tools:check'")[0]),
    ]
    assert "SystemExit" in findings[0]["message"] and "(text, context)" in findings[1]["message"]


def test_tool_choice_must_name_an_offered_tool(write_graph):
    text = MINI.replace("context:", "session: {tool_choice: {type: function, name: lookup}}\ncontext:")
    hit = _check(write_graph, text, "E302", "lookup}}", message="'helper' does not offer")
    assert "greeter" not in hit.message


def test_extra_is_checked_against_the_realtime_types(write_graph):
    text = MINI.replace(
        "    tools: [echo]\n", "    tools: [echo]\n    session: {extra: {audio: {output: {speed: fast}}}}\n"
    )
    _check(write_graph, text, "E704", "extra", message="session.audio.output.speed")


# --- JSON Schemas ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schema", "needle", "message"),
    [
        ("{type: objekt}", "objekt", "did you mean 'object'?"),
        ("{type: object, properties: {q: {type: [string, nul]}}}", "nul]", "did you mean 'null'?"),
        ("{type: object, properties: {q: {$ref: '#/$defs/q'}}}", "'#/$defs/q'", "resolves to nothing"),
        ("{type: object, properties: {q: {$ref: 'https://x/q.json'}}}", "'https://", "outside the schema"),
        ("{type: object, propertes: {q: {type: string}}}", "propertes", "did you mean 'properties'?"),
        ("{type: object, properties: {q: {type: string, maxLenght: 3}}}", "maxLenght", "did you mean 'maxLength'?"),
        ("{type: object, properties: {q: {type: string, pattern: '('}}}", "'('", "not a valid regular expression"),
    ],
)
def test_json_schema_mistakes(write_graph, schema: str, needle: str, message: str):
    text = MINI.replace(
        "parameters: {type: object, properties: {text: {type: string}}, required: [text]}",
        f"parameters: {schema}",
    ).replace("{{ args.text }}", "")
    _check(write_graph, text, "E501", needle, message=message)


def test_json_schema_keywords_and_property_names_are_told_apart(write_graph):
    schema = "{type: object, $defs: {t: {type: string}}, properties: {propertes: {$ref: '#/$defs/t'}}}"
    text = MINI.replace("{type: object, properties: {text: {type: string}}, required: [text]}", schema)
    assert validate_file(write_graph(text.replace("{{ args.text }}", "{{ args.propertes }}"))).findings == []


# --- tests files, command line, speed -----------------------------------------------------------


def test_a_tests_file_without_its_graph_says_so_in_the_tests_file(tmp_path: Path):
    path = tmp_path / "lonely.tests.yaml"
    path.write_text("tests:\n  - name: x\n    turns: [{user: hi}]\n")
    [finding] = validate_file(path).findings
    assert finding.code == "E105" and finding.file.endswith("lonely.tests.yaml") and "lonely.yaml" in finding.message


def test_a_tests_file_names_only_what_exists(write_graph, tmp_path: Path):
    write_graph(MINI, name="mini.yaml")
    text = """\
tests:
  - name: x
    agent: helper
    state: asking
    turns:
      - user: hi
        model: [{transition: "handoff:helpr"}]
        expect: {refused: "handoff:gretter", tools: [{name: echo, calls: [lookp]}]}
"""
    path = tmp_path / "mini.tests.yaml"
    path.write_text(text)
    found = [(f.code, f.line, f.message) for f in validate_file(path).findings]
    assert found == [
        ("E303", 4, "agent 'helper' has no enforced state machine to start in state 'asking'"),
        ("E301", 7, "unknown agent 'helpr' (did you mean 'helper'?)"),
        ("E301", 8, "unknown agent 'gretter' (did you mean 'greeter'?)"),
        ("E302", 8, "unknown tool 'lookp' (did you mean 'lookup'?)"),
    ]


def test_github_annotations_escape_their_properties():
    line = Finding("E101", "50% done\nnext", "a,b:c.yaml", 3, 4).github()
    assert line == "::error file=a%2Cb%3Ac.yaml,line=3,col=4,title=E101::50%25 done%0Anext"


def test_validate_imports_neither_networkx_nor_openai():
    """The speed budget (design §8) rests on this: validation never loads the drawing or API stacks."""
    code = (
        "import sys\nfrom engine.cli import main\n"
        f"assert main(['validate', {str(BUNDLED[-1])!r}]) == 0\n"
        "print(sorted(m for m in ('networkx', 'openai') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_deep_nesting_inside_templates_and_schemas_is_a_finding(write_graph):
    deep_template = "{{ " + "(" * 500 + "1" + ")" * 500 + " }}"
    text = MINI.replace("Help the caller of {{ context.company }}.", f'"{deep_template}"')
    _check(write_graph, text, "E401", f'"{deep_template[:5]}', message="nests too deeply")
    schema = "{type: string}"
    for _ in range(120):
        schema = "{type: object, properties: {a: " + schema + "}}"
    text = MINI.replace("{type: object, properties: {text: {type: string}}, required: [text]}", schema)
    _check(write_graph, text.replace("{{ args.text }}", ""), "E501", schema[:12], message="nests too deeply")


@pytest.mark.parametrize(
    "setting", ["max_output_tokens: yes", "audio: {output: {speed: true}}", "max_output_tokens: '5'"]
)
def test_numbers_are_not_booleans_or_strings(write_graph, setting: str):
    text = MINI.replace("context:", f"session: {{{setting}}}\ncontext:")
    [finding] = validate_file(write_graph(text)).findings
    assert finding.code == "E202" and ("integer" in finding.message or "number" in finding.message)


def test_every_code_is_in_the_readme_table():
    table = [line for line in (ROOT / "README.md").read_text().splitlines() if line.startswith("| ")]
    documented = set(re.findall(r"\b[EW]\d{3}\b", "\n".join(table)))
    assert documented == set(CODES), (sorted(set(CODES) - documented), sorted(documented - set(CODES)))
