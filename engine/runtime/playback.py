"""Where the listener is in the assistant's audio, for truncation at barge-in and guardrail trips.

Audio items play one after another, as a speaker plays them: an item starts when its first delta
arrives or when the item before it ends, whichever is later. Without a frontend the engine assumes
playback at real time on that schedule; a frontend that plays the audio itself reports the true
position with `report()`. An item whose audio is still arriving counts as playing even when the
listener has caught up with what arrived (audio that streams at real time is never "over" early).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


def decoded_size(b64: str) -> int:
    """The number of bytes a base64 string decodes to (without decoding it)."""
    return len(b64) * 3 // 4 - b64.count("=", -2)


@dataclass(slots=True)
class _Item:
    start: float  # clock time its playback starts (or started)
    received_ms: float = 0.0
    reported_ms: int | None = None
    stopped_ms: int | None = None  # where it was cut, once truncated
    complete: bool = False  # all of its audio has arrived


class PlaybackClock:
    _KEEP = 8  # items further back than this have long finished playing

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._items: dict[str, _Item] = {}

    def received(self, item_id: str, nbytes: int, bytes_per_ms: float) -> bool:
        """Count `nbytes` more of the item's audio (an item not seen before starts playing after
        those before it). False, and nothing counted, once the item was cut: its late audio is
        never played."""
        item = self._items.get(item_id)
        if item is None:
            item = self._items[item_id] = _Item(max(self._clock(), self._queue_end()))
            if len(self._items) > self._KEEP:
                del self._items[next(iter(self._items))]
        elif item.stopped_ms is not None:
            return False
        item.received_ms += nbytes / bytes_per_ms
        return True

    def finished(self, item_id: str) -> bool:
        """All of the item's audio has arrived (`response.output_audio.done`). True the first time
        for an item that had audio."""
        item = self._items.get(item_id)
        if item is None or item.complete:
            return False
        item.complete = True
        return True

    def report(self, item_id: str, played_ms: int) -> None:
        """A frontend says how much of the item it has actually played."""
        if item_id in self._items:
            self._items[item_id].reported_ms = played_ms

    def has_audio(self, item_id: str) -> bool:
        return item_id in self._items

    def received_ms(self, item_id: str) -> int:
        return int(self._items[item_id].received_ms)

    def played_ms(self, item_id: str) -> int:
        item = self._items[item_id]
        if item.stopped_ms is not None:
            return item.stopped_ms
        if item.reported_ms is not None:
            return min(item.reported_ms, int(item.received_ms))
        elapsed = (self._clock() - item.start) * 1000
        return int(min(round(max(elapsed, 0.0)), item.received_ms))

    def audible(self) -> list[str]:
        """The item playing now, then the items queued behind it (not heard yet), oldest first."""
        return [item_id for item_id, item in self._items.items() if self._pending(item_id, item)]

    def playing(self) -> str | None:
        """The item the listener hears now, if any."""
        return next(iter(self.audible()), None)

    def stop(self, item_id: str, *, at_ms: int | None = None) -> int:
        """Cut the item where playback is now (or at `at_ms`); returns the milliseconds played."""
        played = self.played_ms(item_id) if at_ms is None else at_ms
        self._items[item_id].stopped_ms = played
        return played

    def stopped(self, item_id: str) -> bool:
        return self._items[item_id].stopped_ms is not None

    def clear(self) -> None:
        """Forget every item: the session they played in is gone (a reconnect)."""
        self._items.clear()

    def _pending(self, item_id: str, item: _Item) -> bool:
        if item.stopped_ms is not None:
            return False
        return not item.complete or self.played_ms(item_id) < int(item.received_ms)

    def _queue_end(self) -> float:
        """When the last item's audio ends, as far as it has arrived (a cut item ends where it was cut)."""
        if not self._items:
            return 0.0
        last = self._items[next(reversed(self._items))]
        if last.stopped_ms is None:
            return last.start + last.received_ms / 1000
        return min(self._clock(), last.start + last.stopped_ms / 1000)
