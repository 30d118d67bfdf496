from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

# Helper modules whose asserts read as well as a test's (imported by tests before pytest would see them).
pytest.register_assert_rewrite("browser")

ROOT = Path(__file__).resolve().parent.parent
GRAPHS = ROOT / "graphs"
BUNDLED = sorted(p for p in GRAPHS.glob("*.yaml") if not p.name.endswith(".tests.yaml"))
BUNDLED_TESTS = sorted(GRAPHS.glob("*.tests.yaml"))

#: A small valid graph the tests mutate: two agents, a python tool, a static tool, a guardrail.
MINI = """\
graph: mini
start: greeter
context:
  company: Acme
agents:
  greeter:
    description: Greets the caller.
    instructions: |
      You greet callers for {{ company }}.
    tools: [lookup]
    handoffs: [helper]
  helper:
    description: Helps with anything.
    instructions: Help the caller of {{ context.company }}.
    tools: [echo]
    handoffs: [greeter]
tools:
  lookup:
    description: Look something up.
    parameters:
      type: object
      properties:
        query: {type: string}
      required: [query]
      additionalProperties: false
    run: mini_tools:lookup
  echo:
    description: Echo back.
    parameters: {type: object, properties: {text: {type: string}}, required: [text]}
    returns: "You said {{ args.text }}"
"""

MINI_TOOLS = """\
def lookup(query: str) -> dict:
    return {"query": query, "found": True}
"""


@pytest.fixture
def write_graph(tmp_path: Path) -> Callable[..., Path]:
    """Write a graph (and its tool module) into a temporary folder; returns the graph path."""

    def write(text: str = MINI, name: str = "graph.yaml", **files: str) -> Path:
        (tmp_path / "mini_tools.py").write_text(MINI_TOOLS)
        for filename, content in files.items():
            path = tmp_path / filename.replace("__", "/")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(content))
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return path

    return write


@pytest.fixture
def mini(write_graph: Callable[..., Path]) -> object:
    """MINI, loaded and validated."""
    from engine.validate import load_graph

    return load_graph(write_graph(MINI))
