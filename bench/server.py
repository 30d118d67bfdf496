"""A minimal Realtime-protocol server for benchmarks (GA event shapes, no model, no script).

It runs in its own process (so its CPU is not counted against the client) and answers every
`response.create` according to the last user message, which is a command:

    noop          an empty response (response.created, response.done)
    turn          a short spoken answer: 2 transcript deltas, 3 audio deltas
    audio N       one spoken answer of N audio deltas, pre-encoded (websocket frames built before the
                  response starts) and written in large blocks, so the client is never waiting on the
                  server: a faster client is measured as faster
    tool K        K responses in a row, each calling the `lookup` tool (async); the client answers each
                  call (function_call_output + response.create), then an empty response ends it
    sync K        the same with the `lookup_sync` tool (a plain function: clients run it in a thread)
    handoff K     the same with the session's `transfer_to_*` tool, whichever agent is current
    live T R      R responses, each T seconds of audio paced at real time (one 20 ms delta every
                  20 ms) followed by a `lookup` call; then an empty response

The round trip of every call (from `response.output_item.done` of the call to the client's
`function_call_output`) is recorded; `GET /stats` returns them (and the server's own CPU time, to
show it kept up) and `POST /reset` clears them. Audio deltas, bulk and paced, go out as raw websocket
frames written straight to the socket (in order with aiohttp's own writes, which are synchronous
too), so at a thousand paced streams the server's cost per delta stays a few microseconds. With
uvloop installed the server runs on it (the server is the apparatus, not a client being measured).

    python bench/server.py [--port 0] [--cpu N]    # prints "PORT <n>" once listening
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from engine.sim.session import default_session, merge_session

#: 20 ms of pcm16 at 24 kHz (960 bytes) in base64, like a real audio delta.
AUDIO_B64 = "AAAA" * 320
DELTA_S = 0.02
#: Bulk audio goes out in blocks of about this many bytes, each once the socket has taken the last.
_BLOCK = 1 << 20


def ws_frame(payload: bytes) -> bytes:
    """One unmasked websocket text frame (server to client) carrying `payload`."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 1 << 16:
        return b"\x81\x7e" + n.to_bytes(2, "big") + payload
    return b"\x81\x7f" + n.to_bytes(8, "big") + payload


_TOOL, _SYNC_TOOL = "lookup", "lookup_sync"


@dataclass
class _Stream:
    """A paced audio stream: one delta due every 20 ms, sent by the shared ticker."""

    conn: _Conn
    prefix: bytes  # the frame's JSON after its event id
    left: int
    due: float
    done: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class Server:
    def __init__(self) -> None:
        self.rtt: list[float] = []
        self.conns: set[_Conn] = set()
        self._counter = 0
        self._new: list[_Stream] = []
        self._wake = asyncio.Event()
        self._ticker: asyncio.Task[None] | None = None
        self._cpu_at_reset, self._wall_at_reset = time.process_time(), time.perf_counter()

    def next_id(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}_{self._counter:012d}"

    # --- http -----------------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/v1/realtime", self._realtime)
        app.router.add_get("/stats", self._stats)
        app.router.add_post("/reset", self._reset)
        app.on_startup.append(self._start_ticker)
        app.on_cleanup.append(self._stop_ticker)
        return app

    async def _stats(self, request: web.Request) -> web.Response:
        cpu, wall = time.process_time() - self._cpu_at_reset, time.perf_counter() - self._wall_at_reset
        stats = {"rtt_ms": [r * 1000 for r in self.rtt], "connections": len(self.conns), "cpu_load": cpu / wall}
        return web.json_response(stats)

    async def _reset(self, request: web.Request) -> web.Response:
        self.rtt.clear()
        self._cpu_at_reset, self._wall_at_reset = time.process_time(), time.perf_counter()
        return web.json_response({"ok": True})

    async def _realtime(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0, compress=False, autoping=True)
        await ws.prepare(request)
        assert request.transport is not None
        conn = _Conn(self, ws, request.transport, request.query.get("model", "gpt-realtime"))
        self.conns.add(conn)
        try:
            await conn.run()
        finally:
            self.conns.discard(conn)
        return ws

    # --- paced audio ----------------------------------------------------------------------------

    async def _start_ticker(self, app: web.Application) -> None:
        self._ticker = asyncio.create_task(self._tick())

    async def _stop_ticker(self, app: web.Application) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker

    def pace(self, stream: _Stream) -> None:
        self._new.append(stream)
        self._wake.set()

    async def _tick(self) -> None:
        """One task sends every due delta of every stream: cheaper than a sleep per stream and delta."""
        loop = asyncio.get_running_loop()
        streams: list[_Stream] = []
        while True:
            if not streams and not self._new:
                self._wake.clear()
                await self._wake.wait()
            streams.extend(self._new)
            self._new.clear()
            now = loop.time()
            for s in streams:
                if s.due <= now and not s.conn.closed:
                    s.conn.write_raw(ws_frame(b'{"event_id":"%s",%s' % (self.next_id("event").encode(), s.prefix)))
                    s.left -= 1
                    s.due += DELTA_S
                if (s.left <= 0 or s.conn.closed) and not s.done.done():
                    s.done.set_result(None)
            streams = [s for s in streams if not s.done.done()]
            if streams and not self._new:
                await asyncio.sleep(max(min(s.due for s in streams) - loop.time(), 0.001))


class _Conn:
    def __init__(self, server: Server, ws: web.WebSocketResponse, transport: asyncio.Transport, model: str) -> None:
        self.server = server
        self.ws = ws
        self.transport = transport
        self.session = default_session(model, server.next_id("sess"))
        self.conversation_id = server.next_id("conv")
        self.last_item: str | None = None
        self.closed = False
        self.command: list[str] = ["noop"]
        self.chain_left = 0  # calls still to make in the current chain
        self.chain: list[str] = []
        self.active: asyncio.Task[None] | None = None
        self.calls: dict[str, float] = {}  # call_id -> when the call was complete on the wire

    async def send(self, event: dict[str, Any]) -> None:
        await self.send_text(json.dumps({"event_id": self.server.next_id("event"), **event}))

    async def send_text(self, text: str) -> None:
        if self.closed:
            return
        try:
            await self.ws.send_str(text)
        except (ConnectionError, RuntimeError):
            self.closed = True

    def write_raw(self, frames: bytes) -> None:
        """Pre-built websocket frames, straight to the socket."""
        if self.closed or self.transport.is_closing():
            self.closed = True
            return
        self.transport.write(frames)

    async def drain(self, below: int = _BLOCK // 4) -> None:
        """Wait until the socket has taken all but `below` bytes of what was written."""
        while not self.closed and not self.transport.is_closing() and self.transport.get_write_buffer_size() > below:
            await asyncio.sleep(0.0005)

    async def run(self) -> None:
        await self.send({"type": "session.created", "session": self.session})
        try:
            async for msg in self.ws:
                if msg.type != WSMsgType.TEXT:
                    break
                await self._on_event(json.loads(msg.data))
        finally:
            self.closed = True
            if self.active is not None:
                self.active.cancel()

    async def _on_event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "session.update":
            self.session = merge_session(self.session, event.get("session") or {})
            await self.send({"type": "session.updated", "session": self.session})
        elif kind == "conversation.item.create":
            await self._on_item(event["item"])
        elif kind == "response.create":
            if self.active is not None and not self.active.done():
                err = {"type": "invalid_request_error", "code": "conversation_already_has_active_response"}
                await self.send({"type": "error", "error": {**err, "message": "A response is active.", "param": None}})
                return
            self.active = asyncio.create_task(self._respond())
        # Anything else (audio input, truncate, cancel) is accepted and ignored.

    async def _on_item(self, item: dict[str, Any]) -> None:
        item = {"id": self.server.next_id("item"), **item, "object": "realtime.item", "status": "completed"}
        if item["type"] == "function_call_output":
            sent = self.calls.pop(item.get("call_id", ""), None)
            if sent is not None:
                self.server.rtt.append(time.perf_counter() - sent)
        elif item["type"] == "message" and item.get("role") == "user":
            text = " ".join(c.get("text") or "" for c in item.get("content") or ()).split()
            self.command = text or ["noop"]
        previous, self.last_item = self.last_item, item["id"]
        await self.send({"type": "conversation.item.added", "previous_item_id": previous, "item": item})
        await self.send({"type": "conversation.item.done", "previous_item_id": previous, "item": item})

    # --- responses --------------------------------------------------------------------------------

    async def _respond(self) -> None:
        rid = self.server.next_id("resp")
        await self.send({"type": "response.created", "response": self._response(rid, "in_progress", [])})
        output: list[dict[str, Any]] = []
        command, self.command = self.command, ["noop"]
        if command[0] in ("tool", "sync", "handoff", "live"):
            # A new chain: this response and the next K-1 each make one call, then an empty one ends it.
            self.chain = command
            self.chain_left = int(command[2] if command[0] == "live" else command[1])
        if self.chain_left > 0:
            self.chain_left -= 1
            kind = self.chain[0]
            if kind == "live":
                deltas = max(1, round(float(self.chain[1]) / DELTA_S))
                output.append(await self._message(rid, 0, ["Let me check ", "that for you."], deltas, paced=True))
            tool = {"handoff": self._handoff_tool(), "sync": _SYNC_TOOL}.get(kind, _TOOL)
            output.append(await self._call(rid, len(output), tool))
        elif command[0] == "turn":
            output.append(await self._message(rid, 0, ["Sure, ", "done."], 3, paced=False))
        elif command[0] == "audio":
            output.append(await self._message(rid, 0, ["Here it is."], int(command[1]), paced=False))
        await self._finish(rid, output)

    async def _finish(self, rid: str, output: list[dict[str, Any]]) -> None:
        await self.send({"type": "response.done", "response": self._response(rid, "completed", output)})

    def _handoff_tool(self) -> str:
        names = [t.get("name", "") for t in self.session.get("tools") or () if isinstance(t, dict)]
        return next((n for n in names if n.startswith("transfer_to_")), "transfer_to_missing")

    def _response(self, rid: str, status: str, output: list[dict[str, Any]]) -> dict[str, Any]:
        audio_out = (self.session.get("audio") or {}).get("output") or {}
        return {
            "object": "realtime.response",
            "id": rid,
            "status": status,
            "status_details": None,
            "output": output,
            "conversation_id": self.conversation_id,
            "output_modalities": ["audio"],
            "max_output_tokens": "inf",
            "audio": {"output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": audio_out.get("voice")}},
            "usage": None if status == "in_progress" else _USAGE,
            "metadata": None,
        }

    async def _open(self, rid: str, index: int, item: dict[str, Any]) -> None:
        await self.send({"type": "response.output_item.added", "response_id": rid, "output_index": index, "item": item})
        previous, self.last_item = self.last_item, item["id"]
        await self.send({"type": "conversation.item.added", "previous_item_id": previous, "item": item})

    async def _close(self, rid: str, index: int, item: dict[str, Any]) -> None:
        item["status"] = "completed"
        await self.send({"type": "response.output_item.done", "response_id": rid, "output_index": index, "item": item})
        if item["type"] == "function_call":
            self.calls[item["call_id"]] = time.perf_counter()
        await self.send({"type": "conversation.item.done", "previous_item_id": None, "item": item})

    async def _message(self, rid: str, index: int, words: list[str], deltas: int, *, paced: bool) -> dict[str, Any]:
        iid = self.server.next_id("item")
        item = {"id": iid, "object": "realtime.item", "type": "message", "role": "assistant", "status": "in_progress"}
        item["content"] = []
        await self._open(rid, index, item)
        where = {"response_id": rid, "item_id": iid, "output_index": index, "content_index": 0}
        await self.send({"type": "response.content_part.added", **where, "part": {"type": "audio", "transcript": ""}})
        for word in words:
            await self.send({"type": "response.output_audio_transcript.delta", **where, "delta": word})
        # Audio frames are built from a fixed tail: only the event id changes, as on the wire.
        tail = json.dumps({"type": "response.output_audio.delta", **where, "delta": AUDIO_B64})[1:].encode()
        if paced:
            loop = asyncio.get_running_loop()
            stream = _Stream(self, tail, deltas, loop.time())
            self.server.pace(stream)
            await stream.done
        else:
            # Every frame encoded before the first goes out, then written in large blocks: the client
            # always finds the socket full, so its own cost per delta is what gets measured.
            frames = [
                ws_frame(b'{"event_id":"%s",%s' % (self.server.next_id("event").encode(), tail)) for _ in range(deltas)
            ]
            per_block = max(1, _BLOCK // len(frames[0])) if frames else 1
            blocks = [b"".join(frames[i : i + per_block]) for i in range(0, len(frames), per_block)]
            del frames
            for block in blocks:
                await self.drain()
                self.write_raw(block)
        said = "".join(words)
        await self.send({"type": "response.output_audio.done", **where})
        await self.send({"type": "response.output_audio_transcript.done", **where, "transcript": said})
        part = {"type": "audio", "transcript": said}
        await self.send({"type": "response.content_part.done", **where, "part": part})
        item["content"] = [{"type": "output_audio", "transcript": said}]
        await self._close(rid, index, item)
        return item

    async def _call(self, rid: str, index: int, name: str) -> dict[str, Any]:
        iid, call_id = self.server.next_id("item"), self.server.next_id("call")
        lookup = name in (_TOOL, _SYNC_TOOL)
        args = json.dumps({"query": f"order {random.randint(1000, 9999)}"}) if lookup else "{}"
        item = {"id": iid, "object": "realtime.item", "type": "function_call", "status": "in_progress"}
        item.update(name=name, call_id=call_id, arguments="")
        await self._open(rid, index, item)
        where = {"response_id": rid, "item_id": iid, "output_index": index, "call_id": call_id}
        await self.send({"type": "response.function_call_arguments.delta", **where, "delta": args})
        await self.send({"type": "response.function_call_arguments.done", **where, "name": name, "arguments": args})
        item["arguments"] = args
        await self._close(rid, index, item)
        return item


_USAGE = {
    "total_tokens": 20,
    "input_tokens": 10,
    "output_tokens": 10,
    "input_token_details": {
        "text_tokens": 10,
        "audio_tokens": 0,
        "image_tokens": 0,
        "cached_tokens": 0,
        "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 0, "image_tokens": 0},
    },
    "output_token_details": {"text_tokens": 5, "audio_tokens": 5},
}


async def serve(port: int = 0, host: str = "127.0.0.1") -> tuple[web.AppRunner, int]:
    """Start the server in the running loop; returns the runner (to clean up) and the bound port."""
    runner = web.AppRunner(Server().app(), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]


async def _main(port: int) -> None:
    runner, bound = await serve(port)
    print(f"PORT {bound}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cpu", type=int, help="pin the server to this CPU")
    args = parser.parse_args()
    if args.cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    try:
        import uvloop  # the apparatus on the fastest loop there is: the clients are what is measured
    except ImportError:
        uvloop = None
    with contextlib.suppress(KeyboardInterrupt):
        if uvloop is not None:
            uvloop.run(_main(args.port))
        else:
            asyncio.run(_main(args.port))


if __name__ == "__main__":
    main()
