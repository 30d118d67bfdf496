"""The benchmark's apparatus does what its figures assume (no timings are asserted): the bench server's
pre-encoded frames are valid websocket frames, and each client does the same protocol work, with
audio decoded, tools answered and a handoff's `session.update` sent."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import server as bench_server  # noqa: E402
from bench.clients import prepare  # noqa: E402
from bench.run import _median  # noqa: E402


def test_ws_frame_lengths() -> None:
    for size in (5, 125, 126, 1300, 65535, 65536, 70000):
        payload = b"x" * size
        frame = bench_server.ws_frame(payload)
        assert frame[0] == 0x81  # FIN + text, unmasked (server to client)
        if size < 126:
            assert frame[1] == size and frame[2:] == payload
        elif size < 65536:
            assert frame[1] == 126 and int.from_bytes(frame[2:4], "big") == size and frame[4:] == payload
        else:
            assert frame[1] == 127 and int.from_bytes(frame[2:10], "big") == size and frame[10:] == payload


@pytest.fixture
async def bench_url() -> Any:
    runner, port = await bench_server.serve(0)
    try:
        yield f"ws://127.0.0.1:{port}/v1/realtime?model=gpt-realtime"
    finally:
        await runner.cleanup()


@pytest.mark.parametrize(
    "variant",
    [
        "engine",
        "engine-aiohttp",
        "engine-websockets",
        "engine-events",
        "bare-picows",
        "bare-aiohttp",
        "bare-websockets",
    ],
)
async def test_clients_do_the_same_work(bench_url: str, variant: str) -> None:
    clients = prepare(variant)
    client = clients.new()
    await client.open(bench_url)
    try:
        await client.turn("audio 300", 1, timeout=30)  # pre-encoded, written in blocks
        assert client.audio_deltas == 300
        assert client.audio_bytes == 300 * 960  # every delta decoded from base64
        await client.turn("tool 3", 4, timeout=30)
        await client.turn("sync 2", 3, timeout=30)
        await client.turn("handoff 2", 3, timeout=30)  # a -> b -> a: each handoff sends the target's session
        await client.turn("live 0.1 2", 3, timeout=30)  # paced frames from the ticker
        assert client.audio_deltas == 300 + 2 * 5
    finally:
        await client.close()
        await clients.aclose()


async def test_bare_handoff_sends_the_engines_payload(bench_url: str) -> None:
    """The bare client's pre-encoded session.update is what the engine compiles for the bench graph."""
    import engine
    from bench.clients import bare
    from engine.compile import SessionCompiler

    doc = engine.load(str(ROOT / "bench" / "graphs" / "bench.yaml"))
    compiler = SessionCompiler(doc)
    for agent in ("agent_a", "agent_b"):
        assert json.loads(bare._SESSION_UPDATES[agent]) == compiler.compile(agent)


def test_median_and_spread() -> None:
    runs = [{"v": 1.0, "name": "x"}, {"v": 3.0, "name": "x"}, {"v": 2.0, "name": "x"}]
    out = _median(runs)
    assert out["v"] == 2.0 and out["name"] == "x" and out["spread"]["v"] == 1.0 and out["repeats"] == 3
