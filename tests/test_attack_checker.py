"""The strict openai checker (engine/protocol/openai_check.py) on hostile shapes: problems, never a crash.
The simulator checks every client event with it, so a client's odd item must not raise."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets

from engine.protocol.openai_check import check_payload
from engine.sim import Simulator


@pytest.mark.parametrize("role", [["user"], {"r": 1}])
def test_an_item_with_an_unhashable_role_is_a_problem_not_a_crash(role):
    """Today _item looks the item model up by (type, role) in a dict: TypeError: unhashable type."""
    event = {"type": "conversation.item.create", "item": {"type": "message", "role": role, "content": []}}
    problems = check_payload(event)
    assert problems and any("role" in p for p in problems)


@pytest.mark.parametrize("kind", [["message"], {"t": 1}])
def test_an_item_with_an_unhashable_type_is_a_problem_not_a_crash(kind):
    event = {"type": "conversation.item.create", "item": {"type": kind, "role": "user", "content": []}}
    assert check_payload(event)


@pytest.mark.parametrize("kind", [["session.update"], {"t": 1}, 5, None])
def test_an_event_with_an_odd_type_is_a_problem_not_a_crash(kind):
    assert check_payload({"type": kind})


async def test_the_simulator_answers_an_unhashable_role_with_an_error_and_goes_on():
    """Today the simulator's connection handler dies on the checker's TypeError: the connection drops
    without a close frame."""
    async with Simulator() as sim, websockets.connect(sim.url + "?model=gpt-realtime") as ws:
        assert json.loads(await ws.recv())["type"] == "session.created"
        item = {"type": "message", "role": ["user"], "content": []}
        await ws.send(json.dumps({"type": "conversation.item.create", "item": item}))
        answer = json.loads(await asyncio.wait_for(ws.recv(), 3))
        assert answer["type"] == "error"
        await ws.send(json.dumps({"type": "session.update", "session": {"type": "realtime"}}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 3))["type"] == "session.updated"
