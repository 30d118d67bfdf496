"""Hundreds of concurrent sessions on one GraphRuntime against the simulator (loopback only): every
turn answered, no errors, and nothing left behind (tasks, sockets) once they close."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from conftest import MINI

from engine.runtime import GraphRuntime, Session
from engine.runtime import events as ev
from engine.runtime.transport import AiohttpTransport
from engine.sim import Simulator
from engine.spec.script import Script
from engine.validate import load_graph

SESSIONS = 400
TURNS = 2


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_hundreds_of_sessions_on_one_runtime_each_get_every_turn(write_graph):
    doc = load_graph(write_graph(MINI))
    turns = [{"user": "hello", "model": [{"say": "Hi there."}]}] * (SESSIONS * TURNS)
    script = Script.model_validate({"turns": turns})
    async with Simulator(script, speech="tone") as sim, GraphRuntime(doc, url=sim.url, api_key="k") as runtime:
        transport = AiohttpTransport()
        fds, tasks = _open_fds(), len(asyncio.all_tasks())
        sessions = [Session(runtime, transport=transport) for _ in range(SESSIONS)]
        subscriptions = [s.subscribe() for s in sessions]
        async with asyncio.timeout(60):
            await asyncio.gather(*(s.connect() for s in sessions))

            async def converse(session: Session) -> None:
                for _ in range(TURNS):
                    await session.send_text("hello")
                    await session.wait_idle(30)

            await asyncio.gather(*(converse(s) for s in sessions))
            await asyncio.gather(*(s.close() for s in sessions))
        await transport.aclose()
        await asyncio.sleep(0.2)
        assert len(asyncio.all_tasks()) <= tasks, "tasks left behind"
        assert _open_fds() <= fds + 2, "sockets left open"
        assert not sim.mismatches and not sim.script_errors
    replies: list[int] = []
    errors: list[Any] = []
    for subscription in subscriptions:
        events = [e async for e in subscription]
        replies.append(sum(isinstance(e, ev.TranscriptDelta) and e.role == "assistant" and e.done for e in events))
        errors += [e for e in events if isinstance(e, ev.Error)]
    assert not errors, errors[:3]
    assert replies == [TURNS] * SESSIONS
    creates = [e for e in sim.received if e["type"] == "response.create"]
    assert len(creates) == SESSIONS * TURNS
