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
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlencode, urlsplit, urlunsplit

from ..compile import (
    TemplateRenderError,
    apply_mcp_headers,
    compile_session,
    compile_tracing,
    render_expression,
    template_variables,
)
from ..spec import Document, Transition, handoff_tool_name
from ..spec.script import TRANSITION_TOOL
from ..tools import ResponsesClient, Toolbox, ToolContext
from . import events as ev
from .guardrails import GuardrailChecker, Trip
from .history import History
from .playback import PlaybackClock
from .recorder import EventRecorder
from .transport import Connection, Transport, TransportClosed, WebsocketsTransport

log = logging.getLogger("engine.runtime")

OPENAI_REALTIME_URL = "wss://api.openai.com/v1/realtime"
Decision = Literal["approve", "deny", "always_approve", "always_deny"]
Approver = Callable[[ev.ApprovalRequested], Awaitable[Decision]]


def _new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


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
        transport: Transport | None = None,
        reconnect_attempts: int = 5,
        reconnect_backoff: float = 0.5,
    ) -> None:
        self.graph = graph
        self.agent = agent or graph.spec.start
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
        if self._api_key and not any(h.lower() in ("authorization", "api-key") for h in self._headers):
            self._headers["Authorization"] = f"Bearer {self._api_key}"
        self._approval = approval
        self._always: dict[str, bool] = {}
        self._pending_approvals: dict[str, asyncio.Future[Decision]] = {}
        self._playback = playback or PlaybackClock()
        self._transport = transport or WebsocketsTransport()
        self._reconnect_attempts = reconnect_attempts
        self._reconnect_backoff = reconnect_backoff
        secrets = [self._api_key, *(v for k, v in self._headers.items() if k.lower() in ("authorization", "api-key"))]
        self._recorder = EventRecorder(Path(events_file), secrets) if events_file else None

        responses_base = responses_url or self._responses_base(url)
        self._responses = ResponsesClient(api_key=self._api_key or "unset", base_url=responses_base)
        self.toolbox = Toolbox(graph)
        self._guardrails = GuardrailChecker(graph, self._responses)

        self._conn: Connection | None = None
        self._connected = asyncio.Event()
        self._closing = False
        self._listener: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._events: asyncio.Queue[ev.SessionEvent | None] = asyncio.Queue()
        self._send_lock = asyncio.Lock()

        # Response sequencing: at most one active, at most one waiting (duplicates merge).
        self._response_active = False
        self._response_requested = False
        self._response_waiting: dict[str, Any] | None = None
        self._audio_started = False
        self._bytes_per_ms = 48.0  # pcm16 at 24 kHz; g711 is 8 bytes per ms
        self._session_voice: str | None = None

        # Guardrails: transcript length already checked, per assistant item.
        self._checked_chars: dict[str, int] = {}
        self._tripped: set[str] = set()
        self._every = min((g.every_chars for g in graph.spec.guardrails.values()), default=0)
        self._response_items: dict[str, str] = {}  # item id -> response id
        self._active_response_id: str | None = None

        self._dispatch: dict[str, Callable[[dict[str, Any]], None]] = {
            "response.output_audio.delta": self._on_audio_delta,
            "response.output_audio_transcript.delta": self._on_transcript_delta,
            "response.output_text.delta": self._on_transcript_delta,
            "response.output_audio_transcript.done": self._on_transcript_done,
            "response.output_text.done": self._on_transcript_done,
            "response.created": self._on_response_created,
            "response.done": self._on_response_done,
            "response.output_item.added": self._on_output_item_added,
            "response.output_item.done": self._on_output_item_done,
            "conversation.item.added": self._on_item_added,
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
        self._conn = await self._transport.connect(self._url, self._headers)
        await self._send(self._agent_payload(self.agent), wait=False)
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
        """Stop the model: cancel the active response and cut the audio where playback is."""
        if self._response_active:
            await self._send({"type": "response.cancel"})
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
        busy = self._response_active or self._response_requested or self._response_waiting is not None
        return not busy and not self._tasks and not self._pending_approvals

    async def wait_idle(self, timeout: float = 30.0) -> None:
        """Wait until no response, tool, approval or guardrail check is under way."""
        async with asyncio.timeout(timeout):
            while not self.idle:
                await self._idle_changed()

    async def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        for task in list(self._tasks):
            task.cancel()
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener
        await self.toolbox.aclose()
        if self._recorder:
            self._recorder.close()
        self._events.put_nowait(None)

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
        if wait and not self._connected.is_set():
            await self._connected.wait()  # during a reconnect, nothing is lost: it waits
        if self._recorder:
            self._recorder.record("client", event)
        text = json.dumps(event)
        async with self._send_lock:
            assert self._conn is not None
            try:
                await self._conn.send(text)
            except TransportClosed:
                if self._closing:
                    return
                # The listener notices the drop and reconnects; resend once it has.
                self._connected.clear()
                await self._connected.wait()
                await self._conn.send(text)

    async def _listen(self) -> None:
        while not self._closing:
            assert self._conn is not None
            try:
                raw = await self._conn.recv()
            except TransportClosed as exc:
                if self._closing:
                    break
                if not await self._reconnect(exc):
                    self._emit(ev.Error(f"connection lost: {exc}", fatal=True))
                    break
                continue
            self._handle(raw)
        self._events.put_nowait(None)

    def _handle(self, raw: str) -> None:
        try:
            event = json.loads(raw)
            kind = event["type"]
        except (ValueError, KeyError, TypeError):
            log.warning("skipping a malformed frame from the server: %.200s", raw)
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
        self._connected.clear()
        self._response_active = self._response_requested = False
        pending_turn = self._needs_response_after_restore()
        for attempt in range(1, self._reconnect_attempts + 1):
            await asyncio.sleep(self._reconnect_backoff * 2 ** (attempt - 1))
            try:
                conn = await self._transport.connect(self._url, self._headers)
            except Exception as exc:
                log.warning("reconnect attempt %d failed: %s", attempt, exc)
                continue
            self._conn = conn
            restore = self.history.restore_events()
            try:
                await self._send(self._agent_payload(self.agent), wait=False)
                for event in restore:
                    await self._send(event, wait=False)
            except TransportClosed:
                continue
            self._connected.set()
            self._emit(ev.Reconnected(attempt, len(restore)))
            if pending_turn:
                await self._request_response()
            return True
        return False

    def _needs_response_after_restore(self) -> bool:
        """A turn the drop cut short: the last item is the user's, or a tool output."""
        if not self.history.items:
            return False
        last = self.history.items[-1]
        return (last["type"] == "message" and last["role"] == "user") or (
            last["type"] == "function_call" and last["output"] is not None
        )

    # --- response sequencing ------------------------------------------------------------------

    async def _request_response(self, response: dict[str, Any] | None = None) -> None:
        event: dict[str, Any] = {"type": "response.create"}
        if response:
            event["response"] = response
        if self._response_active or self._response_requested:
            # One waiting request is enough: duplicates merge, a specific one wins.
            if self._response_waiting is None or response:
                self._response_waiting = event
            return
        self._response_requested = True
        await self._send(event)

    def _on_response_created(self, event: dict[str, Any]) -> None:
        self._response_active, self._response_requested = True, False
        self._active_response_id = event["response"].get("id")

    def _on_response_done(self, event: dict[str, Any]) -> None:
        self._response_active = False
        self._active_response_id = None
        if self._response_waiting is not None:
            waiting, self._response_waiting = self._response_waiting, None
            self._response_requested = True
            self._spawn(self._send(waiting))
        self._idle_check()

    # --- server events ------------------------------------------------------------------------

    def _on_session_created(self, event: dict[str, Any]) -> None:
        tracing = compile_tracing(self.graph)
        if tracing is not None:
            self._spawn(self._send(tracing))

    def _on_session_updated(self, event: dict[str, Any]) -> None:
        output = (event.get("session") or {}).get("audio", {}).get("output") or {}
        self._session_voice = output.get("voice") or self._session_voice

    def _on_error(self, event: dict[str, Any]) -> None:
        error = event.get("error") or {}
        code = error.get("code")
        if code == "conversation_already_has_active_response":
            # Our sequencer should prevent this; if a server still says so, retry after its done.
            self._response_requested = False
            self._response_waiting = self._response_waiting or {"type": "response.create"}
            self._response_active = True
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

    def _on_user_transcript(self, event: dict[str, Any]) -> None:
        self.history.set_text(event["item_id"], event.get("transcript", ""), role="user")
        self._emit(ev.TranscriptDelta("user", event["item_id"], event.get("transcript", ""), done=True))

    def _on_audio_delta(self, event: dict[str, Any]) -> None:
        item_id = event["item_id"]
        delta = event["delta"]
        self._audio_started = True
        self._playback.received(item_id, len(delta) * 3 // 4, self._bytes_per_ms)
        self._events.put_nowait(ev.Audio(item_id, delta))

    def _on_transcript_delta(self, event: dict[str, Any]) -> None:
        item_id, delta = event["item_id"], event["delta"]
        item = self.history.append_text(item_id, delta)
        self._events.put_nowait(ev.TranscriptDelta("assistant", item_id, delta))
        if self._every and item is not None and item_id not in self._tripped:
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
        if item.get("type") != "function_call":
            return
        call_id, name, arguments = item["call_id"], item["name"], item.get("arguments") or "{}"
        self.history.add_call(item["id"], name, call_id, arguments)
        self._spawn(self._on_function_call(name, call_id, arguments))

    def _on_speech_started(self, event: dict[str, Any]) -> None:
        self._spawn(self._truncate_playing())

    # --- function calls -----------------------------------------------------------------------

    async def _on_function_call(self, name: str, call_id: str, arguments: str) -> None:
        agent = self.graph.spec.agents[self.agent]
        handoffs = {handoff_tool_name(h.agent): h.agent for h in agent.handoff_targets()}
        if name in handoffs:
            await self._move(f"handoff:{handoffs[name]}", call_id)
        elif name == TRANSITION_TOOL and self.state is not None:
            try:
                target = json.loads(arguments).get("to")
            except (ValueError, AttributeError):
                target = None
            await self._move(str(target), call_id, transition=True)
        elif name in self._offered_tools():
            await self._run_tool(name, call_id, arguments)
        else:
            offered = sorted(self._offered_tools() | set(handoffs))
            message = f"Tool '{name}' is not available to the {self.agent} agent. Available: {', '.join(offered)}."
            await self._tool_output(call_id, json.dumps({"error": message}))
            self._emit(ev.ToolEnd(self.agent, name, call_id, message, ok=False))

    def _offered_tools(self) -> set[str]:
        machine = self.graph.spec.agents[self.agent].states
        if self.state is not None and machine is not None:
            return set(machine.steps[self.state].tools)
        return set(self.graph.spec.agents[self.agent].tools)

    @staticmethod
    def _machines(graph: Document) -> dict[str, Any]:
        return {a: spec.states for a, spec in graph.spec.agents.items() if spec.states and spec.states.enforce}

    async def _run_tool(self, name: str, call_id: str, arguments: str) -> None:
        spec = self.toolbox.spec(name)
        agent = self.agent
        if spec.needs_approval and not await self._approved(name, call_id, arguments):
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
        if respond:
            await self._request_response()

    async def _approved(self, name: str, call_id: str, arguments: str) -> bool:
        if name in self._always:
            return self._always[name]
        request = ev.ApprovalRequested(self.agent, name, call_id, arguments)
        self._emit(request)
        if self._approval == "auto":
            return True
        if self._approval == "deny":
            return False
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

    # --- handoffs -----------------------------------------------------------------------------

    def _agent_payload(self, agent_id: str) -> dict[str, Any]:
        state = self._states.get(agent_id)
        event = compile_session(self.graph, agent_id, state=state, context=self.context, call_id=self._call_id)
        event = apply_mcp_headers(event, self.graph)  # secrets from the environment, added only at send time
        if self._audio_started and self._session_voice:
            # The API refuses a voice change once audio was produced: keep the session's voice.
            output = event["session"].setdefault("audio", {}).setdefault("output", {})
            output["voice"] = self._session_voice
        output_format = event["session"].get("audio", {}).get("output", {}).get("format") or {}
        self._bytes_per_ms = 48.0 if output_format.get("type", "audio/pcm") == "audio/pcm" else 8.0
        return event

    async def _move(self, target: str, call_id: str, *, transition: bool = False) -> None:
        """A transition (enforced states) or a handoff: check it is allowed and its guard holds."""
        source_state = self.state
        refusal = self._refusal(target, transition=transition)
        if refusal is not None:
            self._emit(ev.TransitionRefused(self.agent, source_state or "", target, refusal))
            stay = f" Stay in '{source_state}'." if source_state else ""
            await self._tool_output(call_id, json.dumps({"error": f"Cannot move to '{target}': {refusal}.{stay}"}))
            return
        if source_state is not None and self._transition_to(target) is not None:
            self._emit(ev.StateChanged(self.agent, source_state, target))
        if target.startswith("handoff:"):
            await self._handoff(target.removeprefix("handoff:"), call_id)
            return
        assert source_state is not None
        self._states[self.agent] = target
        await self._send(self._agent_payload(self.agent))
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

    async def _handoff(self, target: str, call_id: str) -> None:
        source = self.agent
        self.agent = target
        await self._send(self._agent_payload(target))
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
        await self._truncate(item_id)
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
        item_id = self._playback.playing()
        if item_id is not None:
            played = await self._truncate(item_id)
            self._emit(ev.AudioInterrupted(item_id, played))

    async def _truncate(self, item_id: str) -> int:
        if not self._playback.has_audio(item_id):
            return 0
        played = self._playback.played_ms(item_id)
        self._playback.stop(item_id)
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
        if self.idle:
            self._emit(ev.Idle())
        waiter, self._idle_waiter = self._idle_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    _idle_waiter: asyncio.Future[None] | None = None

    def _idle_changed(self) -> asyncio.Future[None]:
        if self._idle_waiter is None or self._idle_waiter.done():
            self._idle_waiter = asyncio.get_running_loop().create_future()
        return self._idle_waiter
