"""A small Realtime-protocol server for tests, independent of engine/sim (another websocket library,
no script, no shared code): each test says what the model does by answering `response.create`.

It checks the wire rules as the API does: a `response.create` while a response is active gets the
API's error, and is counted in `overlaps`. `session.update` is merged shallowly and echoed.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Awaitable, Callable
from typing import Any

from websockets.asyncio.server import ServerConnection, serve

Responder = Callable[["WireConnection", dict[str, Any]], Awaitable[list[dict[str, Any]] | None]]
#: Answers any other client event type (the test plays the server's part for it).
Hook = Callable[["WireConnection", dict[str, Any]], Awaitable[None]]


async def say_nothing(conn: WireConnection, event: dict[str, Any]) -> list[dict[str, Any]]:
    return []


class Refuse(Exception):
    """Raised by a responder: the server answers the `response.create` with this error code instead."""


class Fail(Exception):
    """Raised by a responder: the response ends with `status: failed` and this message."""


class WireServer:
    def __init__(self, respond: Responder = say_nothing, hooks: dict[str, Hook] | None = None) -> None:
        self.respond = respond
        self.hooks = hooks or {}
        self.received: list[dict[str, Any]] = []
        self.overlaps = 0
        self.connections: list[WireConnection] = []
        self._ids = itertools.count(1)
        self._server: Any = None

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids):06d}"

    @property
    def url(self) -> str:
        port = self._server.sockets[0].getsockname()[1]
        return f"ws://127.0.0.1:{port}/v1/realtime?model=gpt-realtime"

    async def __aenter__(self) -> WireServer:
        self._server = await serve(self._handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        await self._server.wait_closed()

    def of(self, *types: str) -> list[dict[str, Any]]:
        return [e for e in self.received if e["type"] in types]

    async def _handle(self, ws: ServerConnection) -> None:
        conn = WireConnection(self, ws)
        self.connections.append(conn)
        await conn.run()


class WireConnection:
    def __init__(self, server: WireServer, ws: ServerConnection) -> None:
        self.server = server
        self.ws = ws
        self.session: dict[str, Any] = {"type": "realtime", "audio": {"output": {"voice": "alloy"}}}
        self.active: str | None = None
        self._responses: set[asyncio.Task[None]] = set()

    async def send(self, event: dict[str, Any]) -> None:
        await self.ws.send(json.dumps({"event_id": self.server.new_id("event"), **event}))

    async def run(self) -> None:
        await self.send({"type": "session.created", "session": self.session})
        async for raw in self.ws:
            event = json.loads(raw)
            self.server.received.append(event)
            kind = event["type"]
            if kind == "session.update":
                self.session = {**self.session, **event["session"]}
                await self.send({"type": "session.updated", "session": self.session})
            elif kind == "response.create":
                if self.active is not None:
                    self.server.overlaps += 1
                    await self.error("conversation_already_has_active_response", "A response is active.", event)
                    continue
                task = asyncio.create_task(self._respond(event))
                self._responses.add(task)
                task.add_done_callback(self._responses.discard)
            elif kind in self.server.hooks:
                await self.server.hooks[kind](self, event)

    async def error(self, code: str, message: str, cause: dict[str, Any]) -> None:
        error = {"type": "invalid_request_error", "code": code, "message": message, "event_id": cause.get("event_id")}
        await self.send({"type": "error", "error": error})

    async def _respond(self, event: dict[str, Any]) -> None:
        rid = self.active = self.server.new_id("resp")
        response = {"object": "realtime.response", "id": rid, "status": "in_progress", "output": []}
        try:
            items = await self.server.respond(self, event)
        except Refuse as refusal:
            self.active = None
            await self.error(str(refusal), "The request was refused.", event)
            return
        except Fail as failure:
            await self.send({"type": "response.created", "response": response})
            self.active = None
            details = {"type": "failed", "error": {"type": "server_error", "code": None, "message": str(failure)}}
            await self.send(
                {"type": "response.done", "response": {**response, "status": "failed", "status_details": details}}
            )
            return
        if items is None:  # the responder streamed the whole response itself
            self.active = None
            return
        await self.send({"type": "response.created", "response": response})
        for index, item in enumerate(items):
            await self.send(
                {"type": "response.output_item.added", "response_id": rid, "output_index": index, "item": item}
            )
            await self.send(
                {"type": "response.output_item.done", "response_id": rid, "output_index": index, "item": item}
            )
        await asyncio.sleep(0.01)  # the client acts on the items while the response is still active
        self.active = None
        await self.send({"type": "response.done", "response": {**response, "status": "completed", "output": items}})

    async def created(self) -> str:
        """Start a response by hand (for a responder that streams it itself); returns its id."""
        rid = self.server.new_id("resp")
        response = {"object": "realtime.response", "id": rid, "status": "in_progress", "output": []}
        await self.send({"type": "response.created", "response": response})
        return rid

    async def done(self, rid: str, output: list[dict[str, Any]], status: str = "completed") -> None:
        self.active = None
        response = {"object": "realtime.response", "id": rid, "status": status, "output": output}
        await self.send({"type": "response.done", "response": response})

    async def raw(self, text: str) -> None:
        """Send a frame as is (for malformed-frame tests)."""
        await self.ws.send(text)

    def call(self, name: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        """A completed function_call output item."""
        item = {"id": self.server.new_id("item"), "type": "function_call", "status": "completed"}
        return {**item, "name": name, "call_id": self.server.new_id("call"), "arguments": json.dumps(arguments or {})}


# --- helpers for the tests that drive a session against this server ---------------------------------


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until `predicate()` holds (TimeoutError after `timeout` seconds)."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


def collect(subscription: Any) -> tuple[list[Any], asyncio.Task[None]]:
    """Every event of `subscription` into a list, by a task that ends with the subscription."""
    seen: list[Any] = []

    async def run() -> None:
        async for event in subscription:
            seen.append(event)

    return seen, asyncio.create_task(run())


def function_outputs(server: WireServer) -> list[dict[str, Any]]:
    """The function_call_output items the client sent."""
    items = [e["item"] for e in server.of("conversation.item.create")]
    return [i for i in items if i["type"] == "function_call_output"]
