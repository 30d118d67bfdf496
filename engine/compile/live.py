"""The GPT-Live payloads of a graph (`api: live`): one `session.start`, then per-agent backend settings.

GPT-Live fixes the model, the frontend instructions, the voice and the audio format at start, so a
graph compiles to:
- `session.start`: the live model, a frontend persona built from the graph (or `live.instructions`),
  the call's voice and audio format, the delegation, and the start agent's rules as the first
  developer message of `input`;
- per agent (and enforced state) backend settings in the shape of the Responses delegation config
  (`model`, `instructions`, `tools`, ...): with client delegation the engine runs them itself; with
  Responses delegation they go out in a `session.update` at every handoff;
- at a handoff, `session.instructions.append` with the new agent's rules (the frontend's part: who
  it speaks for now and what to say), each at most 500 tokens.

Compiling is pure and deterministic, like the Realtime compile.
"""

from __future__ import annotations

import math
from typing import Any

from engine.spec import Document, Finding

from .common import CompileError, get_agent, plain, resolve_state
from .prompts import compile_instructions, template_variables
from .session import compile_all, compile_session
from .templates import TemplateRenderError, render
from .tools import compile_tools

#: Spec audio format names -> GPT-Live WebSocket format objects (G.711 at 8 kHz).
LIVE_AUDIO_FORMATS: dict[str, dict[str, Any]] = {
    "pcm16": {"type": "audio/pcm", "rate": 24000},
    "g711_ulaw": {"type": "audio/pcmu", "rate": 8000},
    "g711_alaw": {"type": "audio/pcma", "rate": 8000},
}
#: The limit GPT-Live puts on each appended text (instructions, thinking, commentary).
APPEND_TOKEN_LIMIT = 500

_PERSONA = (
    "# Role\n"
    "You are the voice of {title}. You talk with the caller; a backend team does the work and tells you "
    "what to say. {description}\n"
    "\n"
    "# Delegating\n"
    "Delegate every request that needs an account, a lookup, a policy, a decision or an action. Speak the "
    "backend's commentary naturally and in your own words; never invent results, prices or policies. While "
    "you wait, keep the caller company briefly. Developer rules appended during the call say which "
    "specialist you speak for now: follow the latest.\n"
    "\n"
    "# The team\n"
    "{team}\n"
)


def estimate_tokens(text: str) -> int:
    """A conservative token count for limits (about four characters per token, rounded up)."""
    return math.ceil(len(text) / 4)


def frontend_instructions(doc: Document, *, context: dict[str, Any] | None = None) -> str:
    """The fixed frontend persona: `live.instructions` rendered over the context, or one built from the graph."""
    spec = doc.spec
    if spec.live.instructions is not None:
        variables = template_variables(doc, spec.start, context)
        return render(spec.live.instructions, variables, name="live.instructions").strip() + "\n"
    team = "\n".join(
        f"- {agent_id}: {agent.description}" if agent.description else f"- {agent_id}"
        for agent_id, agent in spec.agents.items()
    )
    description = " ".join(spec.description.split())
    return _PERSONA.format(title=spec.graph, description=description, team=team).replace(" \n", "\n")


def live_rules(doc: Document, agent_id: str, *, state: str | None = None, context: dict[str, Any] | None = None) -> str:
    """The rules appended for an agent (at `state`): who the frontend speaks for and what to say.

    Raises `CompileError` for an unknown agent or state, `TemplateRenderError` for a failing template.
    """
    agent = get_agent(doc, agent_id)
    state = resolve_state(doc, agent_id, state)
    variables = template_variables(doc, agent_id, context)
    lines = [f"You now speak for the {agent_id} specialist." + (f" {agent.description}" if agent.description else "")]
    if state is not None and agent.states is not None:
        step = agent.states.steps[state]
        where = f"agents.{agent_id}.states.steps.{state}"
        if step.description:
            lines.append(f"Current step: {render(step.description, variables, name=f'{where}.description').strip()}")
        for i, text in enumerate(step.instructions):
            lines.append(f"- {render(text, variables, name=f'{where}.instructions[{i}]').strip()}")
        for i, text in enumerate(step.examples):
            lines.append(f'- You might say: "{render(text, variables, name=f"{where}.examples[{i}]").strip()}"')
    return "\n".join(lines)


def compile_live_backend(
    doc: Document, agent_id: str, state: str | None = None, *, context: dict[str, Any] | None = None
) -> dict[str, Any]:
    """An agent's backend settings (at `state`, default its initial one), shaped as GPT-Live's
    Responses delegation config: the backend model, the agent's instructions and tools (handoff and
    transition tools included), the graph's backend options.

    With client delegation the engine runs these itself; with Responses delegation they are sent
    (see `compile_live_handoff`). Raises `CompileError` or `TemplateRenderError`.
    """
    backend = doc.spec.live.backend
    state = resolve_state(doc, agent_id, state)
    out: dict[str, Any] = {
        "model": backend.model,
        "instructions": compile_instructions(doc, agent_id, state=state, context=context),
        "tools": compile_tools(doc, agent_id, state=state),
    }
    if backend.reasoning is not None:
        out["reasoning"] = backend.reasoning.model_dump(exclude_none=True)
    if backend.verbosity is not None:
        out["text"] = {"verbosity": backend.verbosity}
    if backend.max_output_tokens is not None:
        out["max_output_tokens"] = backend.max_output_tokens
    if backend.parallel_tool_calls is not None:
        out["parallel_tool_calls"] = backend.parallel_tool_calls
    return out


def compile_live_start(
    doc: Document, *, context: dict[str, Any] | None = None, negotiated_audio: bool = False
) -> dict[str, Any]:
    """The `session.start` client event of a graph on GPT-Live.

    With `negotiated_audio` (WebRTC, SIP) the audio format is left to the transport.
    Raises `CompileError` or `TemplateRenderError`.
    """
    from engine.graph import effective_voice

    spec = doc.spec
    start = get_agent(doc, spec.start)
    session: dict[str, Any] = {"model": spec.live.model, "instructions": frontend_instructions(doc, context=context)}
    audio: dict[str, Any] = {}
    fmt = _start_format(doc)
    if not negotiated_audio:
        audio["format"] = dict(LIVE_AUDIO_FORMATS[fmt])
    voice = effective_voice(spec, start)
    if voice is not None:
        audio["output"] = {"voice": voice}
    if audio:
        session["audio"] = audio
    session["delegation"] = _delegation(doc, context)
    rules = live_rules(doc, spec.start, context=context)
    session["input"] = [{"type": "message", "role": "developer", "content": [{"type": "input_text", "text": rules}]}]
    if spec.live.store is not None:
        session["store"] = spec.live.store
    return {"type": "session.start", "session": session}


def compile_live_handoff(
    doc: Document, agent_id: str, state: str | None = None, *, context: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The client events that move a GPT-Live call to `agent_id` (at `state`): the new rules appended,
    and with Responses delegation a `session.update` of the backend. Raises `CompileError`."""
    events: list[dict[str, Any]] = [
        {
            "type": "session.instructions.append",
            "content": live_rules(doc, agent_id, state=state, context=context),
            "delegation_id": None,
        }
    ]
    if doc.spec.live.delegation == "responses":
        backend = compile_live_backend(doc, agent_id, state, context=context)
        delegation = {"type": "responses", "responses": backend}
        events.append({"type": "session.update", "session": {"delegation": delegation}})
    return events


def compile_live_all(doc: Document) -> dict[str, Any]:
    """`session.start` and every agent's (and enforced state's) backend settings, keyed like `compile_all`."""
    out: dict[str, Any] = {"session.start": compile_live_start(doc)}
    for agent_id, agent in doc.spec.agents.items():
        out[agent_id] = compile_live_backend(doc, agent_id)
        if agent.states is not None and agent.states.enforce:
            for state in agent.states.steps:
                out[f"{agent_id}/{state}"] = compile_live_backend(doc, agent_id, state)
    return out


def compile_for_api(
    doc: Document,
    api: str | None = None,
    *,
    agent: str | None = None,
    state: str | None = None,
    all: bool = False,
) -> dict[str, Any]:
    """What `engine compile` prints for `api` (default: the graph's own `api`).

    Realtime: an agent's `session.update` (default the start agent), or with `all` every agent's and
    state's. GPT-Live: the `session.start` event, an agent's backend settings when `agent` is given,
    or with `all` both (`compile_live_all`). Raises `CompileError` for an unknown API, agent or state.
    """
    api = api or doc.spec.api
    if api == "realtime":
        return compile_all(doc) if all else compile_session(doc, agent or doc.spec.start, state=state)
    if api == "live":
        if all:
            return compile_live_all(doc)
        if agent is None and state is None:
            return compile_live_start(doc)
        return compile_live_backend(doc, agent or doc.spec.start, state)
    raise CompileError(f"unknown API '{api}' (expected realtime or live)")


def _delegation(doc: Document, context: dict[str, Any] | None) -> dict[str, Any]:
    live = doc.spec.live
    out: dict[str, Any] = {"type": live.delegation}
    if live.delegation == "responses":
        out["responses"] = compile_live_backend(doc, doc.spec.start, context=context)
    if live.acknowledgement_delay_ms is not None:
        out["acknowledgement_delay_ms"] = live.acknowledgement_delay_ms
    return plain(out)


def _start_format(doc: Document) -> str:
    """The call's one audio format: the start agent's, else the graph's (input, then output), else pcm16."""
    spec = doc.spec
    for owner in (spec.agents[spec.start], spec):
        audio = owner.session.audio if owner.session is not None else None
        for side in (audio.input, audio.output) if audio is not None else ():
            if side is not None and side.format is not None:
                return side.format
    return "pcm16"


#: GPT-Live's limit on client-supplied frontend instructions.
INSTRUCTIONS_TOKEN_LIMIT = 16384


def live_findings(doc: Document) -> list[Finding]:
    """E711: appended rules over GPT-Live's 500-token limit per append (per agent and enforced state),
    and frontend instructions over its 16,384 tokens. Token counts are estimates (four characters a
    token). Templates that fail to render are the payload check's to report, not repeated here."""
    findings: list[Finding] = []
    for agent_id, agent in doc.spec.agents.items():
        states = list(agent.states.steps) if agent.states is not None and agent.states.enforce else [None]
        for state in states:
            try:
                rules = live_rules(doc, agent_id, state=state)
            except (CompileError, TemplateRenderError):
                break
            tokens = estimate_tokens(rules)
            if tokens > APPEND_TOKEN_LIMIT:
                where = f"agent '{agent_id}'" + (f" in state '{state}'" if state else "")
                message = (
                    f"the rules appended for {where} are about {tokens} tokens; GPT-Live refuses an append over "
                    f"{APPEND_TOKEN_LIMIT} (shorten the description, or the state's instructions and examples)"
                )
                loc = ("agents", agent_id, *(("states", "steps", state) if state else ()))
                findings.append(doc.finding("E711", message, loc, key=True))
    try:
        persona = frontend_instructions(doc)
    except TemplateRenderError as exc:
        return [*findings, doc.finding("E404", f"template fails when rendered: {exc}", ("live", "instructions"))]
    if estimate_tokens(persona) > INSTRUCTIONS_TOKEN_LIMIT:
        loc = ("live", "instructions") if doc.spec.live.instructions is not None else ("agents",)
        tokens = estimate_tokens(persona)
        message = f"the GPT-Live frontend instructions are about {tokens} tokens (limit {INSTRUCTIONS_TOKEN_LIMIT})"
        findings.append(doc.finding("E711", message, loc, key=True))
    return findings


def live_api_findings(doc: Document) -> list[Finding]:
    """Everything validate adds when a graph targets GPT-Live, for a graph that does not say so
    (`--api live` on a Realtime graph): what GPT-Live cannot do (W710, E712), the GPT-Live models'
    lifecycle, the size of appended rules (E711). Sorted, without duplicates."""
    from engine.graph import lint_live, lint_models

    live_models = [f for f in lint_models(doc, api="live") if f not in lint_models(doc, api="realtime")]
    found = [*lint_live(doc, "live"), *live_models, *live_findings(doc)]
    return sorted(dict.fromkeys(found), key=Finding.sort_key)
