"""Conversation tests on GPT-Live: the same tests file, run on the GPT-Live simulator.

A user turn is spoken (audio standing for its words: the simulator's transcript of an utterance is
the scripted user turn it stands for); the model answers through delegations, which the engine runs
as the backend while the simulator plays the script's actions from its Responses endpoint. A turn
the model opens is a delegation too (the first at session start, later ones raised by the test).
The turn record, the expectations and the script checks are the Realtime runner's.
"""

from __future__ import annotations

import asyncio
import time
from typing import Literal

from ..runtime import events as ev
from ..runtime.live import LiveSession
from ..spec import Document
from ..spec.script import ConversationTest, Turn
from .expect import unmet
from .record import TurnRecord
from .runner import (
    OFFLINE_TURN_TIMEOUT,
    Failure,
    TestResult,
    collect_events,
    heard_for,
    mismatch_message,
    script_problems,
    without_noise,
)
from .runner import run_test as run_test_realtime

Api = Literal["realtime", "live"]

#: Audio per `session.input_audio.append` a test streams (100 ms at 24 kHz PCM16).
CHUNK_BYTES = 4800


async def run_test_on(api: Api, doc: Document, test: ConversationTest, **options: object) -> TestResult:
    """Run one conversation test on `api` (`realtime` or `live`); options as `run_test`'s."""
    if api == "live":
        return await run_test_live(doc, test, **options)  # type: ignore[arg-type]
    return await run_test_realtime(doc, test, **options)  # type: ignore[arg-type]


async def run_test_live(
    doc: Document,
    test: ConversationTest,
    *,
    live: bool = False,
    url: str | None = None,
    api_key: str | None = None,
    headers: dict[str, str] | None = None,
    written_in: Document | None = None,
) -> TestResult:
    """Run one test on GPT-Live, offline on the GPT-Live simulator. Live runs need the users' turns
    as recorded speech, which tests files do not hold yet: they are reported as a test error."""
    from ..sim.live import LiveSimulator

    result = TestResult(test.name, live=live)
    started = time.perf_counter()
    if live:
        result.errors.append("GPT-Live tests run offline only: the real model needs the user turns as speech")
        return result
    try:
        async with LiveSimulator(test) as sim:
            session = LiveSession(
                doc,
                url=sim.live_url,
                api_key="sim-key",
                agent=test.agent,
                state=test.state,
                context=test.context,
                approval=test.approve,
            )
            await _run(session, doc, test, result, sim, files=written_in or doc)
        result.failures += [Failure(None, mismatch_message(m)) for m in sim.mismatches]
    except OSError as exc:
        result.errors.append(f"could not connect to the GPT-Live simulator: {exc}")
    except Exception as exc:  # a test that cannot run must not stop the others
        result.errors.append(f"{type(exc).__name__}: {exc}")
    result.seconds = time.perf_counter() - started
    return result


async def speak(session: LiveSession, text: str, *, over: bool = False, audio: bytes | None = None) -> None:
    """Stream audio of the user saying `text` (`audio`, PCM16 24 kHz, or a signal standing for it).
    The test has heard everything so far, unless it talks `over` the reply."""
    from ..sim.live import speech_audio

    playback = session.playback
    if not over:
        for item_id in playback.audible():
            playback.report(item_id, playback.received_ms(item_id))  # the test listens instantly
    audio = audio + bytes(2 * 24 * 700) if audio is not None else speech_audio(text)  # then 700 ms of silence
    for offset in range(0, len(audio), CHUNK_BYTES):
        await session.send_audio(audio[offset : offset + CHUNK_BYTES])


def _turn_audio(doc: Document, turn: Turn) -> bytes | None:
    """A spoken turn's audio (a WAV file, or the words synthesized) as PCM16 24 kHz, or None."""
    if turn.audio is None or turn.audio == "speak":
        return None  # the simulator's signal stands for synthesized words
    from ..io import PCM16, read_wav
    from ..spec.files import confined_file

    return read_wav(confined_file(doc.dir, turn.audio, doc.root), PCM16)


async def _run(
    session: LiveSession, doc: Document, test: ConversationTest, result: TestResult, sim: object, *, files: Document
) -> None:
    from ..sim.live import LiveSimulator

    assert isinstance(sim, LiveSimulator)
    seen: list[ev.SessionEvent] = []
    async with session:
        collector = asyncio.create_task(collect_events(session, seen))  # type: ignore[arg-type]
        for number, turn in enumerate(test.turns, 1):
            start, script_errors = len(seen), len(sim.script_errors)
            if turn.user is not None:
                await speak(session, turn.user, over=turn.interrupt_after is not None, audio=_turn_audio(files, turn))
            elif number > 1:
                await sim.delegate()  # the first turn the model opens is delegated at session start
            following = test.turns[number] if number < len(test.turns) else None
            try:
                await session.wait_delegations(number, OFFLINE_TURN_TIMEOUT)
                if following is not None and following.interrupt_after is not None:
                    await heard_for(seen, start, following.interrupt_after, OFFLINE_TURN_TIMEOUT)
                else:
                    await session.wait_idle(OFFLINE_TURN_TIMEOUT)
            except TimeoutError:
                settled = False
            else:
                settled = True
            await asyncio.sleep(0)
            events = without_noise(seen[start:], sim)
            record = TurnRecord(events, session.agent, session.state, dict(session.context), number, turn.user)
            result.turns.append(record)
            if not settled:
                message = f"the turn did not settle within {OFFLINE_TURN_TIMEOUT:g}s: {record.story()}"
                result.failures.append(Failure(number, message))
                break
            problems = [f"the server reported an error: {e.message}" for e in record.of(ev.Error)]
            problems += script_problems(sim, test, number, script_errors)
            if turn.expect is not None:
                problems += unmet(turn.expect, record, doc, live=False)
            result.failures += [Failure(number, p) for p in problems]
    await collector
