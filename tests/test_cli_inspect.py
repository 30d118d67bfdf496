"""`engine inspect FILE`: the graph at a glance, its offers read from the compiled payloads."""

from __future__ import annotations

import json

import pytest
from conftest import BUNDLED, GRAPHS

from engine.cli import main
from engine.compile import compile_session
from engine.validate import load_graph


def test_inspect_shows_agents_states_tools_handoffs_and_offers(capsys):
    assert main(["inspect", str(GRAPHS / "retail.yaml")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("customer-service-retail (")
    assert lines[0].endswith("retail.yaml): model gpt-realtime-2.1, starts at authentication")
    assert "agents (4):" in lines and "tools (11):" in lines
    assert any(
        line.split()
        == [
            "get_ssn_or_card_last_four",
            "→",
            "get_address",
            "(guard:",
            "context.authenticated),",
            "help_with_request,",
            "handoff:human",
        ]
        for line in lines
    )
    assert "  authentication → returns  (via transition_state in state help_with_request)" in lines
    assert "  authentication → human  (via transition_state in every state)" in lines
    assert any(
        line.split() == ["check_eligibility_and_possibly_initiate_return", "escalate", "used", "by", "returns"]
        for line in lines
    )
    assert any(
        line.split() == ["authentication/get_address", "save_or_update_address,", "transition_state"] for line in lines
    )


@pytest.mark.parametrize("graph", BUNDLED, ids=lambda p: p.stem)
def test_each_offer_is_what_the_compiled_session_offers(graph, capsys):
    assert main(["inspect", str(graph), "--format", "json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    doc = load_graph(graph)
    assert summary["offers"], "every agent has an offer line"
    assert {o["agent"] for o in summary["offers"]} == set(doc.spec.agents)
    for offer in summary["offers"]:
        tools = compile_session(doc, offer["agent"], state=offer["state"])["session"]["tools"]
        assert offer["tools"] == [t.get("name") or f"mcp:{t['server_label']}" for t in tools]


def test_inspect_of_a_broken_file_reports_its_findings(write_graph, capsys):
    graph = write_graph("graph: x\nstart: nobody\nagents: {a: {instructions: hi}}\n")
    assert main(["inspect", str(graph)]) == 1
    assert "nobody" in capsys.readouterr().err
