"""A live session: one websocket to a Realtime server, driven by a compiled agent graph.

`Session` is a facade over collaborators with one job each: the link (send, listen, reconnect,
restore), the response sequencer (when a `response.create` may go out), calls (tool calls and
approvals), moves (handoffs and transitions), the guardrail monitor and barge-in. Server events are
dispatched on their `type` before anything else; audio deltas are forwarded as they come. Anything
slow runs as a task of its own, so the listener never blocks. Events fan out to subscribers.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson

from ..compile import resolve_state
from ..errors import SessionClosed
from ..redact import auth_headers
from ..spec import Document
from . import events as ev
from .bargein import BargeIn
from .bus import DEFAULT_MAXSIZE, EventBus, Subscription
from .calls import Approval, Calls, Decision
from .control import CallControl
from .dispatch import ServerEvents
from .graph_runtime import OPENAI_REALTIME_URL, GraphRuntime, credentials, realtime_url
from .history import History
from .line import CallLine, NoLine, RealtimeCallLine
from .link import Link
from .monitor import GuardrailMonitor
from .moves import Moves
from .playback import PlaybackClock
from .recorder import EventRecorder
from .sequencer import ResponseSequencer
from .transport import PicowsTransport, Transport, TransportClosed

log = logging.getLogger("engine.runtime")

_ID_PREFIX = os.urandom(5).hex()
_ID_COUNTER = itertools.count(1)

__all__ = ["OPENAI_REALTIME_URL", "Approval", "Decision", "Session"]


class Session:
    """A realtime session running a graph. Use as `async with Session(graph) as session:`.

    `graph` is a loaded `Document` (the session builds and closes its own `GraphRuntime`) or a shared
    `GraphRuntime`. Connects to OpenAI by default (key from `api_key`, the runtime's, or
    `OPENAI_API_KEY`), or to `url` (any Realtime-compatible server: Azure with an `api-key` header, the
    built-in simulator), or to a SIP call by `call_id`. Raises `CompileError` (a `ValueError`) for a
    start agent or state the graph does not have.

    `on_audio` is a player, called at once with each assistant `Audio` (audio then reaches only the
    subscribers that ask for it). `iterable=False` leaves out `async for event in session`, for an
    application whose consumers each `subscribe()`.
    """

    def __init__(
        self,
        graph: Document | GraphRuntime,
        *,
        url: str | None = None,
        api_key: str | None = None,
        headers: dict[str, str] | None = None,
        call_id: str | None = None,
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
    ) -> None:
        if isinstance(graph, GraphRuntime):
            self.runtime, self._owns_runtime = graph, False
            url = url if url is not None else graph.url
            if api_key is None and headers is None:
                api_key, headers = graph.api_key, graph.headers
        else:
            self.runtime = GraphRuntime(graph, url=url, api_key=api_key, headers=headers, responses_url=responses_url)
            self._owns_runtime = True
            api_key, headers = self.runtime.api_key, self.runtime.headers
        self.graph = self.runtime.graph
        start = agent or self.graph.spec.start
        resolve_state(self.graph, start, state)  # a session cannot start where the graph has no agent or state
        self.call_id = call_id
        self.context: dict[str, Any] = {**self.graph.spec.context, **(context or {})}
        self.history = History()
        self.toolbox = self.runtime.toolbox
        api_key, headers = credentials(api_key, headers)
        secrets = [api_key, *auth_headers(headers).values()]
        recorder = EventRecorder(Path(events_file), secrets) if events_file else None
        self._recorder = recorder
        # picows hands each frame over with no task woken per frame, the least CPU per frame of the
        # three clients (README, Benchmarks); a transport made here is this session's own and closes with it.
        self._owns_transport = transport is None
        self._transport = transport or PicowsTransport()
        self.link = Link(
            self._transport,
            realtime_url(url, self.graph.spec.model, call_id),
            headers,
            self,
            attempts=reconnect_attempts,
            backoff=reconnect_backoff,
            recorder=recorder,
        )
        self.sequencer = ResponseSequencer()
        self.moves = Moves(self, start, state)
        self.calls = Calls(self, approval)
        self.monitor = GuardrailMonitor(self)
        self.bargein = BargeIn(self, playback or PlaybackClock())
        self.control = CallControl(self, line or self._default_line(call_id))
        self._response_offer = self.moves.offered  # the config the active response was made with
        self._bus = EventBus()
        # `async for event in session` reads this one; audio goes to it unless a player takes audio.
        # A server whose frontends each subscribe() says `iterable=False`: no queue then fills, unread,
        # with every call's events (audio included: megabytes a call).
        self._events = self._bus.subscribe(audio=on_audio is None, maxsize=DEFAULT_MAXSIZE) if iterable else None
        # Audio is the hot path: a player given here is called at once from the listener, and audio
        # skips the subscribers' queues unless they asked for it (~50 deltas a second per call).
        self._on_audio = on_audio
        self._tasks: set[asyncio.Task[Any]] = set()
        self._idle_waiter: asyncio.Future[None] | None = None
        self._closed = False
        self._server = ServerEvents(self)
        self._handlers = self._server.handlers  # looked up once per frame

    # --- public API ---------------------------------------------------------------------------

    @property
    def agent(self) -> str:
        return self.moves.agent

    @property
    def state(self) -> str | None:
        """The current agent's state, when its state machine is enforced."""
        return self.moves.state

    async def __aenter__(self) -> Session:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def connect(self) -> None:
        """Open the websocket and configure the start agent. Raises `ConnectFailed` when it cannot
        connect, `CompileError` when the start agent's config does not compile, `SessionClosed` after
        `close()`, `RuntimeError` when connected already."""
        if self._closed:
            raise SessionClosed("the session is closed")
        if self.link.opened:
            raise RuntimeError("the session is connected already")
        try:
            payload = self.moves.payload(self.agent)  # a config that cannot compile never connects
            await self.link.open(payload)
        except BaseException:
            await self._release()
            raise
        self.emit(ev.AgentStart(self.agent, self.state))

    def subscribe(self, *, audio: bool = False, maxsize: int = DEFAULT_MAXSIZE) -> Subscription:
        """A new consumer of this session's events from now on, with its own bounded queue.

        `audio`: include the assistant's `Audio` deltas. A consumer that falls behind by `maxsize`
        events reads an `Overflow` where it lost them; the others are unaffected.
        """
        return self._bus.subscribe(audio=audio, maxsize=maxsize)

    def __aiter__(self) -> AsyncIterator[ev.SessionEvent]:
        """The events from the session's start. Raises `TypeError` for a session made with
        `iterable=False` (its consumers `subscribe()`)."""
        if self._events is None:
            raise TypeError("this session was made with iterable=False: read its events with subscribe()")
        return self._events

    async def send_text(self, text: str) -> None:
        """Say something as the user (a text message), then ask for a response.
        Raises `SessionClosed` or `ConnectionLost` (both `ConnectionError`s)."""
        item_id = self.new_id("item")
        item = {"id": item_id, "type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
        # Into the history once sent: a reconnect meanwhile restores the history, then this goes out.
        await self.send({"type": "conversation.item.create", "item": item})
        self.history.add_message(item_id, "user", text)
        self.emit(ev.TranscriptDelta("user", item_id, text, done=True))
        await self.request_response()

    async def send_audio(self, audio: bytes) -> None:
        """Append the user's audio (in the session's input format) to the input buffer.
        Raises `SessionClosed` or `ConnectionLost`."""
        # Straight to the link (fifty a second while the user talks): one coroutine less than `send`.
        await self.link.send({"type": "input_audio_buffer.append", "audio": base64.b64encode(audio).decode("ascii")})

    async def commit_audio(self) -> None:
        """End the user's turn (push-to-talk): commit the buffer as a user item, then ask for a response."""
        await self.send({"type": "input_audio_buffer.commit"})
        await self.request_response()

    async def clear_audio(self) -> None:
        """Drop the audio appended since the last commit."""
        await self.send({"type": "input_audio_buffer.clear"})

    async def request_response(self, response: dict[str, Any] | None = None) -> None:
        """Ask the model to speak now (it waits while a response is active; duplicates merge).
        `response`: parameters of that one response (its own `instructions`, `tool_choice`...)."""
        create = self.sequencer.request(response)
        if create is not None:
            await self.send_create(create)

    async def interrupt(self) -> None:
        """Stop the model: cancel the active (or just requested) response and cut the audio where playback is."""
        cancel = self.sequencer.interrupt()
        if cancel is not None:
            await self.send(cancel)
        await self.bargein.cut_playing()

    def approve(self, call_id: str, *, always: bool = False) -> None:
        """Approve a pending tool call; raises `KeyError` when none is pending for `call_id`."""
        self.calls.decide(call_id, "always_approve" if always else "approve")

    def reject(self, call_id: str, *, always: bool = False) -> None:
        """Refuse a pending tool call; raises `KeyError` when none is pending for `call_id`."""
        self.calls.decide(call_id, "always_deny" if always else "deny")

    @property
    def idle(self) -> bool:
        link = self.link
        if link.failed is not None or link.closing:
            return True  # nothing more will happen
        return self.sequencer.idle and not link.reconnecting and not self._tasks and not self.calls.waiting_for_approval

    async def wait_idle(self, timeout: float = 30.0) -> None:
        """Wait until no response, tool, approval, guardrail check or reconnect is under way.

        Raises `ConnectionLost` once the connection is lost for good, `TimeoutError` after `timeout`.
        """
        async with asyncio.timeout(timeout):
            while not self.idle:
                await self._idle_changed()
        if self.link.failed is not None:
            self.link.raise_if_down()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.link.opened and self.link.failed is None:
            self.emit(ev.AgentEnd(self.agent))
        self.link.closing = True
        self.idle_check()
        for task in list(self._tasks):
            task.cancel()
        await self._release()
        self._bus.end()

    async def _release(self) -> None:
        """Close the connection and everything the session opened (also when connecting failed)."""
        await self.link.close()
        if self._owns_runtime:
            await self.runtime.aclose()
        if self._owns_transport:
            await self._transport.aclose()
        if self._recorder:
            self._recorder.close()

    # --- for the collaborators ------------------------------------------------------------------

    def _default_line(self, call_id: str | None) -> CallLine:
        """A SIP call's line refers and hangs up through the Realtime calls API; other calls have none."""
        return RealtimeCallLine(self.runtime.responses.openai, call_id) if call_id else NoLine()

    @staticmethod
    def new_id(prefix: str) -> str:
        """A fresh id: unique within the process (a counter) and across processes (a random part)."""
        return f"{prefix}_{_ID_PREFIX}{next(_ID_COUNTER):010x}"

    async def send(self, event: dict[str, Any]) -> None:
        await self.link.send(event)

    def emit(self, event: ev.SessionEvent) -> None:
        self._bus.emit(event)

    def spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def play(self, audio: ev.Audio) -> None:
        """The assistant's audio, to the player and the subscribers that asked for audio."""
        if self._on_audio is not None:
            self._on_audio(audio)
        if self._bus.audio_subscribers:
            self._bus.emit_audio(audio)

    async def send_create(self, create: dict[str, Any]) -> None:
        # Never carried across a reconnect (the new session would answer twice): if it cannot go out
        # now, the restore asks again.
        if self.link.up:
            with contextlib.suppress(TransportClosed):
                await self.link.send(create, wait=False)
                return
        self.link.raise_if_down()
        self.sequencer.unsent()

    # --- the link's owner -----------------------------------------------------------------------

    def on_frame(self, raw: str) -> None:
        if self._closed:
            return  # closing: what still arrives is for nobody
        try:
            event = orjson.loads(raw)  # a third of json.loads' time on an audio delta
            kind = event["type"]
            handler = self._handlers.get(kind)
        except (ValueError, RecursionError, TypeError, KeyError):  # not JSON or too deep, no object, no type
            handler = kind = None
        if handler is None and not isinstance(kind, str):
            log.warning("skipping a malformed frame from the server: %.200s", raw)
            if self._recorder:
                self._recorder.record_malformed(raw)
            self.emit(ev.Error("malformed frame from the server skipped", code="malformed_frame"))
            return
        if self._recorder:
            self._recorder.record("server", event)
        if handler is None:
            return
        try:
            handler(event)
        except Exception as exc:  # a surprising event must never end the session
            log.warning("error handling %s: %s: %s", kind, type(exc).__name__, exc)
            log.debug("error handling %s", kind, exc_info=exc)
            self.emit(ev.Error(f"error handling {kind}: {type(exc).__name__}: {exc}", code="handler_error"))

    def on_drop(self, cause: TransportClosed) -> None:
        self.sequencer.dropped()
        self.bargein.playback.clear()  # what was playing went with the old session
        self.emit(ev.Reconnecting(str(cause)))

    def restore_events(self) -> list[dict[str, Any]] | None:
        try:
            payload = self.moves.payload(self.agent)
        except Exception as exc:
            self.link.lose(f"the agent's config no longer compiles: {type(exc).__name__}: {exc}")
            return None
        return [payload, *self.history.restore_events(unanswered=self.calls.in_flight)]

    def on_restored(self, attempt: int, restored: int) -> None:
        self.emit(ev.Reconnected(attempt, restored))
        items = self.history.items
        last = items[-1] if items else None
        spoke_last = last is not None and (
            last["type"] == "function_call" or (last["type"] == "message" and last["role"] == "user")
        )
        # While a tool still runs, its output asks for the response itself.
        create = self.sequencer.restored(turn_open=spoke_last, hold=not items or bool(self.calls.in_flight))
        if create is not None:
            self.spawn(self.send_create(create))
        self.idle_check()

    def on_lost(self, reason: str) -> None:
        self.emit(ev.Error(f"connection lost: {reason}", code="connection_lost", fatal=True))
        self.calls.deny_all()
        self.idle_check()
        self._bus.end()

    # --- tasks and idleness ---------------------------------------------------------------------

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        exc = None if task.cancelled() else task.exception()
        # A send that raced the end of the connection has nobody left to tell.
        gone = isinstance(exc, ConnectionError) and (self.link.closing or self.link.failed is not None)
        if exc is not None and not gone:
            log.error("session task failed", exc_info=exc)
            self.emit(ev.Error(f"internal error: {type(exc).__name__}: {exc}", code="task_failed"))
        self.idle_check()

    def idle_check(self) -> None:
        if not self.idle:
            return
        self.emit(ev.Idle())
        waiter, self._idle_waiter = self._idle_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _idle_changed(self) -> asyncio.Future[None]:
        if self._idle_waiter is None or self._idle_waiter.done():
            self._idle_waiter = asyncio.get_running_loop().create_future()
        return self._idle_waiter
