"""A transport that shows a call's realtime wire to the console: every client and server event,
audio payloads elided and secrets redacted as in an events file, handed on as JSON text."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Literal, NoReturn

import orjson

from ..redact import Redactor
from ..runtime import Connection, PicowsTransport
from ..runtime.recorder import AUDIO_FIELDS, REDACTED, SENSITIVE_KEY, redact_keys
from ..runtime.transport import FrameHandler, PicowsConnection

Direction = Literal["client", "server"]
#: `tap(direction, text, audio)`: one frame as the console may show it; `audio` is true for an agent
#: audio delta (fifty a second while the agent speaks), which the console may hold and send along
#: with the audio itself rather than as a message of its own.
WireTap = Callable[[Direction, str, bool], None]
#: Frames shorter than this cannot carry an audio payload worth eliding: passed on unparsed.
_SMALL_FRAME = 400
#: The microphone's appends, by their type near the start (Realtime and GPT-Live), however serialized.
_APPENDS = ('"input_audio_buffer.append"', '"session.input_audio.append"')
#: An agent audio delta (Realtime, GPT-Live) names its type among its first fields (after a short
#: `event_id` at most).
_AUDIO_DELTAS = ('"response.output_audio.delta"', '"session.output_audio.delta"')
_TYPE_WITHIN = 120
#: Its payload, elided by position without parsing the frame: base64 holds no quote, and an escaped
#: quote inside another string cannot match `"delta"` followed by a colon. Found this way in compact
#: JSON and in Python's default spacing (the simulator's); a frame spaced otherwise is parsed.
_DELTA_KEYS = ('"delta":"', '"delta": "')


def _audio_delta(text: str) -> bool:
    head = text[:_TYPE_WITHIN]
    return _AUDIO_DELTAS[0] in head or _AUDIO_DELTAS[1] in head


def _delta_span(text: str) -> tuple[int, int] | None:
    """Where an audio delta's base64 payload is in its frame, or None if it cannot be found."""
    for key in _DELTA_KEYS:
        at = text.find(key)
        if at >= 0:
            start = at + len(key)
            end = text.find('"', start)
            return None if end < 0 else (start, end)
    return None


def _elided(size: int) -> str:
    return f"<{size} bytes of audio elided>"


class Scrubber:
    """One frame as the console may show it: audio as a size, credentials replaced."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self._redact = Redactor(secrets, REDACTED)

    def __call__(self, text: str, audio_delta: bool | None = None) -> str:
        """`text` as shown. `audio_delta`: whether it is an agent audio delta, if the caller knows."""
        if audio_delta is None:
            audio_delta = _audio_delta(text)
        if audio_delta and (span := _delta_span(text)) is not None:
            start, end = span
            text = f"{text[:start]}{_elided((end - start) * 3 // 4)}{text[end:]}"
        elif len(text) >= _SMALL_FRAME and ("audio" in text[:200] or "audio" in text[-200:]):
            text = self._elide_parsed(text)
        if SENSITIVE_KEY.search(text):
            try:
                text = orjson.dumps(redact_keys(orjson.loads(text))).decode()
            except (ValueError, RecursionError):
                return self._malformed(text)
        return self._redact(text)

    def _elide_parsed(self, text: str) -> str:
        try:
            event = orjson.loads(text)
        except (ValueError, RecursionError):
            return self._malformed(text)
        field = AUDIO_FIELDS.get(event.get("type", "")) if isinstance(event, dict) else None
        if field and isinstance(event.get(field), str):
            event[field] = _elided(len(event[field]) * 3 // 4)
            return orjson.dumps(event).decode()
        return text

    def _malformed(self, text: str) -> str:
        return orjson.dumps({"malformed": self._redact(text)[:500]}).decode()


class _TappedConnection:
    def __init__(self, inner: PicowsConnection, tap: WireTap, scrub: Scrubber) -> None:
        self._inner = inner
        self._tap = tap
        self._scrub = scrub

    async def send(self, text: str) -> None:
        await self._inner.send(text)
        self._sent(text)

    def send_now(self, text: str) -> bool:
        if not self._inner.send_now(text):
            return False
        self._sent(text)
        return True

    def _sent(self, text: str) -> None:
        # The microphone's appends (fifty a second) are not shown: skipped before any parsing.
        head = text[:_TYPE_WITHIN]
        if _APPENDS[0] not in head and _APPENDS[1] not in head:
            self._tap("client", self._scrub(text, False), False)

    def _heard(self, text: str) -> None:
        audio = _audio_delta(text)
        self._tap("server", self._scrub(text, audio), audio)

    async def recv(self) -> str:
        text = await self._inner.recv()
        self._heard(text)
        return text

    async def listen(self, on_frame: FrameHandler) -> NoReturn:
        heard = self._heard

        def tapped(text: str) -> None:  # tapped first: an audio delta's entry rides with its audio
            heard(text)
            on_frame(text)

        await self._inner.listen(tapped)

    async def close(self) -> None:
        await self._inner.close()


class TappedTransport:
    """`PicowsTransport` whose connections report each frame to `tap` (after it went or came)."""

    def __init__(self, tap: WireTap, secrets: Iterable[str] = ()) -> None:
        self._inner = PicowsTransport()
        self._tap = tap
        self._scrub = Scrubber(secrets)

    async def connect(self, url: str, headers: dict[str, str]) -> Connection:
        conn = await self._inner.connect(url, headers)
        assert isinstance(conn, PicowsConnection)
        return _TappedConnection(conn, self._tap, self._scrub)

    async def aclose(self) -> None:
        await self._inner.aclose()
