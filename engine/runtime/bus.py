"""Session events fanned out to subscribers, each with its own bounded queue.

A console, a recorder and a bridge each read every event without taking it from the others. Audio
deltas (about fifty a second) go only to subscribers that asked for them. A subscriber that falls
behind loses the events that find its queue full; it reads one `Overflow` in their place, where the
gap is, so memory stays bounded whoever stops reading.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass

from . import events as ev

#: Events a subscriber may have unread before it starts losing them (about 80 s of audio deltas).
DEFAULT_MAXSIZE = 4096


@dataclass(slots=True)
class _Gap:
    dropped: int


class Subscription:
    """One consumer's view of a session's events: `async for event in subscription`.

    Iteration ends once the session has closed and every queued event was read; `close()` ends it
    earlier and unsubscribes.
    """

    def __init__(self, bus: EventBus, *, audio: bool, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.audio = audio
        self._bus = bus
        self._maxsize = maxsize
        self._queue: deque[ev.SessionEvent | _Gap] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._ended = False

    def put(self, event: ev.SessionEvent) -> None:
        queue = self._queue
        if len(queue) < self._maxsize:
            queue.append(event)
        elif queue and isinstance(queue[-1], _Gap):
            queue[-1].dropped += 1
        else:
            queue.append(_Gap(1))  # one slot over the bound, marking where events went missing
        self._wake()

    def end(self) -> None:
        """No more events will come (the session closed)."""
        self._ended = True
        self._wake()

    def close(self) -> None:
        """Stop receiving events; the iteration ends after what is already queued."""
        self._bus.unsubscribe(self)
        self.end()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def __aiter__(self) -> AsyncIterator[ev.SessionEvent]:
        return self

    async def __anext__(self) -> ev.SessionEvent:
        while not self._queue:
            if self._ended:
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        item = self._queue.popleft()
        return ev.Overflow(item.dropped) if isinstance(item, _Gap) else item

    def get_nowait(self) -> ev.SessionEvent | None:
        """The next queued event, or None when none is queued."""
        if not self._queue:
            return None
        item = self._queue.popleft()
        return ev.Overflow(item.dropped) if isinstance(item, _Gap) else item


class EventBus:
    def __init__(self) -> None:
        self._all: list[Subscription] = []
        self._audio: list[Subscription] = []
        self._ended = False

    @property
    def audio_subscribers(self) -> bool:
        """Whether any subscriber takes audio (the session skips building nothing for nobody)."""
        return bool(self._audio)

    def subscribe(self, *, audio: bool = False, maxsize: int = DEFAULT_MAXSIZE) -> Subscription:
        subscription = Subscription(self, audio=audio, maxsize=maxsize)
        if self._ended:
            subscription.end()
            return subscription
        self._all.append(subscription)
        if audio:
            self._audio.append(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        for group in (self._all, self._audio):
            if subscription in group:
                group.remove(subscription)

    def emit(self, event: ev.SessionEvent) -> None:
        for subscription in self._all:
            subscription.put(event)

    def emit_audio(self, event: ev.Audio) -> None:
        for subscription in self._audio:
            subscription.put(event)

    def end(self) -> None:
        self._ended = True
        for subscription in self._all:
            subscription.end()
