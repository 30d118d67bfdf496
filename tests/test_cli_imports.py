"""Fast commands: `engine validate` and `engine compile` import only what they use (issue 13).

Asserted on the set of modules a real `python -X importtime` run loads, never on timings (those
belong to the README's measured figures and to `bench/`).
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import GRAPHS

#: What neither command uses: the event loop, the session core, the client libraries, the graph's
#: networkx form and its drawings (validate lints the spec; it draws nothing).
NOT_FOR_VALIDATE = (
    "asyncio",
    "engine.runtime",
    "engine.sim",
    "engine.testing",
    "openai",
    "aiohttp",
    "websockets",
    "httpx",
    "networkx",
    "engine.graph._render",
)


def imported(*argv: str) -> set[str]:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "engine.cli", *argv], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return {
        line.rpartition("|")[2].strip()
        for line in proc.stderr.splitlines()
        if line.startswith("import time:") and "[us]" not in line
    }


def loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == n or m.startswith(n + ".") for n in names))


@pytest.mark.parametrize("command", ["validate", "compile"])
def test_validate_and_compile_import_no_event_loop_runtime_or_client(command: str, write_graph):
    graph = write_graph()  # with a python tool (its module imports nothing), a template, a handoff
    modules = imported(command, str(graph))
    assert "engine.tools.python" in modules and "engine.validate" in modules  # the run did check the callable
    assert loaded(modules, NOT_FOR_VALIDATE) == []


def test_validate_of_a_bundled_graph_imports_no_runtime_or_client():
    # retail's own tool module imports asyncio (its tools sleep): that is the graph's import, not ours.
    modules = imported("validate", str(GRAPHS / "retail.yaml"))
    assert loaded(modules, tuple(n for n in NOT_FOR_VALIDATE if n != "asyncio")) == []


def test_a_graph_without_tools_or_templates_is_validated_without_jsonschema_or_jinja2(write_graph):
    # jsonschema checks tool parameters and scripted arguments; a graph with neither never needs it.
    graph = write_graph(
        """
        graph: greeter
        start: host
        agents:
          host: {instructions: "Greet the caller.", handoffs: [helper]}
          helper: {instructions: "Help the caller."}
        """
    )
    modules = imported("validate", str(graph))
    assert "jsonschema" not in modules
    assert "jinja2" not in modules  # nor Jinja2 without a template: plain text renders as itself
    retail = imported("validate", str(GRAPHS / "retail.yaml"))  # a graph with tools and templates needs both
    assert "jsonschema" in retail and "jinja2" in retail


def test_the_version_imports_no_command():
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "engine.cli", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0 and proc.stdout.startswith("engine ")
    modules = {line.rpartition("|")[2].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert loaded(modules, ("engine.spec", "engine.cli.validate", "pydantic", "yaml", "asyncio")) == []
