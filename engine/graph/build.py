"""Building the networkx graph of a document: agents, their state machines and escalation models.

Node ids: the agent id for agents, `agent/state` for states, `model:<name>` for the text models
escalation tools call. Every node and edge keeps `loc`, the YAML location it came from, so tools
can point back at the file. Names that reference nothing (the reference layer reports those) are
skipped, never guessed. Insertion order follows the file, so everything drawn from the graph is
deterministic. networkx is imported when a graph is built, not with this module: validation (whose
lints read the spec directly) never needs it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.spec import Agent, Document, GraphSpec

if TYPE_CHECKING:
    import networkx as nx

MODEL_PREFIX = "model:"


def state_id(agent_id: str, state: str) -> str:
    return f"{agent_id}/{state}"


def model_id(model: str) -> str:
    return f"{MODEL_PREFIX}{model}"


def effective_voice(spec: GraphSpec, agent: Agent) -> str | None:
    """The voice an agent asks for: its own, its session's, or the graph's default session voice."""
    if agent.voice is not None:
        return agent.voice
    for session in (agent.session, spec.session):
        output = session.audio.output if session and session.audio else None
        if output is not None and output.voice is not None:
            return output.voice
    return None


def build_graph(doc: Document) -> nx.DiGraph:
    import networkx as nx  # here, not at the top: `engine validate` never builds the graph and starts faster

    spec = doc.spec
    g = nx.DiGraph(name=spec.graph, description=spec.description, start=spec.start)
    for agent_id, agent in spec.agents.items():
        g.add_node(
            agent_id,
            kind="agent",
            start=agent_id == spec.start,
            description=agent.description,
            tools=list(agent.tools),
            voice=effective_voice(spec, agent),
            loc=("agents", agent_id),
        )
    for agent_id, agent in spec.agents.items():
        _add_handoffs(g, spec, agent_id, agent)
        _add_escalations(g, spec, agent_id, agent)
        if agent.states is not None:
            _add_states(g, spec, agent_id, agent)
    return g


def _add_handoffs(g: nx.DiGraph, spec: GraphSpec, agent_id: str, agent: Agent) -> None:
    machine = agent.states if agent.states is not None and agent.states.enforce else None
    # An enforced machine that routes to a target offers no handoff tool for it: only its (guarded) transitions.
    routed = {t.handoff for step in machine.steps.values() for t in step.transitions} if machine else set()
    for i, handoff in enumerate(agent.handoffs):
        target = handoff if isinstance(handoff, str) else handoff.agent
        if target not in spec.agents or g.has_edge(agent_id, target):
            continue
        override = None if isinstance(handoff, str) else handoff.description
        g.add_edge(
            agent_id,
            target,
            kind="handoff",
            description=override if override is not None else spec.agents[target].description,
            via_states=target in routed,
            loc=("agents", agent_id, "handoffs", i) + (() if isinstance(handoff, str) else ("agent",)),
        )


def _agent_tools(agent: Agent) -> list[str]:
    """Every tool an agent may offer, in any of its states, in file order without repeats."""
    names = list(agent.tools)
    for step in agent.states.steps.values() if agent.states else ():
        names += step.tools
    return list(dict.fromkeys(names))


def _add_escalations(g: nx.DiGraph, spec: GraphSpec, agent_id: str, agent: Agent) -> None:
    for name in _agent_tools(agent):
        tool = spec.tools.get(name)
        if tool is None or tool.escalate is None:
            continue
        node = model_id(tool.escalate.model)
        if node not in g:
            g.add_node(node, kind="model", model=tool.escalate.model, loc=("tools", name, "escalate", "model"))
        if g.has_edge(agent_id, node):
            # A DiGraph holds one edge per pair: several tools escalating to one model share it.
            g.edges[agent_id, node]["tools"].append(name)
        else:
            g.add_edge(agent_id, node, kind="escalation", tool=name, tools=[name], loc=("tools", name, "escalate"))


def _add_states(g: nx.DiGraph, spec: GraphSpec, agent_id: str, agent: Agent) -> None:
    machine = agent.states
    assert machine is not None
    at = ("agents", agent_id, "states", "steps")
    for name, step in machine.steps.items():
        g.add_node(
            state_id(agent_id, name),
            kind="state",
            parent=agent_id,
            name=name,
            initial=name == machine.initial,
            description=step.description,
            tools=list(step.tools),
            loc=(*at, name),
        )
    if machine.initial in machine.steps:
        g.add_edge(
            agent_id, state_id(agent_id, machine.initial), kind="initial", loc=("agents", agent_id, "states", "initial")
        )
    for name, step in machine.steps.items():
        source = state_id(agent_id, name)
        for i, transition in enumerate(step.transitions):
            loc = (*at, name, "transitions", i)
            attrs: dict[str, Any] = {"when": transition.when, "guard": transition.guard, "loc": loc}
            if transition.handoff is not None:
                target, kind = transition.handoff, "handoff"
                if target not in spec.agents:
                    continue
            else:
                target, kind = state_id(agent_id, transition.to), "transition"
                if transition.to not in machine.steps:
                    continue
            if g.has_edge(source, target):
                # Two transitions between the same pair: keep the first, list every alternative.
                g.edges[source, target]["alternatives"].append(attrs)
                continue
            g.add_edge(source, target, kind=kind, **attrs, alternatives=[dict(attrs)])
