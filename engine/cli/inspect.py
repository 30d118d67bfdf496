"""`engine inspect FILE`: a graph at a glance: agents, states, tools, the handoff table, and what the
model is offered in each agent and state (read from the compiled payloads: exactly what is sent)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._common import EXIT_FAIL, EXIT_OK, load_or_report

if TYPE_CHECKING:
    from ..spec import Document


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, metavar="FILE")
    parser.add_argument("--format", choices=["text", "json"], default="text")


def main(args: argparse.Namespace) -> int:
    doc = load_or_report(args.file)
    if doc is None:
        return EXIT_FAIL
    summary = describe(doc)
    print(json.dumps(summary, indent=2) if args.format == "json" else "\n".join(_text(summary)))
    return EXIT_OK


def describe(doc: Document) -> dict[str, Any]:
    """The graph's structure as plain data (what `--format json` prints)."""
    from ..compile import compile_tools
    from ..spec import handoff_tool_name

    spec = doc.spec
    used_by: dict[str, list[str]] = {name: [] for name in spec.tools}
    agents, handoffs, offers = {}, [], []
    for agent_id, agent in spec.agents.items():
        machine = agent.states
        enforced = machine is not None and machine.enforce
        states = {
            name: [t.to + (f" (guard: {t.guard})" if t.guard else "") for t in step.transitions]
            for name, step in (machine.steps.items() if machine is not None else ())
        }
        agents[agent_id] = {
            "description": agent.description,
            "states": states,
            "enforced": enforced,
            "initial": machine.initial if machine is not None else None,
        }
        tools = {*agent.tools, *(t for step in (machine.steps.values() if machine else ()) for t in step.tools)}
        for tool in sorted(tools):
            if agent_id not in used_by.setdefault(tool, []):
                used_by[tool].append(agent_id)
        routed: dict[str, list[str]] = {}  # target agent -> the states whose transitions hand off to it
        for name, step in machine.steps.items() if enforced and machine is not None else ():
            for move in step.transitions:
                if move.handoff:
                    routed.setdefault(move.handoff, []).append(name)
        for target in agent.handoff_targets():
            in_states = routed.get(target.agent, [])
            via = "transition_state" if in_states else handoff_tool_name(target.agent)
            handoffs.append({"from": agent_id, "to": target.agent, "via": via, "states": in_states})
        for state in list(machine.steps) if enforced and machine is not None else [None]:
            offered = [
                t.get("name") or f"mcp:{t.get('server_label')}" for t in compile_tools(doc, agent_id, state=state)
            ]
            offers.append({"agent": agent_id, "state": state, "tools": offered})
    return {
        "graph": spec.graph,
        "file": str(doc.file),
        "model": spec.model,
        "start": spec.start,
        "agents": agents,
        "tools": {name: {"kind": tool.kind, "used_by": used_by.get(name, [])} for name, tool in spec.tools.items()},
        "handoffs": handoffs,
        "offers": offers,
    }


def _text(s: dict[str, Any]) -> list[str]:
    lines = [
        f"{s['graph']} ({s['file']}): model {s['model']}, starts at {s['start']}",
        "",
        f"agents ({len(s['agents'])}):",
    ]
    width = max(map(len, s["agents"]), default=0)
    for name, agent in s["agents"].items():
        lines.append(f"  {name:<{width}}  {agent['description']}".rstrip())
        if agent["states"]:
            how = "enforced" if agent["enforced"] else "a plan in the prompt"
            lines.append(f"  {'':<{width}}  states ({how}), initial {agent['initial']}:")
            for state, moves in agent["states"].items():
                lines.append(f"  {'':<{width}}    {state} → {', '.join(moves) or '(final)'}")
    lines += ["", f"tools ({len(s['tools'])}):"]
    width = max(map(len, s["tools"]), default=0)
    for name, tool in s["tools"].items():
        lines.append(f"  {name:<{width}}  {tool['kind']:<8} used by {', '.join(tool['used_by']) or 'no agent'}")
    lines += ["", "handoffs:"]
    width = max((len(h["from"]) for h in s["handoffs"]), default=0)
    for h in s["handoffs"]:
        states = h["states"]
        every = states and len(states) == len(s["agents"][h["from"]]["states"])
        where = "every state" if every else f"state{'s' * (len(states) > 1)} {', '.join(states)}"
        via = f"{h['via']} in {where}" if states else h["via"]
        lines.append(f"  {h['from']:<{width}} → {h['to']}  (via {via})")
    if not s["handoffs"]:
        lines.append("  (none)")
    lines += ["", "offered to the model:"]
    width = max((len(o["agent"] + (f"/{o['state']}" if o["state"] else "")) for o in s["offers"]), default=0)
    for o in s["offers"]:
        where = o["agent"] + (f"/{o['state']}" if o["state"] else "")
        lines.append(f"  {where:<{width}}  {', '.join(o['tools']) or '(no tools)'}")
    return lines
