"""What every drawing shows, whatever its format: node ids, node text lines and edge labels.

Keeping this in one place makes Mermaid, DOT and the HTML fallback agree on what they say.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import networkx as nx


START_MARK = "▶ start"
_PREFIX = {"agent": "a_", "state": "s_", "model": "m_"}
_TOOL_LINE_CHARS = 34
_LABEL_CHARS = 40


def short(text: str, limit: int = _LABEL_CHARS) -> str:
    """One line, at most `limit` characters (an ellipsis marks the cut)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def node_ids(g: nx.DiGraph) -> dict[str, str]:
    """A drawing-safe id (letters, digits, underscores) for every node, unique, stable in file order."""
    ids: dict[str, str] = {}
    taken: set[str] = set()
    for node, data in g.nodes(data=True):
        name = data["model"] if data.get("kind") == "model" else str(node).replace("/", "__")
        base = _PREFIX.get(data.get("kind", ""), "n_") + re.sub(r"[^A-Za-z0-9_]", "_", name)
        candidate, n = base, 2
        while candidate in taken:
            candidate, n = f"{base}_{n}", n + 1
        ids[node] = candidate
        taken.add(candidate)
    return ids


def edge_id(ids: dict[str, str], u: str, v: str) -> str:
    """The drawing id of the edge u -> v (a DiGraph has at most one)."""
    return f"{ids[u]}__{ids[v]}"


def tool_lines(tools: list[str]) -> list[str]:
    """`tools: a, b` wrapped at about `_TOOL_LINE_CHARS`, so a box stays narrow whatever the names."""
    if not tools:
        return []
    rows: list[str] = []
    for name in tools:
        if rows and len(rows[-1]) + 2 + len(name) <= _TOOL_LINE_CHARS:
            rows[-1] += f", {name}"
        else:
            rows.append(name)
    return [f"tools: {rows[0]}", *(f"  {r}" for r in rows[1:])]


def node_lines(g: nx.DiGraph, node: str) -> list[str]:
    """The text of a node, one entry per line; the first name line is the node's own name."""
    data = g.nodes[node]
    kind = data["kind"]
    if kind == "agent":
        return [*([START_MARK] if data["start"] else []), str(node), *tool_lines(data["tools"])]
    if kind == "state":
        return [data["name"], *tool_lines(data["tools"])]
    return [data["model"]]


def edge_label(data: dict[str, Any], limit: int = _LABEL_CHARS) -> str:
    """The label of an edge (conditions cut at `limit`, guards whole); empty for plain handoffs."""
    kind = data["kind"]
    if kind == "escalation":
        return ", ".join(data["tools"])
    if data.get("via_states"):
        return "only through its states"
    if kind in ("transition", "handoff") and "when" in data:
        return " / ".join(_condition(alt, limit) for alt in data["alternatives"])
    return ""


def _condition(transition: dict[str, Any], limit: int) -> str:
    when = short(transition["when"], limit)
    return f"{when} [{short(transition['guard'], 60)}]" if transition.get("guard") else when


def agents_in_order(g: nx.DiGraph) -> Iterator[str]:
    return (n for n, d in g.nodes(data=True) if d["kind"] == "agent")


def states_of(g: nx.DiGraph, agent: str) -> list[str]:
    return [n for n, d in g.nodes(data=True) if d["kind"] == "state" and d["parent"] == agent]


def models_in_order(g: nx.DiGraph) -> list[str]:
    return [n for n, d in g.nodes(data=True) if d["kind"] == "model"]
