"""`--watch` on validate, test and graph: each save runs the command again, with a one-line status."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

LIFETIME = 90.0  # seconds: the watcher is stopped by then whatever happens


class _Watcher:
    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def next_status(self, timeout: float = 60.0) -> str:
        """The next status line (the lines before it are kept in `seen`)."""
        deadline = time.monotonic() + timeout
        while True:
            line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            self.seen.append(line)
            if "watching" in line and "Ctrl-C stops" in line:
                return line


@contextmanager
def watching(*args: str) -> Iterator[_Watcher]:
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "engine.cli", *args, "--watch"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    timer = threading.Timer(LIFETIME, proc.kill)
    timer.start()
    try:
        yield _Watcher(proc)
    finally:
        timer.cancel()
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _save(path: Path, text: str) -> None:
    before = path.stat().st_mtime_ns
    path.write_text(text)
    if path.stat().st_mtime_ns == before:  # a coarse clock: make the change visible
        os.utime(path, ns=(before + 1_000_000, before + 1_000_000))


def test_validate_runs_again_on_each_save(write_graph):
    graph = write_graph()
    good = graph.read_text()
    with watching("validate", str(graph)) as watch:
        first = watch.next_status()
        assert "engine validate: ok in " in first and "Ctrl-C stops" in first
        _save(graph, good.replace("start: greeter", "start: greter"))
        assert "engine validate: failed (exit 1)" in watch.next_status()
        assert any("did you mean 'greeter'" in line for line in watch.seen)
        _save(graph.parent / "mini_tools.py", "def lookup(query: str) -> dict:\n    return {}\n")  # a tool module
        assert "engine validate: failed (exit 1)" in watch.next_status()
        _save(graph, good)
        assert "engine validate: ok in " in watch.next_status()
        watch.proc.send_signal(signal.SIGINT)
        assert watch.proc.wait(timeout=10) == 0  # Ctrl-C ends a watch normally


def test_test_runs_again_on_each_save(write_graph):
    graph = write_graph(
        """\
        graph: tiny
        start: desk
        agents:
          desk: {instructions: You help.}
        """
    )
    tests = graph.with_name("graph.tests.yaml")
    passing = "tests:\n  - name: hello\n    turns:\n      - user: Hi\n        model: [{say: Hello.}]\n        expect: {says: Hello}\n"
    tests.write_text(passing)
    with watching("test", str(graph)) as watch:
        assert "engine test: ok in " in watch.next_status()
        _save(tests, passing.replace("expect: {says: Hello}", "expect: {says: Goodbye}"))
        assert "engine test: failed (exit 1)" in watch.next_status()
        assert any("FAIL hello" in line for line in watch.seen)


@pytest.mark.parametrize("fmt", ["mermaid"])
def test_graph_redraws_on_each_save(write_graph, tmp_path: Path, fmt: str):
    graph = write_graph()
    out = tmp_path / "graph.mmd"
    with watching("graph", str(graph), "--format", fmt, "-o", str(out)) as watch:
        assert "engine graph: ok in " in watch.next_status()
        assert "helper" in out.read_text()
        _save(graph, graph.read_text().replace("helper", "assistant"))
        assert "engine graph: ok in " in watch.next_status()
        assert "assistant" in out.read_text() and "helper" not in out.read_text()
