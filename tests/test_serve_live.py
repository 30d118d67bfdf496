"""`engine serve --api live`: console and Twilio calls on GPT-Live, over real sockets, on the simulator.

GPT-Live hears the caller (no text input, no turns to commit) and decides itself when to speak: the
model greets from its opening delegation, the caller's speech is heard by the simulator's detector,
and barge-in stops only the local playback (on Twilio: a `clear`).
"""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import websockets
from conftest import GRAPHS, ROOT
from serving import engine_serve
from twilio_client import MediaStream

from engine.io.formats import AudioFormat
from engine.sim.live import speech_audio
from engine.sim.voice import speak

GRAPH = GRAPHS / "simple_handoff.yaml"
GREETING = "Hi there! What can I do for you today?"
ASK = "Could you write me a haiku about snow?"


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("db") / "calls.db")


@pytest.fixture(scope="module")
def base(db: str) -> Iterator[str]:
    with engine_serve(GRAPH, "--api", "live", "--drain-seconds", "1", db=db, clean_exit=True) as served:
        yield served.url


async def _until_event(ws: Any, check: Any, timeout: float = 15.0) -> list[dict[str, Any]]:
    """The console's events (and errors) from now until `check` accepts the list of them."""
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while True:
            message = json.loads(await ws.recv())
            if message["type"] in ("event", "error", "ended"):
                seen.append(message["event"] if message["type"] == "event" else message)
                if check(seen):
                    return seen


def _said(events: list[dict[str, Any]], role: str) -> str:
    return "".join(e["delta"] for e in events if e["type"] == "transcript" and e["role"] == role and not e["done"])


async def test_a_console_call_on_gpt_live_greets_hears_speech_and_hands_off(base: str) -> None:
    async with websockets.connect(base.replace("http://", "ws://") + "/ws/call") as ws:
        await ws.send(json.dumps({"type": "start", "scenario": "simple-handoff"}))
        async with asyncio.timeout(10):
            while (ready := json.loads(await ws.recv()))["type"] != "ready":
                pass
        assert ready["call"]["api"] == "live" and ready["call"]["rate"] == 24000
        greeted = await _until_event(ws, lambda seen: GREETING in _said(seen, "assistant"))
        assert GREETING in _said(greeted, "assistant")  # the model opened the call by itself
        # Typed text has no place on GPT-Live: the console says so and the call goes on.
        await ws.send(json.dumps({"type": "text", "text": ASK}))
        refused = await _until_event(ws, lambda seen: seen[-1].get("type") == "error")
        assert "no text input" in refused[-1]["message"]
        # Barge-in stops the local playback only: no error, the call goes on.
        await ws.send(json.dumps({"type": "interrupt"}))
        # The caller speaks (PCM16 24 kHz, as the browser sends it): heard, delegated, handed off.
        audio = speech_audio(ASK)
        for offset in range(0, len(audio), 9600):
            await ws.send(audio[offset : offset + 9600])
        handed = await _until_event(ws, lambda seen: seen[-1].get("type") == "handoff")
        assert handed[-1]["target"] == "haiku_writer"
        assert ASK in _said(handed, "user")
        assert not [e for e in handed if e.get("type") == "error"]


def _speech_mulaw(seconds: float = 1.2) -> bytes:
    """Loud μ-law (far from its zero codes), as a phone sends speech."""
    return bytes([0x10, 0x90] * int(seconds * 4000))


async def test_a_twilio_call_on_gpt_live_passes_mulaw_through_and_clears_on_barge_in(base: str) -> None:
    url = base.replace("http://", "ws://") + "/twilio/media"
    async with MediaStream(url, {"scenario": "simple-handoff", "From": "+14155550142"}) as call:
        await call.speak(b"\xff" * 800)
        await call.wait_for_audio()
        # The greeting streams back as μ-law 8 kHz, untouched (GPT-Live's audio/pcmu), with marks.
        await call.silent_until(lambda: len(call.marks_echoed) >= 5, 150)
        assert call.wrong_stream == [] and len(call.marks_echoed) >= 5
        # The simulator's spoken greeting in audio/pcmu, byte for byte as it sent it (not silence).
        greeting = speak(GREETING, AudioFormat("audio/pcmu", 8000))
        spoken = b"".join(base64.b64decode(chunk) for chunk in greeting.chunks)
        assert spoken[:2400] in call.received_audio and len(set(spoken[:2400])) > 20
        assert call.clears == 0
        # The caller talks over the agent: GPT-Live hears it, and what Twilio still had queued is cleared.
        await call.speak(_speech_mulaw())
        await call.silent_until(lambda: call.clears, 150)
        assert call.clears >= 1
        heard = len(call.received_audio)  # the reply to the spoken turn comes after the clear
        await call.silent_until(lambda: len(call.received_audio) > heard + 8000, 400)
        assert len(call.received_audio) > heard + 8000


def test_the_live_calls_are_in_the_call_store(base: str, db: str) -> None:
    """(Runs after the calls above.) Both recorded, from `console` and `twilio`, on GPT-Live."""
    done = subprocess.run(
        [sys.executable, "-m", "engine.records", "list", "--db", db, "--format", "json"],
        capture_output=True, text=True, cwd=ROOT, check=True,
    )  # fmt: skip
    calls = json.loads(done.stdout)
    assert sorted(c["frontend"] for c in calls) == ["console", "twilio"]
    twilio = next(c for c in calls if c["frontend"] == "twilio")
    assert twilio["caller"] == "+14155550142" and "haiku_writer" in twilio["agents"]


async def test_keys_a_caller_presses_reach_gpt_live_as_a_silent_note(tmp_path) -> None:
    """GPT-Live takes no text from the caller: the keys go into its context as thinking, acknowledged,
    where on Realtime they are a user message."""
    from engine.runtime import PlaybackClock
    from engine.serve._calls import ServeConfig, open_call
    from engine.serve._wire import TappedTransport
    from engine.validate import load_graph

    wire: list[tuple[str, dict[str, Any]]] = []
    transport = TappedTransport(lambda direction, text, audio: wire.append((direction, json.loads(text))))
    config = ServeConfig(api="live", simulate=True)
    call = await open_call(
        load_graph(GRAPH), config, runtime_for=None, playback=PlaybackClock(), transport=transport, frontend="twilio"
    )
    try:
        await call.connect()
        await call.tell("(The caller pressed the keys: 1 2)")
        async with asyncio.timeout(10):
            while not any(e["type"] == "session.thinking.appended" for d, e in wire if d == "server"):
                await asyncio.sleep(0.02)
    finally:
        await call.close("done")
        await transport.aclose()
    [sent] = [e for d, e in wire if d == "client" and e["type"] == "session.thinking.append"]
    assert sent["content"] == "(The caller pressed the keys: 1 2)" and sent["delegation_id"] is None
    assert not [e for d, e in wire if d == "server" and e["type"] == "error"]
