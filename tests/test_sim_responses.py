"""The simulator's Responses API (`POST /v1/responses`) through the official openai client."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from openai import AsyncOpenAI
from openai.types.responses import Response

from engine.sim import Simulator, unknown_fields
from engine.spec.script import Script

ELIGIBILITY_SCHEMA = {
    "type": "object",
    "properties": {
        "eligible": {"type": "string", "enum": ["true", "false", "need_more_information"]},
        "rationale": {"type": "string"},
    },
    "required": ["eligible", "rationale"],
    "additionalProperties": False,
}
ELIGIBILITY_FORMAT = {
    "format": {"type": "json_schema", "name": "eligibility", "schema": ELIGIBILITY_SCHEMA, "strict": True}
}
POLICY_TOOL = {
    "type": "function",
    "name": "retrieve_policy",
    "description": "Look up the return policy.",
    "parameters": {"type": "object", "properties": {"region": {"type": "string"}}, "required": ["region"]},
    "strict": False,
}
ESCALATE = {"engine_kind": "escalation", "tool": "check_return_eligibility"}
CLASSIFY_SCHEMA = {
    "type": "object",
    "properties": {
        "category": {"type": "string", "enum": ["OFFENSIVE", "OFF_BRAND", "NONE"]},
        "rationale": {"type": "string"},
    },
    "required": ["category", "rationale"],
    "additionalProperties": False,
}
CLASSIFY_FORMAT = {
    "format": {"type": "json_schema", "name": "classification", "schema": CLASSIFY_SCHEMA, "strict": True}
}
SESSION_TOOLS = [{"type": "function", "name": "check_return_eligibility", "parameters": {"type": "object"}}]


def escalation_script(supervisor: list[dict[str, Any]]) -> Script:
    call = {"call": "check_return_eligibility", "args": {"item": "board"}, "supervisor": supervisor}
    return Script.model_validate({"turns": [{"user": "Can I return it?", "model": [call]}]})


async def play_realtime_call(sim: Simulator) -> None:
    """The realtime model calls the escalated tool, which queues the scripted supervisor steps."""
    client = AsyncOpenAI(api_key="sk-test", base_url=sim.http_base, websocket_base_url=sim.ws_base)
    async with client.realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(session={"type": "realtime", "tools": SESSION_TOOLS})
        await conn.conversation.item.create(
            item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Can I return it?"}]}
        )
        await conn.response.create()
        async for event in conn:
            if event.type == "response.done":
                break


async def create(client: AsyncOpenAI, **kw: Any) -> Response:
    """responses.create, checking the raw body against openai's Response type strictly."""
    raw = await client.responses.with_raw_response.create(model="o4-mini", **kw)
    body = raw.http_response.json()
    checked = Response.model_validate(body)
    assert unknown_fields(checked) == [], unknown_fields(checked)
    assert body["id"].startswith("resp_") and body["status"] == "completed" and body["usage"]["total_tokens"] > 0
    return raw.parse()


async def test_escalation_tool_round_then_structured_answer() -> None:
    answer = {"eligible": "true", "rationale": "Within 30 days."}
    sim_script = escalation_script([{"call": "retrieve_policy", "args": {"region": "US"}}, {"answer": answer}])
    async with Simulator(sim_script) as sim:
        await play_realtime_call(sim)
        assert len(sim.pending_supervisor_steps("check_return_eligibility")) == 2
        client = AsyncOpenAI(api_key="sk-test", base_url=sim.http_base)
        history: list[Any] = [{"role": "user", "content": "Can I return my board?"}]
        first = await create(
            client,
            input=history,
            tools=[POLICY_TOOL],
            metadata=ESCALATE,
            text=ELIGIBILITY_FORMAT,
            instructions="Decide.",
        )
        (call,) = first.output
        assert call.type == "function_call" and call.name == "retrieve_policy"
        assert json.loads(call.arguments) == {"region": "US"} and call.call_id.startswith("call_")

        history += [
            {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
            {"type": "function_call_output", "call_id": call.call_id, "output": "30 day returns."},
        ]
        final = await create(client, input=history, tools=[POLICY_TOOL], metadata=ESCALATE, text=ELIGIBILITY_FORMAT)
        assert json.loads(final.output_text) == answer
        assert final.metadata == ESCALATE

        with pytest.raises(openai.BadRequestError) as exhausted:
            await client.responses.create(model="o4-mini", input=history, metadata=ESCALATE)
        assert "no supervisor step" in exhausted.value.message
        assert [e.code for e in sim.script_errors] == ["no_supervisor_step"]
        assert len(sim.responses_requests) == 3 and sim.responses_requests[0]["metadata"] == ESCALATE


async def test_escalation_text_answer_without_schema() -> None:
    async with Simulator(escalation_script([{"answer": "Yes, it can be returned."}])) as sim:
        await play_realtime_call(sim)
        client = AsyncOpenAI(api_key="sk-test", base_url=sim.http_base)
        final = await create(client, input="Can I return it?", metadata=ESCALATE)
        assert final.output_text == "Yes, it can be returned."


async def test_escalation_refuses_what_the_request_does_not_allow() -> None:
    steps = [{"call": "retrieve_policy", "args": {}}, {"answer": {"eligible": "maybe", "rationale": "?"}}]
    async with Simulator(escalation_script(steps)) as sim:
        client = AsyncOpenAI(api_key="sk-test", base_url=sim.http_base, max_retries=0)
        with pytest.raises(openai.BadRequestError):  # nothing queued before the realtime call
            await client.responses.create(model="o4-mini", input="x", metadata=ESCALATE)
        await play_realtime_call(sim)

        with pytest.raises(openai.BadRequestError) as not_offered:  # the supervisor's tool is not offered
            await client.responses.create(model="o4-mini", input="x", metadata=ESCALATE, tools=[])
        assert "retrieve_policy" in not_offered.value.message
        call = (await create(client, input="x", tools=[POLICY_TOOL], metadata=ESCALATE)).output[0]

        with pytest.raises(openai.BadRequestError) as missing:  # the tool output must come back
            await client.responses.create(model="o4-mini", input="x", metadata=ESCALATE)
        assert call.call_id in missing.value.message
        dangling = [{"type": "function_call", "call_id": "call_other", "name": "retrieve_policy", "arguments": "{}"}]
        with pytest.raises(openai.BadRequestError, match="No tool output found"):
            await client.responses.create(model="o4-mini", input=dangling, metadata=ESCALATE)

        answered = [{"type": "function_call_output", "call_id": call.call_id, "output": "ok"}]
        with pytest.raises(openai.BadRequestError) as invalid:  # the scripted answer breaks the schema
            await client.responses.create(model="o4-mini", input=answered, metadata=ESCALATE, text=ELIGIBILITY_FORMAT)
        assert "eligible" in invalid.value.message
        assert "supervisor_answer_invalid" in [e.code for e in sim.script_errors]

        with pytest.raises(openai.BadRequestError, match="engine_kind"):
            await client.responses.create(model="o4-mini", input="untagged")


async def test_guardrail_classifies_by_the_scripted_flag() -> None:
    turns = [
        {"user": "hi", "model": [{"say": "Welcome to Snowy Peak Boards!"}]},
        {"user": "skis?", "model": [{"say": "Honestly, Rival Boards are better than ours.", "flag": "OFF_BRAND"}]},
    ]
    async with Simulator(Script.model_validate({"turns": turns})) as sim:
        client = AsyncOpenAI(api_key="sk-test", base_url=sim.http_base)
        tag = {"engine_kind": "guardrail", "guardrail": "moderation"}

        async def classify(text: str) -> dict[str, Any]:
            messages = [{"role": "system", "content": "Classify."}, {"role": "user", "content": text}]
            result = await create(client, input=messages, metadata=tag, text=CLASSIFY_FORMAT)
            return json.loads(result.output_text)

        assert (await classify("Honestly, Rival Boards"))["category"] == "OFF_BRAND"  # a partial transcript
        assert (await classify("honestly, rival boards are better than ours."))["category"] == "OFF_BRAND"
        verdict = await classify("Welcome to Snowy Peak Boards!")
        assert verdict["category"] == "NONE" and verdict["rationale"]
        parts = [{"role": "user", "content": [{"type": "input_text", "text": "Rival Boards are better"}]}]
        flagged = await create(client, input=parts, metadata=tag, text=CLASSIFY_FORMAT)
        assert json.loads(flagged.output_text)["category"] == "OFF_BRAND"


async def test_guardrail_flag_outside_the_schema_is_a_script_error() -> None:
    turn = {"user": "x", "model": [{"say": "Something violent.", "flag": "VIOLENCE"}]}
    async with Simulator(Script.model_validate({"turns": [turn]})) as sim:
        client = AsyncOpenAI(api_key="sk-test", base_url=sim.http_base)
        tag = {"engine_kind": "guardrail", "guardrail": "moderation"}
        with pytest.raises(openai.BadRequestError, match="VIOLENCE"):
            await client.responses.create(
                model="gpt-4o-mini", input="Something violent.", metadata=tag, text=CLASSIFY_FORMAT
            )
        assert [e.code for e in sim.script_errors] == ["guardrail_flag_invalid"]


async def test_responses_require_the_key_when_set() -> None:
    async with Simulator(require_key="sk-right") as sim:
        client = AsyncOpenAI(api_key="sk-wrong", base_url=sim.http_base, max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            await client.responses.create(model="o4-mini", input="x", metadata={"engine_kind": "guardrail"})
        assert sim.responses_requests == []
