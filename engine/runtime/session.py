"""A live session: one websocket to a Realtime server, driven by a compiled agent graph.

The listener task reads server events and dispatches each on its `type` before anything else;
audio deltas are forwarded as they come. Anything slow (tools, approvals, guardrail checks)
runs as a task of its own, so the listener never blocks. Every `response.create` goes through
`_request_response`, which holds it while a response is active (design §5).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlencode, urlsplit, urlunsplit

from ..compile import (
    SessionCompiler,
    TemplateRenderError,
    apply_mcp_headers,
    compile_tracing,
    render_expression,
    resolve_state,
    template_variables,
)
from ..redact import auth_headers
from ..spec import Document, Transition, handoff_tool_name
from ..spec.script import TRANSITION_TOOL
from ..tools import ResponsesClient, Toolbox, ToolContext
from . import events as ev
from .guardrails import GuardrailChecker, Trip
from .history import History
from .playback import PlaybackClock
from .recorder import EventRecorder
from .transport import AiohttpTransport, Connection, Transport, TransportClosed

log = logging.getLogger("engine.runtime")

OPENAI_REALTIME_URL = "wss://api.openai.com/v1/realtime"
Decision = Literal["approve", "deny", "always_approve", "always_deny"]
Approver = Callable[[ev.ApprovalRequested], Awaitable[Decision]]


def _new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


def _transition_target(arguments: str) -> str:
    """The `to` of a transition call ('' when the model sent none)."""
    try:
        target = json.loads(arguments).get("to")
    except (ValueError, AttributeError):
        return ""
    return target if isinstance(target, str) else ""


@dataclass(frozen=True, slots=True)
class _Offer:
    """What one session config lets the model call, and whose config it is."""

    agent: str
    state: str | None
    tools: frozenset[str]  # function tool names, handoff and transition tools included
    handoffs: dict[str, str]  # handoff tool name -> target agent

    @classmethod
    def of(cls, graph: Document, agent: str, state: str | None, tools: Iterable[dict[str, Any]]) -> _Offer:
        names = frozenset(t["name"] for t in tools if t.get("type") == "function")
        targets = {handoff_tool_name(h.agent): h.agent for h in graph.spec.agents[agent].handoff_targets()}
        return cls(agent, state, names, {name: a for name, a in targets.items() if name in names})


class Session:
    """A realtime session running a graph. Use as `async with Session(graph) as session:`.

    Connects to OpenAI by default (key from `api_key` or `OPENAI_API_KEY`), or to `url` (any
    Realtime-compatible server: Azure with an `api-key` header, the built-in simulator), or to a
    SIP call by `call_id`.
    """

    def __init__(
        self,
        graph: Document,
        *,
        url: str | None = None,
        api_key: str | None = None,
        headers: dict[str, str] | None = None,
        call_id: str | None = None,
        agent: str | None = None,
        state: str | None = None,
        context: dict[str, Any] | None = None,
        approval: Literal["auto", "deny", "ask"] | Approver = "ask",
        responses_url: str | None = None,
        events_file: os.PathLike[str] | str | None = None,
        playback: PlaybackClock | None = None,
        on_audio: Callable[[ev.Audio], None] | None = None,
        transport: Transport | None = None,
        reconnect_attempts: int = 5,
        reconnect_backoff: float = 0.5,
    ) -> None:
        self.graph = graph
        self.agent = agent or graph.spec.start
        # A session cannot start at an agent or state the graph does not have (CompileError, a ValueError).
        resolve_state(graph, self.agent, state)
        self.context: dict[str, Any] = {**graph.spec.context, **(context or {})}
        # The current state of every agent with an enforced state machine (kept across handoffs).
        self._states = {a: m.initial for a, m in self._machines(graph).items()}
        if state is not None:
            self._states[self.agent] = state
        self.history = History()
        self._api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY", "")
        self._call_id = call_id
        self._url = self._realtime_url(url, graph.spec.model, call_id)
        self._headers = dict(headers or {})
        if self._api_key and not auth_headers(self._headers):
            self._headers["Authorization"] = f"Bearer {self._api_key}"
        self._approval = approval
        self._always: dict[str, bool] = {}
        self._pending_approvals: dict[str, asyncio.Future[Decision]] = {}
        self._playback = playback or PlaybackClock()
        # aiohttp's client spends less CPU per frame than websockets' (README, Benchmarks); a transport
        # made here is this session's own and closes with it.
        self._owns_transport = transport is None
        self._transport = transport or AiohttpTransport()
        self._reconnect_attempts = reconnect_attempts
        self._reconnect_backoff = reconnect_backoff
        auth = auth_headers(self._headers)
        self._recorder = EventRecorder(Path(events_file), [self._api_key, *auth.values()]) if events_file else None

        responses_base = responses_url or self._responses_base(url)
        # Escalations and classifiers authenticate as the realtime connection does (Azure: `api-key`).
        self._responses = ResponsesClient(api_key=self._api_key or "unset", base_url=responses_base, headers=auth)
        self.toolbox = Toolbox(graph)
        self._compiler = SessionCompiler(graph)
        self._guardrails = GuardrailChecker(graph, self._responses)

        self._conn: Connection | None = None
        self._connected = asyncio.Event()
        self._closing = False
        self._failed: str | None = None  # why the connection is gone for good
        self._listener: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._events: asyncio.Queue[ev.SessionEvent | None] = asyncio.Queue()
        # Audio is the hot path: a player given here is called at once from the listener, and audio
        # skips the event iterator (one task switch less per delta, ~50 deltas a second per call).
        self._on_audio = on_audio or self._events.put_nowait
        self._send_lock = asyncio.Lock()

        # Response sequencing: at most one active, at most one waiting (duplicates merge).
        self._response_active = False
        self._response_requested = False
        self._response_waiting = False  # a response.create to send once the active response is done
        self._ask_again = False  # a response to ask for once a reconnect has restored the conversation
        self._response_event_id: str | None = None  # of the response.create in flight, to match its error
        self._cancel_on_create = False  # interrupted before the requested response began
        self._audio_started = False
        self._bytes_per_ms = 48.0  # pcm16 at 24 kHz; g711 is 8 bytes per ms
        # What the server applied (from session.updated): kept across handoffs and reconnects.
        self._session_voice: str | None = None
        self._session_formats: dict[str, Any] = {}
        # What the config last sent lets the model call, and what the active response was made with.
        self._offered = self._response_offer = _Offer(self.agent, self.state, frozenset(), {})
        self._calls_in_flight: set[str] = set()  # call ids the model waits on

        # Guardrails: transcript length already checked, per assistant item.
        self._checked_chars: dict[str, int] = {}
        self._tripped: set[str] = set()
        self._every = min((g.every_chars for g in graph.spec.guardrails.values()), default=0)
        self._response_items: dict[str, str] = {}  # item id -> response id
        self._active_response_id: str | None = None

        self._dispatch: dict[str, Callable[[dict[str, Any]], None]] = {
            "response.output_audio.delta": self._on_audio_delta,
            "response.output_audio.done": self._on_audio_done,
            "response.output_audio_transcript.delta": self._on_transcript_delta,
            "response.output_text.delta": self._on_transcript_delta,
            "response.output_audio_transcript.done": self._on_transcript_done,
            "response.output_text.done": self._on_transcript_done,
            "response.created": self._on_response_created,
            "response.done": self._on_response_done,
            "response.output_item.added": self._on_output_item_added,
            "response.output_item.done": self._on_output_item_done,
            "conversation.item.added": self._on_item_added,
            "conversation.item.input_audio_transcription.delta": self._on_user_transcript_delta,
            "conversation.item.input_audio_transcription.completed": self._on_user_transcript,
            "conversation.item.deleted": self._on_item_deleted,
            "input_audio_buffer.speech_started": self._on_speech_started,
            "session.created": self._on_session_created,
            "session.updated": self._on_session_updated,
            "error": self._on_error,
        }

    # --- public API ---------------------------------------------------------------------------

    async def __aenter__(self) -> Session:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def connect(self) -> None:
        """Open the websocket and configure the start agent; raises `ConnectFailed` when it cannot."""
        try:
            payload = self._agent_payload(self.agent)  # a config that cannot compile never connects
            self._conn = await self._transport.connect(self._url, self._headers)
            await self._send(payload, wait=False)
        except BaseException:
            await self._release()
            raise
        self._connected.set()
        self._listener = asyncio.create_task(self._listen(), name="engine-listener")
        self._emit(ev.AgentStart(self.agent, self.state))

    async def send_text(self, text: str) -> None:
        """Say something as the user (a text message), then ask for a response."""
        item_id = _new_id("item")
        content = [{"type": "input_text", "text": text}]
        item = {"id": item_id, "type": "message", "role": "user", "content": content}
        # Into the history once sent: a reconnect meanwhile restores the history, then this goes out.
        await self._send({"type": "conversation.item.create", "item": item})
        self.history.add_message(item_id, "user", text)
        self._emit(ev.TranscriptDelta("user", item_id, text, done=True))
        await self._request_response()

    async def request_response(self) -> None:
        """Ask the model to speak now (for a turn the model opens)."""
        await self._request_response()

    async def interrupt(self) -> None:
        """Stop the model: cancel the active (or just requested) response and cut the audio where playback is."""
        self._response_waiting = False
        if self._response_active:
            await self._send({"type": "response.cancel"})
        elif self._response_requested:
            self._cancel_on_create = True  # cancelled as soon as the server starts it
        await self._truncate_playing()

    def approve(self, call_id: str, *, always: bool = False) -> None:
        self._decide(call_id, "always_approve" if always else "approve")

    def reject(self, call_id: str, *, always: bool = False) -> None:
        self._decide(call_id, "always_deny" if always else "deny")

    @property
    def state(self) -> str | None:
        """The current agent's state, when its state machine is enforced."""
        return self._states.get(self.agent)

    @property
    def idle(self) -> bool:
        if self._failed is not None or self._closing:
            return True  # nothing more will happen
        busy = self._response_active or self._response_requested or self._response_waiting
        reconnecting = self._conn is not None and not self._connected.is_set()
        return not busy and not reconnecting and not self._tasks and not self._pending_approvals

    async def wait_idle(self, timeout: float = 30.0) -> None:
        """Wait until no response, tool, approval, guardrail check or reconnect is under way.

        Raises `ConnectionError` once the connection is lost for good.
        """
        async with asyncio.timeout(timeout):
            while not self.idle:
                await self._idle_changed()
        self._raise_if_failed()

    async def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        if self._conn is not None and self._failed is None:
            self._emit(ev.AgentEnd(self.agent))
        self._connected.set()  # senders waiting for a reconnect wake up and give up
        self._idle_check()
        for task in list(self._tasks):
            task.cancel()
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener
        await self._release()
        self._events.put_nowait(None)

    async def _release(self) -> None:
        """Close the connection and everything the session opened (also when connecting failed)."""
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
        await self.toolbox.aclose()
        await self._responses.aclose()
        if self._owns_transport and isinstance(self._transport, AiohttpTransport):
            await self._transport.aclose()
        if self._recorder:
            self._recorder.close()

    def __aiter__(self) -> AsyncIterator[ev.SessionEvent]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[ev.SessionEvent]:
        while (event := await self._events.get()) is not None:
            yield event

    # --- connection ---------------------------------------------------------------------------

    @staticmethod
    def _realtime_url(url: str | None, model: str, call_id: str | None) -> str:
        if url and ("model=" in url or "call_id=" in url):
            return url
        base = url or OPENAI_REALTIME_URL
        query = urlencode({"call_id": call_id} if call_id else {"model": model})
        return f"{base}{'&' if '?' in base else '?'}{query}"

    @staticmethod
    def _responses_base(url: str | None) -> str | None:
        """The HTTP base of a custom server: ws(s)://host/v1/realtime -> http(s)://host/v1."""
        if not url:
            return None
        parts = urlsplit(url)
        scheme = {"wss": "https", "ws": "http"}.get(parts.scheme, parts.scheme)
        path = parts.path.removesuffix("/").removesuffix("/realtime") or "/v1"
        return urlunsplit((scheme, parts.netloc, path, "", ""))

    async def _send(self, event: dict[str, Any], *, wait: bool = True) -> None:
        """Send a client event. During a reconnect it waits (nothing is lost) and goes out on the new
        connection; `wait=False` (the reconnect's own restore) raises `TransportClosed` instead."""
        text = json.dumps(event)
        while True:
            if wait and not self._connected.is_set():
                await self._connected.wait()
            self._raise_if_failed()
            if self._closing:
                raise ConnectionError("the session is closed")
            conn = self._conn
            assert conn is not None
            try:
                async with self._send_lock:
                    await conn.send(text)
                break
            except TransportClosed:
                if self._closing:
                    raise ConnectionError("the session is closed") from None
                if not wait:
                    raise
                if conn is self._conn:
                    self._connected.clear()  # the listener notices the drop too, and reconnects
        if self._recorder:
            self._recorder.record("client", event)

    def _raise_if_failed(self) -> None:
        if self._failed is not None:
            raise ConnectionError(f"the realtime connection is lost: {self._failed}")

    async def _listen(self) -> None:
        while not self._closing:
            assert self._conn is not None
            try:
                raw = await self._conn.recv()
            except TransportClosed as exc:
                if self._closing:
                    break
                if not await self._reconnect(exc):
                    if self._failed is None:
                        self._fail(str(exc))
                    break
                continue
            self._handle(raw)
        self._events.put_nowait(None)

    def _fail(self, reason: str) -> None:
        """The connection is gone for good: every waiting sender and waiter gets an error."""
        self._failed = reason
        self._emit(ev.Error(f"connection lost: {reason}", code="connection_lost", fatal=True))
        self._connected.set()  # wakes senders waiting for a reconnect; they raise
        for future in self._pending_approvals.values():
            if not future.done():
                future.set_result("deny")
        self._idle_check()

    def _handle(self, raw: str) -> None:
        try:
            event = json.loads(raw)
            kind = event["type"]
        except (ValueError, KeyError, TypeError):
            log.warning("skipping a malformed frame from the server: %.200s", raw)
            if self._recorder:
                self._recorder.record_malformed(raw)
            self._emit(ev.Error("malformed frame from the server skipped", code="malformed_frame"))
            return
        if self._recorder:
            self._recorder.record("server", event)
        handler = self._dispatch.get(kind)
        if handler is None:
            return
        try:
            handler(event)
        except Exception as exc:  # a surprising event must never end the session
            log.exception("error handling %s", kind)
            self._emit(ev.Error(f"error handling {kind}: {exc}", code="handler_error"))

    async def _reconnect(self, cause: TransportClosed) -> bool:
        """Reconnect with backoff and restore the conversation; False once it gives up (or cannot compile)."""
        self._connected.clear()
        # A response cut short by the drop (or one still to come) is asked for again once restored.
        self._ask_again = self._ask_again or self._response_active or self._response_requested or self._response_waiting
        self._response_active = self._response_requested = self._response_waiting = self._cancel_on_create = False
        self._playback.clear()  # what was playing went with the old session
        self._emit(ev.Reconnecting(str(cause)))
        try:
            payload = self._agent_payload(self.agent)
        except Exception as exc:
            self._fail(f"{cause}; the agent's config no longer compiles: {type(exc).__name__}: {exc}")
            return False
        for attempt in range(1, self._reconnect_attempts + 1):
            await asyncio.sleep(self._reconnect_backoff * 2 ** (attempt - 1))
            try:
                conn = await self._transport.connect(self._url, self._headers)
            except Exception as exc:
                log.warning("reconnect attempt %d failed: %s", attempt, exc)
                continue
            self._conn = conn
            restore = self.history.restore_events(unanswered=self._calls_in_flight)
            try:
                for event in (payload, *restore):
                    await self._send(event, wait=False)
            except TransportClosed:
                with contextlib.suppress(Exception):
                    await conn.close()
                continue
            self._connected.set()
            self._emit(ev.Reconnected(attempt, len(restore)))
            # Decided only now, with no await since the restore: a request made meanwhile is not lost.
            if self._needs_response_after_restore():
                self._ask_again = False
                self._response_waiting = True
            self._send_waiting_response()
            return True
        return False

    def _needs_response_after_restore(self) -> bool:
        """A turn the drop cut short: a response was under way, or the user or a tool spoke last.

        While a tool still runs, its output asks for the response itself.
        """
        items = self.history.items
        if not items or self._calls_in_flight:
            return False
        last = items[-1]
        spoke_last = last["type"] == "function_call" or (last["type"] == "message" and last["role"] == "user")
        return self._ask_again or spoke_last

    # --- response sequencing ------------------------------------------------------------------

    async def _request_response(self) -> None:
        if self._response_active or self._response_requested:
            self._response_waiting = True  # one waiting request is enough: duplicates merge
            return
        await self._send_response_create()

    def _response_create(self) -> dict[str, Any]:
        """A `response.create`, marked as requested at once (synchronously: no second one slips in)."""
        self._response_requested = True
        # Its id comes back on an `error` that refuses it, so the sequencer is never left waiting.
        self._response_event_id = _new_id("event")
        return {"type": "response.create", "event_id": self._response_event_id}

    async def _send_response_create(self) -> None:
        event = self._response_create()
        if self._connected.is_set():
            try:
                await self._send(event, wait=False)
                return
            except TransportClosed:
                pass
        # Never carried across a reconnect (the new session would answer twice): the reconnect
        # asks again, once the conversation is restored.
        self._response_requested = False
        self._ask_again = True

    def _on_response_created(self, event: dict[str, Any]) -> None:
        self._response_active, self._response_requested, self._ask_again = True, False, False
        self._response_offer = self._offered
        self._active_response_id = event["response"].get("id")
        if self._cancel_on_create:
            self._cancel_on_create = False
            self._spawn(self._send({"type": "response.cancel"}))

    def _on_response_done(self, event: dict[str, Any]) -> None:
        self._response_active = False
        self._active_response_id = None
        response = event.get("response") or {}
        status, details = response.get("status"), response.get("status_details") or {}
        if status == "failed":
            error = details.get("error") or {}
            message = f"the response failed: {error.get('message') or error.get('type') or 'no reason given'}"
            self._emit(ev.Error(message, code=error.get("code") or "response_failed"))
        elif status == "incomplete":
            self._emit(ev.Error(f"the response is incomplete: {details.get('reason')}", code="response_incomplete"))
        for item in response.get("output") or ():
            if isinstance(item, dict) and "id" in item:
                self._playback.finished(item["id"])  # no more audio comes for it, even if cut short
        self._send_waiting_response()

    def _send_waiting_response(self) -> None:
        if self._response_waiting and not self._response_active and not self._response_requested:
            self._response_waiting = False
            self._response_requested = True  # now, not when the task runs: nothing else may send one meanwhile
            self._spawn(self._send_response_create())
        self._idle_check()

    # --- server events ------------------------------------------------------------------------

    def _on_session_created(self, event: dict[str, Any]) -> None:
        tracing = compile_tracing(self.graph)
        if tracing is not None:
            self._spawn(self._send(tracing))

    def _on_session_updated(self, event: dict[str, Any]) -> None:
        audio = (event.get("session") or {}).get("audio") or {}
        output = audio.get("output") or {}
        self._session_voice = output.get("voice") or self._session_voice
        for direction in ("input", "output"):
            audio_format = (audio.get(direction) or {}).get("format")
            if audio_format:
                self._session_formats[direction] = audio_format

    def _on_error(self, event: dict[str, Any]) -> None:
        error = event.get("error") or {}
        code = error.get("code")
        if code == "response_cancel_not_active":
            return  # a cancel that crossed the response's end on the wire: nothing to stop
        if code == "conversation_already_has_active_response":
            # Our sequencer should prevent this; if a server still says so, retry after its done.
            self._response_requested = self._cancel_on_create = False
            self._response_waiting = True
            self._response_active = True
        elif self._response_requested and error.get("event_id") == self._response_event_id:
            # The server refused our response.create: no response is coming for it.
            self._response_requested = self._cancel_on_create = False
            self._send_waiting_response()
        self._emit(ev.Error(error.get("message", "server error"), code=code))

    def _on_output_item_added(self, event: dict[str, Any]) -> None:
        item = event["item"]
        if item.get("type") == "message":
            self.history.add_message(item["id"], item.get("role", "assistant"))
            self._response_items[item["id"]] = event.get("response_id", "")

    def _on_item_added(self, event: dict[str, Any]) -> None:
        item = event["item"]
        kind = item.get("type")
        if kind == "message":
            text = "".join(c.get("text") or c.get("transcript") or "" for c in item.get("content") or ())
            self.history.add_message(item["id"], item.get("role", "assistant"), text)
        elif kind == "function_call" and item.get("call_id"):
            self.history.add_call(item["id"], item.get("name", ""), item["call_id"], item.get("arguments") or "")
        else:
            return
        self._emit(ev.HistoryUpdated(len(self.history)))

    def _on_item_deleted(self, event: dict[str, Any]) -> None:
        self.history.remove(event["item_id"])

    def _on_user_transcript_delta(self, event: dict[str, Any]) -> None:
        self._emit(ev.TranscriptDelta("user", event["item_id"], event.get("delta", "")))

    def _on_user_transcript(self, event: dict[str, Any]) -> None:
        self.history.set_text(event["item_id"], event.get("transcript", ""), role="user")
        self._emit(ev.TranscriptDelta("user", event["item_id"], event.get("transcript", ""), done=True))

    def _on_audio_delta(self, event: dict[str, Any]) -> None:
        item_id = event["item_id"]
        delta = event["delta"]
        self._audio_started = True
        self._playback.received(item_id, len(delta) * 3 // 4, self._bytes_per_ms)
        self._on_audio(ev.Audio(item_id, delta))

    def _on_audio_done(self, event: dict[str, Any]) -> None:
        self._playback.finished(event["item_id"])

    def _on_transcript_delta(self, event: dict[str, Any]) -> None:
        item_id, delta = event["item_id"], event["delta"]
        item = self.history.append_text(item_id, delta)
        self._events.put_nowait(ev.TranscriptDelta("assistant", item_id, delta))
        if self._every and item is not None and item_id not in self._tripped and not item.get("truncated"):
            checked = self._checked_chars.get(item_id, 0)
            if len(item["text"]) - checked >= self._every:
                self._checked_chars[item_id] = len(item["text"])
                self._spawn(self._check_guardrails(item_id, item["text"]))

    def _on_transcript_done(self, event: dict[str, Any]) -> None:
        item_id = event["item_id"]
        text = event.get("transcript", event.get("text", ""))
        self.history.set_text(item_id, text)
        self._emit(ev.TranscriptDelta("assistant", item_id, "", done=True))
        if self._every and item_id not in self._tripped:
            self._checked_chars[item_id] = len(text)
            self._spawn(self._check_guardrails(item_id, text))

    def _on_output_item_done(self, event: dict[str, Any]) -> None:
        item = event["item"]
        kind = item.get("type")
        if kind == "function_call":
            call_id, name, arguments = item["call_id"], item["name"], item.get("arguments") or "{}"
            self.history.add_call(item["id"], name, call_id, arguments)
            self._calls_in_flight.add(call_id)
            self._spawn(self._on_function_call(name, call_id, arguments, self._response_offer))
        elif kind == "mcp_approval_request":
            self._spawn(self._on_mcp_approval(item))

    def _on_speech_started(self, event: dict[str, Any]) -> None:
        self._spawn(self._truncate_playing())

    # --- function calls -----------------------------------------------------------------------

    async def _on_function_call(self, name: str, call_id: str, arguments: str, offer: _Offer) -> None:
        """Answer one function call of the model, judged by the config its response was made with."""
        try:
            if name not in offer.tools:
                available = ", ".join(sorted(offer.tools)) or "none"
                message = f"Tool '{name}' is not available to the {offer.agent} agent. Available: {available}."
                await self._tool_output(call_id, json.dumps({"error": message}))
                self._emit(ev.ToolEnd(offer.agent, name, call_id, message, ok=False))
            elif name == TRANSITION_TOOL or name in offer.handoffs:
                target = f"handoff:{offer.handoffs[name]}" if name in offer.handoffs else _transition_target(arguments)
                await self._move(target, call_id, offer, transition=name == TRANSITION_TOOL)
            else:
                await self._run_tool(name, call_id, arguments, offer.agent)
        except ConnectionError:
            if self._failed is None and not self._closing:
                raise
            return  # the connection is gone for good: no one is waiting for this answer any more
        except Exception as exc:  # never leave the model waiting on a call
            log.warning("answering %s failed: %s: %s", name, type(exc).__name__, exc)
            log.debug("answering %s failed", name, exc_info=exc)
            self._emit(ev.Error(f"answering {name} failed: {type(exc).__name__}: {exc}", code="call_failed"))
            message = f"Tool '{name}' could not be carried out because of an internal error. Do not retry it."
            await self._tool_output(call_id, json.dumps({"error": message}))

    @staticmethod
    def _machines(graph: Document) -> dict[str, Any]:
        return {a: spec.states for a, spec in graph.spec.agents.items() if spec.states and spec.states.enforce}

    async def _run_tool(self, name: str, call_id: str, arguments: str, agent: str) -> None:
        spec = self.toolbox.spec(name)
        if spec.needs_approval and not await self._approved(name, call_id, arguments, agent):
            output = json.dumps({"error": f"The user did not approve running '{name}'. Do not retry it."})
            await self._tool_output(call_id, output)
            self._emit(ev.ToolEnd(agent, name, call_id, output, ok=False))
            return
        self._emit(ev.ToolStart(agent, name, call_id, arguments))
        ctx = ToolContext(context=self.context, history=self.history.items, responses=self._responses, agent=agent)
        outcome = await self.toolbox.execute(name, arguments, ctx)
        await self._tool_output(call_id, outcome.output, respond=not spec.background)
        self._emit(ev.ToolEnd(agent, name, call_id, outcome.output, outcome.ok, outcome.steps))

    async def _tool_output(self, call_id: str, output: str, *, respond: bool = True) -> None:
        item = {"type": "function_call_output", "call_id": call_id, "output": output}
        await self._send({"type": "conversation.item.create", "item": item})
        self.history.set_output(call_id, output)
        self._calls_in_flight.discard(call_id)
        if respond:
            await self._request_response()

    async def _approved(self, name: str, call_id: str, arguments: str, agent: str) -> bool:
        if name in self._always:
            return self._always[name]
        policy = self._approval if isinstance(self._approval, str) and self._approval != "ask" else None
        request = ev.ApprovalRequested(agent, name, call_id, arguments, policy=policy)
        self._emit(request)
        if policy is not None:
            return policy == "auto"
        if callable(self._approval):
            decision = await self._approval(request)
        else:
            future: asyncio.Future[Decision] = asyncio.get_running_loop().create_future()
            self._pending_approvals[call_id] = future
            try:
                decision = await future
            finally:
                self._pending_approvals.pop(call_id, None)
        if decision.startswith("always_"):
            self._always[name] = decision == "always_approve"
        return decision in ("approve", "always_approve")

    def _decide(self, call_id: str, decision: Decision) -> None:
        future = self._pending_approvals.get(call_id)
        if future is None or future.done():
            raise KeyError(f"no approval is pending for call {call_id}")
        future.set_result(decision)

    async def _on_mcp_approval(self, item: dict[str, Any]) -> None:
        """A hosted MCP server's tool call waits for the user's approval, as `needs_approval` tools do."""
        name = f"{item.get('server_label', 'mcp')}.{item.get('name', '')}"
        try:
            approve = await self._approved(name, item["id"], item.get("arguments") or "{}", self.agent)
        except Exception as exc:  # an approver that fails denies: the MCP call must not wait forever
            log.warning("approving %s failed: %s: %s", name, type(exc).__name__, exc)
            approve = False
        response = {"type": "mcp_approval_response", "id": _new_id("item"), "approval_request_id": item["id"]}
        await self._send({"type": "conversation.item.create", "item": {**response, "approve": approve}})
        await self._request_response()

    # --- handoffs and transitions ---------------------------------------------------------------

    def _agent_payload(self, agent_id: str, state: str | None = None) -> dict[str, Any]:
        """The `session.update` of an agent (at `state`, default its current one), keeping what the
        server already applied that must not change mid-call: the voice once audio was produced, and
        the audio formats. Records what the model will be offered."""
        state = state if state is not None else self._states.get(agent_id)
        event = self._compiler.compile(agent_id, state=state, context=self.context, call_id=self._call_id)
        event = apply_mcp_headers(event, self.graph)  # secrets from the environment, added only at send time
        session = event["session"]
        if self._audio_started and self._session_voice:
            # The API refuses a voice change once audio was produced: keep the session's voice.
            session.setdefault("audio", {}).setdefault("output", {})["voice"] = self._session_voice
        for direction, audio_format in self._session_formats.items():
            session.setdefault("audio", {}).setdefault(direction, {})["format"] = audio_format
        output_format = session.get("audio", {}).get("output", {}).get("format") or {}
        self._bytes_per_ms = 48.0 if output_format.get("type", "audio/pcm") == "audio/pcm" else 8.0
        self._offered = _Offer.of(self.graph, agent_id, state, session.get("tools") or ())
        return event

    async def _move(self, target: str, call_id: str, offer: _Offer, *, transition: bool) -> None:
        """A transition (enforced states) or a handoff: check it is allowed and its guard holds."""
        source_state = self.state
        if (self.agent, source_state) != (offer.agent, offer.state):
            where = f"'{self.agent}'" + (f" in state '{source_state}'" if source_state else "")
            refusal = f"the conversation already moved on to {where}"
        else:
            refusal = self._refusal(target, transition=transition)
        if refusal is not None:
            self._emit(ev.TransitionRefused(self.agent, source_state or "", target, refusal))
            stay = f" Stay in '{source_state}'." if source_state else ""
            await self._tool_output(call_id, json.dumps({"error": f"Cannot move to '{target}': {refusal}.{stay}"}))
            return
        if target.startswith("handoff:"):
            listed = source_state is not None and self._transition_to(target) is not None
            await self._handoff(target.removeprefix("handoff:"), call_id, listed=listed)
            return
        assert source_state is not None
        payload = self._agent_payload(self.agent, target)  # compiled first: a failure changes nothing
        self._states[self.agent] = target
        self._emit(ev.StateChanged(self.agent, source_state, target))
        await self._send(payload)
        await self._tool_output(call_id, json.dumps({"state": target}))

    def _transition_to(self, target: str) -> Transition | None:
        machine = self.graph.spec.agents[self.agent].states
        if machine is None:
            return None
        steps = [machine.steps[self.state]] if self.state is not None else list(machine.steps.values())
        return next((t for step in steps for t in step.transitions if t.to == target), None)

    def _refusal(self, target: str, *, transition: bool) -> str | None:
        """Why a move is not allowed now, or None. Guards hold for handoffs listed as transitions too."""
        found = self._transition_to(target)
        if transition and found is None:
            step = self.graph.spec.agents[self.agent].states.steps[self.state]  # type: ignore[union-attr]
            allowed = ", ".join(t.to for t in step.transitions) or "none"
            return f"it is not a transition of state '{self.state}' (allowed: {allowed})"
        if found is None or found.guard is None:
            return None
        variables = template_variables(self.graph, self.agent, self.context)
        try:
            if render_expression(found.guard, variables, strict=False):
                return None
        except TemplateRenderError as exc:
            return f"its guard `{found.guard}` could not be evaluated ({exc})"
        return f"its guard `{found.guard}` does not hold yet"

    async def _handoff(self, target: str, call_id: str, *, listed: bool) -> None:
        """Hand off to `target`; `listed`: the move is a transition of the source's state machine."""
        source, source_state = self.agent, self.state
        payload = self._agent_payload(target)  # compiled first: a failure changes nothing
        self.agent = target
        if listed and source_state is not None:
            self._emit(ev.StateChanged(source, source_state, f"handoff:{target}"))
        await self._send(payload)
        await self._tool_output(call_id, json.dumps({"assistant": target}))
        self._emit(ev.AgentEnd(source))
        self._emit(ev.HandoffEvent(source, target))
        self._emit(ev.AgentStart(target, self.state))

    # --- guardrails and barge-in ----------------------------------------------------------------

    def _guardrails_of(self, agent_id: str) -> list[str]:
        listed = self.graph.spec.agents[agent_id].guardrails
        return list(self.graph.spec.guardrails) if listed is None else listed

    async def _check_guardrails(self, item_id: str, text: str) -> None:
        for name in self._guardrails_of(self.agent):
            trip = await self._guardrails.check(name, text, self.context)
            if trip is not None and item_id not in self._tripped:
                self._tripped.add(item_id)
                await self._on_trip(item_id, text, trip)
                return

    async def _on_trip(self, item_id: str, text: str, trip: Trip) -> None:
        if self._response_active and self._response_items.get(item_id) == self._active_response_id:
            await self._send({"type": "response.cancel"})
        if self._playback.has_audio(item_id):
            self._emit(ev.AudioInterrupted(item_id, await self._truncate(item_id)))
        self._emit(ev.GuardrailTripped(self.agent, trip.guardrail, trip.category, trip.rationale, text))
        guardrail = self.graph.spec.guardrails[trip.guardrail]
        message = guardrail.message or (
            f"Your last reply was stopped by the {trip.guardrail} guardrail ({trip.category}: {trip.rationale}). "
            "Do not repeat it. Briefly apologize and continue helpfully, within policy."
        )
        content = [{"type": "input_text", "text": message}]
        item = {"type": "message", "role": "system", "content": content}
        await self._send({"type": "conversation.item.create", "item": item})
        await self._request_response()

    async def _truncate_playing(self) -> None:
        """Cut the item being heard where playback is, and the items queued behind it at 0 ms."""
        audible = self._playback.audible()
        for index, item_id in enumerate(audible):
            played = await self._truncate(item_id, unheard=index > 0)
            if index == 0:
                self._emit(ev.AudioInterrupted(item_id, played))

    async def _truncate(self, item_id: str, *, unheard: bool = False) -> int:
        """Tell the server how much of the item the user heard (`unheard`: none of it); the history
        keeps that much of its text. An item already cut stays as it was cut."""
        if not self._playback.has_audio(item_id):
            return 0
        if self._playback.stopped(item_id):
            return self._playback.played_ms(item_id)
        received = self._playback.received_ms(item_id)
        played = self._playback.stop(item_id, at_ms=0 if unheard else None)
        self.history.truncate(item_id, played / received if received else 0.0)
        event = {"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0, "audio_end_ms": played}
        await self._send(event)
        return played

    # --- plumbing -------------------------------------------------------------------------------

    def _emit(self, event: ev.SessionEvent) -> None:
        self._events.put_nowait(event)

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("session task failed", exc_info=exc)
            self._emit(ev.Error(f"internal error: {type(exc).__name__}: {exc}", code="task_failed"))
        self._idle_check()

    def _idle_check(self) -> None:
        if not self.idle:
            return
        self._emit(ev.Idle())
        waiter, self._idle_waiter = self._idle_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    _idle_waiter: asyncio.Future[None] | None = None

    def _idle_changed(self) -> asyncio.Future[None]:
        if self._idle_waiter is None or self._idle_waiter.done():
            self._idle_waiter = asyncio.get_running_loop().create_future()
        return self._idle_waiter
