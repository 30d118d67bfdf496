"""What every compile module shares: the error type and looking up agents and states."""

from __future__ import annotations

from typing import Any

from engine.errors import CompileError as CompileError  # defined with every engine error; imported from here too
from engine.spec import Agent, Document, did_you_mean


def get_agent(doc: Document, agent_id: str) -> Agent:
    try:
        return doc.spec.agents[agent_id]
    except KeyError:
        hint = did_you_mean(agent_id, doc.spec.agents)
        raise CompileError(f"unknown agent '{agent_id}'{hint}") from None


def resolve_state(doc: Document, agent_id: str, state: str | None) -> str | None:
    """The enforced state to compile: `state`, else the initial one; None when states are not enforced."""
    machine = get_agent(doc, agent_id).states
    if machine is None or not machine.enforce:
        if state is not None:
            raise CompileError(f"agent '{agent_id}' has no enforced states; cannot compile state '{state}'")
        return None
    state = machine.initial if state is None else state
    if state not in machine.steps:
        hint = did_you_mean(state, machine.steps)
        raise CompileError(f"agent '{agent_id}' has no state '{state}'{hint}")
    return state


def plain(value: Any) -> Any:
    """A deep copy as plain dicts and lists, so payloads never share or expose the spec's objects."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value
