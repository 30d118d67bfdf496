"""`engine init NAME`: the project it creates passes `validate --strict` and `test` as generated."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def _engine(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    return subprocess.run(
        [sys.executable, "-m", "engine.cli", *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=180
    )


def test_a_new_project_validates_strictly_and_its_tests_pass(tmp_path: Path):
    created = _engine("init", "shop", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    project = tmp_path / "shop"
    assert sorted(p.relative_to(project).as_posix() for p in project.rglob("*") if p.is_file()) == [
        "desk_tools.py",
        "graph.schema.json",
        "graph.tests.yaml",
        "graph.yaml",
        "prompts/front_desk.md.j2",
    ]
    yamls = sorted(str(p.relative_to(tmp_path)) for p in project.glob("*.yaml"))  # what the shell makes of shop/*.yaml
    validated = _engine("validate", "--strict", *yamls, cwd=tmp_path)
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert validated.stderr.strip() == "2 files checked: 0 error(s), 0 warning(s)"
    tested = _engine("test", *yamls, cwd=tmp_path)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert tested.stdout.splitlines()[-1] == "3 passed, 0 failed"
    ran = _engine("run", "shop/graph.yaml", cwd=tmp_path)  # the demo replays on the simulator, on script
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "handoff: front_desk → orders" in ran.stdout
    assert json.loads((project / "graph.schema.json").read_text())["type"] == "object"
    assert "graph: shop\n" in (project / "graph.yaml").read_text()


def test_init_never_overwrites(tmp_path: Path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    proc = _engine("init", "taken", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr == "engine: taken already exists and is not an empty folder; choose another NAME\n"
    assert [p.name for p in (tmp_path / "taken").iterdir()] == ["notes.txt"]
