"""The simulator's building blocks: script cursor, synthetic audio, session merging, event checks."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from engine.sim.audio import argument_deltas, transcript_deltas
from engine.sim.cursor import Mismatch, ScriptCursor
from engine.sim.session import default_session, function_tool_names, merge_session
from engine.sim.validation import check_client_event
from engine.spec.script import Call, Handoff, Say, Script

SIM_DIR = Path(__file__).resolve().parent.parent / "engine" / "sim"


def cursor(*turns: dict) -> ScriptCursor:
    return ScriptCursor(Script.model_validate({"turns": list(turns)}))


def test_sim_imports_only_earlier_stages() -> None:
    for path in SIM_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            for name in names:
                assert not name.startswith(("engine.compile", "engine.runtime", "engine.tools", "engine.testing")), (
                    path.name,
                    name,
                )


def test_cursor_plays_says_up_to_and_including_a_call() -> None:
    c = cursor(
        {
            "user": "a",
            "model": [{"say": "1"}, {"say": "2"}, {"call": "t", "args": {"x": 1}}, {"say": "3"}, {"handoff": "b"}],
        },
        {"user": "b", "model": [{"say": "4"}]},
    )
    assert c.next_response() == []  # the script waits for its first user turn
    assert c.on_user_message("a") == ("a", None)
    first = c.next_response()
    assert [type(a) for a in first] == [Say, Say, Call] and c.position == (0, 3)
    assert [type(a) for a in c.next_response()] == [Say, Handoff]
    assert c.next_response() == [] and not c.done
    c.on_user_message("b")
    assert [a.say for a in c.next_response()] == ["4"] and c.done


def test_cursor_mismatches_and_the_end_of_the_script() -> None:
    c = cursor({"user": "Hello", "model": [{"say": "x"}]})
    assert c.on_user_message("Goodbye") == ("Hello", Mismatch(0, "Hello", "Goodbye"))
    assert c.on_user_message("more") == (None, Mismatch(None, None, "more"))
    assert c.next_response() == [] and c.done
    assert ScriptCursor(None).on_user_message("x") == (None, None)
    assert ScriptCursor(None).next_response() == []


def test_cursor_user_message_skips_unplayed_actions_and_enters_model_turns() -> None:
    c = cursor(
        {"model": [{"say": "welcome"}]},
        {"user": "u1", "model": [{"say": "a"}, {"say": "b"}]},
        {"model": [{"say": "follow-up"}]},
        {"user": "u2", "model": []},
    )
    assert [a.say for a in c.next_response()] == ["welcome"]
    c.on_user_message(None)  # audio: no text to compare
    assert [a.say for a in c.next_response()] == ["a", "b"]
    assert [a.say for a in c.next_response()] == ["follow-up"]  # a turn the model opens
    assert c.on_user_message("u2") == ("u2", None) and c.done


@pytest.mark.parametrize("text", ["", "one", "  leading and trailing  ", "a b c d e f g", "multi\nline text here."])
def test_transcript_deltas_rebuild_the_text(text: str) -> None:
    deltas = transcript_deltas(text)
    assert "".join(deltas) == text
    assert all(len(d.split()) <= 3 for d in deltas)


def test_audio_chunks_and_silence() -> None:
    assert "".join(argument_deltas('{"phone":"(555) 123-4567"}')) == '{"phone":"(555) 123-4567"}'


def test_session_merge_is_deep_but_replaces_tools_and_formats() -> None:
    base = default_session("gpt-realtime", "sess_1")
    merged = merge_session(
        base,
        {
            "type": "realtime",
            "id": "sess_forged",
            "tools": [{"type": "function", "name": "a"}, {"type": "mcp", "server_label": "m"}],
            "audio": {"input": {"format": {"type": "audio/pcmu"}}, "output": {"speed": 1.2}},
        },
    )
    assert merged["id"] == "sess_1"
    assert merged["audio"]["input"]["format"] == {"type": "audio/pcmu"}
    assert merged["audio"]["output"] == {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "alloy", "speed": 1.2}
    assert function_tool_names(merged) == ["a"]
    again = merge_session(merged, {"tools": [{"type": "function", "name": "b"}]})
    assert function_tool_names(again) == ["b"]
    assert base["tools"] == []  # merging never mutates its input


@pytest.mark.parametrize(
    ("event", "code"),
    [
        ({"type": "response.create", "response": {"instructions": "x", "tool_choice": "required"}}, None),
        ({"type": "response.create", "response": {"modalities": ["text"]}}, "unknown_parameter"),
        ({"type": "session.update", "session": {"type": "realtime", "voice": "alloy"}}, "unknown_parameter"),
        ({"type": "session.update", "session": {"type": "realtime"}, "extra": 1}, "unknown_parameter"),
        ({"type": "session.update", "session": {"type": "transcription"}}, "invalid_value"),
        (
            {"type": "conversation.item.create", "item": {"type": "function_call_output", "output": "x"}},
            "missing_required_parameter",
        ),
        (
            {"type": "conversation.item.create", "item": {"type": "message", "role": "robot", "content": []}},
            "invalid_value",
        ),
        ({"type": "input_audio_buffer.commit"}, None),
        ({"type": "response.done"}, "invalid_value"),  # a server event, not a client one
    ],
)
def test_client_events_are_checked_against_the_ga_types(event: dict, code: str | None) -> None:
    error = check_client_event(event)
    assert (error or {}).get("code") == code, error


def test_connection_uses_only_the_simulator_public_surface() -> None:
    import ast
    from pathlib import Path

    import engine.sim

    folder = Path(engine.sim.__file__).parent
    reached = []
    for path in folder.glob("*.py"):
        if path.name == "server.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            # `self.sim._x` / `sim._x`: another module's object, reached through its private name
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
                owner = node.value
                name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", None)
                if name in ("sim", "server", "simulator"):
                    reached.append(f"{path.name}:{node.lineno}: {name}.{node.attr}")
    assert reached == []
