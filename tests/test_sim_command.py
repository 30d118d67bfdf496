"""`engine sim FILE` (`python -m engine.sim`): a real server process any client talks to."""

from __future__ import annotations

import base64
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from openai import AsyncOpenAI

from engine.io import PCM16, frames, read_wav

ROOT = Path(__file__).resolve().parent.parent
SPEECH = Path(__file__).parent / "audio" / "speech16k.wav"
HANDOFF_TOOL = {
    "type": "function",
    "name": "transfer_to_haiku_writer",
    "description": "Handoff.",
    "parameters": {"type": "object", "properties": {}},
}


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "engine.sim", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


@pytest.fixture
def served() -> Iterator[tuple[subprocess.Popen[str], str]]:
    proc = start("graphs/simple_handoff.yaml", "--port", "0")
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def test_openai_client_streaming_speech_gets_turn_events_a_transcript_and_an_audio_reply(served) -> None:
    proc, url = served
    match = re.fullmatch(r"ws://127\.0\.0\.1:(\d+)/v1/realtime", url)
    assert match, url
    base = url.removesuffix("/realtime")
    client = AsyncOpenAI(api_key="x", base_url=base.replace("ws://", "http://"), websocket_base_url=base)
    seen: list = []
    async with client.realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(
            session={
                "type": "realtime",
                "tools": [HANDOFF_TOOL],
                "audio": {"input": {"transcription": {"model": "gpt-4o-mini-transcribe"}}},
            }
        )
        await conn.response.create()  # the demo's first turn is the model's greeting
        async for event in conn:
            seen.append(event)
            if event.type == "response.done":
                break
        caller = PCM16.silence(500) + read_wav(SPEECH) + PCM16.silence(1000)  # 16 kHz speech, converted
        for frame in frames(caller, PCM16):
            await conn.input_audio_buffer.append(audio=base64.b64encode(frame).decode())
        async for event in conn:
            seen.append(event)
            if event.type == "response.done":
                break
    kinds = [e.type for e in seen]
    for kind in (
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "conversation.item.input_audio_transcription.completed",
    ):
        assert kind in kinds
    transcript = next(e for e in seen if e.type == "conversation.item.input_audio_transcription.completed")
    assert transcript.transcript == "Could you write me a haiku about snow?"
    reply = seen[-1].response
    assert reply.status == "completed"
    assert [item.type for item in reply.output] == ["message", "function_call"]
    assert reply.output[1].name == "transfer_to_haiku_writer"
    after = kinds.index("conversation.item.input_audio_transcription.completed")
    audio = [e for e in seen[after:] if e.type == "response.output_audio.delta"]
    assert sum(len(base64.b64decode(e.delta)) for e in audio) > 48 * 1000  # more than a second of speech

    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0 and "Traceback" not in err


def test_sigint_stops_it_cleanly(served) -> None:
    proc, url = served
    assert url.startswith("ws://127.0.0.1:")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0 and "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["graphs/nope.yaml"], "nope.yaml"),
        (["graphs/simple_handoff.yaml", "--test", "x"], "--test needs a tests file"),
        (["graphs/simple_handoff.tests.yaml", "--test", "missing"], "no test named 'missing'"),
    ],
)
def test_bad_input_is_one_clear_line_and_exit_1(args: list[str], message: str) -> None:
    proc = start(*args)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1 and message in err and "Traceback" not in err and out == ""


def test_a_port_in_use_is_reported() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = start("graphs/simple_handoff.yaml", "--port", str(port))
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 1 and f"cannot listen on 127.0.0.1:{port}" in err and "Traceback" not in err


def test_a_tests_file_plays_the_named_test() -> None:
    proc = start("graphs/simple_handoff.tests.yaml", "--test", "haiku writer hands anything else back to the greeter")
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("ws://127.0.0.1:")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=10)
    assert proc.returncode == 0
