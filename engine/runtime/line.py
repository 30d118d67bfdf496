"""The telephone line under a call, as far as the graph's call-control tools need it.

A frontend that carries a real call gives the session its line: an OpenAI SIP call refers and hangs
up through the Realtime calls API; a Twilio call redirects and completes through Twilio's API. A
call without one (a terminal, a WAV file, the browser console) gets `NoLine`: the session's events
say what happened and the frontend ends the call itself.
"""

from __future__ import annotations

from typing import Any, Protocol


class LineUnsupported(Exception):
    """The line cannot do this (sending DTMF on a call that has no phone line)."""


class CallLine(Protocol):
    async def transfer(self, to: str, summary: str) -> None:
        """Hand the call to `to` (E.164 or a sip:/tel: URI); `summary` is for the person taking it."""

    async def hangup(self) -> None: ...

    async def send_dtmf(self, digits: str) -> None:
        """Raises `LineUnsupported` where the line cannot send digits."""


def sip_uri(to: str) -> str:
    """`to` as a URI a SIP REFER takes: an E.164 number becomes `tel:+…`."""
    return f"tel:{to}" if to.startswith("+") else to


class NoLine:
    """A call with no telephone under it: transfers and hang-ups are the frontend's to show."""

    async def transfer(self, to: str, summary: str) -> None:
        return None

    async def hangup(self) -> None:
        return None

    async def send_dtmf(self, digits: str) -> None:
        raise LineUnsupported("this call has no phone line to send digits on")


class RealtimeCallLine:
    """An OpenAI SIP call on the Realtime API, by its `call_id` (`client`: an `openai.AsyncOpenAI`)."""

    def __init__(self, client: Any, call_id: str) -> None:
        self._client = client
        self._call_id = call_id

    async def transfer(self, to: str, summary: str) -> None:
        await self._client.realtime.calls.refer(self._call_id, target_uri=sip_uri(to))

    async def hangup(self) -> None:
        await self._client.realtime.calls.hangup(self._call_id)

    async def send_dtmf(self, digits: str) -> None:
        raise LineUnsupported("the Realtime API's SIP calls cannot send DTMF")
