"""Tools that hang, raise anything, or return huge or odd outputs, called by the model through a real
session: each call is answered once with valid JSON no longer than the cap, and the session goes on."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from conftest import MINI
from wire import WireConnection, WireServer

from engine.runtime import Session
from engine.tools import DEFAULT_MAX_OUTPUT_CHARS
from engine.validate import load_graph

NASTY_TOOLS = """
import asyncio, sys, time


class Loud:
    def __str__(self):
        raise RuntimeError("no str for you")

    __repr__ = __str__


class Weird(BaseException):
    pass


def sys_exit() -> dict:
    sys.exit(3)


def keyboard() -> dict:
    raise KeyboardInterrupt


def base() -> dict:
    raise Weird("weird")


async def cancelled() -> dict:
    raise asyncio.CancelledError()


def generator_exit() -> dict:
    raise GeneratorExit


def huge() -> str:
    return "y" * 5_000_000


def nan() -> dict:
    return {"a": float("nan"), "b": float("inf"), "c": [float("-inf")]}


def a_set() -> object:
    return {1, 2, 3}


def loud() -> object:
    return Loud()


def raises_loud() -> dict:
    raise ValueError(Loud())


def hang() -> dict:
    time.sleep(3)
    return {}


async def async_hang() -> dict:
    await asyncio.sleep(30)
    return {}


def bytes_out() -> bytes:
    return b"\\xff\\xfe"


def deep() -> list:
    out = []
    for _ in range(5000):
        out = [out]
    return out
"""

NAMES = [
    "sys_exit",
    "keyboard",
    "base",
    "cancelled",
    "generator_exit",
    "huge",
    "nan",
    "a_set",
    "loud",
    "raises_loud",
    "hang",
    "async_hang",
    "bytes_out",
    "deep",
]


def _graph() -> str:
    tools = "".join(
        f"  {n}:\n    description: nasty.\n    parameters: {{type: object}}\n    run: nasty:{n}\n    timeout: 0.3\n"
        for n in NAMES
    )
    return MINI.replace("    tools: [lookup]\n", f"    tools: [lookup, {', '.join(NAMES)}]\n") + tools


def _strict(text: str) -> Any:
    def refuse(token: str) -> Any:
        raise ValueError(f"{token} is not JSON")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("name", NAMES)
async def test_a_nasty_tool_is_answered_once_with_valid_json_and_the_session_goes_on(write_graph, name):
    doc = load_graph(write_graph(_graph(), **{"nasty.py": NASTY_TOOLS}))

    async def model(conn: WireConnection, event: dict[str, Any]) -> list[dict[str, Any]]:
        if len(conn.server.of("response.create")) == 1:
            return [conn.call(name), conn.call("lookup", {"query": "also"})]
        return []

    async with WireServer(model) as server, Session(doc, url=server.url, api_key="k") as session:
        await session.send_text("hi")
        await session.wait_idle(5)
        await session.send_text("again")
        await session.wait_idle(5)
    items = [e["item"] for e in server.of("conversation.item.create")]
    outputs = [i for i in items if i["type"] == "function_call_output"]
    assert len(outputs) == 2, "each call answered exactly once"
    for output in outputs:
        _strict(output["output"])
        assert len(output["output"]) <= DEFAULT_MAX_OUTPUT_CHARS + 500
    assert {"query": "also", "found": True} in [_strict(o["output"]) for o in outputs]
    assert server.overlaps == 0


async def test_hung_sync_tools_do_not_starve_a_quick_one(write_graph):
    doc = load_graph(write_graph(_graph(), **{"nasty.py": NASTY_TOOLS}))

    async def model(conn: WireConnection, event: dict[str, Any]) -> list[dict[str, Any]]:
        if len(conn.server.of("response.create")) == 1:
            return [conn.call("hang") for _ in range(40)] + [conn.call("lookup", {"query": "quick"})]
        return []

    async with WireServer(model) as server, Session(doc, url=server.url, api_key="k") as session:
        await session.send_text("hi")
        await session.wait_idle(5)
    outputs = [e["item"] for e in server.of("conversation.item.create") if e["item"]["type"] == "function_call_output"]
    assert len(outputs) == 41
    assert {"query": "quick", "found": True} in [_strict(o["output"]) for o in outputs]


async def test_closing_a_session_with_a_tool_still_running_returns_at_once(write_graph):
    doc = load_graph(write_graph(_graph(), **{"nasty.py": NASTY_TOOLS}))

    async def model(conn: WireConnection, event: dict[str, Any]) -> list[dict[str, Any]]:
        return [conn.call("async_hang"), conn.call("hang")] if len(conn.server.of("response.create")) == 1 else []

    async with WireServer(model) as server:
        session = Session(doc, url=server.url, api_key="k")
        await session.connect()
        await session.send_text("hi")
        await asyncio.sleep(0.1)
        async with asyncio.timeout(2):
            await session.close()
        assert not session._tasks or all(t.done() or t.cancelling() for t in session._tasks)
