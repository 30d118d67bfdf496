"""Finding conversation tests: in a graph's `tests:` and in a sibling `<graph>.tests.yaml`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..spec import Document, load_yaml
from ..spec.script import ConversationTest
from ..validate import is_tests_file, load_graph, load_tests_file, tests_file_graph


@dataclass(slots=True)
class Suite:
    """The tests of one graph, each with the document its locations refer to."""

    graph: Document
    tests: list[tuple[ConversationTest, Document]]


def collect(path: str | Path) -> Suite:
    """The suite for a graph file or a `*.tests.yaml` file; raise `SpecError` with located findings."""
    path = Path(path)
    if is_tests_file(path):
        graph_path, raw = tests_file_graph(path)
        graph = load_graph(graph_path)
        return Suite(graph, load_tests_file(graph, path, raw))
    graph = load_graph(path)
    tests = [(test, graph) for test in graph.spec.tests]
    sibling = graph.path.with_name(f"{graph.path.stem}.tests.yaml")
    if sibling.is_file():
        tests += load_tests_file(graph, sibling, load_yaml(sibling))
    return Suite(graph, tests)
