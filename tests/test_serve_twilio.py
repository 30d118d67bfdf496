"""Twilio Media Streams into an offline `engine serve`, driven by a Twilio stand-in written from Twilio's docs."""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import re
import subprocess
import sys
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import pytest
from conftest import GRAPHS, ROOT
from serving import engine_serve
from twilio_client import MediaStream, mulaw, post_voice_webhook

TOKEN = "twilio-test-token-0123456789"


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("db") / "calls.db")


@pytest.fixture(scope="module")
def base(db: str) -> Iterator[str]:
    # The simulator's agent audio in 20 ms deltas, a phone's frame (its default is the API's 100 ms).
    code = "import runpy, engine.sim.voice as v; v.CHUNK_MS = 20; runpy.run_module('engine.serve', run_name='__main__')"
    with engine_serve(GRAPHS, db=db, env={"TWILIO_AUTH_TOKEN": TOKEN}, code=code, clean_exit=True) as served:
        yield served.url


CALL = {"CallSid": "CA123", "From": "+14155550142", "To": "+18005550100", "AccountSid": "AC1"}


def test_the_voice_webhook_checks_the_signature_and_connects_the_stream(base: str) -> None:
    url = f"{base}/twilio/voice?scenario=simple-handoff"
    assert post_voice_webhook(url, CALL)[0] == 403  # unsigned
    assert post_voice_webhook(url, CALL, auth_token="another-token-0123")[0] == 403
    assert post_voice_webhook(url, {**CALL, "From": "+19995550000"}, auth_token=TOKEN)[0] == 200  # signed as sent
    status, twiml = post_voice_webhook(url, CALL, auth_token=TOKEN)
    assert status == 200
    stream = ET.fromstring(twiml).find("./Connect/Stream")
    assert stream is not None
    assert stream.get("url") == base.replace("http://", "ws://") + "/twilio/media"
    params = {p.get("name"): p.get("value") for p in stream.findall("Parameter")}
    assert params["scenario"] == "simple-handoff" and params["From"] == "+14155550142"


def test_a_bad_scenario_is_told_to_the_caller_and_hung_up(base: str) -> None:
    status, twiml = post_voice_webhook(f"{base}/twilio/voice?scenario=nope", CALL, auth_token=TOKEN)
    assert status == 200 and ET.fromstring(twiml).find("./Hangup") is not None


async def test_the_caller_hears_the_agent_with_marks_and_keys_move_the_call_on(base: str) -> None:
    url = base.replace("http://", "ws://") + "/twilio/media"
    async with MediaStream(url, {"scenario": "simple-handoff", "From": "+14155550142"}) as call:
        await call.speak(b"\xff" * 1600)  # 200 ms of caller silence, as μ-law frames
        await call.wait_for_audio()
        # The greeting plays at real time; each chunk's mark comes back once it has been heard.
        await call.silent_until(lambda: len(call.marks_echoed) >= 3, 100)
        assert call.wrong_stream == []
        names = [re.fullmatch(r"(.+):(\d+)", m) for m in call.marks_echoed]
        assert all(names), call.marks_echoed
        ends = [int(m.group(2)) for m in names if m]
        assert ends == sorted(ends) and ends[-1] > 0  # one item's audio, heard further and further
        await call.silent_until(lambda: not call.playing, 400)  # let the greeting finish
        await call.speak(b"\xff" * 1600)
        assert not call.playing
        heard_before = len(call.received_audio)
        assert heard_before > 0
        # A mark every 100 ms of audio (not one per frame), and one where the greeting's audio ends.
        ends = [int(m.split(":")[1]) for m in call.marks_echoed]
        assert all(b - a >= 100 for a, b in itertools.pairwise(ends[:-1])), ends
        assert ends[-1] == heard_before // 8 and len(ends) <= heard_before // 800 + 2, (ends, heard_before)
        # Keys pressed reach the agent: the demo moves on to its next turn (the haiku after a handoff).
        await call.press("1")
        await call.press("2")
        await call.silent_until(lambda: len(call.received_audio) > heard_before + 8000, 400)
        assert len(call.received_audio) > heard_before + 8000  # more than a second of the next reply


def _speech_mulaw(seconds: float = 1.6, rate: int = 8000) -> bytes:
    """Syllable-like bursts of a voiced tone, as μ-law (what a phone sends)."""
    out = bytearray()
    for n in range(int(seconds * rate)):
        t = n / rate
        envelope = math.sin(math.pi * ((t * 4) % 1.0)) ** 2
        voice = sum(math.sin(2 * math.pi * 120 * k * t) / k for k in range(1, 6))
        out.append(mulaw(int(9000 * envelope * voice / 2.3)))
    return bytes(out)


async def test_talking_over_the_agent_clears_what_twilio_still_had_to_play(base: str) -> None:
    url = base.replace("http://", "ws://") + "/twilio/media"
    async with MediaStream(url, {"scenario": "simple-handoff"}) as call:
        await call.speak(b"\xff" * 800)
        await call.wait_for_audio()
        await call.speak(b"\xff" * 1600)  # 200 ms of the greeting heard
        assert call.clears == 0
        await call.speak(_speech_mulaw())
        await call.silent_until(lambda: call.clears, 150)
        assert call.clears >= 1
        assert not call.playing  # what was queued is gone
        # The reply to the spoken turn (the haiku) comes after the clear.
        heard = len(call.received_audio)
        await call.silent_until(lambda: len(call.received_audio) > heard + 8000, 400)
        assert len(call.received_audio) > heard + 8000


async def test_a_stream_that_drops_without_stop_ends_its_call(base: str) -> None:
    url = base.replace("http://", "ws://") + "/twilio/media"
    async with MediaStream(url, {"scenario": "simple-handoff"}, call_sid="CA00000000000000000000000000000003") as call:
        await call.wait_for_audio()
        await call.drop()
    for _ in range(100):  # the server notices, and ends the call
        if json.loads(urllib.request.urlopen(f"{base}/healthz", timeout=5).read())["calls"] == 0:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the dropped stream's call is still running")


def test_the_calls_are_in_the_call_store(base: str, db: str) -> None:
    """(Runs after the calls above.) `engine calls list --format json` shows them, from `twilio`."""
    done = subprocess.run(
        [sys.executable, "-m", "engine.records", "list", "--db", db, "--format", "json"],
        capture_output=True, text=True, cwd=ROOT, check=True,
    )  # fmt: skip
    calls = json.loads(done.stdout)
    twilio = [c for c in calls if c["frontend"] == "twilio"]
    assert len(twilio) == 3  # the three media streams above
    assert sorted(c["end_reason"] for c in twilio) == ["the caller hung up"] * 2 + ["the stream closed"]
    assert any(c["caller"] == "+14155550142" for c in twilio)
    assert all(c["ended_at"] for c in twilio) and any("haiku_writer" in c["agents"] for c in twilio)
