"""Synthetic speech: silence sized to the text, and the transcript split into small deltas."""

from __future__ import annotations

import base64
import re
from functools import cache

MS_PER_CHAR = 60  # roughly the pace of speech: 60 ms of audio per character of transcript
CHUNK_MS = 100  # the API sends audio deltas of a few tens of milliseconds
WORDS_PER_DELTA = 3

# Silence in each format: zero samples for pcm16, the G.711 codes for a zero level.
_SILENCE_BYTE = {"audio/pcm": b"\x00", "audio/pcmu": b"\xff", "audio/pcma": b"\xd5"}


def speech_ms(text: str) -> int:
    return len(text) * MS_PER_CHAR


def chunk_durations(total_ms: int, chunk_ms: int = CHUNK_MS) -> list[int]:
    """Durations of the audio deltas covering `total_ms`: full chunks, then the remainder."""
    full, rest = divmod(total_ms, chunk_ms)
    return [chunk_ms] * full + ([rest] if rest else [])


@cache
def silence_b64(ms: int, format_type: str, bytes_per_ms: int) -> str:
    """Base64 of `ms` of silence (cached: every delta of the same size is the same string)."""
    return base64.b64encode(_SILENCE_BYTE.get(format_type, b"\x00") * (ms * bytes_per_ms)).decode("ascii")


def transcript_deltas(text: str, words_per_delta: int = WORDS_PER_DELTA) -> list[str]:
    """`text` cut into deltas of a few words each; joined, they give back `text` exactly."""
    words = re.findall(r"\s*\S+", text)
    if not words:
        return [text] if text else []
    tail = text[len("".join(words)) :]  # trailing whitespace
    deltas = ["".join(words[i : i + words_per_delta]) for i in range(0, len(words), words_per_delta)]
    deltas[-1] += tail
    return deltas


def argument_deltas(arguments: str, size: int = 12) -> list[str]:
    return [arguments[i : i + size] for i in range(0, len(arguments), size)] or [""]


def unscripted_transcript(ms: float) -> str:
    """What the simulator transcribes for speech the script has no user turn for."""
    return f"[unscripted speech, {ms / 1000:.1f} s: the script has no user turn for it]"
