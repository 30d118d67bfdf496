"""The microphone and the speaker, through the optional `sounddevice` package (PortAudio).

`pip install "realtime-agent-engine[devices]"` brings it; PortAudio itself comes with the system
(Debian: `libportaudio2`). Where either is missing, or the machine has no sound device, opening
one raises `DeviceUnavailable` with what to do, never a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

from .formats import PCM16, AudioFormat
from .frames import FRAME_MS

#: The rate the devices run at; the session's format is converted to and from it.
DEVICE_RATE = PCM16.rate


class DeviceUnavailable(Exception):
    """No microphone or speaker can be opened here; the message says why and what to install."""


def _sounddevice() -> Any:
    try:
        import sounddevice
    except ImportError:
        raise DeviceUnavailable(
            "--mic and --speaker need the sounddevice package: pip install 'realtime-agent-engine[devices]'"
        ) from None
    except OSError as exc:  # sounddevice is there, PortAudio is not
        raise DeviceUnavailable(f"PortAudio is missing ({exc}); on Debian: apt-get install libportaudio2") from None
    return sounddevice


def check_device(kind: str) -> None:
    """Raise `DeviceUnavailable` unless a default `kind` ("input" or "output") device exists."""
    sd = _sounddevice()
    try:
        sd.query_devices(kind=kind)
    except Exception as exc:  # PortAudioError, ValueError: none
        name = "microphone" if kind == "input" else "speaker"
        raise DeviceUnavailable(f"no {name} can be opened here: {exc}") from None


def _open(kind: str, factory: Any, **options: Any) -> Any:
    sd = _sounddevice()
    try:
        stream = factory(sd)(samplerate=DEVICE_RATE, channels=1, dtype="int16", **options)
        stream.start()
    except Exception as exc:  # PortAudioError and friends: no device, busy device
        raise DeviceUnavailable(f"no {kind} can be opened here: {exc}") from None
    return stream


class Microphone:
    """20 ms frames of the microphone in `fmt`: `async with Microphone(fmt) as mic: async for frame in mic`."""

    def __init__(self, fmt: AudioFormat) -> None:
        self._fmt = fmt
        self._frames: asyncio.Queue[bytes] = asyncio.Queue(maxsize=250)  # 5 s; older frames are dropped
        self._stream: Any = None

    async def __aenter__(self) -> Microphone:
        loop = asyncio.get_running_loop()

        def captured(data: Any, frames: int, time: Any, status: Any) -> None:  # PortAudio's thread
            loop.call_soon_threadsafe(self._put, bytes(data))

        self._stream = _open(
            "microphone",
            lambda sd: sd.RawInputStream,
            blocksize=DEVICE_RATE * FRAME_MS // 1000,
            callback=captured,
        )
        return self

    def _put(self, pcm: bytes) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            self._frames.put_nowait(self._fmt.encode(PCM16.decode(pcm), DEVICE_RATE))

    async def __aexit__(self, *exc_info: object) -> None:
        if self._stream is not None:
            self._stream.stop()
            self._stream.close()

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[bytes]:
        while True:
            yield await self._frames.get()


class Speaker:
    """Plays the agent's audio (in `fmt`) and tells the playback clock how much of each item was heard."""

    def __init__(self, fmt: AudioFormat) -> None:
        self._fmt = fmt
        self._queue: deque[tuple[str, bytes]] = deque()
        self._played: dict[str, int] = {}
        self._clock: Any = None

        def fill(out: Any, frames: int, time: Any, status: Any) -> None:  # PortAudio's thread
            need = len(out)
            chunk = b""
            while len(chunk) < need and self._queue:
                item_id, data = self._queue.popleft()
                take = data[: need - len(chunk)]
                if len(take) < len(data):
                    self._queue.appendleft((item_id, data[len(take) :]))
                chunk += take
                self._played[item_id] = self._played.get(item_id, 0) + len(take) // (DEVICE_RATE * 2 // 1000)
                if self._clock is not None:
                    self._clock.report(item_id, self._played[item_id])
            out[:] = chunk + bytes(need - len(chunk))

        self._stream = _open("speaker", lambda sd: sd.RawOutputStream, callback=fill)

    def report_to(self, clock: Any) -> None:
        self._clock = clock

    def play(self, item_id: str, data: bytes) -> None:
        self._queue.append((item_id, PCM16.encode(self._fmt.decode(data), self._fmt.rate)))

    def clear(self) -> None:
        self._queue.clear()

    def close(self) -> None:
        self._stream.stop()
        self._stream.close()
