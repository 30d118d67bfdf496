"""Running a conversation test: offline on the simulator (which plays the model's actions), or live
against a real server (where the model's scripted actions become expectations)."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from ..runtime import Session
from ..runtime import events as ev
from ..spec import Document
from ..spec.script import Call, ConversationTest, Handoff, Say, Transition, Turn
from .expect import cut_problems, live_mismatches, unmet
from .record import TurnRecord, show

if TYPE_CHECKING:
    from ..io import AudioFormat
    from ..sim import Mismatch, ScriptError, Simulator

OFFLINE_TURN_TIMEOUT = 30.0
LIVE_TURN_TIMEOUT = 120.0


@dataclass(frozen=True, slots=True)
class Failure:
    """One expectation not met: in turn `turn` (counted from 1), or of the whole test (None)."""

    turn: int | None
    message: str

    def __str__(self) -> str:
        return f"turn {self.turn}: {self.message}" if self.turn else self.message


@dataclass(slots=True)
class TestResult:
    name: str
    failures: list[Failure] = field(default_factory=list)
    #: The test could not run to its end (no connection, a crash): JUnit errors, not failures.
    errors: list[str] = field(default_factory=list)
    turns: list[TurnRecord] = field(default_factory=list)
    seconds: float = 0.0
    live: bool = False

    @property
    def passed(self) -> bool:
        return not self.failures and not self.errors

    def failed_turn(self, number: int) -> bool:
        return any(f.turn == number for f in self.failures)


async def run_test(
    doc: Document,
    test: ConversationTest,
    *,
    live: bool = False,
    url: str | None = None,
    api_key: str | None = None,
    headers: dict[str, str] | None = None,
    written_in: Document | None = None,
) -> TestResult:
    """Run one test on `doc` (the graph). Offline it starts its own simulator; live it talks to `url`
    (or OpenAI) with `api_key` (default: `OPENAI_API_KEY`) and any extra connection `headers`.
    `written_in`: the tests file the test comes from (its `audio:` files are beside it; default `doc`)."""
    from ..sim import Simulator

    result = TestResult(test.name, live=live)
    started = time.perf_counter()
    try:
        if live:
            session = _session(doc, test, url=url, api_key=api_key, headers=headers)
            await _run(session, doc, test, result, sim=None, files=written_in or doc)
        else:
            # A test that speaks or barges in hears the model at real time, so a cut lands at what was heard.
            spoken = any(t.audio is not None or t.interrupt_after is not None for t in test.turns)
            async with Simulator(test, realtime_pacing=spoken) as sim:
                session = _session(doc, test, url=sim.url, api_key="sim-key")
                await _run(session, doc, test, result, sim=sim, files=written_in or doc)
            result.failures += [Failure(None, mismatch_message(m)) for m in sim.mismatches]
    except OSError as exc:
        result.errors.append(f"could not connect to {url or 'the OpenAI Realtime API'}: {exc}")
    except Exception as exc:  # a test that cannot run must not stop the others
        result.errors.append(f"{type(exc).__name__}: {exc}")
    result.seconds = time.perf_counter() - started
    return result


def _session(
    doc: Document,
    test: ConversationTest,
    *,
    url: str | None,
    api_key: str | None,
    headers: dict[str, str] | None = None,
) -> Session:
    return Session(
        doc,
        url=url,
        api_key=api_key,
        headers=headers,
        agent=test.agent,
        state=test.state,
        context=test.context,
        approval=test.approve,
    )


async def _run(
    session: Session,
    doc: Document,
    test: ConversationTest,
    result: TestResult,
    *,
    sim: Simulator | None,
    files: Document,
) -> None:
    seen: list[ev.SessionEvent] = []
    async with session:
        collector = asyncio.create_task(collect_events(session, seen))
        voice = _Voice(session, doc, live=sim is None, files=files)
        for number, turn in enumerate(test.turns, 1):
            start, script_errors = len(seen), len(sim.script_errors) if sim else 0
            await voice.say(turn)
            limit = OFFLINE_TURN_TIMEOUT if sim else LIVE_TURN_TIMEOUT
            following = test.turns[number] if number < len(test.turns) else None
            try:
                if following is not None and following.interrupt_after is not None:
                    # The next turn talks over this reply: wait until it has been heard that long.
                    await heard_for(seen, start, following.interrupt_after, limit)
                else:
                    await session.wait_idle(limit)
            except TimeoutError:
                settled = False
            else:
                settled = True
            await asyncio.sleep(0)  # let the collector take the last events
            events = without_noise(seen[start:], sim)
            if sim is not None:
                events = _blame_the_script(events, sim.script_errors[script_errors:])
            record = TurnRecord(events, session.agent, session.state, dict(session.context), number, turn.user)
            result.turns.append(record)
            if not settled:
                message = f"the turn did not settle within {limit:g}s (the session never went idle): {record.story()}"
                result.failures.append(Failure(number, message))
                break
            problems = [f"the server reported an error: {e.message}" for e in record.of(ev.Error)]
            if sim is not None:
                problems += script_problems(sim, test, number, script_errors)
            else:
                problems += live_mismatches(turn, record, doc)
            if turn.expect is not None:
                problems += unmet(turn.expect, record, doc, live=sim is None)
                if turn.expect.interrupted and turn.interrupt_after is not None:
                    problems += cut_problems(turn.interrupt_after, record)
            result.failures += [Failure(number, p) for p in problems]
    await collector


class _Voice:
    """A turn's words as the user gives them: typed, or spoken from a WAV file or synthesized speech."""

    def __init__(self, session: Session, doc: Document, *, live: bool, files: Document) -> None:
        self._session = session
        self._doc = doc
        self._files = files  # where the test was written: its audio files are beside it
        self._live = live
        self._format: AudioFormat | None = None

    async def say(self, turn: Turn) -> None:
        session = self._session
        if turn.user is None:
            await session.request_response()
        elif turn.audio is None:
            if turn.interrupt_after is not None:
                await session.interrupt()  # typed over the reply: cut it where it was heard
            await session.send_text(turn.user)
        else:
            await self._speak(turn)

    async def _speak(self, turn: Turn) -> None:
        from ..io import call_formats, read_wav, stream_audio

        if self._format is None:
            self._format = call_formats(self._doc, self._session.agent)[0]
        fmt = self._format
        assert turn.user is not None and turn.audio is not None
        if turn.audio == "speak":
            import base64

            from ..sim.voice import speak

            speech = speak(turn.user, fmt, "espeak" if self._live else "auto")  # a tone will do offline
            audio = b"".join(base64.b64decode(chunk) for chunk in speech.chunks)
        else:
            from ..spec.files import confined_file  # confined like every file a graph names

            audio = read_wav(confined_file(self._files.dir, turn.audio, self._files.root), fmt)
        # The microphone stays open after the words, so that turn detection hears them end.
        await stream_audio(audio, fmt, self._session.send_audio, tail_ms=1000)


async def heard_for(seen: list[ev.SessionEvent], start: int, seconds: float, limit: float) -> None:
    """Wait until the turn's reply has played for `seconds` (timed from its first audio)."""
    async with asyncio.timeout(limit):
        while not any(isinstance(e, ev.AudioStarted) for e in seen[start:]):
            await asyncio.sleep(0.005)
        await asyncio.sleep(seconds)


async def collect_events(session: Session, seen: list[ev.SessionEvent]) -> None:
    async for event in session:
        if not isinstance(event, ev.Audio):
            seen.append(event)


def without_noise(events: list[ev.SessionEvent], sim: Simulator | None) -> list[ev.SessionEvent]:
    """The events, less the errors of the simulator refusing the script (reported apart)."""
    ignored = {e.code for e in sim.script_errors} if sim else set()
    return [e for e in events if not (isinstance(e, ev.Error) and e.code in ignored)]


def _blame_the_script(events: list[ev.SessionEvent], refusals: list[ScriptError]) -> list[ev.SessionEvent]:
    """A tool call that failed because the simulator refused the script's part in it (a supervisor answer
    off its schema, say) shows that, not the client's error for the refusal ("could not be reached: 400")."""
    blamed = {e.tool: e.message for e in refusals if e.tool}
    if not blamed:
        return events
    return [
        replace(e, output=json.dumps({"error": f"the script is at fault: {blamed[e.tool]}"}))
        if isinstance(e, ev.ToolEnd) and not e.ok and e.tool in blamed
        else e
        for e in events
    ]


def script_problems(sim: Simulator, test: ConversationTest, number: int, before: int) -> list[str]:
    """The script's actions for this turn that the simulator refused, or that were never asked for."""
    refusals = sim.script_errors[before:]
    problems = [f"the simulator could not play the script: {e.message}" for e in refusals]
    turn, action = sim.cursor
    actions = test.turns[number - 1].model
    if not refusals and turn == number - 1 and action < len(actions):
        left = ", ".join(_action(a) for a in actions[action:])
        problems.append(f"model: the script's {left} never played: the engine did not ask for another response")
    return problems


def _action(action: Say | Call | Handoff | Transition) -> str:
    match action:
        case Say(say=text):
            return f"say {show(text, 60)}"
        case Call(call=tool):
            return f"call {tool}"
        case Handoff(handoff=agent):
            return f"handoff {agent}"
        case Transition(transition=target):
            return f"transition {target}"


def mismatch_message(mismatch: Mismatch) -> str:
    if mismatch.turn is None:
        return f"the engine sent a user message after the script's last turn: {show(mismatch.received)}"
    return (
        f"turn {mismatch.turn + 1}: the engine sent the user message {show(mismatch.received)}, "
        f"the script has {show(mismatch.expected)}"
    )
