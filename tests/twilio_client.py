"""A Twilio stand-in for tests, written from Twilio's documentation and kept apart from the server code.

Twilio's side of a call: the voice webhook request (a form POST signed with `X-Twilio-Signature`:
base64 of HMAC-SHA1, keyed with the auth token, over the full URL followed by every POST parameter's
name and value, sorted by name), and a bidirectional Media Stream over a websocket. Twilio sends
`connected`, `start` (streamSid, callSid, tracks, mediaFormat, customParameters), `media` (base64
μ-law 8 kHz, with sequenceNumber, chunk and timestamp), `mark` (the echo of a mark it was sent,
once the audio before it has played), `dtmf` and `stop`. It accepts `media` (audio to play, queued
in order), `mark` (a label after the queued audio) and `clear` (drop the queued audio; the marks
still pending are echoed at once).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import websockets

FRAME_MS = 20
FRAME_BYTES = 160  # 20 ms of μ-law at 8 kHz
SILENCE = b"\xff" * FRAME_BYTES  # μ-law's zero


def mulaw(sample: int) -> int:
    """ITU-T G.711 μ-law of one 16-bit sample (what the phone network carries)."""
    sign = 0x80 if sample < 0 else 0
    magnitude = min(abs(sample), 32635) + 0x84
    exponent = max(0, magnitude.bit_length() - 8)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (min(exponent, 7) << 4) | mantissa) & 0xFF


def signature(auth_token: str, url: str, params: dict[str, str]) -> str:
    payload = url + "".join(f"{name}{params[name]}" for name in sorted(params))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def post_voice_webhook(url: str, params: dict[str, str], auth_token: str | None = None) -> tuple[int, str]:
    """POST the voice webhook as Twilio does; signed when `auth_token` is given."""
    body = "&".join(f"{k}={urllib.parse.quote(v)}" for k, v in params.items()).encode()
    request = urllib.request.Request(url, data=body, method="POST")
    request.add_header("Content-Type", "application/x-www-form-urlencoded")
    if auth_token is not None:
        request.add_header("X-Twilio-Signature", signature(auth_token, url, params))
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@dataclass
class _Queued:
    audio: bytes = b""
    mark: str | None = None


@dataclass
class MediaStream:
    """One call's media stream, as Twilio runs it: `async with MediaStream(url, ...) as call:`."""

    url: str
    parameters: dict[str, str] = field(default_factory=dict)
    stream_sid: str = "MZ00000000000000000000000000000001"
    call_sid: str = "CA00000000000000000000000000000001"
    received_audio: bytearray = field(default_factory=bytearray)  # what was played to the caller
    marks_echoed: list[str] = field(default_factory=list)
    clears: int = 0
    wrong_stream: list[dict[str, Any]] = field(default_factory=list)  # messages for another streamSid

    async def __aenter__(self) -> MediaStream:
        self._ws = await websockets.connect(self.url)
        self._sequence = 0
        self._chunk = 0
        self._queue: list[_Queued] = []
        self._started = time.monotonic()
        self._got_audio = asyncio.Event()
        self._send({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        start = {
            "accountSid": "AC00000000000000000000000000000001",
            "streamSid": self.stream_sid,
            "callSid": self.call_sid,
            "tracks": ["inbound"],
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            "customParameters": self.parameters,
        }
        self._send({"event": "start", "start": start, "streamSid": self.stream_sid})
        await self._flush()
        self._tasks = [asyncio.create_task(self._receive()), asyncio.create_task(self._play())]
        return self

    async def __aexit__(self, *exc: object) -> None:
        with_stop = not self._ws.close_code
        if with_stop:
            self._send({"event": "stop", "stop": {"accountSid": "AC1", "callSid": self.call_sid}})
            await self._flush()
        for task in self._tasks:
            task.cancel()
        await self._ws.close()

    # --- what the caller does -----------------------------------------------------------------

    async def drop(self) -> None:
        """The connection goes without Twilio's `stop` (a network failure)."""
        await self._ws.close()

    async def speak(self, audio: bytes) -> None:
        """Stream μ-law audio at real time, 20 ms a frame."""
        for i in range(0, len(audio), FRAME_BYTES):
            self._media(audio[i : i + FRAME_BYTES])
            await self._flush()
            await asyncio.sleep(FRAME_MS / 1000)

    async def silent_until(self, done: Callable[[], object], frames: int) -> None:
        """Stream silence, 20 ms a frame, until `done()` is true or `frames` frames went (the caller asserts)."""
        for _ in range(frames):
            if done():
                return
            await self.speak(SILENCE)

    async def press(self, digit: str) -> None:
        self._send({"event": "dtmf", "streamSid": self.stream_sid, "dtmf": {"track": "inbound_track", "digit": digit}})
        await self._flush()

    async def wait_for_audio(self, timeout: float = 10.0) -> None:
        await asyncio.wait_for(self._got_audio.wait(), timeout)

    @property
    def playing(self) -> bool:
        """Agent audio is queued to be heard."""
        return any(q.audio for q in self._queue)

    # --- Twilio's side ------------------------------------------------------------------------

    def _message(self, event: dict[str, Any]) -> str:
        self._sequence += 1
        return json.dumps({**event, "sequenceNumber": str(self._sequence)})

    def _send(self, event: dict[str, Any]) -> None:
        self._pending = [*getattr(self, "_pending", []), self._message(event)]

    async def _flush(self) -> None:
        pending, self._pending = getattr(self, "_pending", []), []
        for text in pending:
            await self._ws.send(text)

    def _media(self, payload: bytes) -> None:
        self._chunk += 1
        timestamp = str(int((time.monotonic() - self._started) * 1000))
        media = {"track": "inbound", "chunk": str(self._chunk), "timestamp": timestamp}
        self._send(
            {
                "event": "media",
                "streamSid": self.stream_sid,
                "media": {**media, "payload": base64.b64encode(payload).decode()},
            }
        )

    async def _receive(self) -> None:
        async for text in self._ws:
            message = json.loads(text)
            if message.get("streamSid") != self.stream_sid:
                self.wrong_stream.append(message)
                continue
            kind = message.get("event")
            if kind == "media":
                self._queue.append(_Queued(audio=base64.b64decode(message["media"]["payload"])))
                self._got_audio.set()
            elif kind == "mark":
                self._queue.append(_Queued(mark=message["mark"]["name"]))
            elif kind == "clear":
                self.clears += 1
                pending = [q.mark for q in self._queue if q.mark is not None]
                self._queue.clear()
                for name in pending:  # Twilio echoes the marks it drops
                    self._echo(name)
                await self._flush()

    async def _play(self) -> None:
        """Play queued audio at real time; echo each mark once the audio before it has played."""
        while True:
            while self._queue and self._queue[0].mark is not None:
                self._echo(self._queue.pop(0).mark or "")
            await self._flush()
            if self._queue:
                head = self._queue[0]
                frame, head.audio = head.audio[:FRAME_BYTES], head.audio[FRAME_BYTES:]
                if not head.audio:
                    self._queue.pop(0)
                self.received_audio += frame
                await asyncio.sleep(len(frame) / 8 / 1000)
            else:
                await asyncio.sleep(0.005)

    def _echo(self, name: str) -> None:
        self.marks_echoed.append(name)
        self._send({"event": "mark", "streamSid": self.stream_sid, "mark": {"name": name}})
