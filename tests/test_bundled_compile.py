"""Every payload of every bundled graph: accepted by the openai types, and byte-for-byte stable."""

from __future__ import annotations

import json
import os
import re

import jsonschema
import pytest
import yaml
from conftest import BUNDLED, ROOT

from engine.cli import main
from engine.compile import check_payload, compile_all, compile_live_all, compile_live_handoff
from engine.spec.schema import graph_json_schema_text
from engine.validate import load_graph

GOLDEN = ROOT / "tests" / "golden"


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.stem)
def test_every_payload_validates_against_the_openai_types(path):
    payloads = compile_all(load_graph(path))
    assert payloads
    for key, event in payloads.items():
        assert check_payload(event) == [], key


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.stem)
def test_compiled_payloads_match_the_golden_snapshot(path):
    text = json.dumps(compile_all(load_graph(path)), indent=2, sort_keys=False) + "\n"
    golden = GOLDEN / f"{path.stem}.json"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(text)
    assert golden.is_file(), "run with UPDATE_GOLDEN=1 to create the snapshot"
    assert text == golden.read_text(), f"compile output changed; review and regenerate {golden.name}"


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.stem)
def test_live_payloads_match_the_golden_snapshot(path):
    """`session.start`, every agent's backend settings and handoff events on GPT-Live, byte for byte."""
    doc = load_graph(path)
    payloads = compile_live_all(doc)
    payloads["handoffs"] = {agent: compile_live_handoff(doc, agent) for agent in doc.spec.agents}
    text = json.dumps(payloads, indent=2, sort_keys=False) + "\n"
    golden = GOLDEN / f"{path.stem}.live.json"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(text)
    assert golden.is_file(), "run with UPDATE_GOLDEN=1 to create the snapshot"
    assert text == golden.read_text(), f"live compile output changed; review and regenerate {golden.name}"


def test_compiling_twice_gives_the_same_bytes():
    doc = load_graph(BUNDLED[0])
    assert json.dumps(compile_all(doc)) == json.dumps(compile_all(load_graph(BUNDLED[0])))


def test_returns_agent_has_its_tools_and_three_transfers(capsys):
    assert main(["compile", str(ROOT / "graphs" / "retail.yaml"), "--agent", "returns"]) == 0
    event = json.loads(capsys.readouterr().out)
    assert check_payload(event) == []
    names = [t["name"] for t in event["session"]["tools"]]
    assert names[:3] == ["lookup_orders", "retrieve_policy", "check_eligibility_and_possibly_initiate_return"]
    assert sorted(n for n in names if n.startswith("transfer_to_")) == [
        "transfer_to_authentication",
        "transfer_to_human",
        "transfer_to_sales",
    ]


def test_schema_file_has_not_drifted_from_the_models():
    checked_in = (ROOT / "schemas" / "graph.schema.json").read_text()
    assert checked_in == graph_json_schema_text(), "regenerate with: engine schema -o schemas/graph.schema.json"


def test_the_schema_file_accepts_what_the_models_accept():
    """Editors check files against the schema: it must not flag a valid graph (durations, single strings)."""
    schema = json.loads((ROOT / "schemas" / "graph.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for path in BUNDLED:
        errors = [
            f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(yaml.safe_load(path.read_text()))
        ]
        assert errors == [], path
    variant = {
        "graph": "g",
        "start": "a",
        "agents": {"a": {"states": {"initial": "s", "steps": {"s": {"instructions": "One string."}}}}},
        "tools": {"t": {"returns": "ok", "timeout": "500ms"}, "u": {"returns": "ok", "timeout": 2.5}},
        "guardrails": {"g": {"regex": "x+"}, "k": {"keywords": "MegaBoards"}},
    }
    assert [e.message for e in validator.iter_errors(variant)] == []
    assert list(validator.iter_errors({**variant, "tools": {"t": {"returns": "ok", "timeout": "soon"}}}))


def test_bundled_graphs_carry_the_schema_modeline():
    for path in BUNDLED:
        assert path.read_text().startswith("# yaml-language-server: $schema=../schemas/graph.schema.json"), path


def test_mermaid_of_retail_shows_four_agents_and_twelve_handoffs(capsys):
    assert main(["graph", str(ROOT / "graphs" / "retail.yaml"), "--format", "mermaid"]) == 0
    out = capsys.readouterr().out
    agents = "authentication|returns|sales|human"
    assert len(set(re.findall(rf"\ba_({agents})\[", out))) == 4
    edges = set(re.findall(rf"^\s*a_({agents}) -->(?:\|[^|]*\|)? a_({agents})\s*$", out, re.M))
    assert len(edges) == 12


def test_compile_usage_errors_exit_2_with_a_message(tmp_path, capsys):
    retail = str(ROOT / "graphs" / "retail.yaml")
    assert main(["compile", retail, "--all", "--state", "greeting"]) == 2
    assert "--all" in capsys.readouterr().err
    assert main(["compile", retail, "--agent", "returns", "--state", "greeting"]) == 2
    assert "no enforced states" in capsys.readouterr().err
    assert main(["compile", retail, "--state", "greetng"]) == 2
    assert "did you mean 'greeting'?" in capsys.readouterr().err
    plan = tmp_path / "plan.yaml"
    plan.write_text("graph: p\nstart: a\nagents:\n  a:\n    states: {initial: s, steps: {s: {}}}\n")
    assert main(["compile", str(plan), "--state", "s"]) == 2  # states in the prompt only: nothing to pick
    err = capsys.readouterr().err
    assert "no enforced states" in err and "internal error" not in err
