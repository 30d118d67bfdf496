"""Files a graph names are confined to its folder (or the `root:` it declares): no secrets, devices or pipes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import MINI

from engine.validate import validate_file

INLINE = "    instructions: |\n      You greet callers for {{ company }}.\n"


def _graph(tmp_path: Path, greeter: str, *, top: str = "", folder: str = "g") -> Path:
    """MINI with the greeter's instructions replaced by `greeter`, written into `tmp_path/folder/`."""
    assert INLINE in MINI
    where = tmp_path / folder
    where.mkdir(parents=True, exist_ok=True)
    (where / "mini_tools.py").write_text("def lookup(query: str) -> dict:\n    return {}\n")
    path = where / "graph.yaml"
    path.write_text(top + MINI.replace(INLINE, greeter))
    return path


def _only(path: Path) -> tuple[str, int, int, str]:
    [finding] = validate_file(path).findings
    return finding.code, finding.line, finding.col, finding.message


def test_including_the_process_environment_is_refused_and_compile_never_prints_it(tmp_path: Path):
    path = _graph(tmp_path, "    instructions: !include /proc/self/environ\n")
    code, line, col, message = _only(path)
    assert (code, line, col) == ("E106", 8, 19)
    assert "'/proc/self/environ' is outside" in message
    env = {**os.environ, "OPENAI_API_KEY": "sk-test-secret-value-123"}
    out = subprocess.run(
        [sys.executable, "-m", "engine.cli", "compile", str(path)], capture_output=True, text=True, env=env, timeout=60
    )
    assert out.returncode == 1
    assert "sk-test-secret-value-123" not in out.stdout + out.stderr
    assert "E106" in out.stderr


@pytest.mark.parametrize(
    ("greeter", "message"),
    [
        ("    instructions_file: ../../../../../../etc/passwd\n", "is outside"),
        ("    instructions_file: /etc/passwd\n", "is outside"),
        ("    instructions: !include ../secret.md\n", "is outside"),
        ("    instructions: !include /dev/zero\n", "is outside"),
    ],
)
def test_paths_out_of_the_folder_are_refused_where_written(tmp_path: Path, greeter: str, message: str):
    (tmp_path / "secret.md").write_text("the secret")
    code, line, col, text = _only(_graph(tmp_path, greeter))
    assert (code, line) == ("E106", 8) and col > 5 and message in text, text


def test_a_symlink_pointing_out_is_refused(tmp_path: Path):
    (tmp_path / "secret.md").write_text("the secret")
    (tmp_path / "g").mkdir()
    (tmp_path / "g" / "prompt.md").symlink_to(tmp_path / "secret.md")
    code, _, _, message = _only(_graph(tmp_path, "    instructions_file: prompt.md\n"))
    assert code == "E106" and "goes through a symlink (" in message and "pointing outside" in message
    code, _, _, message = _only(_graph(tmp_path, "    instructions: !include prompt.md\n"))
    assert code == "E106" and "symlink" in message


def test_a_symlink_inside_the_folder_is_fine(tmp_path: Path):
    (tmp_path / "g" / "prompts").mkdir(parents=True)
    (tmp_path / "g" / "prompts" / "real.md").write_text("Hello from {{ company }}.")
    (tmp_path / "g" / "prompt.md").symlink_to(tmp_path / "g" / "prompts" / "real.md")
    assert validate_file(_graph(tmp_path, "    instructions_file: prompt.md\n")).findings == []


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_is_refused_without_blocking(tmp_path: Path):
    (tmp_path / "g").mkdir()
    os.mkfifo(tmp_path / "g" / "pipe.md")
    code, _, _, message = _only(_graph(tmp_path, "    instructions_file: pipe.md\n"))
    assert code == "E106" and "is a FIFO (named pipe), not a regular file" in message
    code, _, _, message = _only(_graph(tmp_path, "    instructions: !include pipe.md\n"))
    assert code == "E106" and "FIFO" in message


def test_a_folder_is_not_an_instructions_file(tmp_path: Path):
    (tmp_path / "g" / "prompts").mkdir(parents=True)
    code, _, _, message = _only(_graph(tmp_path, "    instructions_file: prompts\n"))
    assert code == "E106" and "is a folder, not a regular file" in message


def test_a_declared_root_allows_a_parent_folder(tmp_path: Path):
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "greeter.md").write_text("You greet callers for {{ company }}.")
    (tmp_path / "shared" / "extra.yaml").write_text("Helps with anything.\n")
    greeter = "    instructions_file: ../shared/greeter.md\n    voice: !include ../shared/extra.yaml\n"
    path = _graph(tmp_path, greeter)
    assert {f.code for f in validate_file(path).findings} == {"E106"}
    path = _graph(tmp_path, greeter, top="root: ..\n")
    assert validate_file(path).findings == []


def test_includes_inside_included_files_stay_in_the_root(tmp_path: Path):
    (tmp_path / "secret.md").write_text("the secret")
    (tmp_path / "g" / "parts").mkdir(parents=True)
    (tmp_path / "g" / "parts" / "greeter.yaml").write_text("!include ../../secret.md\n")
    path = _graph(tmp_path, "    instructions: !include parts/greeter.yaml\n")
    [finding] = validate_file(path).findings
    assert finding.code == "E106" and finding.file.endswith("greeter.yaml") and (finding.line, finding.col) == (1, 1)


@pytest.mark.parametrize(
    ("root", "message"),
    [
        ("/", "is absolute"),
        ("../../../../../../../../../../..", "the filesystem's root"),
        ("sub", "does not contain the graph's folder"),
        ("''", "give a folder relative to the graph's folder"),
        ("[..]", "a folder path relative to the graph"),
    ],
)
def test_a_root_must_contain_the_graph_and_confine_something(tmp_path: Path, root: str, message: str):
    (tmp_path / "a" / "b" / "g" / "sub").mkdir(parents=True)
    path = _graph(tmp_path / "a" / "b", INLINE, top=f"root: {root}\n")
    code, line, col, text = _only(path)
    assert (code[:2], line, col) == ("E1" if code != "E202" else "E2", 1, 7) and message in text, text


def test_a_home_directory_root_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    path = _graph(tmp_path, INLINE, top="root: ..\n")
    code, _, _, message = _only(path)
    assert code == "E106" and "your home directory" in message


def test_an_oversized_file_is_refused(tmp_path: Path):
    (tmp_path / "g").mkdir()
    (tmp_path / "g" / "big.md").write_text("x" * (1024 * 1024 + 1))
    code, _, _, message = _only(_graph(tmp_path, "    instructions_file: big.md\n"))
    assert code == "E106" and "at most 1 MiB" in message
