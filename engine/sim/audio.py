"""Text streamed in pieces: transcript and function-argument deltas (the audio itself is `voice`'s)."""

from __future__ import annotations

import re

WORDS_PER_DELTA = 3


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
