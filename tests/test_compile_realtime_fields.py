"""First-class Realtime settings (no `extra`): reasoning, parallel tool calls, truncation, include,
transcription keywords / languages / delay — validated, compiled, and accepted by the openai types."""

from __future__ import annotations

import textwrap
import typing
from pathlib import Path

import pytest

from engine.compile import check_payload, compile_all, compile_session
from engine.graph import lint_sticky_settings, lint_transcription
from engine.spec import SpecError, load_document
from engine.spec.models import AudioInput, Reasoning, RetentionRatio, Session, TokenLimits, Transcription
from engine.validate import validate_file

GRAPH = """\
    graph: g
    model: gpt-realtime-2.1
    session:
      reasoning: {effort: low}
      parallel_tool_calls: false
      audio:
        input:
          transcription: {model: gpt-transcribe, languages: [en, de], keywords: [Snowy Peak, Peak Rewards]}
    start: a
    agents:
      a:
        instructions: A
        handoffs: [b]
        session:
          truncation: {type: retention_ratio, retention_ratio: 0.8, token_limits: {post_instructions: 8000}}
          include: [item.input_audio_transcription.logprobs]
      b:
        instructions: B
        handoffs: [a]
        session:
          reasoning: {effort: xhigh}
          audio: {input: {transcription: {model: gpt-realtime-whisper, delay: low, keywords: null, languages: null}}}
"""


def _doc(tmp_path: Path, text: str = GRAPH):
    path = tmp_path / "g.yaml"
    path.write_text(textwrap.dedent(text))
    return load_document(path)


def test_settings_are_compiled_in_the_api_s_own_names(tmp_path: Path) -> None:
    doc = _doc(tmp_path)
    a = compile_session(doc, "a")["session"]
    assert a["reasoning"] == {"effort": "low"} and a["parallel_tool_calls"] is False
    assert a["truncation"] == {
        "type": "retention_ratio",
        "retention_ratio": 0.8,
        "token_limits": {"post_instructions": 8000},
    }
    assert a["include"] == ["item.input_audio_transcription.logprobs"]
    assert a["audio"]["input"]["transcription"] == {
        "model": "gpt-transcribe",
        "languages": ["en", "de"],
        "keywords": ["Snowy Peak", "Peak Rewards"],
    }
    b = compile_session(doc, "b")["session"]
    assert b["reasoning"] == {"effort": "xhigh"}
    assert b["audio"]["input"]["transcription"] == {"model": "gpt-realtime-whisper", "delay": "low"}


def test_a_handoff_undoes_truncation_and_include_with_the_api_defaults(tmp_path: Path) -> None:
    b = compile_session(_doc(tmp_path), "b")["session"]
    assert b["truncation"] == "auto" and b["include"] == []
    # Nobody sets them: nobody sends them.
    plain = _doc(tmp_path, GRAPH.replace("truncation:", "#").replace("include:", "#"))
    assert "truncation" not in compile_session(plain, "b")["session"]
    assert "include" not in compile_session(plain, "a")["session"]


def test_every_payload_passes_the_strict_check(tmp_path: Path) -> None:
    for key, event in compile_all(_doc(tmp_path)).items():
        assert check_payload(event) == [], key
    doc = _doc(
        tmp_path,
        GRAPH.replace(
            "{type: retention_ratio, retention_ratio: 0.8, token_limits: {post_instructions: 8000}}", "disabled"
        ),
    )
    assert compile_session(doc, "a")["session"]["truncation"] == "disabled"
    assert check_payload(compile_session(doc, "a")) == []


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        ("effort: low", "effort: max", "effort"),
        ("retention_ratio: 0.8", "retention_ratio: 1.5", "retention_ratio"),
        ("post_instructions: 8000", "post_instructions: '8000'", "post_instructions"),
        ("include: [item.input_audio_transcription.logprobs]", "include: [logprobs]", "include"),
        ("delay: low", "delay: slow", "delay"),
        ("parallel_tool_calls: false", "parallel_tool_calls: maybe", "parallel_tool_calls"),
        ("keywords: [Snowy Peak, Peak Rewards]", "keywords: Snowy", "keywords"),
    ],
)
def test_bad_values_are_located_schema_errors(tmp_path: Path, old: str, new: str, where: str) -> None:
    assert old in GRAPH
    text = textwrap.dedent(GRAPH.replace(old, new))
    with pytest.raises(SpecError) as caught:
        _doc(tmp_path, text)
    [finding] = caught.value.findings
    line = next(i for i, row in enumerate(text.splitlines(), 1) if new.split(":")[0].strip() in row and new in row)
    assert finding.code == "E202" and finding.line == line, (finding, where)


def test_transcription_settings_the_model_does_not_take(tmp_path: Path) -> None:
    doc = _doc(tmp_path, GRAPH.replace("model: gpt-transcribe,", "model: gpt-realtime-whisper, prompt: skiing,"))
    found = {(f.code, f.message.split("'")[3], f.line) for f in lint_transcription(doc)}
    assert found == {("W709", "keywords", 8), ("W709", "languages", 8), ("W709", "prompt", 8)}
    assert lint_transcription(_doc(tmp_path)) == []
    codes = [f.code for f in validate_file(tmp_path / "g.yaml").findings]
    assert codes == []


def _literals(annotation: object) -> set[object]:
    out: set[object] = set()
    for arg in typing.get_args(annotation) or ():
        out |= set(typing.get_args(arg)) if typing.get_origin(arg) is typing.Literal else _literals(arg)
    return out


def test_the_spec_follows_the_openai_types() -> None:
    """Field names and allowed values are the API's: a new openai release that changes them fails here."""
    from openai.types.realtime import AudioTranscription, RealtimeSessionCreateRequest
    from openai.types.realtime.realtime_audio_config_input import RealtimeAudioConfigInput
    from openai.types.realtime.realtime_reasoning import RealtimeReasoning
    from openai.types.realtime.realtime_truncation_retention_ratio import (
        RealtimeTruncationRetentionRatio,
    )
    from openai.types.realtime.realtime_truncation_retention_ratio import (
        TokenLimits as T,
    )

    pairs = [
        (Session, RealtimeSessionCreateRequest, {"extra"}),
        (AudioInput, RealtimeAudioConfigInput, set()),
        (Transcription, AudioTranscription, set()),
        (Reasoning, RealtimeReasoning, set()),
        (RetentionRatio, RealtimeTruncationRetentionRatio, set()),
        (TokenLimits, T, set()),
    ]
    for ours, theirs, own in pairs:
        assert set(ours.model_fields) - own <= set(theirs.model_fields), ours.__name__
    for field in ("effort",):
        assert _literals(Reasoning.model_fields[field].annotation) == _literals(
            RealtimeReasoning.model_fields[field].annotation
        )
    assert _literals(Transcription.model_fields["delay"].annotation) == _literals(
        AudioTranscription.model_fields["delay"].annotation
    )
    ours_include = _literals(Session.model_fields["include"].annotation)
    assert ours_include == _literals(RealtimeSessionCreateRequest.model_fields["include"].annotation)
    assert {"auto", "disabled"} <= _literals(RealtimeSessionCreateRequest.model_fields["truncation"].annotation)


def test_settings_a_handoff_cannot_undo_are_flagged_where_they_would_stick(tmp_path: Path) -> None:
    text = GRAPH.replace("      reasoning: {effort: low}\n", "", 1)  # only agent b sets reasoning now
    doc = _doc(tmp_path, text)
    [finding] = lint_sticky_settings(doc)
    assert finding.code == "W713" and "agent 'a' sets no reasoning" in finding.message
    assert finding.line == next(i for i, row in enumerate(textwrap.dedent(text).splitlines(), 1) if row == "  a:")
    assert lint_sticky_settings(_doc(tmp_path)) == []  # set on the graph's session: uniform
