"""The threads sync tools run on, and one toolbox shared by many sessions at once."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest

from engine.spec import load_document
from engine.tools import Toolbox, ToolContext, ToolThreads


@pytest.fixture
def gate():
    event = threading.Event()
    yield event
    event.set()  # whatever a test left hanging ends with it


async def test_the_bound_holds_and_a_waiting_call_runs_when_a_slot_frees(gate):
    threads = ToolThreads(2)
    running: list[str] = []

    def work(name: str) -> str:
        running.append(name)
        gate.wait(10)
        return name

    calls = [asyncio.create_task(threads.run(work, n)) for n in "abc"]
    while len(running) < 2:
        await asyncio.sleep(0.01)
    assert threads.busy == 2 and threads.waiting == 1
    assert sorted(running) == ["a", "b"]
    gate.set()
    assert await asyncio.gather(*calls) == ["a", "b", "c"]
    assert threads.busy == 0 and threads.waiting == 0
    threads.shutdown()


async def test_an_abandoned_call_frees_its_slot_at_once(gate):
    threads = ToolThreads(1)
    hung = asyncio.create_task(threads.run(gate.wait))
    await asyncio.sleep(0.05)
    assert threads.busy == 1
    hung.cancel()
    with pytest.raises(asyncio.CancelledError):
        await hung
    assert threads.busy == 0
    assert await threads.run(lambda: "free") == "free"  # on a new thread: the first still hangs
    threads.shutdown()


async def test_a_call_abandoned_while_waiting_never_runs(gate):
    threads = ToolThreads(1)
    ran: list[int] = []
    first = asyncio.create_task(threads.run(gate.wait))
    second = asyncio.create_task(threads.run(ran.append, 2))
    await asyncio.sleep(0.05)
    assert threads.waiting == 1
    second.cancel()
    await asyncio.sleep(0)
    assert threads.waiting == 0
    gate.set()
    await first
    await asyncio.sleep(0.05)
    assert ran == []
    threads.shutdown()


async def test_exceptions_of_any_kind_reach_the_awaiter_and_the_thread_serves_on():
    threads = ToolThreads(1)

    def leave():
        raise SystemExit(5)

    with pytest.raises(SystemExit):
        await threads.run(leave)
    with pytest.raises(ValueError, match="bad"):
        await threads.run(lambda: int("bad"))
    assert await threads.run(threading.current_thread) is not threading.main_thread()
    assert (await threads.run(threading.current_thread)).daemon
    threads.shutdown()


async def test_after_shutdown_calls_are_refused_and_waiting_ones_fail(gate):
    threads = ToolThreads(1)
    first = asyncio.create_task(threads.run(gate.wait))
    waiting = asyncio.create_task(threads.run(lambda: "never"))
    await asyncio.sleep(0.05)
    threads.shutdown()
    with pytest.raises(RuntimeError, match="shut down"):
        await waiting
    with pytest.raises(RuntimeError, match="shut down"):
        await threads.run(lambda: None)
    gate.set()
    assert await first is True  # a running call still finishes


def test_one_runner_serves_any_event_loop():
    threads = ToolThreads(2)
    assert asyncio.run(threads.run(lambda: 1)) == 1
    assert asyncio.run(threads.run(lambda: 2)) == 2  # another loop, maybe the same idle thread
    threads.shutdown()


def test_the_bound_must_be_positive():
    with pytest.raises(ValueError, match="at least 1"):
        ToolThreads(0)


# --- one toolbox, many sessions --------------------------------------------------------------------

GRAPH = """\
graph: shared
start: main
agents:
  main: {instructions: x}
tools:
  remember:
    parameters: {type: object, properties: {note: {type: string}}, required: [note]}
    run: "funcs:remember"
    sets: {remembered: true}
  recall:
    run: "funcs:recall"
"""

FUNCS = """\
import time


def remember(note, *, context):
    context["note"] = note
    time.sleep(0.01)  # let the other sessions' calls interleave
    return context["note"]


async def recall(*, context):
    return context.get("note")
"""


async def test_one_toolbox_serves_many_sessions_at_once_without_crosstalk(write_graph):
    box = Toolbox(load_document(write_graph(GRAPH, **{"funcs.py": FUNCS})), max_threads=4)
    contexts = [ToolContext(context={"caller": i}, agent="main") for i in range(20)]
    outcomes = await asyncio.gather(
        *(box.execute("remember", json.dumps({"note": f"note {i}"}), c) for i, c in enumerate(contexts))
    )
    assert [json.loads(o.output) for o in outcomes] == [f"note {i}" for i in range(20)]
    recalled = await asyncio.gather(*(box.execute("recall", "{}", c) for c in contexts))
    assert [json.loads(o.output) for o in recalled] == [f"note {i}" for i in range(20)]
    assert all(c.context == {"caller": i, "note": f"note {i}", "remembered": True} for i, c in enumerate(contexts))
    assert all(o.context_updates == {"note": f"note {i}", "remembered": True} for i, o in enumerate(outcomes))
    await box.aclose()
