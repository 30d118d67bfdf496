"""The session against an independent Realtime-protocol server (tests/wire.py, not engine/sim):
the wire rules of design §5 hold whatever the server, and odd server behaviour never stalls it."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from conftest import MINI
from openai.types.realtime import ConversationItemCreateEvent, SessionUpdateEvent
from wire import Fail, Refuse, WireConnection, WireServer

from engine.runtime import Session
from engine.runtime import events as ev
from engine.validate import load_graph


async def _talk(session: Session, *lines: str) -> list[ev.SessionEvent]:
    seen: list[ev.SessionEvent] = []

    async def collect() -> None:
        async for event in session:
            seen.append(event)

    collector = asyncio.create_task(collect())
    for line in lines:
        await session.send_text(line)
        await session.wait_idle(5)
    await session.close()
    await collector
    return seen


def _outputs(server: WireServer) -> list[Any]:
    items = [e["item"] for e in server.of("conversation.item.create")]
    return [json.loads(i["output"]) for i in items if i["type"] == "function_call_output"]


async def test_handoff_wire_order_against_an_independent_server(mini):
    async def model(conn: WireConnection, event: dict[str, Any]) -> list[dict[str, Any]]:
        first = len(conn.server.of("response.create")) == 1
        return [conn.call("transfer_to_helper")] if first else []

    async with WireServer(model) as server, Session(mini, url=server.url, api_key="k") as session:
        await _talk(session, "hi")
    kinds = [e["type"] for e in server.received]
    output = next(i for i, e in enumerate(server.received) if e.get("item", {}).get("type") == "function_call_output")
    assert kinds[output - 1] == "session.update" and kinds[output + 1] == "response.create"
    SessionUpdateEvent.model_validate(server.received[output - 1])
    ConversationItemCreateEvent.model_validate(server.received[output])
    assert "Help the caller" in server.received[output - 1]["session"]["instructions"]
    assert _outputs(server) == [{"assistant": "helper"}] and session.agent == "helper"
    assert server.overlaps == 0  # the follow-up response.create waited for response.done


async def test_calls_in_one_response_belong_to_the_agent_that_made_them(mini):
    async def model(conn: WireConnection, event: dict[str, Any]) -> list[dict[str, Any]]:
        if len(conn.server.of("response.create")) > 1:
            return []
        # Both from the greeter: a handoff, then its own tool, then a second handoff it can no longer make.
        return [conn.call("transfer_to_helper"), conn.call("lookup", {"query": "x"}), conn.call("transfer_to_helper")]

    async with WireServer(model) as server, Session(mini, url=server.url, api_key="k") as session:
        seen = await _talk(session, "hi")
    [lookup] = [e for e in seen if isinstance(e, ev.ToolEnd)]
    assert lookup.ok and lookup.agent == "greeter" and json.loads(lookup.output)["found"] is True
    [refused] = [e for e in seen if isinstance(e, ev.TransitionRefused)]
    assert "already moved on to 'helper'" in refused.reason
    assert session.agent == "helper" and server.overlaps == 0
    assert len(server.of("response.create")) == 2  # the three outputs merged into one follow-up


async def test_a_refused_response_create_does_not_stall_the_session(mini):
    async def model(conn: WireConnection, event: dict[str, Any]) -> list[dict[str, Any]]:
        if len(conn.server.of("response.create")) == 1:
            raise Refuse("rate_limit_exceeded")
        return []

    async with WireServer(model) as server, Session(mini, url=server.url, api_key="k") as session:
        seen = await _talk(session, "hi", "hello again")  # wait_idle returns after the refusal
    assert len(server.of("response.create")) == 2
    refused = server.of("response.create")[0]
    assert any(isinstance(e, ev.Error) and e.code == "rate_limit_exceeded" for e in seen)
    assert refused["event_id"].startswith("event_")


async def test_a_failed_response_is_reported(mini):
    async def model(conn: WireConnection, event: dict[str, Any]) -> list[dict[str, Any]]:
        raise Fail("You exceeded your current quota.")

    async with WireServer(model) as server, Session(mini, url=server.url, api_key="k") as session:
        seen = await _talk(session, "hi")
    [error] = [e for e in seen if isinstance(e, ev.Error)]
    assert "exceeded your current quota" in error.message and not error.fatal


async def test_audio_formats_the_call_uses_are_kept_across_handoffs(write_graph):
    graph = MINI.replace(
        "    instructions: Help the caller of {{ context.company }}.\n",
        "    instructions: Help the caller of {{ context.company }}.\n"
        "    session: {audio: {input: {format: pcm16}, output: {format: pcm16}}}\n",
    ).replace(
        "graph: mini\n", "graph: mini\nsession: {audio: {input: {format: g711_ulaw}, output: {format: g711_ulaw}}}\n"
    )
    doc = load_graph(write_graph(graph))

    async def model(conn: WireConnection, event: dict[str, Any]) -> list[dict[str, Any]]:
        return [conn.call("transfer_to_helper")] if len(conn.server.of("response.create")) == 1 else []

    async with WireServer(model) as server, Session(doc, url=server.url, api_key="k") as session:
        await _talk(session, "hi")
    first, handoff = (e["session"]["audio"] for e in server.of("session.update"))
    assert first["input"]["format"] == first["output"]["format"] == {"type": "audio/pcmu"}
    assert handoff["input"]["format"] == handoff["output"]["format"] == {"type": "audio/pcmu"}


async def test_hosted_mcp_approval_requests_are_answered(mini):
    async def model(conn: WireConnection, event: dict[str, Any]) -> list[dict[str, Any]]:
        if len(conn.server.of("response.create")) > 1:
            return []
        request = {"id": conn.server.new_id("mcpr"), "type": "mcp_approval_request", "server_label": "docs"}
        return [{**request, "name": "search", "arguments": '{"q": "returns"}'}]

    async with WireServer(model) as server, Session(mini, url=server.url, api_key="k", approval="deny") as session:
        seen = await _talk(session, "look it up")
    [answer] = [e for e in server.of("conversation.item.create") if e["item"]["type"] == "mcp_approval_response"]
    ConversationItemCreateEvent.model_validate(answer)
    assert answer["item"]["approve"] is False
    [asked] = [e for e in seen if isinstance(e, ev.ApprovalRequested)]
    assert asked.tool == "docs.search" and asked.policy == "deny"
    assert server.of("response.create")[-1] is server.received[-1]  # the model hears the decision


async def test_user_transcript_deltas_are_events(mini):
    async def model(conn: WireConnection, event: dict[str, Any]) -> list[dict[str, Any]]:
        where = {"item_id": "item_user", "content_index": 0}
        await conn.send({"type": "conversation.item.input_audio_transcription.delta", **where, "delta": "Hel"})
        await conn.send({"type": "conversation.item.input_audio_transcription.delta", **where, "delta": "lo"})
        return []

    async with WireServer(model) as server, Session(mini, url=server.url, api_key="k") as session:
        seen = await _talk(session, "hi")
    deltas = [e.delta for e in seen if isinstance(e, ev.TranscriptDelta) and e.role == "user" and not e.done]
    assert deltas == ["Hel", "lo"]
