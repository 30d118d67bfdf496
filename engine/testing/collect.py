"""Finding conversation tests: in a graph's `tests:` and in a sibling `<graph>.tests.yaml`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from ..spec import Document, Finding, SpecError, load_yaml
from ..spec.document import schema_findings
from ..spec.loader import Mapping
from ..spec.references import check_script
from ..spec.script import ConversationTest, ConversationTestFile
from ..validate import load_graph


@dataclass(slots=True)
class Suite:
    """The tests of one graph, each with the document its locations refer to."""

    graph: Document
    tests: list[tuple[ConversationTest, Document]]


def _tests_file_for(graph_path: Path) -> Path:
    return graph_path.with_name(f"{graph_path.stem}.tests.yaml")


def collect(path: str | Path) -> Suite:
    """The suite for a graph file or a `*.tests.yaml` file; raise `SpecError` with located findings."""
    path = Path(path)
    if path.name.endswith(".tests.yaml"):
        raw = load_yaml(path)
        graph_name = raw.get("graph") if isinstance(raw, Mapping) else None
        graph_path = path.parent / graph_name if graph_name else path.with_name(path.name.replace(".tests", ""))
        graph = load_graph(graph_path)
        return Suite(graph, _file_tests(graph, path, raw))
    graph = load_graph(path)
    tests = [(test, graph) for test in graph.spec.tests]
    sibling = _tests_file_for(graph.path)
    if sibling.is_file():
        tests += _file_tests(graph, sibling, load_yaml(sibling))
    return Suite(graph, tests)


def _file_tests(graph: Document, path: Path, raw: object) -> list[tuple[ConversationTest, Document]]:
    if not isinstance(raw, Mapping):
        raise SpecError([Finding("E202", "a tests file is a mapping with a `tests:` list", str(path), 1, 1)])
    try:
        parsed = ConversationTestFile.model_validate(raw)
    except ValidationError as exc:
        raise SpecError(schema_findings(raw, exc, ConversationTestFile)) from None
    # Locations in this file's findings point into it, names resolve against the graph.
    located = Document(graph.spec, raw, path.resolve())
    findings = [f for i, test in enumerate(parsed.tests) for f in check_script(located, test, ("tests", i))]
    if findings:
        raise SpecError(findings)
    return [(test, located) for test in parsed.tests]
