"""The websocket under a session, behind one small interface so the client library can change."""

from __future__ import annotations

from typing import Protocol

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK


class TransportClosed(Exception):
    """The connection ended; `clean` tells a requested close from a drop."""

    def __init__(self, clean: bool, reason: str = "") -> None:
        super().__init__(reason or ("closed" if clean else "connection lost"))
        self.clean = clean


class Connection(Protocol):
    async def send(self, text: str) -> None: ...
    async def recv(self) -> str: ...
    async def close(self) -> None: ...


class Transport(Protocol):
    async def connect(self, url: str, headers: dict[str, str]) -> Connection: ...


class WebsocketsConnection:
    def __init__(self, ws: ClientConnection) -> None:
        self._ws = ws

    async def send(self, text: str) -> None:
        try:
            await self._ws.send(text)
        except ConnectionClosed as exc:
            raise TransportClosed(exc.rcvd is not None and exc.rcvd.code == 1000, str(exc)) from None

    async def recv(self) -> str:
        try:
            message = await self._ws.recv()
        except ConnectionClosedOK as exc:
            raise TransportClosed(True, str(exc)) from None
        except ConnectionClosed as exc:
            raise TransportClosed(False, str(exc)) from None
        return message if isinstance(message, str) else message.decode("utf-8", "replace")

    async def close(self) -> None:
        await self._ws.close()


class WebsocketsTransport:
    """The `websockets` asyncio client (the default)."""

    def __init__(self, *, open_timeout: float = 10.0) -> None:
        self._open_timeout = open_timeout

    async def connect(self, url: str, headers: dict[str, str]) -> Connection:
        ws = await connect(
            url,
            additional_headers=headers,
            open_timeout=self._open_timeout,
            max_size=None,  # audio deltas and session objects can be large
            compression=None,  # the API does not compress; skipping it saves CPU per frame
            ping_interval=20,
        )
        return WebsocketsConnection(ws)
