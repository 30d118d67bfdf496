"""The instructions of an agent: its Jinja2 template rendered over the context, plus its states.

A state machine that is not enforced becomes a readable plan appended to the prompt (the model
follows it on its own). An enforced one shows only the current state and tells the model to call
the transition tool; the engine tracks the state and checks guards.

Step texts (description, instructions, examples, `when`) are Jinja2 templates too, rendered over
the same variables as the agent's instructions.
"""

from __future__ import annotations

from typing import Any

from engine.spec import Document, Step, Transition, handoff_tool_name
from engine.spec.files import FileRefused, read_confined

from .common import CompileError, get_agent, resolve_state
from .templates import render
from .tools import TRANSITION_TOOL


def template_variables(doc: Document, agent_id: str, context: dict[str, Any] | None = None) -> dict[str, Any]:
    """What an agent's templates see: context keys at top level, `context`, `agent` and `graph`."""
    context = doc.spec.context if context is None else context
    return {**context, "context": context, "agent": agent_id, "graph": doc.spec.graph}


def instructions_source(doc: Document, agent_id: str) -> tuple[str, str]:
    """The agent's instructions template and a name for it in errors (its file, or where it sits inline)."""
    agent = get_agent(doc, agent_id)
    if agent.instructions_file is not None:
        try:
            return read_confined(doc.dir, agent.instructions_file, doc.root), agent.instructions_file
        except FileRefused as exc:
            raise CompileError(f"agent '{agent_id}': instructions file {exc}") from None
    return agent.instructions or "", f"agents.{agent_id}.instructions"


def compile_instructions(
    doc: Document,
    agent_id: str,
    *,
    state: str | None = None,
    context: dict[str, Any] | None = None,
    source: tuple[str, str] | None = None,
) -> str:
    """The rendered instructions of an agent (and, with enforced states, of one state; default the initial).

    `source` is the template and its name when already read (`instructions_source`).
    """
    agent = get_agent(doc, agent_id)
    state = resolve_state(doc, agent_id, state)
    variables = template_variables(doc, agent_id, context)
    source, name = source or instructions_source(doc, agent_id)
    parts = [render(source, variables, name=name).strip("\n")]
    if agent.states is not None:
        r = _Renderer(agent_id, variables)
        parts.append(_state_section(doc, agent_id, state, r) if state is not None else _state_plan(doc, agent_id, r))
    text = "\n\n".join(p for p in parts if p)
    return f"{text}\n" if text else ""


class _Renderer:
    """Renders step texts, naming each one so an error points at it."""

    def __init__(self, agent_id: str, variables: dict[str, Any]) -> None:
        self.agent_id, self.variables = agent_id, variables

    def __call__(self, text: str, where: str) -> str:
        return render(text, self.variables, name=f"agents.{self.agent_id}.states.steps.{where}").strip()


def _state_plan(doc: Document, agent_id: str, r: _Renderer) -> str:
    """The Markdown plan of a state machine the model follows by itself."""
    machine = get_agent(doc, agent_id).states
    assert machine is not None
    lines = [
        "# Conversation states",
        "",
        f"Guide the conversation through these states, starting with `{machine.initial}`. In each state, "
        "follow its instructions. Move to another state only when the condition of one of the current "
        "state's transitions holds. Never mention the states to the user.",
    ]
    for state_id, step in machine.steps.items():
        start = " (start here)" if state_id == machine.initial else ""
        lines += ["", f"## State `{state_id}`{start}", *_step_body(state_id, step, r, enforced=False)]
    return "\n".join(lines)


def _state_section(doc: Document, agent_id: str, state: str, r: _Renderer) -> str:
    """The current enforced state: its instructions, its transitions and how to take them."""
    machine = get_agent(doc, agent_id).states
    assert machine is not None
    step = machine.steps[state]
    lines = [f"# Current state: `{state}`", *_step_body(state, step, r, enforced=True), ""]
    if step.transitions:
        lines.append(
            f"To leave this state, call the `{TRANSITION_TOOL}` tool with `to` set to a transition's target "
            "as soon as its condition holds, and only then. Never mention the states to the user."
        )
    else:
        lines.append("This state has no transitions: stay in it. Never mention the states to the user.")
    return "\n".join(lines)


def _step_body(state_id: str, step: Step, r: _Renderer, *, enforced: bool) -> list[str]:
    lines: list[str] = []
    if step.description:
        lines += ["", r(step.description, f"{state_id}.description")]
    if step.instructions:
        lines += ["", "Instructions:"]
        lines += [f"- {r(text, f'{state_id}.instructions[{i}]')}" for i, text in enumerate(step.instructions)]
    if step.examples:
        lines += ["", "Examples of what to say:"]
        lines += [f"- {r(text, f'{state_id}.examples[{i}]')}" for i, text in enumerate(step.examples)]
    if step.transitions:
        lines += ["", "Transitions:"]
        lines += [
            _transition(t, r(t.when, f"{state_id}.transitions[{i}].when"), enforced=enforced)
            for i, t in enumerate(step.transitions)
        ]
    return lines


def _transition(t: Transition, when: str, *, enforced: bool) -> str:
    if t.handoff is not None and enforced:
        # Enforced handoffs go through the transition tool, where the engine checks the guard.
        return f"- -> `{t.to}` (hand off to the `{t.handoff}` agent) when {when}"
    if t.handoff is not None:
        return f"- -> hand off to the `{t.handoff}` agent (`{handoff_tool_name(t.handoff)}`) when {when}"
    return f"- -> `{t.to}` when {when}"
