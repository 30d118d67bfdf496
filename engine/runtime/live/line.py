"""The telephone line under a GPT-Live SIP call: its session's calls API and its sideband."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from ..line import LineUnsupported, sip_uri

#: The keys `transport.dtmf.send` takes, one event each.
DTMF_KEYS = frozenset("0123456789ABCD*#")


class LiveCallLine:
    """An OpenAI SIP call on GPT-Live, by its `live_…` session id (`client`: an `openai.AsyncOpenAI`).

    Transfers and hang-ups go through `client.live.sessions`; DTMF goes out on the sideband, one
    `transport.dtmf.send` per key, through `send` (the attached session's `send`)."""

    def __init__(self, client: Any, session_id: str, send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        self._client = client
        self._session_id = session_id
        self._send = send

    async def transfer(self, to: str, summary: str) -> None:
        await self._client.live.sessions.refer(self._session_id, target_uri=sip_uri(to))

    async def hangup(self) -> None:
        await self._client.live.sessions.hangup(self._session_id)

    async def send_dtmf(self, digits: str) -> None:
        """Raises `LineUnsupported` for a key DTMF has not (the digits before it went out)."""
        for key in digits.upper():
            if key not in DTMF_KEYS:
                raise LineUnsupported(f"{key!r} is not a DTMF key (0-9, A-D, * and #)")
            await self._send({"type": "transport.dtmf.send", "event": key})
