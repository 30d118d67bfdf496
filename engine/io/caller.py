"""The caller's side of a call from a WAV file: its audio streamed as a microphone would send it."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from .formats import AudioFormat
from .frames import FRAME_MS, frames, paced
from .recording import CallRecording
from .wav import read_wav

if TYPE_CHECKING:
    from ..spec import Document

#: After the file, the caller keeps "listening" in silence, as an open microphone does, so that
#: the server's turn detection hears the end of the last utterance.
TAIL_MS = 1500


async def stream_wav(
    path: str | os.PathLike[str],
    fmt: AudioFormat,
    send: Callable[[bytes], Awaitable[object]],
    *,
    speed: float = 1.0,
    tail_ms: int = TAIL_MS,
    recording: CallRecording | None = None,
) -> float:
    """Send a WAV file's audio in `fmt` through `send` (e.g. `session.send_audio`): `stream_audio` of
    the file, which is read and converted before anything is sent. Raises AudioFileError for a file
    that cannot be read (nothing sent then)."""
    return await stream_audio(read_wav(path, fmt), fmt, send, speed=speed, tail_ms=tail_ms, recording=recording)


async def stream_audio(
    audio: bytes,
    fmt: AudioFormat,
    send: Callable[[bytes], Awaitable[object]],
    *,
    speed: float = 1.0,
    tail_ms: int = TAIL_MS,
    recording: CallRecording | None = None,
) -> float:
    """Send `audio` (in `fmt`) through `send`, 20 ms a frame, paced at `speed` times real time (0: as
    fast as possible), followed by `tail_ms` of silence; each frame is placed on `recording`'s caller
    track when sent. Returns the milliseconds sent."""
    sent = 0.0
    async for frame in paced(frames(audio + fmt.silence(tail_ms), fmt, FRAME_MS), fmt, speed=speed):
        await send(frame)
        if recording is not None:
            recording.caller(frame)
        sent += fmt.duration_ms(frame)
    return sent


def call_formats(doc: Document, agent: str | None = None) -> tuple[AudioFormat, AudioFormat]:
    """The call's input and output audio formats, as the `agent`'s (default: the start agent's) session
    sets them: the formats a whole call keeps."""
    from ..compile import compile_session

    audio = compile_session(doc, agent or doc.spec.start)["session"].get("audio") or {}
    fmt_in = AudioFormat.from_session((audio.get("input") or {}).get("format"))
    fmt_out = AudioFormat.from_session((audio.get("output") or {}).get("format"))
    return fmt_in, fmt_out
