"""build_graph: nodes, edges and their attributes, from small graph files."""

from __future__ import annotations

import textwrap
from pathlib import Path

import networkx as nx

from engine.graph import build_graph, lint_graph
from engine.spec import Document, load_document


def _load(tmp_path: Path, text: str) -> Document:
    path = tmp_path / "graph.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return load_document(path)


def _edges(g: nx.DiGraph, kind: str) -> list[tuple[str, str]]:
    return [(u, v) for u, v, k in g.edges(data="kind") if k == kind]


STATEFUL = """\
    graph: retail
    session:
      audio: {output: {voice: sage}}
    start: auth
    agents:
      auth:
        description: Authenticates.
        tools: [authenticate_user]
        handoffs: [returns, {agent: sales, description: Buy a board.}]
        states:
          initial: greeting
          steps:
            greeting:
              transitions: [{to: get_phone, when: once greeted}]
            get_phone:
              tools: [authenticate_user, lookup]
              transitions:
                - {to: handoff:returns, when: wants a return, guard: context.authenticated}
                - {to: greeting, when: starts over}
      returns:
        description: Handles returns.
        voice: ash
        tools: [check_eligibility, check_warranty]
      sales:
        session: {audio: {output: {voice: coral}}}
    tools:
      authenticate_user: {returns: ok}
      check_eligibility:
        escalate: {model: o4-mini, tools: [policy]}
      check_warranty:
        escalate: {model: o4-mini}
      lookup:
        escalate: {model: gpt-4.1}
      policy: {returns: policy text}
"""


def test_fully_connected_graph_has_every_handoff(tmp_path: Path) -> None:
    names = ["a", "b", "c", "d"]
    agents = "\n".join(f"  {n}: {{handoffs: [{', '.join(m for m in names if m != n)}]}}" for n in names)
    doc = _load(tmp_path, f"graph: full\nstart: a\nagents:\n{agents}\n")
    g = build_graph(doc)
    assert g.number_of_nodes() == 4
    assert len(_edges(g, "handoff")) == 12
    assert [n for n, start in g.nodes(data="start") if start] == ["a"]
    assert all(kind == "agent" for _, kind in g.nodes(data="kind"))
    assert g.graph["start"] == "a" and g.graph["name"] == "full"


def test_agents_states_models_and_their_attributes(tmp_path: Path) -> None:
    g = build_graph(_load(tmp_path, STATEFUL))
    kinds = {n: k for n, k in g.nodes(data="kind")}
    assert kinds == {
        "auth": "agent",
        "returns": "agent",
        "sales": "agent",
        "auth/greeting": "state",
        "auth/get_phone": "state",
        "model:o4-mini": "model",
        "model:gpt-4.1": "model",
    }
    auth = g.nodes["auth"]
    assert auth["start"] is True and auth["description"] == "Authenticates."
    assert auth["tools"] == ["authenticate_user"]
    # Effective voices: the graph default, the agent's own, the agent session's.
    assert [g.nodes[a]["voice"] for a in ("auth", "returns", "sales")] == ["sage", "ash", "coral"]
    greeting, phone = g.nodes["auth/greeting"], g.nodes["auth/get_phone"]
    assert greeting["parent"] == "auth" and greeting["initial"] is True
    assert phone["initial"] is False and phone["tools"] == ["authenticate_user", "lookup"]


def test_edges_of_every_kind(tmp_path: Path) -> None:
    g = build_graph(_load(tmp_path, STATEFUL))
    assert sorted(_edges(g, "handoff")) == [("auth", "returns"), ("auth", "sales"), ("auth/get_phone", "returns")]
    assert g.edges["auth", "sales"]["description"] == "Buy a board."
    assert g.edges["auth", "returns"]["description"] == "Handles returns."
    assert _edges(g, "initial") == [("auth", "auth/greeting")]
    assert sorted(_edges(g, "transition")) == [("auth/get_phone", "auth/greeting"), ("auth/greeting", "auth/get_phone")]
    state_handoff = g.edges["auth/get_phone", "returns"]
    assert state_handoff["guard"] == "context.authenticated" and state_handoff["when"] == "wants a return"
    assert g.edges["auth/greeting", "auth/get_phone"]["guard"] is None
    # One edge per agent and model; both escalation tools of `returns` are on it.
    assert sorted(_edges(g, "escalation")) == [("auth", "model:gpt-4.1"), ("returns", "model:o4-mini")]
    assert g.edges["returns", "model:o4-mini"]["tool"] == "check_eligibility"
    assert g.edges["returns", "model:o4-mini"]["tools"] == ["check_eligibility", "check_warranty"]
    # A state's escalation tool is its agent's escalation.
    assert g.edges["auth", "model:gpt-4.1"]["tool"] == "lookup"


def test_edges_remember_where_they_were_written(tmp_path: Path) -> None:
    doc = _load(tmp_path, STATEFUL)
    g = build_graph(doc)
    finding = doc.finding("X", "here", g.edges["auth/get_phone", "returns"]["loc"])
    assert finding.line == 18  # the `- {to: handoff:returns ...}` item
    assert doc.finding("X", "here", g.nodes["auth/get_phone"]["loc"], key=True).line == 15


def test_dangling_references_are_skipped_not_fatal(tmp_path: Path) -> None:
    doc = _load(
        tmp_path,
        """\
        graph: broken
        start: nobody
        agents:
          a:
            tools: [ghost_tool]
            handoffs: [ghost_agent, {agent: ghost2}]
            states:
              initial: ghost_state
              steps:
                one:
                  tools: [ghost_tool]
                  transitions: [{to: nowhere, when: x}, {to: "handoff:ghost3", when: y}]
        """,
    )
    g = build_graph(doc)
    assert set(g.nodes) == {"a", "a/one"}
    assert list(g.edges) == []
    assert g.nodes["a/one"]["initial"] is False
    codes = {f.code for f in lint_graph(doc)}
    assert "W601" not in codes and "W602" not in codes  # unknown start/initial: the reference layer reports them
