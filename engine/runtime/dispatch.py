"""Server events, dispatched on their `type` to the collaborator each one concerns.

Every handler reads its fields defensively: a field of the wrong type raises `TypeError`, which the
session reports as an error event; a response's end reaches the sequencer before anything can fail,
so a malformed `response.done` never strands a waiting request. Audio deltas are forwarded, never
parsed beyond their ids.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..compile import compile_tracing
from . import events as ev
from .playback import decoded_size

if TYPE_CHECKING:
    from .session import Session


def _field(event: dict[str, Any], key: str, kind: type = str) -> Any:
    """A field of a server event, or None when it is missing or null. Raises `TypeError` for a value of
    the wrong type: the frame is reported as an error event, and the session goes on."""
    value = event.get(key)
    if value is None or isinstance(value, kind):
        return value
    raise TypeError(f"'{key}' is {type(value).__name__}, not {kind.__name__}")


class ServerEvents:
    def __init__(self, session: Session) -> None:
        self._s = session
        self._offer = session.moves.offered  # the config the active response was made with
        self.handlers: dict[str, Callable[[dict[str, Any]], None]] = {
            "response.output_audio.delta": self.on_audio_delta,
            "response.output_audio.done": self.on_audio_done,
            "response.output_audio_transcript.delta": self.on_transcript_delta,
            "response.output_text.delta": self.on_transcript_delta,
            "response.output_audio_transcript.done": self.on_transcript_done,
            "response.output_text.done": self.on_transcript_done,
            "response.created": self.on_response_created,
            "response.done": self.on_response_done,
            "response.output_item.added": self.on_output_item_added,
            "response.output_item.done": self.on_output_item_done,
            "conversation.item.added": self.on_item_added,
            "conversation.item.input_audio_transcription.delta": self.on_user_transcript_delta,
            "conversation.item.input_audio_transcription.completed": self.on_user_transcript,
            "conversation.item.deleted": self.on_item_deleted,
            "input_audio_buffer.speech_started": self.on_speech_started,
            "input_audio_buffer.speech_stopped": self.on_speech_stopped,
            "input_audio_buffer.committed": self.on_committed,
            "input_audio_buffer.timeout_triggered": self.on_input_timeout,
            "session.created": self.on_session_created,
            "session.updated": self.on_session_updated,
            "error": self.on_error,
        }

    # --- response sequencing --------------------------------------------------------------------

    def on_response_created(self, event: dict[str, Any]) -> None:
        # A response exists whatever its fields hold: the sequencer hears of it first.
        response = event.get("response")
        response_id = response.get("id") if isinstance(response, dict) else None
        self._offer = self._s.moves.offered  # calls of this response are judged by this config
        follow = self._s.sequencer.created(response_id if isinstance(response_id, str) else None)
        if follow is not None:  # a cancel (interrupted meanwhile), or a create (it was over before it began)
            send = self._s.send_create if follow["type"] == "response.create" else self._s.send
            self._s.spawn(send(follow))
        self._s.idle_check()
        _field(event, "response", dict)

    def on_response_done(self, event: dict[str, Any]) -> None:
        response = event.get("response")
        response_id = response.get("id") if isinstance(response, dict) else None
        # First: a malformed event must not strand a waiting message.
        create = self._s.sequencer.done(response_id if isinstance(response_id, str) else None)
        if create is not None:
            self._s.spawn(self._s.send_create(create))
        response = _field(event, "response", dict) or {}
        status, details = response.get("status"), _field(response, "status_details", dict) or {}
        if status == "failed":
            error = _field(details, "error", dict) or {}
            message = f"the response failed: {error.get('message') or error.get('type') or 'no reason given'}"
            self._s.emit(ev.Error(message, code=_field(error, "code") or "response_failed"))
        elif status == "incomplete":
            self._s.emit(ev.Error(f"the response is incomplete: {details.get('reason')}", code="response_incomplete"))
        for item in _field(response, "output", list) or ():
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                self._audio_done(item["id"])  # no more audio comes for it, even if cut short
        if isinstance(response.get("usage"), dict):
            self._s.emit(ev.Usage(_field(response, "id") or "", response["usage"]))
        self._s.idle_check()

    def on_error(self, event: dict[str, Any]) -> None:
        # Read leniently: the sequencer must hear of a refusal whatever else the error holds.
        error = event.get("error") if isinstance(event.get("error"), dict) else {}
        code = error.get("code") if isinstance(error.get("code"), str) else None
        event_id = error.get("event_id") if isinstance(error.get("event_id"), str) else None
        if code == "response_cancel_not_active":
            return  # a cancel that crossed the response's end on the wire: nothing to stop
        if code == "conversation_already_has_active_response":
            self._s.sequencer.already_active()  # retried after that response's done
        else:
            # The server refused our response.create: no response is coming for it.
            create = self._s.sequencer.refused(event_id)
            if create is not None:
                self._s.spawn(self._s.send_create(create))
        self._s.emit(ev.Error(str(error.get("message") or "server error"), code=code))
        self._s.idle_check()
        _field(event, "error", dict)

    # --- server events ------------------------------------------------------------------------

    def on_session_created(self, event: dict[str, Any]) -> None:
        tracing = compile_tracing(self._s.graph)
        if tracing is not None:
            self._s.spawn(self._s.send(tracing))

    def on_session_updated(self, event: dict[str, Any]) -> None:
        session = _field(event, "session", dict) or {}
        self._s.moves.applied(session)
        self._s.bargein.applied(session)

    def on_output_item_added(self, event: dict[str, Any]) -> None:
        item = event["item"]
        if item.get("type") == "message":
            self._s.history.add_message(item["id"], item.get("role", "assistant"))
            offer = self._offer
            self._s.monitor.produced(item["id"], offer.agent, _field(event, "response_id"))

    def on_output_item_done(self, event: dict[str, Any]) -> None:
        item = event["item"]
        kind = item.get("type")
        if kind == "function_call":
            call_id, name, arguments = item["call_id"], item["name"], item.get("arguments") or "{}"
            offer = self._offer
            self._s.history.add_call(item["id"], name, call_id, arguments)
            if self._s.calls.take(name, call_id, arguments, offer):
                self._s.spawn(self._s.calls.answer(name, call_id, arguments, offer))
        elif kind == "mcp_approval_request":
            self._s.spawn(self._s.calls.mcp_approval(item))

    def on_item_added(self, event: dict[str, Any]) -> None:
        item = event["item"]
        kind = item.get("type")
        if kind == "message":
            text = "".join(c.get("text") or c.get("transcript") or "" for c in item.get("content") or ())
            self._s.history.add_message(item["id"], item.get("role", "assistant"), text)
        elif kind == "function_call" and item.get("call_id"):
            self._s.history.add_call(item["id"], item.get("name", ""), item["call_id"], item.get("arguments") or "")
        else:
            return
        self._s.emit(ev.HistoryUpdated(len(self._s.history)))

    def on_item_deleted(self, event: dict[str, Any]) -> None:
        self._s.history.remove(event["item_id"])

    def on_user_transcript_delta(self, event: dict[str, Any]) -> None:
        self._s.emit(ev.TranscriptDelta("user", event["item_id"], str(event.get("delta") or "")))

    def on_user_transcript(self, event: dict[str, Any]) -> None:
        transcript = str(event.get("transcript") or "")
        self._s.history.set_text(event["item_id"], transcript, role="user")
        self._s.emit(ev.TranscriptDelta("user", event["item_id"], transcript, done=True))

    def on_speech_started(self, event: dict[str, Any]) -> None:
        self._s.emit(ev.SpeechStarted(str(event.get("item_id") or ""), int(event.get("audio_start_ms") or 0)))
        self._s.spawn(self._s.bargein.user_spoke())

    def on_speech_stopped(self, event: dict[str, Any]) -> None:
        self._s.emit(ev.SpeechStopped(str(event.get("item_id") or ""), int(event.get("audio_end_ms") or 0)))

    def on_committed(self, event: dict[str, Any]) -> None:
        self._s.emit(ev.AudioCommitted(str(event.get("item_id") or "")))

    def on_input_timeout(self, event: dict[str, Any]) -> None:
        self._s.emit(ev.InputTimeout())

    def on_audio_delta(self, event: dict[str, Any]) -> None:
        # The hot path (~50 a second per call): no work beyond the playback clock and the delivery.
        item_id, delta = event["item_id"], event["delta"]
        session = self._s
        playback, moves = session.bargein.playback, session.moves
        if not playback.has_audio(item_id):
            session.emit(ev.AudioStarted(item_id))
            moves.audio_started = True
        if playback.received(item_id, decoded_size(delta), moves.bytes_per_ms):
            session.play(ev.Audio(item_id, delta))
        # else: cut at what was heard, the rest of it is never played

    def on_audio_done(self, event: dict[str, Any]) -> None:
        self._audio_done(event["item_id"])

    def _audio_done(self, item_id: str) -> None:
        if self._s.bargein.playback.finished(item_id):
            self._s.emit(ev.AudioDone(item_id))

    def on_transcript_delta(self, event: dict[str, Any]) -> None:
        item_id, delta = event["item_id"], event["delta"]
        if not isinstance(delta, str):
            raise TypeError(f"delta is {type(delta).__name__}, not text")
        item = self._s.history.append_text(item_id, delta)
        self._s.emit(ev.TranscriptDelta("assistant", item_id, delta))
        if self._s.monitor.enabled:
            self._s.monitor.on_delta(item_id, item)

    def on_transcript_done(self, event: dict[str, Any]) -> None:
        item_id = event["item_id"]
        text = event.get("transcript", event.get("text", ""))
        text = text if isinstance(text, str) else ""
        self._s.history.set_text(item_id, text)
        self._s.emit(ev.TranscriptDelta("assistant", item_id, "", done=True))
        if self._s.monitor.enabled:
            self._s.monitor.on_done(item_id, text)
