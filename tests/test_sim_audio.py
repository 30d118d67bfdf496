"""The simulator hears and speaks: turn detection from the signal, transcription, barge-in, idle timeout.

Real speech (tests/audio/speech16k.wav, espeak-ng) streamed over loopback websockets in 20 ms frames.
"""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_sim_realtime import GREETING, Client, assert_valid, level_dbfs, script

from engine.io import PCM16, PCMA, PCMU, AudioFormat, frames, read_wav
from engine.sim import Simulator
from engine.sim.audio import unscripted_transcript
from engine.sim.hearing import InputBuffer, SpeechStarted, SpeechStopped, VadSettings, threshold_dbfs
from engine.sim.voice import speak, tone

SPEECH = Path(__file__).parent / "audio" / "speech16k.wav"
TRANSCRIBE = {"transcription": {"model": "gpt-4o-mini-transcribe"}}
HELP = "I need help with my order."


def words(fmt: AudioFormat = PCM16) -> bytes:
    """The fixture's words in `fmt`, without the silence espeak-ng puts after them."""
    audio = read_wav(SPEECH, fmt)
    samples = fmt.decode(audio)
    window = fmt.rate // 100
    voiced = [i for i in range(0, len(samples) - window, window) if level_dbfs(samples[i : i + window]) > -60]
    start, end = voiced[0], voiced[-1] + window
    return audio[start * fmt.bytes_per_sample : end * fmt.bytes_per_sample]


def words_ms(fmt: AudioFormat = PCM16) -> float:
    return len(words(fmt)) / fmt.bytes_per_ms


def speech(fmt: AudioFormat = PCM16, *, before_ms: int = 600, after_ms: int = 900, gain: float = 1.0) -> bytes:
    """Silence, the fixture's words, silence: in `fmt`."""
    said = words(fmt)
    if gain != 1.0:
        said = fmt.encode(fmt.decode(said) * gain)
    return fmt.silence(before_ms) + said + fmt.silence(after_ms)


async def stream(client: Client, data: bytes, fmt: AudioFormat) -> None:
    for frame in frames(data, fmt):
        await client.send(type="input_audio_buffer.append", audio=base64.b64encode(frame).decode())


def types(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


@pytest.mark.parametrize("fmt", [PCM16, PCMU, PCMA], ids=["pcm16", "pcmu", "pcma"])
async def test_server_vad_detects_the_turn_commits_transcribes_and_answers(fmt: AudioFormat) -> None:
    async with Simulator(script({"user": HELP, "model": [{"say": "Sure, which order?"}]})) as sim:
        client = await Client.open(sim)
        session = await client.configure(
            audio={"input": {"format": fmt.session_format, **TRANSCRIBE}, "output": {"format": fmt.session_format}}
        )
        assert session["audio"]["input"]["turn_detection"]["type"] == "server_vad"  # the API's default
        await stream(client, speech(fmt, after_ms=1200), fmt)
        events = await client.until("response.done")
        await client.close()

    kinds = types(events)
    order = [
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "conversation.item.added",
        "conversation.item.done",
        "conversation.item.input_audio_transcription.completed",
        "response.created",
        "response.done",
    ]
    firsts = [kinds.index(k) for k in order]
    assert firsts == sorted(firsts), kinds
    started, stopped, committed = (events[kinds.index(k)] for k in order[:3])
    assert started["item_id"] == stopped["item_id"] == committed["item_id"]
    # audio_start_ms reaches back the 300 ms prefix padding before the words (after 600 ms of silence)
    assert 600 - 300 <= started["audio_start_ms"] <= 600 - 300 + 40
    words_end = 600 + words_ms(fmt)
    # the stop comes after the 200 ms of silence (a quiet last sound may count as silence already)
    assert words_end < stopped["audio_end_ms"] <= words_end + 200 + 20
    item = events[kinds.index("conversation.item.added")]["item"]
    assert (item["id"], item["role"], item["content"][0]["type"]) == (committed["item_id"], "user", "input_audio")
    deltas = [e["delta"] for e in events if e["type"] == "conversation.item.input_audio_transcription.delta"]
    completed = events[kinds.index("conversation.item.input_audio_transcription.completed")]
    assert "".join(deltas) == completed["transcript"] == HELP and completed["item_id"] == committed["item_id"]
    assert completed["usage"]["type"] == "duration" and completed["usage"]["seconds"] > 1
    reply = b"".join(base64.b64decode(e["delta"]) for e in events if e["type"] == "response.output_audio.delta")
    assert len(reply) == speak("Sure, which order?", fmt).duration_ms * fmt.bytes_per_ms
    assert level_dbfs(fmt.decode(reply)) > -40
    assert events[-1]["response"]["status"] == "completed" and sim.mismatches == [] and sim.script_done
    for event in sim.sent:
        assert_valid(event)


async def test_threshold_decides_what_level_is_speech() -> None:
    quiet = 10 ** (-22 / 20)  # the words 22 dB down: peaks near -30 dBFS, most windows below -35
    for threshold, heard in ((0.5, False), (0.2, True)):
        async with Simulator() as sim:
            client = await Client.open(sim)
            vad = {"type": "server_vad", "threshold": threshold, "create_response": False}
            await client.configure(audio={"input": {"turn_detection": vad}})
            await stream(client, speech(gain=quiet), PCM16)
            await client.configure()  # a round trip: every append before it has been processed
            await client.close()
        found = [e for e in sim.sent if e["type"] == "input_audio_buffer.speech_started"]
        assert bool(found) is heard, threshold
    assert threshold_dbfs(0.0) == -60 and threshold_dbfs(0.5) == -35 and threshold_dbfs(1.0) == -10


async def test_silence_duration_and_prefix_padding_shape_the_turns() -> None:
    said = words()
    audio = PCM16.silence(600) + said + PCM16.silence(500) + said + PCM16.silence(1500)

    async def turns(**vad: Any) -> list[tuple[str, int]]:
        async with Simulator() as sim:
            client = await Client.open(sim)
            vad = {"type": "server_vad", "create_response": False, **vad}
            await client.configure(audio={"input": {"turn_detection": vad}})
            await stream(client, audio, PCM16)
            await client.configure()
            await client.close()
        return [
            (e["type"].rsplit("_", 1)[-1], e.get("audio_start_ms", e.get("audio_end_ms")))
            for e in sim.sent
            if e["type"] in ("input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped")
        ]

    short = await turns(silence_duration_ms=300, prefix_padding_ms=300)
    assert [kind for kind, _ in short] == ["started", "stopped", "started", "stopped"]  # the 500 ms gap ends a turn
    long = await turns(silence_duration_ms=800, prefix_padding_ms=0)
    assert [kind for kind, _ in long] == ["started", "stopped"]  # it does not at 800 ms
    assert short[0][1] == long[0][1] - 300  # the padding reaches back before the onset
    assert long[1][1] - short[3][1] == 500  # the stop comes silence_duration_ms after the words


async def test_semantic_vad_eagerness_is_how_long_it_waits() -> None:
    async def stop_after_words(eagerness: str) -> float:
        async with Simulator() as sim:
            client = await Client.open(sim)
            vad = {"type": "semantic_vad", "eagerness": eagerness, "create_response": False}
            await client.configure(audio={"input": {"turn_detection": vad}})
            await stream(client, speech(after_ms=2000), PCM16)
            await client.configure()
            await client.close()
        stopped = next(e for e in sim.sent if e["type"] == "input_audio_buffer.speech_stopped")
        return stopped["audio_end_ms"] - 600 - words_ms()

    high, low = await stop_after_words("high"), await stop_after_words("low")
    assert 0 < high < 500 and 1200 < low < 1800


async def test_speech_during_a_reply_cancels_it_unless_interrupt_response_is_off() -> None:
    turns = ({"user": "go", "model": [{"say": GREETING}]}, {"user": HELP, "model": [{"say": "Sure."}]})
    for interrupt in (True, False):
        async with Simulator(script(*turns), realtime_pacing=True) as sim:
            client = await Client.open(sim)
            vad = {"type": "server_vad", "interrupt_response": interrupt, "create_response": False}
            await client.configure(audio={"input": {"turn_detection": vad, **TRANSCRIBE}})
            await client.say("go")
            await client.send(type="response.create")
            await client.until("response.output_audio.delta")
            await stream(client, speech(before_ms=100, after_ms=400), PCM16)
            events = await client.until("response.done", timeout=10)
            await client.close()
        done = events[-1]["response"]
        if interrupt:
            assert done["status"] == "cancelled" and done["status_details"]["reason"] == "turn_detected"
        else:
            assert done["status"] == "completed"
            assert done["output"][0]["content"][0]["transcript"] == GREETING
        assert "input_audio_buffer.speech_started" in types(sim.sent)
        for event in sim.sent:
            assert_valid(event)


async def test_barge_in_then_the_turn_gets_its_own_reply() -> None:
    turns = ({"user": "go", "model": [{"say": GREETING}]}, {"user": HELP, "model": [{"say": "Sure."}]})
    async with Simulator(script(*turns), realtime_pacing=True) as sim:
        client = await Client.open(sim)
        await client.configure(audio={"input": TRANSCRIBE})
        await client.say("go")
        await client.send(type="response.create")
        await client.until("response.output_audio.delta")
        await stream(client, speech(before_ms=100, after_ms=400), PCM16)
        cut = (await client.until("response.done", timeout=10))[-1]["response"]
        answer = (await client.until("response.done", timeout=10))[-1]["response"]
        await client.close()
    assert cut["status_details"]["reason"] == "turn_detected"
    kinds = types(sim.sent)
    completed = sim.sent[kinds.index("conversation.item.input_audio_transcription.completed")]
    assert completed["transcript"] == HELP
    # the turn's response starts once the cut one has ended
    assert kinds.index("response.done") < len(kinds) - 1 - kinds[::-1].index("response.created")
    assert answer["status"] == "completed" and answer["output"][0]["content"][0]["transcript"] == "Sure."


async def test_push_to_talk_commits_and_asks_and_clear_drops_the_buffer() -> None:
    async with Simulator(script({"user": HELP, "model": [{"say": "Sure."}]})) as sim:
        client = await Client.open(sim)
        session = await client.configure(audio={"input": {"turn_detection": None, **TRANSCRIBE}})
        assert session["audio"]["input"]["turn_detection"] is None
        await stream(client, speech(), PCM16)
        await client.send(type="input_audio_buffer.clear")
        await client.until("input_audio_buffer.cleared")
        await client.send(type="input_audio_buffer.commit")
        assert (await client.until("error"))[-1]["error"]["code"] == "input_audio_buffer_commit_empty"

        await stream(client, speech(), PCM16)
        await client.send(type="input_audio_buffer.commit")
        events = await client.until("conversation.item.input_audio_transcription.completed")
        assert "input_audio_buffer.speech_started" not in types(sim.sent)  # no detection without turn_detection
        assert "response.created" not in types(events)
        assert events[-1]["transcript"] == HELP
        await client.send(type="response.create")
        events = await client.until("response.done")
        assert events[-1]["response"]["output"][0]["content"][0]["transcript"] == "Sure."
        await client.close()
    for event in sim.sent:
        assert_valid(event)


async def test_create_response_false_detects_without_answering_and_unscripted_speech_says_so() -> None:
    async with Simulator() as sim:
        client = await Client.open(sim)
        vad = {"type": "server_vad", "create_response": False}
        await client.configure(audio={"input": {"turn_detection": vad, **TRANSCRIBE}})
        await stream(client, speech(), PCM16)
        completed = (await client.until("conversation.item.input_audio_transcription.completed"))[-1]
        await client.configure()
        await client.close()
    assert "response.created" not in types(sim.sent)
    assert completed["transcript"].startswith("[unscripted speech, ") and "no user turn" in completed["transcript"]
    assert completed["transcript"] == unscripted_transcript(completed["usage"]["seconds"] * 1000)


async def test_idle_timeout_triggers_a_response_after_the_reply_has_played() -> None:
    turns = ({"user": "hi", "model": [{"say": "Hello."}]}, {"model": [{"say": "Are you still there?"}]})
    async with Simulator(script(*turns)) as sim:
        client = await Client.open(sim)
        vad = {"type": "server_vad", "idle_timeout_ms": 300}
        await client.configure(audio={"input": {"turn_detection": vad}})
        await client.say("hi")
        loop = asyncio.get_running_loop()
        await client.respond()
        done_at = loop.time()
        await stream(client, PCM16.silence(200), PCM16)  # silence is not speech
        events = await client.until("response.done", timeout=10)
        fired_at = loop.time()
        await client.close()
    timeout = next(e for e in events if e["type"] == "input_audio_buffer.timeout_triggered")
    assert (timeout["audio_start_ms"], timeout["audio_end_ms"]) == (0, 200)
    committed = next(e for e in events if e["type"] == "input_audio_buffer.committed")
    assert committed["item_id"] == timeout["item_id"]
    # counted from when "Hello." has played (sent at once, so it plays after response.done)
    assert fired_at - done_at >= (speak("Hello.", PCM16).duration_ms + 300) / 1000 - 0.05
    assert events[-1]["response"]["output"][0]["content"][0]["transcript"] == "Are you still there?"
    for event in sim.sent:
        assert_valid(event)


async def test_realtime_pacing_streams_audio_at_the_rate_it_plays() -> None:
    text = "One two three four five."
    async with Simulator(script({"user": "count", "model": [{"say": text}]}), realtime_pacing=True) as sim:
        client = await Client.open(sim)
        await client.say("count")
        loop = asyncio.get_running_loop()
        await client.send(type="response.create")
        arrivals, sent_ms = [], 0.0
        while (event := await client.recv())["type"] != "response.done":
            if event["type"] == "response.output_audio.delta":
                arrivals.append((loop.time(), sent_ms))
                sent_ms += len(base64.b64decode(event["delta"])) / 48
        await client.close()
    first_at = arrivals[0][0]
    # each chunk arrives when the audio before it has played (never more than one chunk ahead)
    for at, before_ms in arrivals:
        assert at - first_at >= before_ms / 1000 - 0.03
    assert arrivals[-1][0] - first_at >= (sent_ms - 100) / 1000 - 0.03


async def test_each_transcript_delta_comes_with_the_audio_that_speaks_it() -> None:
    async with Simulator(script({"user": "hi", "model": [{"say": GREETING}, {"say": ""}]})) as sim:
        client = await Client.open(sim)
        await client.say("hi")
        events = await client.respond()
        await client.close()
    spoken = speak(GREETING, PCM16)
    audio_ms, chars, checked = 0.0, 0, 0
    first, second = (item["id"] for item in events[-1]["response"]["output"])
    for event in events:
        if event.get("item_id") != first:
            continue
        if event["type"] == "response.output_audio.delta":
            audio_ms += len(base64.b64decode(event["delta"])) / 48
        elif event["type"] == "response.output_audio_transcript.delta":
            # sent once the audio before its first word has gone out, and no later than the next chunk
            assert spoken.ms_at(chars) <= audio_ms < spoken.ms_at(chars) + 100 or chars == 0
            chars += len(event["delta"])
            checked += 1
    assert chars == len(GREETING) and checked > 3 and audio_ms == spoken.duration_ms
    assert not [e for e in events if e.get("item_id") == second and e["type"] == "response.output_audio.delta"]


def test_transcript_deltas_follow_the_audio_that_speaks_them() -> None:
    speech_of = speak(GREETING, PCM16)
    assert speech_of.chars_at(0) == 0 and speech_of.chars_at(speech_of.duration_ms) == len(GREETING)
    assert speech_of.chars_at(speech_of.duration_ms / 2) == len(GREETING) // 2
    assert speech_of.ms_at(len(GREETING)) == speech_of.duration_ms


def test_tone_is_speech_like_and_detected_as_speech() -> None:
    signal = tone("Hello there")
    assert len(signal) == len("Hello there") * 60 * 24  # 60 ms per character at 24 kHz
    assert -30 < level_dbfs(signal) < -10
    spectrum = np.abs(np.fft.rfft(signal[: 24000 // 4]))
    assert 100 < np.argmax(spectrum) * 4 < 700  # voiced energy at a speaking pitch and its harmonics
    buffer = InputBuffer(PCM16)
    vad = VadSettings.from_turn_detection({"type": "server_vad"})
    found = buffer.append(PCM16.silence(500) + PCM16.encode(signal) + PCM16.silence(600), vad)
    assert [type(f) for f in found] == [SpeechStarted, SpeechStopped]
    assert found[0].audio_start_ms == 500 - 300 + 0  # the onset at 500 ms, minus the prefix padding


def test_speak_tone_mode_and_g711_chunks() -> None:
    for fmt in (PCM16, PCMU, PCMA):
        voiced = speak("Thanks for calling.", fmt, "tone")
        assert voiced.source == "tone" and voiced.duration_ms == len("Thanks for calling.") * 60
        assert all(ms <= 100 for ms in voiced.chunk_ms)
        audio = b"".join(base64.b64decode(c) for c in voiced.chunks)
        assert len(audio) == voiced.duration_ms * fmt.bytes_per_ms and level_dbfs(fmt.decode(audio)) > -35


async def test_without_espeak_the_simulator_speaks_with_the_tone() -> None:
    text = "Sure thing."
    async with Simulator(script({"user": "a", "model": [{"say": text}]}), speech="tone") as sim:
        client = await Client.open(sim)
        await client.say("a")
        events = await client.respond()
        await client.close()
    audio = b"".join(base64.b64decode(e["delta"]) for e in events if e["type"] == "response.output_audio.delta")
    assert audio == PCM16.encode(tone(text)) and level_dbfs(PCM16.decode(audio)) > -35


@pytest.mark.parametrize("fmt", [PCM16, PCMU], ids=["pcm16", "pcmu"])
def test_detection_does_not_depend_on_how_the_audio_is_cut(fmt: AudioFormat) -> None:
    audio = speech(fmt)
    vad = VadSettings.from_turn_detection({"type": "server_vad"})
    whole = InputBuffer(fmt).append(audio, vad)
    buffer, pieces = InputBuffer(fmt), []
    for start in range(0, len(audio), 333):  # odd sizes: samples and windows split across appends
        pieces += buffer.append(audio[start : start + 333], vad)
    assert pieces == whole and [type(f) for f in whole] == [SpeechStarted, SpeechStopped]
    assert buffer.total_ms == int(len(audio) / fmt.bytes_per_ms)


async def test_the_agents_sdk_streaming_speech_gets_a_transcript_and_an_audio_reply() -> None:
    realtime = pytest.importorskip("agents.realtime", reason="the Agents SDK (the bench extra) is not installed")
    async with Simulator(script({"user": HELP, "model": [{"say": "Sure, which order is it?"}]})) as sim:
        agent = realtime.RealtimeAgent(name="helper", instructions="Help.")
        settings = {"model_name": "gpt-realtime", "input_audio_transcription": {"model": "gpt-4o-mini-transcribe"}}
        runner = realtime.RealtimeRunner(agent, config={"model_settings": settings})
        session = await runner.run(model_config={"api_key": "x", "url": sim.url + "?model=gpt-realtime"})
        seen: list[str] = []
        async with session:
            for frame in frames(speech(), PCM16):
                await session.send_audio(frame)

            async def until_the_reply_ends() -> None:
                async for event in session:
                    seen.append(event.type)
                    if event.type == "agent_end":
                        return

            await asyncio.wait_for(until_the_reply_ends(), 15)
    kinds = types(sim.sent)
    assert "input_audio_buffer.speech_stopped" in kinds and "audio" in seen
    completed = sim.sent[kinds.index("conversation.item.input_audio_transcription.completed")]
    assert completed["transcript"] == HELP and "error" not in kinds
