"""The simulator's ears: the input audio buffer and turn detection from the signal.

Energy-based voice activity detection over 10 ms windows, configured like the API's:

- `server_vad`: `threshold` (0.0-1.0) maps linearly onto a window level in dBFS,
  `level = -60 + 50 * threshold` (0.0: anything above -60 dBFS is speech; the default 0.5:
  -35 dBFS, above a quiet room and below conversational speech at -25 to -15 dBFS; 1.0:
  -10 dBFS, only very loud input). Speech starts after 30 ms of windows at or above that level;
  `audio_start_ms` reaches back `prefix_padding_ms` before it. Speech stops after
  `silence_duration_ms` below it; `audio_end_ms` includes that silence, as the API's does.
- `semantic_vad` has no model here: its `eagerness` becomes a silence duration (high 300 ms,
  medium/auto 700 ms, low 1500 ms) with the default threshold and padding.

Times are milliseconds on the session's input timeline: all audio written since the session began.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.io.formats import PCM16, AudioFormat

WINDOW_MS = 10
MIN_SPEECH_MS = 30  # a click or a pop is shorter than this; a syllable is longer
SEMANTIC_SILENCE_MS = {"high": 300, "medium": 700, "auto": 700, "low": 1500}


def threshold_dbfs(threshold: float) -> float:
    """The window level (dBFS) at or above which `server_vad`'s `threshold` counts audio as speech."""
    return -60.0 + 50.0 * min(max(threshold, 0.0), 1.0)


@dataclass(frozen=True, slots=True)
class VadSettings:
    level_dbfs: float
    prefix_padding_ms: int
    silence_duration_ms: int

    @classmethod
    def from_turn_detection(cls, vad: dict[str, Any] | None) -> VadSettings | None:
        """The detector for a session's `turn_detection` (None: push-to-talk, no detection)."""
        if not isinstance(vad, dict):
            return None
        if vad.get("type") == "semantic_vad":
            silence = SEMANTIC_SILENCE_MS.get(vad.get("eagerness") or "auto", 700)
            return cls(threshold_dbfs(0.5), 300, silence)
        return cls(
            threshold_dbfs(_number(vad.get("threshold"), 0.5)),
            int(_number(vad.get("prefix_padding_ms"), 300)),
            int(_number(vad.get("silence_duration_ms"), 200)),
        )


def _number(value: Any, default: float) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    audio_start_ms: int


@dataclass(frozen=True, slots=True)
class SpeechStopped:
    audio_end_ms: int


Detection = SpeechStarted | SpeechStopped


class InputBuffer:
    """Audio appended by the client: how much is uncommitted, and where speech starts and stops."""

    def __init__(self, fmt: AudioFormat = PCM16) -> None:
        self.fmt = fmt
        self._timeline_ms = 0.0  # all audio written during the session
        self._uncommitted_ms = 0.0
        self._committed_at_ms = 0.0  # where the uncommitted audio starts
        self._carry = np.zeros(0, dtype=np.float32)  # samples short of a full window
        self._odd = b""  # a pcm16 byte short of a full sample
        self._window_start_ms = 0.0
        self.speaking = False
        self._voiced_ms = 0
        self._silent_ms = 0
        self._onset_ms = 0.0

    @property
    def total_ms(self) -> int:
        """Milliseconds of audio written during the session (the timeline `audio_*_ms` are on)."""
        return int(self._timeline_ms)

    @property
    def uncommitted_ms(self) -> float:
        return self._uncommitted_ms

    def set_format(self, fmt: AudioFormat) -> None:
        """The session's input format changed: later appends are decoded in `fmt`."""
        if fmt != self.fmt:
            self.fmt = fmt
            self._carry = np.zeros(0, dtype=np.float32)
            self._odd = b""

    def append(self, data: bytes, vad: VadSettings | None) -> list[Detection]:
        """Add audio; with `vad`, the speech starts and stops it completes (in order)."""
        ms = self.fmt.duration_ms(data)
        self._timeline_ms += ms
        self._uncommitted_ms += ms
        if self.fmt.bytes_per_sample == 2:
            data = self._odd + data
            cut = len(data) - len(data) % 2
            data, self._odd = data[:cut], data[cut:]
        samples = np.concatenate([self._carry, self.fmt.decode(data)])
        window = self.fmt.rate * WINDOW_MS // 1000
        whole = len(samples) - len(samples) % window
        self._carry = samples[whole:]
        if vad is None:  # push-to-talk (or detection just turned off): no speech in progress
            self._window_start_ms += whole / self.fmt.rate * 1000
            self.speaking, self._voiced_ms, self._silent_ms = False, 0, 0
            return []
        detections: list[Detection] = []
        blocks = samples[:whole].reshape(-1, window)
        levels = np.sqrt(np.mean(blocks.astype(np.float64) ** 2, axis=1))
        for level in levels:
            db = 20 * math.log10(level) if level > 0 else -math.inf
            found = self._step(db >= vad.level_dbfs, vad)
            if found is not None:
                detections.append(found)
            self._window_start_ms += WINDOW_MS
        return detections

    def _step(self, voiced: bool, vad: VadSettings) -> Detection | None:
        end_ms = self._window_start_ms + WINDOW_MS
        if not self.speaking:
            if not voiced:
                self._voiced_ms = 0
                return None
            if self._voiced_ms == 0:
                self._onset_ms = self._window_start_ms
            self._voiced_ms += WINDOW_MS
            if self._voiced_ms < MIN_SPEECH_MS:
                return None
            self.speaking, self._silent_ms = True, 0
            start = max(self._onset_ms - vad.prefix_padding_ms, self._committed_at_ms, 0.0)
            return SpeechStarted(int(start))
        if voiced:
            self._silent_ms = 0
            return None
        self._silent_ms += WINDOW_MS
        if self._silent_ms < vad.silence_duration_ms:
            return None
        self.speaking, self._voiced_ms = False, 0
        return SpeechStopped(int(end_ms))

    def commit(self) -> float:
        """Commit the uncommitted audio; returns its milliseconds. Ends any speech in progress."""
        ms = self._uncommitted_ms
        self._reset()
        return ms

    def clear(self) -> None:
        """Drop the uncommitted audio (and any speech in progress)."""
        self._reset()

    def _reset(self) -> None:
        self._uncommitted_ms = 0.0
        self._committed_at_ms = self._timeline_ms
        self.speaking, self._voiced_ms, self._silent_ms = False, 0, 0
