"""Graph lints (6xx) and Realtime API lints (7xx), each finding pointed at the YAML node at fault.

Names that reference nothing are the reference layer's business (3xx): here they are skipped.
The lints read the spec directly (the same edges `build_graph` draws), so `engine validate` never
pays for importing networkx.

Rules worth knowing:
- W601 follows handoffs from the start agent, agent-level and state-level (`to: handoff:<agent>`)
  alike; a state-level handoff counts even when its state is itself unreachable (that is W602's).
- W603 (dead end): a state with no transitions, in an agent that has no handoffs, that is not the
  last step listed. The last step is where a conversation may end (a goodbye); any other step
  without a way out traps the caller. An agent with handoffs always has a way out.
- E605 looks at the names one session offers: the agent's tools, a state's tools, the generated
  `transfer_to_<agent>` tools and `transition_state`; hosted MCP servers are not function tools and
  do not count. A declared tool named like a generated tool is reported where it is declared.
- W702 compares every agent's voice with the start agent's (the first voice the caller hears):
  the Realtime API refuses a voice change once audio has been sent, so the new voice is ignored.
  An agent without any voice keeps the current one and is fine.
- W705 does the same for audio formats: the formats are the call's (a phone line's codec), so the
  runtime keeps the first agent's across handoffs and an agent's own format is never applied.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date

from engine.spec import Agent, Document, Finding, GraphSpec, handoff_tool_name
from engine.spec.document import Loc
from engine.spec.script import TRANSITION_TOOL

from .build import effective_voice

#: Function names the Realtime API accepts.
NAME_PATTERN = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def lint_graph(doc: Document) -> list[Finding]:
    findings = [
        *_unreachable_agents(doc),
        *_unreachable_states(doc),
        *_dead_ends(doc),
        *_self_handoffs(doc),
        *_duplicate_tools(doc),
        *_unused_tools(doc),
        *_refused_names(doc),
        *_voices(doc),
        *_formats(doc),
    ]
    return sorted(dict.fromkeys(findings), key=Finding.sort_key)


def _handoffs(doc: Document, agent_id: str) -> Iterator[tuple[str, Loc, str | None]]:
    """Every handoff of an agent to a declared agent: (target, location, the state it is taken from)."""
    agent = doc.spec.agents[agent_id]
    for i, handoff in enumerate(agent.handoffs):
        target = handoff if isinstance(handoff, str) else handoff.agent
        if target in doc.spec.agents:
            yield target, ("agents", agent_id, "handoffs", i, *(() if isinstance(handoff, str) else ("agent",))), None
    for step_id, step in agent.states.steps.items() if agent.states else ():
        for i, transition in enumerate(step.transitions):
            if transition.handoff in doc.spec.agents:
                loc = ("agents", agent_id, "states", "steps", step_id, "transitions", i, "to")
                yield transition.handoff, loc, step_id


def _reachable(start: str, edges: dict[str, list[str]]) -> set[str]:
    seen, todo = {start}, [start]
    while todo:
        for nxt in edges.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _unreachable_agents(doc: Document) -> Iterator[Finding]:
    start = doc.spec.start
    if start not in doc.spec.agents:
        return
    edges = {a: [target for target, _, _ in _handoffs(doc, a)] for a in doc.spec.agents}
    reached = _reachable(start, edges)
    for agent_id in doc.spec.agents:
        if agent_id not in reached:
            message = f"agent '{agent_id}' cannot be reached from the start agent '{start}' by any handoff"
            yield doc.finding("W601", message, ("agents", agent_id), key=True)


def _unreachable_states(doc: Document) -> Iterator[Finding]:
    for agent_id, agent in doc.spec.agents.items():
        machine = agent.states
        if machine is None or machine.initial not in machine.steps:
            continue
        edges = {name: [t.to for t in step.transitions if t.handoff is None] for name, step in machine.steps.items()}
        reached = _reachable(machine.initial, edges)
        for name in machine.steps:
            if name not in reached:
                message = (
                    f"state '{name}' of agent '{agent_id}' cannot be reached from the initial state '{machine.initial}'"
                )
                yield doc.finding("W602", message, ("agents", agent_id, "states", "steps", name), key=True)


def _dead_ends(doc: Document) -> Iterator[Finding]:
    for agent_id, agent in doc.spec.agents.items():
        if agent.states is None or agent.handoffs:
            continue
        *others, _last = agent.states.steps
        for name in others:
            if not agent.states.steps[name].transitions:
                message = (
                    f"state '{name}' of agent '{agent_id}' is a dead end: it has no transitions, the agent has no "
                    "handoffs, and it is not the last step"
                )
                yield doc.finding("W603", message, ("agents", agent_id, "states", "steps", name), key=True)


def _self_handoffs(doc: Document) -> Iterator[Finding]:
    for agent_id in doc.spec.agents:
        for target, loc, state in _handoffs(doc, agent_id):
            if target == agent_id:
                where = "" if state is None else f" (from its state '{state}')"
                yield doc.finding("E604", f"agent '{agent_id}' hands off to itself{where}", loc)


def _function_tools(doc: Document, names: list[str], at: Loc) -> Iterator[tuple[str, Loc]]:
    """Declared, non-MCP tools of a list with their locations (MCP servers are not function tools)."""
    for i, name in enumerate(names):
        tool = doc.spec.tools.get(name)
        if tool is not None and tool.kind != "mcp":
            yield name, (*at, i)


def _repeats(doc: Document, named: Iterator[tuple[str, Loc]], what: str) -> Iterator[Finding]:
    seen: set[str] = set()
    for name, loc in named:
        if name in seen:
            yield doc.finding("E605", f"tool '{name}' appears twice in {what}", loc)
        seen.add(name)


def _duplicate_tools(doc: Document) -> Iterator[Finding]:
    spec = doc.spec
    transfer_names = {handoff_tool_name(a): a for a in spec.agents}
    enforced = [a for a, agent in spec.agents.items() if agent.states is not None and agent.states.enforce]
    for name, tool in spec.tools.items():
        if name in transfer_names and tool.kind != "mcp":
            message = (
                f"tool '{name}' has the name of the generated handoff tool of agent '{transfer_names[name]}'; "
                "rename the tool"
            )
            yield doc.finding("E605", message, ("tools", name), key=True)
        if name == TRANSITION_TOOL and enforced and tool.kind != "mcp":
            message = (
                f"tool '{name}' has the name of the generated tool of enforced state machines "
                f"(agent '{enforced[0]}'); rename the tool"
            )
            yield doc.finding("E605", message, ("tools", name), key=True)
    for agent_id, agent in spec.agents.items():
        at: Loc = ("agents", agent_id)
        yield from _repeats(doc, _function_tools(doc, agent.tools, (*at, "tools")), f"agent '{agent_id}' tools")
        yield from _repeated_handoffs(doc, agent_id, agent)
        for step_id, step in agent.states.steps.items() if agent.states else ():
            named = _function_tools(doc, step.tools, (*at, "states", "steps", step_id, "tools"))
            yield from _repeats(doc, named, f"the tools of state '{step_id}' of agent '{agent_id}'")


def _repeated_handoffs(doc: Document, agent_id: str, agent: Agent) -> Iterator[Finding]:
    seen: set[str] = set()
    for i, handoff in enumerate(agent.handoffs):
        target = handoff if isinstance(handoff, str) else handoff.agent
        if target in seen:
            loc: Loc = ("agents", agent_id, "handoffs", i) + (() if isinstance(handoff, str) else ("agent",))
            message = f"handoff to '{target}' is listed twice: '{handoff_tool_name(target)}' would be offered twice"
            yield doc.finding("E605", message, loc)
        seen.add(target)


def _unused_tools(doc: Document) -> Iterator[Finding]:
    used: set[str] = set()
    for agent in doc.spec.agents.values():
        used.update(agent.tools)
        for step in agent.states.steps.values() if agent.states else ():
            used.update(step.tools)
    for tool in doc.spec.tools.values():
        if tool.escalate is not None:
            used.update(tool.escalate.tools)
    for name in doc.spec.tools:
        if name not in used:
            message = f"tool '{name}' is declared but no agent, state or escalation uses it"
            yield doc.finding("W606", message, ("tools", name), key=True)


def _refused(name: str) -> bool:
    return NAME_PATTERN.fullmatch(name) is None


_RULE = "names match ^[a-zA-Z0-9_-]{1,64}$"


def _refused_names(doc: Document) -> Iterator[Finding]:
    spec = doc.spec
    for name, tool in spec.tools.items():
        if tool.kind != "mcp" and _refused(name):
            message = f"the Realtime API refuses the tool name '{name}' ({_RULE})"
            yield doc.finding("E701", message, ("tools", name), key=True)
    for agent_id, agent in spec.agents.items():
        generated = handoff_tool_name(agent_id)
        if _refused(generated):
            message = (
                f"agent id '{agent_id}' makes the handoff tool name '{generated}' ({len(generated)} characters), "
                f"which the Realtime API refuses ({_RULE})"
            )
            yield doc.finding("E701", message, ("agents", agent_id), key=True)
        for step_id in agent.states.steps if agent.states else ():
            if _refused(step_id):
                message = f"state name '{step_id}' is not usable in Realtime API names ({_RULE})"
                yield doc.finding("E701", message, ("agents", agent_id, "states", "steps", step_id), key=True)


def _voice_loc(doc: Document, agent_id: str) -> Loc:
    agent = doc.spec.agents[agent_id]
    if agent.voice is not None:
        return ("agents", agent_id, "voice")
    output = agent.session.audio.output if agent.session and agent.session.audio else None
    if output is not None and output.voice is not None:
        return ("agents", agent_id, "session", "audio", "output", "voice")
    return ("agents", agent_id)


def _voices(doc: Document) -> Iterator[Finding]:
    spec = doc.spec
    voices = {a: effective_voice(spec, agent) for a, agent in spec.agents.items()}
    first = spec.start if voices.get(spec.start) else next((a for a, v in voices.items() if v), None)
    if first is None:
        return
    expected = voices[first]
    for agent_id, voice in voices.items():
        if voice is not None and voice != expected:
            message = (
                f"agent '{agent_id}' asks for voice '{voice}' but the session speaks with '{expected}' "
                f"(agent '{first}'); the Realtime API refuses a voice change once audio has been sent"
            )
            loc = _voice_loc(doc, agent_id)
            # Without a voice of its own the agent inherits the graph's: point at the agent's name.
            yield doc.finding("W702", message, loc, key=len(loc) == 2)


def _formats(doc: Document) -> Iterator[Finding]:
    spec = doc.spec
    for direction in ("input", "output"):
        start = spec.agents.get(spec.start)
        expected = (start and _format(start, direction)) or _format(spec, direction) or "pcm16"
        for agent_id, agent in spec.agents.items():
            audio_format = _format(agent, direction)
            if audio_format is not None and audio_format != expected:
                message = (
                    f"agent '{agent_id}' asks for {direction} format '{audio_format}' but the call uses "
                    f"'{expected}' (agent '{spec.start}'); formats are kept across handoffs, so this one is never used"
                )
                loc = ("agents", agent_id, "session", "audio", direction, "format")
                yield doc.finding("W705", message, loc)


def _format(owner: Agent | GraphSpec, direction: str) -> str | None:
    """The audio format an agent's (or the graph's) own session settings ask for in one direction."""
    audio = owner.session.audio if owner.session else None
    settings = getattr(audio, direction, None) if audio else None
    return settings.format if settings is not None else None


# --- model lifecycle (API lints, from the installed openai package) -------------------------------

#: How each kind of model is named in messages.
_KIND_NAMES = {"realtime": "realtime", "live": "GPT-Live", "text": "text", "transcription": "transcription"}


def named_models(doc: Document, api: str | None = None) -> Iterator[tuple[str, str, Loc]]:
    """Every model a graph names: (name, kind, location); a default the author did not write is
    reported at the graph's name. The GPT-Live models count when written or when the graph (or
    `api`) targets GPT-Live."""
    spec = doc.spec
    yield spec.model, "realtime", ("model",) if "model" in spec.model_fields_set else ("graph",)
    if (api or spec.api) == "live" or "live" in spec.model_fields_set:
        live, backend = spec.live, spec.live.backend
        yield live.model, "live", ("live", "model") if "model" in live.model_fields_set else ("graph",)
        written = "backend" in live.model_fields_set and "model" in backend.model_fields_set
        yield backend.model, "text", ("live", "backend", "model") if written else ("graph",)
    sessions: list[tuple[Loc, object]] = [(("session",), spec.session)]
    sessions += [(("agents", a, "session"), agent.session) for a, agent in spec.agents.items()]
    for at, session in sessions:
        audio = getattr(session, "audio", None)
        transcription = audio.input.transcription if audio is not None and audio.input is not None else None
        if transcription is not None:
            written = "model" in transcription.model_fields_set
            loc = (*at, "audio", "input", "transcription", *(("model",) if written else ()))
            yield transcription.model, "transcription", loc
    for name, tool in spec.tools.items():
        if tool.escalate is not None:
            yield tool.escalate.model, "text", ("tools", name, "escalate", "model")
    for name, guardrail in spec.guardrails.items():
        if guardrail.classify is not None and guardrail.classify.via == "responses":
            yield guardrail.classify.model, "text", ("guardrails", name, "classify", "model")


def lint_models(
    doc: Document, *, provider: str | None = None, today: date | None = None, api: str | None = None
) -> list[Finding]:
    """Lifecycle findings for every model the graph names, from the installed openai package.

    E706: shut down (on or before `today`, default today's UTC date), with the date. W707: a shutdown
    is announced, with the date and the days left. W708: a name the package does not list for that
    use (with did-you-mean), or lists only for SDK compatibility. `provider` (default: the graph's
    own) other than `openai` means deployment names or a compatible server: unknown names are not
    reported, and a shutdown on OpenAI's platform is a warning, since a deployment's may differ.
    `api` (default: the graph's) adds the GPT-Live models when it is `live`. Compile and run print
    these once; validate reports them with the other API lints.
    """
    from engine.protocol import lifecycle

    provider = provider or doc.spec.provider
    try:
        version = lifecycle.openai_version()
    except (LookupError, OSError):  # no openai package to ask: nothing to say
        return []
    findings = []
    for name, kind, loc in named_models(doc, api):
        status = lifecycle.model_status(name, kind, today)  # type: ignore[arg-type]
        what = f"{_KIND_NAMES[kind]} model '{name}'"
        better = lifecycle.similar_current(name, kind)  # type: ignore[arg-type]
        instead = f"; a current one is '{better[0]}'" if better else ""
        if status.state == "shut_down":
            code = "E706" if provider == "openai" else "W707"
            message = f"{what} was shut down on {status.shutdown}{instead}"
            message += f" (openai {version}; {lifecycle.DEPRECATIONS_URL})"
            if provider != "openai":
                message += f"; OpenAI's date, a {provider} deployment's may differ"
            findings.append(doc.finding(code, message, loc))
        elif status.state == "deprecated":
            days = f"{status.days_left} day{'s' * (status.days_left != 1)} left"
            message = f"{what} shuts down on {status.shutdown} ({days}){instead} (openai {version})"
            findings.append(doc.finding("W707", message, loc))
        elif provider == "openai" and status.state == "unsupported":
            message = f"{what} is listed only for SDK compatibility, not as a supported model{instead}"
            findings.append(doc.finding("W708", message, loc))
        elif provider == "openai" and status.state == "unknown":
            if status.other_kinds:
                other = " or ".join(_KIND_NAMES[k] for k in status.other_kinds)
                message = f"'{name}' is a {other} model, not a {_KIND_NAMES[kind]} one{instead}"
            else:
                hint = f" (did you mean '{better[0]}'?)" if better else ""
                message = f"unknown {what}{hint}: the openai package ({version}) does not list it"
                message += "; set `provider: azure` or `custom` for deployment names"
            findings.append(doc.finding("W708", message, loc))
    return sorted(dict.fromkeys(findings), key=Finding.sort_key)


def lint_transcription(doc: Document) -> list[Finding]:
    """W709: a transcription setting its model does not take, per the openai types' docstrings
    (keywords and languages: gpt-transcribe and gpt-live-transcribe; delay: gpt-realtime-whisper;
    no prompt with gpt-realtime-whisper). Skipped for deployment names (`provider` other than openai)."""
    from engine.protocol import lifecycle

    if doc.spec.provider != "openai":
        return []
    try:
        support = lifecycle.transcription_support()
    except (LookupError, OSError, StopIteration):
        return []
    spec = doc.spec
    graph_at: Loc = ("session", "audio", "input", "transcription")
    graph_written = _transcription(spec.session)
    findings = []
    for agent_id, agent in spec.agents.items():
        own = _transcription(agent.session)
        if "transcription" in own and own["transcription"] is None:
            continue  # transcription turned off for this agent
        merged = {**graph_written.get("transcription", {}), **(own.get("transcription") or {})}
        if not merged:
            continue
        model = merged.get("model") or "gpt-transcribe"
        for name in sorted(set(merged) & set(support)):
            if merged[name] is None or support[name].allows(model):
                continue
            rule = support[name]
            takes = f"only {', '.join(sorted(rule.only))} take it" if rule.only is not None else "it is refused there"
            whose = "" if name in (own.get("transcription") or {}) else f" (agent '{agent_id}' inherits it)"
            message = f"transcription model '{model}' does not take '{name}' ({takes}){whose}"
            at = ("agents", agent_id, "session", "audio", "input", "transcription") if not whose else graph_at
            findings.append(doc.finding("W709", message, (*at, name), key=True))
    return findings


def _transcription(session: object) -> dict[str, dict | None]:
    """`{"transcription": <what the author wrote>}` of a session's audio input, or {} when not written."""
    audio = getattr(session, "audio", None)
    given = audio.input if audio is not None else None
    if given is None or "transcription" not in given.model_fields_set:
        return {}
    t = given.transcription
    return {"transcription": None if t is None else t.model_dump(exclude_unset=True)}


def lint_api(doc: Document, api: str | None = None) -> list[Finding]:
    """The API lints: model lifecycle, what models take, and (for GPT-Live) what the API cannot do."""
    found = [*lint_models(doc, api=api), *lint_transcription(doc), *lint_sticky_settings(doc), *lint_live(doc, api)]
    return sorted(dict.fromkeys(found), key=Finding.sort_key)


# --- what GPT-Live cannot do (api: live) -----------------------------------------------------------

#: Realtime session settings GPT-Live has no place for, and why.
_NOT_ON_LIVE: dict[tuple[str, ...], str] = {
    ("audio", "input", "turn_detection"): "GPT-Live is full duplex and decides turns itself: no turn detection",
    ("audio", "input", "transcription"): "GPT-Live transcribes on its own: no transcription settings",
    ("audio", "input", "noise_reduction"): "GPT-Live has no noise reduction setting",
    ("audio", "output", "speed"): "GPT-Live has no speech speed setting",
    ("truncation",): "GPT-Live compacts its own context: no truncation",
    ("output_modalities",): "GPT-Live always speaks: no output modalities",
    ("tool_choice",): "tools belong to the backend on GPT-Live: the frontend has no tool_choice",
    ("max_output_tokens",): "GPT-Live has no max_output_tokens for speech (the backend's is `live.backend`)",
    ("reasoning",): "the GPT-Live frontend has no reasoning setting (the backend's is `live.backend.reasoning`)",
    ("parallel_tool_calls",): "GPT-Live has no parallel_tool_calls (the backend's is `live.backend`)",
    ("include",): "GPT-Live has no include",
    ("prompt",): "GPT-Live takes no stored prompt",
    ("tracing",): "GPT-Live has no tracing setting",
    ("extra",): "`extra` is merged into Realtime session.update payloads only",
}


def lint_live(doc: Document, api: str | None = None) -> list[Finding]:
    """What GPT-Live cannot do for this graph, located; only when the graph (or `api`) targets it.

    W710: a Realtime setting GPT-Live has no place for (turn detection, transcription, truncation,
    ...), and per-agent voices (the voice is fixed at start). E712: what Responses delegation cannot
    do: structured output of escalations, guards of enforced state machines (the engine must run them:
    use `delegation: client`). The size of appended rules (E711) is checked with the payloads.
    """
    if (api or doc.spec.api) != "live":
        return []
    spec = doc.spec
    findings = []
    sessions: list[tuple[Loc, object]] = [(("session",), spec.session)]
    sessions += [(("agents", a, "session"), agent.session) for a, agent in spec.agents.items()]
    for at, session in sessions:
        for path, why in _NOT_ON_LIVE.items():
            if _written_at(session, path):
                findings.append(doc.finding("W710", f"{why}; ignored with api: live", (*at, *path), key=True))
    voices = {a: effective_voice(spec, agent) for a, agent in spec.agents.items()}
    first = voices.get(spec.start)
    for agent_id, voice in voices.items():
        if agent_id != spec.start and voice is not None and voice != first:
            message = (
                f"agent '{agent_id}' asks for voice '{voice}', but GPT-Live fixes the voice at start "
                f"('{first or 'marin'}' for the whole call)"
            )
            loc = _voice_loc(doc, agent_id)
            findings.append(doc.finding("W710", message, loc, key=len(loc) == 2))
    if spec.live.delegation == "responses":
        findings += _responses_delegation_limits(doc)
    return sorted(dict.fromkeys(findings), key=Finding.sort_key)


def _written_at(model: object, path: tuple[str, ...]) -> bool:
    """Whether the author wrote the setting at `path` (nested keys) in a session model."""
    node = model
    for key in path:
        if node is None or key not in getattr(node, "model_fields_set", ()):
            return False
        node = getattr(node, key)
    return True


def _responses_delegation_limits(doc: Document) -> Iterator[Finding]:
    spec = doc.spec
    for name, tool in spec.tools.items():
        if tool.escalate is not None and tool.escalate.output != "text":
            message = (
                f"tool '{name}' asks its text model for structured output, which GPT-Live's Responses "
                "delegation cannot do (no text.format); use `live.delegation: client`"
            )
            yield doc.finding("E712", message, ("tools", name, "escalate", "output"), key=True)
    for agent_id, agent in spec.agents.items():
        if agent.states is None or not agent.states.enforce:
            continue
        for step_id, step in agent.states.steps.items():
            for i, transition in enumerate(step.transitions):
                if transition.guard is not None:
                    message = (
                        f"a guard of agent '{agent_id}' is enforced by the engine, which GPT-Live's Responses "
                        "delegation leaves out (OpenAI runs the backend); use `live.delegation: client`"
                    )
                    loc = ("agents", agent_id, "states", "steps", step_id, "transitions", i, "guard")
                    yield doc.finding("E712", message, loc)


#: Realtime settings with no documented default to undo them with at a handoff.
_STICKY = ("reasoning", "parallel_tool_calls")


def lint_sticky_settings(doc: Document) -> list[Finding]:
    """W713: `reasoning` or `parallel_tool_calls` set on some agents only (and not on the graph's
    session): an agent that sets none keeps the previous agent's after a handoff, so what it runs
    with depends on the path the call took. Not for GPT-Live, where they are the backend's."""
    spec = doc.spec
    if spec.api == "live":
        return []
    findings = []
    for name in _STICKY:
        if name in spec.session.model_fields_set:
            continue
        setters = [a for a, agent in spec.agents.items() if agent.session and name in agent.session.model_fields_set]
        if not setters:
            continue
        for agent_id in spec.agents:
            if agent_id in setters:
                continue
            message = (
                f"agent '{agent_id}' sets no {name}, so after a handoff it keeps the one of "
                f"'{setters[0]}'{' and others' if len(setters) > 1 else ''}; set {name} on the graph's session "
                "or on every agent"
            )
            findings.append(doc.finding("W713", message, ("agents", agent_id), key=True))
    return findings
