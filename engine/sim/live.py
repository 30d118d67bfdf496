"""The simulator speaking GPT-Live (`/v1/live/sessions`), as strictly as the real endpoint.

`LiveSimulator` is the `Simulator` (Realtime, Responses, client secrets) with one more websocket
route. A GPT-Live connection:

- refuses any client event the openai types refuse (unknown fields, with `error.param`), commands
  before `session.start`, changes to immutable settings (model, instructions, audio, input, delegation
  type), appends over 500 tokens, fixtures over 30 s or while one plays, more than 128 input messages,
  `response.*` events under client delegation, delegation ids on appends under Responses delegation;
- sends `session.started`, then output audio all the time (what the model says spoken as the Realtime
  simulator speaks it, by espeak-ng or a speech-like tone; silence between replies) with transcript
  deltas carrying their millisecond ranges on the session timeline;
- hears input audio: speech is detected from its energy, and the transcript of an utterance is the
  scripted user turn it stands for;
- raises `session.delegation.created` (no task text) after each utterance, at start for a first turn
  the model opens, and when told (`delegate()`, for a later turn the model opens); speaks `commentary`;
  acknowledges appends; reports usage every `usage_interval` seconds; closes with a reason
  (`close_requested`, or `expired` from `expire()`).

Under Responses delegation the simulator is the backend too: it plays the script's actions itself,
speaks their text and sends function calls as `response.event` envelopes, continuing after the
client's `response.item.create` outputs and `response.create`. Under client delegation the scripted
model plays the backend's side through the Responses endpoint: the engine's requests tagged
`metadata.engine_kind: live_delegation` play the script's actions from the shared cursor, as the
Realtime simulator's responses do (a request plays consecutive `say`s up to a `call`, `handoff` or
`transition`; a `say` is the message text the engine speaks as commentary).
"""

from __future__ import annotations

import array
import asyncio
import base64
import binascii
import contextlib
import functools
import json
import time
from collections import deque
from typing import Any

from aiohttp import WSMsgType, web

from engine.io.formats import AudioFormat
from engine.spec.models import handoff_tool_name
from engine.spec.script import TRANSITION_TOOL, Call, Handoff, Say, Script, Transition

from . import audio, voice
from .cursor import ScriptError
from .responses import BadRequest
from .server import Simulator
from .validation import api_error, check_client_event, check_live_accept

__all__ = ["LiveConnection", "LiveSimulator", "speech_audio", "tokens"]

APPEND_TOKEN_LIMIT = 500
FIXTURE_MS_LIMIT = 30_000
INPUT_MESSAGE_LIMIT = 128
INSTRUCTIONS_TOKEN_LIMIT = 16_384
#: Settings `session.update` cannot change (openai.types.live.SessionUpdateConfig has none of them).
IMMUTABLE = ("model", "instructions", "audio", "input", "client", "store", "safety_identifier")

_FRAME_MS = 20
_ENERGY = 500.0  # RMS of a PCM16 frame above which it is speech
_G711_SILENCE = {"audio/pcmu": (0xFF, 0x7F), "audio/pcma": (0xD5, 0x55)}
_SIP_FORMAT = {"type": "audio/pcmu", "rate": 8000}  # what the simulated SIP trunk negotiates


_MS_PER_CHAR = 60  # how long the simulated model takes to say a character
_CHUNK_MS = 100  # the API sends audio deltas of tens of milliseconds


def _speech_ms(text: str) -> int:
    return len(text) * _MS_PER_CHAR


def _chunk_durations(total_ms: int, chunk_ms: int = _CHUNK_MS) -> list[int]:
    """Durations of the audio deltas covering `total_ms`: full chunks, then the remainder."""
    full, rest = divmod(total_ms, chunk_ms)
    return [chunk_ms] * full + ([rest] if rest else [])


# Silence in each format: zero samples for pcm16, the G.711 codes for a zero level.
_SILENCE_BYTE = {"audio/pcm": b"\x00", "audio/pcmu": b"\xff", "audio/pcma": b"\xd5"}


@functools.cache
def _silence_b64(ms: int, format_type: str, bytes_per_ms: int) -> str:
    """Base64 of `ms` of silence (cached: every delta of the same size is the same string)."""
    return base64.b64encode(_SILENCE_BYTE.get(format_type, b"\x00") * (ms * bytes_per_ms)).decode("ascii")


def tokens(text: str) -> int:
    """Tokens of `text` as the simulator counts them: about four characters a token."""
    return (len(text) + 3) // 4


def speech_audio(text: str, *, rate: int = 24000, silence_ms: int = 700) -> bytes:
    """PCM16 audio standing for saying `text` (a loud square wave sized to the text), then silence
    long enough to end the utterance: what a test streams for a user turn on GPT-Live."""
    speech_ms = max(300, _speech_ms(text))
    per_ms = rate // 1000
    period = [8000] * 10 + [-8000] * 10
    samples = array.array("h", (period * ((speech_ms * per_ms) // len(period) + 1))[: speech_ms * per_ms])
    return samples.tobytes() + b"\x00\x00" * (silence_ms * per_ms)


def _bytes_per_ms(fmt: dict[str, Any]) -> int:
    if fmt.get("type", "audio/pcm") == "audio/pcm":
        return 2 * int(fmt.get("rate") or 24000) // 1000
    return 8


class LiveConnection:
    """One GPT-Live websocket session of the simulator."""

    def __init__(
        self, sim: LiveSimulator, ws: web.WebSocketResponse, request: web.Request, *, sideband: str | None = None
    ) -> None:
        self.sim = sim
        self.ws = ws
        self.request = request
        self.sideband = sideband  # the SIP session attached to (`…/{id}/attach`), or None: a primary websocket
        self.closed = False
        self.session: dict[str, Any] | None = None  # the SessionResource once started
        self.delegations: dict[str, str] = {}  # id -> open | answered
        self.timeline_ms = 0  # output audio sent (the output streams all the time: the session clock)
        self._lock = asyncio.Lock()
        # (transcript delta, audio ms, the audio as base64 or None for silence)
        self._speech: deque[tuple[dict[str, Any] | None, int, str | None]] = deque()
        self._wake = asyncio.Event()
        self._streamer: asyncio.Task[None] | None = None
        self._fixture: asyncio.Task[None] | None = None
        self._muted = False
        self._started_at = 0.0
        # Responses delegation: the delegation the backend works on, the call outputs it was given.
        self._current: str | None = None
        self._outputs: set[Any] = set()
        self._backend_task: asyncio.Task[None] | None = None
        # Input: speech detection over frames of the input audio.
        self._input_ms = 0
        self._pending = b""
        self._speech_start: int | None = None
        self._silence_run = 0

    # -- transport -------------------------------------------------------------------------------

    async def send(self, event: dict[str, Any]) -> bool:
        if self.closed or self.ws.closed:
            return False
        if event["type"] != "session.output_audio.delta":  # the one server event without an id
            event = {"event_id": self.sim.new_id("event"), **event}
        text = json.dumps(event, ensure_ascii=False)
        async with self._lock:
            try:
                await self.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                self.closed = True
                return False
            if event["type"] != "session.output_audio.delta":
                self.sim.record_sent(text)
        await asyncio.sleep(0)
        return True

    async def send_raw(self, text: str) -> None:
        async with self._lock:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.ws.send_str(text)

    async def error(self, err: dict[str, Any], cause: Any = None) -> None:
        client_event_id = cause.get("event_id") if isinstance(cause, dict) else None
        if isinstance(client_event_id, str):
            err = {**err, "client_event_id": client_event_id}
        await self.send(
            {"type": "error", "error": err, **({"client_event_id": client_event_id} if client_event_id else {})}
        )

    def abort(self) -> None:
        self.closed = True
        transport = self.request.transport
        if transport is not None:
            transport.abort()

    async def close(self, reason: str) -> None:
        """`session.closed` with `reason`, then the close frame."""
        if self.session is not None:
            usage = {"seconds": float(int(time.monotonic() - self._started_at))}
            await self.send({"type": "session.closed", "reason": reason, "session": self.session, "usage": usage})
        self.closed = True
        with contextlib.suppress(Exception):
            await self.ws.close(code=1000, message=reason.encode())

    async def run(self) -> None:
        try:
            async for msg in self.ws:
                if msg.type == WSMsgType.TEXT:
                    await self._on_text(msg.data)
                elif msg.type == WSMsgType.BINARY:
                    await self.error(
                        api_error("Binary frames are not supported: send JSON text events.", "invalid_value")
                    )
                else:
                    break
        finally:
            self.closed = True
            for task in (self._streamer, self._fixture, self._backend_task):
                if task is not None:
                    task.cancel()

    # -- client events ---------------------------------------------------------------------------

    async def _on_text(self, data: str) -> None:
        try:
            event = json.loads(data)
        except ValueError:
            await self.error(api_error("The event is not valid JSON.", "invalid_json"))
            return
        self.sim.record_received(event)
        kind = event.get("type") if isinstance(event, dict) else None
        if self.session is None and kind != "session.start":
            message = "Send session.start first and wait for session.started."
            await self.error(api_error(message, "session_not_started", "type"), event)
            return
        if kind == "transport.dtmf.send" and self.sideband is not None:
            await self._dtmf(event)
            return
        if kind == "session.update" and isinstance(event.get("session"), dict):
            refused = self._immutable(event["session"])
            if refused is not None:
                await self.error(refused, event)
                return
        refused = check_client_event(event, "live")
        if refused is not None:
            await self.error(refused, event)
            return
        handler = getattr(self, "_on_" + kind.replace(".", "_"), None)  # type: ignore[union-attr]
        if handler is None:
            message = f"The simulator does not serve '{kind}'."
            await self.error(api_error(message, "unsupported", "type"), event)
            return
        await handler(event)

    async def _dtmf(self, event: dict[str, Any]) -> None:
        """`transport.dtmf.send` (sideband only: `openai.types.live.ConnectClientEvent`): one key."""
        unknown = [k for k in event if k not in ("type", "event", "event_id")]
        if unknown:
            await self.error(api_error(f"Unknown parameter: '{unknown[0]}'.", "unknown_parameter", unknown[0]), event)
            return
        key = event.get("event")
        if not isinstance(key, str) or len(key) != 1 or key not in "0123456789ABCD*#":
            await self.error(api_error("'event' is one DTMF key: 0-9, A-D, * or #.", "invalid_value", "event"), event)
            return
        self.sim.call_requests.append(
            {"call_id": self.sideband, "action": "dtmf", "body": {"event": key}, "api": "live"}
        )
        await self.send({"type": "transport.dtmf.sent", "event": key, **_echo(event)})

    def _immutable(self, update: dict[str, Any]) -> dict[str, Any] | None:
        for key in IMMUTABLE:
            if key in update:
                message = f"Cannot update 'session.{key}': it is immutable after session.start."
                return api_error(message, "immutable_parameter", f"session.{key}")
        delegation = update.get("delegation")
        current = ((self.session or {}).get("delegation") or {}).get("type", "client")
        if isinstance(delegation, dict) and delegation.get("type", current) != current:
            message = f"The delegation type cannot change (it is '{current}')."
            return api_error(message, "immutable_parameter", "session.delegation.type")
        return None

    async def _on_session_start(self, event: dict[str, Any]) -> None:
        if self.session is not None:
            await self.error(api_error("The session has already started.", "session_already_started", "type"), event)
            return
        config = event["session"]
        if len(config.get("input") or ()) > INPUT_MESSAGE_LIMIT:
            message = f"'session.input' holds {len(config['input'])} messages; the limit is {INPUT_MESSAGE_LIMIT}."
            await self.error(api_error(message, "array_above_max_length", "session.input"), event)
            return
        if tokens(config.get("instructions") or "") > INSTRUCTIONS_TOKEN_LIMIT:
            message = f"'session.instructions' is over {INSTRUCTIONS_TOKEN_LIMIT} tokens."
            await self.error(api_error(message, "string_above_max_length", "session.instructions"), event)
            return
        await self._begin(self.sim.new_id("sess"), config, event)

    async def attached(self, session_id: str, config: dict[str, Any]) -> None:
        """A sideband on an accepted SIP call: the session started with the accept's config (and its
        audio is the call's, G.711 μ-law as negotiated); no `session.started` is sent again."""
        await self._begin(session_id, {**config, "audio": {**(config.get("audio") or {}), "format": _SIP_FORMAT}})

    async def _begin(self, session_id: str, config: dict[str, Any], event: dict[str, Any] | None = None) -> None:
        audio_config = config.get("audio") or {}
        self.session = {
            "id": session_id,
            "expires_at": int(time.time()) + int(self.sim.session_seconds),
            "model": config["model"],
            "status": "active",
            "audio": {
                "format": audio_config.get("format") or {"type": "audio/pcm", "rate": 24000},
                "output": {"voice": (audio_config.get("output") or {}).get("voice") or "marin"},
            },
            "delegation": config.get("delegation") or {"type": "client"},
            "instructions": config.get("instructions") or "",
            "input": config.get("input") or [],
        }
        self._started_at = time.monotonic()
        self.sim.sessions_started += 1
        if event is not None:
            await self.send({"type": "session.started", "session": self.session, **_echo(event)})
        self._streamer = asyncio.create_task(self._stream())
        if self.sim.model_opens():
            await self.delegate()  # a turn the model opens (a greeting)

    async def _on_session_update(self, event: dict[str, Any]) -> None:
        assert self.session is not None
        update = event["session"]
        if "delegation" in update:
            current, change = self.session["delegation"], dict(update["delegation"] or {})
            if "responses" in change:  # sparse: omitted backend settings keep their values
                change["responses"] = {**current.get("responses", {}), **(change["responses"] or {})}
            self.session["delegation"] = {**current, **change}
        await self.send({"type": "session.updated", "session": self.session, **_echo(event)})

    async def _on_session_close(self, event: dict[str, Any]) -> None:
        await self.close("close_requested")

    async def _on_session_input_audio_append(self, event: dict[str, Any]) -> None:
        try:
            data = base64.b64decode(event["audio"], validate=True)
        except (binascii.Error, ValueError):
            await self.error(api_error("Invalid base64 audio.", "invalid_value", "audio"), event)
            return
        if self._muted:
            return  # input during a fixture is dropped, not replayed
        await self._hear(data)

    async def _on_session_input_audio_mute(self, event: dict[str, Any]) -> None:
        self._muted = True
        await self.send({"type": "session.input_audio.muted", **_echo(event)})

    async def _on_session_input_audio_unmute(self, event: dict[str, Any]) -> None:
        self._muted = False
        await self.send({"type": "session.input_audio.unmuted", **_echo(event)})

    async def _on_session_output_audio_fixture_play(self, event: dict[str, Any]) -> None:
        try:
            data = base64.b64decode(event["audio"], validate=True)
        except (binascii.Error, ValueError):
            await self.error(api_error("Invalid base64 audio.", "invalid_value", "audio"), event)
            return
        if self._fixture is not None and not self._fixture.done():
            await self.error(api_error("An audio fixture is already playing.", "fixture_active", "audio"), event)
            return
        ms = len(data) // 48  # always PCM16 at 24 kHz
        if ms > FIXTURE_MS_LIMIT:
            message = f"The fixture is {ms} ms long; the limit is {FIXTURE_MS_LIMIT} ms."
            await self.error(api_error(message, "fixture_too_long", "audio"), event)
            return
        self._speech.clear()  # the fixture interrupts the model's speech
        self._muted = True
        await self.send({"type": "session.output_audio.fixture.playing", **_echo(event)})
        self._fixture = asyncio.create_task(self._play_fixture(ms, event))

    async def _play_fixture(self, ms: int, event: dict[str, Any]) -> None:
        for chunk in _chunk_durations(ms):
            self._speech.appendleft((None, chunk, None))
        self._wake.set()
        while self._speech:
            await asyncio.sleep(0.01)
        self._muted = False
        await self.send({"type": "session.output_audio.fixture.played", **_echo(event)})

    async def _append(self, event: dict[str, Any], kind: str) -> bool:
        if self._fixture is not None and not self._fixture.done():
            await self.error(api_error("Appends are refused while an audio fixture plays.", "fixture_active"), event)
            return False
        content = event["content"]
        if tokens(content) > APPEND_TOKEN_LIMIT:
            message = f"'content' is {tokens(content)} tokens; the limit is {APPEND_TOKEN_LIMIT}."
            await self.error(api_error(message, "string_above_max_length", "content"), event)
            return False
        delegation_id = event.get("delegation_id")
        if delegation_id is not None and self.responses_delegation:
            message = "Non-null delegation ids are not accepted with Responses delegation."
            await self.error(api_error(message, "invalid_value", "delegation_id"), event)
            return False
        if delegation_id is not None and delegation_id not in self.delegations:
            message = f"Unknown delegation '{delegation_id}'."
            await self.error(api_error(message, "invalid_value", "delegation_id"), event)
            return False
        now = self.timeline_ms
        await self.send({"type": f"session.{kind}.appended", "start_ms": now, "end_ms": now, **_echo(event)})
        if delegation_id is not None and kind != "instructions":
            self.delegations[delegation_id] = "answered"
        return True

    async def _on_session_instructions_append(self, event: dict[str, Any]) -> None:
        await self._append(event, "instructions")

    async def _on_session_thinking_append(self, event: dict[str, Any]) -> None:
        await self._append(event, "thinking")

    async def _on_session_commentary_append(self, event: dict[str, Any]) -> None:
        if await self._append(event, "commentary"):
            self.sim.spoken.append(event["content"])
            self._say(event["content"])

    @property
    def responses_delegation(self) -> bool:
        return ((self.session or {}).get("delegation") or {}).get("type") == "responses"

    async def _on_response_item_create(self, event: dict[str, Any]) -> None:
        if not self.responses_delegation:
            await self._refused_response(event)
            return
        item = event["item"]
        if item.get("type") == "function_call_output":
            self._outputs.add(item.get("call_id"))

    async def _on_response_create(self, event: dict[str, Any]) -> None:
        if not self.responses_delegation:
            await self._refused_response(event)
            return
        delegation_id = self._current
        missing = self.sim.pending_calls.get(delegation_id or "", set()) - self._outputs
        if delegation_id is None or missing:
            message = (
                f"No tool output found for function call {sorted(missing)[0]}." if missing else "Nothing to continue."
            )
            await self.error(api_error(message, "invalid_value", "item"), event)
            return
        self._backend_task = asyncio.create_task(self._backend_round(delegation_id))

    async def _refused_response(self, event: dict[str, Any]) -> None:
        message = "response.* events are refused under client delegation."
        await self.error(api_error(message, "invalid_request", "type"), event)

    async def _backend_round(self, delegation_id: str) -> None:
        """Responses delegation: the server's own backend plays the script's next actions, speaks its
        text, and hands its function calls to the client in `response.event` envelopes."""
        assert self.session is not None
        tools = self.session["delegation"]["responses"].get("tools") or []
        offered = [t.get("name") for t in tools if isinstance(t, dict) and t.get("type") == "function"]
        try:
            output = self.sim.script_output(offered, delegation_id)
        except BadRequest as exc:
            await self.send({"type": "error", "error": exc.body()["error"] | {"code": exc.code or "invalid_value"}})
            return
        sequence = 0
        for index, item in enumerate(output):
            if item["type"] == "message":
                self.sim.spoken.append(item["content"][0]["text"])
                self._say(item["content"][0]["text"])
                continue
            inner = {
                "type": "response.output_item.done",
                "output_index": index,
                "sequence_number": sequence,
                "item": item,
            }
            await self.send({"type": "response.event", "event": inner, "delegation_id": delegation_id})
            sequence += 1
        done = {"id": self.sim.new_id("resp"), "object": "response", "status": "completed"}
        inner = {"type": "response.completed", "sequence_number": sequence, "response": done}
        await self.send({"type": "response.event", "event": inner, "delegation_id": delegation_id})

    # -- speech ----------------------------------------------------------------------------------

    def _say(self, text: str) -> None:
        """Queue `text` as speech (espeak-ng, or a speech-like tone: never silence, a person may be
        listening), in deltas of up to 100 ms, each after the transcript words it speaks."""
        assert self.session is not None
        speech = voice.speak(text.strip(), AudioFormat.from_session(self.session["audio"]["format"]))
        deltas = audio.transcript_deltas(text.strip() + " ")
        starts = [speech.ms_at(sum(map(len, deltas[:i]))) for i in range(len(deltas))]
        said, at = 0, 0
        for index, (chunk, ms) in enumerate(zip(speech.chunks, speech.chunk_ms, strict=True)):
            last = index == len(speech.chunks) - 1
            words = [d for i, d in enumerate(deltas[said:], said) if last or starts[i] <= at]
            said += len(words)
            self._speech.append(({"delta": "".join(words), "ms": ms} if words else None, ms, chunk))
            at += ms
        self._wake.set()

    async def _stream(self) -> None:
        """Output audio, all the time: speech when there is some, silence otherwise; usage reports."""
        assert self.session is not None
        fmt = self.session["audio"]["format"]
        per_ms = _bytes_per_ms(fmt)
        next_usage = time.monotonic() + self.sim.usage_interval
        deadline = self._started_at + self.sim.session_seconds
        while not self.closed:
            if self._speech:
                transcript, ms, spoken = self._speech.popleft()
                if transcript is not None:
                    start = self.timeline_ms
                    event = {"type": "session.output_transcript.delta", "delta": transcript["delta"]}
                    await self.send({**event, "start_ms": start, "end_ms": start + transcript["ms"]})
                pause = ms / 1000 if self.sim.realtime_pacing else 0.0
            else:
                ms, spoken = self.sim.idle_chunk_ms, None
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), ms / 1000)
                if self._speech:
                    continue
                pause = 0.0
            delta = spoken or _silence_b64(ms, fmt.get("type", "audio/pcm"), per_ms)
            await self.send({"type": "session.output_audio.delta", "delta": delta})
            self.timeline_ms += ms
            now = time.monotonic()
            if now >= next_usage:
                next_usage = now + self.sim.usage_interval
                usage = {"seconds": float(int(now - self._started_at))}
                await self.send({"type": "session.usage.updated", "usage": usage})
            if now >= deadline:
                await self.close("expired")
                return
            if pause:
                await asyncio.sleep(pause)

    async def interrupt(self, audio_start_ms: int | None) -> str:
        """`Simulator.barge_in()`: the user talks over the model, which stops speaking (GPT-Live sends
        no event for it: the output goes on, silent). Returns "" (there are no items)."""
        self._speech.clear()
        return ""

    # -- hearing ---------------------------------------------------------------------------------

    async def _hear(self, data: bytes) -> None:
        assert self.session is not None
        fmt = self.session["audio"]["format"]
        per_ms = _bytes_per_ms(fmt)
        frame = per_ms * _FRAME_MS
        data = self._pending + data
        whole = len(data) - len(data) % frame
        self._pending = data[whole:]
        for offset in range(0, whole, frame):
            loud = _is_speech(data[offset : offset + frame], fmt)
            self._input_ms += _FRAME_MS
            if loud:
                if self._speech_start is None:
                    self._speech_start = self._input_ms - _FRAME_MS
                    if self._speech:
                        self._speech.clear()  # the model hears the user talk over it, and stops
                self._silence_run = 0
            elif self._speech_start is not None:
                self._silence_run += _FRAME_MS
                if self._silence_run >= self.sim.silence_ms:
                    start, end = self._speech_start, self._input_ms - self._silence_run
                    self._speech_start, self._silence_run = None, 0
                    await self._utterance(start, end)

    async def _utterance(self, start: int, end: int) -> None:
        expected = self.sim.user_turn(None)
        if expected is None:
            return  # speech the script does not stand for: the model hears nothing it can use
        deltas = audio.transcript_deltas(expected)
        span = max(1, end - start)
        at = start
        for index, delta in enumerate(deltas):
            stop = end if index == len(deltas) - 1 else start + span * (index + 1) // len(deltas)
            await self.send({"type": "session.input_transcript.delta", "delta": delta, "start_ms": at, "end_ms": stop})
            at = stop
        await self.delegate()

    async def delegate(self) -> None:
        """Raise `session.delegation.created` now (the model hands a task to the backend)."""
        delegation_id = self.sim.new_id("deleg")
        self.delegations[delegation_id] = "open"
        delegation: dict[str, Any] = {"id": delegation_id, "target": "client", "type": "delegation"}
        if self.responses_delegation:
            delegation |= {"target": "responses", "response_id": self.sim.new_id("resp")}
        await self.send({"type": "session.delegation.created", "delegation": delegation, "offset_ms": self.timeline_ms})
        if self.responses_delegation:
            self._current, self._outputs = delegation_id, set()
            self._backend_task = asyncio.create_task(self._backend_round(delegation_id))


def _echo(event: dict[str, Any]) -> dict[str, Any]:
    client_event_id = event.get("event_id")
    return {"client_event_id": client_event_id} if isinstance(client_event_id, str) else {}


def _is_speech(frame: bytes, fmt: dict[str, Any]) -> bool:
    kind = fmt.get("type", "audio/pcm")
    if kind == "audio/pcm":
        samples = array.array("h")
        samples.frombytes(frame)
        if not samples:
            return False
        return (sum(s * s for s in samples) / len(samples)) ** 0.5 > _ENERGY
    quiet = _G711_SILENCE.get(kind, ())
    return sum(b not in quiet for b in frame) > len(frame) // 2


def _serves(conn: LiveConnection, delegation_id: Any, session_id: Any) -> bool:
    if delegation_id:
        return delegation_id in conn.delegations
    return conn.session is not None and conn.session["id"] == session_id


class LiveSimulator(Simulator):
    """The simulator with GPT-Live too: `ws://host:port/v1/live/sessions` (`live_url`), and SIP calls on
    GPT-Live: `POST /v1/live/sessions/{id}/accept|reject|refer|hangup` (recorded in `call_requests`
    with `"api": "live"`, refusals in `call_refusals`) and the sideband `GET /v1/live/sessions/{id}/attach`
    of an accepted call (its session runs as a primary one does; `transport.dtmf.send` is recorded).

    `usage_interval`: seconds between `session.usage.updated` (the API: about 15); `silence_ms`: the
    silence that ends an utterance; `idle_chunk_ms`: output audio per delta when the model is silent;
    `session_seconds`: when a session expires. Records what the model said in `spoken`.
    """

    def __init__(
        self,
        script: Script | None = None,
        *,
        usage_interval: float = 15.0,
        silence_ms: int = 500,
        idle_chunk_ms: int = 100,
        session_seconds: float = 7200.0,
        **options: Any,
    ) -> None:
        super().__init__(script, **options)
        self.usage_interval = usage_interval
        self.silence_ms = silence_ms
        self.idle_chunk_ms = idle_chunk_ms
        self.session_seconds = session_seconds
        self.spoken: list[str] = []
        self.sessions_started = 0
        self.backend_requests: list[dict[str, Any]] = []
        self._live: set[LiveConnection] = set()
        self.pending_calls: dict[str, set[str]] = {}  # delegation or session id -> call ids whose outputs must come
        self.answered_calls: dict[str, dict[str, Any] | None] = {}  # SIP session id -> accepted config, None: rejected
        self.call_refusals: list[dict[str, Any]] = []  # GPT-Live calls requests refused: {"call_id", "action", "error"}

    def _routes(self, app: web.Application) -> None:
        super()._routes(app)
        app.router.add_get("/v1/live/sessions", self._live_endpoint)
        app.router.add_get("/v1/live/sessions/{session_id}/attach", self._attach_endpoint)
        app.router.add_post("/v1/live/sessions/{session_id}/{action}", self._live_calls_endpoint)

    async def _live_calls_endpoint(self, request: web.Request) -> web.Response:
        """A GPT-Live SIP call's accept / reject / refer / hangup, recorded in `call_requests` (with
        `"api": "live"`). The accept body is checked strictly (`SessionAcceptParams`); a call is
        accepted or rejected once; a hang-up closes its sideband (`close_requested`)."""
        denied = self._unauthorized(self._presented_key(request))
        if denied is not None:
            return denied
        action, session_id = request.match_info["action"], request.match_info["session_id"]
        if action not in ("accept", "reject", "refer", "hangup"):
            return web.json_response(
                {"error": api_error(f"Unknown call action '{action}'.", "invalid_value")}, status=404
            )
        body = await self._json_body(request) if request.can_read_body else {}
        refused = self._live_call_refusal(session_id, action, body)
        if refused is not None:
            self.call_refusals.append({"call_id": session_id, "action": action, "error": refused})
            return web.json_response({"error": refused}, status=400)
        self.call_requests.append({"call_id": session_id, "action": action, "body": body, "api": "live"})
        if action in ("accept", "reject"):
            self.answered_calls[session_id] = body.get("session") if action == "accept" else None
        if action == "hangup":
            for conn in [c for c in self._live if c.sideband == session_id]:
                await conn.close("close_requested")
        return web.Response(status=200)

    def _live_call_refusal(self, session_id: str, action: str, body: Any) -> dict[str, Any] | None:
        if action in ("accept", "reject") and session_id in self.answered_calls:
            done = "accepted" if self.answered_calls[session_id] is not None else "rejected"
            return api_error(f"The call '{session_id}' was already {done}.", "call_already_answered")
        if action in ("refer", "hangup") and self.answered_calls.get(session_id) is None:
            return api_error(f"The call '{session_id}' has not been accepted.", "call_not_accepted")
        if action == "accept":
            return check_live_accept(body)
        if action == "reject" and not (isinstance(body, dict) and isinstance(body.get("status_code"), int)):
            return api_error("Missing required parameter: 'status_code'.", "missing_required_parameter", "status_code")
        if action == "refer" and not (isinstance(body, dict) and isinstance(body.get("target_uri"), str)):
            return api_error("Missing required parameter: 'target_uri'.", "missing_required_parameter", "target_uri")
        return None

    async def _attach_endpoint(self, request: web.Request) -> web.StreamResponse:
        """The sideband of an accepted SIP call: GPT-Live events of its session, and its commands."""
        denied = self._unauthorized(self._presented_key(request))
        if denied is not None:
            return denied
        session_id = request.match_info["session_id"]
        config = self.answered_calls.get(session_id)
        if config is None:
            message = f"No accepted SIP call '{session_id}' to attach to."
            return web.json_response({"error": api_error(message, "session_not_found", "session_id")}, status=404)
        ws = web.WebSocketResponse(compress=False, max_msg_size=16 * 1024 * 1024, timeout=1.0)
        if not ws.can_prepare(request).ok:
            return web.json_response(
                {"error": api_error("Expected a websocket upgrade.", "invalid_request")}, status=400
            )
        await ws.prepare(request)
        conn = LiveConnection(self, ws, request, sideband=session_id)
        self._live.add(conn)
        self._connections.add(conn)  # type: ignore[arg-type]
        self.connections_opened += 1
        try:
            await conn.attached(session_id, config)
            await conn.run()
        finally:
            self._live.discard(conn)
            self._connections.discard(conn)  # type: ignore[arg-type]
        return ws

    @property
    def live_url(self) -> str:
        return f"ws://{self.host}:{self.port}/v1/live/sessions"

    async def delegate(self) -> None:
        """The model opens a turn: a delegation now on every started GPT-Live session (a test's turn
        without user words; the first one is raised at session start)."""
        conns = [c for c in self._live if c.session is not None and not c.closed]
        if not conns:
            raise RuntimeError("no open GPT-Live session")
        for conn in conns:
            await conn.delegate()

    async def expire(self, reason: str = "expired") -> None:
        """Close every GPT-Live session now with `reason` (`session.closed`, then the close frame)."""
        for conn in list(self._live):
            await conn.close(reason)

    async def _live_endpoint(self, request: web.Request) -> web.StreamResponse:
        denied = self._unauthorized(self._presented_key(request))
        if denied is not None:
            return denied
        if "model" in request.query:
            body = {"error": api_error("Pass the model in session.start, not the URL.", "unknown_parameter", "model")}
            return web.json_response(body, status=400)
        ws = web.WebSocketResponse(compress=False, max_msg_size=16 * 1024 * 1024, timeout=1.0)
        if not ws.can_prepare(request).ok:
            return web.json_response(
                {"error": api_error("Expected a websocket upgrade.", "invalid_request")}, status=400
            )
        await ws.prepare(request)
        conn = LiveConnection(self, ws, request)
        self._live.add(conn)
        self._connections.add(conn)  # type: ignore[arg-type]  # stop() and drop_connections() reach it too
        self.connections_opened += 1
        try:
            await conn.run()
        finally:
            self._live.discard(conn)
            self._connections.discard(conn)  # type: ignore[arg-type]
        return ws

    async def _responses_endpoint(self, request: web.Request) -> web.Response:
        body = await self._json_body(request)
        metadata = body.get("metadata") if isinstance(body, dict) else None
        if not isinstance(metadata, dict) or metadata.get("engine_kind") != "live_delegation":
            return await super()._responses_endpoint(request)
        denied = self._unauthorized(self._presented_key(request))
        if denied is not None:
            return denied
        self.responses_requests.append(body)
        self.backend_requests.append(body)
        try:
            output = self._backend(body, metadata)
        except BadRequest as exc:
            return web.json_response(exc.body(), status=400)
        items = body.get("input") if isinstance(body.get("input"), list) else []
        return web.json_response(self._responses._response(body, items, output))

    # -- the scripted backend --------------------------------------------------------------------

    def _backend(self, body: dict[str, Any], metadata: dict[str, Any]) -> list[dict[str, Any]]:
        """The script's next actions as a Responses output: the says as one message, then a call."""
        if not body.get("model"):
            raise BadRequest("Missing required parameter: 'model'.", "missing_required_parameter", "model")
        # A delegation's work, or the backend's own (a correction): the session it is for, by id.
        delegation_id, session_id = metadata.get("delegation_id") or None, metadata.get("session_id")
        key = delegation_id or session_id
        conn = next((c for c in self._live if _serves(c, delegation_id, session_id)), None)
        if conn is None or not isinstance(key, str):
            message = f"No GPT-Live delegation '{delegation_id}' or session '{session_id}'."
            raise BadRequest(message, "invalid_value", "metadata.delegation_id")
        items = body.get("input") if isinstance(body.get("input"), list) else []
        outputs = {i.get("call_id") for i in items if isinstance(i, dict) and i.get("type") == "function_call_output"}
        missing = self.pending_calls.get(key, set()) - outputs
        if missing:
            raise BadRequest(f"No tool output found for function call {sorted(missing)[0]}.", "invalid_value", "input")
        offered = [
            t.get("name") for t in body.get("tools") or [] if isinstance(t, dict) and t.get("type") == "function"
        ]
        return self.script_output(offered, key)

    def script_output(self, offered: list[Any], key: str) -> list[dict[str, Any]]:
        """The next actions of the script as Responses output items (raises `BadRequest` for a call
        the backend does not offer); `key` is whose function call outputs must come back next."""
        says: list[str] = []
        output: list[dict[str, Any]] = []
        for action in self._cursor.next_response():
            if isinstance(action, Say):
                says.append(action.say)
                continue
            if isinstance(action, Call):
                name, args = action.call, action.args
            elif isinstance(action, Transition):
                name = TRANSITION_TOOL
                args = {"to": action.transition, **({"reason": action.reason} if action.reason else {})}
            else:
                assert isinstance(action, Handoff)
                name, args = handoff_tool_name(action.handoff), {}
            if name not in offered and not self.allow_unoffered:
                message = (
                    f"The script calls tool '{name}', which the agent's backend does not offer "
                    f"(offered tools: {', '.join(offered) or 'none'}); the model cannot call it."
                )
                self.script_errors.append(ScriptError("scripted_tool_not_offered", message, name, self._cursor.turn))
                raise BadRequest(message, "scripted_tool_not_offered")
            if isinstance(action, Call) and action.supervisor:
                self._responses.queue(name, list(action.supervisor))
            call_id = self._ids.new("call")
            self.pending_calls[key] = {call_id}
            arguments = json.dumps(args, ensure_ascii=False, separators=(",", ":"))
            output.append(
                {
                    "id": self._ids.new("fc"),
                    "type": "function_call",
                    "status": "completed",
                    "name": name,
                    "arguments": arguments,
                    "call_id": call_id,
                }
            )
        if not output:
            self.pending_calls.pop(key, None)
        if says:
            output.insert(0, self._responses._message(" ".join(s.strip() for s in says)))
        return output
