"""Escalations against the simulator's Responses API: tool rounds, structured answers, failures."""

from __future__ import annotations

import json

import pytest

from engine.sim import Simulator
from engine.spec import load_document
from engine.spec.script import SupervisorAnswer, SupervisorCall
from engine.tools import ResponsesClient, Toolbox, ToolContext

API_KEY = "sk-test-secret-0123456789abcdef"

GRAPH = """\
graph: esc
start: main
context: {company: Acme}
agents:
  main: {instructions: x, tools: [check_eligibility, advise, loop, rounds, lookup_docs]}
tools:
  check_eligibility:
    parameters:
      type: object
      properties: {order_id: {type: string}}
      required: [order_id]
      additionalProperties: false
    escalate:
      model: o4-mini
      instructions: "Decide returns for {{ company }}; order {{ args.order_id }}."
      history: {last: 2}
      tools: [get_policy, docs]
      output:
        type: object
        properties: {eligible: {type: boolean}, rationale: {type: string}}
        required: [eligible, rationale]
        additionalProperties: false
  advise:
    escalate:
      model: gpt-4.1
      instructions_file: advise.md.j2
  loop:
    escalate: {model: gpt-4.1, tools: [loop]}
  rounds:
    escalate: {model: gpt-4.1, tools: [get_policy], max_tool_rounds: 1}
  lookup_docs:
    escalate: {model: gpt-4.1, output: {type: object, properties: {answer: {type: string}}}}
  get_policy:
    parameters: {type: object, properties: {topic: {type: string}}, required: [topic]}
    run: policy:get_policy
    sets: {policy_checked: true}
  docs:
    mcp: {label: docs, url: "https://docs.example.com/mcp", allowed_tools: [search]}
"""

POLICY = "def get_policy(topic):\n    return {'topic': topic, 'days': 30}\n"

HISTORY = [
    {"type": "message", "role": "user", "text": "Hi"},
    {"type": "message", "role": "assistant", "text": "Hello, how can I help?"},
    {"type": "function_call", "name": "x", "arguments": "{}", "call_id": "c0", "output": "{}"},
    {"type": "message", "role": "user", "text": "I want to return order A1."},
]


@pytest.fixture
async def sim():
    async with Simulator() as simulator:
        yield simulator


@pytest.fixture
def box(write_graph):
    path = write_graph(GRAPH, **{"policy.py": POLICY, "advise.md.j2": "Advise callers of {{ context.company }}.\n"})
    return Toolbox(load_document(path))


@pytest.fixture
async def client(sim):
    responses = ResponsesClient(api_key=API_KEY, base_url=sim.http_base)
    yield responses
    await responses.aclose()


def queue(sim: Simulator, tool: str, *steps) -> None:
    # The realtime side of the simulator queues these when its script plays a `call` with `supervisor:`.
    sim._responses.queue(tool, list(steps))


async def test_a_tool_round_then_a_structured_answer(sim, box, client):
    queue(
        sim,
        "check_eligibility",
        SupervisorCall(call="get_policy", args={"topic": "returns"}),
        SupervisorAnswer(answer={"eligible": True, "rationale": "within 30 days"}),
    )
    ctx = ToolContext(context={"company": "Acme"}, history=HISTORY, responses=client, agent="main")
    outcome = await box.execute("check_eligibility", '{"order_id": "A1"}', ctx)

    assert outcome.ok, outcome.output
    assert json.loads(outcome.output) == {"eligible": True, "rationale": "within 30 days"}
    assert ctx.context["policy_checked"] is True and outcome.context_updates == {"policy_checked": True}
    call, answer = outcome.steps
    assert call["type"] == "function_call" and call["name"] == "get_policy" and call["ok"] is True
    assert json.loads(call["arguments"]) == {"topic": "returns"}
    assert json.loads(call["output"]) == {"topic": "returns", "days": 30}
    assert answer == {"type": "answer", "text": json.dumps({"eligible": True, "rationale": "within 30 days"})}

    first, second = sim.responses_requests
    assert first["model"] == "o4-mini"
    assert first["metadata"] == {"engine_kind": "escalation", "tool": "check_eligibility"}
    assert first["instructions"] == "Decide returns for Acme; order A1."
    assert first["input"][:2] == [
        {"role": "assistant", "content": "Hello, how can I help?"},
        {"role": "user", "content": "I want to return order A1."},
    ]
    request = first["input"][2]
    assert request["role"] == "user" and "check_eligibility" in request["content"]
    assert '{"order_id": "A1"}' in request["content"]
    assert len(first["input"]) == 3
    function_tool, mcp_tool = first["tools"]
    assert function_tool["type"] == "function" and function_tool["name"] == "get_policy"
    assert function_tool["strict"] is False and function_tool["parameters"]["required"] == ["topic"]
    assert mcp_tool["type"] == "mcp" and mcp_tool["server_label"] == "docs" and mcp_tool["allowed_tools"] == ["search"]
    fmt = first["text"]["format"]
    assert fmt["type"] == "json_schema" and fmt["name"] == "check_eligibility_result" and fmt["strict"] is True
    assert fmt["schema"]["required"] == ["eligible", "rationale"]

    assert "previous_response_id" not in second
    assert second["input"][:3] == first["input"]
    call_item, output_item = second["input"][3:]
    assert call_item["type"] == "function_call" and call_item["name"] == "get_policy"
    assert output_item == {"type": "function_call_output", "call_id": call_item["call_id"], "output": call["output"]}


async def test_text_answer_with_instructions_from_a_file(sim, box, client):
    queue(sim, "advise", SupervisorAnswer(answer="Offer store credit."))
    ctx = ToolContext(context={"company": "Acme"}, history=[], responses=client, agent="main")
    outcome = await box.execute("advise", "{}", ctx)
    assert outcome.ok and json.loads(outcome.output) == "Offer store credit."
    body = sim.responses_requests[-1]
    assert body["instructions"] == "Advise callers of Acme.\n"
    assert "tools" not in body and "text" not in body


async def test_non_strict_output_schema_is_sent_non_strict(sim, box, client):
    queue(sim, "lookup_docs", SupervisorAnswer(answer={"answer": "42"}))
    ctx = ToolContext(context={}, responses=client)
    outcome = await box.execute("lookup_docs", "{}", ctx)
    assert outcome.ok and json.loads(outcome.output) == {"answer": "42"}
    assert sim.responses_requests[-1]["text"]["format"]["strict"] is False


async def test_an_escalation_cannot_reach_itself(sim, box, client):
    queue(sim, "loop", SupervisorCall(call="loop"), SupervisorAnswer(answer="done"))
    outcome = await box.execute("loop", "{}", ToolContext(context={}, responses=client))
    assert outcome.ok
    (step, _) = outcome.steps
    assert step["ok"] is False and "cannot call itself" in json.loads(step["output"])["error"]
    assert len(sim.responses_requests) == 2


async def test_max_tool_rounds(sim, box, client):
    queue(
        sim,
        "rounds",
        SupervisorCall(call="get_policy", args={"topic": "a"}),
        SupervisorCall(call="get_policy", args={"topic": "b"}),
    )
    outcome = await box.execute("rounds", "{}", ToolContext(context={}, responses=client))
    assert not outcome.ok
    assert "still calling tools after 1 rounds" in json.loads(outcome.output)["error"]
    assert len(outcome.steps) == 1  # the steps done before the failure are kept


async def test_api_errors_become_error_outcomes_without_the_key(sim, box, client):
    # Nothing is queued: the simulator answers HTTP 400, as the API does for a request it refuses.
    outcome = await box.execute("advise", "{}", ToolContext(context={"company": "Acme"}, responses=client))
    assert not outcome.ok
    message = json.loads(outcome.output)["error"]
    assert "could not be reached: BadRequestError" in message
    assert API_KEY not in outcome.output and API_KEY not in (outcome.error or "")


async def test_without_a_responses_client(box):
    outcome = await box.execute("advise", "{}", ToolContext(context={"company": "Acme"}))
    assert not outcome.ok and "Responses API" in json.loads(outcome.output)["error"]


def test_scrub_removes_the_key_and_key_shaped_text():
    client = ResponsesClient(api_key=API_KEY, headers={"api-key": "azure-secret-value"})
    text = f"bad key {API_KEY}, header azure-secret-value, other sk-live-ABCDEF123456"
    scrubbed = client.scrub(text)
    assert API_KEY not in scrubbed and "azure-secret-value" not in scrubbed and "ABCDEF123456" not in scrubbed
    assert API_KEY not in repr(client)
