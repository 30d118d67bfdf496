"""`engine run` as a user runs it: the live terminal path pointed at a server with --url."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import GRAPHS

from engine.sim import Simulator
from engine.validate import load_graph


def test_live_terminal_conversation_against_a_url():
    doc = load_graph(GRAPHS / "simple_handoff.yaml")
    assert doc.spec.demo is not None
    user_lines = [t.user for t in doc.spec.demo.turns if t.user]
    with Simulator(doc.spec.demo).start_in_thread() as sim:
        env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
        proc = subprocess.run(
            [sys.executable, "-m", "engine.cli", "run", str(GRAPHS / "simple_handoff.yaml"), "--url", sim.url],
            input="\n".join(user_lines) + "\n",
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        mismatches = list(sim.sim.mismatches)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"Connected to {sim.url}")
    assert "[greeter] assistant: Hi there!" in proc.stdout
    assert "handoff: greeter → haiku_writer" in proc.stdout
    assert "[haiku_writer] assistant: Soft flakes on the pines" in proc.stdout
    assert mismatches == []
