"""The session's connection: send, listen, reconnect with backoff, and restore the conversation.

The link knows frames, not conversations: its owner (the session) reads each frame, says what to
send to rebuild the conversation on a new connection, and hears when the link gives up. A send made
while the link is reconnecting waits and goes out on the new connection, so nothing is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Protocol

import orjson

from ..errors import ConnectionLost, SessionClosed
from .recorder import EventRecorder
from .transport import Connection, Transport, TransportClosed

log = logging.getLogger("engine.runtime")

#: A connection that lived this long counts as restored: a drop after it starts the attempts afresh.
#: One that drops sooner continues the count, so a server that closes every connection at once is
#: given up on after the attempts, not retried forever.
STABLE_SECONDS = 5.0


class LinkOwner(Protocol):
    def on_frame(self, raw: str) -> None: ...
    def on_drop(self, cause: TransportClosed) -> None: ...
    def restore_events(self) -> list[dict[str, Any]] | None: ...
    def on_restored(self, attempt: int, restored: int) -> None: ...
    def on_lost(self, reason: str) -> None: ...


class Link:
    def __init__(
        self,
        transport: Transport,
        url: str,
        headers: dict[str, str],
        owner: LinkOwner,
        *,
        attempts: int = 5,
        backoff: float = 0.5,
        recorder: EventRecorder | None = None,
    ) -> None:
        self._transport = transport
        self._url = url
        self._headers = headers
        self._owner = owner
        self._attempts = attempts
        self._backoff = backoff
        self._recorder = recorder
        self._conn: Connection | None = None
        self._connected = asyncio.Event()
        self._send_lock = asyncio.Lock()
        self._queued_sends = 0  # sends waiting for (or holding) the lock
        self._listener: asyncio.Task[None] | None = None
        self.closing = False
        self.failed: str | None = None  # why the connection is gone for good
        self._attempts_made = 0  # reconnect attempts since the connection was last stable
        self._restored_at = 0.0

    @property
    def opened(self) -> bool:
        return self._conn is not None

    @property
    def up(self) -> bool:
        """Connected now (not reconnecting, lost or closed)."""
        return self._connected.is_set() and self.failed is None and not self.closing

    @property
    def reconnecting(self) -> bool:
        return self._conn is not None and not self._connected.is_set()

    async def open(self, first: dict[str, Any] | None) -> None:
        """Connect, send `first` (if any: a sideband attaches to a session already started), and start
        listening. Raises `ConnectFailed` when it cannot connect, `SessionClosed` once closed,
        `RuntimeError` when it is open already."""
        if self.closing:
            raise SessionClosed("the session is closed")
        if self._conn is not None:
            raise RuntimeError("the session is connected already")
        self._conn = await self._transport.connect(self._url, self._headers)
        if first is not None:
            # Closed at once (before this went out): a drop like any other, which the listener
            # meets first and reconnects from, sending the restore (this event first).
            with contextlib.suppress(TransportClosed):
                await self.send(first, wait=False)
        self._connected.set()
        self._listener = asyncio.create_task(self._listen(), name="engine-listener")

    def raise_if_down(self) -> None:
        """Raises `ConnectionLost` once the link gave up, `SessionClosed` once it was closed."""
        if self.failed is not None:
            raise ConnectionLost(self.failed)
        if self.closing:
            raise SessionClosed("the session is closed")

    async def send(self, event: dict[str, Any], *, wait: bool = True) -> None:
        """Send a client event. During a reconnect it waits and goes out on the new connection;
        `wait=False` raises `TransportClosed` instead. Raises `ConnectionLost` or `SessionClosed`."""
        text = orjson.dumps(event).decode()  # a fifth to a tenth of json.dumps' time
        while True:
            if wait and not self._connected.is_set():
                await self._connected.wait()
            self.raise_if_down()
            conn = self._conn
            assert conn is not None
            try:
                # At once when no send waits ahead of it and the socket takes writes (almost always):
                # the lock's ordering is only needed while a send waits for the socket to drain.
                # (Counted here: between a release and its next holder's turn the lock reads unlocked.)
                send_now = getattr(conn, "send_now", None)
                if self._queued_sends or send_now is None or not send_now(text):
                    self._queued_sends += 1
                    try:
                        async with self._send_lock:
                            await conn.send(text)
                    finally:
                        self._queued_sends -= 1
                break
            except TransportClosed:
                if self.closing:
                    raise SessionClosed("the session is closed") from None
                if not wait:
                    raise
                if conn is self._conn:
                    self._connected.clear()  # the listener notices the drop too, and reconnects
        if self._recorder:
            self._recorder.record("client", event)

    async def _listen(self) -> None:
        on_frame = self._owner.on_frame
        while not self.closing:
            conn = self._conn
            assert conn is not None
            listen = getattr(conn, "listen", None)
            try:
                if listen is not None:
                    await listen(on_frame)  # every frame, until it raises TransportClosed
                recv = conn.recv
                while not self.closing:
                    on_frame(await recv())
            except TransportClosed as exc:
                if self.closing:
                    break
                if not await self._reconnect(exc):
                    self._lose(str(exc) if self.failed is None else self.failed)
                    break

    def _lose(self, reason: str) -> None:
        self.failed = reason
        self._connected.set()  # wakes senders waiting for a reconnect; they raise
        self._owner.on_lost(reason)

    async def _reconnect(self, cause: TransportClosed) -> bool:
        """Reconnect with backoff and restore the conversation; False once it gives up."""
        self._connected.clear()
        self._owner.on_drop(cause)
        loop = asyncio.get_running_loop()
        if loop.time() - self._restored_at >= STABLE_SECONDS:
            self._attempts_made = 0
        while self._attempts_made < self._attempts:
            self._attempts_made += 1
            attempt = self._attempts_made
            await asyncio.sleep(self._backoff * 2 ** (attempt - 1))
            if self.closing:
                return False
            events = self._owner.restore_events()
            if events is None:
                return False  # the owner cannot rebuild the conversation (it said why)
            try:
                conn = await self._transport.connect(self._url, self._headers)
            except Exception as exc:
                log.warning("reconnect attempt %d failed: %s", attempt, exc)
                continue
            self._conn = conn
            try:
                for event in events:
                    await self.send(event, wait=False)
            except TransportClosed:
                with contextlib.suppress(Exception):
                    await conn.close()
                continue
            self._connected.set()
            self._restored_at = loop.time()
            self._owner.on_restored(attempt, len(events) - 1)
            return True
        return False

    def lose(self, reason: str) -> None:
        """Give up on the connection from outside (the conversation can no longer be restored)."""
        if self.failed is None:
            self.failed = reason

    async def close(self) -> None:
        """Stop listening and close the connection (also when opening it failed halfway)."""
        self.closing = True
        self._connected.set()  # senders waiting for a reconnect wake up and give up
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
