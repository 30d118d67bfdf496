"""The reference layer: every name a graph mentions must exist, every JSON Schema must be valid.

Runs on a schema-valid `Document`; each finding points at the YAML node that holds the bad name.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from .document import Document, Loc
from .files import FileRefused, read_confined
from .findings import Finding, did_you_mean
from .jsonschemas import first_error, schema_problem
from .loader import display_path
from .models import Escalation
from .script import Call, Expect, Handoff, Script, SupervisorCall, ToolExpectation, Transition


def check_references(doc: Document) -> list[Finding]:
    return [
        *_agents(doc),
        *_tools(doc),
        *_schemas(doc),
        *(check_script(doc, doc.spec.demo, ("demo",)) if doc.spec.demo else ()),
        *(f for i, test in enumerate(doc.spec.tests) for f in check_script(doc, test, ("tests", i))),
    ]


def _unknown(doc: Document, code: str, what: str, name: str, known: Any, loc: Loc) -> Finding:
    return doc.finding(code, f"unknown {what} '{name}'{did_you_mean(name, known)}", loc)


def _instructions_file(doc: Document, relative: str | None, loc: Loc) -> Iterator[Finding]:
    """E305 when an instructions file is missing or no UTF-8 text; E106 when it is refused (outside, special, big)."""
    if relative is None:
        return
    try:
        read_confined(doc.dir, relative, doc.root)
    except FileRefused as exc:
        if exc.unreadable and "not found" in str(exc):
            where = f"relative to {display_path(doc.dir)}/"
            yield doc.finding("E305", f"instructions file not found: '{relative}' ({where})", loc)
        elif exc.unreadable:
            yield doc.finding("E305", f"instructions file {exc}", loc)
        else:
            yield doc.finding("E106", f"instructions file {exc}", loc)


def _agents(doc: Document) -> Iterator[Finding]:
    spec = doc.spec
    agents, tools, guardrails = spec.agents, spec.tools, spec.guardrails
    if spec.start not in agents:
        yield _unknown(doc, "E301", "start agent", spec.start, agents, ("start",))
    for agent_id, agent in agents.items():
        at: Loc = ("agents", agent_id)
        for i, name in enumerate(agent.tools):
            if name not in tools:
                yield _unknown(doc, "E302", "tool", name, tools, (*at, "tools", i))
        for i, handoff in enumerate(agent.handoffs):
            target = handoff if isinstance(handoff, str) else handoff.agent
            loc = (*at, "handoffs", i) if isinstance(handoff, str) else (*at, "handoffs", i, "agent")
            if target not in agents:
                yield _unknown(doc, "E301", "agent", target, agents, loc)
        for i, name in enumerate(agent.guardrails or ()):
            if name not in guardrails:
                yield _unknown(doc, "E304", "guardrail", name, guardrails, (*at, "guardrails", i))
        yield from _instructions_file(doc, agent.instructions_file, (*at, "instructions_file"))
        if agent.states:
            yield from _states(doc, agent_id)


def _states(doc: Document, agent_id: str) -> Iterator[Finding]:
    machine = doc.spec.agents[agent_id].states
    assert machine is not None
    at: Loc = ("agents", agent_id, "states")
    if machine.initial not in machine.steps:
        yield _unknown(doc, "E303", "state", machine.initial, machine.steps, (*at, "initial"))
    for step_id, step in machine.steps.items():
        for i, name in enumerate(step.tools):
            if name not in doc.spec.tools:
                yield _unknown(doc, "E302", "tool", name, doc.spec.tools, (*at, "steps", step_id, "tools", i))
        for i, transition in enumerate(step.transitions):
            loc = (*at, "steps", step_id, "transitions", i, "to")
            if transition.handoff is not None:
                if transition.handoff not in doc.spec.agents:
                    yield _unknown(doc, "E301", "agent", transition.handoff, doc.spec.agents, loc)
            elif transition.to not in machine.steps:
                known = [*machine.steps, *(f"handoff:{a}" for a in doc.spec.agents)]
                yield _unknown(doc, "E303", "state", transition.to, known, loc)


def _tools(doc: Document) -> Iterator[Finding]:
    for name, tool in doc.spec.tools.items():
        esc = tool.escalate
        if esc is None:
            continue
        at: Loc = ("tools", name, "escalate")
        for i, used in enumerate(esc.tools):
            if used not in doc.spec.tools:
                yield _unknown(doc, "E302", "tool", used, doc.spec.tools, (*at, "tools", i))
            elif used == name:
                yield doc.finding("E302", f"escalation '{name}' cannot call itself", (*at, "tools", i))
        yield from _instructions_file(doc, esc.instructions_file, (*at, "instructions_file"))


def _schemas(doc: Document) -> Iterator[Finding]:
    for name, tool in doc.spec.tools.items():
        at: Loc = ("tools", name, "parameters")
        problem = schema_problem(tool.parameters)
        if problem:
            message, inner, key = problem
            yield doc.finding("E501", f"tool '{name}' parameters: {message}", (*at, *inner), key=key)
        elif tool.parameters.get("type") != "object":
            yield doc.finding("E501", f"tool '{name}' parameters must be a JSON Schema of type 'object'", at)
        if isinstance(tool.escalate, Escalation) and isinstance(tool.escalate.output, dict):
            problem = schema_problem(tool.escalate.output)
            if problem:
                message, inner, key = problem
                out: Loc = ("tools", name, "escalate", "output", *inner)
                yield doc.finding("E501", f"tool '{name}' escalation output: {message}", out, key=key)


def _args_problem(doc: Document, tool: str, args: dict[str, Any]) -> str | None:
    spec = doc.spec.tools.get(tool)
    if spec is None or schema_problem(spec.parameters):
        return None
    error = first_error(spec.parameters, args)
    return None if error is None else f"arguments for '{tool}' do not match its schema: {error.message}"


def check_script(doc: Document, script: Script, at: Loc) -> Iterator[Finding]:
    """References in a scripted conversation: tools, agents, and arguments against schemas."""
    agents, tools = doc.spec.agents, doc.spec.tools
    if script.agent and script.agent not in agents:
        yield _unknown(doc, "E301", "agent", script.agent, agents, (*at, "agent"))
    states = {s for a in agents.values() if a.states for s in a.states.steps}
    if script.state:
        yield from _start_state(doc, script.agent or doc.spec.start, script.state, (*at, "state"))
    for t, turn in enumerate(script.turns):
        if turn.expect is not None:
            yield from _expectations(doc, turn.expect, (*at, "turns", t, "expect"), states)
        for a, action in enumerate(turn.model):
            loc: Loc = (*at, "turns", t, "model", a)
            if isinstance(action, Handoff) and action.handoff not in agents:
                yield _unknown(doc, "E301", "agent", action.handoff, agents, (*loc, "handoff"))
            if isinstance(action, Transition):
                yield from _move_target(doc, action.transition, states, (*loc, "transition"))
            if not isinstance(action, Call):
                continue
            if action.call not in tools:
                yield _unknown(doc, "E302", "tool", action.call, tools, (*loc, "call"))
            elif problem := _args_problem(doc, action.call, action.args):
                yield doc.finding("E502", problem, (*loc, "args"))
            for s, step in enumerate(action.supervisor or ()):
                if not isinstance(step, SupervisorCall):
                    continue
                step_loc: Loc = (*loc, "supervisor", s)
                if step.call not in tools:
                    yield _unknown(doc, "E302", "tool", step.call, tools, (*step_loc, "call"))
                elif problem := _args_problem(doc, step.call, step.args):
                    yield doc.finding("E502", problem, (*step_loc, "args"))


def _expectations(doc: Document, expect: Expect, at: Loc, states: set[str]) -> Iterator[Finding]:
    agents, tools, guardrails = doc.spec.agents, doc.spec.tools, doc.spec.guardrails
    if expect.agent and expect.agent not in agents:
        yield _unknown(doc, "E301", "agent", expect.agent, agents, (*at, "agent"))
    if expect.state and expect.state not in states:
        yield _unknown(doc, "E303", "state", expect.state, states, (*at, "state"))
    yield from _expected_tools(doc, expect.tools or (), (*at, "tools"))
    if expect.refused:
        yield from _move_target(doc, expect.refused, states, (*at, "refused"))
    if expect.approval and expect.approval not in tools:
        yield _unknown(doc, "E302", "tool", expect.approval, tools, (*at, "approval"))
    if expect.guardrail and expect.guardrail.split(":")[0] not in guardrails:
        yield _unknown(doc, "E304", "guardrail", expect.guardrail.split(":")[0], guardrails, (*at, "guardrail"))


def _start_state(doc: Document, agent_id: str, state: str, loc: Loc) -> Iterator[Finding]:
    """A test or demo starts in a state of its starting agent's enforced state machine."""
    agent = doc.spec.agents.get(agent_id)
    if agent is None:
        return  # reported as an unknown agent
    if agent.states is None or not agent.states.enforce:
        yield doc.finding("E303", f"agent '{agent_id}' has no enforced state machine to start in state '{state}'", loc)
    elif state not in agent.states.steps:
        yield _unknown(doc, "E303", f"state of agent '{agent_id}'", state, agent.states.steps, loc)


def _move_target(doc: Document, target: str, states: set[str], loc: Loc) -> Iterator[Finding]:
    """A transition's target: a state, or `handoff:<agent>`."""
    if target.startswith("handoff:"):
        agent = target.removeprefix("handoff:")
        if agent not in doc.spec.agents:
            yield _unknown(doc, "E301", "agent", agent, doc.spec.agents, loc)
    elif target not in states:
        yield _unknown(doc, "E303", "state", target, states, loc)


def _expected_tools(doc: Document, expected: Iterable[str | ToolExpectation], at: Loc) -> Iterator[Finding]:
    """Tool names in `tools:` expectations, and in the escalation `calls:` nested in them."""
    for i, tool in enumerate(expected):
        if isinstance(tool, str):
            if tool not in doc.spec.tools:
                yield _unknown(doc, "E302", "tool", tool, doc.spec.tools, (*at, i))
            continue
        if tool.name not in doc.spec.tools:
            yield _unknown(doc, "E302", "tool", tool.name, doc.spec.tools, (*at, i, "name"))
        yield from _expected_tools(doc, tool.calls or (), (*at, i, "calls"))
