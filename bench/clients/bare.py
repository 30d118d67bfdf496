"""The floor: a websocket library and a JSON codec on their leanest loop, doing the protocol's work and no more.

What it does is what the engine and the SDK do for the same events, with no logic around it:
- audio deltas are base64-decoded and handed to a player (a counter), as an app that plays audio would;
- a function call's arguments are parsed, the same tool function is run (the sync one in a worker
  thread), its result encoded and sent as the call's output; `response.create` goes out once the
  response is done and every output of it was sent (the protocol refuses it while one is active);
- a handoff call sends the target agent's `session.update` (the same payload the engine compiles
  for bench/graphs/bench.yaml, pre-encoded), then the call's output.

It reads frames with `await ws.receive()` / `await ws.recv()` in a plain loop (no `async for`), and
uses orjson when it is installed (as the engine does), else the standard library's json.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable, Coroutine
from typing import Any

from ..graphs.bench_tools import lookup, lookup_sync
from . import Clients

try:
    import orjson

    loads: Callable[[str | bytes], Any] = orjson.loads

    def dumps(value: Any) -> str:
        return orjson.dumps(value).decode()

except ImportError:  # pragma: no cover - orjson is a dependency of the engine
    loads, dumps = json.loads, json.dumps


def _tools(handoff_to: str) -> list[dict[str, Any]]:
    query = {
        "type": "object",
        "properties": {"query": {"type": "string"}},
        "required": ["query"],
        "additionalProperties": False,
    }
    return [
        {"type": "function", "name": "lookup", "description": "Look an order up.", "parameters": query},
        {
            "type": "function",
            "name": "lookup_sync",
            "description": "Look an order up (the same, as a plain function).",
            "parameters": query,
        },
        {
            "type": "function",
            "name": f"transfer_to_{handoff_to}",
            "description": f"Handoff to the {handoff_to} agent to handle the request. "
            f"The {'first' if handoff_to == 'agent_a' else 'second'} agent.",
            "parameters": {"type": "object", "properties": {}, "required": [], "additionalProperties": False},
        },
    ]


def _session_update(agent: str, other: str) -> str:
    letter = agent[-1].upper()
    pcm = {"type": "audio/pcm", "rate": 24000}
    session = {
        "type": "realtime",
        "model": "gpt-realtime",
        "instructions": f"You are agent {letter}. Look orders up with the lookup tool; hand off to agent "
        f"{other[-1].upper()} when asked.\n",
        "output_modalities": ["audio"],
        "audio": {"input": {"format": pcm}, "output": {"format": pcm, "voice": "sage"}},
        "tools": _tools(other),
        "tool_choice": "auto",
        "max_output_tokens": "inf",
    }
    return dumps({"type": "session.update", "session": session})


#: The `session.update` of each agent, encoded once (what bench/graphs/bench.yaml compiles to).
_SESSION_UPDATES = {"agent_a": _session_update("agent_a", "agent_b"), "agent_b": _session_update("agent_b", "agent_a")}
_RESPONSE_CREATE = dumps({"type": "response.create"})


class _Bare:
    def __init__(self) -> None:
        self.audio_deltas = 0
        self.audio_bytes = 0
        self._done = 0
        self._target = 0
        self._reached: asyncio.Future[None] | None = None
        self._reader: asyncio.Task[None] | None = None
        self._calls: list[asyncio.Future[None]] = []  # answers of the current response's calls
        self._tasks: set[asyncio.Future[None]] = set()

    async def _send(self, text: str) -> None:
        raise NotImplementedError

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Future[None]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _play(self, pcm: bytes) -> None:
        self.audio_deltas += 1
        self.audio_bytes += len(pcm)

    async def _answer(self, name: str, call_id: str, arguments: str) -> None:
        if name.startswith("transfer_to_"):
            target = name.removeprefix("transfer_to_")
            await self._send(_SESSION_UPDATES[target])
            output = dumps({"assistant": target})
        elif name == "lookup_sync":
            loop = asyncio.get_running_loop()
            output = dumps(await loop.run_in_executor(None, lambda: lookup_sync(**loads(arguments))))
        else:
            output = dumps(await lookup(**loads(arguments)))
        item = {"type": "function_call_output", "call_id": call_id, "output": output}
        await self._send(dumps({"type": "conversation.item.create", "item": item}))

    async def _respond_after(self, calls: list[asyncio.Future[None]]) -> None:
        await asyncio.gather(*calls)
        await self._send(_RESPONSE_CREATE)

    def _on_message(self, raw: str | bytes) -> None:
        event = loads(raw)
        kind = event["type"]
        if kind == "response.output_audio.delta":
            self._play(base64.b64decode(event["delta"]))
        elif kind == "response.output_item.done":
            item = event["item"]
            if item["type"] == "function_call":
                self._calls.append(self._spawn(self._answer(item["name"], item["call_id"], item["arguments"])))
        elif kind == "response.done":
            if self._calls:
                calls, self._calls = self._calls, []
                self._spawn(self._respond_after(calls))
            self._done += 1
            if self._reached is not None and self._done >= self._target and not self._reached.done():
                self._reached.set_result(None)

    async def turn(self, command: str, responses: int, timeout: float = 120.0) -> None:
        self._target = self._done + responses
        self._reached = asyncio.get_running_loop().create_future()
        item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": command}]}
        await self._send(dumps({"type": "conversation.item.create", "item": item}))
        await self._send(_RESPONSE_CREATE)
        await asyncio.wait_for(self._reached, timeout)


class BareWebsockets(_Bare):
    async def open(self, url: str) -> None:
        from websockets.asyncio.client import connect

        self._ws = await connect(
            url, additional_headers={"Authorization": "Bearer bench"}, max_size=None, compression=None
        )
        await self._ws.send(_SESSION_UPDATES["agent_a"])
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        from websockets.exceptions import ConnectionClosed

        recv, on_message = self._ws.recv, self._on_message
        while True:
            try:
                raw = await recv()
            except ConnectionClosed:
                break
            on_message(raw)

    async def _send(self, text: str) -> None:
        await self._ws.send(text)

    async def close(self) -> None:
        await self._ws.close()
        if self._reader is not None:
            await self._reader


class BareAiohttp(_Bare):
    def __init__(self, http: Any) -> None:
        super().__init__()
        self._http = http

    async def open(self, url: str) -> None:
        self._ws = await self._http.ws_connect(
            url, headers={"Authorization": "Bearer bench"}, max_msg_size=0, compress=0
        )
        await self._ws.send_str(_SESSION_UPDATES["agent_a"])
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        from aiohttp import WSMsgType

        text, receive, on_message = WSMsgType.TEXT, self._ws.receive, self._on_message
        while True:
            msg = await receive()
            if msg.type is not text:
                break
            on_message(msg.data)

    async def _send(self, text: str) -> None:
        await self._ws.send_str(text)

    async def close(self) -> None:
        await self._ws.close()
        if self._reader is not None:
            await self._reader


class BarePicows(_Bare):
    """picows: frames reach a callback from the socket's data_received, no task woken per frame."""

    async def open(self, url: str) -> None:
        from picows import WSListener, WSMsgType, ws_connect

        on_message, text = self._on_message, WSMsgType.TEXT

        class Listener(WSListener):
            def on_ws_frame(self, transport: Any, frame: Any) -> None:
                if frame.msg_type == text:
                    on_message(frame.get_payload_as_memoryview())
                elif frame.msg_type == WSMsgType.CLOSE:
                    transport.disconnect()

        self._text = text
        self._transport, _ = await ws_connect(
            Listener, url, extra_headers={"Authorization": "Bearer bench"}, max_frame_size=1 << 30
        )
        self._transport.send(text, _SESSION_UPDATES["agent_a"].encode())

    async def _send(self, text: str) -> None:
        self._transport.send(self._text, text.encode())

    async def close(self) -> None:
        self._transport.send_close()
        self._transport.disconnect()
        await self._transport.wait_disconnected()


def prepare(library: str = "websockets") -> Clients:
    if library == "aiohttp":
        import aiohttp

        holder: dict[str, aiohttp.ClientSession] = {}

        def new() -> BareAiohttp:
            # One ClientSession for every connection, made inside the running loop; no pool limit.
            if "http" not in holder:
                holder["http"] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
            return BareAiohttp(holder["http"])

        async def aclose() -> None:
            if "http" in holder:
                await holder.pop("http").close()

        return Clients(new, aclose)
    if library == "picows":
        import picows  # noqa: F401

        return Clients(BarePicows)
    import websockets.asyncio.client  # noqa: F401  (its import is part of the memory at start)

    return Clients(BareWebsockets)
