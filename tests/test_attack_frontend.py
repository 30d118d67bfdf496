"""A careless frontend: concurrent send_text / interrupt / close, many subscribers, slow ones and
ones that never read."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from typing import Any

import pytest
from wire import WireConnection, WireServer
from wire import until as _until

from engine.errors import SessionClosed
from engine.runtime import Session
from engine.runtime import events as ev


async def _slow_model(conn: WireConnection, event: dict[str, Any]) -> None:
    """A response that streams for a while (audio and text), then ends."""
    rid = await conn.created()
    item = {"id": conn.server.new_id("item"), "type": "message", "role": "assistant", "content": []}
    await conn.send({"type": "response.output_item.added", "response_id": rid, "output_index": 0, "item": item})
    base = {"response_id": rid, "item_id": item["id"], "output_index": 0, "content_index": 0}
    for _ in range(20):
        await conn.send({"type": "response.output_audio_transcript.delta", **base, "delta": "word "})
        await conn.send({"type": "response.output_audio.delta", **base, "delta": base64.b64encode(bytes(480)).decode()})
        await asyncio.sleep(0.002)
    await conn.send({"type": "response.output_audio.done", **base})
    await conn.done(rid, [item])


async def test_concurrent_send_text_never_overlaps_responses_and_loses_no_message(mini):
    async with WireServer(_slow_model) as server, Session(mini, url=server.url, api_key="k") as session:
        await asyncio.gather(*(session.send_text(f"message {i}") for i in range(30)))
        await session.wait_idle(8)
    texts = [e["item"]["content"][0]["text"] for e in server.of("conversation.item.create")]
    assert sorted(texts) == sorted(f"message {i}" for i in range(30))
    assert server.overlaps == 0
    assert 1 <= len(server.of("response.create")) <= 3  # requests behind an active response merge


async def test_interrupt_racing_send_text_and_response_created(mini):
    """interrupt() right after send_text (the response is requested, not yet created): the server
    gets one response.create and a cancel once it started, never a second create."""

    async def model(conn: WireConnection, event: dict[str, Any]) -> None:
        await asyncio.sleep(0.05)  # the server takes its time to start
        rid = await conn.created()
        await _until(lambda: bool(conn.server.of("response.cancel")), 3)
        await conn.done(rid, [], status="cancelled")

    async with WireServer(model) as server, Session(mini, url=server.url, api_key="k") as session:
        await session.send_text("hi")
        await session.interrupt()
        await session.interrupt()
        await session.wait_idle(5)
    assert len(server.of("response.create")) == 1 and len(server.of("response.cancel")) >= 1
    assert server.overlaps == 0


async def test_close_racing_send_text_and_interrupt_ends_cleanly(mini):
    async with WireServer(_slow_model) as server:
        session = Session(mini, url=server.url, api_key="k")
        await session.connect()
        sub = session.subscribe(audio=True)
        results = await asyncio.gather(
            *(session.send_text(f"m{i}") for i in range(10)),
            session.interrupt(),
            session.close(),
            *(session.send_text(f"late{i}") for i in range(10)),
            session.interrupt(),
            session.close(),
            return_exceptions=True,
        )
        odd = [r for r in results if r is not None and not isinstance(r, SessionClosed)]
        assert not odd, odd
        async with asyncio.timeout(2):
            events = [e async for e in sub]  # the subscription ends with the session
        assert any(isinstance(e, ev.AgentEnd) for e in events)
        await asyncio.sleep(0.05)
        assert all(t.done() for t in session._tasks)
        with pytest.raises(SessionClosed):
            await session.send_text("after")
        async with asyncio.timeout(1):
            await session.wait_idle(1)  # a closed session is idle at once
    assert all(c.ws.state.name == "CLOSED" for c in server.connections)


async def test_wait_idle_in_another_task_returns_when_the_session_closes(mini):
    async def never(conn: WireConnection, event: dict[str, Any]) -> None:
        await conn.created()  # and never done

    async with WireServer(never) as server:
        session = Session(mini, url=server.url, api_key="k")
        await session.connect()
        await session.send_text("hi")
        waiter = asyncio.create_task(session.wait_idle(5))
        await asyncio.sleep(0.1)
        await session.close()
        async with asyncio.timeout(1):
            await waiter


async def test_many_subscribers_slow_and_silent_ones_do_not_slow_the_call(mini):
    async with WireServer(_slow_model) as server, Session(mini, url=server.url, api_key="k") as session:
        silent = [session.subscribe(audio=True, maxsize=8) for _ in range(300)]
        slow_seen: list[int] = []

        async def slow(sub) -> None:
            n = 0
            async for _ in sub:
                n += 1
                await asyncio.sleep(0.05)
            slow_seen.append(n)

        slow_subs = [session.subscribe(audio=True, maxsize=4) for _ in range(20)]
        readers = [asyncio.create_task(slow(s)) for s in slow_subs]
        closed_early = session.subscribe(audio=True)
        closed_early.close()
        for _ in range(3):
            await session.send_text("hi")
            await session.wait_idle(5)
        assert all(len(s._queue) <= 9 for s in silent)
    async with asyncio.timeout(5):
        await asyncio.gather(*readers)
    assert len(slow_seen) == 20
    tail = [e async for e in silent[0]]
    assert isinstance(tail[-1], ev.Overflow) or any(isinstance(e, ev.Overflow) for e in tail)
    assert [e async for e in closed_early] == []


async def test_connecting_twice_does_not_open_a_second_connection(mini):
    """Today Link.open does not check it is open already: a second connect() (or `async with` after
    connect()) opens another websocket with its own listener, and the first one leaks, still feeding
    the session its frames."""
    async with WireServer() as server:
        session = Session(mini, url=server.url, api_key="k")
        await session.connect()
        with contextlib.suppress(RuntimeError, ConnectionError):  # a refusal or a no-op will do
            await session.connect()
        await session.close()
        await asyncio.sleep(0.1)
    assert len(server.connections) == 1


async def test_connecting_after_close_is_refused_and_opens_nothing(mini):
    async with WireServer() as server:
        session = Session(mini, url=server.url, api_key="k")
        await session.connect()
        await session.close()
        with pytest.raises(SessionClosed):
            await session.connect()
        await asyncio.sleep(0.1)
    assert len(server.connections) == 1
