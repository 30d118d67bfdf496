"""The recorder: a session's events, as they arrive, into rows of the call store.

Recording never holds up the call: `record()` turns an event into rows and queues each write for
the store's writer thread, which commits it at once. A database that fails or falls behind (a full
disk, Postgres gone) costs records, not the call: the rows are dropped and counted, with a warning.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import logging
import secrets as _secrets
import threading
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from ..redact import Redactor
from ..runtime import events as ev
from ..spec import Document
from ._store import CallStore

log = logging.getLogger("engine.records")

Frontend = Literal["run", "console", "twilio", "sip"]
FRONTENDS: tuple[str, ...] = ("run", "console", "twilio", "sip")
#: Writes waiting for the database, per call, beyond which new ones are dropped (a stalled store).
MAX_PENDING = 1000
REDACTED = "<redacted>"


def graph_hash(graph: Document) -> str:
    """sha256 of what the graph says: its validated spec (includes resolved) and the files it names
    (`instructions_file` and any other `*_file`), so the same graph hashes the same on any machine."""
    spec = graph.spec.model_dump(mode="json")
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True, separators=(",", ":")).encode())
    for name in sorted(set(_named_files(spec))):
        path = (graph.dir / name).resolve()
        if path.is_relative_to(graph.dir.resolve()) and path.is_file():
            digest.update(b"\0" + name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


_hash_of = graph_hash  # for CallRecorder, whose argument of that name hides the function


def _named_files(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and key.endswith("_file") and isinstance(item, str):
                yield item
            else:
                yield from _named_files(item)
    elif isinstance(value, list):
        for item in value:
            yield from _named_files(item)


def new_call_id(now: float | None = None) -> str:
    """A readable id that sorts by start time: `20261201-194112-3fa9c2`."""
    stamp = datetime.fromtimestamp(time.time() if now is None else now, UTC).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{_secrets.token_hex(3)}"


@dataclass
class _Turn:
    seq: int
    role: str
    agent: str | None
    started_at: float
    text: str = ""
    ended_at: float | None = None
    played_ms: int | None = None
    queued: bool = False  # a write of this turn waits for the writer thread


@dataclass
class _ToolCall:
    seq: int
    agent: str
    tool: str
    arguments: str
    started_at: float
    started: float  # monotonic, for the duration
    row: dict[str, Any] = field(default_factory=dict)


class CallRecorder:
    """Records one call. `record()` each session event; `end()` when the call is over; `await flush()`.

    Or `await recorder.consume(session.subscribe())`, which does all three. Nothing here raises into
    the call or blocks it: write failures are logged and counted in `dropped`.
    """

    def __init__(
        self,
        store: CallStore,
        *,
        frontend: Frontend,
        graph: Document,
        caller: str | None = None,
        secrets: Iterable[str] = (),
        call_id: str | None = None,
        graph_hash: str | None = None,
        max_pending: int = MAX_PENDING,
    ) -> None:
        """`graph_hash`: the graph's `graph_hash()`, when known (a server recording many calls of one
        graph computes it once). Raises `ValueError` for an unknown `frontend`."""
        if frontend not in FRONTENDS:
            raise ValueError(f"frontend is one of {', '.join(FRONTENDS)}, not {frontend!r}")
        self.store = store
        self.started_at = time.time()
        self.id = call_id or new_call_id(self.started_at)
        #: Why the call ended, when the frontend knows better than the events (`hangup`, `transfer`).
        self.end_reason: str | None = None
        self.dropped = 0  # rows not written (failed or dropped while the store was behind)
        self.written = 0
        self._redact = Redactor(secrets, REDACTED)
        self._escalations = {name for name, tool in graph.spec.tools.items() if tool.escalate is not None}
        self._max_pending = max_pending
        self._pending = 0
        self._count_lock = threading.Lock()  # the counters are updated from the writer thread
        self._submitted = False  # a write was queued (flush waits for the store)
        self._warned = False
        self._seq = 0
        self._agent: str | None = None
        self._turns: dict[str, _Turn] = {}
        self._tools: dict[str, _ToolCall] = {}
        self._approvals: dict[str, dict[str, Any]] = {}
        self._caller_done: float | None = None  # monotonic time the caller stopped speaking
        self._audio_items: set[str] = set()
        self._fatal: str | None = None
        self._ended = False
        self._write(
            self.store.start_call,
            {
                "id": self.id,
                "frontend": frontend,
                "caller": self._redact(caller) if caller is not None else None,
                "graph": graph.spec.graph,
                "graph_hash": graph_hash or _hash_of(graph),
                "started_at": self.started_at,
            },
        )

    # --- the events ------------------------------------------------------------------------------

    def record(self, event: ev.SessionEvent) -> None:
        """Record one event (never raises: a recorder bug costs the record, not the call)."""
        if self._ended:
            return
        self._seq += 1
        try:
            self._on(event, time.time(), time.monotonic())
        except Exception as exc:  # a bug here must not end the call
            log.warning("call %s: recording %s failed: %s: %s", self.id, event.type, type(exc).__name__, exc)
            self._count_dropped(1)

    def _on(self, event: ev.SessionEvent, now: float, mono: float) -> None:
        match event:
            case ev.AgentStart(agent=agent, state=state):
                self._agent = agent
                self._visit(now, agent, state)
            case ev.StateChanged(agent=agent, target=target) if not target.startswith("handoff:"):
                self._visit(now, agent, target)
            case ev.TranscriptDelta(role=role, item_id=item_id, delta=delta, done=done):
                self._transcript(now, mono, role, item_id, delta, done)
            case ev.SpeechStarted(item_id=item_id):
                self._turn(item_id, "user", now)
                self._put_turn(item_id)
            case ev.SpeechStopped(item_id=item_id):
                self._caller_done = mono
                turn = self._turn(item_id, "user", now)
                turn.ended_at = now
                self._put_turn(item_id)
            case ev.AudioStarted(item_id=item_id):
                self._audio_started(now, mono, item_id)
            case ev.Audio(item_id=item_id) if item_id not in self._audio_items:
                self._audio_started(now, mono, item_id)  # a session that does not announce audio
            case ev.AudioInterrupted(item_id=item_id, played_ms=played_ms):
                if item_id in self._turns:
                    self._turns[item_id].played_ms = played_ms
                    self._put_turn(item_id)
                self._event(now, event)
            case ev.ToolStart(agent=agent, tool=tool, call_id=call_id, arguments=arguments):
                self._tools[call_id] = _ToolCall(self._seq, agent, tool, arguments, now, mono)
                self._decide(call_id, "approved", now)
                self._put_tool(call_id, None)
            case ev.ToolEnd(agent=agent, tool=tool, call_id=call_id):
                if call_id not in self._tools:  # refused before it ran (not offered, or not approved)
                    arguments = self._approvals.get(call_id, {}).get("arguments", "")
                    self._tools[call_id] = _ToolCall(self._seq, agent, tool, arguments, now, mono)
                    self._decide(call_id, "denied", now)
                self._put_tool(call_id, (event, now, mono))
            case ev.ApprovalRequested(agent=agent, tool=tool, call_id=call_id, arguments=arguments, policy=policy):
                self._approvals[call_id] = {
                    "call_id": self.id,
                    "tool_call_id": call_id,
                    "seq": self._seq,
                    "agent": agent,
                    "tool": tool,
                    "arguments": self._redact(arguments),
                    "policy": policy,
                    "requested_at": now,
                    "decision": None,
                    "decided_at": None,
                }
                self._put("approvals", self._approvals[call_id])
            case ev.GuardrailTripped(agent=agent, guardrail=guardrail, category=category, rationale=rationale):
                row = {"agent": agent, "guardrail": guardrail, "category": category, "rationale": rationale}
                self._put("guardrail_trips", {**self._row(now), **row, "text": self._redact(event.text)})
            case ev.Usage(response_id=response_id, usage=usage):
                tokens = {k: usage.get(k) for k in ("input_tokens", "output_tokens", "total_tokens")}
                tokens = {k: v if isinstance(v, int) else None for k, v in tokens.items()}
                details = self._json(usage)
                self._put("usage", {**self._row(now), "response_id": response_id, **tokens, "details": details})
            case ev.Overflow(dropped=dropped):
                self._count_dropped(dropped)  # events the session could not give us
                self._event(now, event)
            case ev.Error(fatal=True, code=code, message=message):
                self._fatal = code or message
                self._event(now, event)
            case (
                ev.Audio()
                | ev.AudioDone()
                | ev.AgentEnd()
                | ev.HistoryUpdated()
                | ev.Idle()
                | ev.AudioCommitted()
                | ev.StateChanged()
            ):
                pass  # said by other rows (or nothing to keep)
            case _:
                self._event(now, event)  # handoffs, refusals, errors, reconnects, timeouts, overflows

    def end(self, reason: str | None = None) -> None:
        """Write the call's end (once): `reason`, else `end_reason`, else what the events said."""
        if self._ended:
            return
        self._ended = True
        reason = reason or self.end_reason or (f"error: {self._fatal}" if self._fatal else "completed")
        self._write(self._end_call, self._redact(reason), bounded=False)  # one more, never dropped

    async def flush(self, timeout: float = 5.0) -> bool:
        """Wait (at most `timeout` seconds) until the queued writes are done; False if they are not."""
        if not self._submitted:
            return True
        try:
            barrier = self.store.barrier()
        except RuntimeError:  # closed: nothing more will be written
            return self._pending == 0
        try:
            await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(barrier)), timeout)
        except TimeoutError:
            log.warning("call %s: the call store %s is not keeping up", self.id, self.store.description)
            return False
        return True

    async def consume(self, events: AsyncIterator[ev.SessionEvent], *, end_reason: str | None = None) -> None:
        """Record every event until the iterator ends, then the end, then wait for the writes."""
        try:
            async for event in events:
                self.record(event)
        except asyncio.CancelledError:
            self.end(end_reason or self.end_reason or "cancelled")
            raise
        finally:
            self.end(end_reason)
            await self.flush()

    # --- rows --------------------------------------------------------------------------------------

    def _row(self, now: float) -> dict[str, Any]:
        return {"call_id": self.id, "seq": self._seq, "at": now}

    def _visit(self, now: float, agent: str, state: str | None) -> None:
        self._put("visits", {**self._row(now), "agent": agent, "state": state})

    def _event(self, now: float, event: ev.SessionEvent) -> None:
        data = dataclasses.asdict(event)
        data.pop("type")
        self._put("events", {**self._row(now), "type": event.type, "data": self._json(data)})

    def _turn(self, item_id: str, role: str, now: float) -> _Turn:
        if item_id not in self._turns:
            self._turns[item_id] = _Turn(self._seq, role, self._agent, now)
        return self._turns[item_id]

    def _transcript(self, now: float, mono: float, role: str, item_id: str, delta: str, done: bool) -> None:
        known = item_id in self._turns
        turn = self._turn(item_id, role, now)
        if role == "user":
            if not done:
                return  # a partial transcription: the completed transcript replaces it
            turn.text = delta
            if not known:
                self._caller_done = mono  # a text turn: the caller is done once it is sent
        else:
            turn.text += delta
        if done:
            turn.ended_at = turn.ended_at or now
        self._put_turn(item_id)

    def _put_turn(self, item_id: str) -> None:
        """Write a turn as it is now; while a write of it waits in the queue, that write takes the
        newer text (a turn gets a write per delta when the store keeps up, fewer when it does not)."""
        turn = self._turns[item_id]
        if turn.queued:
            return
        turn.queued = self._write(self._write_turn, item_id, turn)

    def _write_turn(self, item_id: str, turn: _Turn) -> None:
        """Runs on the writer thread."""
        turn.queued = False  # from here on, a change queues a write of its own
        row = {
            "call_id": self.id,
            "item_id": item_id,
            "seq": turn.seq,
            "role": turn.role,
            "agent": turn.agent,
            "started_at": turn.started_at,
            "ended_at": turn.ended_at,
            "text": self._redact(turn.text),
            "played_ms": turn.played_ms,
        }
        self.store.put("turns", row)

    def _audio_started(self, now: float, mono: float, item_id: str) -> None:
        if item_id in self._audio_items:
            return
        self._audio_items.add(item_id)
        if self._caller_done is None:
            return  # the agent spoke first (a greeting) or again: no caller turn to measure from
        ms = round((mono - self._caller_done) * 1000, 1)
        self._caller_done = None
        self._put("latencies", {**self._row(now), "item_id": item_id, "ms": ms})

    def _decide(self, call_id: str, decision: str, now: float) -> None:
        approval = self._approvals.get(call_id)
        if approval is None or approval["decision"] is not None:
            return
        approval.update(decision=decision, decided_at=now)
        self._put("approvals", approval)

    def _put_tool(self, call_id: str, end: tuple[ev.ToolEnd, float, float] | None) -> None:
        call = self._tools[call_id]
        row = {
            "call_id": self.id,
            "tool_call_id": call_id,
            "seq": call.seq,
            "agent": call.agent,
            "tool": call.tool,
            "arguments": self._redact(call.arguments),
            "output": None,
            "ok": None,
            "started_at": call.started_at,
            "ended_at": None,
            "duration_ms": None,
            "steps": "[]",
            "escalation": int(call.tool in self._escalations),
        }
        if end is not None:
            event, now, mono = end
            row.update(
                output=self._redact(event.output),
                ok=int(event.ok),
                ended_at=now,
                duration_ms=round((mono - call.started) * 1000, 1),
                steps=self._json(event.steps),
            )
        self._put("tool_calls", row)

    def _end_call(self, reason: str) -> None:
        with self._count_lock:
            dropped = self.dropped
        self.store.end_call(self.id, ended_at=time.time(), end_reason=reason, dropped=dropped)

    # --- writing -----------------------------------------------------------------------------------

    def _json(self, value: Any) -> str:
        return json.dumps(_redacted(value, self._redact), ensure_ascii=False, default=str)

    def _put(self, table: str, row: dict[str, Any]) -> None:
        self._write(self.store.put, table, dict(row))

    def _write(self, write: Any, *args: Any, bounded: bool = True) -> bool:
        """Queue a write; dropped (and counted) when `bounded` and the store is this far behind."""
        with self._count_lock:
            if bounded and self._pending >= self._max_pending:
                self.dropped += 1
                full = True
            else:
                self._pending += 1
                full = False
        if full:
            self._warn("the call store is not keeping up; dropping records")
            return False
        try:
            self.store.submit(write, *args, done=self._written)
        except RuntimeError as exc:  # the store was closed under a running call
            with self._count_lock:
                self._pending -= 1
                self.dropped += 1
            self._warn(f"the call store is closed ({exc}); dropping records")
            return False
        self._submitted = True
        return True

    def _written(self, error: BaseException | None) -> None:
        """On the writer thread: one write committed, or failed (counted, never raised)."""
        with self._count_lock:
            self._pending -= 1
            if error is None:
                self.written += 1
            else:
                self.dropped += 1
        if error is not None:
            self._warn(f"writing to the call store failed ({type(error).__name__}: {error}); dropping records")

    def _count_dropped(self, n: int) -> None:
        with self._count_lock:
            self.dropped += n

    def _warn(self, message: str) -> None:
        if not self._warned:  # once per call: a failing disk must not flood the log
            self._warned = True
            log.warning("call %s (%s): %s", self.id, self.store.description, self._redact(message))


def _redacted(value: Any, redact: Redactor) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(str(k)): _redacted(v, redact) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(v, redact) for v in value]
    return value


async def record_call(
    events: AsyncIterator[ev.SessionEvent],
    store: CallStore,
    *,
    frontend: Frontend,
    graph: Document,
    caller: str | None = None,
    secrets: Iterable[str] = (),
    call_id: str | None = None,
    graph_hash: str | None = None,
    end_reason: str | None = None,
) -> CallRecorder:
    """Record a call from its events until they end; returns the recorder (its `id`, `dropped`)."""
    recorder = CallRecorder(
        store, frontend=frontend, graph=graph, caller=caller, secrets=secrets, call_id=call_id, graph_hash=graph_hash
    )
    await recorder.consume(events, end_reason=end_reason)
    return recorder
