"""The floor: a websocket library and json.loads, answering every call with no logic at all."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from typing import Any

from . import Clients

_SESSION = {
    "type": "session.update",
    "session": {
        "type": "realtime",
        "instructions": "bench",
        "tools": [
            {"type": "function", "name": "lookup", "parameters": {"type": "object"}},
            {"type": "function", "name": "lookup_sync", "parameters": {"type": "object"}},
            {"type": "function", "name": "transfer_to_agent_b", "parameters": {"type": "object"}},
        ],
    },
}
_RESPONSE_CREATE = json.dumps({"type": "response.create"})


class _Bare:
    def __init__(self) -> None:
        self.audio_deltas = 0
        self._done = 0
        self._target = 0
        self._reached: asyncio.Future[None] | None = None
        self._reader: asyncio.Task[None] | None = None
        self._respond = False
        self._tasks: set[asyncio.Future[None]] = set()

    async def _send(self, text: str) -> None:
        raise NotImplementedError

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_message(self, raw: str | bytes) -> None:
        event = json.loads(raw)
        kind = event["type"]
        if kind == "response.output_audio.delta":
            self.audio_deltas += 1
        elif kind == "response.output_item.done" and event["item"]["type"] == "function_call":
            output = {"type": "function_call_output", "call_id": event["item"]["call_id"], "output": "{}"}
            self._spawn(self._send(json.dumps({"type": "conversation.item.create", "item": output})))
            self._respond = True  # once this response is over, as the protocol wants
        elif kind == "response.done":
            if self._respond:
                self._respond = False
                self._spawn(self._send(_RESPONSE_CREATE))
            self._done += 1
            if self._reached is not None and self._done >= self._target and not self._reached.done():
                self._reached.set_result(None)

    async def turn(self, command: str, responses: int, timeout: float = 120.0) -> None:
        self._target = self._done + responses
        self._reached = asyncio.get_running_loop().create_future()
        item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": command}]}
        await self._send(json.dumps({"type": "conversation.item.create", "item": item}))
        await self._send(_RESPONSE_CREATE)
        await asyncio.wait_for(self._reached, timeout)


class BareWebsockets(_Bare):
    async def open(self, url: str) -> None:
        from websockets.asyncio.client import connect

        self._ws = await connect(url, additional_headers={"Authorization": "Bearer bench"}, max_size=None)
        await self._ws.send(json.dumps(_SESSION))
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self._ws:
            self._on_message(raw)

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
        self._ws = await self._http.ws_connect(url, headers={"Authorization": "Bearer bench"}, max_msg_size=0)
        await self._ws.send_str(json.dumps(_SESSION))
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        from aiohttp import WSMsgType

        async for msg in self._ws:
            if msg.type != WSMsgType.TEXT:
                break
            self._on_message(msg.data)

    async def _send(self, text: str) -> None:
        await self._ws.send_str(text)

    async def close(self) -> None:
        await self._ws.close()
        if self._reader is not None:
            await self._reader


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
    import websockets.asyncio.client  # noqa: F401  (its import is part of the memory at start)

    return Clients(BareWebsockets)
