"""A graph running on GPT-Live: one websocket to `/v1/live/sessions`, the engine as the backend.

GPT-Live is full duplex: the model listens while it speaks, decides itself when to answer and when it
is interrupted, and hands work to its backend with `session.delegation.created` (no task text). With
client delegation (the default) the engine is that backend: on each delegation it works out the task
from the transcript since the previous one and runs the active agent (its text model through the
Responses API, its tools, its enforced state machine and guards, handoffs and escalations), then
answers with `session.commentary.append` (spoken) or `session.thinking.append` (silent).

With `live.delegation: responses` OpenAI runs each agent's backend (its model, instructions, tools) and
hands the engine its function calls in `response.event` envelopes: the engine runs them (tools, moves,
guards), answers with `response.item.create` + `response.create`, and at a handoff swaps the backend
with `session.update`.

The surface and the events are `engine.runtime.Session`'s; what GPT-Live cannot do differs: there is
no text input (`send_text` raises), no commit of the input buffer (the model hears), and `interrupt()`
only stops the local playback. Transcripts come as deltas without turns: the engine groups them into
user and assistant items, a new item each time the speaker changes.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from ...compile import resolve_state
from ...compile.live import compile_live_start
from ...spec import Document
from .. import events as ev
from ..bus import DEFAULT_MAXSIZE, EventBus, Subscription
from ..calls import Approval, Calls
from ..graph_runtime import GraphRuntime
from ..history import History
from ..line import CallLine, NoLine
from ..link import Link
from ..moves import Moves
from ..playback import PlaybackClock, decoded_size
from ..recorder import EventRecorder
from ..transport import ConnectFailed, PicowsTransport, Transport, TransportClosed
from .backend import Backend
from .monitor import LiveGuardrailMonitor

log = logging.getLogger("engine.runtime.live")

OPENAI_LIVE_URL = "wss://api.openai.com/v1/live/sessions"

#: Close reasons after which a new session would be wrong (the caller, a person or a filter ended it).
_FINAL_REASONS = frozenset({"close_requested", "content", "remote_hangup"})


class UnsupportedOnLive(NotImplementedError):
    """Something the Realtime session does that GPT-Live has no client event for."""


class TextInputUnsupported(UnsupportedOnLive):
    """GPT-Live takes no text from the user: only audio (`send_audio`)."""


def live_responses_base(url: str | None) -> str | None:
    """The HTTP base of a custom GPT-Live server: ws(s)://host/v1/live/sessions -> http(s)://host/v1."""
    if not url:
        return None
    scheme, _, rest = url.partition("://")
    host_path = rest.split("?", 1)[0].removesuffix("/").removesuffix("/sessions").removesuffix("/live")
    return f"{ {'wss': 'https', 'ws': 'http'}.get(scheme, scheme) }://{host_path or 'localhost/v1'}"


def attach_url(url: str, session_id: str) -> str:
    """The sideband of a session: wss://host/v1/live/sessions -> wss://host/v1/live/sessions/{id}/attach."""
    base, _, query = url.partition("?")
    return f"{base.rstrip('/')}/{session_id}/attach" + (f"?{query}" if query else "")


class LiveSession:
    """A GPT-Live session running a graph. Use as `async with LiveSession(graph) as session:`.

    `graph` is a loaded `Document` or a shared `GraphRuntime` (whose Responses client must then point
    at the same server). Connects to OpenAI by default (key from `api_key`, the runtime's or
    `OPENAI_API_KEY`), or to `url` (the built-in simulator, any compatible server). With `attach` (the
    `live_…` id of an accepted SIP call) it attaches to that session's sideband instead of starting one.
    Raises `CompileError` (a `ValueError`) for a start agent or state the graph does not have.
    """

    def __init__(
        self,
        graph: Document | GraphRuntime,
        *,
        url: str | None = None,
        api_key: str | None = None,
        headers: dict[str, str] | None = None,
        agent: str | None = None,
        state: str | None = None,
        context: dict[str, Any] | None = None,
        approval: Approval = "ask",
        responses_url: str | None = None,
        events_file: os.PathLike[str] | str | None = None,
        playback: PlaybackClock | None = None,
        on_audio: Callable[[ev.Audio], None] | None = None,
        iterable: bool = True,
        transport: Transport | None = None,
        line: CallLine | None = None,
        reconnect_attempts: int = 5,
        reconnect_backoff: float = 0.5,
        start_timeout: float = 10.0,
        attach: str | None = None,
    ) -> None:
        if isinstance(graph, GraphRuntime):
            self.runtime, self._owns_runtime = graph, False
            if api_key is None and headers is None:
                api_key, headers = graph.api_key, graph.headers
        else:
            base = responses_url or live_responses_base(url)
            self.runtime = GraphRuntime(graph, api_key=api_key, headers=headers, responses_url=base)
            self._owns_runtime = True
            api_key, headers = self.runtime.api_key, self.runtime.headers
        self.graph = self.runtime.graph
        #: `live.delegation: responses`: OpenAI runs each agent's backend; the engine answers its
        #: function calls (tools, handoffs, transitions) and swaps the backend at a handoff.
        self.responses_delegation = self.graph.spec.live.delegation == "responses"
        start = agent or self.graph.spec.start
        resolve_state(self.graph, start, state)
        self.call_id: str | None = None  # the compiler's SIP call id (none on a websocket session)
        self.context: dict[str, Any] = {**self.graph.spec.context, **(context or {})}
        self.history = History()
        self.toolbox = self.runtime.toolbox
        api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY", "")
        headers = dict(headers or {})
        if api_key and not any(k.lower() in ("authorization", "api-key") for k in headers):
            headers["Authorization"] = f"Bearer {api_key}"
        secrets = [api_key, *(v for k, v in headers.items() if k.lower() in ("authorization", "api-key"))]
        self._recorder = EventRecorder(Path(events_file), secrets) if events_file else None
        self._owns_transport = transport is None
        self._transport = transport or PicowsTransport()
        #: A SIP call's session (accepted with its `session.start` config): the engine attaches to it by
        #: its sideband, `…/live/sessions/{id}/attach`, and sends no `session.start` of its own.
        self.attached = attach
        self.link = Link(
            self._transport,
            attach_url(url or OPENAI_LIVE_URL, attach) if attach else url or OPENAI_LIVE_URL,
            headers,
            self,
            attempts=reconnect_attempts,
            backoff=reconnect_backoff,
            recorder=self._recorder,
        )
        self._start_timeout = start_timeout
        self.moves = Moves(self, start, state)
        self.calls = Calls(self, approval)
        self.backend = Backend(self)
        self.monitor = LiveGuardrailMonitor(self)
        self.playback = playback or PlaybackClock()
        self.line: CallLine = line or NoLine()  # call control: transfer, hang up, DTMF
        self.call_ended = False  # a transfer or hang-up is under way: the call ends with it
        self._bus = EventBus()
        # A server whose frontends each subscribe() says `iterable=False`: no queue then fills, unread,
        # with every call's events (audio included: megabytes a call).
        self._events = self._bus.subscribe(audio=on_audio is None, maxsize=DEFAULT_MAXSIZE) if iterable else None
        self._on_audio = on_audio
        self._tasks: set[asyncio.Task[Any]] = set()
        self._idle_waiter: asyncio.Future[None] | None = None
        self._closed = False
        self._started: asyncio.Future[dict[str, Any]] | None = None
        self.session_id: str | None = None
        self.ended: str | None = None  # the close reason of the server's `session.closed`
        self._pending_acks: dict[str, str] = {}  # client event id -> append type, until acknowledged
        self._fixture_done = asyncio.Event()
        self._fixture_done.set()
        self._fixture_id: str | None = None
        self._speaker: str | None = None  # "user" / "assistant": whose transcript item is open
        self._item_id = ""
        self._bytes_per_ms = 48.0  # of the output format the session started with (pcm16 24 kHz)
        self._last_output = 0.0  # monotonic time of the last output transcript delta
        self._dispatch: dict[str, Callable[[dict[str, Any]], None]] = {
            "session.started": self._on_started,
            "session.updated": lambda event: None,
            "session.closed": self._on_closed,
            "session.output_audio.delta": self._on_audio_delta,
            "session.output_transcript.delta": self._on_output_transcript,
            "session.input_transcript.delta": self._on_input_transcript,
            "session.delegation.created": self._on_delegation,
            "session.instructions.appended": self._on_appended,
            "session.thinking.appended": self._on_appended,
            "session.commentary.appended": self._on_appended,
            "session.output_audio.fixture.playing": self._on_fixture_playing,
            "session.output_audio.fixture.played": self._on_fixture_played,
            "session.usage.updated": self._on_usage,
            "response.event": self._on_response_event,
            "error": self._on_error,
            "info": lambda event: log.info("GPT-Live: %s", event.get("message")),
        }

    # --- public API ---------------------------------------------------------------------------

    @property
    def agent(self) -> str:
        return self.moves.agent

    @property
    def state(self) -> str | None:
        return self.moves.state

    async def __aenter__(self) -> LiveSession:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def connect(self) -> None:
        """Open the websocket, send `session.start` (the start agent's rules in its `input`) and wait for
        `session.started`. Raises `ConnectFailed` when it cannot connect or the server refuses the start
        (its error says which parameter), `CompileError` when the start agent does not compile."""
        try:
            start = self._start_event()  # a config that cannot compile never connects
            self._started = asyncio.get_running_loop().create_future()
            if self.attached:  # started when the call was accepted: attaching is all there is to it
                self.session_id = self.attached
                self._started.set_result({"id": self.attached})
                start = None
            await self.link.open(start)
            try:
                async with asyncio.timeout(self._start_timeout):
                    await self._started
            except TimeoutError:
                raise ConnectFailed(f"no session.started within {self._start_timeout:g} s") from None
        except BaseException:
            await self._release()
            raise
        self.emit(ev.AgentStart(self.agent, self.state))

    def subscribe(self, *, audio: bool = False, maxsize: int = DEFAULT_MAXSIZE) -> Subscription:
        """A new consumer of this session's events from now on, with its own bounded queue."""
        return self._bus.subscribe(audio=audio, maxsize=maxsize)

    def __aiter__(self) -> AsyncIterator[ev.SessionEvent]:
        """The events from the session's start. Raises `TypeError` for a session made with
        `iterable=False` (its consumers `subscribe()`)."""
        if self._events is None:
            raise TypeError("this session was made with iterable=False: read its events with subscribe()")
        return self._events

    async def send_text(self, text: str) -> None:
        """Raises `TextInputUnsupported`: GPT-Live hears the user; send their audio with `send_audio`."""
        raise TextInputUnsupported(
            "GPT-Live has no text input: send the user's audio with send_audio() (or run the graph with --api realtime)"
        )

    async def send_audio(self, audio: bytes) -> None:
        """Stream the user's audio (in the session's format); the model hears it as it comes.
        Raises `SessionClosed` or `ConnectionLost` (both `ConnectionError`s)."""
        await self.send({"type": "session.input_audio.append", "audio": base64.b64encode(audio).decode("ascii")})

    async def commit_audio(self) -> None:
        """Raises `UnsupportedOnLive`: GPT-Live has no turns to commit (the model decides when to answer)."""
        raise UnsupportedOnLive("GPT-Live has no input commit: the model hears the audio and decides when to answer")

    async def clear_audio(self) -> None:
        """Raises `UnsupportedOnLive`: audio GPT-Live has heard cannot be taken back."""
        raise UnsupportedOnLive("GPT-Live has no input buffer to clear: the model hears audio as it comes")

    async def request_response(self) -> None:
        """Raises `UnsupportedOnLive`: no client event makes GPT-Live speak (commentary is the engine's way)."""
        raise UnsupportedOnLive("GPT-Live has no response.create: the model decides when to speak")

    async def interrupt(self) -> None:
        """Stop the local playback where it is (GPT-Live has no cancel: the model hears barge-in itself)."""
        self._cut_playing()

    def approve(self, call_id: str, *, always: bool = False) -> None:
        """Approve a pending tool call; raises `KeyError` when none is pending for `call_id`."""
        self.calls.decide(call_id, "always_approve" if always else "approve")

    def reject(self, call_id: str, *, always: bool = False) -> None:
        """Refuse a pending tool call; raises `KeyError` when none is pending for `call_id`."""
        self.calls.decide(call_id, "always_deny" if always else "deny")

    @property
    def delegations(self) -> int:
        """Delegations answered so far (the test runner waits on this after each utterance)."""
        return self.backend.answered

    @property
    def idle(self) -> bool:
        link = self.link
        if link.failed is not None or link.closing:
            return True
        return (
            not link.reconnecting
            and not self._tasks
            and not self._pending_acks
            and self._fixture_done.is_set()
            and not self.calls.waiting_for_approval
        )

    async def wait_idle(self, timeout: float = 30.0, *, quiet: float = 0.15) -> None:
        """Wait until no delegation, tool, approval, append or reconnect is under way and the output
        transcript has been quiet for `quiet` seconds (speech has no end event on GPT-Live).

        Raises `ConnectionLost` once the connection is lost for good, `TimeoutError` after `timeout`.
        """
        async with asyncio.timeout(timeout):
            while True:
                while not self.idle:
                    await self._idle_changed()
                rest = quiet - (time.monotonic() - self._last_output)
                if rest <= 0 or self.link.failed is not None or self.link.closing:
                    break
                await asyncio.sleep(rest)
        if self.link.failed is not None:
            self.link.raise_if_down()

    async def wait_delegations(self, count: int, timeout: float = 30.0) -> None:
        """Wait until `count` delegations have been answered; raises `TimeoutError`, `ConnectionLost`."""
        async with asyncio.timeout(timeout):
            while self.backend.answered < count:
                self.link.raise_if_down()
                await self._idle_changed()

    async def close(self) -> None:
        """Ask the server to close (`session.close`), then close the connection."""
        if self._closed:
            return
        self._closed = True
        if self.link.up:
            with contextlib.suppress(ConnectionError, TransportClosed):
                await self.link.send({"type": "session.close"}, wait=False)
        if self.link.opened and self.link.failed is None:
            self.emit(ev.AgentEnd(self.agent))
        self.link.closing = True
        self._idle_check()
        for task in list(self._tasks):
            task.cancel()
        await self._release()
        self._bus.end()

    async def _release(self) -> None:
        await self.link.close()
        if self._owns_runtime:
            await self.runtime.aclose()
        if self._owns_transport:
            await self._transport.aclose()
        if self._recorder:
            self._recorder.close()

    # --- for the collaborators ------------------------------------------------------------------

    @staticmethod
    def new_id(prefix: str) -> str:
        return f"{prefix}_{uuid.uuid4().hex[:20]}"

    async def send(self, event: dict[str, Any]) -> None:
        await self.link.send(event)

    async def append(self, kind: str, content: str, delegation_id: str | None) -> None:
        """One `session.<kind>.append` (instructions, thinking, commentary), acknowledged by the server.
        Waits for an audio fixture to end first: the API refuses appends while one plays."""
        await self._fixture_done.wait()
        event_id = self.new_id("evt")
        self._pending_acks[event_id] = kind
        event = {"type": f"session.{kind}.append", "content": content, "delegation_id": delegation_id}
        try:
            await self.send({**event, "event_id": event_id})
        except BaseException:
            self._pending_acks.pop(event_id, None)
            raise

    async def play_fixture(self, pcm24k: bytes) -> None:
        """Play PCM16 24 kHz audio through the output (it interrupts the model's speech)."""
        self._fixture_id = event_id = self.new_id("evt")
        self._fixture_done.clear()
        audio = base64.b64encode(pcm24k).decode("ascii")
        try:
            await self.send({"type": "session.output_audio.fixture.play", "audio": audio, "event_id": event_id})
        except BaseException:
            self._fixture_done.set()
            raise

    def emit(self, event: ev.SessionEvent) -> None:
        self._bus.emit(event)

    def spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    async def heard_out(self, limit: float = 30.0, quiet: float = 0.5) -> None:
        """Wait (at most `limit` seconds) until the model has finished saying what it is saying: its
        output transcript has been quiet for `quiet` seconds (GPT-Live's output never "ends": silence
        streams between replies, so the transcript, which follows the words, tells when they stop)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        await asyncio.sleep(quiet)  # the model starts saying the appended commentary
        while loop.time() < deadline and self.link.up and time.monotonic() - self._last_output < quiet:
            await asyncio.sleep(0.05)

    def cut_output(self) -> int:
        """Stop the local playback of the assistant item being heard; returns the ms played."""
        return self._cut_playing()

    # --- the link's owner -----------------------------------------------------------------------

    def on_frame(self, raw: str) -> None:
        try:
            event = json.loads(raw)
        except ValueError:
            event = None
        kind = event.get("type") if isinstance(event, dict) else None
        if not isinstance(kind, str):
            log.warning("skipping a malformed frame from the server: %.200s", raw)
            if self._recorder:
                self._recorder.record_malformed(raw)
            self.emit(ev.Error("malformed frame from the server skipped", code="malformed_frame"))
            return
        if self._recorder and kind != "session.output_audio.delta":  # the output streams all the time
            self._recorder.record("server", event)
        handler = self._dispatch.get(kind)
        if handler is None:
            return
        try:
            handler(event)
        except Exception as exc:  # a surprising event must never end the session
            log.warning("error handling %s: %s: %s", kind, type(exc).__name__, exc)
            self.emit(ev.Error(f"error handling {kind}: {type(exc).__name__}: {exc}", code="handler_error"))

    def on_drop(self, cause: TransportClosed) -> None:
        self.playback.clear()
        self._pending_acks.clear()  # the old session will never acknowledge them
        self._fixture_done.set()
        self._speaker = None
        self.emit(ev.Reconnecting(self.ended or str(cause)))

    def restore_events(self) -> list[dict[str, Any]] | None:
        """A new session seeded with the history (GPT-Live's `input`, at most 128 messages)."""
        if self.ended in _FINAL_REASONS:
            self.link.lose(f"the session was closed by the server ({self.ended})")
            return None
        if self.attached:  # the session lives on at OpenAI with the call: attach to it again
            self._started = asyncio.get_running_loop().create_future()
            self._started.set_result({"id": self.attached})
            return []
        try:
            start = self._start_event(reseed=True)
        except Exception as exc:
            self.link.lose(f"the agent's config no longer compiles: {type(exc).__name__}: {exc}")
            return None
        self.ended = None
        self._started = asyncio.get_running_loop().create_future()
        return [start]

    def _start_event(self, *, reseed: bool = False) -> dict[str, Any]:
        """`session.start` as `engine compile --api live` prints it; a session that starts elsewhere
        (another agent or state) or again (a reseed) has its rules and history as `input`."""
        event = compile_live_start(self.graph, context=self.context)
        session = event["session"]
        machine = self.graph.spec.agents[self.graph.spec.start].states
        initial = machine.initial if machine is not None and machine.enforce else None
        if reseed or (self.agent, self.state) != (self.graph.spec.start, initial):
            session["input"] = self.backend.seed(self.backend.rules(self.agent))
            if self.responses_delegation:  # the backend the server runs is the current agent's
                session["delegation"]["responses"] = self.backend.config(self.agent)[0]
        fmt = (session.get("audio") or {}).get("format") or {"type": "audio/pcm", "rate": 24000}
        rate = int(fmt.get("rate") or 24000)
        self._bytes_per_ms = 2 * rate / 1000 if fmt.get("type") == "audio/pcm" else rate / 1000
        return event

    def on_restored(self, attempt: int, restored: int) -> None:
        self.spawn(self._restarted(attempt))

    async def _restarted(self, attempt: int) -> None:
        """Reconnected once the new session has started (a refused start loses the session)."""
        assert self._started is not None
        try:
            async with asyncio.timeout(self._start_timeout):
                await self._started
        except (TimeoutError, ConnectFailed) as exc:
            reason = f"the new session did not start: {exc or 'no session.started'}"
            self.link.lose(reason)
            self.on_lost(reason)
            return
        self.emit(ev.Reconnected(attempt, len(self.backend.last_seed)))

    def on_lost(self, reason: str) -> None:
        self.emit(ev.Error(f"connection lost: {reason}", code="connection_lost", fatal=True))
        self.calls.deny_all()
        self._idle_check()
        self._bus.end()

    # --- server events ------------------------------------------------------------------------

    def _on_started(self, event: dict[str, Any]) -> None:
        session = event.get("session") if isinstance(event.get("session"), dict) else {}
        self.session_id = session.get("id") if isinstance(session.get("id"), str) else None
        if self._started is not None and not self._started.done():
            self._started.set_result(session)

    def _on_closed(self, event: dict[str, Any]) -> None:
        reason = event.get("reason")
        self.ended = reason if isinstance(reason, str) else "connection_lost"
        usage = event.get("usage")
        if isinstance(usage, dict):
            self.emit(ev.Usage(self.session_id or "", usage))

    def _on_error(self, event: dict[str, Any]) -> None:
        error = event.get("error") if isinstance(event.get("error"), dict) else {}
        message = str(error.get("message") or "server error")
        param = error.get("param")
        if param:
            message = f"{message} (param: {param})"
        refused = error.get("client_event_id") or event.get("client_event_id")
        if isinstance(refused, str):
            self._pending_acks.pop(refused, None)
            if refused == self._fixture_id:
                self._fixture_done.set()  # refused: it will never play
        if self._started is not None and not self._started.done():
            self._started.set_exception(ConnectFailed(f"GPT-Live refused session.start: {message}"))
            self._started.exception()  # retrieved here: connect() may already have timed out
            return
        self.emit(ev.Error(message, code=error.get("code") if isinstance(error.get("code"), str) else None))
        self._idle_check()

    def _on_appended(self, event: dict[str, Any]) -> None:
        client_event_id = event.get("client_event_id")
        if isinstance(client_event_id, str):
            self._pending_acks.pop(client_event_id, None)
        if event.get("type") == "session.commentary.appended":
            self._last_output = time.monotonic()  # speech follows: quiet is counted from here
        self._idle_check()

    def _on_fixture_playing(self, event: dict[str, Any]) -> None:
        self._fixture_done.clear()

    def _on_fixture_played(self, event: dict[str, Any]) -> None:
        self._fixture_done.set()
        self._idle_check()

    def _on_usage(self, event: dict[str, Any]) -> None:
        usage = event.get("usage")
        if isinstance(usage, dict):
            self.emit(ev.Usage(self.session_id or "", usage))

    def _on_response_event(self, event: dict[str, Any]) -> None:
        """A Responses backend's stream event (Responses delegation): its function calls are ours."""
        inner = event.get("event")
        if not isinstance(inner, dict):
            raise TypeError("response.event without an event")
        kind = inner.get("type")
        if kind == "response.output_item.done" and isinstance(inner.get("item"), dict):
            item = inner["item"]
            if item.get("type") == "function_call":
                self.backend.remote_calls += 1
                self.spawn(self.backend.answer_remote(item))
        elif kind in ("response.completed", "response.failed", "response.incomplete"):
            self._last_output = time.monotonic()  # the model speaks the backend's answer: quiet counts from here
            self.backend.response_finished(kind)
            if kind != "response.completed":
                self.emit(ev.Error(f"the Responses backend's response ended: {kind}", code="backend_response"))
            self._idle_check()

    def _on_delegation(self, event: dict[str, Any]) -> None:
        delegation = event.get("delegation")
        if not isinstance(delegation, dict) or not isinstance(delegation.get("id"), str):
            raise TypeError("session.delegation.created without a delegation id")
        if delegation.get("target", "client") != "client":
            return  # Responses or Decisions work: the server runs it (function calls come as response.event)
        self._close_item()
        self.spawn(self.backend.delegate(delegation["id"]))

    # --- transcripts and audio ------------------------------------------------------------------

    def _open_item(self, role: str) -> str:
        if self._speaker != role:
            self._close_item()
            self._speaker = role
            self._item_id = self.new_id("item")
            self.history.add_message(self._item_id, role)
            self.emit(ev.HistoryUpdated(len(self.history)))
            if role == "assistant":
                self.monitor.produced(self._item_id, self.agent, None)
        return self._item_id

    def _close_item(self) -> None:
        if self._speaker is None:
            return
        item = self.history.get(self._item_id)
        role, self._speaker = self._speaker, None
        # As on Realtime: the user's turn ends with its whole transcript, the assistant's with nothing more.
        whole = item["text"] if role == "user" and item is not None else ""
        self.emit(ev.TranscriptDelta(role, self._item_id, whole, done=True))  # type: ignore[arg-type]
        if self.playback.finished(self._item_id):
            self.emit(ev.AudioDone(self._item_id))
        if role == "assistant" and item is not None and self.monitor.enabled:
            self.monitor.on_done(self._item_id, item["text"])

    def _on_input_transcript(self, event: dict[str, Any]) -> None:
        delta = event.get("delta")
        if not isinstance(delta, str):
            raise TypeError("delta is not text")
        if self._speaker == "assistant" and self._heard_now():
            self._cut_playing()  # the user talks over the assistant: what plays locally stops
        item_id = self._open_item("user")
        self.history.append_text(item_id, delta)
        self.emit(ev.TranscriptDelta("user", item_id, delta))

    def _on_output_transcript(self, event: dict[str, Any]) -> None:
        delta = event.get("delta")
        if not isinstance(delta, str):
            raise TypeError("delta is not text")
        item_id = self._open_item("assistant")
        item = self.history.append_text(item_id, delta)
        self._last_output = time.monotonic()
        self.emit(ev.TranscriptDelta("assistant", item_id, delta))
        if self.monitor.enabled:
            self.monitor.on_delta(item_id, item)

    def _on_audio_delta(self, event: dict[str, Any]) -> None:
        delta = event["delta"]
        if not isinstance(delta, str):
            raise TypeError("delta is not base64 text")
        # The output streams all the time (silence between replies): audio belongs to the assistant
        # item being transcribed, if any.
        item_id = self._item_id if self._speaker == "assistant" else "live_output"
        if item_id != "live_output":
            if not self.playback.has_audio(item_id):
                self.emit(ev.AudioStarted(item_id))
            elif self.playback.stopped(item_id):
                return  # stopped locally: the rest of it is never played
            self.playback.received(item_id, decoded_size(delta), self._bytes_per_ms)
        audio = ev.Audio(item_id, delta)
        if self._on_audio is not None:
            self._on_audio(audio)
        self._bus.emit_audio(audio)

    def _heard_now(self) -> bool:
        """Is the listener still hearing the assistant item (the output never "ends" on GPT-Live)?"""
        item_id, playback = self._item_id, self.playback
        if not playback.has_audio(item_id) or playback.stopped(item_id):
            return False
        return playback.played_ms(item_id) < playback.received_ms(item_id)

    def _cut_playing(self) -> int:
        played_first = 0
        for index, item_id in enumerate(self.playback.audible()):
            received = self.playback.received_ms(item_id)
            played = self.playback.stop(item_id, at_ms=0 if index else None)
            self.history.truncate(item_id, played / received if received else 0.0)
            if index == 0:
                played_first = played
                self.emit(ev.AudioInterrupted(item_id, played))
        return played_first

    # --- tasks and idleness ---------------------------------------------------------------------

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        exc = None if task.cancelled() else task.exception()
        gone = isinstance(exc, ConnectionError) and (self.link.closing or self.link.failed is not None)
        if exc is not None and not gone:
            log.error("session task failed", exc_info=exc)
            self.emit(ev.Error(f"internal error: {type(exc).__name__}: {exc}", code="task_failed"))
        self._idle_check()

    def _idle_check(self) -> None:
        waiter, self._idle_waiter = self._idle_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)  # wakes wait_idle and wait_delegations to look again
        if self.idle:
            self.emit(ev.Idle())

    def _idle_changed(self) -> asyncio.Future[None]:
        if self._idle_waiter is None or self._idle_waiter.done():
            self._idle_waiter = asyncio.get_running_loop().create_future()
        return self._idle_waiter
