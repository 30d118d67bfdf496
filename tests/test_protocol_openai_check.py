"""The one strict checker: Realtime and GPT-Live client events against the installed openai types."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from engine.compile import check_payload as compile_check_payload
from engine.protocol.openai_check import check_payload, client_event_types, event_problems, session_problems
from engine.sim.validation import check_client_event

PROTOCOL_DIR = Path(__file__).parent.parent / "engine" / "protocol"

START = {
    "type": "session.start",
    "session": {
        "model": "gpt-live-1.1",
        "instructions": "You are Snowy.",
        "audio": {"format": {"type": "audio/pcm", "rate": 24000}, "output": {"voice": "marin"}},
        "delegation": {"type": "client", "acknowledgement_delay_ms": 300},
    },
}


def test_protocol_is_a_leaf() -> None:
    for path in PROTOCOL_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert node.level == 0 or node.module in (None, "openai_check", "lifecycle"), (path.name, node.module)
                names = [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                assert not name.startswith("engine") or name == "engine.errors", (path.name, name)


def test_compile_re_exports_the_same_checker() -> None:
    assert compile_check_payload is check_payload


def test_a_valid_live_start_passes() -> None:
    assert check_payload(START, "live") == []
    assert (
        check_payload({"type": "session.instructions.append", "content": "Be brief.", "delegation_id": None}, "live")
        == []
    )


def test_live_unknown_keys_at_any_depth() -> None:
    event = {**START, "session": {**START["session"], "turn_detection": None}}
    event["session"]["audio"] = {**START["session"]["audio"], "output": {"voice": "marin", "speed": 1.0}}
    assert check_payload(event, "live") == [
        "session.turn_detection: unknown key",
        "session.audio.output.speed: unknown key",
    ]
    update = {
        "type": "session.update",
        "session": {
            "delegation": {
                "type": "responses",
                "responses": {"model": "gpt-5.5", "tools": [{"type": "function", "name": "f", "bogus": 1}]},
            }
        },
    }
    assert check_payload(update, "live") == ["session.delegation.responses.tools[0].bogus: unknown key"]


def test_live_bad_values_and_union_tags() -> None:
    event = {**START, "session": {**START["session"], "delegation": {"type": "clients"}}}
    event["session"]["audio"] = {"format": {"type": "audio/pcm", "rate": 8000}}
    assert check_payload(event, "live") == [
        "session.audio.format.rate: Input should be 16000 or 24000 (got 8000)",
        "session.delegation.type: Input should be one of 'client', 'responses', 'decisions' (got 'clients')",
    ]


def test_events_of_the_other_api_are_refused() -> None:
    assert check_payload({"type": "input_audio_buffer.append", "audio": "AAAA"}, "live") == [
        "type: unknown client event type 'input_audio_buffer.append'"
    ]
    assert check_payload(START) == ["type: unknown client event type 'session.start'"]
    assert "session.start" in client_event_types("live") and "response.cancel" in client_event_types("realtime")
    with pytest.raises(ValueError, match="unknown API"):
        event_problems(START, "sip")  # type: ignore[arg-type]


def test_problems_carry_the_api_codes() -> None:
    [problem] = event_problems({"type": "session.update", "session": {"type": "realtime", "voice": "alloy"}})
    assert (problem.path, problem.code) == ("session.voice", "unknown_parameter")
    [problem] = session_problems({"instructions": "x"}, "live")
    assert (problem.path, problem.code) == ("session.model", "missing_required_parameter")
    problems = event_problems({"type": "session.update", "session": {"type": "realtime", "max_output_tokens": "9"}})
    assert {(p.path, p.code) for p in problems} == {
        ("session.max_output_tokens", c) for c in ("invalid_type", "invalid_value")
    }


def test_the_simulator_words_the_same_problems_as_the_api() -> None:
    error = check_client_event({"type": "session.update", "session": {"type": "realtime", "audio": {"x": 1}}})
    assert error == {
        "type": "invalid_request_error",
        "code": "unknown_parameter",
        "message": "Unknown parameter: 'session.audio.x'.",
        "param": "session.audio.x",
    }
    error = check_client_event({**START, "session": {**START["session"], "voice": "marin"}}, "live")
    assert error is not None and error["param"] == "session.voice" and error["code"] == "unknown_parameter"
    assert check_client_event(START, "live") is None
    error = check_client_event({"type": "session.update"})
    assert error is not None and error["code"] == "missing_required_parameter" and error["param"] == "session"
