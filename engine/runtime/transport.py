"""The websocket under a session, behind one small interface so the client library can change."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, NoReturn, Protocol

from picows import (
    WSCloseCode,
    WSFrame,
    WSHandshakeError,
    WSInvalidStatusError,
    WSInvalidURL,
    WSListener,
    WSMsgType,
    WSProtocolError,
)
from picows import WSTransport as _PicowsSocket
from picows import ws_connect as _picows_connect
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK, InvalidHandshake, InvalidStatus, InvalidURI

from ..errors import ConnectFailed, TransportClosed

if TYPE_CHECKING:
    import aiohttp


class Connection(Protocol):
    """One open websocket. `send` and `recv` raise `TransportClosed` once it has ended.

    A connection may also have `listen(on_frame)`, which calls `on_frame` with every text frame
    until the websocket ends and then raises `TransportClosed`: the session's listener uses it when
    present (one coroutine less per frame than awaiting `recv`), and `recv` otherwise. It may have
    `send_now(text)`, which sends at once and returns True, or returns False and sends nothing when
    `send` would have to wait (its socket's buffer is full); it raises `TransportClosed` as `send` does.
    """

    async def send(self, text: str) -> None: ...
    async def recv(self) -> str: ...
    async def close(self) -> None: ...


FrameHandler = Callable[[str], None]


class Transport(Protocol):
    """Opens connections; `connect` raises `ConnectFailed` when it cannot. `aclose()` releases what
    the transport holds for all its connections (an HTTP client session, say); it may connect again after."""

    async def connect(self, url: str, headers: dict[str, str]) -> Connection: ...
    async def aclose(self) -> None: ...


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

    async def listen(self, on_frame: FrameHandler) -> NoReturn:
        recv = self._ws.recv
        try:
            while True:
                message = await recv()
                on_frame(message if isinstance(message, str) else message.decode("utf-8", "replace"))
        except ConnectionClosedOK as exc:
            raise TransportClosed(True, str(exc)) from None
        except ConnectionClosed as exc:
            raise TransportClosed(False, str(exc)) from None

    async def close(self) -> None:
        await self._ws.close()


class WebsocketsTransport:
    """The `websockets` asyncio client (the default)."""

    def __init__(self, *, open_timeout: float = 10.0) -> None:
        self._open_timeout = open_timeout

    async def connect(self, url: str, headers: dict[str, str]) -> Connection:
        try:
            ws = await connect(
                url,
                additional_headers=headers,
                open_timeout=self._open_timeout,
                max_size=None,  # audio deltas and session objects can be large
                compression=None,  # the API does not compress; skipping it saves CPU per frame
                ping_interval=20,
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            raise ConnectFailed(_refused(status), status) from exc
        except InvalidURI as exc:
            raise ConnectFailed(_NOT_WEBSOCKET) from exc
        except InvalidHandshake as exc:
            raise ConnectFailed(f"the websocket handshake failed ({exc})") from exc
        except OSError as exc:
            raise ConnectFailed(_unreachable(exc)) from exc
        return WebsocketsConnection(ws)

    async def aclose(self) -> None:
        """Nothing to release: each `websockets` connection owns its socket, closed with it."""


class AiohttpConnection:
    """An aiohttp websocket, kept alive by a ping when it has been silent for `heartbeat` seconds.

    aiohttp's own heartbeat reschedules a timer on every socket read (a callback per frame when
    frames arrive one at a time, as audio does at real time); this one counts frames instead and
    looks once per interval. No frame (a pong included) for `heartbeat` seconds after a ping: the
    connection is taken for dead and closed, and `recv` / `listen` raise `TransportClosed`.
    """

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, heartbeat: float | None = None) -> None:
        from aiohttp import ClientError, WSMsgType

        self._ws = ws
        # Looked up once here: aiohttp is imported lazily, and recv() is the hot path.
        self._text, self._binary, self._error = WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.ERROR
        self._ping, self._pong = WSMsgType.PING, WSMsgType.PONG
        self._send_errors = (ClientError, ConnectionError, RuntimeError)
        self._frames = 0  # frames received, pings and pongs included: proof of life
        self._dead: str | None = None
        self._keepalive = asyncio.ensure_future(self._keep_alive(heartbeat)) if heartbeat else None

    async def send(self, text: str) -> None:
        if self._ws.closed:
            raise TransportClosed(self._ws.close_code == 1000, "closed")
        try:
            await self._ws.send_str(text)
        except self._send_errors as exc:
            raise TransportClosed(False, str(exc) or type(exc).__name__) from None

    async def recv(self) -> str:
        while True:
            msg = await self._ws.receive()
            self._frames += 1
            if msg.type is self._text:
                return msg.data
            text = await self._other(msg)
            if text is not None:
                return text

    async def listen(self, on_frame: FrameHandler) -> NoReturn:
        receive, text = self._ws.receive, self._text
        while True:
            msg = await receive()
            self._frames += 1
            if msg.type is text:
                on_frame(msg.data)
                continue
            other = await self._other(msg)
            if other is not None:
                on_frame(other)

    async def _other(self, msg: aiohttp.WSMessage) -> str | None:
        """A frame that is not text: binary as text, a ping answered; raises `TransportClosed` at the end."""
        if msg.type is self._binary:
            return msg.data.decode("utf-8", "replace")
        if msg.type is self._ping:
            with contextlib.suppress(*self._send_errors):
                await self._ws.pong(msg.data)
            return None
        if msg.type is self._pong:
            return None
        if self._dead is not None:
            raise TransportClosed(False, self._dead)
        if msg.type is self._error:
            raise TransportClosed(False, str(msg.data or self._ws.exception() or "connection error"))
        # CLOSE, CLOSING, CLOSED: a close with code 1000 was requested; anything else is a drop.
        code = self._ws.close_code
        raise TransportClosed(code == 1000, f"closed with code {code}")

    async def _keep_alive(self, interval: float) -> None:
        ws = self._ws
        while not ws.closed:
            seen = self._frames
            await asyncio.sleep(interval)
            if self._frames != seen or ws.closed:
                continue  # frames came: the connection is alive, no ping needed
            with contextlib.suppress(*self._send_errors):
                await ws.ping()
            await asyncio.sleep(interval)
            if self._frames == seen and not ws.closed:
                self._dead = f"no answer to a ping for {interval:g} s"
                await ws.close()  # wakes the listener, which raises TransportClosed
                return

    async def close(self) -> None:
        if self._keepalive is not None:
            self._keepalive.cancel()
        await self._ws.close()


class AiohttpTransport:
    """The `aiohttp` websocket client: less CPU per frame than `websockets` on the bench (README, Benchmarks).

    One `aiohttp.ClientSession` serves every connection this transport opens (share one transport
    between sessions); it is made on first connect, in the running loop, and `aclose()` closes it.
    """

    def __init__(self, *, open_timeout: float = 10.0, heartbeat: float | None = 20.0) -> None:
        self._open_timeout = open_timeout
        self._heartbeat = heartbeat
        self._http: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def connect(self, url: str, headers: dict[str, str]) -> Connection:
        import aiohttp

        loop = asyncio.get_running_loop()
        if self._http is None or self._http.closed or self._loop is not loop:
            # No connection limit: a websocket holds its pooled connection for its whole life.
            connector = aiohttp.TCPConnector(limit=0)
            self._http = aiohttp.ClientSession(connector=connector)
            self._loop = loop
        try:
            async with asyncio.timeout(self._open_timeout):  # the handshake only; the socket has no read timeout
                ws = await self._http.ws_connect(
                    url,
                    headers=headers,
                    timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=10.0),
                    heartbeat=None,  # the connection's own keepalive: no timer work per frame
                    autoping=False,  # pings are answered by the connection, which counts pongs too
                    max_msg_size=0,  # audio deltas and session objects can be large
                    compress=0,
                )
        except aiohttp.WSServerHandshakeError as exc:
            raise ConnectFailed(_refused(exc.status), exc.status) from exc
        except (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError) as exc:
            raise ConnectFailed(_NOT_WEBSOCKET) from exc
        except aiohttp.ClientConnectorError as exc:
            raise ConnectFailed(_unreachable(exc.os_error)) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise ConnectFailed(_unreachable(exc)) from exc
        return AiohttpConnection(ws, self._heartbeat)

    async def aclose(self) -> None:
        if self._http is not None and not self._http.closed:
            await self._http.close()
        self._http = None


_TEXT, _BINARY, _CONTINUATION, _CLOSE = WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.CONTINUATION, WSMsgType.CLOSE
#: How long `close()` waits for the server's answer to our close frame before dropping the socket.
_CLOSE_TIMEOUT = 5.0


class PicowsConnection(WSListener):
    """A picows websocket. In `listen`, each frame reaches the callback straight from the socket's
    `data_received`: no future resolved and no task woken per frame, which is most of what a frame
    costs at real time (bench/run.py: a sixth to a seventh less CPU per audio delta than aiohttp at 500 sessions).

    Fragmented messages are joined, binary ones read as UTF-8; pings are answered by picows. With
    the transport's `heartbeat`, a connection silent that long is pinged, and closed when the ping
    goes unanswered as long again. Frames that come while nobody listens wait, in order, for `recv` or `listen`.
    """

    def __init__(self) -> None:
        super().__init__()
        self._ws: _PicowsSocket | None = None
        self._on_frame: FrameHandler | None = None
        self._unread: deque[str] = deque()
        self._arrived: asyncio.Future[None] | None = None  # recv() waiting for a frame
        self._writable: asyncio.Future[None] | None = None  # set while the socket's write buffer is full
        self._parts: list[bytes] = []  # the fragments of a message so far
        self._ended: TransportClosed | None = None
        self._closing = False

    def on_ws_connected(self, transport: _PicowsSocket) -> None:
        self._ws = transport

    def on_ws_frame(self, transport: _PicowsSocket, frame: WSFrame) -> None:
        kind = frame.msg_type
        if kind is _TEXT and frame.fin and not self._parts:  # the hot path: a whole text message
            try:
                text = frame.get_payload_as_utf8_text()
            except UnicodeDecodeError:  # RFC 6455 fails the connection; picows closes it with this code
                raise WSProtocolError(WSCloseCode.INVALID_TEXT, "a text frame that is not UTF-8") from None
        elif kind is _TEXT or kind is _BINARY or kind is _CONTINUATION:
            self._parts.append(frame.get_payload_as_bytes())
            if not frame.fin:
                return
            text = b"".join(self._parts).decode("utf-8", "replace")
            self._parts.clear()
        elif kind is _CLOSE:
            if not transport.is_close_frame_sent:
                transport.send_close(frame.get_close_code())  # the closing handshake's answer
            transport.disconnect()
            return
        else:
            return  # a ping (picows answers it) or a pong (the keepalive's)
        if self._on_frame is not None:
            self._on_frame(text)  # what it raises ends the connection and comes out of listen()
            return
        self._unread.append(text)
        if self._arrived is not None and not self._arrived.done():
            self._arrived.set_result(None)

    def on_ws_disconnected(self, transport: _PicowsSocket) -> None:
        handshake = transport.close_handshake
        if self._closing:
            self._ended = TransportClosed(True, "closed")
        elif handshake is not None and handshake.sent is not None and not handshake.recv_then_sent:
            # picows closed it first: a ping went unanswered, or the server broke the protocol
            reason = handshake.sent.reason
            self._ended = TransportClosed(False, f"closed: {reason}" if reason else "closed")
        elif handshake is not None and handshake.recv is not None:
            code = int(getattr(handshake.recv.code, "value", handshake.recv.code))
            self._ended = TransportClosed(code == 1000, f"closed with code {code}")
        else:
            self._ended = TransportClosed(False, "the connection dropped without a close frame")
        for waiter in (self._arrived, self._writable):
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

    def pause_writing(self) -> None:
        if self._writable is None or self._writable.done():
            self._writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    async def send(self, text: str) -> None:
        while not self.send_now(text):
            await self._writable  # the socket's buffer is full: wait until it drains

    def send_now(self, text: str) -> bool:
        if self._writable is not None and not self._writable.done():
            return False
        if self._ended is not None:
            raise self._ended.again()
        assert self._ws is not None
        self._ws.send(_TEXT, text.encode())
        return True

    async def recv(self) -> str:
        while not self._unread:
            if self._ended is not None:
                raise self._ended.again()
            self._arrived = asyncio.get_running_loop().create_future()
            await self._arrived
        return self._unread.popleft()

    async def listen(self, on_frame: FrameHandler) -> NoReturn:
        while self._unread:
            on_frame(self._unread.popleft())
        assert self._ws is not None
        self._on_frame = on_frame
        try:
            await self._ws.wait_disconnected()  # raises what on_frame raised
        except WSProtocolError:
            pass  # a broken frame: picows sent the close, and the disconnect said why
        finally:
            self._on_frame = None
        assert self._ended is not None
        raise self._ended.again()

    async def close(self) -> None:
        ws = self._ws
        if ws is None or ws.is_disconnected:
            return
        self._closing = True
        ws.send_close(WSCloseCode.OK)
        with contextlib.suppress(Exception):  # no answer in time, or what a listener raised (listen() had it)
            async with asyncio.timeout(_CLOSE_TIMEOUT):
                await ws.wait_disconnected()
        ws.disconnect(graceful=False)


class PicowsTransport:
    """The `picows` websocket client (the default): the least CPU per frame of the three (bench/run.py)."""

    def __init__(self, *, open_timeout: float = 10.0, heartbeat: float | None = 20.0) -> None:
        self._open_timeout = open_timeout
        self._heartbeat = heartbeat

    async def connect(self, url: str, headers: dict[str, str]) -> Connection:
        heartbeat = self._heartbeat
        try:
            async with asyncio.timeout(self._open_timeout):
                _, conn = await _picows_connect(
                    PicowsConnection,
                    url,
                    extra_headers=headers,
                    websocket_handshake_timeout=None,  # the whole open is under open_timeout
                    enable_auto_ping=heartbeat is not None,
                    auto_ping_idle_timeout=heartbeat or 10.0,
                    auto_ping_reply_timeout=heartbeat or 10.0,
                    max_frame_size=_MAX_FRAME,
                )
        except WSInvalidStatusError as exc:
            status = int(exc.response.status) if exc.response is not None else 0
            raise ConnectFailed(_refused(status), status) from exc
        except WSInvalidURL as exc:
            raise ConnectFailed(_NOT_WEBSOCKET) from exc
        except WSHandshakeError as exc:
            raise ConnectFailed(f"the websocket handshake failed ({exc})") from exc
        except OSError as exc:  # TimeoutError included
            raise ConnectFailed(_unreachable(exc)) from exc
        assert isinstance(conn, PicowsConnection)
        return conn

    async def aclose(self) -> None:
        """Nothing to release: each connection owns its socket, closed with it."""


#: Audio deltas and session objects can be large; a frame this big is a broken server.
_MAX_FRAME = 256 << 20

_NOT_WEBSOCKET = "not a websocket URL (use ws:// or wss://)"


def _refused(status: int) -> str:
    return f"the server rejected the connection with HTTP {status}"


def _unreachable(exc: BaseException) -> str:
    """Why a server could not be reached, from the socket's error."""
    if isinstance(exc, TimeoutError):  # before OSError's other kinds: it is one of them
        return "no answer from the server (timed out)"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is the server running?)"
    if isinstance(exc, socket.gaierror):
        return "unknown host name"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted ({exc.verify_message})"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed ({exc.reason or exc})"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
