"""One self-contained HTML page: the drawing (inline SVG) and a table of the agents. No scripts, no CDN."""

from __future__ import annotations

import re
from html import escape
from typing import TYPE_CHECKING

from engine.spec import Document, handoff_tool_name

from . import _view

if TYPE_CHECKING:
    import networkx as nx

_CSS = """
  body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem; color: #0f172a; }
  h1 { margin-bottom: .2rem; } .muted { color: #64748b; }
  figure { margin: 1.5rem 0; overflow: auto; border: 1px solid #e2e8f0; border-radius: 8px; padding: 1rem; }
  table { border-collapse: collapse; } th, td { text-align: left; vertical-align: top; padding: .35rem .8rem;
  border-bottom: 1px solid #e2e8f0; } code { font-size: 12px; }
"""


def strip_svg_prolog(svg: str) -> str:
    """Graphviz's SVG document without the XML declaration, DOCTYPE and comments, ready to inline."""
    start = svg.find("<svg")
    return re.sub(r"<!--.*?-->", "", svg[start:] if start >= 0 else svg, flags=re.S).strip()


def render_html(doc: Document, g: nx.DiGraph, svg: str) -> str:
    spec = doc.spec
    rows = "\n".join(_agent_row(g, agent) for agent in _view.agents_in_order(g))
    description = f'<p class="muted">{escape(spec.description)}</p>' if spec.description else ""
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(spec.graph)}</title>
<style>{_CSS}</style>
</head>
<body>
<h1>{escape(spec.graph)}</h1>
{description}
<figure>
{svg}
</figure>
<h2>Agents</h2>
<table>
<tr><th>agent</th><th>description</th><th>tools</th><th>hands off to</th><th>states</th><th>voice</th></tr>
{rows}
</table>
</body>
</html>
"""


def _codes(names: list[str]) -> str:
    return ", ".join(f"<code>{escape(n)}</code>" for n in names) or '<span class="muted">—</span>'


def _agent_row(g: nx.DiGraph, agent: str) -> str:
    data = g.nodes[agent]
    targets = [v for _, v, d in g.out_edges(agent, data=True) if d["kind"] == "handoff"]
    for state in _view.states_of(g, agent):
        targets += [v for _, v, d in g.out_edges(state, data=True) if d["kind"] == "handoff"]
    targets = list(dict.fromkeys(targets))
    states = [g.nodes[s]["name"] + (" (initial)" if g.nodes[s]["initial"] else "") for s in _view.states_of(g, agent)]
    name = escape(agent) + (f" <strong>{escape(_view.START_MARK)}</strong>" if data["start"] else "")
    handoffs = (
        ", ".join(f'<code title="{escape(handoff_tool_name(t))}">{escape(t)}</code>' for t in targets)
        or '<span class="muted">—</span>'
    )
    return (
        f"<tr><td>{name}</td><td>{escape(data['description'])}</td><td>{_codes(data['tools'])}</td>"
        f"<td>{handoffs}</td><td>{_codes(states)}</td><td>{escape(data['voice'] or '')}</td></tr>"
    )
