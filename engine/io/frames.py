"""Cutting audio into frames and streaming them at real time (or faster)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable, Iterator

from .formats import AudioFormat

FRAME_MS = 20  # what telephony and the browser console send: 20 ms per frame


def frames(data: bytes, fmt: AudioFormat, ms: int = FRAME_MS) -> Iterator[bytes]:
    """`data` in frames of `ms` milliseconds; the last one holds the remainder (nothing is dropped)."""
    if ms <= 0:
        raise ValueError("frame duration must be positive")
    size = fmt.bytes_per_ms * ms
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def paced(chunks: Iterable[bytes], fmt: AudioFormat, *, speed: float = 1.0) -> AsyncIterator[bytes]:
    """Yield `chunks` no faster than they play: chunk n when the audio before it has played at `speed`.

    The schedule is kept against a monotonic clock from the first chunk, so delays do not add up;
    `speed=2` streams twice as fast as real time; `speed=0` (or less) does not wait at all.
    """
    start = time.monotonic()
    played_ms = 0.0
    for chunk in chunks:
        if speed > 0:
            delay = start + played_ms / 1000 / speed - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        yield chunk
        played_ms += fmt.duration_ms(chunk)
