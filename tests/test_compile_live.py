"""GPT-Live from the same graph: `session.start`, backend settings, handoff events, and what validate reports."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from conftest import BUNDLED

from engine.compile import (
    CompileError,
    compile_for_api,
    compile_live_all,
    compile_live_backend,
    compile_live_handoff,
    compile_live_start,
    compile_session,
    live_api_findings,
)
from engine.protocol.openai_check import check_live_backend, check_payload
from engine.spec import load_document
from engine.validate import load_graph, validate_file

GRAPH = """\
    graph: desk
    description: Acme's front desk.
    api: live
    live: {acknowledgement_delay_ms: 300, backend: {model: gpt-5.5, reasoning: {effort: low}, verbosity: low}}
    context: {company: Acme}
    session:
      audio: {input: {format: g711_ulaw}, output: {voice: cedar}}
    start: front
    agents:
      front:
        description: Greets callers.
        instructions: You answer for {{ company }}.
        tools: [lookup]
        handoffs: [back]
      back:
        description: The back office.
        instructions: Help.
        handoffs: [front]
        states:
          enforce: true
          initial: ask
          steps:
            ask:
              description: Ask what they need.
              examples: ["What can I do for you at {{ company }}?"]
              transitions: [{to: done, when: they said}]
            done: {instructions: [Say goodbye.]}
    tools:
      lookup: {description: Look up., parameters: {type: object, properties: {q: {type: string}}}, returns: found}
"""


def _doc(tmp_path: Path, text: str = GRAPH, name: str = "g.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return load_document(path)


def _all_events(doc) -> list[tuple[str, dict]]:
    events = [("session.start", compile_live_start(doc)), ("sip", compile_live_start(doc, negotiated_audio=True))]
    for agent_id, agent in doc.spec.agents.items():
        states = list(agent.states.steps) if agent.states is not None and agent.states.enforce else [None]
        for state in states:
            events += [(f"{agent_id}/{state}", e) for e in compile_live_handoff(doc, agent_id, state)]
    return events


@pytest.mark.parametrize("delegation", ["client", "responses"])
@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.stem)
def test_every_bundled_graph_on_live_passes_the_strict_live_check(path: Path, delegation: str) -> None:
    doc = load_graph(path)
    doc.spec.live.delegation = delegation  # type: ignore[assignment]
    for key, event in _all_events(doc):
        assert check_payload(event, "live") == [], key
    for key, backend in compile_live_all(doc).items():
        if key != "session.start":
            assert check_live_backend(backend) == [], key


def test_session_start_holds_model_persona_voice_format_and_delegation(tmp_path: Path) -> None:
    session = compile_live_start(_doc(tmp_path))["session"]
    assert session["model"] == "gpt-live-1.1"
    assert "front: Greets callers." in session["instructions"] and "back: The back office." in session["instructions"]
    assert "Acme's front desk." in session["instructions"]
    assert session["audio"] == {"format": {"type": "audio/pcmu", "rate": 8000}, "output": {"voice": "cedar"}}
    assert session["delegation"] == {"type": "client", "acknowledgement_delay_ms": 300}
    [first] = session["input"]
    assert first["role"] == "developer" and first["content"][0]["text"].startswith(
        "You now speak for the front specialist."
    )
    sip = compile_live_start(_doc(tmp_path), negotiated_audio=True)["session"]
    assert sip["audio"] == {"output": {"voice": "cedar"}}


def test_the_persona_can_be_written(tmp_path: Path) -> None:
    doc = _doc(
        tmp_path,
        GRAPH.replace(
            "api: live\n", "api: live\n    live: {instructions: 'You are the {{ company }} line.'}\n"
        ).replace("    live: {ack", "    #"),
    )
    assert compile_live_start(doc)["session"]["instructions"] == "You are the Acme line.\n"


def test_backend_settings_per_agent_and_state(tmp_path: Path) -> None:
    doc = _doc(tmp_path)
    front = compile_live_backend(doc, "front")
    assert front["model"] == "gpt-5.5" and front["instructions"] == "You answer for Acme.\n"
    assert [t["name"] for t in front["tools"]] == ["lookup", "transfer_to_back"]
    assert front["reasoning"] == {"effort": "low"} and front["text"] == {"verbosity": "low"}
    ask = compile_live_backend(doc, "back", "ask")
    assert [t["name"] for t in ask["tools"]] == ["transfer_to_front", "transition_state"]
    assert "# Current state: `ask`" in ask["instructions"]
    with pytest.raises(CompileError, match="no state 'nope'"):
        compile_live_backend(doc, "back", "nope")


def test_a_handoff_appends_rules_and_with_responses_delegation_swaps_the_backend(tmp_path: Path) -> None:
    doc = _doc(tmp_path)
    [append] = compile_live_handoff(doc, "back")
    assert append["type"] == "session.instructions.append" and append["delegation_id"] is None
    assert 'You might say: "What can I do for you at Acme?"' in append["content"]
    doc.spec.live.delegation = "responses"
    append, update = compile_live_handoff(doc, "back", "done")
    assert "- Say goodbye." in append["content"]
    assert update["session"]["delegation"]["type"] == "responses"
    assert update["session"]["delegation"]["responses"] == compile_live_backend(doc, "back", "done")
    start = compile_live_start(doc)["session"]["delegation"]
    assert start["responses"] == compile_live_backend(doc, "front")
    assert check_payload(update, "live") == [] and check_payload(compile_live_start(doc), "live") == []


def test_compile_for_api(tmp_path: Path) -> None:
    doc = _doc(tmp_path)
    assert compile_for_api(doc)["type"] == "session.start"  # the graph's own api
    assert compile_for_api(doc, "live", agent="back", state="done") == compile_live_backend(doc, "back", "done")
    assert set(compile_for_api(doc, "live", all=True)) == {"session.start", "front", "back", "back/ask", "back/done"}
    assert compile_for_api(doc, "realtime", agent="back") == compile_session(doc, "back")
    assert set(compile_for_api(doc, "realtime", all=True)) == {"front", "back", "back/ask", "back/done"}
    with pytest.raises(CompileError, match="unknown API 'sip'"):
        compile_for_api(doc, "sip")


def _codes(path: Path) -> list[tuple[str, int]]:
    return [(f.code, f.line) for f in validate_file(path).findings]


def test_validate_reports_what_live_cannot_do(tmp_path: Path) -> None:
    text = GRAPH.replace(
        "      audio: {input: {format: g711_ulaw}, output: {voice: cedar}}\n",
        "      audio:\n"
        "        input: {format: g711_ulaw, transcription: {model: gpt-transcribe}, turn_detection: {type: semantic_vad}}\n"
        "        output: {voice: cedar}\n"
        "      truncation: disabled\n",
    ).replace("        instructions: Help.\n", "        instructions: Help.\n        voice: ash\n")
    _doc(tmp_path, text)
    found = _codes(tmp_path / "g.yaml")
    lines = textwrap.dedent(text).splitlines()
    line = {
        key: next(i for i, row in enumerate(lines, 1) if key in row)
        for key in ("transcription", "truncation", "voice: ash")
    }
    assert ("W710", line["transcription"]) in found and ("W710", line["truncation"]) in found
    assert ("W710", line["voice: ash"]) in found
    assert len([c for c, _ in found if c == "W710"]) == 4  # turn detection on the transcription's line
    # The same graph on Realtime: none of these.
    _doc(tmp_path, text.replace("api: live", "api: realtime"))
    assert not [c for c, _ in _codes(tmp_path / "g.yaml") if c == "W710"]
    # --api live on a Realtime graph: the same findings, from one call.
    realtime = _doc(tmp_path, text.replace("api: live", "api: realtime"))
    assert sorted((f.code, f.line) for f in live_api_findings(realtime) if f.code == "W710") == sorted(
        x for x in found if x[0] == "W710"
    )


def test_appended_rules_over_500_tokens_are_an_error(tmp_path: Path) -> None:
    long = " ".join(["Ask about the weather, the order, the delivery and the warranty."] * 40)
    text = GRAPH.replace("description: Ask what they need.", f"description: {long}")
    _doc(tmp_path, text)
    [finding] = validate_file(tmp_path / "g.yaml").errors
    assert finding.code == "E711" and "agent 'back' in state 'ask'" in finding.message and "500" in finding.message
    assert finding.line == next(
        i for i, row in enumerate(textwrap.dedent(text).splitlines(), 1) if row.strip() == "ask:"
    )


def test_responses_delegation_limits(tmp_path: Path) -> None:
    text = (
        GRAPH.replace("acknowledgement_delay_ms: 300,", "delegation: responses,")
        .replace("{to: done, when: they said}", "{to: done, when: they said, guard: context.company}")
        .replace("tools: [lookup]\n", "tools: [lookup, decide]\n")
        + "      decide: {escalate: {model: gpt-5.5, output: {type: object, properties: {ok: {type: boolean}}}}}\n"
    )
    _doc(tmp_path, text)
    errors = [(f.code, f.message.split(",")[0]) for f in validate_file(tmp_path / "g.yaml").errors]
    assert [c for c, _ in errors] == ["E712", "E712"]
    assert any("structured output" in f.message for f in validate_file(tmp_path / "g.yaml").errors)
    _doc(tmp_path, text.replace("delegation: responses,", ""))
    assert validate_file(tmp_path / "g.yaml").errors == []


def test_live_models_have_a_lifecycle_too(tmp_path: Path) -> None:
    _doc(tmp_path, GRAPH.replace("live: {", "live: {model: gpt-live-2, "))
    [finding] = validate_file(tmp_path / "g.yaml").warnings
    assert finding.code == "W708" and "GPT-Live model 'gpt-live-2'" in finding.message
    assert "did you mean 'gpt-live-1'?" in finding.message or "did you mean 'gpt-live-1.1'?" in finding.message
