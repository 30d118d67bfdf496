"""Conversation test expectations, offline and live, run against the simulator on loopback.

Every kind of expectation passes when it holds, and when it does not the failure says what was
expected and what happened instead.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from engine.sim import Simulator
from engine.spec.script import ConversationTest, Expect, Say, Script
from engine.testing import Coverage, Suite, collect, run_test
from engine.testing.report import describe

#: A small graph with one of everything a test can expect: an enforced state machine with guarded
#: moves (a handoff among them), a tool that sets context, one that needs approval, a background
#: tool, an escalation whose supervisor calls a tool, and a keyword guardrail.
DESK = """\
graph: desk
start: front
context: {company: Acme, verified: false}
agents:
  front:
    description: Verifies the caller.
    instructions: You answer the phone for {{ company }}.
    tools: [verify]
    handoffs: [back]
    states:
      enforce: true
      initial: ask
      steps:
        ask:
          instructions: [Ask for the code and verify it.]
          tools: [verify]
          transitions:
            - {to: route, when: the code is verified, guard: context.verified}
            - {to: "handoff:back", when: the caller insists, guard: context.verified}
        route:
          transitions:
            - {to: "handoff:back", when: the caller needs the back office}
  back:
    description: The back office.
    instructions: Help the caller.
    tools: [charge, decide, note]
    handoffs: [front]
tools:
  verify:
    description: Check the caller's code.
    parameters: {type: object, properties: {code: {type: string}}, required: [code], additionalProperties: false}
    returns: {verified: true, code: "{{ args.code }}"}
    sets: {verified: true}
  charge:
    description: Charge the caller.
    parameters: {type: object, properties: {amount: {type: number}}, required: [amount], additionalProperties: false}
    returns: "Charged {{ args.amount }} dollars."
    needs_approval: true
  note:
    description: Write a note.
    parameters: {type: object, properties: {text: {type: string}}, required: [text]}
    returns: noted
    background: true
  lookup:
    description: Look up the account.
    parameters: {type: object, properties: {}}
    returns: {balance: 42}
  decide:
    description: Ask the supervisor.
    parameters: {type: object, properties: {question: {type: string}}, required: [question]}
    escalate:
      model: gpt-5.5
      instructions: Decide.
      tools: [lookup]
      output:
        type: object
        properties: {ok: {type: string}, why: {type: string}}
        required: [ok, why]
        additionalProperties: false
guardrails:
  brand: {keywords: [MegaCorp], category: OFF_BRAND}
"""

#: One test meeting every kind of expectation.
EVERYTHING = """\
tests:
  - name: everything
    turns:
      - user: I need the back office.
        model:
          - transition: "handoff:back"
          - say: I need your code first.
        expect: {agent: front, state: ask, refused: "handoff:back", says: code first, tools: []}
      - user: It's 1234.
        model:
          - call: verify
            args: {code: "1234"}
          - transition: route
          - transition: "handoff:back"
          - say: Back office here. MegaCorp is great.
        expect:
          agent: back
          context: {verified: true, company: Acme}
          tools: [{name: verify, args: {code: "1234"}, output: {verified: true}, ok: true}]
          guardrail: "brand:OFF_BRAND"
      - model:
          - say: Sorry. How can I help?
      - user: Charge me 5 dollars, and is that ok?
        model:
          - call: charge
            args: {amount: 5}
          - call: decide
            args: {question: Is a 5 dollar charge ok?}
            supervisor:
              - call: lookup
              - answer: {ok: "yes", why: the balance is 42}
          - say: Done, and the supervisor agrees.
        expect:
          approval: charge
          tools:
            - {name: charge, output: Charged 5}
            - {name: decide, calls: [{name: lookup, output: {balance: 42}, ok: true}]}
          verdict: {ok: "yes", why: balance}
          says: supervisor agrees
"""


@pytest.fixture
def desk(tmp_path: Path) -> Path:
    path = tmp_path / "desk.yaml"
    path.write_text(DESK)
    return path


def _suite(graph: Path, tests: str) -> Suite:
    graph.with_name("desk.tests.yaml").write_text(textwrap.dedent(tests))
    return collect(graph)


def _report(result: Any) -> str:
    return "\n".join([*result.errors, *describe(result, indent="")])


def _with_expect(test: ConversationTest, turn: int, expect: dict[str, Any]) -> ConversationTest:
    turns = list(test.turns)
    turns[turn - 1] = turns[turn - 1].model_copy(update={"expect": Expect.model_validate(expect)})
    return test.model_copy(update={"turns": turns})


async def test_every_kind_of_expectation_passes_when_it_holds(desk: Path):
    suite = _suite(desk, EVERYTHING)
    [(test, _)] = suite.tests

    result = await run_test(suite.graph, test)

    assert result.passed, _report(result)
    assert [turn.agent for turn in result.turns] == ["front", "back", "back", "back"]
    assert describe(result, indent="") == []  # a passing offline test has nothing to explain


WRONG = [
    (2, {"agent": "front"}, 'agent: expected "front", got "back"'),
    (1, {"state": "route"}, 'state: expected "route", got "ask"'),
    (2, {"state": "ask"}, "state: expected \"ask\", got none (agent 'back' has no enforced states)"),
    (2, {"context": {"verified": False}}, "context.verified: expected false, got true"),
    (2, {"context": {"company": "Ac"}}, 'context.company: expected "Ac", got "Acme"'),
    (2, {"context": {"code": "1234"}}, "context.code: expected \"1234\", but there is no 'code'"),
    (
        2,
        {"tools": [{"name": "verify", "args": {"code": "9999"}}]},
        'verify args.code: expected text containing "9999", got "1234"',
    ),
    (
        2,
        {"tools": [{"name": "verify", "output": {"verified": False}}]},
        "verify output.verified: expected false, got true",
    ),
    (
        2,
        {"tools": [{"name": "verify", "ok": False}]},
        'verify: expected it to fail, but it succeeded: {"verified": true, "code": "1234"}',
    ),
    (1, {"tools": ["verify"]}, "tools: expected a call to verify, got no tool calls"),
    (4, {"tools": ["decide", "charge"]}, "tools: expected a call to charge after decide, got charge, decide"),
    (4, {"tools": []}, "tools: expected none, got charge, decide"),
    (4, {"tools": [{"name": "decide", "calls": []}]}, "decide calls: expected none, got lookup"),
    (4, {"tools": [{"name": "decide", "calls": ["charge"]}]}, "decide calls: expected a call to charge, got lookup"),
    (
        4,
        {"tools": [{"name": "decide", "calls": [{"name": "lookup", "output": {"balance": 7}}]}]},
        "lookup output.balance: expected 7, got 42",
    ),
    (1, {"guardrail": "brand"}, "guardrail: expected brand to trip, but none tripped"),
    (2, {"guardrail": "brand:VIOLENCE"}, "guardrail: expected brand:VIOLENCE to trip, got brand:OFF_BRAND"),
    (2, {"approval": "charge"}, 'approval: expected a request to approve "charge", but none was requested'),
    (4, {"verdict": {"ok": "no"}}, 'verdict.ok: expected text containing "no", got "yes"'),
    (2, {"verdict": "yes"}, 'verdict: expected "yes", but no escalation ran (verify)'),
    (2, {"refused": "route"}, 'refused: expected the move to "route" to be refused, but it was allowed'),
    (4, {"refused": "route"}, 'refused: expected the move to "route" to be refused, but the model never asked for it'),
    (1, {"says": "welcome"}, 'says: expected the assistant to say "welcome", it said "I need your code first."'),
]


@pytest.mark.parametrize(
    ("turn", "expect", "message"), WRONG, ids=[m.split(":")[0] + f" (turn {t})" for t, _, m in WRONG]
)
async def test_an_unmet_expectation_fails_with_expected_and_actual(desk: Path, turn: int, expect: dict, message: str):
    suite = _suite(desk, EVERYTHING)
    broken = _with_expect(suite.tests[0][0], turn, expect)

    result = await run_test(suite.graph, broken)

    assert [str(failure) for failure in result.failures] == [f"turn {turn}: {message}"]
    report = describe(result, indent="")
    assert report[0].startswith(f"turn {turn}, ") and report[1] == f"  {message}"
    assert report[2].startswith("  what happened: ")


async def test_the_report_tells_the_turn_story(desk: Path):
    suite = _suite(desk, EVERYTHING)
    broken = _with_expect(suite.tests[0][0], 2, {"agent": "front"})

    result = await run_test(suite.graph, broken)

    story = describe(result, indent="")[2]
    assert story == (
        '  what happened: verify({"code":"1234"}) → ok: {"verified": true, "code": "1234"}; state ask → route; '
        'handoff front → back; said "Back office here. MegaCorp is great."; guardrail brand tripped (OFF_BRAND); '
        'said "Sorry. How can I help?"'
    )


async def test_approval_denied_is_requested_and_the_tool_fails(desk: Path):
    suite = _suite(
        desk,
        """\
        tests:
          - name: denied
            agent: back
            approve: deny
            turns:
              - user: Charge me 5 dollars.
                model:
                  - call: charge
                    args: {amount: 5}
                  - say: That charge was not approved.
                expect:
                  approval: charge
                  tools: [{name: charge, ok: false, output: did not approve}]
        """,
    )
    result = await run_test(suite.graph, suite.tests[0][0])
    assert result.passed, _report(result)


async def test_script_actions_the_engine_never_asked_for_fail_the_turn(desk: Path):
    # A background tool's output asks for no response, so the scripted reply after it never plays.
    suite = _suite(
        desk,
        """\
        tests:
          - name: background note
            agent: back
            turns:
              - user: Note that I called.
                model:
                  - call: note
                    args: {text: called}
                  - say: Noted.
                expect: {tools: [note]}
        """,
    )
    result = await run_test(suite.graph, suite.tests[0][0])

    assert [str(f) for f in result.failures] == [
        'turn 1: model: the script\'s say "Noted." never played: the engine did not ask for another response'
    ]


async def test_a_script_the_model_could_not_play_fails_once_not_twice(desk: Path):
    # In state `ask` the session offers `verify` and the transition tool only.
    test = ConversationTest.model_validate(
        {"name": "unoffered", "turns": [{"user": "Charge me.", "model": [{"call": "charge", "args": {"amount": 1}}]}]}
    )
    result = await run_test(collect(desk).graph, test)

    [failure] = result.failures
    assert failure.message.startswith("the simulator could not play the script: The script calls tool 'charge'")
    assert "server error" not in result.turns[0].story()


async def test_a_test_that_cannot_start_is_an_error_not_a_crash(desk: Path):
    test = ConversationTest.model_validate(
        {"name": "bad start", "agent": "back", "state": "ask", "turns": [{"user": "Hi.", "model": [{"say": "Hello."}]}]}
    )
    result = await run_test(collect(desk).graph, test)

    assert not result.passed and not result.failures
    assert result.errors == ["CompileError: agent 'back' has no enforced states; cannot compile state 'ask'"]


async def test_coverage_names_the_yaml_line_of_what_no_test_exercised(desk: Path):
    suite = _suite(desk, EVERYTHING)
    coverage = Coverage.of(suite.graph)
    for test, _ in suite.tests:
        result = await run_test(suite.graph, test)
        coverage.record_run(test, result.turns)

    lines = DESK.splitlines()

    def at(text: str, column_of: str) -> str:
        number = next(i for i, line in enumerate(lines, 1) if text in line)
        return f"{suite.graph.file}:{number}:{lines[number - 1].index(column_of) + 1}"

    report = coverage.report().splitlines()
    assert report[1:] == [
        "  agents       2/2  100%",
        "  handoffs     1/2  50%",
        "  states       2/2  100%",
        "  transitions  2/3  66%",
        "  tools        4/5  80%",
        f"  {at('handoffs: [front]', 'front')}: not exercised: handoff back → front",
        f"  {at('the caller insists', '{to')}: not exercised: transition front/ask → handoff:back",
        f"  {at('  note:', 'note')}: not exercised: tool note",
    ]


# --- live: the script's model actions become expectations ------------------------------------------


async def test_live_run_reports_every_turn_and_passes_when_the_model_acts_as_scripted(desk: Path):
    suite = _suite(desk, EVERYTHING)
    [(test, _)] = suite.tests
    async with Simulator(test) as model:  # stands in for the real API, playing the same actions
        result = await run_test(suite.graph, test, live=True, url=model.url)

    assert result.passed, _report(result)
    report = describe(result, indent="")
    assert [line.split(":")[0] for line in report] == [f"turn {n} ok" for n in (1, 2, 3, 4)]
    assert "move to handoff:back refused" in report[0]


async def test_live_mismatches_name_the_action_the_model_did_not_take(desk: Path):
    suite = _suite(desk, EVERYTHING)
    [(test, _)] = suite.tests
    # The "real" model does the first turns as scripted, in its own words; then it skips the charge,
    # and its supervisor answers without looking anything up.
    played = [turn.model_copy(update={"expect": None}) for turn in test.turns[:3]]
    played[1] = played[1].model_copy(update={"model": [*played[1].model, Say(say="Hi, this is the back office.")]})
    decide = {"call": "decide", "args": {"question": "ok?"}, "supervisor": [{"answer": {"ok": "yes", "why": "fine"}}]}
    actual = Script.model_validate({"turns": [*played, {"user": test.turns[3].user, "model": [decide]}]})
    async with Simulator(actual) as model:
        result = await run_test(suite.graph, test, live=True, url=model.url)

    assert [str(f) for f in result.failures] == [
        "turn 4: model: expected a call to charge, got decide",
        "turn 4: model: expected the supervisor of decide to call lookup, it called no tools",
        "turn 4: tools: expected a call to charge, got decide",
        "turn 4: decide calls: expected a call to lookup, got no tool calls",
        'turn 4: approval: expected a request to approve "charge", but none was requested',
        'turn 4: verdict.why: expected text containing "balance", got "fine"',
    ]
    report = describe(result, indent="")
    assert [line.split(":")[0] for line in report[:3]] == ["turn 1 ok", "turn 2 ok", "turn 3 ok"]
    assert report[3] == f'turn 4, user "{test.turns[3].user}":'


async def test_live_a_call_without_a_required_argument_is_a_mismatch(desk: Path):
    suite = _suite(desk, EVERYTHING)
    test = suite.tests[0][0]
    test = test.model_copy(update={"turns": test.turns[1:2], "state": None})
    # Scripts are validated against tool schemas when loaded from YAML; this one plays a bad call.
    actual = Script.model_validate({"turns": [{"user": test.turns[0].user, "model": [{"call": "verify", "args": {}}]}]})
    async with Simulator(actual) as model:
        result = await run_test(suite.graph, test, live=True, url=model.url)

    failures = [str(f) for f in result.failures]
    assert failures[0] == "turn 1: model: verify was called without code ({})"
    assert 'turn 1: model: expected a move to "route", got no move' in failures
    assert 'turn 1: agent: expected "back", got "front"' in failures
