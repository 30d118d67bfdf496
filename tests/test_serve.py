"""`engine serve` over real sockets: the console's HTTP API and call websocket, health, and SIGTERM draining."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
import websockets
from conftest import GRAPHS, ROOT
from serving import Served, engine_serve

from engine.serve import Catalog
from engine.serve._wire import Scrubber


@pytest.fixture
def serve(tmp_path) -> Iterator[Served]:
    with engine_serve(GRAPHS, "--simulate", "--drain-seconds", "1.5", db=tmp_path / "calls.db") as served:
        yield served


def _get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as res:
            return res.status, json.loads(res.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


async def _next(ws, kind: str, timeout: float = 10.0) -> dict:
    async with asyncio.timeout(timeout):
        while True:
            message = json.loads(await ws.recv())
            if message["type"] == kind or (kind == "event" and message["type"] == "event"):
                return message


async def _event(ws, kind: str, timeout: float = 10.0) -> dict:
    async with asyncio.timeout(timeout):
        while True:
            message = json.loads(await ws.recv())
            if message["type"] == "event" and message["event"]["type"] == kind:
                return message["event"]


def test_health_scenarios_and_the_graph_drawing(serve) -> None:
    base = serve.url
    assert _get(f"{base}/healthz") == (200, {"status": "ok", "calls": 0})
    assert _get(f"{base}/readyz")[0] == 200
    status, body = _get(f"{base}/api/scenarios")
    assert status == 200 and body["simulated"] is True
    ids = [s["id"] for s in body["scenarios"]]
    assert ids == ["chat-supervisor", "customer-service-retail", "simple-handoff"]
    status, drawing = _get(f"{base}/api/scenarios/simple-handoff/graph")
    assert drawing["nodes"]["greeter"] == "a_greeter"
    assert drawing["edges"]["greeter->haiku_writer"] == "a_greeter__a_haiku_writer"
    assert 'id="a_greeter__a_haiku_writer"' in drawing["svg"]
    assert _get(f"{base}/api/scenarios/nope/graph")[0] == 404
    with urllib.request.urlopen(f"{base}/static/console.js", timeout=5) as res:
        assert b"AudioWorklet" in res.read()  # the page's own script, served by the app (no CDN)


async def test_a_typed_call_runs_the_demo_and_a_bad_start_is_refused(serve, tmp_path) -> None:
    base = serve.url
    ws_url = base.replace("http://", "ws://") + "/ws/call"
    async with websockets.connect(ws_url) as ws:
        await ws.send(json.dumps({"type": "start", "scenario": "nope"}))
        refused = await _next(ws, "refused")
        assert "no scenario 'nope'" in refused["message"]
    async with websockets.connect(ws_url) as ws:
        await ws.send(json.dumps({"type": "start", "scenario": "simple-handoff", "codec": "g711_ulaw"}))
        ready = await _next(ws, "ready")
        assert ready["call"]["simulated"] and ready["call"]["rate"] == 8000 and ready["call"]["agent"] == "greeter"
        await ws.send(bytes(160))  # 20 ms of μ-law from the microphone
        await ws.send(json.dumps({"type": "text", "text": "Could you write me a haiku about snow?"}))
        handoff = await _event(ws, "handoff")
        assert (handoff["source"], handoff["target"]) == ("greeter", "haiku_writer")
        await ws.send("not json")
        assert "one JSON object" in (await _next(ws, "error"))["message"]
        await ws.send(json.dumps({"type": "stop"}))
        ended = await _next(ws, "ended")
        assert ended["reason"] == "stopped by the caller" and ended["agent"] == "haiku_writer"
        assert ended["off_script"] == []
        await asyncio.wait_for(ws.wait_closed(), 5)  # the server closes the call's socket after the notice
        assert ws.close_code == 1000
    # The call was recorded as it happened, from the console.
    done = subprocess.run(
        [sys.executable, "-m", "engine.records", "list", "--format", "json"],
        capture_output=True, text=True, cwd=ROOT, check=True, env={**os.environ, "ENGINE_DB": str(tmp_path / "calls.db")},
    )  # fmt: skip
    [call] = json.loads(done.stdout)
    assert call["frontend"] == "console" and call["agents"] == ["greeter", "haiku_writer"]
    assert ended["record"] == call["id"]  # the page links to the call's replay


async def test_sigterm_drains_calls_and_exits_cleanly(serve) -> None:
    proc, base = serve.proc, serve.url
    ws_url = base.replace("http://", "ws://") + "/ws/call"
    async with websockets.connect(ws_url) as ws:
        await ws.send(json.dumps({"type": "start", "scenario": "simple-handoff"}))
        await _next(ws, "ready")
        proc.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.3)
        status, body = await asyncio.to_thread(_get, f"{base}/readyz")
        assert status == 503 and body["draining"] is True
        async with websockets.connect(ws_url) as late:  # no new calls while draining
            assert "shutting down" in (await _next(late, "refused"))["message"]
        ended = await _next(ws, "ended", timeout=5)  # the active call got its deadline, then a notice
        assert ended["reason"] == "the server is shutting down"
    assert await asyncio.to_thread(proc.wait, 10) == 0


def test_a_folder_skips_files_that_do_not_load(tmp_path) -> None:
    (tmp_path / "broken.yaml").write_text("graph: x\nstart: nobody\nagents: {}\n")
    (tmp_path / "good.yaml").write_text((GRAPHS / "simple_handoff.yaml").read_text())
    (tmp_path / "good.tests.yaml").write_text("tests: []\n")
    catalog = Catalog.load([tmp_path, tmp_path / "missing.yaml"])
    assert list(catalog.scenarios) == ["simple-handoff"]
    assert any("broken.yaml" in p for p in catalog.problems)
    assert any("missing.yaml: no such file" in p for p in catalog.problems)


def test_the_wire_shown_to_the_browser_has_no_audio_and_no_secrets() -> None:
    scrub = Scrubber(["sk-test-0123456789"])
    audio = json.dumps({"type": "response.output_audio.delta", "item_id": "i", "delta": "A" * 4000})
    assert json.loads(scrub(audio))["delta"] == "<3000 bytes of audio elided>"
    for spacing in ((",", ":"), (" , ", " :  ")):  # compact (the APIs'), and spaced as nobody writes it
        spaced = json.dumps(json.loads(audio), separators=spacing)
        assert json.loads(scrub(spaced)) == {**json.loads(audio), "delta": "<3000 bytes of audio elided>"}
    live = json.dumps({"type": "session.output_audio.delta", "delta": "A" * 4000})  # GPT-Live's, as well
    assert json.loads(scrub(live))["delta"] == "<3000 bytes of audio elided>"
    mic = json.dumps({"type": "session.input_audio.append", "audio": "A" * 4000, "event_id": "e1"})
    assert json.loads(scrub(mic))["audio"] == "<3000 bytes of audio elided>"
    update = {"type": "session.update", "session": {"tools": [{"type": "mcp", "headers": {"X-Key": "v"}}]}}
    shown = json.loads(scrub(json.dumps(update)))
    assert shown["session"]["tools"][0]["headers"] == {"X-Key": "<redacted>"}
    keys = json.loads(scrub('{"type":"x","Authorization":"Bearer t","API-KEY" : "k","Headers":{"a":"b"}}'))
    assert keys == {"type": "x", "Authorization": "<redacted>", "API-KEY": "<redacted>", "Headers": {"a": "<redacted>"}}
    assert "sk-test" not in scrub(json.dumps({"type": "error", "error": {"message": "bad key sk-test-0123456789"}}))


async def test_a_console_token_guards_the_console_its_api_and_its_calls(tmp_path) -> None:
    env = {"ENGINE_CONSOLE_TOKEN": "let-me-in-0123"}
    with engine_serve(GRAPHS, "--simulate", db=tmp_path / "calls.db", env=env) as served:
        base = served.url
        assert _get(f"{base}/api/scenarios")[0] == 401
        assert _get(f"{base}/api/scenarios?token=wrong")[0] == 401
        assert _get(f"{base}/api/scenarios?token=let-me-in-0123")[0] == 200
        with urllib.request.urlopen(f"{base}/?token=let-me-in-0123", timeout=5) as res:
            cookie = res.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie
        assert _get(f"{base}/healthz")[0] == 200  # health stays open for load balancers
        ws_url = base.replace("http://", "ws://") + "/ws/call"
        with pytest.raises(websockets.InvalidStatus):
            async with websockets.connect(ws_url):
                pass
        async with websockets.connect(ws_url, additional_headers={"Cookie": cookie.split(";")[0]}) as ws:
            await ws.send(json.dumps({"type": "start", "scenario": "simple-handoff"}))
            assert (await _next(ws, "ready"))["call"]["agent"] == "greeter"


async def test_the_live_path_runs_against_any_realtime_server_given_by_url(tmp_path) -> None:
    """`--url` takes the live path (one shared GraphRuntime per graph, no per-call simulator): here
    against `engine sim`, a Realtime server in another process."""
    sim = subprocess.Popen(
        [sys.executable, "-m", "engine.sim", str(GRAPHS / "simple_handoff.yaml"), "--port", "0"],
        stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    try:
        assert sim.stdout is not None
        url = sim.stdout.readline().split()[-1]
        assert url.startswith("ws://")
        with engine_serve(GRAPHS, "--url", url, db=tmp_path / "calls.db") as served:
            base = served.url
            assert _get(f"{base}/api/scenarios")[1]["simulated"] is False
            async with websockets.connect(base.replace("http://", "ws://") + "/ws/call") as ws:
                await ws.send(json.dumps({"type": "start", "scenario": "simple-handoff"}))
                assert (await _next(ws, "ready"))["call"]["simulated"] is False
                await ws.send(json.dumps({"type": "text", "text": "Could you write me a haiku about snow?"}))
                assert (await _event(ws, "handoff"))["target"] == "haiku_writer"
    finally:
        sim.terminate()
        sim.wait(10)


async def test_the_wire_log_skips_the_microphone_and_sends_each_agent_frame_once(serve) -> None:
    """Fifty microphone appends a second are not shown; each agent audio delta reaches the browser as
    one message: the audio, with its elided wire event riding along (shown in the log all the same)."""
    base = serve.url
    async with websockets.connect(base.replace("http://", "ws://") + "/ws/call") as ws:
        await ws.send(json.dumps({"type": "start", "scenario": "simple-handoff"}))
        await _next(ws, "ready")
        messages: list[dict] = []
        async with asyncio.timeout(15):
            while not any(m["type"] == "event" and m["event"]["type"] == "idle" for m in messages):
                await ws.send(bytes(960))  # 20 ms of PCM16 silence: appended, never shown
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.02):
                        while True:
                            messages.append(json.loads(await ws.recv()))
    audio = [m for m in messages if m["type"] == "audio"]
    wire = [m for m in messages if m["type"] == "wire"]
    assert len(audio) > 10, "the agent's greeting is spoken"
    riding = [entry for message in audio for entry in message["wire"]]
    alone = [m for m in wire if m["event"]["type"] == "response.output_audio.delta"]
    assert len(riding) + len(alone) == len(audio), "every delta is in the log once"
    # Alone only where another message came between the delta and its audio (audio_started, a
    # transcript delta): their order in the log is kept.
    assert len(riding) > 2 * len(alone)
    for message in audio:
        for entry in message["wire"]:
            assert entry["dir"] == "server" and entry["event"]["item_id"] == message["item_id"]
            assert entry["event"]["delta"] == f"<{len(message['data']) * 3 // 4} bytes of audio elided>"
    assert not [m for m in wire if m["event"]["type"] == "input_audio_buffer.append"]
    assert [m for m in wire if m["event"]["type"] == "response.done"], "the other events still show"


def test_live_calls_beyond_loopback_need_a_console_token(tmp_path) -> None:
    env = {**os.environ, "ENGINE_DB": str(tmp_path / "calls.db"), "OPENAI_API_KEY": "sk-test-not-a-real-key"}
    env.pop("ENGINE_CONSOLE_TOKEN", None)
    cmd = [sys.executable, "-m", "engine.serve", str(GRAPHS), "--host", "0.0.0.0", "--port", "0"]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)
    assert done.returncode == 2 and "set ENGINE_CONSOLE_TOKEN" in done.stderr and "Traceback" not in done.stderr
    assert "sk-test" not in done.stderr + done.stdout
    # Said on purpose, it listens (and warns).
    proc = subprocess.Popen([*cmd, "--public-console"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=ROOT, env=env)  # fmt: skip
    try:
        assert proc.stdout is not None and proc.stdout.readline().startswith("engine serve: http://")
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert "warning: listening on 0.0.0.0" in err
