"""Failures say what is true (issue 12 item 3): the script's fault is the script's, each problem once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

OFF_SCRIPT = """\
graph: esc
start: desk
agents:
  desk:
    instructions: You help.
    tools: [check]
tools:
  check:
    description: Ask the supervisor.
    parameters: {type: object, properties: {q: {type: string}}, required: [q]}
    escalate:
      model: gpt-4.1
      instructions: Decide.
      output: {type: object, properties: {ok: {type: boolean}}, required: [ok], additionalProperties: false}
  other:
    description: Not offered to the desk.
    returns: nope
demo:
  turns:
    - user: is it ok
      model:
        - call: check
          args: {q: ok?}
          supervisor:
            - answer: {ok: "yes"}
        - say: Done.
    - user: and the other
      model:
        - call: other
        - say: Hmm.
"""

SCHEMA_PROBLEM = (
    "The scripted supervisor answer does not match the request's json_schema at ok: 'yes' is not of type 'boolean'"
)
UNOFFERED = "The script calls tool 'other', which the current session does not offer (offered tools: check)"


def _engine(*args: str, key: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "ENGINE_DEBUG")}
    if key is not None:
        env["OPENAI_API_KEY"] = key
    return subprocess.run(
        [sys.executable, "-m", "engine.cli", *args], capture_output=True, text=True, env=env, timeout=120
    )


@pytest.fixture
def off_script(tmp_path: Path) -> Path:
    path = tmp_path / "esc.yaml"
    path.write_text(OFF_SCRIPT)
    return path


def test_run_reports_each_problem_once_in_words_as_the_scripts_fault(off_script: Path):
    """Validation now sees both problems before anything runs: each is one located line, in words."""
    proc = _engine("run", str(off_script))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1
    assert "ScriptError(" not in out and "Mismatch(" not in out and "Traceback" not in out
    assert "could not be reached" not in out and "BadRequestError" not in out
    lines = [line.split(str(off_script.name), 1)[-1] for line in out.splitlines() if "error E" in line]
    assert lines == [
        ":25:23: error E503: the answer does not match the output schema of escalation 'check':"
        " 'yes' is not of type 'boolean' (at ['ok'])",
        ":29:17: error E308: agent 'desk' is not offered tool 'other' (offered: check):"
        " add it to agent 'desk''s tools, or call another",
    ]


@pytest.fixture
def on_script(tmp_path: Path) -> Path:
    path = tmp_path / "esc.yaml"
    path.write_text(
        OFF_SCRIPT.replace('answer: {ok: "yes"}', "answer: {ok: true}").split("    - user: and the other")[0]
    )
    return path


def test_run_simulate_with_a_key_says_why_it_simulates(on_script: Path):
    with_key = _engine("run", "--simulate", str(on_script), key="sk-test-key-0123456789")
    assert with_key.stdout.splitlines()[0] == (
        "Replaying the demo conversation of 'esc' on the built-in simulator (--simulate)."
    )
    assert "OPENAI_API_KEY" not in with_key.stdout
    without = _engine("run", str(on_script))
    assert without.returncode == 0, without.stderr
    assert without.stdout.splitlines()[0].endswith("on the built-in simulator (no OPENAI_API_KEY).")


def test_run_simulate_takes_no_url(off_script: Path):
    proc = _engine("run", "--simulate", "--url", "ws://127.0.0.1:9/v1/realtime", str(off_script))
    assert proc.returncode == 2 and "takes no --url" in proc.stderr


def test_a_test_blames_the_script_not_the_connection(tmp_path: Path):
    (tmp_path / "esc.yaml").write_text(OFF_SCRIPT.split("demo:")[0])
    (tmp_path / "esc.tests.yaml").write_text(
        "tests:\n  - name: off schema\n    turns:\n"
        "      - user: is it ok\n        model:\n          - call: check\n            args: {q: ok?}\n"
        "            supervisor:\n              - answer: {ok: 'yes'}\n          - say: Done.\n"
    )
    proc = _engine("test", str(tmp_path / "esc.yaml"))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1
    assert "could not be reached" not in out and "BadRequestError" not in out and "Traceback" not in out
    assert "error E503: the answer does not match the output schema of escalation 'check'" in out
