"""Graph coverage: which agents, handoff edges, states, transitions and tools the tests exercised."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..runtime import events as ev
from ..spec import Document
from ..spec.document import Loc
from ..spec.script import Script
from .record import TurnRecord


@dataclass(slots=True)
class Coverage:
    doc: Document
    #: category -> {item: YAML location}; items are agent ids, `a → b`, `agent/state`, `agent/s → t`, tool names.
    items: dict[str, dict[str, Loc]] = field(default_factory=dict)
    hit: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, doc: Document) -> Coverage:
        cov = cls(doc)
        spec = doc.spec
        agents, edges, states, transitions, tools = {}, {}, {}, {}, {}
        for agent_id, agent in spec.agents.items():
            agents[agent_id] = ("agents", agent_id)
            for i, handoff in enumerate(agent.handoff_targets()):
                edges[f"{agent_id} → {handoff.agent}"] = ("agents", agent_id, "handoffs", i)
            for tool in agent.tools:
                tools.setdefault(tool, ("tools", tool))
            for step_id, step in (agent.states.steps if agent.states else {}).items():
                at: Loc = ("agents", agent_id, "states", "steps", step_id)
                states[f"{agent_id}/{step_id}"] = at
                for tool in step.tools:
                    tools.setdefault(tool, ("tools", tool))
                for i, transition in enumerate(step.transitions):
                    transitions[f"{agent_id}/{step_id} → {transition.to}"] = (*at, "transitions", i)
        for tool in spec.tools.values():
            for used in tool.escalate.tools if tool.escalate else ():
                tools.setdefault(used, ("tools", used))
        cov.items = {"agents": agents, "handoffs": edges, "states": states, "transitions": transitions, "tools": tools}
        cov.hit = {category: set() for category in cov.items}
        return cov

    def record_run(self, script: Script, turns: Iterable[TurnRecord]) -> None:
        """Mark what a test's run exercised, from where it started (its agent and, when enforced, state)."""
        agent = script.agent or self.doc.spec.start
        machine = self.doc.spec.agents[agent].states
        state = script.state or (machine.initial if machine and machine.enforce else None)
        self.record((e for turn in turns for e in turn.events), agent, state)

    def record(self, events: Iterable[ev.SessionEvent], start_agent: str, start_state: str | None) -> None:
        self._mark("agents", start_agent)
        if start_state:
            self._mark("states", f"{start_agent}/{start_state}")
        for event in events:
            match event:
                case ev.AgentStart(agent=agent, state=state):
                    self._mark("agents", agent)
                    if state:
                        self._mark("states", f"{agent}/{state}")
                case ev.HandoffEvent(source=source, target=target):
                    self._mark("handoffs", f"{source} → {target}")
                case ev.StateChanged(agent=agent, source=source, target=target):
                    self._mark("states", f"{agent}/{target}")
                    self._mark("transitions", f"{agent}/{source} → {target}")
                case ev.ToolStart(tool=tool):  # only tools that ran: not refused, denied or unknown ones
                    self._mark("tools", tool)
                case ev.ToolEnd(tool=tool, steps=steps) if (spec := self.doc.spec.tools.get(tool)) and spec.escalate:
                    for step in steps:
                        if step.get("type") == "function_call" and step.get("name") in spec.escalate.tools:
                            self._mark("tools", str(step["name"]))

    def _mark(self, category: str, item: str) -> None:
        if item in self.items[category]:
            self.hit[category].add(item)

    def percent(self, category: str | None = None) -> float:
        categories = [category] if category else list(self.items)
        total = sum(len(self.items[c]) for c in categories)
        covered = sum(len(self.hit[c]) for c in categories)
        return 100.0 if total == 0 else 100.0 * covered / total

    def report(self) -> str:
        lines = [f"coverage of {self.doc.file} ({self.doc.spec.graph}): {percent_text(self.percent())}"]
        for category, items in self.items.items():
            if items:
                share = f"{len(self.hit[category])}/{len(items)}"
                lines.append(f"  {category:<12} {share}  {percent_text(self.percent(category))}")
        for category, items in self.items.items():
            for item, loc in items.items():
                if item not in self.hit[category]:
                    where = self.doc.finding("", "", loc, key=isinstance(loc[-1], str))
                    lines.append(f"  {where.file}:{where.line}:{where.col}: not exercised: {category[:-1]} {item}")
        return "\n".join(lines)


def percent_text(percent: float) -> str:
    """A percentage rounded down: 99.6% of a graph is not shown as 100%."""
    return f"{math.floor(percent)}%"
