"""An inline SVG drawing laid out here, for the HTML page when Graphviz is not installed.

Layered: agents go in columns by their handoff distance from the start agent (unreachable agents
last), text models after them. An agent with a state machine is a card holding its states, with
transitions drawn as arcs along the card's right side.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING

from . import _view

if TYPE_CHECKING:
    import networkx as nx

_CARD_W = 240
_COL_GAP = 190
_ROW_GAP = 50
_LINE_H = 16
_PAD = 10
_STATE_INSET = 16
_ARC_ROOM = 60
_MODEL_W, _MODEL_H = 160, 40
_EDGE_CHARS = 24


@dataclass(slots=True)
class _Box:
    x: float
    y: float
    w: float
    h: float

    @property
    def right(self) -> float:
        return self.x + self.w

    @property
    def mid(self) -> float:
        return self.y + self.h / 2


def _layers(g: nx.DiGraph) -> dict[str, int]:
    import networkx as nx

    agents = nx.DiGraph()
    agents.add_nodes_from(_view.agents_in_order(g))
    for u, v, data in g.edges(data=True):
        if data["kind"] == "handoff":
            agents.add_edge(g.nodes[u].get("parent", u), v)
    start = g.graph.get("start")
    depth = nx.single_source_shortest_path_length(agents, start) if start in agents else {}
    last = max(depth.values(), default=-1) + 1
    return {a: depth.get(a, last) for a in agents}


def _text(x: float, y: float, lines: list[str], cls: str) -> str:
    spans = "".join(
        f'<tspan x="{x:.0f}" dy="{0 if i == 0 else _LINE_H}">{escape(line)}</tspan>' for i, line in enumerate(lines)
    )
    return f'<text class="{cls}" x="{x:.0f}" y="{y:.0f}">{spans}</text>'


class _Sketch:
    def __init__(self, g: nx.DiGraph) -> None:
        self.g = g
        self.cards: dict[str, _Box] = {}  # agent -> whole card
        self.heads: dict[str, _Box] = {}  # agent -> its name block
        self.boxes: dict[str, _Box] = {}  # state or model -> its box
        self.shapes: list[str] = []
        self.edges: list[str] = []

    def layout(self) -> tuple[float, float]:
        layers = _layers(self.g)
        columns = max(layers.values(), default=0) + 1
        bottoms = [60.0] * (columns + 1)
        for agent in _view.agents_in_order(self.g):
            col = layers[agent]
            self._card(agent, 40 + col * (_CARD_W + _COL_GAP), bottoms[col])
            bottoms[col] = self.cards[agent].y + self.cards[agent].h + _ROW_GAP
        x = 40 + columns * (_CARD_W + _COL_GAP)
        for model in _view.models_in_order(self.g):
            self.boxes[model] = _Box(x, bottoms[columns], _MODEL_W, _MODEL_H)
            bottoms[columns] += _MODEL_H + _ROW_GAP
        width = 40 + (columns + (1 if _view.models_in_order(self.g) else 0)) * (_CARD_W + _COL_GAP)
        return width, max(bottoms) + 20

    def _card(self, agent: str, x: float, y: float) -> None:
        lines = _view.node_lines(self.g, agent)
        head = _Box(x, y, _CARD_W, len(lines) * _LINE_H + 2 * _PAD)
        self.heads[agent] = head
        bottom = head.y + head.h + 6  # room for the initial-state marker
        for state in _view.states_of(self.g, agent):
            h = len(_view.node_lines(self.g, state)) * _LINE_H + _PAD
            self.boxes[state] = _Box(x + _STATE_INSET, bottom, _CARD_W - _STATE_INSET - _ARC_ROOM, h)
            bottom += h + 18
        self.cards[agent] = _Box(x, y, _CARD_W, bottom - y)

    def draw(self) -> None:
        # Nodes and edges are groups with the drawing ids of Graphviz's SVG, so the console lights either.
        ids = _view.node_ids(self.g)
        for agent in _view.agents_in_order(self.g):
            card, head = self.cards[agent], self.heads[agent]
            cls = "start" if self.g.nodes[agent]["start"] else "agent"
            self.shapes.append(f'<g id="{ids[agent]}" class="node">')
            self.shapes.append(
                f'<rect class="{cls}" x="{card.x:.0f}" y="{card.y:.0f}" width="{card.w:.0f}" height="{card.h:.0f}"'
                ' rx="8"/>'
            )
            if cls == "start":  # a double border marks where every call begins
                self.shapes.append(
                    f'<rect class="inner" x="{card.x + 4:.0f}" y="{card.y + 4:.0f}" width="{card.w - 8:.0f}"'
                    f' height="{card.h - 8:.0f}" rx="6"/>'
                )
            self.shapes.append(_text(head.x + _PAD, head.y + _PAD + 12, _view.node_lines(self.g, agent), "label"))
            self.shapes.append("</g>")
        for node, box in self.boxes.items():
            kind = self.g.nodes[node]["kind"]
            self.shapes.append(f'<g id="{ids[node]}" class="node">')
            self.shapes.append(
                f'<rect class="{kind}" x="{box.x:.0f}" y="{box.y:.0f}" width="{box.w:.0f}" height="{box.h:.0f}"'
                f' rx="{14 if kind == "model" else 6}"/>'
            )
            self.shapes.append(_text(box.x + 8, box.y + 17, _view.node_lines(self.g, node), "label small"))
            self.shapes.append("</g>")
        for u, v, data in self.g.edges(data=True):
            self.edges.append(f'<g id="{_view.edge_id(ids, u, v)}" class="edge">')
            self._edge(u, v, data)
            self.edges.append("</g>")

    def _anchor_out(self, node: str) -> tuple[float, float]:
        box = self.boxes.get(node) or self.heads[node]
        return box.right, box.mid

    def _edge(self, u: str, v: str, data: dict) -> None:
        kind = data["kind"]
        label = _view.edge_label(data, _EDGE_CHARS)
        if kind == "initial":  # a dot and a short arrow into the initial state, from above
            box = self.boxes[v]
            x = box.x + 14
            self.edges.append(f'<circle class="initial" cx="{x:.0f}" cy="{box.y - 12:.0f}" r="3.5"/>')
            self.edges.append(
                f'<path class="edge initial" d="M{x:.0f},{box.y - 9:.0f} V{box.y:.0f}" marker-end="url(#arrow)"/>'
            )
            return
        if kind == "transition":
            self._transition(u, v, data["kind"], label)
            return
        sx, sy = self._anchor_out(u)
        if kind == "handoff" and u in self.boxes:  # from a state: leave the card clear of its arcs
            sx = self.cards[self.g.nodes[u]["parent"]].right
        target = self.heads.get(v) or self.boxes[v]
        if u == v:  # an agent handing off to itself
            d = f"M{sx - 30:.0f},{target.y:.0f} c0,-36 40,-36 30,{target.h / 2:.0f}"
            self._path(d, kind, label, sx, target.y - 30)
            return
        tx, ty = target.x, target.mid
        if tx > sx:
            bend = max(60.0, (tx - sx) / 2)
            d = f"M{sx:.0f},{sy:.0f} C{sx + bend:.0f},{sy:.0f} {tx - bend:.0f},{ty:.0f} {tx:.0f},{ty:.0f}"
        elif abs(target.right - sx) < 1:  # within a column: out and back in on the right
            tx = target.right
            d = f"M{sx:.0f},{sy:.0f} C{sx + 70:.0f},{sy:.0f} {tx + 70:.0f},{ty:.0f} {tx:.0f},{ty:.0f}"
        else:  # backwards: loop round above the target
            tx, ty = target.x + target.w / 3, target.y
            d = f"M{sx:.0f},{sy:.0f} C{sx + 80:.0f},{sy - 80:.0f} {tx:.0f},{ty - 80:.0f} {tx:.0f},{ty:.0f}"
        # Labels sit nearer the target, away from the crowd of arcs at the source.
        self._path(d, kind, label, sx + (tx - sx) * 0.62, sy + (ty - sy) * 0.62 - 4)

    def _transition(self, u: str, v: str, kind: str, label: str) -> None:
        """An arc along the card's right side: downwards close in, upwards further out, labels beside."""
        a, b = self.boxes[u], self.boxes[v]
        if u == v:
            d = f"M{a.right:.0f},{a.mid - 4:.0f} c30,-20 30,28 0,8"
            self._path(d, kind, label, a.right + 30, a.mid + 4, anchor="start")
            return
        steps = max(1, round(abs(b.y - a.y) / 40))
        bulge = (22 if b.y > a.y else 44) + 10 * steps
        d = f"M{a.right:.0f},{a.mid:.0f} C{a.right + bulge:.0f},{a.mid:.0f} {b.right + bulge:.0f},{b.mid:.0f} "
        d += f"{b.right:.0f},{b.mid:.0f}"
        ly = (a.mid + b.mid) / 2 + (-4 if b.y > a.y else 12)
        self._path(d, kind, label, a.right + bulge * 0.75 + 4, ly, anchor="start")

    def _path(self, d: str, kind: str, label: str, lx: float, ly: float, anchor: str = "middle") -> None:
        self.edges.append(f'<path class="edge {kind}" d="{d}" marker-end="url(#arrow)"/>')
        if label:
            self.edges.append(
                f'<text class="edge-label" x="{lx:.0f}" y="{ly:.0f}" text-anchor="{anchor}">{escape(label)}</text>'
            )


_STYLE = """
  .agent { fill: #eff6ff; stroke: #3b82f6; }
  .start { fill: #dbeafe; stroke: #1d4ed8; stroke-width: 2; }
  .inner { fill: none; stroke: #1d4ed8; }
  .state { fill: #f8fafc; stroke: #64748b; }
  .model { fill: #fef9c3; stroke: #a16207; }
  .label { font: 13px sans-serif; fill: #0f172a; }
  .small { font-size: 12px; }
  .edge { fill: none; stroke: #1d4ed8; stroke-width: 1.3; }
  .edge.transition { stroke: #475569; }
  .edge.initial { stroke: #64748b; }
  circle.initial { fill: #334155; }
  .edge.escalation { stroke: #a16207; stroke-dasharray: 5 4; }
  .edge-label { font: 11px sans-serif; fill: #334155; paint-order: stroke; stroke: #fff; stroke-width: 3px; }
"""


def sketch_svg(g: nx.DiGraph) -> str:
    sketch = _Sketch(g)
    width, height = sketch.layout()
    sketch.draw()
    return "\n".join(
        [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}"'
            f' viewBox="0 0 {width:.0f} {height:.0f}" role="img">',
            f"<style>{_STYLE}</style>",
            '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7"'
            ' orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#334155"/></marker></defs>',
            *sketch.shapes,
            *sketch.edges,
            "</svg>",
        ]
    )
