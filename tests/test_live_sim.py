"""The GPT-Live simulator as a client sees it: a raw websocket on loopback, no engine in between."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from pydantic import TypeAdapter

from engine.protocol.openai_check import unknown_fields
from engine.sim.live import LiveSimulator, speech_audio
from engine.spec.script import Script

START = {"type": "session.start", "session": {"model": "gpt-live-1.1", "delegation": {"type": "client"}}}


class Client:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.events: list[dict[str, Any]] = []

    async def send(self, event: dict[str, Any]) -> None:
        await self.ws.send_str(json.dumps(event))

    async def next(self, kind: str, timeout: float = 5.0) -> dict[str, Any]:
        """The next server event of `kind` (audio deltas and others skipped, kept in `events`)."""
        async with asyncio.timeout(timeout):
            while True:
                msg = await self.ws.receive()
                if msg.type != aiohttp.WSMsgType.TEXT:
                    raise ConnectionError(f"the socket closed: {msg.type}")
                event = json.loads(msg.data)
                self.events.append(event)
                if event["type"] == kind:
                    return event


@pytest.fixture
async def sim() -> AsyncIterator[LiveSimulator]:
    sc = Script.model_validate({"turns": [{"user": "Is my order late?", "model": [{"say": "Let me see."}]}]})
    async with LiveSimulator(sc, usage_interval=0.1) as simulator:
        yield simulator


@pytest.fixture
async def connect(sim: LiveSimulator) -> AsyncIterator[Any]:
    http = aiohttp.ClientSession()
    sockets = []

    async def open_client(start: dict[str, Any] | None = START) -> Client:
        ws = await http.ws_connect(sim.live_url, headers={"Authorization": "Bearer k"})
        sockets.append(ws)
        client = Client(ws)
        if start is not None:
            await client.send(start)
            await client.next("session.started")
        return client

    yield open_client
    for ws in sockets:
        await ws.close()
    await http.close()


def server_event_problems(events: list[dict[str, Any]]) -> list[str]:
    from openai.types.live import ServerEvent

    adapter: TypeAdapter[Any] = TypeAdapter(ServerEvent)
    problems = []
    for event in events:
        parsed = adapter.validate_python(event)
        problems += [f"{event['type']}: {path}" for path in unknown_fields(parsed)]
    return problems


async def test_session_start_with_an_unknown_field_is_refused_with_its_param(connect: Any) -> None:
    client = await connect(None)
    await client.send({**START, "session": {**START["session"], "turn_detection": {"type": "semantic_vad"}}})
    error = await client.next("error")
    assert error["error"]["param"] == "session.turn_detection"
    assert error["error"]["code"] == "unknown_parameter"
    # The session did not start: commands are still refused.
    await client.send({"type": "session.commentary.append", "content": "hi", "delegation_id": None})
    assert (await client.next("error"))["error"]["code"] == "session_not_started"


async def test_immutable_settings_cannot_change_and_the_delegation_backend_can(connect: Any) -> None:
    client = await connect()
    await client.send({"type": "session.update", "event_id": "e1", "session": {"model": "gpt-live-1"}})
    error = await client.next("error")
    assert (error["error"]["param"], error["error"]["code"]) == ("session.model", "immutable_parameter")
    assert error["error"]["client_event_id"] == "e1"
    await client.send({"type": "session.update", "session": {"audio": {"output": {"voice": "cedar"}}}})
    assert (await client.next("error"))["error"]["param"] == "session.audio"
    change = {"delegation": {"type": "responses", "responses": {"model": "gpt-5.5"}}}
    await client.send({"type": "session.update", "session": change})
    assert (await client.next("error"))["error"]["param"] == "session.delegation.type"
    await client.send(
        {"type": "session.update", "session": {"delegation": {"type": "client", "acknowledgement_delay_ms": 300}}}
    )
    updated = await client.next("session.updated")
    assert updated["session"]["delegation"] == {"type": "client", "acknowledgement_delay_ms": 300}


async def test_appends_are_acknowledged_and_held_to_500_tokens(connect: Any, sim: LiveSimulator) -> None:
    client = await connect()
    await client.send(
        {"type": "session.thinking.append", "event_id": "t1", "content": "x" * 2000, "delegation_id": None}
    )
    ack = await client.next("session.thinking.appended")
    assert ack["client_event_id"] == "t1" and ack["start_ms"] <= ack["end_ms"]
    too_long = {"type": "session.instructions.append", "content": "x" * 2001, "delegation_id": None}
    await client.send(too_long)
    error = await client.next("error")
    assert (error["error"]["param"], error["error"]["code"]) == ("content", "string_above_max_length")
    await client.send({"type": "session.commentary.append", "content": "Hi.", "delegation_id": "deleg_nope"})
    assert (await client.next("error"))["error"]["param"] == "delegation_id"
    await client.send({"type": "session.commentary.append", "content": "Hello, Jo.", "delegation_id": None})
    await client.next("session.commentary.appended")
    delta = await client.next("session.output_transcript.delta")
    assert delta["delta"].startswith("Hello") and delta["end_ms"] > delta["start_ms"]
    assert sim.spoken == ["Hello, Jo."]


async def test_startup_history_is_held_to_128_messages(connect: Any) -> None:
    client = await connect(None)
    message = {"role": "user", "content": [{"type": "input_text", "text": "hi"}]}
    await client.send({**START, "session": {**START["session"], "input": [message] * 129}})
    error = await client.next("error")
    assert (error["error"]["param"], error["error"]["code"]) == ("session.input", "array_above_max_length")
    await client.send({**START, "session": {**START["session"], "input": [message] * 128}})
    await client.next("session.started")


async def test_fixtures_are_held_to_30_seconds_and_block_appends_while_they_play(connect: Any) -> None:
    client = await connect()
    long = base64.b64encode(b"\x00\x00" * 24000 * 31).decode()
    await client.send({"type": "session.output_audio.fixture.play", "audio": long})
    assert (await client.next("error"))["error"]["code"] == "fixture_too_long"
    two_seconds = base64.b64encode(b"\x00\x00" * 24000 * 2).decode()
    await client.send({"type": "session.output_audio.fixture.play", "event_id": "f1", "audio": two_seconds})
    assert (await client.next("session.output_audio.fixture.playing"))["client_event_id"] == "f1"
    await client.send({"type": "session.commentary.append", "content": "Hi.", "delegation_id": None})
    assert (await client.next("error"))["error"]["code"] == "fixture_active"
    assert (await client.next("session.output_audio.fixture.played"))["client_event_id"] == "f1"


async def test_response_events_are_refused_under_client_delegation(connect: Any) -> None:
    client = await connect()
    await client.send({"type": "response.create"})
    error = await client.next("error")
    assert "client delegation" in error["error"]["message"]


async def test_it_streams_audio_hears_speech_and_delegates_without_task_text(connect: Any) -> None:
    client = await connect()
    await client.next("session.output_audio.delta")
    await client.next("session.output_audio.delta")  # silence streams while nobody speaks
    audio = speech_audio("Is my order late?")
    for offset in range(0, len(audio), 4800):
        await client.send(
            {"type": "session.input_audio.append", "audio": base64.b64encode(audio[offset : offset + 4800]).decode()}
        )
    created = await client.next("session.delegation.created")
    heard = [e for e in client.events if e["type"] == "session.input_transcript.delta"]
    assert "".join(e["delta"] for e in heard) == "Is my order late?"
    assert all(a["end_ms"] <= b["start_ms"] for a, b in itertools.pairwise(heard))
    assert heard[0]["start_ms"] == 0 and heard[-1]["end_ms"] >= 1000
    assert set(created["delegation"]) == {"id", "target", "type"}  # metadata, no task text
    assert created["delegation"]["target"] == "client"


async def test_silence_alone_is_not_speech(connect: Any, sim: LiveSimulator) -> None:
    client = await connect()
    await client.send({"type": "session.input_audio.append", "audio": base64.b64encode(b"\x00\x00" * 24000).decode()})
    await client.next("session.usage.updated")
    assert not [e for e in client.events if e["type"].startswith("session.input_transcript")]
    assert sim.cursor == (-1, 0)


async def test_usage_comes_on_its_interval_and_close_gives_its_reason(connect: Any) -> None:
    client = await connect()
    usage = await client.next("session.usage.updated")
    assert usage["usage"]["seconds"] >= 0
    await client.send({"type": "session.close"})
    closed = await client.next("session.closed")
    assert closed["reason"] == "close_requested"
    assert server_event_problems(client.events) == []


async def test_an_expired_session_closes_with_its_reason(connect: Any, sim: LiveSimulator) -> None:
    client = await connect()
    await sim.expire()
    assert (await client.next("session.closed"))["reason"] == "expired"


async def test_the_model_is_not_a_url_parameter(sim: LiveSimulator) -> None:
    async with aiohttp.ClientSession() as http:
        response = await http.get(sim.live_url + "?model=gpt-live-1.1")
        assert response.status == 400
        assert (await response.json())["error"]["param"] == "model"


async def test_barge_in_stops_the_models_speech(connect: Any, sim: LiveSimulator) -> None:
    client = await connect()
    sim.realtime_pacing = True
    story = "A long story. " * 20
    await client.send({"type": "session.commentary.append", "content": story, "delegation_id": None})
    await client.next("session.output_transcript.delta")
    assert await sim.barge_in() == [""]
    with contextlib.suppress(TimeoutError):
        await client.next("never sent", timeout=0.5)  # read what streams for half a second
    said = "".join(e["delta"] for e in client.events if e["type"] == "session.output_transcript.delta")
    assert len(said) < len(story) // 4
    after = [e["type"] for e in client.events[-5:]]
    assert "session.output_audio.delta" in after  # the output goes on, silent
