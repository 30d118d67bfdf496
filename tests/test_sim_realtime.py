"""The simulator over real loopback websockets: protocol behaviour and the scripted model."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import numpy as np
import pytest
import websockets
from openai import AsyncOpenAI
from openai.types.realtime import ClientSecretCreateResponse, RealtimeServerEvent
from openai.types.realtime.realtime_session_create_response import RealtimeSessionCreateResponse
from pydantic import TypeAdapter

from engine.io import PCM16, PCMU
from engine.sim import Simulator, unknown_fields
from engine.sim.voice import speak
from engine.spec.script import Script

_EVENTS = TypeAdapter(RealtimeServerEvent)
_SERVER_OWNED = {"session.id", "session.object", "session.expires_at"}

GREETING = "Hello there, welcome to Snowy Peak Boards. How can I help you today?"
LOOKUP = {"type": "function", "name": "lookup_order", "description": "Find an order.", "parameters": {"type": "object"}}
TRANSFER = {
    "type": "function",
    "name": "transfer_to_returns",
    "description": "Handoff.",
    "parameters": {"type": "object"},
}


def assert_valid(event: dict[str, Any]) -> None:
    """Validates against openai's RealtimeServerEvent, rejecting any key its types do not declare."""
    model = _EVENTS.validate_python(event)
    unknown = set(unknown_fields(model))
    if event["type"] in ("session.created", "session.updated"):
        # The API adds id/object/expires_at, which the response-side session type declares.
        session = RealtimeSessionCreateResponse.model_validate(event["session"])
        assert unknown_fields(session) == [], event
        unknown -= _SERVER_OWNED
    assert not unknown, (event["type"], unknown)


def level_dbfs(samples: Any) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(np.square(samples))) + 1e-12))


def script(*turns: dict[str, Any]) -> Script:
    return Script.model_validate({"turns": list(turns)})


class Client:
    """A bare websocket client, as the runtime uses (the `websockets` library)."""

    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws = ws

    @classmethod
    async def open(cls, sim: Simulator, query: str = "?model=gpt-realtime", **kw: Any) -> Client:
        client = cls(await websockets.connect(sim.url + query, **kw))
        first = await client.recv()
        assert first["type"] == "session.created"
        return client

    async def send(self, **event: Any) -> None:
        await self.ws.send(json.dumps(event))

    async def recv(self, timeout: float = 5.0) -> dict[str, Any]:
        return json.loads(await asyncio.wait_for(self.ws.recv(), timeout))

    async def until(self, kind: str, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Every event up to and including the first of type `kind`."""
        events = []
        while True:
            event = await self.recv(timeout)
            events.append(event)
            if event["type"] == kind:
                return events

    async def configure(self, **session: Any) -> dict[str, Any]:
        await self.send(type="session.update", session={"type": "realtime", **session})
        return (await self.until("session.updated"))[-1]["session"]

    async def say(self, text: str) -> None:
        item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
        await self.send(type="conversation.item.create", item=item)
        await self.until("conversation.item.done")

    async def respond(self) -> list[dict[str, Any]]:
        await self.send(type="response.create")
        return await self.until("response.done")

    async def close(self) -> None:
        await self.ws.close()


async def test_say_turn_streams_a_full_valid_event_sequence() -> None:
    second = "Anything else?"
    async with Simulator(script({"user": "Hi", "model": [{"say": GREETING}, {"say": second}]})) as sim:
        client = await Client.open(sim)
        await client.configure(instructions="Be brief.", tools=[LOOKUP])
        await client.say("Hi")
        events = await client.respond()
        await client.close()

    for event in sim.sent:
        assert_valid(event)
    types = [e["type"] for e in events]
    assert types[0] == "response.created" and types[-1] == "response.done"
    first_item = events[1]["item"]["id"]
    of_first = [
        e["type"] for e in events if e.get("item_id") == first_item or e.get("item", {}).get("id") == first_item
    ]
    assert of_first[:3] == ["response.output_item.added", "conversation.item.added", "response.content_part.added"]
    assert of_first[-5:] == [
        "response.output_audio.done",
        "response.output_audio_transcript.done",
        "response.content_part.done",
        "response.output_item.done",
        "conversation.item.done",
    ]
    deltas = [e for e in events if e.get("item_id") == first_item]
    transcript = "".join(e["delta"] for e in deltas if e["type"] == "response.output_audio_transcript.delta")
    assert transcript == GREETING
    assert sum(e["type"] == "response.output_audio_transcript.delta" for e in deltas) > 3  # a few words each
    audio = [base64.b64decode(e["delta"]) for e in deltas if e["type"] == "response.output_audio.delta"]
    speech = speak(GREETING, PCM16)
    assert sum(map(len, audio)) == speech.duration_ms * 48  # pcm16 at 24 kHz
    assert 2500 < speech.duration_ms < 8000  # about the time it takes to say it
    assert all(20 * 48 <= len(chunk) <= 100 * 48 for chunk in audio[:-1])
    assert level_dbfs(PCM16.decode(b"".join(audio))) > -40  # audible, not silence
    # transcript and audio interleave rather than arriving in two blocks
    kinds = [e["type"] for e in deltas if e["type"].endswith(".delta")]
    assert kinds.index("response.output_audio.delta") < len(kinds) - kinds[::-1].index(
        "response.output_audio_transcript.delta"
    )
    done = events[-1]["response"]
    assert done["status"] == "completed"
    assert [c["transcript"] for item in done["output"] for c in item["content"]] == [GREETING, second]
    assert done["usage"]["output_tokens"] > 0 and done["usage"]["total_tokens"] > 0
    assert [e["type"] for e in sim.received] == ["session.update", "conversation.item.create", "response.create"]
    assert sim.mismatches == [] and sim.script_done


async def test_text_modality_and_g711_audio_sizes() -> None:
    text = "Sure thing."
    async with Simulator(
        script({"user": "a", "model": [{"say": text}]}, {"user": "b", "model": [{"say": text}]})
    ) as sim:
        client = await Client.open(sim)
        await client.configure(output_modalities=["text"])
        await client.say("a")
        events = await client.respond()
        assert "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta") == text
        assert not any("audio" in e["type"] for e in events)
        assert events[-1]["response"]["output"][0]["content"] == [{"type": "output_text", "text": text}]

        await client.configure(output_modalities=["audio"], audio={"output": {"format": {"type": "audio/pcmu"}}})
        await client.say("b")
        events = await client.respond()
        audio = b"".join(base64.b64decode(e["delta"]) for e in events if e["type"] == "response.output_audio.delta")
        assert len(audio) == speak(text, PCMU).duration_ms * 8  # G.711 at 8 kHz
        assert level_dbfs(PCMU.decode(audio)) > -40 and len(set(audio)) > 50  # speech, not the u-law silence code
        await client.close()
    for event in sim.sent:
        assert_valid(event)


async def test_call_turn_then_continues_after_function_output() -> None:
    turn = {
        "user": "Where is my order?",
        "model": [
            {"say": "Let me check."},
            {"call": "lookup_order", "args": {"id": 42}},
            {"say": "It ships tomorrow."},
        ],
    }
    async with Simulator(script(turn)) as sim:
        client = await Client.open(sim)
        await client.configure(tools=[LOOKUP])
        await client.say("Where is my order?")
        events = await client.respond()
        output = events[-1]["response"]["output"]
        assert [item["type"] for item in output] == ["message", "function_call"]
        call = output[1]
        assert call["name"] == "lookup_order" and json.loads(call["arguments"]) == {"id": 42}
        assert call["call_id"].startswith("call_") and call["status"] == "completed"
        deltas = [e["delta"] for e in events if e["type"] == "response.function_call_arguments.delta"]
        done = next(e for e in events if e["type"] == "response.function_call_arguments.done")
        assert "".join(deltas) == done["arguments"] == call["arguments"] and done["call_id"] == call["call_id"]

        output_item = {"type": "function_call_output", "call_id": call["call_id"], "output": '{"eta": "tomorrow"}'}
        await client.send(type="conversation.item.create", item=output_item)
        await client.until("conversation.item.done")
        events = await client.respond()
        assert events[-1]["response"]["output"][0]["content"][0]["transcript"] == "It ships tomorrow."
        # the turn is exhausted: no invented reply, an empty completed response
        events = await client.respond()
        assert events[-1]["response"]["status"] == "completed" and events[-1]["response"]["output"] == []
        await client.close()
    for event in sim.sent:
        assert_valid(event)


async def test_function_output_for_unknown_call_is_refused() -> None:
    async with Simulator() as sim:
        client = await Client.open(sim)
        await client.send(
            type="conversation.item.create", item={"type": "function_call_output", "call_id": "call_x", "output": "1"}
        )
        error = (await client.until("error"))[-1]["error"]
        assert error["param"] == "item.call_id" and "call_x" in error["message"]
        await client.close()


async def test_handoff_calls_transfer_tool_only_when_offered() -> None:
    turns = (
        {"user": "I want a refund", "model": [{"handoff": "returns"}]},
        {"user": "again", "model": [{"handoff": "returns"}]},
    )
    async with Simulator(script(*turns)) as sim:
        client = await Client.open(sim)
        await client.configure(tools=[LOOKUP, TRANSFER])
        await client.say("I want a refund")
        events = await client.respond()
        (call,) = events[-1]["response"]["output"]
        assert (call["type"], call["name"], call["arguments"]) == ("function_call", "transfer_to_returns", "{}")

        await client.configure(tools=[LOOKUP])  # the returns agent is no longer reachable
        await client.say("again")
        events = await client.respond()
        error = next(e for e in events if e["type"] == "error")["error"]
        assert error["code"] == "scripted_tool_not_offered" and error["type"] == "invalid_request_error"
        assert "transfer_to_returns" in error["message"] and "lookup_order" in error["message"]
        done = events[-1]["response"]
        assert done["status"] == "failed" and done["output"] == []
        assert done["status_details"]["error"]["code"] == "scripted_tool_not_offered"
        assert [(e.code, e.tool) for e in sim.script_errors] == [("scripted_tool_not_offered", "transfer_to_returns")]
        await client.close()
    for event in sim.sent:
        assert_valid(event)


async def test_refusal_keeps_earlier_says_and_allow_unoffered_overrides() -> None:
    turn = {"user": "x", "model": [{"say": "One moment."}, {"call": "made_up_tool", "args": {"a": 1}}]}
    async with Simulator(script(turn, dict(turn, user="y"))) as sim:
        client = await Client.open(sim)
        await client.say("x")
        events = await client.respond()
        assert [i["type"] for i in events[-1]["response"]["output"]] == ["message"]
        assert len(sim.script_errors) == 1

        sim.allow_unoffered = True  # a hallucinated tool call, on purpose
        await client.say("y")
        events = await client.respond()
        assert [i.get("name") for i in events[-1]["response"]["output"]] == [None, "made_up_tool"]
        assert len(sim.script_errors) == 1
        await client.close()


async def test_response_create_during_active_response_is_an_error() -> None:
    async with Simulator(script({"user": "go", "model": [{"say": GREETING}]}), realtime_pacing=True) as sim:
        client = await Client.open(sim)
        await client.say("go")
        await client.send(type="response.create")
        await client.until("response.output_audio.delta")
        await client.send(type="response.create", event_id="evt_second")
        error = (await client.until("error"))[-1]["error"]
        assert error["code"] == "conversation_already_has_active_response"
        assert error["event_id"] == "evt_second"
        await client.send(type="response.cancel")
        assert (await client.until("response.done"))[-1]["response"]["status"] == "cancelled"
        await client.close()


async def test_response_cancel_ends_the_stream_as_cancelled() -> None:
    async with Simulator(
        script({"user": "go", "model": [{"say": GREETING}, {"say": "Never said."}]}), realtime_pacing=True
    ) as sim:
        client = await Client.open(sim)
        await client.send(type="response.cancel")
        assert (await client.until("error"))[-1]["error"]["code"] == "response_cancel_not_active"
        await client.say("go")
        await client.send(type="response.create")
        await client.until("response.output_audio.delta")
        await client.send(type="response.cancel")
        events = await client.until("response.done")
        done = events[-1]["response"]
        assert done["status"] == "cancelled"
        assert done["status_details"] == {"type": "cancelled", "reason": "client_cancelled"}
        (item,) = done["output"]
        assert item["status"] == "incomplete"
        assert GREETING.startswith(item["content"][0]["transcript"]) and item["content"][0]["transcript"] != GREETING
        types = [e["type"] for e in events]
        assert "response.output_audio.done" in types and "response.output_item.done" in types
        await client.close()
    for event in sim.sent:
        assert_valid(event)


async def test_truncate_echoes_audio_end_ms_and_checks_bounds() -> None:
    async with Simulator(script({"user": "go", "model": [{"say": GREETING}]})) as sim:
        client = await Client.open(sim)
        await client.say("go")
        events = await client.respond()
        item_id = events[-1]["response"]["output"][0]["id"]
        await client.send(type="conversation.item.truncate", item_id=item_id, content_index=0, audio_end_ms=1500)
        truncated = (await client.until("conversation.item.truncated"))[-1]
        assert (truncated["item_id"], truncated["content_index"], truncated["audio_end_ms"]) == (item_id, 0, 1500)

        too_far = speak(GREETING, PCM16).duration_ms + 1
        await client.send(type="conversation.item.truncate", item_id=item_id, content_index=0, audio_end_ms=too_far)
        assert (await client.until("error"))[-1]["error"]["param"] == "audio_end_ms"
        await client.send(type="conversation.item.truncate", item_id="item_nope", content_index=0, audio_end_ms=1)
        assert (await client.until("error"))[-1]["error"]["param"] == "item_id"
        # the server keeps only what was heard
        await client.send(type="conversation.item.retrieve", item_id=item_id)
        retrieved = (await client.until("conversation.item.retrieved"))[-1]["item"]
        heard = GREETING[: len(GREETING) * 1500 // speak(GREETING, PCM16).duration_ms]
        assert retrieved["content"][0]["transcript"] == heard and 5 < len(heard) < len(GREETING)
        await client.close()
    for event in sim.sent:
        assert_valid(event)


async def test_cursor_survives_a_dropped_connection() -> None:
    turn = {"user": "order?", "model": [{"call": "lookup_order", "args": {"id": 1}}, {"say": "Found it."}]}
    async with Simulator(script(turn, {"user": "thanks", "model": [{"say": "Bye."}]})) as sim:
        client = await Client.open(sim)
        await client.configure(tools=[LOOKUP])
        await client.say("order?")
        await client.respond()
        assert sim.cursor == (0, 1)
        await sim.drop_connections()
        with pytest.raises(websockets.ConnectionClosedError):
            await client.recv()
        assert sim.open_connections == 0

        client = await Client.open(sim)  # a new session continues the script where it was
        await client.configure(tools=[LOOKUP])
        events = await client.respond()
        assert events[-1]["response"]["output"][0]["content"][0]["transcript"] == "Found it."
        await client.say("thanks")
        events = await client.respond()
        assert events[-1]["response"]["output"][0]["content"][0]["transcript"] == "Bye."
        assert sim.connections_opened == 2 and sim.script_done
        await client.close()


async def test_a_response_cut_by_a_drop_is_played_again_after_reconnect() -> None:
    turn = {"user": "go", "model": [{"say": "Short."}, {"say": GREETING}, {"call": "lookup_order"}]}
    async with Simulator(script(turn), realtime_pacing=True) as sim:
        client = await Client.open(sim)
        await client.configure(tools=[LOOKUP])
        await client.say("go")
        await client.send(type="response.create")
        events = await client.until("response.output_item.done")  # "Short." finished
        await client.until("response.output_audio.delta")  # the greeting has started
        await sim.drop_connections()
        assert sim.cursor == (0, 1)  # the greeting and the call were not finished

        client = await Client.open(sim)
        await client.configure(tools=[LOOKUP])
        sim.realtime_pacing = False
        events = await client.respond()
        output = events[-1]["response"]["output"]
        assert output[0]["content"][0]["transcript"] == GREETING and output[1]["name"] == "lookup_order"
        await client.close()


async def test_session_update_merges_and_echoes_the_full_session() -> None:
    async with Simulator() as sim:
        client = await Client.open(sim, query="?model=gpt-realtime-mini")
        session = await client.configure(
            instructions="You are Snowy.",
            tools=[LOOKUP, TRANSFER],
            audio={
                "output": {"voice": "marin"},
                "input": {"turn_detection": {"type": "semantic_vad", "eagerness": "low"}},
            },
        )
        assert session["model"] == "gpt-realtime-mini" and session["instructions"] == "You are Snowy."
        assert session["audio"]["output"]["voice"] == "marin"
        assert session["audio"]["output"]["format"] == {"type": "audio/pcm", "rate": 24000}  # kept
        assert session["audio"]["input"]["turn_detection"] == {
            "type": "semantic_vad",
            "eagerness": "low",
            "create_response": True,
            "interrupt_response": True,
        }
        assert [t["name"] for t in session["tools"]] == ["lookup_order", "transfer_to_returns"]

        session = await client.configure(tools=[TRANSFER], audio={"input": {"format": {"type": "audio/pcmu"}}})
        assert [t["name"] for t in session["tools"]] == ["transfer_to_returns"]  # replaced whole
        assert session["audio"]["input"]["format"] == {"type": "audio/pcmu"}
        assert session["instructions"] == "You are Snowy." and session["audio"]["output"]["voice"] == "marin"
        await client.close()
    for event in sim.sent:
        assert_valid(event)


def _shape(value: Any) -> Any:
    """The keys of a session, recursively (values aside): what a client can read from it."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    return type(value).__name__


async def test_session_updated_reports_the_full_effective_session_like_session_created() -> None:
    config = {
        "type": "realtime",
        "instructions": "Agent B.",
        "audio": {
            "input": {
                "format": {"type": "audio/pcm"},
                "turn_detection": {"type": "server_vad", "silence_duration_ms": 800},
            },
            "output": {"voice": "marin"},
        },
    }
    async with Simulator() as sim:
        client = await Client.open(sim)
        updated = await client.configure(**{k: v for k, v in config.items() if k != "type"})
        await client.close()
        openai = AsyncOpenAI(api_key="sk", base_url=sim.http_base)
        secret = (await openai.realtime.client_secrets.with_raw_response.create(session=config)).http_response.json()
        async with websockets.connect(
            sim.url + "?model=gpt-realtime", additional_headers={"Authorization": f"Bearer {secret['value']}"}
        ) as ws:
            created = json.loads(await ws.recv())["session"]
    vad = updated["audio"]["input"]["turn_detection"]
    assert vad == {
        "type": "server_vad",
        "threshold": 0.5,
        "prefix_padding_ms": 300,
        "silence_duration_ms": 800,
        "idle_timeout_ms": None,
        "create_response": True,
        "interrupt_response": True,
    }
    assert updated["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": 24000}
    server_owned = ("id", "expires_at")
    assert {k: v for k, v in updated.items() if k not in server_owned} == {
        k: v for k, v in created.items() if k not in server_owned
    }
    assert _shape(updated) == _shape(created)
    RealtimeSessionCreateResponse.model_validate(updated)


async def test_voice_change_after_audio_is_refused() -> None:
    async with Simulator(script({"user": "hi", "model": [{"say": "Hi!"}]})) as sim:
        client = await Client.open(sim)
        assert (await client.configure(audio={"output": {"voice": "cedar"}}))["audio"]["output"]["voice"] == "cedar"
        await client.say("hi")
        await client.respond()
        await client.send(type="session.update", session={"type": "realtime", "audio": {"output": {"voice": "ash"}}})
        error = (await client.until("error"))[-1]["error"]
        assert error["code"] == "cannot_update_voice"
        # the same voice, or other fields, still update
        session = await client.configure(instructions="New agent.", audio={"output": {"voice": "cedar"}})
        assert session["instructions"] == "New agent." and session["audio"]["output"]["voice"] == "cedar"
        await client.close()


@pytest.mark.parametrize(
    ("frame", "param"),
    [
        ("{not json", None),
        ('["a list"]', None),
        ('{"type": "bogus.event"}', "type"),
        ('{"event_id": "e1"}', "type"),
        ('{"type": "session.update", "session": {"type": "realtime", "voice": "alloy"}}', "session.voice"),
        ('{"type": "session.update", "session": {"instructions": "x"}}', "session.type"),
        ('{"type": "conversation.item.truncate", "item_id": "x", "content_index": 0}', "audio_end_ms"),
        ('{"type": "input_audio_buffer.append", "audio": "***"}', "audio"),
    ],
)
async def test_malformed_client_events_get_an_error_and_the_connection_stays_open(
    frame: str, param: str | None
) -> None:
    async with Simulator() as sim:
        client = await Client.open(sim)
        await client.ws.send(frame)
        error = (await client.until("error"))[-1]["error"]
        assert error["type"] == "invalid_request_error" and error["param"] == param
        await client.configure(instructions="still here")
        await client.close()
    for event in sim.sent:
        assert_valid(event)


async def test_binary_frame_is_refused_without_closing() -> None:
    async with Simulator() as sim:
        client = await Client.open(sim)
        await client.ws.send(b"\x00\x01")
        assert (await client.until("error"))[-1]["error"]["type"] == "invalid_request_error"
        await client.configure()
        await client.close()


async def test_mismatched_user_text_still_advances_and_is_recorded() -> None:
    async with Simulator(script({"user": "I need help", "model": [{"say": "Sure."}]})) as sim:
        client = await Client.open(sim)
        await client.say("i   NEED help")  # whitespace and case are not a mismatch
        assert sim.mismatches == []
        await client.say("something else entirely")  # beyond the script's last user turn
        assert [(m.turn, m.expected, m.received) for m in sim.mismatches] == [(None, None, "something else entirely")]
        events = await client.respond()
        assert events[-1]["response"]["output"] == []
        await client.close()

    async with Simulator(script({"user": "I need help", "model": [{"say": "Sure."}]})) as sim:
        client = await Client.open(sim)
        await client.say("Hello?")
        assert [(m.turn, m.expected, m.received) for m in sim.mismatches] == [(0, "I need help", "Hello?")]
        events = await client.respond()
        assert events[-1]["response"]["output"][0]["content"][0]["transcript"] == "Sure."
        await client.close()


async def test_model_opened_turns_play_without_a_user_message() -> None:
    turns = ({"model": [{"say": "Welcome!"}]}, {"user": "hi", "model": [{"say": "How can I help?"}]})
    async with Simulator(script(*turns)) as sim:
        client = await Client.open(sim)
        events = await client.respond()
        assert events[-1]["response"]["output"][0]["content"][0]["transcript"] == "Welcome!"
        assert (await client.respond())[-1]["response"]["output"] == []  # waits for the user turn
        await client.say("hi")
        events = await client.respond()
        assert events[-1]["response"]["output"][0]["content"][0]["transcript"] == "How can I help?"
        await client.close()


async def test_input_audio_commit_creates_a_user_turn_with_the_script_transcript() -> None:
    async with Simulator(script({"user": "My phone is 555", "model": [{"say": "Thanks."}]})) as sim:
        client = await Client.open(sim)
        await client.configure(audio={"input": {"transcription": {"model": "gpt-4o-mini-transcribe"}}})
        await client.send(type="input_audio_buffer.append", audio=base64.b64encode(bytes(48 * 50)).decode())
        await client.send(type="input_audio_buffer.commit")
        assert (await client.until("error"))[-1]["error"]["code"] == "input_audio_buffer_commit_empty"
        await client.send(type="input_audio_buffer.append", audio=base64.b64encode(bytes(48 * 200)).decode())
        await client.send(type="input_audio_buffer.commit")
        events = await client.until("conversation.item.input_audio_transcription.completed")
        committed = next(e for e in events if e["type"] == "input_audio_buffer.committed")
        assert events[-1]["item_id"] == committed["item_id"] and events[-1]["transcript"] == "My phone is 555"
        assert sim.cursor == (0, 0)
        await client.send(type="input_audio_buffer.clear")
        await client.until("input_audio_buffer.cleared")
        await client.close()
    for event in sim.sent:
        assert_valid(event)


async def test_barge_in_sends_speech_started_and_cancels_the_response() -> None:
    async with Simulator(script({"user": "go", "model": [{"say": GREETING}]}), realtime_pacing=True) as sim:
        client = await Client.open(sim)
        await client.say("go")
        await client.send(type="response.create")
        await client.until("response.output_audio.delta")
        (item_id,) = await sim.barge_in(audio_start_ms=1234)
        events = await client.until("response.done")
        started = next(e for e in events if e["type"] == "input_audio_buffer.speech_started")
        assert (started["item_id"], started["audio_start_ms"]) == (item_id, 1234)
        assert events[-1]["response"]["status_details"]["reason"] == "turn_detected"
        await client.close()
    for event in sim.sent:
        assert_valid(event)


async def test_send_raw_and_send_error_reach_the_client() -> None:
    async with Simulator() as sim:
        client = await Client.open(sim)
        await sim.send_raw("{garbage")
        assert await asyncio.wait_for(client.ws.recv(), 5) == "{garbage"
        await sim.send_error("boom", code="overloaded")
        error = await client.recv()
        assert error["type"] == "error" and error["error"]["code"] == "overloaded"
        assert error["error"]["type"] == "server_error"
        assert_valid(error)
        await client.close()
        await asyncio.sleep(0.05)
        with pytest.raises(RuntimeError):
            await sim.send_error("nobody listens")


async def test_wait_for_sees_past_and_future_client_events() -> None:
    async with Simulator() as sim:
        client = await Client.open(sim)
        await client.configure(instructions="a")
        assert (await sim.wait_for("session.update"))["session"]["instructions"] == "a"
        since = len(sim.received)
        waiter = asyncio.create_task(sim.wait_for(lambda e: e.get("type") == "session.update", since=since))
        await client.configure(instructions="b")
        assert (await waiter)["session"]["instructions"] == "b"
        assert (await sim.wait_for_sent("session.updated", since=2))["session"]["instructions"] == "b"
        with pytest.raises(TimeoutError):
            await sim.wait_for("response.create", timeout=0.05)
        await client.close()


async def test_pacing_changes_timing_not_events() -> None:
    async def run(pacing: bool) -> list[tuple[str, Any]]:
        turn = {"user": "hi", "model": [{"say": "Hi there."}, {"call": "lookup_order", "args": {"id": 7}}]}
        async with Simulator(script(turn), realtime_pacing=pacing) as sim:
            client = await Client.open(sim)
            await client.configure(tools=[LOOKUP])
            await client.say("hi")
            await client.respond()
            await client.close()
        return [(e["type"], e.get("delta")) for e in sim.sent]

    assert await run(True) == await run(False)


async def test_auth_model_query_and_client_secrets() -> None:
    async with Simulator(require_key="sk-right") as sim:
        with pytest.raises(websockets.InvalidStatus) as denied:
            await websockets.connect(
                sim.url + "?model=gpt-realtime", additional_headers={"Authorization": "Bearer bad"}
            )
        assert denied.value.response.status_code == 401
        with pytest.raises(websockets.InvalidStatus) as no_model:
            await websockets.connect(sim.url, additional_headers={"Authorization": "Bearer sk-right"})
        assert no_model.value.response.status_code == 400

        client = await Client.open(sim, additional_headers={"api-key": "sk-right"})
        await client.close()
        client = await Client.open(
            sim, query="?call_id=rtc_123", additional_headers={"Authorization": "Bearer sk-right"}
        )
        await client.close()

        openai = AsyncOpenAI(api_key="sk-right", base_url=sim.http_base)
        raw = await openai.realtime.client_secrets.with_raw_response.create(
            session={"type": "realtime", "instructions": "From the secret.", "audio": {"output": {"voice": "verse"}}}
        )
        secret = ClientSecretCreateResponse.model_validate(raw.http_response.json())
        assert unknown_fields(secret) == []
        assert secret.value.startswith("ek_") and secret.session.instructions == "From the secret."
        client = await Client.open(sim, additional_headers={"Authorization": f"Bearer {secret.value}"})
        session = await client.configure()
        assert session["instructions"] == "From the secret." and session["audio"]["output"]["voice"] == "verse"
        await client.close()


async def test_openai_sdk_realtime_client_parses_every_event() -> None:
    turn = {"user": "hi", "model": [{"say": GREETING}, {"call": "lookup_order", "args": {"id": 3}}]}
    async with Simulator(script(turn)) as sim:
        openai = AsyncOpenAI(api_key="sk-test", base_url=sim.http_base, websocket_base_url=sim.ws_base)
        async with openai.realtime.connect(model="gpt-realtime") as conn:
            await conn.session.update(session={"type": "realtime", "tools": [LOOKUP]})
            await conn.conversation.item.create(
                item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
            )
            await conn.response.create()
            seen = []
            async for event in conn:
                seen.append(event)
                if event.type == "response.done":
                    break
        assert seen[0].type == "session.created"
        done = seen[-1].response
        assert done.status == "completed" and done.output[-1].type == "function_call"
        assert sim.script_done


def test_start_in_thread_serves_synchronous_callers() -> None:
    from websockets.sync.client import connect

    handle = Simulator(script({"model": [{"say": "Hello."}]})).start_in_thread()
    try:
        with connect(handle.url + "?model=gpt-realtime") as ws:
            assert json.loads(ws.recv(timeout=5))["type"] == "session.created"
            ws.send(json.dumps({"type": "response.create"}))
            while (event := json.loads(ws.recv(timeout=5)))["type"] != "response.done":
                pass
            assert event["response"]["output"][0]["content"][0]["transcript"] == "Hello."
            assert handle.call(handle.sim.wait_for("response.create"))["type"] == "response.create"
    finally:
        handle.stop()
    assert handle.sim.script_done


async def test_the_simulator_serves_the_sip_calls_api_to_the_openai_client():
    import openai

    from engine.sim import Simulator
    from engine.spec.script import Say, Script, Turn

    async with Simulator(Script(turns=[Turn(model=[Say(say="Hello.")])])) as sim:
        client = openai.AsyncOpenAI(api_key="sk-sim", base_url=sim.http_base)
        session = {"type": "realtime", "model": "gpt-realtime-2.1", "instructions": "Hi."}
        await client.realtime.calls.accept("rtc_1", **session)
        await client.realtime.calls.refer("rtc_1", target_uri="tel:+15550100")
        await client.realtime.calls.hangup("rtc_1")
        await client.realtime.calls.reject("rtc_2", status_code=486)
        with pytest.raises(openai.BadRequestError):
            await client.realtime.calls.accept(
                "rtc_3", type="realtime", model="gpt-realtime-2.1", extra_body={"voyce": "x"}
            )
        await client.close()
    assert [(r["call_id"], r["action"]) for r in sim.call_requests] == [
        ("rtc_1", "accept"),
        ("rtc_1", "refer"),
        ("rtc_1", "hangup"),
        ("rtc_2", "reject"),
    ]
    assert sim.call_requests[1]["body"] == {"target_uri": "tel:+15550100"}
    assert sim.call_requests[0]["body"]["instructions"] == "Hi."
