"""The caller's side of a call from a WAV file: its audio streamed as a microphone would send it."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable

from .formats import AudioFormat
from .frames import FRAME_MS, frames, paced
from .recording import CallRecording
from .wav import read_wav

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
    """Send a WAV file's audio in `fmt` through `send` (e.g. `session.send_audio`), 20 ms a frame.

    Paced at `speed` times real time (0: as fast as possible), followed by `tail_ms` of silence;
    each frame is placed on `recording`'s caller track when sent. Returns the milliseconds sent.
    The file is read and converted before anything is sent. Raises AudioFileError for a file
    that cannot be read (nothing sent then).
    """
    audio = read_wav(path, fmt) + fmt.silence(tail_ms)
    sent = 0.0
    async for frame in paced(frames(audio, fmt, FRAME_MS), fmt, speed=speed):
        await send(frame)
        if recording is not None:
            recording.caller(frame)
        sent += fmt.duration_ms(frame)
    return sent
