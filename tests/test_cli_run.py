"""`engine run` as a user runs it: the live terminal path pointed at a server with --url."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from conftest import GRAPHS

from engine import logs
from engine.cli.terminal import Printer
from engine.runtime import Session
from engine.runtime import events as ev
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


# --- approvals in the terminal ------------------------------------------------------------------------

DESK = """\
graph: desk
start: desk
agents:
  desk:
    instructions: You help with refunds.
    tools: [refund]
tools:
  refund:
    description: Refund an order.
    parameters: {type: object, properties: {order: {type: string}}, required: [order]}
    returns: {refunded: "{{ args.order }}"}
    needs_approval: true
demo:
  turns:
    - model: [{say: Hello.}]
    - user: refund order 7
      model: [{call: refund, args: {order: "7"}}, {say: Done.}]
    - user: thanks
      model: [{say: Bye.}]
"""

PROMPT = "Run refund? [y]es / [n]o / [a]lways / ne[v]er: "


def _run_live(graph: Path, url: str, typed: str, *args: str, key: str = "sk-test-key-0123456789"):
    env = {**os.environ, "OPENAI_API_KEY": key}
    command = [sys.executable, "-m", "engine.cli", "run", str(graph), "--url", url, *args]
    # The timeout only guards against a hang; nothing here depends on how long a run takes.
    return subprocess.run(command, input=typed, capture_output=True, text=True, env=env, timeout=60)


def _outputs(received: list[dict[str, Any]]) -> list[str]:
    return [
        e["item"]["output"]
        for e in received
        if e.get("type") == "conversation.item.create" and e["item"].get("type") == "function_call_output"
    ]


@pytest.fixture
def desk(write_graph) -> Path:
    return write_graph(DESK)


def test_the_end_of_input_denies_a_pending_approval_and_ends_the_run(desk: Path):
    with Simulator(load_graph(desk).spec.demo).start_in_thread() as sim:
        proc = _run_live(desk, sim.url, "refund order 7\n")
        received = list(sim.sim.received)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    # The request and its prompt each have their own line; the prompt line says how it ended.
    assert '  ? approval requested for refund({"order":"7"})' in lines
    assert f"{PROMPT}(end of input: denied)" in lines
    assert any(line.startswith("  ✗ refund → ") for line in lines)
    assert any("did not approve" in output for output in _outputs(received))


def test_a_piped_answer_goes_to_the_approval_prompt(desk: Path):
    with Simulator(load_graph(desk).spec.demo).start_in_thread() as sim:
        proc = _run_live(desk, sim.url, "refund order 7\ny\nthanks\n")
        received, mismatches = list(sim.sim.received), list(sim.sim.mismatches)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert f"{PROMPT}y" in lines
    assert '  ✓ refund → {"refunded": "7"}' in lines
    assert "[desk] assistant: Bye." in lines
    assert _outputs(received) == ['{"refunded": "7"}'] and mismatches == []


@pytest.mark.parametrize(
    ("policy", "said"),
    [("auto", '  ✓ auto-approved refund({"order":"7"})'), ("deny", '  ✗ refund({"order":"7"}) denied by policy')],
)
def test_an_unattended_policy_says_what_it_decided(desk: Path, policy: str, said: str):
    with Simulator(load_graph(desk).spec.demo).start_in_thread() as sim:
        proc = _run_live(desk, sim.url, "refund order 7\nthanks\n", "--approve", policy)
    assert proc.returncode == 0, proc.stderr
    assert said in proc.stdout.splitlines()
    assert "approval requested" not in proc.stdout and "Run refund?" not in proc.stdout


def test_an_empty_line_ends_the_session_in_a_terminal(desk: Path):
    pty = pytest.importorskip("pty")
    master, slave = pty.openpty()
    env = {**os.environ, "OPENAI_API_KEY": "sk-test-key-0123456789"}
    with Simulator(load_graph(desk).spec.demo).start_in_thread() as sim:
        command = [sys.executable, "-m", "engine.cli", "run", str(desk), "--url", sim.url]
        proc = subprocess.Popen(command, stdin=slave, stdout=slave, stderr=slave, env=env)
        os.close(slave)
        screen = _Screen(master)
        try:
            os.write(master, b"\n")  # typed ahead: read once the greeting's turn is over
            # Exiting at all is the point: the stdin reader must not keep the process alive.
            assert proc.wait(timeout=30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            screen.close()
    assert "[desk] assistant: Hello." in screen.text()


class _Screen:
    """What a process writes to its terminal, drained by a thread so the process never blocks on it."""

    def __init__(self, master: int) -> None:
        self._master = master
        self._chunks: list[bytes] = []
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        while True:
            try:
                chunk = os.read(self._master, 4096)
            except OSError:  # the other end closed
                return
            if not chunk:
                return
            self._chunks.append(chunk)

    def close(self) -> None:
        self._thread.join(timeout=10)
        os.close(self._master)

    def text(self) -> str:
        return b"".join(self._chunks).decode(errors="replace").replace("\r\n", "\n")


# --- connection failures ------------------------------------------------------------------------------


def test_a_rejected_key_is_one_clear_line_and_never_shown(desk: Path):
    key = "sk-wrong-key-0123456789"
    with Simulator(load_graph(desk).spec.demo, require_key="sk-right-key-0000000000").start_in_thread() as sim:
        proc = _run_live(desk, sim.url, "hello\n", key=key)
    assert proc.returncode == 1
    assert proc.stdout == ""  # "Connected" only once connected
    expected = (
        f"engine: cannot connect to {sim.url}: the server rejected the connection with HTTP 401 (check OPENAI_API_KEY)"
    )
    assert proc.stderr.splitlines() == [expected]
    assert key not in proc.stderr


def test_a_refused_connection_is_one_clear_line(desk: Path):
    with socket.socket() as probe:  # a port nothing listens on: bound, then released
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"ws://127.0.0.1:{port}/v1/realtime"
    proc = _run_live(desk, url, "hello\n")
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.splitlines() == [f"engine: cannot connect to {url}: connection refused (is the server running?)"]


# --- logging ------------------------------------------------------------------------------------------

CRASH = """\
graph: crash
start: desk
agents:
  desk:
    instructions: You help.
    tools: [boom]
tools:
  boom:
    description: Fail.
    parameters: {type: object, properties: {text: {type: string}}, required: [text]}
    run: desk_tools:boom
demo:
  turns:
    - user: check the warehouse
      model: [{call: boom, args: {text: aisle 4}}, {say: Sorry about that.}]
"""

DESK_TOOLS = """\
def boom(text: str) -> dict:
    raise RuntimeError(f"the warehouse is on fire: {text}")
"""


@pytest.fixture
def engine_logger():
    """The `engine` logger, restored after the test (configure() changes it for the whole process)."""
    logger = logging.getLogger("engine")
    handlers, level = list(logger.handlers), logger.level
    yield logger
    logger.handlers[:] = handlers
    logger.setLevel(level)


def test_a_crashing_tool_is_one_log_line_without_a_traceback(write_graph):
    graph = write_graph(CRASH, **{"desk_tools.py": DESK_TOOLS})
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", logs.DEBUG_ENV)}
    proc = subprocess.run(
        [sys.executable, "-m", "engine.cli", "run", str(graph)], capture_output=True, text=True, env=env, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "tool boom raised RuntimeError: the warehouse is on fire: aisle 4" in proc.stderr
    assert "✗ boom →" in proc.stdout


def test_the_bundled_conversation_tests_log_no_crash():
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", logs.DEBUG_ENV)}
    proc = subprocess.run(
        [sys.executable, "-m", "engine.cli", "test", str(GRAPHS / "retail.yaml")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stderr == ""  # the expected verification mismatch is a ToolError: no crash, no log


def _raise(message: str) -> None:
    try:
        raise ValueError(message)
    except ValueError:
        logging.getLogger("engine.tools").warning("tool crash raised", exc_info=True)


def test_a_log_record_is_one_line_and_its_traceback_is_for_debugging(engine_logger, capsys):
    logs.configure(debug=False)
    logs.configure(debug=False)  # configuring again replaces, never doubles the lines
    _raise("order 42\nis missing")
    logging.getLogger("engine.tools").debug("not shown")
    assert capsys.readouterr().err == "engine: warning: tool crash raised (ValueError: order 42 is missing)\n"

    logs.configure(debug=True)
    _raise("order 42")
    logging.getLogger("engine.tools").debug("shown")
    err = capsys.readouterr().err
    assert err.startswith("engine: warning: tool crash raised\nTraceback (most recent call last):\n")
    assert err.endswith("ValueError: order 42\nengine: debug: shown\n")


async def test_a_log_record_never_lands_inside_a_streamed_reply(write_graph, engine_logger):
    logs.configure(debug=False)
    session = Session(load_graph(write_graph()), url="ws://127.0.0.1:9/v1/realtime", api_key="sk-unused")
    screen = io.StringIO()  # standard output and standard error on one terminal
    printer = Printer(session, screen)
    with contextlib.redirect_stderr(screen), logs.line_breaker(printer.end_line):
        printer.show(ev.TranscriptDelta("assistant", "item_1", "Our boards"))
        logging.getLogger("engine.guardrails").warning("guardrail g: the classifier failed; not tripping")
        printer.show(ev.TranscriptDelta("assistant", "item_1", " are on sale."))
        printer.show(ev.TranscriptDelta("assistant", "item_1", "", done=True))
    assert screen.getvalue().splitlines() == [
        "[greeter] assistant: Our boards",
        "engine: warning: guardrail g: the classifier failed; not tripping",
        "[greeter] assistant:  are on sale.",
    ]
