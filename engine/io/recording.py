"""A call's audio on one timeline: the caller's as sent, the agent's as played."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import soxr

from .formats import AudioFormat
from .wav import write_wav


@dataclass
class _Track:
    fmt: AudioFormat
    segments: list[tuple[float, bytes]] = field(default_factory=list)  # (start seconds, audio)
    end: float = 0.0  # where the track's audio so far ends (seconds)

    def add(self, data: bytes, at: float) -> None:
        # A chunk plays after the one before it: bursts that arrive early queue up, as in a player.
        start = max(at, self.end)
        self.segments.append((start, data))
        self.end = start + self.fmt.duration_ms(data) / 1000

    def cut(self, at: float) -> None:
        """Drop what was scheduled to play after `at` (playback cleared on a barge-in)."""
        kept: list[tuple[float, bytes]] = []
        for start, data in self.segments:
            if start >= at:
                continue
            keep = int((at - start) * 1000 * self.fmt.bytes_per_ms)
            keep -= keep % self.fmt.bytes_per_sample
            kept.append((start, data[:keep]))
        self.segments = kept
        self.end = min(self.end, at) if kept else 0.0

    def render(self, rate: int) -> np.ndarray:
        native = np.zeros(round(self.end * self.fmt.rate) + 1, dtype=np.float32)
        for start, data in self.segments:
            samples = self.fmt.decode(data)
            offset = round(start * self.fmt.rate)
            native[offset : offset + len(samples)] = samples[: len(native) - offset]
        if rate != self.fmt.rate and native.size:
            native = soxr.resample(native, self.fmt.rate, rate)
        return native


class CallRecording:
    """Collects both sides of a call and writes them to a WAV (stereo: caller left, agent right).

    Times are seconds on `clock` (monotonic by default); the timeline starts at the recording's
    creation. `caller(data)` places audio at the time it was sent; `agent(data)` at the time it
    played, after the agent audio before it; `cut_agent()` drops agent audio not yet played.
    """

    def __init__(
        self,
        caller_format: AudioFormat,
        agent_format: AudioFormat,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self._origin = clock()
        self._caller = _Track(caller_format)
        self._agent = _Track(agent_format)

    def _now(self, at: float | None) -> float:
        return max(0.0, (self._clock() if at is None else at) - self._origin)

    def caller(self, data: bytes, at: float | None = None) -> None:
        """Caller audio sent at `at` (clock time; default now)."""
        self._caller.add(data, self._now(at))

    def agent(self, data: bytes, at: float | None = None) -> None:
        """Agent audio that starts playing at `at` (clock time; default now) or when the audio before it ends."""
        self._agent.add(data, self._now(at))

    def cut_agent(self, at: float | None = None) -> None:
        """The agent's playback was cleared at `at` (default now): audio queued after it never played."""
        self._agent.cut(self._now(at))

    @property
    def duration(self) -> float:
        """Seconds from the start of the recording to the end of its last audio."""
        return max(self._caller.end, self._agent.end)

    def write(self, path: str | os.PathLike[str], *, stereo: bool = True) -> None:
        """Write the call as 16-bit PCM at the higher of the two rates; mono mixes both sides.

        Raises AudioFileError when the file cannot be written.
        """
        rate = max(self._caller.fmt.rate, self._agent.fmt.rate)
        caller, agent = self._caller.render(rate), self._agent.render(rate)
        if stereo:
            write_wav(path, [caller, agent], rate)
            return
        length = max(len(caller), len(agent))
        mixed = np.zeros(length, dtype=np.float32)
        mixed[: len(caller)] += caller
        mixed[: len(agent)] += agent
        write_wav(path, [mixed], rate)
