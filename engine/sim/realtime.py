"""One websocket session of the simulated Realtime API (GA protocol).

Each connection keeps its own session config, conversation items and input audio buffer; the
script cursor, ids and the records (`received`, `sent`, mismatches, script errors) belong to the
simulator, reached through its public methods. A response streams in its own task so that
`response.cancel`, truncation and barge-in interleave with it; between events it yields to the
event loop, and with realtime pacing it sends each audio chunk when the audio before it has played.

It hears (`hearing`): appended audio is decoded in the session's input format and turn detection
runs on the signal, with the API's events; a detected or committed utterance stands for the
script's next user turn, which is its transcript. It speaks (`voice`): each `say` is audio in the
session's output format, its transcript deltas sent as the audio reaches their words.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import copy
import json
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from engine.io.formats import AudioFormat
from engine.spec.models import handoff_tool_name
from engine.spec.script import TRANSITION_TOOL, Call, Say, SupervisorAnswer, SupervisorCall, Transition

from . import audio
from .audio import unscripted_transcript
from .cursor import Played
from .hearing import InputBuffer, SpeechStarted, VadSettings
from .session import (
    default_session,
    function_tool_names,
    input_format,
    merge_session,
    output_format,
    output_modalities,
    transcription,
    turn_detection,
    voice,
)
from .validation import api_error, check_client_event
from .voice import Speech, speak

if TYPE_CHECKING:
    from .server import Simulator

_log = logging.getLogger("engine.sim")

_MIN_COMMIT_MS = 100  # the API refuses to commit less input audio than this


@dataclass
class _Response:
    id: str
    modalities: list[str]
    metadata: dict[str, Any] | None
    tools: list[dict[str, Any]] | None
    out_of_band: bool
    max_output_tokens: Any
    output: list[dict[str, Any]] = field(default_factory=list)
    cancel_reason: str | None = None  # client_cancelled | turn_detected
    error: dict[str, Any] | None = None
    audio_ms: int = 0
    played: Played = field(default_factory=lambda: Played([], (0, 0), (0, 0)))
    finished: int = 0  # actions whose output items were completed


class RealtimeConnection:
    def __init__(
        self,
        sim: Simulator,
        ws: web.WebSocketResponse,
        request: web.Request,
        *,
        model: str,
        call_id: str | None = None,
        session_overrides: dict[str, Any] | None = None,
    ) -> None:
        self.sim = sim
        self.ws = ws
        self.request = request
        self.call_id = call_id
        self.session = default_session(model, sim.new_id("sess"))
        if session_overrides:
            self.session = merge_session(self.session, session_overrides)
        self.conversation_id = sim.new_id("conv")
        self.items: list[dict[str, Any]] = []
        self.closed = False
        self._audio_ms: dict[str, int] = {}  # assistant item id -> audio sent for it
        self._speech: dict[str, Speech] = {}  # assistant item id -> the speech it streams
        self._audio_produced = False
        self._input = InputBuffer(AudioFormat.from_session(input_format(self.session)))
        self._speech_item: str | None = None  # the user item of the speech in progress
        self._idle: asyncio.Task[None] | None = None
        self._playback_end = 0.0  # loop time at which the audio sent so far has played
        self._active: _Response | None = None
        self._last_response_id: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    # -- transport -------------------------------------------------------------------------------

    async def send(self, event: dict[str, Any]) -> bool:
        """Send one server event (recorded in `sim.sent`); False once the socket is gone."""
        if self.closed or self.ws.closed:
            return False
        text = json.dumps({"event_id": self.sim.new_id("event"), **event}, ensure_ascii=False)
        async with self._lock:
            try:
                await self.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                self.closed = True
                return False
            self.sim.record_sent(text)
        await asyncio.sleep(0)  # let client events (cancel, truncate) interleave with a stream
        return True

    async def send_raw(self, text: str) -> None:
        async with self._lock:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.ws.send_str(text)

    async def error(self, err: dict[str, Any], cause: Any = None) -> None:
        if isinstance(cause, dict) and isinstance(cause.get("event_id"), str):
            err = {**err, "event_id": cause["event_id"]}
        await self.send({"type": "error", "error": err})

    def abort(self) -> None:
        """Drop the TCP connection without a close handshake, as a network failure would."""
        self.closed = True
        transport = self.request.transport
        if transport is not None:
            transport.abort()

    async def run(self) -> None:
        await self.send({"type": "session.created", "session": self.session})
        try:
            async for msg in self.ws:
                if msg.type == WSMsgType.TEXT:
                    await self._on_text(msg.data)
                elif msg.type == WSMsgType.BINARY:
                    msg_text = "Binary frames are not supported: send JSON text events."
                    await self.error(api_error(msg_text, "invalid_value"))
                else:
                    break
        finally:
            self.closed = True
            self._cancel_idle()
            if self._active is not None:
                self._give_back(self._active)
            if self._task is not None and not self._task.done():
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task

    async def _on_text(self, data: str) -> None:
        try:
            event = json.loads(data)
        except ValueError as exc:
            await self.error(api_error(f"The event is not valid JSON: {exc}.", "invalid_json"))
            return
        self.sim.record_received(event)
        err = check_client_event(event)
        if err is not None:
            await self.error(err, event)
            return
        handler = getattr(self, "_on_" + event["type"].replace(".", "_"))
        try:
            await handler(event)
        except Exception:  # the simulator must never crash on a client event
            _log.exception("simulator failed handling %s", event["type"])
            await self.error({**api_error("The simulator failed on this event.", None), "type": "server_error"}, event)

    # -- session and conversation ----------------------------------------------------------------

    async def _on_session_update(self, event: dict[str, Any]) -> None:
        merged = merge_session(self.session, event["session"])
        if self._audio_produced and voice(merged) != voice(self.session):
            await self.error(
                api_error(
                    "Cannot update a conversation's voice if assistant audio is present.",
                    "cannot_update_voice",
                    "session.audio.output.voice",
                ),
                event,
            )
            return
        self.session = merged
        self._input.set_format(AudioFormat.from_session(input_format(self.session)))
        await self.send({"type": "session.updated", "session": self.session})

    def _index(self, item_id: str) -> int | None:
        return next((i for i, it in enumerate(self.items) if it.get("id") == item_id), None)

    def _previous_id(self, index: int) -> str | None:
        return self.items[index - 1]["id"] if index > 0 else None

    async def _on_conversation_item_create(self, event: dict[str, Any]) -> None:
        item = copy.deepcopy(event["item"])
        item.setdefault("id", self.sim.new_id("item"))
        item["object"] = "realtime.item"
        item.setdefault("status", "completed")
        if self._index(item["id"]) is not None:
            msg = f"Item with id '{item['id']}' already exists."
            await self.error(api_error(msg, "invalid_value", "item.id"), event)
            return
        if item["type"] == "function_call_output" and not any(
            it.get("type") == "function_call" and it.get("call_id") == item["call_id"] for it in self.items
        ):
            msg = f"Tool call ID '{item['call_id']}' not found in conversation."
            await self.error(api_error(msg, "invalid_value", "item.call_id"), event)
            return
        previous = event.get("previous_item_id")
        if previous is None:
            index = len(self.items)
        elif previous == "root":
            index = 0
        else:
            found = self._index(previous)
            if found is None:
                msg = f"Previous item with id '{previous}' does not exist."
                await self.error(api_error(msg, "invalid_value", "previous_item_id"), event)
                return
            index = found + 1
        self.items.insert(index, item)
        await self.send({"type": "conversation.item.added", "previous_item_id": self._previous_id(index), "item": item})
        await self.send({"type": "conversation.item.done", "previous_item_id": self._previous_id(index), "item": item})
        if item["type"] == "message" and item.get("role") == "user":
            self._cancel_idle()  # the user answered (in text)
            self.sim.user_turn(_user_text(item), item["id"])

    async def _on_conversation_item_delete(self, event: dict[str, Any]) -> None:
        index = self._index(event["item_id"])
        if index is None:
            await self.error(api_error(f"Item '{event['item_id']}' not found.", "invalid_value", "item_id"), event)
            return
        del self.items[index]
        await self.send({"type": "conversation.item.deleted", "item_id": event["item_id"]})

    async def _on_conversation_item_retrieve(self, event: dict[str, Any]) -> None:
        index = self._index(event["item_id"])
        if index is None:
            await self.error(api_error(f"Item '{event['item_id']}' not found.", "invalid_value", "item_id"), event)
            return
        await self.send({"type": "conversation.item.retrieved", "item": self.items[index]})

    async def _on_conversation_item_truncate(self, event: dict[str, Any]) -> None:
        item_id, content_index, end_ms = event["item_id"], event["content_index"], event["audio_end_ms"]
        index = self._index(item_id)
        if index is None:
            await self.error(api_error(f"Item '{item_id}' not found.", "invalid_value", "item_id"), event)
            return
        item = self.items[index]
        content = item.get("content") or []
        if item.get("role") != "assistant" or item_id not in self._audio_ms or content_index != 0:
            msg = "Only the audio content of an assistant message can be truncated."
            await self.error(api_error(msg, "invalid_value", "item_id"), event)
            return
        duration = self._audio_ms.get(item_id, 0)
        if end_ms < 0 or end_ms > duration:
            msg = f"audio_end_ms ({end_ms}) must be between 0 and the audio duration ({duration} ms)."
            await self.error(api_error(msg, "invalid_value", "audio_end_ms"), event)
            return
        # The API drops text the user has not heard; keep the transcript up to the cut.
        speech = self._speech.get(item_id)
        for part in content:
            if part.get("type") == "output_audio" and part.get("transcript") and speech is not None:
                part["transcript"] = part["transcript"][: speech.chars_at(end_ms)]
        await self.send(
            {
                "type": "conversation.item.truncated",
                "item_id": item_id,
                "content_index": content_index,
                "audio_end_ms": end_ms,
            }
        )

    # -- input audio -----------------------------------------------------------------------------

    async def _on_input_audio_buffer_append(self, event: dict[str, Any]) -> None:
        try:
            data = base64.b64decode(event["audio"], validate=True)
        except (binascii.Error, ValueError):
            await self.error(api_error("Invalid 'audio': not base64-encoded data.", "invalid_value", "audio"), event)
            return
        vad = turn_detection(self.session)
        for found in self._input.append(data, VadSettings.from_turn_detection(vad)):
            if isinstance(found, SpeechStarted):
                await self._speech_started(found.audio_start_ms, vad or {})
            else:
                await self._speech_stopped(found.audio_end_ms, vad or {})

    async def _speech_started(self, audio_start_ms: int, vad: dict[str, Any]) -> None:
        self._cancel_idle()
        self._speech_item = self.sim.new_id("item")
        event = {"type": "input_audio_buffer.speech_started", "audio_start_ms": audio_start_ms}
        await self.send({**event, "item_id": self._speech_item})
        active = self._active
        # Only a response to the default conversation is interrupted, and only when the session says so.
        if active is not None and not active.out_of_band and vad.get("interrupt_response", True) is not False:
            active.cancel_reason = active.cancel_reason or "turn_detected"

    async def _speech_stopped(self, audio_end_ms: int, vad: dict[str, Any]) -> None:
        item_id = self._speech_item or self.sim.new_id("item")
        self._speech_item = None
        await self.send({"type": "input_audio_buffer.speech_stopped", "audio_end_ms": audio_end_ms, "item_id": item_id})
        ms = self._input.commit()
        await self._commit_user_audio(item_id, ms, scripted=True)
        if vad.get("create_response", True) is not False:
            await self._respond_to_turn()

    async def _on_input_audio_buffer_clear(self, event: dict[str, Any]) -> None:
        self._input.clear()
        self._speech_item = None
        await self.send({"type": "input_audio_buffer.cleared"})

    async def _on_input_audio_buffer_commit(self, event: dict[str, Any]) -> None:
        ms = self._input.uncommitted_ms
        if ms < _MIN_COMMIT_MS:
            msg = (
                "Error committing input audio buffer: buffer too small. Expected at least "
                f"{_MIN_COMMIT_MS}ms of audio, but buffer only has {ms:.2f}ms of audio."
            )
            await self.error(api_error(msg, "input_audio_buffer_commit_empty"), event)
            return
        self._cancel_idle()
        self._input.commit()
        item_id = self._speech_item or self.sim.new_id("item")
        self._speech_item = None
        await self._commit_user_audio(item_id, ms, scripted=True)

    async def _commit_user_audio(self, item_id: str, ms: float, *, scripted: bool) -> None:
        """`committed`, the user's audio item, and its transcription when the session asks for one.

        `scripted`: the audio stands for the script's next user turn (its words are the transcript);
        the audio an idle timeout commits stands for no words and leaves the script where it is.
        """
        previous = self.items[-1]["id"] if self.items else None
        await self.send({"type": "input_audio_buffer.committed", "item_id": item_id, "previous_item_id": previous})
        item = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "role": "user",
            "status": "completed",
            "content": [{"type": "input_audio", "transcript": None}],
        }
        self.items.append(item)
        await self.send({"type": "conversation.item.added", "previous_item_id": previous, "item": item})
        await self.send({"type": "conversation.item.done", "previous_item_id": previous, "item": item})
        if not scripted:
            return
        # The words of the audio are unknown: the user turn is the script's next one.
        expected = self.sim.user_turn(None)
        if not transcription(self.session):
            return
        text = expected if expected is not None else unscripted_transcript(ms)
        where = {"item_id": item_id, "content_index": 0}
        for delta in audio.transcript_deltas(text):
            await self.send({"type": "conversation.item.input_audio_transcription.delta", **where, "delta": delta})
        item["content"][0]["transcript"] = text
        usage = {"type": "duration", "seconds": round(ms / 1000, 3)}
        completed = {"type": "conversation.item.input_audio_transcription.completed", **where, "transcript": text}
        await self.send({**completed, "usage": usage})

    async def _respond_to_turn(self) -> None:
        """The response turn detection creates: after a cut reply has ended; none while one still plays."""
        active, task = self._active, self._task
        if active is not None and active.cancel_reason is not None and task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(task)
        if self._active is None and not self.closed:
            self._start_response({})

    # -- idle timeout ----------------------------------------------------------------------------

    def _arm_idle(self) -> None:
        """After a response, `idle_timeout_ms` of no speech (counted once its audio has played) triggers one."""
        self._cancel_idle()
        vad = turn_detection(self.session)
        timeout = vad.get("idle_timeout_ms") if isinstance(vad, dict) and vad.get("type") == "server_vad" else None
        if not isinstance(timeout, int) or isinstance(timeout, bool) or timeout <= 0 or self.closed:
            return
        loop = asyncio.get_running_loop()
        delay = max(self._playback_end - loop.time(), 0.0) + timeout / 1000
        self._idle = asyncio.create_task(self._idle_after(delay, self._input.total_ms))

    def _cancel_idle(self) -> None:
        if self._idle is not None and self._idle is not asyncio.current_task():
            self._idle.cancel()
        self._idle = None

    async def _idle_after(self, delay: float, audio_start_ms: int) -> None:
        await asyncio.sleep(delay)
        if self.closed or self._active is not None or self._input.speaking:
            return
        self._idle = None
        try:
            await self._idle_timeout(audio_start_ms)
        except Exception:  # a task of its own: nothing else would see the failure
            _log.exception("simulator failed on an idle timeout")

    async def _idle_timeout(self, audio_start_ms: int) -> None:
        item_id = self.sim.new_id("item")
        event = {"type": "input_audio_buffer.timeout_triggered", "audio_start_ms": audio_start_ms}
        await self.send({**event, "audio_end_ms": self._input.total_ms, "item_id": item_id})
        ms = self._input.commit()
        await self._commit_user_audio(item_id, ms, scripted=False)
        self._start_response({})

    async def _on_output_audio_buffer_clear(self, event: dict[str, Any]) -> None:
        if self.call_id is None:
            msg = "output_audio_buffer.clear is only supported for WebRTC and SIP sessions."
            await self.error(api_error(msg, "invalid_value", "type"), event)
            return
        await self.send({"type": "output_audio_buffer.cleared", "response_id": self._last_response_id or ""})

    # -- responses -------------------------------------------------------------------------------

    async def _on_response_cancel(self, event: dict[str, Any]) -> None:
        active = self._active
        if active is None:
            msg = "Cancellation failed: no active response found"
            await self.error(api_error(msg, "response_cancel_not_active"), event)
            return
        wanted = event.get("response_id")
        if wanted is not None and wanted != active.id:
            msg = f"Cancellation failed: response '{wanted}' is not the active response."
            await self.error(api_error(msg, "invalid_value", "response_id"), event)
            return
        active.cancel_reason = active.cancel_reason or "client_cancelled"

    async def _on_response_create(self, event: dict[str, Any]) -> None:
        if self._active is not None:
            msg = (
                f"Conversation already has an active response in progress: {self._active.id}. "
                "Wait until the response is finished before creating a new one."
            )
            await self.error(api_error(msg, "conversation_already_has_active_response"), event)
            return
        self._start_response(event.get("response") or {})

    def _start_response(self, params: dict[str, Any]) -> None:
        """Begin a response (`params`: a response.create's `response`; instructions and the like are ignored)."""
        self._cancel_idle()
        response = _Response(
            id=self.sim.new_id("resp"),
            modalities=list(params.get("output_modalities") or output_modalities(self.session)),
            metadata=params.get("metadata"),
            tools=params.get("tools"),
            out_of_band=params.get("conversation") == "none",
            max_output_tokens=params.get("max_output_tokens", self.session.get("max_output_tokens", "inf")),
        )
        response.played = self.sim.take_actions()
        self._active = response
        self._last_response_id = response.id
        self._task = asyncio.create_task(self._play(response))

    async def interrupt(self, audio_start_ms: int | None) -> str:
        """Barge-in: speech started; with VAD `interrupt_response` (the default) the response is cancelled."""
        item_id = self.sim.new_id("item")
        start = self._input.total_ms if audio_start_ms is None else audio_start_ms
        await self.send({"type": "input_audio_buffer.speech_started", "audio_start_ms": start, "item_id": item_id})
        vad = turn_detection(self.session)
        if self._active is not None and vad is not None and vad.get("interrupt_response", True) is not False:
            self._active.cancel_reason = self._active.cancel_reason or "turn_detected"
        return item_id

    def _stopped(self, response: _Response) -> bool:
        return response.cancel_reason is not None or self.closed

    async def _play(self, response: _Response) -> None:
        await self.send({"type": "response.created", "response": self._response_object(response, "in_progress")})
        for action in response.played.actions:
            if self._stopped(response):
                break
            if isinstance(action, Say):
                await self._stream_message(response, action.say)
                response.finished += not self._stopped(response)
                continue
            if isinstance(action, Call):
                name, args, supervisor = action.call, action.args, action.supervisor
            elif isinstance(action, Transition):
                args = {"to": action.transition, **({"reason": action.reason} if action.reason else {})}
                name, supervisor = TRANSITION_TOOL, None
            else:
                name, args, supervisor = handoff_tool_name(action.handoff), {}, None
            offered = function_tool_names(self.session, response.tools)
            if name not in offered and not self.sim.allow_unoffered:
                await self._refuse(response, name, offered)
                break
            await self._stream_call(response, name, args, supervisor)
            response.finished += not self._stopped(response)
        await self._finish(response)

    async def _refuse(self, response: _Response, name: str, offered: list[str]) -> None:
        msg = (
            f"The script calls tool '{name}', which the current session does not offer "
            f"(offered tools: {', '.join(offered) or 'none'}); the model cannot call it."
        )
        self.sim.refuse("scripted_tool_not_offered", msg, name)
        response.error = api_error(msg, "scripted_tool_not_offered")
        await self.error(response.error)

    def _give_back(self, response: _Response) -> None:
        """A response cut by the connection going away leaves its unfinished actions to be played."""
        self.sim.give_back(response.played, response.finished)

    async def _finish(self, response: _Response) -> None:
        if self.closed:
            self._give_back(response)
        if response.cancel_reason is not None:
            status, details = "cancelled", {"type": "cancelled", "reason": response.cancel_reason}
        elif response.error is not None:
            err = response.error
            status = "failed"
            details = {"type": "failed", "error": {"type": err["type"], "code": err["code"], "message": err["message"]}}
        else:
            status, details = "completed", None
        self._active = None  # before sending, so a response.create answering response.done is accepted
        final = self._response_object(response, status, details, self._usage(response))
        await self.send({"type": "response.done", "response": final})
        if self._active is None and not response.out_of_band:
            self._arm_idle()

    async def _open_item(self, response: _Response, item: dict[str, Any]) -> int:
        output_index = len(response.output)
        response.output.append(item)
        await self.send(
            {
                "type": "response.output_item.added",
                "response_id": response.id,
                "output_index": output_index,
                "item": item,
            }
        )
        if not response.out_of_band:
            self.items.append(item)
            added = {"type": "conversation.item.added", "previous_item_id": self._previous_id(len(self.items) - 1)}
            await self.send({**added, "item": item})
        return output_index

    async def _close_item(self, response: _Response, item: dict[str, Any], output_index: int) -> None:
        item["status"] = "incomplete" if self._stopped(response) else "completed"
        where = {"response_id": response.id, "output_index": output_index}
        await self.send({"type": "response.output_item.done", **where, "item": item})
        if not response.out_of_band:
            index = self._index(item["id"])
            previous = self._previous_id(index) if index is not None else None
            await self.send({"type": "conversation.item.done", "previous_item_id": previous, "item": item})

    async def _stream_message(self, response: _Response, text: str) -> None:
        item_id = self.sim.new_id("item")
        item = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "role": "assistant",
            "status": "in_progress",
            "content": [],
        }
        output_index = await self._open_item(response, item)
        where = {"response_id": response.id, "item_id": item_id, "output_index": output_index, "content_index": 0}
        speaks = "audio" in response.modalities
        empty_part = {"type": "audio", "transcript": ""} if speaks else {"type": "text", "text": ""}
        await self.send({"type": "response.content_part.added", **where, "part": empty_part})
        said = await (self._stream_audio(response, where, text) if speaks else self._stream_text(response, where, text))
        if speaks:
            await self.send({"type": "response.output_audio.done", **where})
            await self.send({"type": "response.output_audio_transcript.done", **where, "transcript": said})
            part, content = {"type": "audio", "transcript": said}, {"type": "output_audio", "transcript": said}
        else:
            await self.send({"type": "response.output_text.done", **where, "text": said})
            part, content = {"type": "text", "text": said}, {"type": "output_text", "text": said}
        await self.send({"type": "response.content_part.done", **where, "part": part})
        item["content"] = [content]
        await self._close_item(response, item, output_index)

    async def _stream_audio(self, response: _Response, where: dict[str, Any], text: str) -> str:
        fmt = AudioFormat.from_session(output_format(self.session))
        # espeak-ng runs as a subprocess: off the event loop, so other connections keep streaming
        speech = await asyncio.to_thread(speak, text, fmt, self.sim.speech)
        self._speech[where["item_id"]] = speech
        self._audio_ms.setdefault(where["item_id"], 0)
        deltas = audio.transcript_deltas(text)
        starts = [speech.ms_at(sum(map(len, deltas[:i]))) for i in range(len(deltas))]
        loop = asyncio.get_running_loop()
        began, sent_ms, said, next_delta = loop.time(), 0, "", 0
        for b64, ms in zip(speech.chunks, speech.chunk_ms, strict=True):
            # The words lead the audio that speaks them, as the API's transcript deltas do.
            while next_delta < len(deltas) and starts[next_delta] <= sent_ms and not self._stopped(response):
                await self.send(
                    {"type": "response.output_audio_transcript.delta", **where, "delta": deltas[next_delta]}
                )
                said += deltas[next_delta]
                next_delta += 1
            if self._stopped(response):
                break
            if self.sim.realtime_pacing:  # one chunk ahead of the listener, against the clock (no drift)
                delay = began + sent_ms / 1000 - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                if self._stopped(response):
                    break
            await self.send({"type": "response.output_audio.delta", **where, "delta": b64})
            self._audio_produced = True
            self._playback_end = max(self._playback_end, loop.time()) + ms / 1000
            sent_ms += ms
            response.audio_ms += ms
            self._audio_ms[where["item_id"]] += ms
        while next_delta < len(deltas) and not self._stopped(response):
            await self.send({"type": "response.output_audio_transcript.delta", **where, "delta": deltas[next_delta]})
            said += deltas[next_delta]
            next_delta += 1
        return said

    async def _stream_text(self, response: _Response, where: dict[str, Any], text: str) -> str:
        said = ""
        for delta in audio.transcript_deltas(text):
            if self._stopped(response):
                break
            await self.send({"type": "response.output_text.delta", **where, "delta": delta})
            said += delta
        return said

    async def _stream_call(
        self,
        response: _Response,
        name: str,
        args: dict[str, Any],
        supervisor: list[SupervisorCall | SupervisorAnswer] | None,
    ) -> None:
        item_id, call_id = self.sim.new_id("item"), self.sim.new_id("call")
        item = {
            "id": item_id,
            "object": "realtime.item",
            "type": "function_call",
            "status": "in_progress",
            "name": name,
            "call_id": call_id,
            "arguments": "",
        }
        output_index = await self._open_item(response, item)
        where = {"response_id": response.id, "item_id": item_id, "output_index": output_index, "call_id": call_id}
        arguments = json.dumps(args, ensure_ascii=False, separators=(",", ":"))
        sent = ""
        for delta in audio.argument_deltas(arguments):
            if self._stopped(response):
                break
            await self.send({"type": "response.function_call_arguments.delta", **where, "delta": delta})
            sent += delta
        await self.send({"type": "response.function_call_arguments.done", **where, "name": name, "arguments": sent})
        item["arguments"] = sent
        await self._close_item(response, item, output_index)
        if supervisor and not self._stopped(response):
            self.sim.queue_supervisor(name, list(supervisor))

    def _response_object(
        self,
        response: _Response,
        status: str,
        details: dict[str, Any] | None = None,
        usage: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        return {
            "object": "realtime.response",
            "id": response.id,
            "status": status,
            "status_details": details,
            "output": copy.deepcopy(response.output) if status != "in_progress" else [],
            "conversation_id": None if response.out_of_band else self.conversation_id,
            "output_modalities": response.modalities,
            "max_output_tokens": response.max_output_tokens,
            "audio": {"output": {"format": output_format(self.session), "voice": voice(self.session)}},
            "usage": usage,
            "metadata": response.metadata,
        }

    def _usage(self, response: _Response) -> dict[str, Any]:
        # Rough but plausible: 4 characters per text token, 50 ms per audio token.
        out_chars = sum(len(json.dumps(item.get("content") or item.get("arguments") or "")) for item in response.output)
        in_chars = len(self.session.get("instructions") or "") + sum(len(json.dumps(it)) for it in self.items)
        text_out, audio_out = -(-out_chars // 4), response.audio_ms // 50
        text_in = -(-in_chars // 4)
        return {
            "total_tokens": text_in + text_out + audio_out,
            "input_tokens": text_in,
            "output_tokens": text_out + audio_out,
            "input_token_details": {
                "text_tokens": text_in,
                "audio_tokens": 0,
                "image_tokens": 0,
                "cached_tokens": 0,
                "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 0, "image_tokens": 0},
            },
            "output_token_details": {"text_tokens": text_out, "audio_tokens": audio_out},
        }


def _user_text(item: dict[str, Any]) -> str | None:
    """The words of a user message: its input_text parts, else audio transcripts; None when unknown."""
    content = item.get("content") or []
    texts = [p.get("text") for p in content if p.get("type") == "input_text" and p.get("text") is not None]
    if texts:
        return " ".join(texts)
    transcripts = [p.get("transcript") for p in content if p.get("transcript")]
    return " ".join(transcripts) if transcripts else None
