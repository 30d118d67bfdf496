"""Compiled payloads against the openai package's own Realtime types."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from engine.compile import check_payload, compile_all, compile_session, compile_tracing
from engine.spec import load_document

GRAPH = """\
    graph: g
    session:
      audio:
        input: {format: g711_alaw, transcription: {model: gpt-4o-transcribe}, noise_reduction: {type: far_field}}
        output: {voice: sage, speed: 1.1}
      tool_choice: auto
      max_output_tokens: 1024
      tracing: auto
      prompt: {id: pmpt_1, version: "2"}
    start: a
    context: {who: you}
    agents:
      a:
        description: First.
        instructions: "Hello {{ who }}."
        tools: [t, docs]
        handoffs: [b]
        states:
          enforce: true
          initial: s1
          steps:
            s1: {transitions: [{to: s2, when: ready}, {to: "handoff:b", when: done}]}
            s2: {tools: [t], instructions: [Go.]}
      b:
        instructions: B
        session:
          audio: {input: {turn_detection: null}}
          extra: {truncation: disabled}
    tools:
      t: {description: T., parameters: {type: object, properties: {n: {type: integer}}}, returns: 1}
      docs: {mcp: {label: docs, url: "https://x.example/mcp", headers: {X-Key: abc}}}
"""


@pytest.fixture
def doc(tmp_path: Path):
    path = tmp_path / "g.yaml"
    path.write_text(textwrap.dedent(GRAPH))
    return load_document(path)


def test_every_compiled_payload_validates(doc) -> None:
    payloads = compile_all(doc)
    assert set(payloads) == {"a", "a/s1", "a/s2", "b"}
    for key, event in payloads.items():
        assert check_payload(event) == [], key
    assert check_payload(compile_session(doc, "a", call_id="rtc_1")) == []
    tracing = compile_tracing(doc)
    assert tracing is not None
    assert check_payload(tracing) == []


def test_unknown_key_at_any_depth_is_reported(doc) -> None:
    event = compile_session(doc, "a")
    event["session"]["tools"][0]["strict"] = True
    event["session"]["audio"]["input"]["format"]["bits"] = 16
    event["session"]["voice"] = "sage"  # beta-era place of the voice
    assert check_payload(event) == [
        "session.voice: unknown key",
        "session.audio.input.format.bits: unknown key",
        "session.tools[0].strict: unknown key",
    ]


def test_bad_types_are_reported(doc) -> None:
    event = compile_session(doc, "b")
    event["session"]["audio"]["output"]["speed"] = "fast"
    assert check_payload(event) == ["session.audio.output.speed: Input should be a valid number (got 'fast')"]
    # Strict: no coercion of numeric strings the API would refuse.
    event["session"]["audio"]["output"]["speed"] = "1.0"
    assert check_payload(event) != []


def test_union_noise_is_filtered(doc) -> None:
    event = compile_session(doc, "a")
    event["session"]["audio"]["input"]["format"] = {"type": "audio/wav"}
    assert check_payload(event) == [
        "session.audio.input.format.type: Input should be one of 'audio/pcm', 'audio/pcmu', 'audio/pcma'"
        " (got 'audio/wav')"
    ]
    event = compile_session(doc, "b")
    event["session"]["tools"] = [{"type": "mcp", "server_url": "https://x.example/mcp"}]
    assert check_payload(event) == ["session.tools[0].server_label: Field required"]


def test_other_events_and_unknown_types() -> None:
    assert check_payload({"type": "response.create"}) == []
    assert check_payload({"type": "response.cancel", "extra": 1}) == ["extra: unknown key"]
    assert check_payload({"type": "session.updat"}) == ["type: unknown client event type 'session.updat'"]
    assert check_payload({"type": "session.update"}) == ["session: Field required"]
