"""The websocket clients under a session, against real servers on loopback: each keepalive finds a
dead peer and spares a live one, and the picows connection (the default) delivers every message
whole and in order however it was framed, says how the connection ended, and waits when the socket
cannot take more instead of buffering without end."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import WSMsgType, web
from websockets.asyncio.server import ServerConnection, serve

from engine.errors import ConnectFailed, TransportClosed
from engine.runtime.link import Link
from engine.runtime.transport import AiohttpTransport, PicowsConnection, PicowsTransport

TRANSPORTS = {"aiohttp": AiohttpTransport, "picows": PicowsTransport}


async def _aiohttp_server(answer_pings: bool) -> tuple[web.AppRunner, str]:
    async def realtime(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=answer_pings)
        await ws.prepare(request)
        await ws.send_str(json.dumps({"type": "session.created"}))
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                await ws.send_str(msg.data)  # an echo
        return ws

    app = web.Application()
    app.router.add_get("/v1/realtime", realtime)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"ws://127.0.0.1:{port}/v1/realtime"


@pytest.mark.parametrize("kind", TRANSPORTS)
async def test_keepalive_closes_a_connection_whose_peer_stopped_answering(kind: str) -> None:
    runner, url = await _aiohttp_server(answer_pings=False)
    transport = TRANSPORTS[kind](heartbeat=0.2)
    try:
        conn = await transport.connect(url, {})
        frames: list[str] = []
        with pytest.raises(TransportClosed) as caught:
            async with asyncio.timeout(5):
                await conn.listen(frames.append)  # type: ignore[attr-defined]
        assert frames == ['{"type": "session.created"}']
        assert not caught.value.clean and "ping" in str(caught.value)
        await conn.close()
    finally:
        await transport.aclose()
        await runner.cleanup()


@pytest.mark.parametrize("kind", TRANSPORTS)
async def test_keepalive_keeps_a_quiet_connection_that_answers_pings(kind: str) -> None:
    runner, url = await _aiohttp_server(answer_pings=True)
    transport = TRANSPORTS[kind](heartbeat=0.1)
    try:
        conn = await transport.connect(url, {})
        assert await conn.recv() == '{"type": "session.created"}'
        frames: list[str] = []
        listener = asyncio.ensure_future(conn.listen(frames.append))  # type: ignore[attr-defined]
        await asyncio.sleep(0.8)  # several silent intervals, each answered by a pong
        assert not listener.done()
        await conn.send('{"type": "ping-pong"}')
        await asyncio.sleep(0.1)
        assert frames == ['{"type": "ping-pong"}']
        await conn.close()
        with contextlib.suppress(TransportClosed):
            await asyncio.wait_for(listener, 5)
    finally:
        await transport.aclose()
        await runner.cleanup()


# --- the picows connection against a websockets server ------------------------------------------


@contextlib.asynccontextmanager
async def _server(handler: Any) -> AsyncIterator[str]:
    async with serve(handler, "127.0.0.1", 0, max_size=None) as server:
        port = server.sockets[0].getsockname()[1]
        yield f"ws://127.0.0.1:{port}/v1/realtime"


async def test_fragmented_and_binary_messages_arrive_whole_and_in_order() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send("one")
        await ws.send(["t", "w", "o"])  # a text message in three frames
        await ws.send(b'{"three": 3}')  # binary, read as UTF-8 text
        await ws.send("\u00e9t\u00e9")
        await ws.wait_closed()

    async with _server(handler) as url:
        conn = await PicowsTransport().connect(url, {})
        assert await conn.recv() == "one"  # before anyone listens: waits for recv or listen, in order
        await asyncio.sleep(0.1)
        frames: list[str] = []
        listener = asyncio.ensure_future(conn.listen(frames.append))  # type: ignore[attr-defined]
        await asyncio.sleep(0.1)
        assert frames == ["two", '{"three": 3}', "\u00e9t\u00e9"]
        await conn.close()
        with pytest.raises(TransportClosed) as caught:
            await asyncio.wait_for(listener, 5)
        assert caught.value.clean


@pytest.mark.parametrize(("code", "clean"), [(1000, True), (1001, False), (1011, False), (4000, False)])
async def test_the_servers_close_code_says_whether_it_was_a_requested_close(code: int, clean: bool) -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send("hello")
        await ws.close(code=code, reason="bye")

    async with _server(handler) as url:
        conn = await PicowsTransport().connect(url, {})
        frames: list[str] = []
        with pytest.raises(TransportClosed) as caught:
            await asyncio.wait_for(conn.listen(frames.append), 5)  # type: ignore[attr-defined]
        assert frames == ["hello"]
        assert caught.value.clean is clean and str(code) in str(caught.value)
        with pytest.raises(TransportClosed):
            await conn.send("late")  # after the end, every send says so
        with pytest.raises(TransportClosed):
            await conn.recv()


async def test_a_text_frame_that_is_not_utf8_ends_the_connection_as_a_drop() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send(b"\xff\xfe", text=True)
        await ws.wait_closed()

    async with _server(handler) as url:
        conn = await PicowsTransport().connect(url, {})
        with pytest.raises(TransportClosed) as caught:
            await asyncio.wait_for(conn.listen(lambda text: None), 5)  # type: ignore[attr-defined]
        assert not caught.value.clean and "UTF-8" in str(caught.value)


async def test_what_the_frame_callback_raises_comes_out_of_listen() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send("boom")
        await ws.wait_closed()

    def on_frame(text: str) -> None:
        raise LookupError(text)

    async with _server(handler) as url:
        conn = await PicowsTransport().connect(url, {})
        with pytest.raises(LookupError, match="boom"):
            await asyncio.wait_for(conn.listen(on_frame), 5)  # type: ignore[attr-defined]


async def test_send_waits_while_the_peer_reads_nothing_instead_of_buffering_without_end() -> None:
    reading = asyncio.Event()
    received: list[int] = []

    async def handler(ws: ServerConnection) -> None:
        await reading.wait()  # reads nothing until told: the client's socket buffer fills
        async for message in ws:
            received.append(len(message))

    chunk = "x" * (1 << 20)
    async with _server(handler) as url:
        conn = await PicowsTransport().connect(url, {})
        assert isinstance(conn, PicowsConnection)
        sent = 0
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    while sent < 64:  # 64 MiB, far past any socket buffer
                        await conn.send(chunk)
                        sent += 1
                        await asyncio.sleep(0)  # lets the timeout fire even if send never waited
            assert 0 < sent < 64, "send never waited for the socket"
        finally:
            reading.set()
        await asyncio.wait_for(conn.send("last"), 10)  # the buffer drained: sending goes on
        await asyncio.sleep(0.2)
        await conn.close()
    assert len(received) == sent + 1 and received[-1] == 4


class _Owner:
    """What a link needs of its session, for a link on its own: frames and losses are kept."""

    def __init__(self) -> None:
        self.frames: list[str] = []
        self.lost: list[str] = []

    def on_frame(self, raw: str) -> None:
        self.frames.append(raw)

    def on_drop(self, cause: TransportClosed) -> None:
        pass

    def restore_events(self) -> list[dict[str, Any]] | None:
        return []

    def on_restored(self, attempt: int, restored: int) -> None:
        pass

    def on_lost(self, reason: str) -> None:
        self.lost.append(reason)


async def test_sends_keep_their_order_while_the_socket_is_full() -> None:
    """The link sends at once while the socket takes writes, and queues in order once it does not."""
    reading = asyncio.Event()
    received: list[int] = []

    async def handler(ws: ServerConnection) -> None:
        await reading.wait()
        async for message in ws:
            received.append(json.loads(message)["n"])

    async with _server(handler) as url:
        link = Link(PicowsTransport(), url, {}, _Owner())
        await link.open(None)
        pad = "x" * (1 << 18)
        sends = [asyncio.create_task(link.send({"n": n, "pad": pad})) for n in range(200)]  # 50 MiB
        await asyncio.sleep(0.3)
        waiting = sum(not task.done() for task in sends)
        reading.set()
        while len(sends) < 1000:  # more sends while the queue drains: none may overtake it
            for _ in range(10):
                sends.append(asyncio.create_task(link.send({"n": len(sends), "pad": pad[:1000]})))
            await asyncio.sleep(0)
        await asyncio.wait_for(asyncio.gather(*sends), 30)
        await asyncio.sleep(0.3)
        await link.close()
    assert waiting > 0, "no send ever waited: the socket never filled"
    assert received == list(range(1000))


async def test_connect_failures_are_said_in_words() -> None:
    async def refuse(connection: ServerConnection, request: Any) -> Any:
        return connection.respond(403, "no\n")

    async with serve(lambda ws: ws.wait_closed(), "127.0.0.1", 0, process_request=refuse) as server:
        port = server.sockets[0].getsockname()[1]
        with pytest.raises(ConnectFailed) as caught:
            await PicowsTransport().connect(f"ws://127.0.0.1:{port}/v1/realtime", {})
        assert caught.value.status == 403 and "HTTP 403" in str(caught.value)
    with pytest.raises(ConnectFailed, match="refused"):
        await PicowsTransport().connect(f"ws://127.0.0.1:{port}/v1/realtime", {})
    with pytest.raises(ConnectFailed, match="not a websocket URL"):
        await PicowsTransport().connect("http://127.0.0.1:1/v1/realtime", {})


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command for a test certificate")
@pytest.mark.parametrize("kind", TRANSPORTS)
async def test_wss_checks_the_servers_certificate(kind: str, tmp_path: Path) -> None:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    self_signed = ["-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost"]
    subprocess.run(["openssl", "req", *self_signed, "-keyout", key, "-out", cert], check=True, capture_output=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    async with serve(lambda ws: ws.wait_closed(), "127.0.0.1", 0, ssl=context) as server:
        port = server.sockets[0].getsockname()[1]
        transport = TRANSPORTS[kind]()
        try:
            with pytest.raises(ConnectFailed, match="TLS certificate not trusted"):
                await transport.connect(f"wss://localhost:{port}/v1/realtime", {})
        finally:
            await transport.aclose()
