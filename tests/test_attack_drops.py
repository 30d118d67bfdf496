"""Drops at every point: mid tool call, mid handoff, during the restore itself, and a server that
closes every connection at once. Nothing is lost or doubled, and nothing hangs."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from conftest import MINI
from websockets.asyncio.server import serve
from wire import WireConnection, WireServer
from wire import until as _until

from engine.compile import compile_session
from engine.protocol.openai_check import check_payload
from engine.runtime import Session
from engine.validate import load_graph

SLOW_TOOLS = """\
import asyncio


def lookup(query: str) -> dict:
    return {"query": query, "found": True}


async def slow(query: str = "") -> dict:
    await asyncio.sleep(0.4)
    return {"slow": query}
"""

SLOW = MINI.replace("    tools: [lookup]\n", "    tools: [lookup, slow]\n") + (
    "  slow:\n    description: Slow.\n    parameters: {type: object, properties: {query: {type: string}}}\n"
    "    run: mini_tools:slow\n"
)


def _items(server: WireServer, kind: str) -> list[dict[str, Any]]:
    return [e["item"] for e in server.of("conversation.item.create") if e["item"]["type"] == kind]


async def test_a_drop_while_a_tool_runs_answers_it_once_on_the_new_connection(write_graph):
    doc = load_graph(write_graph(SLOW, **{"mini_tools.py": SLOW_TOOLS}))

    async def model(conn: WireConnection, event: dict[str, Any]) -> list[dict[str, Any]] | None:
        if conn is conn.server.connections[0]:
            rid = await conn.created()
            call = conn.call("slow", {"query": "q"})
            await conn.send({"type": "response.output_item.done", "response_id": rid, "output_index": 0, "item": call})
            await conn.done(rid, [call])
            await asyncio.sleep(0.05)  # the tool is running
            await conn.ws.close(code=1011)
            return None
        return []

    async with (
        WireServer(model) as server,
        Session(doc, url=server.url, api_key="k", reconnect_backoff=0.01) as session,
    ):
        await session.send_text("hi")
        await _until(lambda: len(server.connections) == 2)
        await session.wait_idle(5)
    outputs = _items(server, "function_call_output")
    assert [json.loads(o["output"]) for o in outputs] == [{"slow": "q"}]
    assert len(server.of("response.create")) == 2  # the user's turn, then the tool's output
    assert server.overlaps == 0


@pytest.mark.parametrize("when", ["before the update", "after the update"])
async def test_a_drop_mid_handoff_leaves_the_new_agent_configured_and_answers_once(write_graph, when):
    doc = load_graph(write_graph(MINI))

    async def model(conn: WireConnection, event: dict[str, Any]) -> list[dict[str, Any]] | None:
        if conn is conn.server.connections[0]:
            rid = await conn.created()
            call = conn.call("transfer_to_helper")
            await conn.send({"type": "response.output_item.done", "response_id": rid, "output_index": 0, "item": call})
            if when == "after the update":
                await _until(lambda: len(conn.server.of("session.update")) == 2)
            conn.active = None
            await conn.ws.close(code=1011)
            return None
        return []

    async with (
        WireServer(model) as server,
        Session(doc, url=server.url, api_key="k", reconnect_backoff=0.01) as session,
    ):
        await session.send_text("hi")
        await _until(lambda: len(server.connections) >= 2)
        await session.wait_idle(5)
        assert session.agent == "helper"
    last = server.connections[-1]
    updates = server.of("session.update")
    assert updates[-1]["session"] == compile_session(doc, "helper")["session"]
    outputs = _items(server, "function_call_output")
    assert len({o["call_id"] for o in outputs}) == 1
    assert last.active is None and server.overlaps == 0


async def test_a_drop_during_the_restore_is_restored_again(write_graph):
    doc = load_graph(write_graph(MINI))
    restores = {"n": 0}

    async def on_item(conn: WireConnection, event: dict[str, Any]) -> None:
        # The second connection drops in the middle of the restore (its first restored item).
        if conn is conn.server.connections[1] and restores["n"] == 0:
            restores["n"] += 1
            await conn.ws.close(code=1011)

    async def model(conn: WireConnection, event: dict[str, Any]) -> list[dict[str, Any]] | None:
        if conn is conn.server.connections[0] and len(conn.server.of("response.create")) == 2:
            await conn.created()
            conn.active = None
            await conn.ws.close(code=1011)
            return None
        return []

    server = WireServer(model, hooks={"conversation.item.create": on_item})
    async with server, Session(doc, url=server.url, api_key="k", reconnect_backoff=0.01) as session:
        await session.send_text("one")
        await session.wait_idle(3)
        await session.send_text("two")
        await _until(lambda: len(server.connections) == 3)
        await session.wait_idle(5)
        await session.send_text("three")
        await session.wait_idle(3)
    assert server.overlaps == 0
    third = server.connections[2]
    assert third.ws.state.name == "CLOSED"
    texts = [
        e["item"]["content"][0]["text"]
        for e in server.of("conversation.item.create")
        if e["item"].get("role") == "user"
    ]
    assert texts.count("three") == 1


async def test_a_server_that_closes_every_connection_at_once_is_lost_not_retried_forever(write_graph):
    """Every connection is accepted, then closed at once. Today each reconnect 'succeeds' (the
    restore events are written before the close is read), Link._reconnect returns True, and the next
    drop starts again at attempt 1: the session reconnects forever (130+ connections in 2 s at a
    10 ms backoff), wait_idle never raises ConnectionLost, and reconnect_attempts bounds nothing."""
    doc = load_graph(write_graph(MINI))
    opened = [0]

    async def close_at_once(ws: Any) -> None:
        opened[0] += 1
        await ws.close(code=1011)

    async with serve(close_at_once, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        url = f"ws://127.0.0.1:{port}/v1/realtime?model=gpt-realtime"
        session = Session(doc, url=url, api_key="k", reconnect_attempts=3, reconnect_backoff=0.01)
        try:
            await session.connect()
            with pytest.raises(ConnectionError):
                await session.send_text("hi")
                await session.wait_idle(3)
        finally:
            await session.close()
    assert opened[0] <= 10, f"{opened[0]} connections for reconnect_attempts=3"


SPOILED_ITEMS = {
    "a message with an odd role": {
        "type": "conversation.item.added",
        "item": {"id": "item_w", "type": "message", "role": "wizard", "content": [{"type": "text", "text": "abra"}]},
    },
    "a message with a non-text role": {
        "type": "conversation.item.added",
        "item": {"id": "item_w", "type": "message", "role": ["user"], "content": [{"type": "text", "text": "abra"}]},
    },
    "a call with object arguments": {
        "type": "response.output_item.done",
        "item": {"id": "item_c", "type": "function_call", "call_id": "call_c", "name": "lookup", "arguments": {"q": 1}},
    },
    "an item with a numeric id": {
        "type": "conversation.item.added",
        "item": {"id": 7, "type": "message", "role": "assistant", "content": [{"type": "text", "text": "abra"}]},
    },
}


@pytest.mark.parametrize("spoiled", sorted(SPOILED_ITEMS))
async def test_a_restore_after_odd_items_sends_only_valid_events(write_graph, spoiled):
    """What a hostile server put into the history comes back to the server on the restore: today the
    history keeps items as they came (history.py add_message/add_call), and restore_events sends
    them as they are, which the API refuses (check_payload, openai's own types)."""
    doc = load_graph(write_graph(MINI))

    async def model(conn: WireConnection, event: dict[str, Any]) -> list[dict[str, Any]] | None:
        if conn is conn.server.connections[0]:
            await conn.raw(json.dumps(SPOILED_ITEMS[spoiled]))
            await asyncio.sleep(0.05)
            conn.active = None
            await conn.ws.close(code=1011)
            return None
        return []

    async with (
        WireServer(model) as server,
        Session(doc, url=server.url, api_key="k", reconnect_backoff=0.01) as session,
    ):
        await session.send_text("hi")
        await _until(lambda: len(server.connections) == 2)
        await session.wait_idle(5)
    invalid = [(e["type"], p) for e in server.received if (p := _problems(e))]
    assert not invalid, invalid


def _problems(event: dict[str, Any]) -> list[str]:
    try:
        return check_payload(event)
    except Exception as exc:  # the checker itself trips on some shapes (test_attack_checker.py)
        return [f"{type(exc).__name__}: {exc}"]
