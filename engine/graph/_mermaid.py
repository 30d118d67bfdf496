"""Mermaid flowchart source, in the dialect GitHub renders in Markdown.

Every label is quoted, and characters Mermaid or its HTML labels would interpret are written as
Mermaid entities (`#quot;`, `#35;` ...), so any agent, tool or guard text draws as written.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.spec import Document

from . import _view

if TYPE_CHECKING:
    import networkx as nx

# Characters written as entities inside quoted labels: the quote ends the label, `#` starts an
# entity, `<`, `>`, `&` would be read as HTML, a backtick as Markdown, `|` ends an edge label, and a
# backslash could be read as an escape by a renderer.
_ENTITIES = {
    '"': "#quot;",
    "#": "#35;",
    "<": "#lt;",
    ">": "#gt;",
    "&": "#amp;",
    "`": "#96;",
    "|": "#124;",
    "\\": "#92;",
}
_BREAK = "<br/>"

_NODE_SHAPES = {"agent": ('["', '"]'), "start": ('[["', '"]]'), "state": ('("', '")'), "model": ('{{"', '"}}')}
_ARROWS = {"handoff": "-->", "transition": "-->", "initial": "-.->", "escalation": "-.->"}


def escape(text: str) -> str:
    return "".join(_ENTITIES.get(ch, ch) for ch in " ".join(text.split()))


def _label(lines: list[str]) -> str:
    return _BREAK.join(escape(line) for line in lines)


def render_mermaid(doc: Document, g: nx.DiGraph) -> str:
    ids = _view.node_ids(g)
    out = ["flowchart LR", f"  %% {escape(doc.spec.graph)}"]

    def node(n: str, indent: str) -> None:
        data = g.nodes[n]
        shape = "start" if data.get("start") else data["kind"]
        left, right = _NODE_SHAPES[shape]
        out.append(f"{indent}{ids[n]}{left}{_label(_view.node_lines(g, n))}{right}")

    for agent in _view.agents_in_order(g):
        states = _view.states_of(g, agent)
        if not states:
            node(agent, "  ")
            continue
        # The agent and its state machine share one box: the states live inside their agent.
        out.append(f'  subgraph g_{ids[agent]}["{escape(agent)} · states"]')
        node(agent, "    ")
        for state in states:
            node(state, "    ")
        out.append("  end")
    for model in _view.models_in_order(g):
        node(model, "  ")
    for u, v, data in g.edges(data=True):
        label = _view.edge_label(data)
        arrow = _ARROWS[data["kind"]]
        text = f'|"{escape(label)}"|' if label else ""
        out.append(f"  {ids[u]} {arrow}{text} {ids[v]}")
    out += _classes(g, ids)
    return "\n".join(out) + "\n"


def _classes(g: nx.DiGraph, ids: dict[str, str]) -> list[str]:
    groups: dict[str, list[str]] = {"start": [], "agent": [], "state": [], "model": []}
    for n, data in g.nodes(data=True):
        groups["start" if data.get("start") else data["kind"]].append(ids[n])
    styles = {
        "start": "fill:#dbeafe,stroke:#1d4ed8,stroke-width:3px",
        "agent": "fill:#eff6ff,stroke:#3b82f6",
        "state": "fill:#f8fafc,stroke:#64748b",
        "model": "fill:#fef9c3,stroke:#a16207",
    }
    lines = []
    for name, members in groups.items():
        if members:
            lines.append(f"  classDef {name} {styles[name]}")
            lines.append(f"  class {','.join(members)} {name}")
    return lines
