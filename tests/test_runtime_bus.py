"""Subscribers: each its own bounded queue; audio only for those who ask; a slow one loses events
where the gap is, is told so, and never grows memory."""

from __future__ import annotations

import asyncio
import tracemalloc

from engine.runtime import events as ev
from engine.runtime.bus import EventBus


async def _drain(subscription) -> list:
    return [event async for event in subscription]


async def test_every_subscriber_sees_every_event_and_audio_only_when_asked():
    bus = EventBus()
    text_only, with_audio = bus.subscribe(), bus.subscribe(audio=True)
    bus.emit(ev.AgentStart("a"))
    bus.emit_audio(ev.Audio("item", "AAAA"))
    bus.emit(ev.Idle())
    bus.end()
    assert await _drain(text_only) == [ev.AgentStart("a"), ev.Idle()]
    assert await _drain(with_audio) == [ev.AgentStart("a"), ev.Audio("item", "AAAA"), ev.Idle()]


async def test_a_slow_subscriber_reads_one_overflow_where_the_gap_is():
    bus = EventBus()
    slow, other = bus.subscribe(maxsize=3), bus.subscribe(maxsize=100)
    for i in range(10):
        bus.emit(ev.HistoryUpdated(i))
    assert await asyncio.wait_for(slow.__anext__(), 1) == ev.HistoryUpdated(0)
    bus.emit(ev.HistoryUpdated(10))  # the gap still fills the queue: lost too
    assert await asyncio.wait_for(slow.__anext__(), 1) == ev.HistoryUpdated(1)
    bus.emit(ev.HistoryUpdated(11))  # room again: delivered after the gap
    bus.end()
    assert await _drain(slow) == [ev.HistoryUpdated(2), ev.Overflow(8), ev.HistoryUpdated(11)]
    assert len(await _drain(other)) == 12  # the other subscriber lost nothing


async def test_unread_audio_keeps_memory_bounded():
    bus = EventBus()
    bus.subscribe(audio=True, maxsize=64)  # nobody reads it
    delta = "A" * 1280  # 20 ms of pcm16 at 24 kHz, base64
    tracemalloc.start()
    for i in range(1000):
        bus.emit_audio(ev.Audio(f"item{i}", delta))
    before = tracemalloc.get_traced_memory()[0]
    for i in range(100_000):
        bus.emit_audio(ev.Audio(f"item{i}", delta))
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert after - before < 64 * 1024, after - before


async def test_a_waiting_reader_wakes_and_ends_with_the_session():
    bus = EventBus()
    subscription = bus.subscribe()
    reader = asyncio.create_task(_drain(subscription))
    await asyncio.sleep(0)
    bus.emit(ev.Idle())
    await asyncio.sleep(0)
    bus.end()
    assert await asyncio.wait_for(reader, 1) == [ev.Idle()]
    late = bus.subscribe()  # after the end: iteration ends at once
    assert await asyncio.wait_for(_drain(late), 1) == []


async def test_close_unsubscribes():
    bus = EventBus()
    subscription = bus.subscribe()
    bus.emit(ev.Idle())
    subscription.close()
    bus.emit(ev.AgentEnd("a"))
    assert await _drain(subscription) == [ev.Idle()]
