"""The terminal printer: it shows any event, whatever its fields hold, and never shows a secret."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import WSMsgType, web

from engine import logs
from engine.cli.terminal import Printer, SecretFilter
from engine.runtime import Session
from engine.runtime import events as ev
from engine.validate import load_graph

KEY = "sk-test-secret-key-0123456789abcdef"


@pytest.fixture
def session(write_graph) -> Session:
    return Session(load_graph(write_graph()), url="ws://127.0.0.1:9/v1/realtime", api_key="sk-unused")


class _Odd:
    def __str__(self) -> str:
        raise RuntimeError("no text for you")


ODD_EVENTS = [
    ev.TranscriptDelta("assistant", "item_1", 42),  # type: ignore[arg-type]  # a numeric delta: crashed the printer
    ev.TranscriptDelta("assistant", "item_1", None),  # type: ignore[arg-type]
    ev.TranscriptDelta("assistant", 7, {"text": "a dict"}),  # type: ignore[arg-type]
    ev.TranscriptDelta("assistant", "item_1", ["a", "list"], done="yes"),  # type: ignore[arg-type]
    ev.TranscriptDelta("user", "item_2", 3.5, done=True),  # type: ignore[arg-type]
    ev.TranscriptDelta(None, None, None),  # type: ignore[arg-type]
    ev.ToolStart("desk", None, "call_1", {"order": 7}),  # type: ignore[arg-type]
    ev.ToolEnd("desk", 5, "call_1", None, ok=None, steps="not a list"),  # type: ignore[arg-type]
    ev.ToolEnd("desk", "lookup", "call_1", b"bytes \xff", ok=True, steps=[1, None, {"call": 3, "args": [1]}]),  # type: ignore[arg-type]
    ev.ApprovalRequested("desk", ["t"], {"id": 1}, None),  # type: ignore[arg-type]
    ev.HandoffEvent(None, 12),  # type: ignore[arg-type]
    ev.StateChanged("desk", 1, 2),  # type: ignore[arg-type]
    ev.TransitionRefused("desk", "a", "b", _Odd()),  # type: ignore[arg-type]
    ev.GuardrailTripped("desk", None, {"c": 1}, float("nan"), ""),  # type: ignore[arg-type]
    ev.AudioInterrupted("item_1", "not a number"),  # type: ignore[arg-type]
    ev.Reconnecting(reason=None),  # type: ignore[arg-type]
    ev.Reconnected(attempt="x", restored_items=None),  # type: ignore[arg-type]
    ev.Error(message={"nested": [1, 2]}, code=404),  # type: ignore[arg-type]
    ev.Error(message=_Odd()),  # type: ignore[arg-type]
    ev.Overflow(dropped=3),
    "not an event",  # type: ignore[list-item]
    None,  # type: ignore[list-item]
    12,  # type: ignore[list-item]
]


def test_the_printer_survives_any_event_content(session: Session):
    screen = io.StringIO()
    printer = Printer(session, screen)
    for event in ODD_EVENTS:
        printer.show(event)
    printer.end_line()
    text = screen.getvalue()
    assert "[greeter] assistant: 42" in text
    assert "user: 3.5" in text
    assert '⚙ None({"order": 7})' not in text and '({"order": 7})' in text
    assert "! error 404: " in text and '"nested"' in text
    assert "handoff:  → 12" in text
    assert "the terminal fell behind: 3 events were not shown" in text


def test_an_event_that_cannot_be_shown_is_one_line_saying_so():
    class Vanishing:  # a session whose agent cannot be read: as bad as it gets for the printer
        @property
        def agent(self) -> str:
            raise RuntimeError("boom")

    screen = io.StringIO()
    printer = Printer(Vanishing(), screen)  # type: ignore[arg-type]
    printer.show(ev.TranscriptDelta("assistant", "item_1", "Hello"))
    printer.show(ev.TranscriptDelta("user", "item_2", "still here", done=True))
    assert screen.getvalue() == (
        "  ! an event the terminal cannot show (TranscriptDelta: RuntimeError)\nuser: still here\n"
    )


def test_a_secret_is_never_printed_whole_or_split_across_deltas(session: Session):
    screen = io.StringIO()
    printer = Printer(session, screen, secrets=[KEY])
    printer.show(ev.Error(f"Incorrect API key provided: {KEY}.", code="invalid_api_key"))
    printer.show(ev.ToolEnd("desk", "lookup", "c1", json.dumps({"token": KEY}), ok=True))
    for part in ("your key is sk-test-sec", "ret-key-0123", "456789abcdef, keep it", " safe"):
        printer.show(ev.TranscriptDelta("assistant", "item_9", part))
    printer.show(ev.TranscriptDelta("assistant", "item_9", "", done=True))
    printer.show(ev.TranscriptDelta("assistant", "item_10", "sk-test"))  # a key's start, and the stream ends
    printer.end_line()
    text = screen.getvalue()
    assert KEY not in text and KEY[:20] not in text
    assert "Incorrect API key provided: <redacted>." in text
    assert "[greeter] assistant: your key is <redacted>, keep it safe\n" in text
    assert text.endswith("[greeter] assistant: sk-test\n")  # held back, then written: it was no secret


def test_the_filter_passes_text_through_unchanged():
    out = io.StringIO()
    stream = SecretFilter(out, [KEY, "short"])  # too short to be replaced inside text
    stream.write("sk-")
    assert out.getvalue() == ""  # might be a key's start
    stream.write("but no: short words stay")
    stream.flush()
    assert out.getvalue() == "sk-but no: short words stay"
    stream.write(" and sk-")
    stream.release()
    assert out.getvalue() == "sk-but no: short words stay and sk-"


def test_log_lines_are_redacted(capsys):
    logger = logging.getLogger("engine")
    handlers, level = list(logger.handlers), logger.level
    try:
        from engine.redact import Redactor

        logs.configure(debug=False, redact=Redactor([KEY]))
        logging.getLogger("engine.tools").warning("the server said: bad key %s", KEY)
        assert capsys.readouterr().err == "engine: warning: the server said: bad key <redacted>\n"
    finally:
        logger.handlers[:] = handlers
        logger.setLevel(level)


# --- engine run against a server that quotes the key back ------------------------------------------


@pytest.fixture
def quoting_server() -> Iterator[str]:
    """A Realtime-like server that answers every response.create with an error quoting the bearer token."""

    async def handle(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        token = request.headers.get("Authorization", "")
        await ws.send_json({"type": "session.created", "event_id": "e0", "session": {}})
        async for msg in ws:
            if msg.type is not WSMsgType.TEXT:
                break
            event = json.loads(msg.data)
            if event.get("type") == "response.create":
                message = f"Incorrect API key provided: {token.removeprefix('Bearer ')} (header: {token})."
                error = {"type": "invalid_request_error", "code": "invalid_api_key", "message": message}
                await ws.send_json(
                    {"type": "error", "event_id": "e1", "error": {**error, "event_id": event["event_id"]}}
                )
        return ws

    loop = asyncio.new_event_loop()
    app = web.Application()
    app.router.add_get("/v1/realtime", handle)
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield f"ws://127.0.0.1:{port}/v1/realtime"
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def test_a_server_error_quoting_the_key_is_redacted_in_the_terminal(write_graph, quoting_server: str, tmp_path: Path):
    graph = write_graph()
    events = tmp_path / "events.jsonl"
    env = {**os.environ, "OPENAI_API_KEY": KEY}
    proc = subprocess.run(
        [sys.executable, "-m", "engine.cli", "run", str(graph), "--url", quoting_server, "--events", str(events)],
        input="hello\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "! error invalid_api_key: Incorrect API key provided: <redacted> (header: Bearer <redacted>)." in proc.stdout
    assert KEY not in proc.stdout + proc.stderr
    assert KEY not in events.read_text()  # as the events file always did
