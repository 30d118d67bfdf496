"""The GA Realtime `session.update` of an agent (or of one of its enforced states).

Settings merge in this order, later winning: the graph's `session`, the agent's `session`, the
agent's `voice`; the merged `extra` is merged last into the session object, as is. Only what an
author actually wrote takes part (pydantic's fields-set), so an explicit `turn_detection: null`
(push-to-talk) survives while an absent one stays absent. Output is deterministic: the same
document gives the same dict, key order included.

A setting a `session.update` leaves out keeps its current value on the server, so a handoff must
send what undoes the previous agent's: `output_modalities`, `tool_choice` and `max_output_tokens`
always go out, and `truncation` and `include` go out with their API defaults (`auto`, none) to
every agent once any agent of the graph sets them. `reasoning` and `parallel_tool_calls` have no
documented default to undo with: written on one agent they stay after a handoff to one that sets
none (write them on the graph's `session` to keep a call uniform).
"""

from __future__ import annotations

from typing import Any

from engine.spec import Document, Session
from engine.spec.models import Transcription

from .common import get_agent, plain
from .prompts import compile_instructions, instructions_source
from .tools import compile_tools

#: Settings sent to every agent, with these API defaults, once any agent of the graph sets them.
UNDONE_AT_HANDOFF: dict[str, Any] = {"truncation": "auto", "include": []}
#: Settings sent as written (no default to undo them with).
AS_WRITTEN = ("reasoning", "parallel_tool_calls")

#: Spec audio format names -> GA Realtime format objects.
AUDIO_FORMATS: dict[str, dict[str, Any]] = {
    "pcm16": {"type": "audio/pcm", "rate": 24000},
    "g711_ulaw": {"type": "audio/pcmu"},
    "g711_alaw": {"type": "audio/pcma"},
}


def compile_session(
    doc: Document,
    agent_id: str,
    *,
    state: str | None = None,
    context: dict[str, Any] | None = None,
    call_id: str | None = None,
) -> dict[str, Any]:
    """The `session.update` client event configuring `agent_id` (at `state`, default the initial one).

    `context` replaces the graph's initial context for rendering; with a SIP `call_id`, audio
    formats the author did not set are left to the call.
    """
    return SessionCompiler(doc).compile(agent_id, state=state, context=context, call_id=call_id)


class SessionCompiler:
    """Compiles one document's `session.update` events again and again, as a live session does at
    every handoff and transition: what does not depend on the context (merged settings, tools, the
    instructions template) is built once per agent and state; only the instructions are rendered anew.
    """

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self._fixed: dict[tuple[str, str | None, bool], dict[str, Any]] = {}
        self._sources: dict[str, tuple[str, str]] = {}
        self._graph_wide = graph_wide_settings(doc)

    def compile(
        self,
        agent_id: str,
        *,
        state: str | None = None,
        context: dict[str, Any] | None = None,
        call_id: str | None = None,
    ) -> dict[str, Any]:
        fixed = self._fixed_part(agent_id, state, sip=call_id is not None)
        if agent_id not in self._sources:
            self._sources[agent_id] = instructions_source(self.doc, agent_id)
        instructions = compile_instructions(
            self.doc, agent_id, state=state, context=context, source=self._sources[agent_id]
        )
        session = {"type": "realtime", "model": fixed["model"], "instructions": instructions}
        # Copies: a caller may change its payload (a runtime adjusts audio) without touching the cache.
        session.update((key, plain(value)) for key, value in fixed.items() if key != "model")
        extra = fixed.get("extra")
        if extra:
            del session["extra"]
            session = deep_merge(session, extra)
        return {"type": "session.update", "session": session}

    def _fixed_part(self, agent_id: str, state: str | None, *, sip: bool) -> dict[str, Any]:
        key = (agent_id, state, sip)
        if key not in self._fixed:
            doc = self.doc
            settings = session_settings(doc, agent_id)
            fixed: dict[str, Any] = {
                "model": doc.spec.model,
                # Always sent, with API defaults: a handoff's update must undo what the previous agent set.
                "output_modalities": list(settings.get("output_modalities") or ["audio"]),
            }
            audio = _audio(settings.get("audio") or {}, sip=sip)
            if audio:
                fixed["audio"] = audio
            fixed["tools"] = compile_tools(doc, agent_id, state=state)
            fixed["tool_choice"] = plain(settings.get("tool_choice") or "auto")
            fixed["max_output_tokens"] = settings.get("max_output_tokens") or "inf"
            for name in AS_WRITTEN:
                if settings.get(name) is not None:
                    fixed[name] = plain(settings[name])
            for name, default in UNDONE_AT_HANDOFF.items():
                if settings.get(name) is not None:
                    fixed[name] = (
                        _without_none(settings[name]) if isinstance(settings[name], dict) else plain(settings[name])
                    )
                elif name in self._graph_wide:
                    fixed[name] = plain(default)
            if settings.get("prompt") is not None:
                fixed["prompt"] = _without_none(settings["prompt"])
            if settings.get("extra"):
                fixed["extra"] = settings["extra"]
            self._fixed[key] = fixed
        return self._fixed[key]


def graph_wide_settings(doc: Document) -> set[str]:
    """The settings of `UNDONE_AT_HANDOFF` the graph's session or any agent's session sets."""
    sessions = [doc.spec.session, *(a.session for a in doc.spec.agents.values() if a.session is not None)]
    return {name for name in UNDONE_AT_HANDOFF for s in sessions if getattr(s, name) is not None}


def compile_tracing(doc: Document) -> dict[str, Any] | None:
    """The separate `session.update` that turns tracing on (sent after `session.created`), or None.

    Tracing cannot change once a session has it, so only the graph-level setting counts.
    """
    tracing = doc.spec.session.tracing
    if tracing is None:
        return None
    value = tracing if isinstance(tracing, str) else tracing.model_dump(exclude_none=True)
    return {"type": "session.update", "session": {"type": "realtime", "tracing": plain(value)}}


def compile_all(doc: Document) -> dict[str, dict[str, Any]]:
    """Every agent's payload; an agent with enforced states has `agent` (its initial state) and `agent/state`."""
    out: dict[str, dict[str, Any]] = {}
    for agent_id, agent in doc.spec.agents.items():
        out[agent_id] = compile_session(doc, agent_id)
        if agent.states is not None and agent.states.enforce:
            for state in agent.states.steps:
                out[f"{agent_id}/{state}"] = compile_session(doc, agent_id, state=state)
    return out


def session_settings(doc: Document, agent_id: str) -> dict[str, Any]:
    """The session settings an author wrote for an agent, merged (graph, then agent, then voice)."""
    agent = get_agent(doc, agent_id)
    merged = _written(doc.spec.session)
    if agent.session is not None:
        merged = deep_merge(merged, _written(agent.session))
    if agent.voice is not None:
        merged = deep_merge(merged, {"audio": {"output": {"voice": agent.voice}}})
    merged.pop("tracing", None)  # a separate event: see compile_tracing
    return merged


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`override` merged into a copy of `base`: mappings merge key by key, anything else replaces.

    Two mappings with different `type` are different things (server_vad vs semantic_vad), so the
    override replaces the base instead of mixing their fields.
    """
    out = plain(base)
    for key, value in override.items():
        old = out.get(key)
        if isinstance(old, dict) and isinstance(value, dict) and not _other_type(old, value):
            out[key] = deep_merge(old, value)
        else:
            out[key] = plain(value)
    return out


def _other_type(old: dict[str, Any], new: dict[str, Any]) -> bool:
    return "type" in old and "type" in new and old["type"] != new["type"]


def _written(session: Session) -> dict[str, Any]:
    return session.model_dump(exclude_unset=True)


def _audio(audio: dict[str, Any], *, sip: bool) -> dict[str, Any]:
    given_in = audio.get("input") or {}
    given_out = audio.get("output") or {}
    # One direction's format defaults to the other's (phone lines are symmetric), then to pcm16;
    # a SIP call negotiates its own codec, so nothing is assumed there.
    fmt_in = given_in.get("format") or given_out.get("format") or (None if sip else "pcm16")
    fmt_out = given_out.get("format") or given_in.get("format") or (None if sip else "pcm16")

    inp: dict[str, Any] = {}
    if fmt_in is not None:
        inp["format"] = dict(AUDIO_FORMATS[fmt_in])
    if "transcription" in given_in:
        t = given_in["transcription"]
        inp["transcription"] = None if t is None else Transcription.model_validate(t).model_dump(exclude_none=True)
    for key in ("turn_detection", "noise_reduction"):
        if key in given_in:
            inp[key] = None if given_in[key] is None else _without_none(given_in[key])

    out: dict[str, Any] = {}
    if fmt_out is not None:
        out["format"] = dict(AUDIO_FORMATS[fmt_out])
    for key in ("voice", "speed"):
        if given_out.get(key) is not None:
            out[key] = given_out[key]
    return {k: v for k, v in (("input", inp), ("output", out)) if v}


def _without_none(value: dict[str, Any]) -> dict[str, Any]:
    return {k: plain(v) for k, v in value.items() if v is not None}
