"""Scripts (demo, tests, tests files) are played against the graph at validate time, and other authoring slips."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.spec import SpecError
from engine.testing.collect import collect
from engine.validate import validate_file

CLINIC = """\
graph: clinic
start: front
context: {verified: false}
agents:
  front:
    instructions: Greet the caller.
    tools: [lookup]
    handoffs: [reception, billing]
    states:
      enforce: true
      initial: hello
      steps:
        hello:
          tools: [lookup]
          transitions:
            - {to: ask, when: greeted}
            - {to: "handoff:reception", when: the caller wants reception}
        ask:
          transitions: [{to: hello, when: again}]
  reception:
    instructions: Help the caller.
    tools: [decide, verify]
    handoffs: [front]
  billing:
    instructions: Bill the caller.
    handoffs: [front]
tools:
  lookup:
    description: Look up.
    parameters: {type: object, properties: {q: {type: string}}}
    returns: found
  verify:
    description: Verify.
    returns: verified
    sets: {verified: true}
  decide:
    description: Decide.
    escalate:
      model: gpt-5.5
      instructions: Decide.
      tools: [lookup]
      output: {type: object, properties: {ok: {type: boolean}}, required: [ok]}
guardrails:
  moderation: {classify: {model: gpt-5.4-mini, categories: {OFFENSIVE: rude things}}}
"""


def _test(turns: str, **keys: str) -> str:
    head = "".join(f"    {k}: {v}\n" for k, v in keys.items())
    return f"tests:\n  - name: one\n{head}    turns:\n{turns}"


def _validate(tmp_path: Path, text: str) -> list[tuple[str, int, int, str]]:
    path = tmp_path / "clinic.yaml"
    path.write_text(text)
    return [(f.code, f.line, f.col, f.message) for f in validate_file(path).findings]


def _at(text: str, needle: str) -> tuple[int, int]:
    index = text.index(needle)
    return text.count("\n", 0, index) + 1, index - (text.rfind("\n", 0, index) + 1) + 1


def test_the_clinic_is_clean(tmp_path: Path):
    turns = (
        "      - user: reception please\n"
        "        model: [{say: Sure.}, {transition: 'handoff:reception'}, {call: verify}]\n"
        "        expect: {agent: reception, context: {verified: true}}\n"
    )
    assert _validate(tmp_path, CLINIC + _test(turns)) == []


def test_a_plain_handoff_in_an_enforced_state_says_to_write_a_transition(tmp_path: Path):
    turns = "      - user: reception please\n        model: [{say: Sure.}, {handoff: reception}]\n"
    text = CLINIC + _test(turns)
    [(code, line, col, message)] = _validate(tmp_path, text)
    assert (code, (line, col)) == ("E308", _at(text, "reception}]"))
    assert message == (
        "agent 'front' in state 'hello' hands off to 'reception' through its state machine, which offers no "
        "`transfer_to_reception`: write `transition: handoff:reception` instead of `handoff: reception`"
    )


def test_a_routed_handoff_from_a_state_without_it_names_the_states_that_have_it(tmp_path: Path):
    turns = "      - user: reception please\n        model: [{transition: ask}, {transition: 'handoff:reception'}]\n"
    text = CLINIC + _test(turns)
    [(code, line, col, message)] = _validate(tmp_path, text)
    assert (code, (line, col)) == ("E308", _at(text, "'handoff:reception'"))
    assert "agent 'front' in state 'ask' has no transition to 'handoff:reception'" in message
    assert "allowed: hello" in message and "refused: handoff:reception" in message


def test_an_expected_refusal_is_not_a_mistake(tmp_path: Path):
    turns = (
        "      - user: reception please\n        model: [{transition: ask}, {transition: 'handoff:reception'}]\n"
        "        expect: {refused: 'handoff:reception', state: ask}\n"
    )
    assert _validate(tmp_path, CLINIC + _test(turns)) == []


def test_the_walk_follows_states_handoffs_and_the_starting_point(tmp_path: Path):
    turns = "      - user: hi\n        model: [{handoff: front}, {call: lookup}, {transition: ask}, {call: lookup}]\n"
    text = CLINIC + _test(turns, agent="billing")
    [(code, line, col, message)] = _validate(tmp_path, text)
    assert (code, (line, col)) == ("E308", _at(text, "lookup}]"))
    assert message.startswith("agent 'front' in state 'ask' is not offered tool 'lookup' (offered: none)")
    assert "add it to state 'ask''s tools" in message


def test_a_tool_the_agent_lacks_and_a_handoff_it_lacks(tmp_path: Path):
    text = CLINIC + _test("      - user: hi\n        model: [{call: lookup}]\n", agent="billing")
    [(code, _, _, message)] = _validate(tmp_path, text)
    assert code == "E308" and "agent 'billing' is not offered tool 'lookup'" in message
    text = CLINIC + _test("      - user: hi\n        model: [{handoff: billing}]\n", agent="reception")
    [(code, _, _, message)] = _validate(tmp_path, text)
    assert code == "E308" and "agent 'reception' has no handoff to 'billing' (its handoffs: front)" in message
    text = CLINIC + _test("      - user: hi\n        model: [{transition: 'handoff:front'}]\n", agent="reception")
    [(code, _, _, message)] = _validate(tmp_path, text)
    assert code == "E308" and "no enforced state machine" in message and "write `handoff: front`" in message


def test_escalation_answers_are_checked_against_the_output_schema(tmp_path: Path):
    turns = (
        "      - user: decide\n"
        "        model:\n"
        "          - call: decide\n"
        "            supervisor: [{call: verify}, {answer: {ok: maybe}}]\n"
    )
    text = CLINIC + _test(turns, agent="reception")
    found = _validate(tmp_path, text)
    assert [(c, (line, col)) for c, line, col, _ in found] == [
        ("E308", _at(text, "verify}, {")),
        ("E503", _at(text, "{ok: maybe}")),
    ]
    assert "escalation 'decide' cannot call tool 'verify' (its tools: lookup)" in found[0][3]
    assert "does not match the output schema of escalation 'decide': 'maybe' is not of type 'boolean'" in found[1][3]


def test_guardrail_categories_and_flags_must_exist(tmp_path: Path):
    turns = (
        "      - user: hi\n        model: [{say: rude, flag: OFENSIVE}]\n"
        "        expect: {guardrail: 'moderation:OFENSIVE'}\n"
    )
    text = CLINIC + _test(turns)
    found = _validate(tmp_path, text)
    assert [(c, (line, col)) for c, line, col, _ in found] == [
        ("E309", _at(text, "OFENSIVE}]")),
        ("E309", _at(text, "'moderation:OFENSIVE'")),
    ]
    assert found[0][3] == "no classifier guardrail has the category 'OFENSIVE' (did you mean 'OFFENSIVE'?)"
    assert found[1][3] == (
        "guardrail 'moderation' has no category 'OFENSIVE' (did you mean 'OFFENSIVE'?) (its categories: OFFENSIVE)"
    )


def test_expected_context_keys_must_be_defined_or_set(tmp_path: Path):
    turns = "      - user: hi\n        model: [{say: hi}]\n        expect: {context: {verifed: true, note: x}}\n"
    text = CLINIC + _test(turns, context="{note: y}")
    [(code, line, col, message)] = _validate(tmp_path, text)
    assert (code, (line, col)) == ("E310", _at(text, "verifed"))
    assert message.startswith("context key 'verifed' (did you mean 'verified'?) is never defined or set")


def test_keys_python_tools_assign_count_as_set(tmp_path: Path):
    (tmp_path / "clinic_tools.py").write_text(
        "def book(*, context):\n    context['slot'] = 'nine'\n    return 'booked'\n"
    )
    text = CLINIC.replace("  verify:\n", "  book:\n    run: clinic_tools:book\n  verify:\n").replace(
        "tools: [decide, verify]", "tools: [decide, verify, book]"
    )
    turns = "      - user: hi\n        model: [{call: book}]\n        expect: {context: {slot: nine}}\n"
    assert _validate(tmp_path, text + _test(turns, agent="reception")) == []
    turns = turns.replace("slot:", "slots:")
    [(code, _, _, message)] = _validate(tmp_path, text + _test(turns, agent="reception"))
    assert code == "E310" and "(did you mean 'slot'?)" in message


def test_a_tool_setting_a_misspelled_context_key(tmp_path: Path):
    text = CLINIC.replace("sets: {verified: true}", "sets: {verifed: true}")
    [(code, line, col, message)] = _validate(tmp_path, text)
    assert (code, (line, col)) == ("E310", _at(text, "verifed"))
    assert "tool 'verify' sets context key 'verifed'" in message and "(did you mean 'verified'?)" in message


def test_duplicate_test_names(tmp_path: Path):
    one = "  - name: same\n    turns: [{user: hi}]\n"
    text = CLINIC + "tests:\n" + one + one
    [(code, line, _, message)] = _validate(tmp_path, text)
    assert (code, line) == ("E311", text.count("\n") - 1) and "a test named 'same' already exists (" in message
    assert f"clinic.yaml:{line - 2})" in message


def test_a_tests_file_repeating_a_name_of_the_graph(tmp_path: Path):
    (tmp_path / "clinic.yaml").write_text(CLINIC + "tests:\n  - name: same\n    turns: [{user: hi}]\n")
    tests = tmp_path / "clinic.tests.yaml"
    tests.write_text("tests:\n  - name: same\n    turns: [{user: hi}]\n")
    [finding] = validate_file(tests).findings
    assert (finding.code, finding.line) == ("E311", 2) and finding.file.endswith("clinic.tests.yaml")
    with pytest.raises(SpecError, match="E311"):
        collect(tests)  # `engine test` refuses it too


def test_a_tests_file_is_walked_like_inline_tests(tmp_path: Path):
    (tmp_path / "clinic.yaml").write_text(CLINIC)
    tests = tmp_path / "clinic.tests.yaml"
    tests.write_text("tests:\n  - name: x\n    turns:\n      - user: hi\n        model: [{handoff: reception}]\n")
    [finding] = validate_file(tests).findings
    assert (finding.code, finding.line) == ("E308", 5) and "write `transition: handoff:reception`" in finding.message


def test_an_agent_without_instructions_is_a_warning(tmp_path: Path):
    text = CLINIC.replace("    instructions: Bill the caller.\n", "")
    [(code, line, col, message)] = _validate(tmp_path, text)
    assert (code, (line, col)) == ("W312", _at(text, "billing:\n"))
    assert message == "agent 'billing' has no instructions (`instructions:` or `instructions_file:`)"


def test_guards_may_test_keys_python_tools_assign(tmp_path: Path):
    (tmp_path / "clinic_tools.py").write_text("def book(*, context):\n    context['slot'] = 'nine'\n    return 'ok'\n")
    text = CLINIC.replace("  verify:\n", "  book:\n    run: clinic_tools:book\n  verify:\n").replace(
        "tools: [decide, verify]", "tools: [decide, verify, book]"
    )
    text = text.replace("{to: ask, when: greeted}", "{to: ask, when: greeted, guard: context.slot}")
    assert _validate(tmp_path, text) == []
    [(code, _, _, message)] = _validate(tmp_path, text.replace("context.slot", "context.slott"))
    assert code == "E402" and "(did you mean 'slot'?)" in message
