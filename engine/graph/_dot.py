"""Graphviz DOT source: agents as boxes, state machines as clusters inside their agent, models as hexagons."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.spec import Document

from . import _view

if TYPE_CHECKING:
    import networkx as nx

_FONT = "Helvetica"
_NODE_STYLE = {
    "start": 'shape=box, style="rounded,filled,bold", peripheries=2, fillcolor="#dbeafe", color="#1d4ed8"',
    "agent": 'shape=box, style="rounded,filled", fillcolor="#eff6ff", color="#3b82f6"',
    "state": 'shape=box, style="rounded,filled", fillcolor="#f8fafc", color="#64748b", fontsize=11',
    "model": 'shape=hexagon, style=filled, fillcolor="#fef9c3", color="#a16207"',
}
_EDGE_STYLE = {
    "handoff": 'color="#1d4ed8"',
    "transition": 'color="#475569"',
    "initial": 'style=dashed, color="#64748b", arrowhead=odot',
    "escalation": 'style=dashed, color="#a16207"',
}


def quote(text: str) -> str:
    """A DOT double-quoted string; backslashes are escaped so `\\l`, `\\N` and friends stay literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "") + '"'


def _label(lines: list[str]) -> str:
    # Joined after quoting each line, so the only DOT escapes in a label are our line breaks.
    return '"' + "\\n".join(quote(" ".join(line.split()))[1:-1] for line in lines) + '"'


def render_dot(doc: Document, g: nx.DiGraph) -> str:
    ids = _view.node_ids(g)
    title = doc.spec.graph + (f"\n{_view.short(doc.spec.description, 80)}" if doc.spec.description else "")
    out = [
        f"digraph {quote(doc.spec.graph)} {{",
        f'  graph [rankdir=TB, fontname="{_FONT}", label={quote(title)}, labelloc=t, nodesep=0.4, ranksep=0.8];',
        f'  node [fontname="{_FONT}", fontsize=12];',
        f'  edge [fontname="{_FONT}", fontsize=10];',
    ]

    def node(n: str, indent: str) -> None:
        data = g.nodes[n]
        style = _NODE_STYLE["start" if data.get("start") else data["kind"]]
        # `id` and `class` carry into the SVG: the console lights the node of the current agent and state.
        attrs = f'id="{ids[n]}", class="node-{data["kind"]}"'
        out.append(f"{indent}{ids[n]} [label={_label(_view.node_lines(g, n))}, {style}, {attrs}];")

    for agent in _view.agents_in_order(g):
        states = _view.states_of(g, agent)
        if not states:
            node(agent, "  ")
            continue
        out.append(f"  subgraph cluster_{ids[agent]} {{")
        out.append(f'    label={quote(agent + " · states")}; style="rounded,dashed"; color="#94a3b8"; fontsize=11;')
        node(agent, "    ")
        for state in states:
            node(state, "    ")
        out.append("  }")
    for model in _view.models_in_order(g):
        node(model, "  ")
    for u, v, data in g.edges(data=True):
        label = _view.edge_label(data)
        attrs = _EDGE_STYLE[data["kind"]] + f', id="{_view.edge_id(ids, u, v)}", class="edge-{data["kind"]}"'
        attrs += f", label={quote(label)}" if label else ""
        out.append(f"  {ids[u]} -> {ids[v]} [{attrs}];")
    out.append("}")
    return "\n".join(out) + "\n"
