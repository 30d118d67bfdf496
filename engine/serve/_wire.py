"""A transport that shows a call's realtime wire to the console: every client and server event,
audio payloads elided and secrets redacted as in an events file, handed on as JSON text."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Literal

from ..redact import Redactor
from ..runtime import AiohttpTransport, Connection
from ..runtime.recorder import _AUDIO_FIELDS, _SENSITIVE_KEY, REDACTED, _redact_keys

Direction = Literal["client", "server"]
WireTap = Callable[[Direction, str], None]
#: Frames shorter than this cannot carry an audio payload worth eliding: passed on unparsed.
_SMALL_FRAME = 400
#: How the session serializes an input audio append (its `type` first).
_APPEND = '{"type": "input_audio_buffer.append"'


class Scrubber:
    """One frame as the console may show it: audio as a size, credentials replaced."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self._redact = Redactor(secrets, REDACTED)

    def __call__(self, text: str) -> str:
        if len(text) >= _SMALL_FRAME and ("audio" in text[:200] or "audio" in text[-200:]):
            try:
                event = json.loads(text)
            except ValueError:
                return json.dumps({"malformed": self._redact(text)[:500]})
            field = _AUDIO_FIELDS.get(event.get("type", "")) if isinstance(event, dict) else None
            if field and isinstance(event.get(field), str):
                event[field] = f"<{len(event[field]) * 3 // 4} bytes of audio elided>"
                text = json.dumps(event)
        if _SENSITIVE_KEY.search(text):
            try:
                text = json.dumps(_redact_keys(json.loads(text)))
            except ValueError:
                return json.dumps({"malformed": self._redact(text)[:500]})
        return self._redact(text)


class _TappedConnection:
    def __init__(self, inner: Connection, tap: WireTap, scrub: Scrubber) -> None:
        self._inner = inner
        self._tap = tap
        self._scrub = scrub

    async def send(self, text: str) -> None:
        await self._inner.send(text)
        # The microphone's appends (fifty a second) are not shown: skipped before any parsing.
        if not text.startswith(_APPEND):
            self._tap("client", self._scrub(text))

    async def recv(self) -> str:
        text = await self._inner.recv()
        self._tap("server", self._scrub(text))
        return text

    async def close(self) -> None:
        await self._inner.close()


class TappedTransport:
    """`AiohttpTransport` whose connections report each frame to `tap` (after it went or came)."""

    def __init__(self, tap: WireTap, secrets: Iterable[str] = ()) -> None:
        self._inner = AiohttpTransport()
        self._tap = tap
        self._scrub = Scrubber(secrets)

    async def connect(self, url: str, headers: dict[str, str]) -> Connection:
        return _TappedConnection(await self._inner.connect(url, headers), self._tap, self._scrub)

    async def aclose(self) -> None:
        await self._inner.aclose()
