"""Handoffs and state transitions: which moves are allowed now, their guards, and the `session.update`
each one sends.

The server merges every `session.update` into the session it has, so a handoff from an agent that
set something (turn detection, noise reduction, speed) to one that leaves it unset would keep the
first agent's value. Each payload therefore sets again, to the API's default, every field an earlier
payload set and this one does not: after A -> B the server's session is what `engine compile --agent
B` prints. The audio formats and, once audio was produced, the voice stay as the call has them.

Compiled payloads are cached for the whole graph (`CompiledPayloads`, on the `GraphRuntime`): a
payload depends on the context only through the templates it renders, so it is reused whenever the
agent, state and context are the same, and a context that is not plain JSON data is never cached.
"""

from __future__ import annotations

import json
import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from ..compile import SessionCompiler, TemplateRenderError, apply_mcp_headers, render_expression, template_variables
from ..spec import Document, Transition, handoff_tool_name
from . import events as ev

if TYPE_CHECKING:
    from .session import Session

# What a fresh Realtime session has for the fields an agent may set and another leave unset
# (openai.types.realtime: RealtimeAudioConfigInput / Output, RealtimeSessionCreateRequest).
_API_DEFAULTS: dict[tuple[str, ...], Any] = {
    ("audio", "input", "transcription"): None,
    ("audio", "input", "noise_reduction"): None,
    ("audio", "input", "turn_detection"): {
        "type": "server_vad",
        "threshold": 0.5,
        "prefix_padding_ms": 300,
        "silence_duration_ms": 500,
        "create_response": True,
        "interrupt_response": True,
    },
    ("audio", "output", "speed"): 1.0,
    ("prompt",): None,
}
#: Every field of each kind of turn detection, at the API's default: a handoff between two of the
#: same kind sets again the fields the second leaves out (the server merges key by key).
_TURN_DETECTION_DEFAULTS: dict[str, dict[str, Any]] = {
    "server_vad": _API_DEFAULTS[("audio", "input", "turn_detection")],
    "semantic_vad": {"type": "semantic_vad", "eagerness": "auto", "create_response": True, "interrupt_response": True},
}
_TURN_DETECTION = ("audio", "input", "turn_detection")


@dataclass(frozen=True, slots=True)
class Offer:
    """What one session config lets the model call, and whose config it is."""

    agent: str
    state: str | None
    tools: frozenset[str]  # function tool names, handoff and transition tools included
    handoffs: dict[str, str]  # handoff tool name -> target agent

    @classmethod
    def of(cls, graph: Document, agent: str, state: str | None, tools: Any) -> Offer:
        names = frozenset(t["name"] for t in tools if t.get("type") == "function")
        targets = {handoff_tool_name(h.agent): h.agent for h in graph.spec.agents[agent].handoff_targets()}
        return cls(agent, state, names, {name: a for name, a in targets.items() if name in names})


def _plain_json(value: Any, depth: int = 0) -> bool:
    """True when `value` is JSON data of exact types (no tuples, subclasses, NaN...): then its orjson
    encoding tells it apart from every other such value, and templates render it the same each time."""
    kind = type(value)
    if kind is str or kind is bool or kind is int or value is None:
        return True
    if kind is float:
        return math.isfinite(value)
    if depth > 32:
        return False
    if kind is dict:
        return all(type(k) is str and _plain_json(v, depth + 1) for k, v in value.items())
    if kind is list:
        return all(_plain_json(v, depth + 1) for v in value)
    return False


class CompiledPayloads:
    """The compiled `session.update` of each agent, state and context, shared by a graph's sessions.

    `compile` returns a fresh copy each time (callers adjust their payload). The cache holds at most
    `maxsize` entries, the least recently used going first.
    """

    def __init__(self, compiler: SessionCompiler, maxsize: int = 1024) -> None:
        self._compiler = compiler
        self._maxsize = maxsize
        self._cache: OrderedDict[tuple[str, str | None, bool, bytes], bytes] = OrderedDict()

    def compile(self, agent_id: str, state: str | None, context: dict[str, Any], call_id: str | None) -> dict[str, Any]:
        """Raises what `SessionCompiler.compile` raises (`CompileError`, `TemplateRenderError`)."""
        key = None
        if _plain_json(context):
            key = (agent_id, state, call_id is not None, orjson.dumps(context))
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return orjson.loads(cached)  # a deep copy for the price of a parse
        event = self._compiler.compile(agent_id, state=state, context=context, call_id=call_id)
        if key is not None:
            try:
                encoded = orjson.dumps(event)
            except TypeError:  # an `extra` setting orjson cannot encode: compiled each time
                return event
            self._cache[key] = encoded
            if len(self._cache) > self._maxsize:
                self._cache.popitem(last=False)
        return event


def _get(session: dict[str, Any], path: tuple[str, ...]) -> tuple[bool, Any]:
    node: Any = session
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return False, None
        node = node[key]
    return True, node


def _put(session: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = session
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value


def _complete_turn_detection(session: dict[str, Any]) -> None:
    """Fill the turn detection's unset fields with its kind's defaults (an earlier agent may have set them)."""
    audio_in = session["audio"]["input"]
    given = audio_in["turn_detection"]
    if isinstance(given, dict) and given.get("type") in _TURN_DETECTION_DEFAULTS:
        audio_in["turn_detection"] = {**_TURN_DETECTION_DEFAULTS[given["type"]], **given}


class Moves:
    """The current agent and state of every enforced state machine, and the payloads that move them."""

    def __init__(self, session: Session, agent: str, state: str | None) -> None:
        self._session = session
        self._graph = session.graph
        self._payloads = session.runtime.payloads
        # Headers of MCP tools are read from the environment at every send; most graphs have none.
        self._has_mcp = any(t.mcp is not None for t in self._graph.spec.tools.values())
        self._offers: dict[tuple[str, str | None, frozenset[str]], Offer] = {}
        self.agent = agent
        # The current state of every agent with an enforced state machine (kept across handoffs).
        self.states = {
            a: spec.states.initial
            for a, spec in self._graph.spec.agents.items()
            if spec.states is not None and spec.states.enforce
        }
        if state is not None:
            self.states[agent] = state
        # What the config last sent lets the model call.
        self.offered = Offer(agent, self.state, frozenset(), {})
        self._set_paths: set[tuple[str, ...]] = set()  # default-able fields some payload has set
        # What the server applied (session.updated): kept across handoffs and reconnects.
        self.voice: str | None = None
        self.formats: dict[str, Any] = {}
        self.audio_started = False
        self.bytes_per_ms = 48.0  # pcm16 at 24 kHz; g711 is 8 bytes per ms

    @property
    def state(self) -> str | None:
        return self.states.get(self.agent)

    def payload(self, agent_id: str, state: str | None = None) -> dict[str, Any]:
        """The `session.update` of an agent (at `state`, default its current one); records what the
        model will be offered. Raises `CompileError` / `TemplateRenderError` when it does not compile."""
        state = state if state is not None else self.states.get(agent_id)
        event = self._payloads.compile(agent_id, state, self._session.context, self._session.call_id)
        if self._has_mcp:
            event = apply_mcp_headers(event, self._graph)  # secrets from the environment, added only at send time
        session = event["session"]
        for path, default in _API_DEFAULTS.items():
            if _get(session, path)[0]:
                if path == _TURN_DETECTION and path in self._set_paths:
                    _complete_turn_detection(session)
                self._set_paths.add(path)
            elif path in self._set_paths:
                _put(session, path, dict(default) if isinstance(default, dict) else default)
        if self.audio_started and self.voice:
            # The API refuses a voice change once audio was produced: keep the session's voice.
            session.setdefault("audio", {}).setdefault("output", {})["voice"] = self.voice
        for direction, audio_format in self.formats.items():
            session.setdefault("audio", {}).setdefault(direction, {})["format"] = audio_format
        output_format = session.get("audio", {}).get("output", {}).get("format") or {}
        self.bytes_per_ms = 48.0 if output_format.get("type", "audio/pcm") == "audio/pcm" else 8.0
        tools = session.get("tools") or ()
        names = frozenset(t["name"] for t in tools if t.get("type") == "function")
        offer = self._offers.get((agent_id, state, names))
        if offer is None:
            offer = self._offers[(agent_id, state, names)] = Offer.of(self._graph, agent_id, state, tools)
        self.offered = offer
        return event

    def applied(self, session: dict[str, Any]) -> None:
        """The server's `session.updated`: the voice and formats the call now has."""
        audio = session.get("audio") or {}
        output = audio.get("output") or {}
        if isinstance(output.get("voice"), str):
            self.voice = output["voice"]
        for direction in ("input", "output"):
            audio_format = (audio.get(direction) or {}).get("format")
            # Only a format the API could mean: anything else would be sent back at every handoff.
            if isinstance(audio_format, dict) and isinstance(audio_format.get("type"), str):
                self.formats[direction] = audio_format

    # --- moves ----------------------------------------------------------------------------------

    async def move(self, target: str, call_id: str, offer: Offer, *, transition: bool) -> None:
        """A transition (enforced states) or a handoff: check it is allowed and its guard holds."""
        session = self._session
        source_state = self.state
        if (self.agent, source_state) != (offer.agent, offer.state):
            where = f"'{self.agent}'" + (f" in state '{source_state}'" if source_state else "")
            refusal: str | None = f"the conversation already moved on to {where}"
        else:
            refusal = self.refusal(target, transition=transition)
        if refusal is not None:
            session.emit(ev.TransitionRefused(self.agent, source_state or "", target, refusal))
            stay = f" Stay in '{source_state}'." if source_state else ""
            await session.calls.output(call_id, json.dumps({"error": f"Cannot move to '{target}': {refusal}.{stay}"}))
            return
        if target.startswith("handoff:"):
            listed = source_state is not None and self.transition_to(target) is not None
            await self._handoff(target.removeprefix("handoff:"), call_id, listed=listed)
            return
        assert source_state is not None
        payload = self.payload(self.agent, target)  # compiled first: a failure changes nothing
        self.states[self.agent] = target
        session.emit(ev.StateChanged(self.agent, source_state, target))
        await session.send(payload)
        await session.calls.output(call_id, json.dumps({"state": target}))

    def transition_to(self, target: str) -> Transition | None:
        """The current agent's transition to `target` from where it is (any state, before one)."""
        machine = self._graph.spec.agents[self.agent].states
        if machine is None:
            return None
        steps = [machine.steps[self.state]] if self.state is not None else list(machine.steps.values())
        return next((t for step in steps for t in step.transitions if t.to == target), None)

    def refusal(self, target: str, *, transition: bool) -> str | None:
        """Why a move is not allowed now, or None. Guards hold for handoffs listed as transitions too."""
        found = self.transition_to(target)
        if transition and found is None:
            step = self._graph.spec.agents[self.agent].states.steps[self.state]  # type: ignore[union-attr]
            allowed = ", ".join(t.to for t in step.transitions) or "none"
            return f"it is not a transition of state '{self.state}' (allowed: {allowed})"
        if found is None or found.guard is None:
            return None
        variables = template_variables(self._graph, self.agent, self._session.context)
        try:
            if render_expression(found.guard, variables, strict=False):
                return None
        except TemplateRenderError as exc:
            return f"its guard `{found.guard}` could not be evaluated ({exc})"
        return f"its guard `{found.guard}` does not hold yet"

    async def _handoff(self, target: str, call_id: str, *, listed: bool) -> None:
        """Hand off to `target`; `listed`: the move is a transition of the source's state machine."""
        session = self._session
        source, source_state = self.agent, self.state
        payload = self.payload(target)  # compiled first: a failure changes nothing
        self.agent = target
        if listed and source_state is not None:
            session.emit(ev.StateChanged(source, source_state, f"handoff:{target}"))
        await session.send(payload)
        await session.calls.output(call_id, json.dumps({"assistant": target}))
        session.emit(ev.AgentEnd(source))
        session.emit(ev.HandoffEvent(source, target))
        session.emit(ev.AgentStart(target, self.state))
