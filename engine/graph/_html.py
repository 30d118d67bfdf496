"""One self-contained HTML page: the drawing (inline SVG) fitted to the window with zoom and pan, and a
table of the agents. Its one script is inline (no CDN): it opens from a file, offline."""

from __future__ import annotations

import re
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from engine.spec import Document, handoff_tool_name

from . import _view

if TYPE_CHECKING:
    import networkx as nx

#: Pan, zoom and label fitting for a drawing in a page; the console serves the same script.
VIEWER_JS = (Path(__file__).with_name("_viewer.js")).read_text(encoding="utf-8")

_CSS = """
  body { font: 14px/1.45 system-ui, sans-serif; margin: 0 2rem 2rem; color: #0f172a; }
  header { display: flex; align-items: baseline; gap: 1rem; flex-wrap: wrap; padding-top: 1rem; }
  h1 { margin: 0; font-size: 1.4rem; } .muted { color: #64748b; } header p { margin: 0; flex: 1; }
  .zoom { display: flex; gap: .3rem; } .zoom button { font: inherit; padding: .15rem .6rem; border-radius: 6px;
  border: 1px solid #cbd5e1; background: #f8fafc; cursor: pointer; }
  figure { margin: .8rem 0 1.5rem; height: calc(100vh - 6rem); min-height: 320px; border: 1px solid #e2e8f0;
  border-radius: 8px; background: #fbfdff; overflow: hidden; }
  figure svg text { font-family: Helvetica, Arial, "Liberation Sans", "DejaVu Sans", sans-serif; }
  figure svg g.graph > polygon { fill: transparent; stroke: none; }
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
<header>
<h1>{escape(spec.graph)}</h1>
{description}
<span class="zoom"><button id="zoom-out" title="zoom out">&minus;</button>
<button id="zoom-in" title="zoom in">+</button>
<button id="fit" title="fit the drawing to the window (or double-click it)">Fit</button></span>
</header>
<figure id="drawing">
{svg}
</figure>
<h2>Agents</h2>
<table>
<tr><th>agent</th><th>description</th><th>tools</th><th>hands off to</th><th>states</th><th>voice</th></tr>
{rows}
</table>
<script>
{VIEWER_JS}
const view = engineGraphView(document.getElementById("drawing"));
document.getElementById("fit").onclick = () => view.fit();
document.getElementById("zoom-in").onclick = () => view.zoomIn();
document.getElementById("zoom-out").onclick = () => view.zoomOut();
addEventListener("resize", () => view.fit());
</script>
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
