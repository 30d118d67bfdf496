"""The simulator's voice: what a scripted `say` sounds like, in the session's output format.

With the `espeak-ng` binary on the PATH (Debian package `espeak-ng`) the text is spoken by it;
otherwise, or when asked, a speech-like tone stands in: voiced harmonics at a speaking pitch,
syllable-rate loudness, gaps between words, 60 ms per character. Never silence: a person may be
listening. Speech is synthesized once per text and format and cached.
"""

from __future__ import annotations

import base64
import io
import logging
import shutil
import subprocess
import zlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
import soundfile

from engine.io.formats import AudioFormat

_log = logging.getLogger("engine.sim")

SpeechMode = Literal["auto", "espeak", "tone"]
MS_PER_CHAR = 60  # the tone's pace, about that of speech
CHUNK_MS = 100  # the API sends audio deltas of tens of milliseconds
_TONE_RATE = 24000
_ESPEAK_TIMEOUT = 20.0


@dataclass(frozen=True)
class Speech:
    """A text as audio in one format: its base64 deltas of up to CHUNK_MS each, and their durations."""

    text: str
    chunks: tuple[str, ...]
    chunk_ms: tuple[int, ...]
    source: Literal["espeak", "tone"]

    @property
    def duration_ms(self) -> int:
        return sum(self.chunk_ms)

    def chars_at(self, ms: float) -> int:
        """How many characters of the text have been spoken `ms` into the audio (speech follows the words)."""
        if self.duration_ms <= 0:
            return len(self.text)
        return min(len(self.text), max(0, int(len(self.text) * ms / self.duration_ms)))

    def ms_at(self, chars: int) -> float:
        """When the character at offset `chars` is spoken."""
        return self.duration_ms * chars / len(self.text) if self.text else 0.0


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def speak(text: str, fmt: AudioFormat, mode: SpeechMode = "auto") -> Speech:
    """`text` spoken in `fmt` (espeak-ng when present and `mode` allows, else the tone)."""
    use_espeak = mode == "espeak" or (mode == "auto" and espeak_available())
    return _speak(text, fmt, "espeak" if use_espeak else "tone")


@lru_cache(maxsize=1024)
def _speak(text: str, fmt: AudioFormat, source: Literal["espeak", "tone"]) -> Speech:
    samples, rate = (None, 0)
    if source == "espeak" and text.strip():
        samples, rate = _espeak(text)
    if samples is None:
        source = "tone"
        samples, rate = tone(text), _TONE_RATE
    data = fmt.encode(samples, rate)
    data += fmt.silence(1)[: -len(data) % fmt.bytes_per_ms or 0]  # whole milliseconds: durations add up exactly
    step = fmt.bytes_per_ms * CHUNK_MS
    pieces = [data[i : i + step] for i in range(0, len(data), step)]
    chunks = tuple(base64.b64encode(p).decode("ascii") for p in pieces)
    return Speech(text, chunks, tuple(round(fmt.duration_ms(p)) for p in pieces), source)


def _espeak(text: str) -> tuple[np.ndarray | None, int]:
    try:
        done = subprocess.run(
            ["espeak-ng", "--stdout", "-v", "en-us", "--", text],
            capture_output=True,
            timeout=_ESPEAK_TIMEOUT,
            check=True,
        )
        samples, rate = soundfile.read(io.BytesIO(done.stdout), dtype="float32", always_2d=True)
    except (OSError, subprocess.SubprocessError, soundfile.LibsndfileError, RuntimeError) as exc:
        _log.warning("espeak-ng failed (%s); the simulator speaks with a tone", exc)
        return None, 0
    if samples.shape[0] == 0:
        return None, 0
    return samples.mean(axis=1).astype(np.float32), int(rate)


def tone(text: str, rate: int = _TONE_RATE) -> np.ndarray:
    """A speech-like signal for `text`: MS_PER_CHAR per character, voiced for letters and digits.

    Each word gets a pitch between 110 and 170 Hz (from its letters, so the same text always
    sounds the same) falling slightly across it, eight harmonics, and a loudness rising and
    falling about five times a second, like syllables; spaces and punctuation are short gaps.
    """
    per_char = rate * MS_PER_CHAR // 1000
    out = np.zeros(len(text) * per_char, dtype=np.float32)
    for start, word in _words(text):
        n = len(word) * per_char
        t = np.arange(n, dtype=np.float64) / rate
        f0 = 110 + zlib.crc32(word.encode()) % 60
        pitch = f0 * (1.0 - 0.15 * t / max(t[-1], 1e-9))  # a falling contour
        phase = 2 * np.pi * np.cumsum(pitch) / rate
        voiced = sum(np.sin(k * phase) / k for k in range(1, 9))
        syllables = 0.55 + 0.45 * np.sin(np.pi * 5.0 * t) ** 2
        edge = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.01)  # 10 ms fades: no clicks
        offset = start * per_char
        out[offset : offset + n] = (0.12 * voiced * syllables * edge).astype(np.float32)
    return out


def _words(text: str) -> list[tuple[int, str]]:
    words, start = [], None
    for i, ch in enumerate(text + " "):
        if ch.isalnum():
            start = i if start is None else start
        elif start is not None:
            words.append((start, text[start:i]))
            start = None
    return words
