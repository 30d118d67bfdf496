"""Reading a WAV file of any rate, width and channel count into a session format, and writing one.

`soundfile` (libsndfile) reads every WAV flavour (8-bit unsigned to 32-bit integer and float,
WAVE_FORMAT_EXTENSIBLE, RF64); `soxr` resamples. Channels are mixed down to mono.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import soundfile

from .formats import PCM16, AudioFormat

_WAV_CONTAINERS = frozenset({"WAV", "WAVEX", "RF64"})


class AudioFileError(Exception):
    """An audio file that cannot be read or written; the message names the file and the reason."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


def _info(path: Path) -> Any:
    if not path.exists():
        raise AudioFileError(path, "no such file")
    if not path.is_file():
        raise AudioFileError(path, "not a regular file")
    try:
        info = soundfile.info(str(path))
    except (soundfile.LibsndfileError, RuntimeError, OSError) as exc:
        raise AudioFileError(path, f"not a readable WAV file ({_reason(exc)})") from None
    if info.format not in _WAV_CONTAINERS:
        raise AudioFileError(path, f"not a WAV file (it holds {info.format_info or info.format} audio)")
    return info


def _reason(exc: BaseException) -> str:
    text = str(getattr(exc, "error_string", "") or exc)
    # libsndfile prefixes its message with the path the caller already shows
    return text.split(": ", 1)[-1].strip().rstrip(".") or type(exc).__name__


def read_samples(path: str | os.PathLike[str]) -> tuple[np.ndarray, int]:
    """The file's audio as mono float32 samples in [-1, 1] and its sample rate.

    Raises AudioFileError for a missing, unreadable, non-WAV or empty file.
    """
    where = Path(path)
    info = _info(where)
    try:
        data, rate = soundfile.read(str(where), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, OSError, ValueError) as exc:
        raise AudioFileError(where, f"cannot read its audio ({_reason(exc)})") from None
    if data.shape[0] == 0:
        raise AudioFileError(where, "holds no audio (0 samples)")
    mono = data.mean(axis=1) if info.channels > 1 else data[:, 0]
    return np.ascontiguousarray(mono, dtype=np.float32), int(rate)


def read_wav(path: str | os.PathLike[str], fmt: AudioFormat = PCM16) -> bytes:
    """A WAV file's audio in `fmt` (default pcm16 24 kHz mono): resampled, mixed to mono, encoded.

    Raises AudioFileError for a missing, unreadable, non-WAV or empty file.
    """
    samples, rate = read_samples(path)
    return fmt.encode(samples, rate)


def write_wav(path: str | os.PathLike[str], channels: list[np.ndarray], rate: int) -> None:
    """Write float samples (one array per channel, padded to the longest) as a 16-bit PCM WAV.

    Raises AudioFileError when the file cannot be written.
    """
    if not channels:
        raise ValueError("write_wav needs at least one channel")
    length = max(len(c) for c in channels)
    frames = np.zeros((length, len(channels)), dtype=np.float32)
    for i, channel in enumerate(channels):
        frames[: len(channel), i] = channel
    try:
        soundfile.write(str(path), np.clip(frames, -1.0, 1.0), rate, subtype="PCM_16", format="WAV")
    except (soundfile.LibsndfileError, RuntimeError, OSError) as exc:
        raise AudioFileError(path, f"cannot write it ({_reason(exc)})") from None
