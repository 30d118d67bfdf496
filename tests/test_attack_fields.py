"""Every server event type the session dispatches, with every field of the wrong type (or missing,
or huge), sent in the middle of a turn: the listener lives, the turn completes, the tool runs once,
no two response.create overlap, and a later turn works."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from wire import WireConnection, WireServer

from engine.protocol.openai_check import check_payload
from engine.runtime import Session
from engine.runtime import events as ev

HUGE = "x" * 200_000
BAD: list[Any] = [[1], {"a": 1}, 7, None, True, -1.5, HUGE, "", float("nan")]

_ITEM = {"id": "item_z", "type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "t"}]}
_CALL = {"id": "item_c", "type": "function_call", "call_id": "call_z", "name": "lookup", "arguments": "{}"}
_BASE = {"response_id": "resp_z", "item_id": "item_z", "output_index": 0, "content_index": 0}

#: type -> a well-formed event body (fields to spoil one at a time; dicts are spoiled one level down too).
EVENTS: dict[str, dict[str, Any]] = {
    "response.output_audio.delta": {**_BASE, "delta": "AAAA"},
    "response.output_audio.done": dict(_BASE),
    "response.output_audio_transcript.delta": {**_BASE, "delta": "hi"},
    "response.output_text.delta": {**_BASE, "delta": "hi"},
    "response.output_audio_transcript.done": {**_BASE, "transcript": "hi"},
    "response.output_text.done": {**_BASE, "text": "hi"},
    "response.output_item.added": {"response_id": "resp_z", "output_index": 0, "item": _ITEM},
    "conversation.item.added": {"previous_item_id": None, "item": _ITEM},
    "conversation.item.input_audio_transcription.delta": {"item_id": "item_u", "content_index": 0, "delta": "a"},
    "conversation.item.input_audio_transcription.completed": {
        "item_id": "item_u",
        "content_index": 0,
        "transcript": "a",
    },
    "conversation.item.deleted": {"item_id": "item_nothing"},
    "input_audio_buffer.speech_started": {"item_id": "item_u", "audio_start_ms": 5},
    "input_audio_buffer.speech_stopped": {"item_id": "item_u", "audio_end_ms": 9},
    "input_audio_buffer.committed": {"item_id": "item_u", "previous_item_id": None},
    "input_audio_buffer.timeout_triggered": {"item_id": "item_u", "audio_start_ms": 0, "audio_end_ms": 0},
    "session.created": {"session": {"type": "realtime", "audio": {"output": {"voice": "alloy"}}}},
    "session.updated": {"session": {"type": "realtime", "audio": {"output": {"voice": "alloy"}}}},
    "error": {"error": {"type": "server_error", "code": "oops", "message": "m", "event_id": "event_nothing"}},
}


def _spoiled(kind: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = [{"type": kind}]
    for key, value in body.items():
        frames += [{"type": kind, **body, key: bad} for bad in BAD]
        if isinstance(value, dict):
            for inner in value:
                frames += [{"type": kind, **body, key: {**value, inner: bad}} for bad in BAD]
    return frames


def _dumps(frame: dict[str, Any]) -> str:
    return json.dumps(frame)  # NaN goes out as the bare token NaN, which Python's json.loads accepts


@pytest.mark.parametrize("phase", ["requested", "active"])
@pytest.mark.parametrize("kind", sorted(EVENTS))
async def test_every_field_of_the_wrong_type_is_survived(mini, kind, phase):
    """`requested`: the frames come before the response's `response.created`; `active`: inside it."""
    frames = [_dumps(f) for f in _spoiled(kind, EVENTS[kind])]

    async def model(conn: WireConnection, event: dict[str, Any]) -> list[dict[str, Any]] | None:
        if len(conn.server.of("response.create")) != 1:
            return []
        if phase == "requested":
            for frame in frames:
                await conn.raw(frame)
            return [conn.call("lookup", {"query": "x"})]
        rid = await conn.created()
        for frame in frames:
            await conn.raw(frame)
        call = conn.call("lookup", {"query": "x"})
        await conn.send({"type": "response.output_item.done", "response_id": rid, "output_index": 0, "item": call})
        await asyncio.sleep(0.01)
        await conn.done(rid, [call])
        return None

    async with WireServer(model) as server, Session(mini, url=server.url, api_key="k") as session:
        seen: list[ev.SessionEvent] = []
        sub = session.subscribe(maxsize=100_000)

        async def read() -> None:
            async for e in sub:
                seen.append(e)

        task = asyncio.create_task(read())
        await session.send_text("hi")
        await session.wait_idle(5)
        await session.send_text("again")
        await session.wait_idle(5)
    await task
    outputs = [e["item"] for e in server.of("conversation.item.create") if e["item"]["type"] == "function_call_output"]
    assert [json.loads(o["output"]) for o in outputs] == [{"query": "x", "found": True}]
    assert len(server.of("response.create")) == 3 and server.overlaps == 0
    crashed = [e.message for e in seen if isinstance(e, ev.Error) and e.code == "task_failed"]
    assert not crashed, crashed  # a spawned task of the session died on the frame's content
    invalid = {e["type"]: problems for e in server.received if (problems := check_payload(e))}
    assert not invalid, invalid  # whatever the server sent, what the engine sends stays valid
