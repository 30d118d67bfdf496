"""The session against the simulator over real loopback websockets: the wire rules of design §5."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import GRAPHS, MINI

from engine.compile import TemplateRenderError, check_payload
from engine.runtime import PlaybackClock, Session, replay
from engine.runtime import events as ev
from engine.sim import Simulator
from engine.spec import Script
from engine.validate import load_graph

SLOW_TOOLS = """\
import time

def lookup(query: str) -> dict:
    return {"query": query, "found": True}

def slow(seconds: float) -> dict:
    time.sleep(seconds)
    return {"slept": seconds}

def boom(text: str) -> dict:
    raise RuntimeError(f"the warehouse is on fire: {text}")
"""

EXTRA_TOOLS = """\
  slow:
    description: Take a while.
    parameters: {type: object, properties: {seconds: {type: number}}, required: [seconds]}
    run: mini_tools:slow
    timeout: 200ms
    on_timeout: The lookup service is slow right now; tell the caller to try again later.
  boom:
    description: Fail.
    parameters: {type: object, properties: {text: {type: string}}, required: [text]}
    run: mini_tools:boom
  refund:
    description: Refund an order.
    parameters: {type: object, properties: {order: {type: string}}, required: [order]}
    returns: {refunded: "{{ args.order }}"}
    needs_approval: true
    sets: {refunded: true}
"""


@pytest.fixture
def graph(write_graph, tmp_path: Path) -> Callable[..., Any]:
    def make(text: str = MINI, *, extra_tools: bool = True) -> Any:
        if extra_tools:
            head, sep, rest = text.partition("\nguardrails:")
            text = head + "\n" + EXTRA_TOOLS + (sep.lstrip("\n") + rest if sep else "")
            text = text.replace("tools: [lookup]", "tools: [lookup, slow, boom, refund]")
        path = write_graph(text)
        (tmp_path / "mini_tools.py").write_text(SLOW_TOOLS)
        return load_graph(path)

    return make


def script(*turns: dict[str, Any], **fields: Any) -> Script:
    return Script.model_validate({"turns": list(turns), **fields})


async def run(doc, sc: Script, **session_args: Any) -> tuple[Simulator, Session, list[ev.SessionEvent]]:
    """Replay a script on a fresh simulator; returns the simulator, the session and its events.

    Every client event the session sent must be one the API accepts (the openai types, strictly).
    """
    seen: list[ev.SessionEvent] = []
    async with Simulator(sc) as sim:
        session = Session(doc, url=sim.url, api_key="test-key", **session_args)
        async with session:
            collector = asyncio.create_task(_collect(session, seen))
            await replay(session, sc, turn_timeout=10)
        await collector
    api_accepts(sim)
    return sim, session, seen


def api_accepts(sim: Simulator) -> None:
    problems = {e["type"]: check_payload(e) for e in sim.received if check_payload(e)}
    assert not problems, problems


async def _collect(session: Session, seen: list[ev.SessionEvent]) -> None:
    async for event in session:
        seen.append(event)


def client_events(sim: Simulator, *types: str) -> list[dict[str, Any]]:
    return [e for e in sim.received if not types or e.get("type") in types]


def outputs(sim: Simulator) -> list[Any]:
    items = [e["item"] for e in client_events(sim, "conversation.item.create")]
    return [json.loads(i["output"]) for i in items if i["type"] == "function_call_output"]


def never_overlapping_responses(sim: Simulator) -> None:
    """The server never had to refuse a response.create for an active response."""
    errors = [e for e in sim.sent if e.get("type") == "error"]
    assert not [e for e in errors if e["error"].get("code") == "conversation_already_has_active_response"]


# --- handoffs ------------------------------------------------------------------------------------------


async def test_handoff_wire_order(graph):
    doc = graph()
    sc = script({"user": "hi", "model": [{"say": "Let me get my colleague."}, {"handoff": "helper"}, {"say": "Hi!"}]})
    sim, session, seen = await run(doc, sc)
    assert session.agent == "helper" and not sim.script_errors
    sequence = [e["type"] for e in sim.received]
    call_output = next(
        i
        for i, e in enumerate(sim.received)
        if e["type"] == "conversation.item.create" and e["item"]["type"] == "function_call_output"
    )
    update = max(i for i, t in enumerate(sequence[:call_output]) if t == "session.update")
    assert "transfer_to_greeter" in json.dumps(sim.received[update])  # the helper's own tools
    assert sequence[call_output + 1] == "response.create"
    assert json.loads(sim.received[call_output]["item"]["output"]) == {"assistant": "helper"}
    never_overlapping_responses(sim)
    kinds = [type(e).__name__ for e in seen if isinstance(e, ev.AgentEnd | ev.HandoffEvent | ev.AgentStart)]
    assert kinds == ["AgentStart", "AgentEnd", "HandoffEvent", "AgentStart", "AgentEnd"]  # the last at close


async def test_formats_and_voice_kept_across_handoffs(graph):
    text = MINI.replace(
        "context:",
        "session:\n  audio:\n    input: {format: g711_ulaw}\n    output: {format: g711_ulaw, voice: sage}\ncontext:",
    ).replace("    description: Helps with anything.\n", "    description: Helps with anything.\n    voice: sage\n")
    doc = graph(text)
    sc = script({"user": "hi", "model": [{"say": "Hello there, one moment."}, {"handoff": "helper"}, {"say": "Hi."}]})
    sim, _session, _ = await run(doc, sc)
    updates = [e["session"] for e in client_events(sim, "session.update")]
    assert len(updates) == 2
    for update in updates:
        assert update["audio"]["input"]["format"] == {"type": "audio/pcmu"}
        assert update["audio"]["output"]["format"] == {"type": "audio/pcmu"}
        assert update["audio"]["output"]["voice"] == "sage"
    assert not [e for e in sim.sent if e.get("type") == "error"]


async def test_voice_of_the_session_wins_after_audio(graph):
    text = MINI.replace(
        "    description: Helps with anything.\n", "    description: Helps with anything.\n    voice: ash\n"
    )
    text = text.replace("context:", "session:\n  audio: {output: {voice: sage}}\ncontext:")
    doc = graph(text)
    sc = script(
        {"user": "hi", "model": [{"say": "Hello, let me transfer you."}, {"handoff": "helper"}, {"say": "Hi."}]}
    )
    sim, _, _ = await run(doc, sc)
    voices = [e["session"]["audio"]["output"]["voice"] for e in client_events(sim, "session.update")]
    assert voices == ["sage", "sage"]  # the API refuses a change once audio was produced


# --- tool calls ----------------------------------------------------------------------------------------


async def test_hallucinated_tool_gets_an_error_and_the_session_recovers(graph):
    doc = graph()
    sc = script(
        {"user": "hi", "model": [{"call": "lookup_weather", "args": {}}, {"say": "Sorry, let me try that again."}]}
    )
    async with Simulator(sc) as sim:
        sim.allow_unoffered = True  # a real model can call a tool it was not given
        async with Session(doc, url=sim.url, api_key="k") as session:
            await replay(session, sc, turn_timeout=10)
            said = session.history.items[-1]["text"]
    [output] = outputs(sim)
    assert "not available" in output["error"] and "lookup" in output["error"]
    assert said == "Sorry, let me try that again."


async def test_bad_arguments_are_refused_before_running(graph):
    doc = graph()
    sc = script({"user": "find x", "model": [{"call": "lookup", "args": {"q": 1}}, {"say": "Let me rephrase."}]})
    sim, _, seen = await run(doc, sc)
    [output] = outputs(sim)
    assert "query" in output["error"] and "q" in output["error"]
    [end] = [e for e in seen if isinstance(e, ev.ToolEnd)]
    assert not end.ok


async def test_tool_timeout_gives_the_on_timeout_output(graph):
    doc = graph()
    sc = script({"user": "go", "model": [{"call": "slow", "args": {"seconds": 2}}, {"say": "Sorry about that."}]})
    sim, _, seen = await run(doc, sc)
    item = next(e["item"] for e in client_events(sim, "conversation.item.create") if e["item"]["type"] != "message")
    assert "try again later" in item["output"]
    assert [e.ok for e in seen if isinstance(e, ev.ToolEnd)] == [False]


async def test_tool_that_raises_does_not_end_the_session(graph):
    doc = graph()
    sc = script(
        {"user": "go", "model": [{"call": "boom", "args": {"text": "aisle 3"}}, {"say": "Something broke."}]},
        {"user": "ok", "model": [{"call": "lookup", "args": {"query": "boards"}}, {"say": "Found it."}]},
    )
    sim, session, _ = await run(doc, sc)
    first, second = outputs(sim)
    assert "RuntimeError" in first["error"] and "warehouse is on fire" in first["error"]
    assert second == {"query": "boards", "found": True}
    assert session.history.items[-1]["text"] == "Found it."


# --- approvals -----------------------------------------------------------------------------------------


def _refunds(n: int) -> Script:
    turns = [
        {"user": f"refund {i}", "model": [{"call": "refund", "args": {"order": f"A{i}"}}, {"say": "Done."}]}
        for i in range(n)
    ]
    return script(*turns)


@pytest.mark.parametrize(
    ("decisions", "asked", "refunded"),
    [
        (["approve", "approve"], 2, [True, True]),
        (["deny", "approve"], 2, [False, True]),
        (["always_approve"], 1, [True, True]),
        (["always_deny"], 1, [False, False]),
    ],
)
async def test_approvals(graph, decisions, asked, refunded):
    doc = graph()
    requests: list[ev.ApprovalRequested] = []

    async def approver(request: ev.ApprovalRequested) -> Any:
        requests.append(request)
        return decisions[len(requests) - 1]

    sim, session, _seen = await run(doc, _refunds(2), approval=approver)
    assert len(requests) == asked and requests[0].tool == "refund"
    assert ["refunded" in o for o in outputs(sim)] == refunded
    assert session.context.get("refunded", False) == any(refunded)


async def test_approval_policies_for_unattended_runs(graph):
    doc = graph()
    sim, _, seen = await run(doc, _refunds(1), approval="deny")
    assert "did not approve" in outputs(sim)[0]["error"]
    assert [type(e) for e in seen if isinstance(e, ev.ApprovalRequested)] == [ev.ApprovalRequested]
    sim, _, _ = await run(doc, _refunds(1), approval="auto")
    assert outputs(sim) == [{"refunded": "A0"}]


# --- guardrails ------------------------------------------------------------------------------------------


async def test_guardrail_trip_sequence(graph):
    text = (
        MINI + "guardrails:\n  competitors:\n    keywords: [MegaBoards]\n    category: OFF_BRAND\n    every_chars: 20\n"
    )
    doc = graph(text)
    long = "You know, honestly, MegaBoards sells better boards than we do and cheaper too, and their staff is nicer."
    sc = script(
        {"user": "which shop?", "model": [{"say": long}]},
        {"model": [{"say": "Sorry, let me stick to our own boards."}]},
    )
    sim, _, seen = await run(doc, sc)
    [trip] = [e for e in seen if isinstance(e, ev.GuardrailTripped)]
    assert (trip.guardrail, trip.category) == ("competitors", "OFF_BRAND")
    types = [e["type"] for e in sim.received]
    truncate = types.index("conversation.item.truncate")
    corrective = next(
        i
        for i, e in enumerate(sim.received)
        if e["type"] == "conversation.item.create" and e["item"]["role"] == "system"
    )
    assert truncate < corrective < types.index("response.create", corrective)
    if "response.cancel" in types:
        assert types.index("response.cancel") < truncate
    assert "competitors" in json.dumps(sim.received[corrective])
    never_overlapping_responses(sim)


# --- barge-in ----------------------------------------------------------------------------------------------


async def test_barge_in_truncates_at_the_milliseconds_played(graph):
    doc = graph()
    sc = script({"user": "tell me a story", "model": [{"say": "Once upon a time " * 20}]})
    clock = PlaybackClock()
    async with Simulator(sc) as sim, Session(doc, url=sim.url, api_key="k", playback=clock) as session:
        await session.send_text("tell me a story")
        await session.wait_idle(10)
        [item_id] = {e["item_id"] for e in sim.sent if e["type"] == "response.output_audio.delta"}
        clock.report(item_id, 1234)  # the frontend says what it has played
        await sim.barge_in()
        truncate = await sim.wait_for("conversation.item.truncate")
    assert truncate["item_id"] == item_id and truncate["audio_end_ms"] == 1234 and truncate["content_index"] == 0


def test_default_clock_never_claims_more_than_received():
    now = [100.0]
    clock = PlaybackClock(clock=lambda: now[0])
    clock.received("item_1", 48 * 500, 48.0)  # 500 ms of pcm16
    now[0] += 0.2
    assert clock.played_ms("item_1") == 200 and clock.playing() == "item_1"
    now[0] += 5
    # Caught up with what arrived, but more may come: still playing until all of it has arrived.
    assert clock.played_ms("item_1") == 500 and clock.playing() == "item_1"
    clock.finished("item_1")
    assert clock.playing() is None


def test_default_clock_plays_items_one_after_another():
    now = [100.0]
    clock = PlaybackClock(clock=lambda: now[0])
    clock.received("item_1", 48 * 3000, 48.0)  # 3 s of speech, arrived at once (faster than real time)
    clock.finished("item_1")
    clock.received("item_2", 48 * 2000, 48.0)  # queued behind it
    clock.finished("item_2")
    now[0] += 1.0
    assert clock.audible() == ["item_1", "item_2"] and clock.played_ms("item_2") == 0
    assert clock.stop("item_1") == 1000 and clock.stop("item_2") == 0
    clock.received("item_3", 48 * 500, 48.0)  # after a cut, the next item starts at once
    now[0] += 0.1
    assert clock.played_ms("item_3") == 100


async def test_barge_in_cuts_the_item_being_heard_not_the_one_queued(graph):
    doc = graph()
    long, short = "Let me check that for you right away. " * 6, "Found it, it shipped yesterday."
    sc = script(
        {"user": "where is it", "model": [{"say": long}, {"call": "lookup", "args": {"query": "o"}}, {"say": short}]}
    )
    async with Simulator(sc) as sim, Session(doc, url=sim.url, api_key="k") as session:
        await session.send_text("where is it")
        await session.wait_idle(10)
        first, second = dict.fromkeys(e["item_id"] for e in sim.sent if e["type"] == "response.output_audio.delta")
        await asyncio.sleep(1.0)  # a few words into the first reply
        await sim.barge_in()
        cuts = [
            await sim.wait_for("conversation.item.truncate"),
            await sim.wait_for_sent("conversation.item.truncated"),
        ]
        await asyncio.sleep(0.05)
        truncates = client_events(sim, "conversation.item.truncate")
        said = session.history.get(first)
    api_accepts(sim)
    assert cuts[0]["item_id"] == first and 0 < cuts[0]["audio_end_ms"] < 2000  # seconds of audio, cut early
    assert [(t["item_id"], t["audio_end_ms"]) for t in truncates[1:]] == [(second, 0)]
    assert said is not None and said["truncated"] and said["text"].endswith("…")
    assert long.startswith(said["text"][:-1]) and 0 < len(said["text"]) < len(long) / 2


async def test_interrupt_before_the_response_starts_cancels_it(graph):
    doc = graph()
    sc = script({"user": "tell me a story", "model": [{"say": "Once upon a time " * 20}]})
    async with Simulator(sc) as sim, Session(doc, url=sim.url, api_key="k") as session:
        await session.send_text("tell me a story")
        await session.interrupt()  # the response.create is on its way; nothing is active yet
        await session.wait_idle(10)
    created = next(i for i, e in enumerate(sim.sent) if e["type"] == "response.created")
    assert any(e["type"] == "response.cancel" for e in sim.received)
    done = next(e for e in sim.sent[created:] if e["type"] == "response.done")
    assert done["response"]["status"] == "cancelled"


# --- faults ---------------------------------------------------------------------------------------------------


async def test_reconnect_restores_the_history(graph):
    doc = graph()
    sc = script(
        {"user": "find boards", "model": [{"call": "lookup", "args": {"query": "boards"}}, {"say": "Found boards."}]},
        {"user": "thanks", "model": [{"say": "Anytime."}]},
    )
    seen: list[ev.SessionEvent] = []
    async with Simulator(sc) as sim:
        session = Session(doc, url=sim.url, api_key="k", reconnect_backoff=0.01)
        async with session:
            collector = asyncio.create_task(_collect(session, seen))
            await session.send_text("find boards")
            await session.wait_idle(10)
            before = len(sim.received)
            await sim.drop_connections()
            await session.send_text("thanks")  # waits for the new connection: nothing is lost
            await session.wait_idle(10)
        await collector
    after = sim.received[before:]
    assert after[0]["type"] == "session.update"
    restored = [e["item"] for e in after if e["type"] == "conversation.item.create"]
    kinds = [(i["type"], i.get("role")) for i in restored]
    assert kinds[:4] == [
        ("message", "user"),
        ("function_call", None),
        ("function_call_output", None),
        ("message", "assistant"),
    ]
    assert restored[0]["content"][0]["text"] == "find boards" and restored[4]["content"][0]["text"] == "thanks"
    assert [e.restored_items for e in seen if isinstance(e, ev.Reconnected)] == [4]
    assert session.history.items[-1]["text"] == "Anytime.", session.history.items


async def test_a_drop_mid_reply_reconnects_and_asks_for_the_reply_again(graph):
    doc = graph()
    sc = script({"user": "tell me a story", "model": [{"say": "Once upon a time there was a board. " * 2}]})
    seen: list[ev.SessionEvent] = []
    async with Simulator(sc, realtime_pacing=True) as sim:
        session = Session(doc, url=sim.url, api_key="k", reconnect_backoff=0.01)
        async with session:
            collector = asyncio.create_task(_collect(session, seen))
            await session.send_text("tell me a story")
            await sim.wait_for_sent("response.output_audio_transcript.delta")
            before = len(sim.received)
            await sim.drop_connections()
            await session.wait_idle(20)  # not idle while reconnecting, nor before the reply asked again is over
            assert any(isinstance(e, ev.Reconnected) for e in seen)
        await collector
    after = [e["type"] for e in sim.received[before:]]
    assert after[0] == "session.update" and after[-1] == "response.create"
    assert after.count("response.create") == 1  # the cut reply is asked for once, never twice
    restored = [e["item"] for e in sim.received[before:] if e["type"] == "conversation.item.create"]
    assert [(i["type"], i["role"]) for i in restored] == [("message", "user"), ("message", "assistant")]
    assert restored[1]["content"][0]["text"].startswith("Once upon")  # the part said before the drop
    kinds = [type(e).__name__ for e in seen if isinstance(e, ev.Reconnecting | ev.Reconnected)]
    assert kinds == ["Reconnecting", "Reconnected"]


async def test_a_connection_lost_for_good_fails_senders_instead_of_hanging(graph):
    doc = graph()
    async with Simulator(script({"user": "hi", "model": [{"say": "Hello."}]})) as sim:
        session = Session(doc, url=sim.url, api_key="k", reconnect_attempts=2, reconnect_backoff=0.01)
        await session.connect()
        await sim.stop()  # the server is gone: every reconnect attempt fails
        with pytest.raises(ConnectionError, match="lost"):
            async with asyncio.timeout(5):
                await session.send_text("hello?")
        with pytest.raises(ConnectionError):
            await session.wait_idle(5)
        await session.close()


async def test_close_during_a_reconnect_releases_waiting_senders(graph):
    doc = graph()
    async with Simulator(script({"user": "hi", "model": [{"say": "Hello."}]})) as sim:
        session = Session(doc, url=sim.url, api_key="k", reconnect_attempts=50, reconnect_backoff=0.05)
        await session.connect()
        await sim.stop()  # the server is gone: the session keeps trying to reconnect
        sender = asyncio.create_task(session.send_text("hello?"))
        await asyncio.sleep(0.1)
        assert not sender.done() and not session.idle  # waiting for the connection, not lost
        await session.close()
        with pytest.raises(ConnectionError, match="closed"):
            await asyncio.wait_for(sender, 2)
        await session.wait_idle(1)  # closed: nothing more will happen


async def test_a_start_agent_that_cannot_compile_never_connects(graph):
    doc = graph()
    async with Simulator(script({"user": "hi", "model": [{"say": "Hello."}]})) as sim:
        session = Session(doc, url=sim.url, api_key="k")
        del session.context["company"]  # the greeter's prompt needs it
        with pytest.raises(TemplateRenderError):
            await session.connect()
        assert sim.connections_opened == 0


async def test_an_unoffered_handoff_cannot_bypass_a_guard(tmp_path: Path):
    retail = load_graph(GRAPHS / "retail.yaml")
    sc = script({"user": "I want a refund", "model": [{"handoff": "returns"}, {"say": "Let me verify you first."}]})
    async with Simulator(sc) as sim:
        sim.allow_unoffered = True  # a model that calls a tool it was not offered
        session = Session(retail, url=sim.url, api_key="k", state="help_with_request")
        async with session:
            await session.send_text("I want a refund")
            await session.wait_idle(10)
    assert session.agent == "authentication" and not session.context["authenticated"]
    [answer] = outputs(sim)
    assert "not available to the authentication agent" in answer["error"]
    assert "transition_state" in answer["error"]


async def test_a_handoff_that_cannot_compile_changes_nothing(graph, tmp_path: Path):
    doc = graph()
    sc = script({"user": "hi", "model": [{"handoff": "helper"}, {"say": "Sorry, I'll help you myself."}]})
    async with Simulator(sc) as sim:
        session = Session(doc, url=sim.url, api_key="k")
        async with session:
            del session.context["company"]  # the helper's prompt needs it; a tool could have removed it
            await session.send_text("hi")
            await session.wait_idle(10)
    assert session.agent == "greeter"
    [answer] = outputs(sim)
    assert "internal error" in answer["error"]
    assert [e["type"] for e in client_events(sim)].count("session.update") == 1  # only the greeter's


async def test_server_errors_and_malformed_frames_do_not_end_the_session(graph):
    doc = graph()
    sc = script({"user": "one", "model": [{"say": "First."}]}, {"user": "two", "model": [{"say": "Second."}]})
    seen: list[ev.SessionEvent] = []
    async with Simulator(sc) as sim:
        async with Session(doc, url=sim.url, api_key="k") as session:
            collector = asyncio.create_task(_collect(session, seen))
            await session.send_text("one")
            await session.wait_idle(10)
            await sim.send_raw("{this is not json")
            await sim.send_error(message="something odd happened", code="server_oops")
            await session.send_text("two")
            await session.wait_idle(10)
            assert session.history.items[-1]["text"] == "Second."
        await collector
    errors = [e for e in seen if isinstance(e, ev.Error)]
    assert {e.code for e in errors} >= {"malformed_frame", "server_oops"}
    assert not any(e.fatal for e in errors)


async def test_duplicate_response_requests_merge(graph):
    doc = graph()
    sc = script({"user": "hi", "model": [{"say": "Hello! " * 30}]})
    async with Simulator(sc) as sim, Session(doc, url=sim.url, api_key="k") as session:
        await session.send_text("hi")
        for _ in range(5):
            await session.request_response()  # while the first is active: held, merged into one
        await session.wait_idle(10)
    assert [e["type"] for e in sim.received].count("response.create") == 2
    never_overlapping_responses(sim)


# --- escalation and events file -------------------------------------------------------------------------------


async def test_escalation_loop_with_tool_calls():
    doc = load_graph(GRAPHS / "chat_supervisor.yaml")
    assert doc.spec.demo is not None
    sim, _session, seen = await run(doc, doc.spec.demo, agent=doc.spec.demo.agent, context=doc.spec.demo.context)
    [end] = [e for e in seen if isinstance(e, ev.ToolEnd) and e.tool == "get_next_response_from_supervisor"]
    called = [s["name"] for s in end.steps if s.get("type") == "function_call"]
    assert called and all(name in doc.spec.tools for name in called)
    assert end.ok and end.steps[-1]["type"] == "answer"
    bodies = sim.responses_requests
    assert bodies[0]["metadata"] == {"engine_kind": "escalation", "tool": "get_next_response_from_supervisor"}
    assert any(i.get("type") == "function_call_output" for i in bodies[-1]["input"])
    assert not sim.script_errors


async def test_api_key_never_reaches_the_events_file(graph, tmp_path: Path):
    doc = graph()
    key = "sk-test-0123456789abcdefSECRET"
    events = tmp_path / "events.jsonl"
    sc = script({"user": f"my key is {key}", "model": [{"say": "Please never share keys."}]})
    async with Simulator(sc) as sim, Session(doc, url=sim.url, api_key=key, events_file=events) as session:
        await session.send_text(f"my key is {key}")
        await session.wait_idle(10)
    text = events.read_text()
    lines = [json.loads(line) for line in text.splitlines()]
    assert key not in text and "<redacted>" in text
    assert {line["direction"] for line in lines} == {"client", "server"}
    deltas = [line["event"] for line in lines if line["event"]["type"] == "response.output_audio.delta"]
    assert deltas and all(d["delta"].endswith("bytes of audio elided>") for d in deltas)


def test_engine_run_replays_the_retail_demo_offline(tmp_path: Path):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    proc = subprocess.run(
        [sys.executable, "-m", "engine.cli", "run", str(GRAPHS / "retail.yaml"), "--events", str(tmp_path / "e.jsonl")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "built-in simulator" in out.splitlines()[0]
    for needle in [
        "authenticate_user_information",
        "handoff: authentication → returns",
        "lookup_orders",
        "retrieve_policy",
        "check_eligibility_and_possibly_initiate_return",
        '"eligible": "true"',
    ]:
        assert needle in out, needle
    assert "went off script" not in proc.stderr


@pytest.mark.parametrize("name", ["retail", "chat_supervisor", "simple_handoff"])
async def test_bundled_demos_send_only_what_the_api_accepts(name: str):
    doc = load_graph(GRAPHS / f"{name}.yaml")
    assert doc.spec.demo is not None
    sim, _session, _ = await run(doc, doc.spec.demo, agent=doc.spec.demo.agent, context=doc.spec.demo.context)
    assert not sim.script_errors and not sim.mismatches and sim.script_done
    assert len(sim.received) > 3  # run() checked each against the openai types
