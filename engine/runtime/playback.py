"""Where the listener is in each assistant audio item, for truncation at barge-in and guardrail trips.

Without a frontend the engine assumes playback in real time from the first delta; a frontend
that plays the audio itself reports the true position with `report()`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(slots=True)
class _Item:
    started: float
    received_ms: float = 0.0
    reported_ms: int | None = None
    stopped: bool = False


class PlaybackClock:
    _KEEP = 4  # only the latest items can still be playing

    def __init__(self, clock: type[time.monotonic] = time.monotonic) -> None:  # type: ignore[valid-type]
        self._clock = clock
        self._items: dict[str, _Item] = {}

    def received(self, item_id: str, nbytes: int, bytes_per_ms: float) -> None:
        item = self._items.get(item_id)
        if item is None:
            item = self._items[item_id] = _Item(self._clock())
            if len(self._items) > self._KEEP:
                del self._items[next(iter(self._items))]
        item.received_ms += nbytes / bytes_per_ms

    def report(self, item_id: str, played_ms: int) -> None:
        """A frontend says how much of the item it has actually played."""
        if item_id in self._items:
            self._items[item_id].reported_ms = played_ms

    def has_audio(self, item_id: str) -> bool:
        return item_id in self._items

    def played_ms(self, item_id: str) -> int:
        item = self._items[item_id]
        if item.reported_ms is not None:
            return min(item.reported_ms, int(item.received_ms))
        elapsed = (self._clock() - item.started) * 1000
        return int(min(elapsed, item.received_ms))

    def playing(self) -> str | None:
        """The latest item whose audio is not over yet, if any."""
        for item_id in reversed(self._items):
            item = self._items[item_id]
            if not item.stopped and self.played_ms(item_id) < int(item.received_ms):
                return item_id
        return None

    def stop(self, item_id: str) -> None:
        if item_id in self._items:
            self._items[item_id].stopped = True
