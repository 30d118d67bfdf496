"""`engine replay events.jsonl`: a recorded call rendered in the terminal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from engine.cli import main

DESK = """\
graph: desk
start: front
agents:
  front:
    instructions: You greet.
    handoffs: [back]
  back:
    instructions: You refund.
    tools: [refund]
    handoffs: [front]
tools:
  refund:
    description: Refund an order.
    parameters: {type: object, properties: {order: {type: string}}, required: [order]}
    returns: {refunded: "{{ args.order }}"}
guardrails:
  no_promises:
    regex: ["guaranteed"]
    category: PROMISE
demo:
  turns:
    - model: [{say: Hello there.}]
    - user: refund order 7 please
      model:
        - handoff: back
        - call: refund
          args: {order: "7"}
        - say: Refund guaranteed by Friday.
"""


def test_a_recorded_call_renders_transcript_tools_handoffs_trips_and_timings(tmp_path: Path, capsys):
    graph, events = tmp_path / "desk.yaml", tmp_path / "events.jsonl"
    graph.write_text(DESK)
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    ran = subprocess.run(
        [sys.executable, "-m", "engine.cli", "run", str(graph), "--events", str(events)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert ran.returncode == 0, ran.stderr
    with events.open("a") as file:
        file.write('{"t": 1, "direction": "server", "event": {"type": "error", "error": "a bare string"}}\n')
        file.write("not json, a truncated last line {\n")

    assert main(["replay", "--no-times", str(events)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:6] == [
        "assistant: Hello there.",
        "user: refund order 7 please",
        "  ⇢ handoff → back",
        '  ⚙ refund({"order":"7"})',
        '  ✓ refund → {"refunded": "7"}',
        "[back] assistant: Refund guaranteed by Friday.",
    ]
    assert "  ✗ reply cancelled" in lines
    assert any(
        line.startswith("  ⚠ guardrail: Your last reply was stopped by the no_promises guardrail") for line in lines
    )
    assert "  ! error: a bare string" in lines
    summary = next(line for line in lines if line.startswith("call: "))
    assert "1 user turn, " in summary and "1 tool call, 1 handoff, 1 guardrail trip, 1 error" in summary
    assert any(line.startswith("first audio after a request: median ") for line in lines)
    assert lines[-1] == "(1 line was not events and skipped)"


def test_times_are_offsets_from_the_first_event(tmp_path: Path, capsys):
    events = tmp_path / "e.jsonl"
    records = [
        {"t": 100.0, "direction": "client", "event": {"type": "response.create"}},
        {"t": 100.25, "direction": "server", "event": {"type": "response.output_audio.delta", "delta": "<3 bytes>"}},
        {
            "t": 101.5,
            "direction": "server",
            "event": {"type": "response.output_audio_transcript.done", "transcript": "Hi."},
        },
    ]
    events.write_text("".join(json.dumps(r) + "\n" for r in records))
    assert main(["replay", str(events)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "    1.50s  assistant: Hi."
    assert lines[-1] == "first audio after a request: median 250 ms, slowest 250 ms"


def test_odd_events_never_crash_the_replay(tmp_path: Path, capsys):
    events = tmp_path / "odd.jsonl"
    odd = [
        {"t": 1, "direction": "server", "event": {"type": "response.output_item.done", "item": 5}},
        {
            "t": 2,
            "direction": "server",
            "event": {"type": "response.output_item.done", "item": {"type": "function_call", "name": None}},
        },
        {
            "t": 3,
            "direction": "client",
            "event": {"type": "conversation.item.create", "item": {"type": "message", "content": 7}},
        },
        {
            "t": 4,
            "direction": "client",
            "event": {"type": "conversation.item.create", "item": {"type": "function_call_output", "output": [1]}},
        },
        {"t": 5, "direction": "server", "event": {"type": "response.output_audio_transcript.done", "transcript": 42}},
        {"t": 6, "direction": "server", "event": {"type": ["a", "list"]}},
        {"t": 7, "direction": "server", "event": {"malformed": "{not json"}},
        {"t": "later", "direction": "server", "event": {}},
        {"t": 8, "event": []},
        [1, 2],
    ]
    events.write_text("".join(json.dumps(r) + "\n" for r in odd))
    assert main(["replay", "--no-times", str(events)]) == 0
    out = capsys.readouterr().out
    assert "assistant: 42" in out and "a malformed frame: {not json" in out
    assert "(3 lines were not events and skipped)" in out


def test_an_unreadable_file_is_one_line(tmp_path: Path, capsys):
    assert main(["replay", str(tmp_path / "missing.jsonl")]) == 1
    assert capsys.readouterr().err.startswith(f"engine: cannot read {tmp_path / 'missing.jsonl'}: ")
