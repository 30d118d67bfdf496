"""The session core against an independent server (tests/wire.py): many subscribers, audio input,
nothing a server sends is fatal, and the wire rules that users hit (handoff settings, barge-in,
guardrails of the agent that spoke)."""

from __future__ import annotations

import asyncio
import base64
import gc
import json
import logging
from typing import Any

import pytest
from conftest import MINI
from wire import WireConnection, WireServer
from wire import collect as _collect
from wire import function_outputs as _outputs
from wire import until as _until

from engine.compile import compile_session
from engine.compile.session import deep_merge
from engine.errors import ConnectionLost, SessionClosed
from engine.runtime import GraphRuntime, PlaybackClock, Session
from engine.runtime import events as ev
from engine.validate import load_graph

# --- subscribers -----------------------------------------------------------------------------------


async def test_two_subscribers_each_see_every_event_and_audio_only_when_asked(mini):
    async def model(conn: WireConnection, event: dict[str, Any]) -> None:
        rid = await conn.created()
        item = {"id": "item_a", "type": "message", "role": "assistant", "content": []}
        await conn.send({"type": "response.output_item.added", "response_id": rid, "output_index": 0, "item": item})
        for _ in range(3):
            delta = {"response_id": rid, "item_id": "item_a", "output_index": 0, "content_index": 0}
            await conn.send({"type": "response.output_audio.delta", **delta, "delta": "AAAA"})
        await conn.done(rid, [item])

    async with WireServer(model) as server, Session(mini, url=server.url, api_key="k") as session:
        console, recorder = session.subscribe(audio=True), session.subscribe()
        (heard, t1), (logged, t2) = _collect(console), _collect(recorder)
        await session.send_text("hi")
        await session.wait_idle(5)
    await asyncio.wait_for(asyncio.gather(t1, t2), 5)
    audio = [e for e in heard if isinstance(e, ev.Audio)]
    assert len(audio) == 3 and not any(isinstance(e, ev.Audio) for e in logged)
    assert [e for e in heard if not isinstance(e, ev.Audio)] == logged  # the same events, in the same order
    assert any(isinstance(e, ev.AudioStarted) for e in logged)
    assert any(isinstance(e, ev.AgentEnd) for e in logged)  # both saw the end of the call


async def test_unread_events_stay_bounded(mini):
    """Nobody reads the session's own iterator: its queue stops at its bound (with one Overflow)."""

    async def model(conn: WireConnection, event: dict[str, Any]) -> None:
        rid = await conn.created()
        for _ in range(6000):
            delta = {"response_id": rid, "item_id": "item_b", "output_index": 0, "content_index": 0}
            await conn.send({"type": "response.output_audio.delta", **delta, "delta": "AAAA"})
        await conn.done(rid, [])

    async with WireServer(model) as server, Session(mini, url=server.url, api_key="k") as session:
        await session.send_text("hi")
        await session.wait_idle(20)
        queued = len(session._events._queue)
    from engine.runtime.bus import DEFAULT_MAXSIZE

    assert queued <= DEFAULT_MAXSIZE + 1
    events = [e async for e in session]
    assert any(isinstance(e, ev.Overflow) and e.dropped > 1000 for e in events)


async def test_a_session_whose_consumers_subscribe_keeps_no_unread_stream(mini):
    """`iterable=False` (what `engine serve` makes): a call's audio is not kept for an iterator nobody
    reads. The default session holds thousands of deltas; this one holds none, and says why it
    cannot be iterated."""
    payload = "A" * 1280  # 20 ms of pcm16 at 24 kHz

    async def model(conn: WireConnection, event: dict[str, Any]) -> None:
        rid = await conn.created()
        for _ in range(2000):
            delta = {"response_id": rid, "item_id": "item_b", "output_index": 0, "content_index": 0}
            await conn.send({"type": "response.output_audio.delta", **delta, "delta": payload})
        await conn.done(rid, [])

    async def held(**options: Any) -> int:
        """Bytes of audio payloads the session still references once the reply is over."""
        async with WireServer(model) as server, Session(mini, url=server.url, api_key="k", **options) as session:
            _, reader = _collect(session.subscribe())  # a frontend, reading what it asked for (no audio)
            await session.send_text("hi")
            await session.wait_idle(20)
            gc.collect()
            kept = sum(len(o.data) for o in gc.get_objects() if isinstance(o, ev.Audio))
            reader.cancel()
            if not options.get("iterable", True):
                with pytest.raises(TypeError, match="subscribe"):
                    session.__aiter__()
            return kept

    assert await held() >= 2000 * len(payload)  # the default stream holds every delta, unread
    assert await held(iterable=False) == 0


# --- audio input -----------------------------------------------------------------------------------


async def test_audio_input_goes_out_in_the_input_format_and_buffer_events_come_back(mini):
    async def on_commit(conn: WireConnection, event: dict[str, Any]) -> None:
        await conn.send({"type": "input_audio_buffer.speech_started", "audio_start_ms": 20, "item_id": "item_u"})
        await conn.send({"type": "input_audio_buffer.speech_stopped", "audio_end_ms": 900, "item_id": "item_u"})
        await conn.send({"type": "input_audio_buffer.committed", "item_id": "item_u", "previous_item_id": None})
        content = [{"type": "input_audio", "transcript": None}]
        item = {"id": "item_u", "type": "message", "role": "user", "content": content}
        await conn.send({"type": "conversation.item.added", "item": item})
        base = {"item_id": "item_u", "content_index": 0}
        await conn.send({"type": "conversation.item.input_audio_transcription.delta", **base, "delta": "hello"})
        await conn.send(
            {"type": "conversation.item.input_audio_transcription.completed", **base, "transcript": "hello there"}
        )

    async def on_timeout_probe(conn: WireConnection, event: dict[str, Any]) -> None:
        await conn.send({"type": "input_audio_buffer.timeout_triggered", "audio_start_ms": 0, "audio_end_ms": 0})

    hooks = {"input_audio_buffer.commit": on_commit, "input_audio_buffer.clear": on_timeout_probe}
    pcm = bytes(range(256)) * 10
    async with WireServer(hooks=hooks) as server, Session(mini, url=server.url, api_key="k") as session:
        seen, task = _collect(session.subscribe())
        await session.send_audio(pcm)
        await session.clear_audio()
        await session.send_audio(pcm[:100])
        await session.commit_audio()
        await session.wait_idle(5)
        await _until(lambda: any(isinstance(e, ev.TranscriptDelta) and e.done for e in seen))
        assert session.history.get("item_u")["text"] == "hello there"
    await task
    appended = server.of("input_audio_buffer.append")
    assert [base64.b64decode(e["audio"]) for e in appended] == [pcm, pcm[:100]]
    kinds = [e["type"] for e in server.received]
    assert kinds.index("input_audio_buffer.commit") < kinds.index("response.create")  # push-to-talk asks
    assert ev.SpeechStarted("item_u", 20) in seen and ev.SpeechStopped("item_u", 900) in seen
    assert ev.AudioCommitted("item_u") in seen and ev.InputTimeout() in seen
    assert ev.TranscriptDelta("user", "item_u", "hello") in seen
    assert ev.TranscriptDelta("user", "item_u", "hello there", done=True) in seen


# --- nothing a server sends is fatal ------------------------------------------------------------------

MALFORMED = [
    '{"type": ["response.done"]}',
    '{"type": {"a": 1}}',
    '{"type": 5}',
    '{"type": null}',
    "[1, 2]",
    '"text"',
    "null",
    "{not json",
    '{"type": "response.output_item.done", "item": 5}',
    '{"type": "response.output_audio.delta", "item_id": 3, "delta": null}',
    '{"type": "response.output_audio_transcript.delta", "item_id": "x", "delta": 12}',
    '{"type": "session.updated", "session": [1]}',
    '{"type": "error", "error": "boom"}',
    '{"type": "response.created", "response": 7}',
]


@pytest.mark.parametrize("frame", MALFORMED)
async def test_any_malformed_frame_is_an_error_event_and_the_session_goes_on(mini, frame):
    async def model(conn: WireConnection, event: dict[str, Any]) -> list[dict[str, Any]]:
        if len(conn.server.of("response.create")) == 1:
            await conn.raw(frame)
            return [conn.call("lookup", {"query": "x"})]
        return []

    async with WireServer(model) as server, Session(mini, url=server.url, api_key="k") as session:
        seen, task = _collect(session.subscribe())
        await session.send_text("hi")
        await session.wait_idle(5)
        await session.send_text("again")  # the listener is alive: a later turn works
        await session.wait_idle(5)
    await task
    assert [json.loads(o["output"]) for o in _outputs(server)] == [{"query": "x", "found": True}]
    assert len(server.of("response.create")) == 3
    assert any(isinstance(e, ev.Error) for e in seen)


async def test_a_malformed_response_done_does_not_strand_the_waiting_message(mini):
    async def model(conn: WireConnection, event: dict[str, Any]) -> list[dict[str, Any]] | None:
        if len(conn.server.of("response.create")) > 1:
            return []
        await conn.created()
        await _until(lambda: len(conn.server.of("conversation.item.create")) == 2)  # the user spoke again
        conn.active = None
        await conn.raw('{"type": "response.done", "response": "garbage"}')
        return None

    async with WireServer(model) as server, Session(mini, url=server.url, api_key="k") as session:
        await session.send_text("hi")
        await _until(lambda: session.sequencer.active)
        await session.send_text("are you there?")  # waits behind the active response
        await session.wait_idle(5)
    assert len(server.of("response.create")) == 2


async def test_the_same_call_id_runs_once(mini):
    async def model(conn: WireConnection, event: dict[str, Any]) -> list[dict[str, Any]]:
        if len(conn.server.of("response.create")) > 1:
            return []
        call = conn.call("lookup", {"query": "x"})
        return [call, {**call, "id": "item_again"}]

    async with WireServer(model) as server, Session(mini, url=server.url, api_key="k") as session:
        seen, task = _collect(session.subscribe())
        await session.send_text("hi")
        await session.wait_idle(5)
    await task
    assert len(_outputs(server)) == 1
    assert sum(isinstance(e, ev.ToolStart) for e in seen) == 1
    assert any(isinstance(e, ev.Error) and e.code == "duplicate_call" for e in seen)


async def test_an_events_file_on_a_full_disk_is_a_warning_not_a_dead_session(mini, caplog):
    async def model(conn: WireConnection, event: dict[str, Any]) -> list[dict[str, Any]]:
        return [conn.call("lookup", {"query": "x" * 5000})] if len(conn.server.of("response.create")) == 1 else []

    caplog.set_level(logging.WARNING, "engine.runtime")
    async with WireServer(model) as server, Session(mini, url=server.url, api_key="k", events_file="/dev/full") as s:
        await s.send_text("hi")
        await s.wait_idle(5)
        await s.send_text("again")
        await s.wait_idle(5)
    assert len(_outputs(server)) == 1 and len(server.of("response.create")) == 3
    assert "cannot be written" in caplog.text


async def test_closed_and_lost_are_different_errors(mini):
    async with WireServer() as server:
        session = Session(mini, url=server.url, api_key="k", reconnect_attempts=1, reconnect_backoff=0.01)
        await session.connect()
        await session.close()
        with pytest.raises(SessionClosed):
            await session.send_text("hi")
        lost = Session(mini, url=server.url, api_key="k", reconnect_attempts=1, reconnect_backoff=0.01)
        await lost.connect()
    # The server is gone: the reconnect gives up.
    with pytest.raises(ConnectionLost):
        await lost.wait_idle(5)
    with pytest.raises(ConnectionLost):
        await lost.send_text("hi")
    assert issubclass(SessionClosed, ConnectionError) and issubclass(ConnectionLost, ConnectionError)
    await lost.close()


# --- wire fidelity ------------------------------------------------------------------------------------

FIDDLY = MINI.replace(
    """    tools: [lookup]
    handoffs: [helper]""",
    """    tools: [lookup]
    handoffs: [helper]
    session:
      audio:
        input: {noise_reduction: {type: far_field}, turn_detection: {type: semantic_vad, eagerness: high}}
        output: {speed: 1.3}""",
)


async def test_after_a_handoff_the_servers_session_is_what_compile_prints_for_the_new_agent(write_graph):
    doc = load_graph(write_graph(FIDDLY))

    async def model(conn: WireConnection, event: dict[str, Any]) -> list[dict[str, Any]]:
        return [conn.call("transfer_to_helper")] if len(conn.server.of("response.create")) == 1 else []

    async with WireServer(model) as server, Session(doc, url=server.url, api_key="k") as session:
        await session.send_text("hi")
        await session.wait_idle(5)
    merged: dict[str, Any] = {}
    for update in server.of("session.update"):  # merged key by key, as the API does
        merged = deep_merge(merged, update["session"])
    expected = compile_session(doc, "helper")["session"]
    assert "turn_detection" not in expected["audio"]["input"]  # the helper leaves these to the API
    assert merged["audio"]["input"]["turn_detection"]["type"] == "server_vad"
    assert merged["audio"]["input"]["turn_detection"]["interrupt_response"] is True
    assert merged["audio"]["input"]["noise_reduction"] is None
    assert merged["audio"]["output"]["speed"] == 1.0
    for key, value in expected.items():
        if key != "audio":
            assert merged[key] == value, key


async def test_a_graph_without_agent_settings_sends_exactly_what_compile_prints(mini):
    async def model(conn: WireConnection, event: dict[str, Any]) -> list[dict[str, Any]]:
        return [conn.call("transfer_to_helper")] if len(conn.server.of("response.create")) == 1 else []

    async with WireServer(model) as server, Session(mini, url=server.url, api_key="k") as session:
        await session.send_text("hi")
        await session.wait_idle(5)
    assert server.of("session.update")[-1]["session"] == compile_session(mini, "helper")["session"]


NO_INTERRUPT = MINI.replace(
    "agents:",
    "session: {audio: {input: {turn_detection: {type: server_vad, interrupt_response: false}}}}\nagents:",
)


async def test_barge_in_when_the_server_does_not_cancel_cuts_and_cancels_the_reply(write_graph):
    doc = load_graph(write_graph(NO_INTERRUPT))

    async def model(conn: WireConnection, event: dict[str, Any]) -> None:
        rid = await conn.created()
        item = {"id": "item_r", "type": "message", "role": "assistant", "content": []}
        await conn.send({"type": "response.output_item.added", "response_id": rid, "output_index": 0, "item": item})
        delta = {"response_id": rid, "item_id": "item_r", "output_index": 0, "content_index": 0}
        audio = base64.b64encode(bytes(960)).decode()  # 20 ms of pcm16 at 24 kHz
        in_flight = 5  # deltas already on their way when the cancel arrives
        for i in range(200):  # streams on: the server does not cancel on speech
            if i == 10:
                await conn.send({"type": "input_audio_buffer.speech_started", "audio_start_ms": 0, "item_id": "u"})
            if conn.server.of("response.cancel"):
                in_flight -= 1
                if not in_flight:
                    break
            await conn.send({"type": "response.output_audio.delta", **delta, "delta": audio})
            await asyncio.sleep(0.005)
        await conn.done(rid, [item], status="cancelled")

    async with WireServer(model) as server, Session(doc, url=server.url, api_key="k") as session:
        seen, task = _collect(session.subscribe(audio=True))
        await session.request_response()
        await session.wait_idle(10)
    await task
    assert server.of("response.cancel"), "the engine must cancel a reply the server keeps streaming"
    assert server.of("conversation.item.truncate")[0]["item_id"] == "item_r"
    cut = next(i for i, e in enumerate(seen) if isinstance(e, ev.AudioInterrupted))
    assert not any(isinstance(e, ev.Audio) for e in seen[cut:]), "audio reached the listener after the cut"


GUARDED = (
    MINI.replace(
        "    handoffs: [helper]\n",
        "    handoffs: [helper]\n    guardrails: [competitors]\n",
        1,
    ).replace(
        "    handoffs: [greeter]\n",
        "    handoffs: [greeter]\n    guardrails: []\n",
    )
    + "guardrails:\n  competitors: {keywords: [MegaBoards], category: OFF_BRAND, every_chars: 10}\n"
)


async def test_a_guardrail_checks_the_agent_that_produced_the_text_not_the_current_one(write_graph):
    doc = load_graph(write_graph(GUARDED))

    async def model(conn: WireConnection, event: dict[str, Any]) -> list[dict[str, Any]] | None:
        if len(conn.server.of("response.create")) > 1:
            return []
        rid = await conn.created()
        call = conn.call("transfer_to_helper")
        await conn.send({"type": "response.output_item.done", "response_id": rid, "output_index": 0, "item": call})
        await _until(lambda: bool(_outputs(conn.server)))  # the handoff is done before the text comes
        item = {"id": "item_g", "type": "message", "role": "assistant", "content": []}
        await conn.send({"type": "response.output_item.added", "response_id": rid, "output_index": 1, "item": item})
        base = {"response_id": rid, "item_id": "item_g", "output_index": 1, "content_index": 0}
        await conn.send({"type": "response.output_audio_transcript.delta", **base, "delta": "Try MegaBoards, "})
        await asyncio.sleep(0.05)
        await conn.send({"type": "response.output_audio_transcript.done", **base, "transcript": "Try MegaBoards."})
        await asyncio.sleep(0.05)
        await conn.done(rid, [call, item])
        return None

    async with WireServer(model) as server, Session(doc, url=server.url, api_key="k") as session:
        seen, task = _collect(session.subscribe())
        await session.send_text("hi")
        await session.wait_idle(5)
    await task
    [trip] = [e for e in seen if isinstance(e, ev.GuardrailTripped)]
    assert trip.agent == "greeter" and trip.guardrail == "competitors"
    assert server.of("response.cancel"), "a trip while the reply is active cancels it"
    corrective = [e for e in server.of("conversation.item.create") if e["item"].get("role") == "system"]
    assert corrective and "competitors" in corrective[0]["item"]["content"][0]["text"]


async def test_a_response_create_refused_as_overlapping_is_sent_again_after_that_response(mini):
    async def model(conn: WireConnection, event: dict[str, Any]) -> list[dict[str, Any]] | None:
        if len(conn.server.of("response.create")) == 1:
            # Our create crossed a response the server started itself (turn detection).
            await conn.error("conversation_already_has_active_response", "A response is active.", event)
            rid = await conn.created()
            await asyncio.sleep(0.02)
            await conn.done(rid, [])
            return None
        return []

    async with WireServer(model) as server, Session(mini, url=server.url, api_key="k") as session:
        await session.send_text("hi")
        await _until(lambda: len(server.of("response.create")) == 2)
        await session.wait_idle(5)


async def test_playback_ends_at_response_done_even_without_audio_done(mini):
    """Audio that finished playing long ago is not cut when the user speaks next."""
    now = [0.0]
    clock = PlaybackClock(clock=lambda: now[0])

    async def model(conn: WireConnection, event: dict[str, Any]) -> None:
        rid = await conn.created()
        item = {"id": "item_p", "type": "message", "role": "assistant", "content": []}
        delta = {"response_id": rid, "item_id": "item_p", "output_index": 0, "content_index": 0}
        await conn.send(
            {"type": "response.output_audio.delta", **delta, "delta": base64.b64encode(bytes(4800)).decode()}
        )
        await conn.done(rid, [item])  # no response.output_audio.done

    async def speak(conn: WireConnection, event: dict[str, Any]) -> None:
        await conn.send({"type": "input_audio_buffer.speech_started", "audio_start_ms": 0, "item_id": "u"})

    server = WireServer(model, hooks={"input_audio_buffer.commit": speak})
    async with server, Session(mini, url=server.url, api_key="k", playback=clock) as session:
        seen, task = _collect(session.subscribe())
        await session.request_response()
        await session.wait_idle(5)
        now[0] = 60.0  # a minute later: the 100 ms reply has long been heard
        await session.commit_audio()
        await _until(lambda: any(isinstance(e, ev.SpeechStarted) for e in seen))
        await session.wait_idle(5)
    await task
    assert not server.of("conversation.item.truncate")


# --- one runtime, many sessions -----------------------------------------------------------------------


async def test_sessions_share_one_graph_runtime(mini):
    turns: dict[int, int] = {}

    async def model(conn: WireConnection, event: dict[str, Any]) -> list[dict[str, Any]]:
        turns[id(conn)] = turns.get(id(conn), 0) + 1  # odd: a user spoke, call the tool; even: its answer
        return [conn.call("lookup", {"query": "q"})] if turns[id(conn)] % 2 else []

    async with WireServer(model) as server, GraphRuntime(mini, url=server.url, api_key="k") as runtime:
        first, second = Session(runtime), Session(runtime)
        assert first.toolbox is second.toolbox and first.runtime.compiler is second.runtime.compiler
        await asyncio.gather(first.connect(), second.connect())
        await asyncio.gather(first.send_text("a"), second.send_text("b"))
        await asyncio.gather(first.wait_idle(5), second.wait_idle(5))
        await first.close()  # closing a session leaves the shared runtime open for the others
        await second.send_text("c")
        await second.wait_idle(5)
        await second.close()
    assert len(_outputs(server)) == 3
    assert all(json.loads(o["output"]) == {"query": "q", "found": True} for o in _outputs(server))


# --- call control -------------------------------------------------------------------------------------

CONTROLLED = (
    MINI.replace("    tools: [lookup]\n", "    tools: [lookup, transfer_to_person, goodbye, press]\n").replace(
        "context:\n  company: Acme\n", "context:\n  company: Acme\n  human_line: '+15550100'\n"
    )
    + """  transfer_to_person:
    transfer: {to: "{{ human_line }}", message: Connecting you with a colleague now.}
  goodbye:
    end_call: {}
  press:
    dtmf: {}
"""
)


class RecordingLine:
    """A frontend's line that remembers what it was asked to do, and when."""

    def __init__(self, session_ref: list[Session]) -> None:
        self.done: list[tuple[str, ...]] = []
        self._session = session_ref

    async def transfer(self, to: str, summary: str) -> None:
        playing = self._session[0].bargein.playback.audible()
        self.done.append(("transfer", to, summary, "while playing" if playing else "after playback"))

    async def hangup(self) -> None:
        self.done.append(("hangup",))

    async def send_dtmf(self, digits: str) -> None:
        self.done.append(("dtmf", digits))


def _speaking(text: str, ms: int):
    """A responder step: an assistant message with `ms` of audio (pcm16 24 kHz)."""

    async def say(conn: WireConnection, rid: str) -> dict[str, Any]:
        item = {"id": conn.server.new_id("item"), "type": "message", "role": "assistant", "content": []}
        base = {"response_id": rid, "item_id": item["id"], "output_index": 0, "content_index": 0}
        await conn.send({"type": "response.output_item.added", "response_id": rid, "output_index": 0, "item": item})
        await conn.send({"type": "response.output_audio_transcript.delta", **base, "delta": text})
        audio = base64.b64encode(bytes(48 * ms)).decode()
        await conn.send({"type": "response.output_audio.delta", **base, "delta": audio})
        await conn.send({"type": "response.output_audio.done", **base})
        return item

    return say


async def test_a_transfer_says_its_message_then_transfers_once_it_was_heard(write_graph):
    doc = load_graph(write_graph(CONTROLLED))

    async def model(conn: WireConnection, event: dict[str, Any]) -> list[dict[str, Any]] | None:
        creates = conn.server.of("response.create")
        if len(creates) == 1:
            return [conn.call("transfer_to_person", {"summary": "Wants a refund for order 7."})]
        rid = await conn.created()
        item = await _speaking("Connecting you with a colleague now.", 300)(conn, rid)
        await conn.done(rid, [item])
        return None

    ref: list[Session] = []
    line = RecordingLine(ref)
    async with WireServer(model) as server, Session(doc, url=server.url, api_key="k", line=line) as session:
        ref.append(session)
        seen, task = _collect(session.subscribe())
        await session.send_text("I want a person")
        await _until(lambda: any(isinstance(e, ev.CallEnded) for e in seen), 10)
    await task
    said = server.of("response.create")[1]
    assert said["response"]["tool_choice"] == "none"
    assert "Connecting you with a colleague now." in said["response"]["instructions"]
    assert line.done == [("transfer", "+15550100", "Wants a refund for order 7.", "after playback")]
    assert ev.CallTransferred("greeter", "+15550100", "Wants a refund for order 7.") in seen
    assert ev.CallEnded("transferred") in seen
    assert json.loads(_outputs(server)[0]["output"]) == {"status": "transferring"}


async def test_end_call_hangs_up_after_the_goodbye_and_dtmf_needs_a_line(write_graph):
    doc = load_graph(write_graph(CONTROLLED))

    async def model(conn: WireConnection, event: dict[str, Any]) -> list[dict[str, Any]] | None:
        creates = len(conn.server.of("response.create"))
        if creates == 1:
            return [conn.call("press", {"digits": "12#"})]
        if creates == 2:
            return [conn.call("goodbye", {"reason": "done"})]
        rid = await conn.created()
        item = await _speaking("Goodbye!", 200)(conn, rid)
        await conn.done(rid, [item])
        return None

    async with WireServer(model) as server, Session(doc, url=server.url, api_key="k") as session:  # no line
        seen, task = _collect(session.subscribe())
        await session.send_text("press 12# then bye")
        await _until(lambda: any(isinstance(e, ev.CallEnded) for e in seen), 10)
    await task
    outputs = [json.loads(o["output"]) for o in _outputs(server)]
    assert outputs[0] == {"error": "this call has no phone line to send digits on."}
    assert outputs[1] == {"status": "ending the call"}
    assert ev.CallEnded("hangup") in seen
    assert not any(isinstance(e, ev.DtmfSent) for e in seen)
    ended = next(i for i, e in enumerate(seen) if isinstance(e, ev.CallEnded))
    assert any(isinstance(e, ev.TranscriptDelta) and e.delta == "Goodbye!" for e in seen[:ended])
