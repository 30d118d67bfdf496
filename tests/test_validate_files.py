"""Validating several files: a graph's sibling tests file is checked too, and each finding is reported once."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import MINI

from engine.validate import validate_file, validate_files

TESTS = "tests:\n  - name: x\n    turns:\n      - user: hi\n        model: [{call: lookp, args: {query: a}}]\n"


def _write(write_graph, tmp_path: Path, graph: str = MINI, tests: str = TESTS) -> tuple[Path, Path]:
    path = write_graph(graph, name="mini.yaml")
    (tmp_path / "mini.tests.yaml").write_text(tests)
    return path, tmp_path / "mini.tests.yaml"


def test_a_graph_alone_checks_its_sibling_tests_file_and_says_so(write_graph, tmp_path: Path):
    graph, tests = _write(write_graph, tmp_path)
    run = validate_files([graph])
    assert [(f.code, f.file.endswith("mini.tests.yaml"), f.line) for f in run.findings] == [("E302", True, 5)]
    assert run.siblings == [tests]
    assert run.summary() == f"1 file checked (and the tests file beside it: {tests}): 1 error(s), 0 warning(s)"


def test_a_graph_and_its_tests_file_report_each_finding_once(write_graph, tmp_path: Path):
    broken = MINI.replace("handoffs: [helper]", "handoffs: [helpr]")
    graph, tests = _write(write_graph, tmp_path, broken)
    # Each file alone reports the graph's error (the tests file cannot be checked against a broken graph).
    assert [f.code for f in validate_file(graph).findings] == ["E301"]
    assert [f.code for f in validate_file(tests).findings] == ["E301"]
    for paths in ([graph, tests], [tests, graph], [graph]):
        run = validate_files(paths)
        assert [f.code for f in run.findings] == ["E301"], paths
    assert validate_files([graph, tests]).siblings == []
    assert validate_files([graph, tests]).summary() == "2 files checked: 1 error(s), 0 warning(s)"


def test_a_tests_file_for_another_graph_is_not_a_sibling(write_graph, tmp_path: Path):
    graph, _ = _write(write_graph, tmp_path, tests="graph: other.yaml\n" + TESTS)
    run = validate_files([graph])
    assert run.findings == [] and run.siblings == []
    assert run.summary() == "1 file checked: 0 error(s), 0 warning(s)"


def test_a_tests_file_without_its_graph_says_which_file_it_looked_for(tmp_path: Path):
    path = tmp_path / "lonely.tests.yaml"
    path.write_text("tests:\n  - name: x\n    turns: [{user: hi}]\n")
    [finding] = validate_file(path).findings
    assert finding.code == "E105" and "looked for " in finding.message
    assert f"{tmp_path / 'lonely.yaml'} (its name without `.tests`)" in finding.message
    path.write_text("graph: elsewhere/g.yaml\ntests:\n  - name: x\n    turns: [{user: hi}]\n")
    [finding] = validate_file(path).findings
    assert (finding.code, finding.line, finding.col) == ("E105", 1, 8) and "g.yaml (its `graph:`)" in finding.message


@pytest.mark.parametrize(
    ("graph", "message"),
    [
        ("/dev/zero", "graph '/dev/zero' is a device, not a regular file"),
        ("/proc/self/environ", "graph: '/proc/self/environ' is not a graph file (a .yaml or .yml file)"),
        ("notes.md", "graph: 'notes.md' is not a graph file"),
    ],
)
def test_the_graph_a_tests_file_names_is_a_graph_file(tmp_path: Path, graph: str, message: str):
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "notes.md").write_text("graph: x\n")
    path = tmp_path / "t" / "lonely.tests.yaml"
    path.write_text(f"graph: {graph}\ntests:\n  - name: x\n    turns: [{{user: hi}}]\n")
    [finding] = validate_file(path).findings
    assert (finding.code, finding.line, finding.col) == ("E106", 1, 8) and message in finding.message, finding


def test_a_tests_file_may_include_from_the_root_it_declares(tmp_path: Path, write_graph):
    write_graph(MINI, name="mini.yaml")
    (tmp_path / "t").mkdir()
    (tmp_path / "shared.yaml").write_text("[{user: hi, model: [{call: lookup, args: {query: a}}]}]\n")
    path = tmp_path / "t" / "mini.tests.yaml"
    text = "graph: ../mini.yaml\ntests:\n  - name: x\n    turns: !include ../shared.yaml\n"
    path.write_text(text)
    [finding] = validate_file(path).findings
    assert finding.code == "E106" and "is outside" in finding.message
    path.write_text("root: ..\n" + text)
    assert validate_file(path).findings == []
