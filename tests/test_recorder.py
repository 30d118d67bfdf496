"""The `--events` file: secrets redacted by value and by key, one file per run, malformed frames kept."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest
from conftest import GRAPHS

from engine.cli import main
from engine.runtime import Session
from engine.runtime.recorder import MALFORMED_LIMIT, REDACTED, EventRecorder
from engine.sim import Simulator
from engine.spec import Script
from engine.validate import load_graph

MCP_GRAPH = """\
graph: mcp-headers
start: a
agents:
  a:
    instructions: Help.
    tools: [docs]
tools:
  docs:
    mcp:
      label: docs
      url: https://mcp.example.com
      require_approval: never
      headers: {Authorization: {env: MCP_TOKEN, prefix: "Bearer "}}
"""


def _events(path: Path) -> list[dict[str, Any]]:
    return _events_of(path.read_text(encoding="utf-8"))


def _events_of(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def _record(tmp_path: Path, secrets: list[str], *events: dict[str, Any]) -> str:
    path = tmp_path / "events.jsonl"
    recorder = EventRecorder(path, secrets)
    for event in events:
        recorder.record("client", event)
    recorder.close()
    return path.read_text(encoding="utf-8")


def test_a_short_secret_is_not_replaced_inside_text(tmp_path: Path):
    text = _record(tmp_path, ["k"], {"type": "conversation.item.create", "item": {"text": "keep the kayak"}})
    assert "keep the kayak" in text and REDACTED not in text


def test_a_long_secret_is_replaced_wherever_it_appears(tmp_path: Path):
    key = "sk-live-0123456789"
    event = {"type": "conversation.item.create", "item": {"text": f"my key is {key}, Bearer {key}"}}
    text = _record(tmp_path, [key, f"Bearer {key}"], event)
    assert key not in text and f"my key is {REDACTED}" in text


def test_values_under_credential_keys_and_headers_are_redacted_anywhere(tmp_path: Path):
    event = {
        "type": "session.update",
        "session": {
            "tools": [
                {"type": "mcp", "server_label": "docs", "headers": {"Authorization": "Bearer t0k", "X-Tenant": "t"}},
                {"type": "mcp", "server_label": "wiki", "authorization": "oauth-abc"},
            ],
            "nested": [{"API-KEY": "azure-key"}, {"authorization": None}],
        },
    }
    original = copy.deepcopy(event)
    [line] = _events_of(_record(tmp_path, [], event))
    tools = line["event"]["session"]["tools"]
    assert tools[0]["headers"] == {"Authorization": REDACTED, "X-Tenant": REDACTED}
    assert tools[0]["server_label"] == "docs"
    assert tools[1]["authorization"] == REDACTED
    assert line["event"]["session"]["nested"] == [{"API-KEY": REDACTED}, {"authorization": None}]
    assert event == original  # the live event is never changed


def test_a_malformed_frame_is_kept_cut_and_scrubbed(tmp_path: Path):
    key = "sk-live-0123456789"
    raw = "x" * (MALFORMED_LIMIT - 5) + key + " not json"  # the key straddles the cut
    path = tmp_path / "events.jsonl"
    recorder = EventRecorder(path, [key])
    recorder.record_malformed(raw)
    recorder.close()
    [line] = _events(path)
    assert line["direction"] == "server"
    kept = line["event"]["malformed"]
    assert len(kept) == MALFORMED_LIMIT and kept.startswith("x" * 10)
    assert "sk-li" not in kept  # not even the part of the key before the cut


async def test_mcp_server_headers_never_reach_the_events_file(write_graph, tmp_path: Path, monkeypatch):
    token = "mcp-SECRET-TOKEN-123"
    monkeypatch.setenv("MCP_TOKEN", token)
    doc = load_graph(write_graph(MCP_GRAPH))
    events = tmp_path / "events.jsonl"
    script = Script.model_validate({"turns": [{"user": "hi", "model": [{"say": "Hello."}]}]})
    async with Simulator(script) as sim, Session(doc, url=sim.url, api_key="sk-test", events_file=events) as session:
        await session.send_text("hi")
        await session.wait_idle(10)
    sent = [t for e in sim.received if e.get("type") == "session.update" for t in e["session"]["tools"]]
    assert sent[0]["headers"] == {"Authorization": f"Bearer {token}"}  # the server did get it
    text = events.read_text(encoding="utf-8")
    assert token not in text
    kinds = {(line["direction"], line["event"]["type"]) for line in _events(events)}
    assert {("client", "session.update"), ("server", "session.updated")} <= kinds


def test_each_run_starts_a_fresh_events_file(tmp_path: Path, monkeypatch, capsys: pytest.CaptureFixture[str]):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    events = tmp_path / "events.jsonl"
    for _ in range(2):
        assert main(["run", str(GRAPHS / "simple_handoff.yaml"), "--events", str(events)]) == 0
    capsys.readouterr()
    created = [line for line in _events(events) if line["event"]["type"] == "session.created"]
    assert len(created) == 1


def test_an_events_file_that_cannot_be_written_is_one_clear_error(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    events = tmp_path / "missing-folder" / "events.jsonl"
    assert main(["run", str(GRAPHS / "simple_handoff.yaml"), "--events", str(events)]) == 1
    err = capsys.readouterr().err
    assert err == f"engine: cannot write the events file {events}: {os.strerror(2)}\n"
