"""The bundled graphs' conversation suites (`graphs/*.tests.yaml`), run offline on the simulator."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import GRAPHS

from engine.runtime import Session, replay
from engine.sim import Simulator
from engine.spec import Document
from engine.spec.script import ConversationTest
from engine.testing import Coverage, collect, run_test
from engine.testing import TestResult as _Result  # aliased: pytest would try to collect a `Test*` name
from engine.testing.report import describe

SUITES = {name: collect(GRAPHS / f"{name}.yaml") for name in ("retail", "chat_supervisor", "simple_handoff")}
CASES = [(name, test, doc) for name, suite in SUITES.items() for test, doc in suite.tests]
GUARD_TEST = "guard refuses returns until the caller is verified"


def _retail(name: str) -> tuple[ConversationTest, Document]:
    return next((test, doc) for test, doc in SUITES["retail"].tests if test.name == name)


def _explain(result: _Result) -> str:
    return "\n".join([*result.errors, *describe(result)])


def test_every_bundled_graph_has_a_suite():
    assert all(suite.tests for suite in SUITES.values())
    assert all(doc.path.name.endswith(".tests.yaml") for _, _, doc in CASES)


@pytest.mark.parametrize(("graph", "test", "doc"), CASES, ids=[f"{g}: {t.name}" for g, t, _ in CASES])
async def test_bundled_conversation_passes(graph: str, test: ConversationTest, doc: Document):
    result = await run_test(doc, test)
    assert result.passed, _explain(result)
    assert len(result.turns) == len(test.turns)


async def test_retail_suite_covers_the_whole_graph():
    suite = SUITES["retail"]
    coverage = Coverage.of(suite.graph)
    for test, doc in suite.tests:
        result = await run_test(doc, test)
        assert result.passed, f"{test.name}: {_explain(result)}"
        coverage.record_run(test, result.turns)
    assert len(coverage.items["handoffs"]) == 12 and len(coverage.items["states"]) == 8
    for category in ("agents", "handoffs", "states", "transitions", "tools"):
        missing = sorted(set(coverage.items[category]) - coverage.hit[category])
        assert coverage.percent(category) == 100.0, f"{category} not exercised: {missing}"


async def test_a_wrong_expected_agent_fails_and_names_who_took_over():
    test, doc = _retail(GUARD_TEST)
    last = test.turns[-1]
    assert last.expect is not None and last.expect.agent == "returns"
    wrong = last.model_copy(update={"expect": last.expect.model_copy(update={"agent": "sales"})})
    broken = test.model_copy(update={"turns": [*test.turns[:-1], wrong]})

    result = await run_test(doc, broken)

    assert not result.passed
    [failure] = result.failures
    assert (failure.turn, failure.message) == (2, 'agent: expected "sales", got "returns"')
    report = "\n".join(describe(result))
    assert "turn 2, user \"It's (206) 135-1246" in report
    assert "what happened: " in report and "handoff authentication → returns" in report


def _outputs(received: list[dict[str, Any]]) -> list[tuple[int, str, str]]:
    """(index, call_id, output) of every function_call_output the client sent."""
    return [
        (i, e["item"]["call_id"], e["item"]["output"])
        for i, e in enumerate(received)
        if e["type"] == "conversation.item.create" and e["item"].get("type") == "function_call_output"
    ]


def _calls(sent: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [
        e["item"]
        for e in sent
        if e["type"] == "response.output_item.done" and e["item"].get("type") == "function_call"
        if e["item"]["name"] == name
    ]


async def test_guard_refusal_on_the_wire():
    test, doc = _retail(GUARD_TEST)
    async with Simulator(test) as sim:
        session = Session(doc, url=sim.url, api_key="sim-key", state=test.state, context=test.context, approval="auto")
        async with session:
            await replay(session, test, turn_timeout=30)
        assert session.agent == "returns" and session.context["authenticated"] is True
    assert not sim.script_errors and not sim.mismatches

    outputs = _outputs(sim.received)
    by_call = {call_id: (i, output) for i, call_id, output in outputs}
    refused_call, allowed_call = (c["call_id"] for c in _calls(sim.sent, "transition_state"))
    assert [json.loads(c["arguments"])["to"] for c in _calls(sim.sent, "transition_state")] == ["handoff:returns"] * 2
    refused_at, refusal = by_call[refused_call]
    assert "Cannot move to 'handoff:returns'" in refusal and "context.authenticated" in refusal
    [auth_call] = _calls(sim.sent, "authenticate_user_information")
    verified_at, verified = by_call[auth_call["call_id"]]
    assert json.loads(verified)["verified"] is True
    handed_at, handed = by_call[allowed_call]
    assert json.loads(handed) == {"assistant": "returns"}

    # The returns agent's session.update goes out only once the caller is verified, right before the handoff output.
    returns_updates = [
        i
        for i, e in enumerate(sim.received)
        if e["type"] == "session.update" and "returns specialist" in e["session"].get("instructions", "")
    ]
    assert returns_updates, "the handoff to returns never sent the returns agent's session"
    assert refused_at < verified_at < returns_updates[0] < handed_at
