"""The audio formats of a realtime session and conversion between them and linear samples.

Samples are handled as numpy float32 arrays in [-1, 1) (mono); resampling is `soxr`'s and G.711
is `audioop`'s (the standard library up to 3.12, the `audioop-lts` package from 3.13 on).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import soxr

with warnings.catch_warnings():  # deprecated in 3.11/3.12 (audioop-lts replaces it from 3.13)
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

FormatType = Literal["audio/pcm", "audio/pcmu", "audio/pcma"]


@dataclass(frozen=True, slots=True)
class AudioFormat:
    """One of the GA session formats: `audio/pcm` (16-bit little-endian) or G.711 at 8 kHz."""

    type: FormatType
    rate: int

    @classmethod
    def from_session(cls, fmt: dict[str, Any] | None) -> AudioFormat:
        """The format of a session's `audio.input.format` / `audio.output.format` (pcm16 24 kHz if absent).

        Raises ValueError for a type the API does not define.
        """
        kind = (fmt or {}).get("type", "audio/pcm")
        if kind == "audio/pcm":
            return cls("audio/pcm", int((fmt or {}).get("rate") or 24000))
        if kind in ("audio/pcmu", "audio/pcma"):
            return cls(kind, 8000)
        raise ValueError(f"unknown audio format type {kind!r} (expected audio/pcm, audio/pcmu or audio/pcma)")

    @property
    def session_format(self) -> dict[str, Any]:
        """The format as a session writes it."""
        return {"type": "audio/pcm", "rate": self.rate} if self.type == "audio/pcm" else {"type": self.type}

    @property
    def bytes_per_sample(self) -> int:
        return 2 if self.type == "audio/pcm" else 1

    @property
    def bytes_per_ms(self) -> int:
        """pcm16 24 kHz: 48; G.711 8 kHz: 8."""
        return self.rate * self.bytes_per_sample // 1000

    def duration_ms(self, data: bytes | int) -> float:
        """Milliseconds of audio in `data` (or in that many bytes)."""
        size = data if isinstance(data, int) else len(data)
        return size / self.bytes_per_ms

    def encode(self, samples: np.ndarray, rate: int | None = None) -> bytes:
        """Float samples in [-1, 1] (at `rate`, default this format's) as bytes of this format."""
        samples = np.asarray(samples, dtype=np.float32)
        if rate is not None and rate != self.rate and samples.size:
            samples = soxr.resample(samples, rate, self.rate)
        pcm = (np.clip(samples, -1.0, 1.0 - 1 / 32768) * 32768).astype("<i2").tobytes()
        if self.type == "audio/pcmu":
            return audioop.lin2ulaw(pcm, 2)
        if self.type == "audio/pcma":
            return audioop.lin2alaw(pcm, 2)
        return pcm

    def decode(self, data: bytes) -> np.ndarray:
        """Bytes of this format as float32 samples at this format's rate (a trailing odd byte is ignored)."""
        if self.type == "audio/pcmu":
            data = audioop.ulaw2lin(data, 2)
        elif self.type == "audio/pcma":
            data = audioop.alaw2lin(data, 2)
        elif len(data) % 2:
            data = data[:-1]
        return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768

    def silence(self, ms: float) -> bytes:
        """`ms` of digital silence (zero samples; the G.711 code of level zero)."""
        count = round(ms * self.rate / 1000)
        return self.encode(np.zeros(count, dtype=np.float32))


PCM16 = AudioFormat("audio/pcm", 24000)
PCMU = AudioFormat("audio/pcmu", 8000)
PCMA = AudioFormat("audio/pcma", 8000)
