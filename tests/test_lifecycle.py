"""Model lifecycle: what the installed openai package says is current, shutting down or shut down."""

from __future__ import annotations

import datetime
import shutil
import typing
from pathlib import Path

import pytest
from conftest import BUNDLED, GRAPHS, MINI

from engine.cli import main
from engine.graph import lint_models
from engine.protocol import lifecycle
from engine.spec import load_document
from engine.spec.models import GraphSpec, Transcription
from engine.validate import validate_file

TODAY = datetime.date(2026, 12, 1)
ESCALATION_LINE = "      model: gpt-5.5\n"


@pytest.fixture
def graphs(tmp_path: Path) -> Path:
    """A copy of the bundled graphs folder (prompts and tool modules included)."""
    return Path(shutil.copytree(GRAPHS, tmp_path / "graphs"))


def _literal(annotation: object) -> set[str]:
    out: set[str] = set()
    for arg in typing.get_args(annotation):
        if typing.get_origin(arg) is typing.Literal:
            out.update(typing.get_args(arg))
        else:
            out |= _literal(arg)
    return out


def test_listings_are_the_openai_types_own_literals() -> None:
    from openai.types.live import SessionConfig
    from openai.types.realtime import AudioTranscription, RealtimeSessionCreateRequest
    from openai.types.shared import ChatModel, ResponsesModel

    assert set(lifecycle.listings("realtime")) == _literal(
        RealtimeSessionCreateRequest.model_fields["model"].annotation
    )
    assert set(lifecycle.listings("live")) == _literal(SessionConfig.model_fields["model"].annotation)
    assert set(lifecycle.listings("transcription")) == _literal(AudioTranscription.model_fields["model"].annotation)
    assert set(lifecycle.listings("text")) == set(typing.get_args(ChatModel)) | _literal(ResponsesModel)


@pytest.mark.parametrize(
    ("name", "kind", "state", "shutdown"),
    [
        ("o4-mini", "text", "shut_down", "2026-10-23"),
        ("gpt-4.1", "text", "deprecated", "2027-01-14"),
        ("gpt-4o-mini", "text", "deprecated", "2027-01-14"),
        ("gpt-realtime", "realtime", "deprecated", "2027-01-20"),
        ("gpt-4o-mini-transcribe", "transcription", "deprecated", "2027-02-26"),
        ("gpt-5.1-mini", "text", "unsupported", None),
        ("gpt-live-1.1", "live", "current", None),
        ("gpt-realtime-2.1", "realtime", "current", None),
        ("gpt-realtme", "realtime", "unknown", None),
    ],
)
def test_status_from_the_package_docstrings(name: str, kind: str, state: str, shutdown: str | None) -> None:
    status = lifecycle.model_status(name, kind, TODAY)  # type: ignore[arg-type]
    assert status.state == state
    assert status.shutdown == (datetime.date.fromisoformat(shutdown) if shutdown else None)


def test_days_left_and_the_day_of_shutdown() -> None:
    assert lifecycle.model_status("gpt-realtime", "realtime", TODAY).days_left == 50
    assert lifecycle.model_status("gpt-realtime", "realtime", datetime.date(2027, 1, 20)).state == "shut_down"
    assert lifecycle.model_status("gpt-realtime", "realtime", datetime.date(2027, 1, 19)).days_left == 1
    assert lifecycle.model_status("gpt-5.5", "realtime").other_kinds == ("text",)


def test_defaults_are_current_models() -> None:
    assert lifecycle.model_status(Transcription().model, "transcription").state == "current"
    default = GraphSpec.model_fields["model"].default
    assert lifecycle.model_status(default, "realtime").state == "current"


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.stem)
def test_no_bundled_graph_names_a_model_that_is_going(path: Path) -> None:
    doc = load_document(path)
    assert lint_models(doc, today=TODAY) == []
    assert lint_models(doc) == []


def test_a_shut_down_escalation_model_fails_validate_on_its_line(graphs: Path, capsys) -> None:
    path = graphs / "retail.yaml"
    text = path.read_text()
    assert text.count(ESCALATION_LINE) == 1
    path.write_text(text.replace(ESCALATION_LINE, "      model: o4-mini\n"))
    line = text[: text.index(ESCALATION_LINE)].count("\n") + 1
    [finding] = validate_file(path).errors
    assert (finding.code, finding.line, finding.col) == ("E706", line, 14)
    assert "o4-mini" in finding.message and "2026-10-23" in finding.message
    assert main(["validate", str(path)]) == 1
    assert (
        f"retail.yaml:{line}:14: error E706: text model 'o4-mini' was shut down on 2026-10-23"
        in capsys.readouterr().out
    )


def test_an_announced_shutdown_warns_with_the_date_and_fails_strict(graphs: Path, capsys) -> None:
    path = graphs / "simple_handoff.yaml"
    path.write_text(path.read_text().replace("model: gpt-realtime-2.1\n", "model: gpt-realtime\n"))
    [finding] = lint_models(load_document(path), today=TODAY)
    assert (finding.code, finding.line) == ("W707", 4)
    assert "2027-01-20 (50 days left)" in finding.message
    if datetime.datetime.now(datetime.UTC).date() < datetime.date(2027, 1, 20):
        assert main(["validate", str(path)]) == 0
        assert "warning W707: realtime model 'gpt-realtime' shuts down on 2027-01-20" in capsys.readouterr().out
    assert main(["validate", "--strict", str(path)]) == 1


def _graph(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "g.yaml"
    path.write_text(text)
    return path


def test_unknown_names_get_did_you_mean_except_for_deployments(tmp_path: Path) -> None:
    text = "model: gpt-realtme-2.1\n" + MINI
    doc = load_document(_graph(tmp_path, text))
    [finding] = lint_models(doc, today=TODAY)
    assert finding.code == "W708" and "did you mean 'gpt-realtime-2.1'?" in finding.message and finding.line == 1
    assert lint_models(doc, provider="azure", today=TODAY) == []
    doc = load_document(_graph(tmp_path, "provider: custom\n" + text))
    assert lint_models(doc, today=TODAY) == []
    # A deployment named like a shut-down model may still run: OpenAI's date is a warning there.
    escalating = MINI + "  ask:\n    escalate: {model: o4-mini}\n"
    assert [f.code for f in lint_models(load_document(_graph(tmp_path, escalating)), today=TODAY)] == ["E706"]
    [finding] = lint_models(load_document(_graph(tmp_path, "provider: azure\n" + escalating)), today=TODAY)
    assert finding.code == "W707" and "2026-10-23" in finding.message and "azure deployment" in finding.message
    doc = load_document(_graph(tmp_path, "model: gpt-5.5\n" + MINI))
    [finding] = lint_models(doc, today=TODAY)
    assert "'gpt-5.5' is a text model, not a realtime one" in finding.message


def test_every_kind_of_model_is_located(tmp_path: Path) -> None:
    text = (
        MINI.replace("agents:\n", "session: {audio: {input: {transcription: {model: whisper-1}}}}\nagents:\n", 1)
        + "  ask:\n    escalate: {model: o3}\n"
    )
    doc = load_document(_graph(tmp_path, text))
    found = {(f.code, f.message.split("'")[1]) for f in lint_models(doc, today=TODAY)}
    assert ("W707", "whisper-1") in found and ("W707", "o3") in found
