"""Attacks on the session core by a hostile server (tests/wire.py): malformed, reordered and
duplicated frames, odd websocket frames and closes. Each test says what must hold."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from wire import WireConnection, WireServer
from wire import collect as _collect
from wire import function_outputs as _outputs
from wire import until as _until

from engine.runtime import Session
from engine.runtime import events as ev


def _first_turn_sends(frame: str):
    """A model that sends `frame` during the first response, then answers normally."""

    async def model(conn: WireConnection, event: dict[str, Any]) -> list[dict[str, Any]]:
        if len(conn.server.of("response.create")) == 1:
            await conn.raw(frame)
            return [conn.call("lookup", {"query": "x"})]
        return []

    return model


async def _two_turns(mini, model) -> tuple[WireServer, list[ev.SessionEvent]]:
    async with WireServer(model) as server, Session(mini, url=server.url, api_key="k") as session:
        seen, task = _collect(session.subscribe())
        await session.send_text("hi")
        await session.wait_idle(3)
        await session.send_text("again")  # the listener is alive: a later turn works
        await session.wait_idle(3)
    await task
    return server, seen


# --- findings ---------------------------------------------------------------------------------------

DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize("frame", [DEEP, '{"type": "x", "a": ' + DEEP + "}"], ids=["array", "in-object"])
async def test_deeply_nested_json_does_not_kill_the_listener(mini, frame):
    """json.loads raises RecursionError (not a ValueError) for deep nesting: today it escapes
    Session.on_frame, the listener task dies silently, and every later turn times out."""
    server, seen = await _two_turns(mini, _first_turn_sends(frame))
    assert [json.loads(o["output"]) for o in _outputs(server)] == [{"query": "x", "found": True}]
    assert len(server.of("response.create")) == 3
    assert any(isinstance(e, ev.Error) and e.code == "malformed_frame" for e in seen)


@pytest.mark.parametrize("code", ["invalid_value", 123, ["x"], {"a": 1}, True])
async def test_a_refusal_with_a_malformed_code_does_not_strand_the_request(mini, code):
    """The server refuses our response.create (an error naming its event_id) with a `code` that is not
    text: the refusal must still reach the sequencer, or the request waits for a response that never comes."""

    async def model(conn: WireConnection, event: dict[str, Any]) -> list[dict[str, Any]] | None:
        if len(conn.server.of("response.create")) == 1:
            error = {"type": "invalid_request_error", "code": code, "message": "no", "event_id": event["event_id"]}
            conn.active = None
            await conn.send({"type": "error", "error": error})
            return None
        return []

    async with WireServer(model) as server, Session(mini, url=server.url, api_key="k") as session:
        seen, task = _collect(session.subscribe())
        await session.send_text("hi")
        await session.wait_idle(3)  # today: TimeoutError, the sequencer still waits in REQUESTED
        await session.send_text("again")
        await session.wait_idle(3)
    await task
    assert len(server.of("response.create")) == 2
    assert any(isinstance(e, ev.Error) for e in seen)


async def test_response_done_before_response_created_does_not_hang(mini):
    """A server that reorders a response's end before its start: the session must not wait forever
    for a second `response.done` (the done names the response the created then names)."""

    async def model(conn: WireConnection, event: dict[str, Any]) -> list[dict[str, Any]] | None:
        rid = conn.server.new_id("resp")
        response = {"object": "realtime.response", "id": rid, "status": "completed", "output": []}
        await conn.send({"type": "response.done", "response": response})
        await conn.send({"type": "response.created", "response": {**response, "status": "in_progress"}})
        return None

    async with WireServer(model) as server, Session(mini, url=server.url, api_key="k") as session:
        await session.send_text("hi")
        await session.wait_idle(3)
    assert len(server.of("response.create")) == 1


async def test_a_nested_frame_with_a_headers_key_does_not_kill_the_listener_when_recording(mini, tmp_path):
    """With an events file, a frame naming a `headers` key is walked by the recorder's recursive
    redact_keys (recorder.py), outside the handler's try in Session.on_frame: 500 levels of nesting
    (well within json.loads' limit) raise RecursionError, and the listener dies."""
    nested = "[" * 500 + "]" * 500
    frame = '{"type": "x", "headers": 1, "a": ' + nested + "}"
    async with (
        WireServer(_first_turn_sends(frame)) as server,
        Session(mini, url=server.url, api_key="k", events_file=tmp_path / "events.jsonl") as session,
    ):
        await session.send_text("hi")
        await session.wait_idle(3)
        await session.send_text("again")
        await session.wait_idle(3)
    assert len(server.of("response.create")) == 3


@pytest.mark.parametrize("audio_format", ["pcm", 5, ["audio/pcm"]])
async def test_a_malformed_session_updated_does_not_poison_later_handoffs(mini, audio_format):
    """Moves.applied (moves.py) keeps any truthy `format` the server reports, and every later payload
    carries it: a string breaks Moves.payload (`.get` on a str), so the handoff fails; others go out
    to the server as the new agent's audio format."""
    updated = {
        "type": "session.updated",
        "session": {"type": "realtime", "audio": {"output": {"format": audio_format}}},
    }

    async def model(conn: WireConnection, event: dict[str, Any]) -> list[dict[str, Any]]:
        if len(conn.server.of("response.create")) == 1:
            await conn.raw(json.dumps(updated))
            return [conn.call("transfer_to_helper")]
        return []

    async with WireServer(model) as server, Session(mini, url=server.url, api_key="k") as session:
        await session.send_text("hi")
        await session.wait_idle(3)
        assert session.agent == "helper"
    handoff = server.of("session.update")[-1]["session"]
    assert handoff["audio"]["output"]["format"] == {"type": "audio/pcm", "rate": 24000}


async def test_a_malformed_session_updated_does_not_make_the_conversation_unrestorable(mini):
    """After a session.updated with a text `format`, a drop: restore_events compiles the agent's payload,
    which raises, and the link gives up for good ("the agent's config no longer compiles")."""
    updated = {"type": "session.updated", "session": {"type": "realtime", "audio": {"output": {"format": "pcm"}}}}

    async def model(conn: WireConnection, event: dict[str, Any]) -> list[dict[str, Any]] | None:
        if conn is conn.server.connections[0]:
            await conn.raw(json.dumps(updated))
            conn.active = None
            await conn.ws.close(code=1011)
            return None
        return []

    async with (
        WireServer(model) as server,
        Session(mini, url=server.url, api_key="k", reconnect_backoff=0.01) as session,
    ):
        await session.send_text("hi")
        await session.wait_idle(3)  # today: ConnectionLost
    assert len(server.connections) == 2


# --- attacks that held ------------------------------------------------------------------------------


async def test_a_binary_frame_is_read_like_text(mini):
    """A JSON event in a binary frame, and binary garbage: the session goes on."""

    async def model(conn: WireConnection, event: dict[str, Any]) -> list[dict[str, Any]]:
        if len(conn.server.of("response.create")) == 1:
            await conn.ws.send(b"\x00\xff\xfe binary garbage")
            await conn.ws.send(json.dumps({"type": "input_audio_buffer.timeout_triggered"}).encode())
            return [conn.call("lookup", {"query": "x"})]
        return []

    server, seen = await _two_turns(mini, model)
    assert [json.loads(o["output"]) for o in _outputs(server)] == [{"query": "x", "found": True}]
    assert ev.InputTimeout() in seen


async def test_invalid_utf8_in_a_text_frame_reconnects_and_loses_nothing(mini):
    """A text frame that is not UTF-8 fails the websocket (RFC 6455): the session reconnects, restores
    the conversation, and the turn still completes with the tool run once."""

    async def model(conn: WireConnection, event: dict[str, Any]) -> list[dict[str, Any]] | None:
        if conn is conn.server.connections[0]:
            conn.active = None
            await conn.ws.send(b'{"type": "\xff\xfe"}', text=True)
            return None
        if len(conn.server.of("response.create")) == 2:
            return [conn.call("lookup", {"query": "x"})]
        return []

    async with (
        WireServer(model) as server,
        Session(mini, url=server.url, api_key="k", reconnect_backoff=0.01) as session,
    ):
        seen, task = _collect(session.subscribe())
        await session.send_text("hi")
        await _until(lambda: len(server.connections) == 2)
        await session.wait_idle(3)
    await task
    assert any(isinstance(e, ev.Reconnected) for e in seen)
    assert [json.loads(o["output"]) for o in _outputs(server)] == [{"query": "x", "found": True}]
    user = [e["item"] for e in server.of("conversation.item.create") if e["item"].get("role") == "user"]
    assert [u["content"][0]["text"] for u in user] == ["hi", "hi"]  # sent, then restored once
    assert server.overlaps == 0


@pytest.mark.parametrize("code", [1000, 1001, 1008, 1011, 3000, 4000, 4999])
async def test_a_close_with_any_code_mid_response_is_restored(mini, code):
    async def model(conn: WireConnection, event: dict[str, Any]) -> list[dict[str, Any]] | None:
        if conn is conn.server.connections[0]:
            await conn.created()
            conn.active = None
            await conn.ws.close(code=code, reason="bye" * 20)
            return None
        return []

    async with (
        WireServer(model) as server,
        Session(mini, url=server.url, api_key="k", reconnect_backoff=0.01) as session,
    ):
        await session.send_text("hi")
        await _until(lambda: len(server.connections) == 2)
        await session.wait_idle(3)
        await session.send_text("again")
        await session.wait_idle(3)
    assert len(server.of("response.create")) == 3 and server.overlaps == 0


async def test_a_server_that_never_sends_session_created_still_serves(mini, monkeypatch):
    original = WireConnection.send

    async def send(self: WireConnection, event: dict[str, Any]) -> None:
        if event.get("type") != "session.created":
            await original(self, event)

    monkeypatch.setattr(WireConnection, "send", send)  # the test server's, not the engine's
    async with WireServer() as server, Session(mini, url=server.url, api_key="k") as session:
        await session.send_text("hi")
        await session.wait_idle(3)
    assert len(server.of("response.create")) == 1


async def test_duplicated_and_stray_events_neither_hang_nor_double_a_turn(mini):
    """response.created twice, output_item.done twice, deltas for an item never added, a stray
    response.done after the end, and a function call that arrives after its response ended."""

    async def model(conn: WireConnection, event: dict[str, Any]) -> list[dict[str, Any]] | None:
        creates = len(conn.server.of("response.create"))
        if creates > 1:
            return []
        rid = await conn.created()
        await conn.send({"type": "response.created", "response": {"id": rid, "status": "in_progress", "output": []}})
        item = {"id": "item_m", "type": "message", "role": "assistant", "content": []}
        for _ in range(2):
            await conn.send({"type": "response.output_item.done", "response_id": rid, "output_index": 0, "item": item})
        ghost = {"response_id": rid, "item_id": "item_ghost", "output_index": 5, "content_index": 0}
        await conn.send({"type": "response.output_audio.delta", **ghost, "delta": "AAAA"})
        await conn.send({"type": "response.output_audio_transcript.delta", **ghost, "delta": "boo"})
        await conn.send({"type": "response.output_audio_transcript.done", **ghost, "transcript": "boo"})
        await conn.done(rid, [item])
        await conn.done(rid, [item])  # the same done again
        late = conn.call("lookup", {"query": "late"})  # a call after its response ended
        await conn.send({"type": "response.output_item.done", "response_id": rid, "output_index": 1, "item": late})
        return None

    server, _ = await _two_turns(mini, model)
    assert [json.loads(o["output"]) for o in _outputs(server)] == [{"query": "late", "found": True}]
    assert server.overlaps == 0
    assert len(server.of("response.create")) == 3  # hi, the late call's output, again


async def test_a_server_that_never_answers_times_out_wait_idle_and_closes_promptly(mini):
    async def mute(conn: WireConnection, event: dict[str, Any]) -> None:
        await asyncio.sleep(30)

    async with WireServer(mute) as server:
        session = Session(mini, url=server.url, api_key="k")
        await session.connect()
        await session.send_text("hi")
        with pytest.raises(TimeoutError):
            await session.wait_idle(0.3)
        async with asyncio.timeout(2):
            await session.close()
        for task in server.connections[0]._responses:
            task.cancel()
