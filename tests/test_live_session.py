"""A graph running on GPT-Live, offline: `LiveSession` against the GPT-Live simulator over loopback.

The simulator hears the user's audio, raises delegations and plays the script's model actions as the
backend's Responses answers; the engine runs the agent and speaks through commentary.
"""

from __future__ import annotations

import asyncio
import shutil
from typing import Any

import pytest
from conftest import BUNDLED, GRAPHS, MINI
from openai.types.live import ServerEvent
from pydantic import TypeAdapter

from engine.compile.live import compile_live_start
from engine.protocol.openai_check import check_payload, unknown_fields
from engine.runtime import ConnectFailed
from engine.runtime import events as ev
from engine.runtime.live import LiveSession, TextInputUnsupported, UnsupportedOnLive
from engine.sim.live import LiveSimulator
from engine.spec import load_document
from engine.spec.script import ConversationTest, Script
from engine.testing.collect import collect
from engine.testing.live import run_test_live, speak
from engine.validate import load_graph

APPROVAL_TOOL = """\
  refund:
    description: Refund an order
    parameters: {type: object, properties: {order: {type: string}}, required: [order]}
    returns: {refunded: "{{ args.order }}"}
    needs_approval: true
    sets: {refunded: true}
"""

GUARDED = MINI.replace("tools: [lookup]", "tools: [lookup, refund]") + APPROVAL_TOOL
GUARDRAIL = """\
guardrails:
  rival:
    keywords: [MegaBoards]
    category: OFF_BRAND
    every_chars: 20
    message: Do not talk about other shops.
"""


def script(*turns: dict[str, Any], **fields: Any) -> Script:
    return Script.model_validate({"turns": list(turns), **fields})


class Call:
    """One scripted call on GPT-Live: the simulator, the session and every event it emitted."""

    def __init__(self, sim: LiveSimulator, session: LiveSession) -> None:
        self.sim, self.session = sim, session
        self.events: list[ev.SessionEvent] = []
        self._sub = session.subscribe()
        self._task = asyncio.ensure_future(self._collect())

    async def _collect(self) -> None:
        async for event in self._sub:
            self.events.append(event)

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]

    async def say(self, text: str, delegations: int) -> None:
        await speak(self.session, text)
        await self.session.wait_delegations(delegations, 10)
        await self.session.wait_idle(10)

    def client_events(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.sim.received if e.get("type") == kind]


async def start(doc: Any, sc: Script, **options: Any) -> tuple[LiveSimulator, Call]:
    sim = await LiveSimulator(sc, **{k: options.pop(k) for k in list(options) if k in _SIM_OPTIONS}).start()
    session = LiveSession(doc, url=sim.live_url, **{"api_key": "sim-key", **options})
    await session.connect()
    return sim, Call(sim, session)


_SIM_OPTIONS = {"usage_interval", "silence_ms", "idle_chunk_ms", "session_seconds"}


async def stop(sim: LiveSimulator, call: Call) -> None:
    await call.session.close()
    await call._task
    await sim.stop()


def assert_strict(sim: LiveSimulator) -> None:
    """Every client event the engine sent is valid for openai.types.live, and the server refused none."""
    assert sim.received, "the engine sent nothing"
    for event in sim.received:
        assert check_payload(event, "live") == [], event
    assert [e for e in sim.sent if e["type"] == "error"] == []
    # And the simulator's own events are what openai.types.live describes, with no extra keys.
    adapter: TypeAdapter[Any] = TypeAdapter(ServerEvent)
    for event in sim.sent:
        assert unknown_fields(adapter.validate_python(event)) == [], event


async def test_simple_handoff_demo_runs_on_gpt_live_and_a_handoff_appends_the_new_agents_rules() -> None:
    doc = load_document(GRAPHS / "simple_handoff.yaml")
    demo = doc.spec.demo
    assert demo is not None
    sim, call = await start(doc, demo, approval="auto")
    try:
        await call.session.wait_delegations(1, 10)  # the model opens the call: the greeting
        await call.session.wait_idle(10)
        await call.say(demo.turns[1].user or "", 2)
        session = call.session
        assert session.agent == "haiku_writer"
        assert [(h.source, h.target) for h in call.of(ev.HandoffEvent)] == [("greeter", "haiku_writer")]
        # The greeting, then the turn's says: spoken by the model from the engine's commentary.
        assert sim.spoken[0] == "Hi there! What can I do for you today?"
        assert "Soft flakes on the pines" in sim.spoken[-1]
        said = "".join(e.delta for e in call.of(ev.TranscriptDelta) if e.role == "assistant")
        assert "footprints fill by dawn" in said
        heard = [e for e in call.of(ev.TranscriptDelta) if e.role == "user" and e.done]
        assert session.history.get(heard[-1].item_id)["text"] == demo.turns[1].user
        # The handoff: haiku_writer's rules appended, tied to the delegation that made it.
        delegations = [e["delegation"]["id"] for e in sim.sent if e["type"] == "session.delegation.created"]
        appended = call.client_events("session.instructions.append")
        assert [(e["content"], e["delegation_id"]) for e in appended] == [
            (
                "You now speak for the haiku_writer specialist. Writes a haiku about any topic the user names.",
                delegations[1],
            )
        ]
        # The start agent's rules went at start, as `engine compile --api live` prints them.
        (start_event,) = call.client_events("session.start")
        assert start_event == compile_live_start(doc)
        assert start_event["session"]["input"][0]["content"][0]["text"].startswith("You now speak for the greeter")
        # After the handoff the backend runs the new agent: its instructions and its tools.
        last = sim.backend_requests[-1]
        assert "You write haikus" in last["instructions"]
        assert [t["name"] for t in last["tools"]] == ["transfer_to_greeter"]
        assert last["input"][-1]["type"] == "function_call_output"
        assert '"assistant": "haiku_writer"' in last["input"][-1]["output"]
        commentary = call.client_events("session.commentary.append")
        assert {c["delegation_id"] for c in commentary} == set(delegations)
        assert_strict(sim)
    finally:
        await stop(sim, call)


async def test_a_delegation_runs_a_tool_and_its_result_is_spoken(graph_path: Any) -> None:
    doc = graph_path(MINI)
    sc = script(
        {
            "user": "Could you look up snow?",
            "model": [{"say": "Checking."}, {"call": "lookup", "args": {"query": "snow"}}, {"say": "Found it."}],
        }
    )
    sim, call = await start(doc, sc, approval="auto")
    try:
        await call.say("Could you look up snow?", 1)
        (start_event,) = call.of(ev.ToolStart)
        (end,) = call.of(ev.ToolEnd)
        assert (start_event.tool, end.ok) == ("lookup", True)
        assert end.output == '{"query": "snow", "found": true}'
        assert sim.spoken == ["Checking.", "Found it."]
        # The task is the transcript since the last delegation; the tool's output goes back to the model.
        first, second = sim.backend_requests
        assert "Caller: Could you look up snow?" in first["input"][-1]["content"]
        assert first["metadata"]["agent"] == "greeter"
        outputs = [i for i in second["input"] if i.get("type") == "function_call_output"]
        assert outputs[0]["output"] == end.output
        calls = [i for i in call.session.history.items if i["type"] == "function_call"]
        assert [(c["name"], c["output"]) for c in calls] == [("lookup", end.output)]
        assert_strict(sim)
    finally:
        await stop(sim, call)


async def test_a_tool_the_agent_does_not_offer_gets_an_error_and_runs_nothing(graph_path: Any) -> None:
    doc = graph_path(MINI)
    sc = script({"user": "Echo this.", "model": [{"call": "echo", "args": {"text": "hi"}}, {"say": "Sorry."}]})
    sim, call = await start(doc, sc, approval="auto")
    sim.allow_unoffered = True  # the text model hallucinates a tool of another agent
    try:
        await call.say("Echo this.", 1)
        assert call.of(ev.ToolStart) == []
        (end,) = call.of(ev.ToolEnd)
        assert end.ok is False and "not available to the greeter agent" in end.output
        assert sim.spoken == ["Sorry."]
    finally:
        await stop(sim, call)


async def test_approval_asks_the_caller_through_commentary_and_waits(graph_path: Any) -> None:
    doc = graph_path(GUARDED)
    sc = script({"user": "Refund order 7.", "model": [{"call": "refund", "args": {"order": "7"}}, {"say": "Done."}]})
    sim, call = await start(doc, sc, approval="ask")
    try:
        await speak(call.session, "Refund order 7.")
        async with asyncio.timeout(10):
            while not call.of(ev.ApprovalRequested):
                await asyncio.sleep(0.01)
        (request,) = call.of(ev.ApprovalRequested)
        assert call.of(ev.ToolStart) == [] and not call.session.idle
        async with asyncio.timeout(10):
            while not sim.spoken:
                await asyncio.sleep(0.01)
        assert sim.spoken == ["Before I go ahead (Refund an order), I need your OK."]
        call.session.approve(request.call_id)
        await call.session.wait_delegations(1, 10)
        await call.session.wait_idle(10)
        (end,) = call.of(ev.ToolEnd)
        assert end.ok and call.session.context["refunded"] is True
        assert sim.spoken[-1] == "Done."
    finally:
        await stop(sim, call)


async def test_an_output_guardrail_stops_the_speech_with_a_fixture_and_corrects(graph_path: Any) -> None:
    doc = graph_path(MINI + GUARDRAIL)
    sc = script(
        {"user": "Who is better?", "model": [{"say": "Honestly, MegaBoards is the better shop for you."}]},
        {"model": [{"say": "Sorry. Our own boards are what I know best."}]},
    )
    sim, call = await start(doc, sc, approval="auto")
    try:
        await call.say("Who is better?", 1)
        (trip,) = call.of(ev.GuardrailTripped)
        assert (trip.guardrail, trip.category) == ("rival", "OFF_BRAND")
        fixtures = call.client_events("session.output_audio.fixture.play")
        assert len(fixtures) == 1
        correction = [e for e in call.client_events("session.instructions.append") if "other shops" in e["content"]]
        assert len(correction) == 1
        # The corrected reply is the agent's answer to the correction, spoken at once.
        assert sim.spoken[-1] == "Sorry. Our own boards are what I know best."
        assert call.client_events("session.commentary.append")[-1]["delegation_id"] is None
        assert_strict(sim)
    finally:
        await stop(sim, call)


async def test_an_expired_session_is_reseeded_from_the_history(graph_path: Any) -> None:
    doc = graph_path(MINI)
    sc = script(
        {"user": "Hello there.", "model": [{"say": "Hi! How can I help?"}]},
        {"user": "Look up snow.", "model": [{"call": "lookup", "args": {"query": "snow"}}, {"say": "Snow found."}]},
    )
    sim, call = await start(doc, sc, approval="auto", reconnect_backoff=0.01)
    try:
        await call.say("Hello there.", 1)
        await sim.expire()
        async with asyncio.timeout(10):
            while not call.of(ev.Reconnected):
                await asyncio.sleep(0.01)
        assert call.of(ev.Reconnecting)[0].reason == "expired"
        starts = call.client_events("session.start")
        assert len(starts) == 2 and sim.sessions_started == 2
        seed = starts[1]["session"]["input"]
        assert seed[0]["role"] == "developer"
        assert seed[0]["content"][0]["text"] == "You now speak for the greeter specialist. Greets the caller."
        assert [(m["role"], m["content"][0]["text"]) for m in seed[1:]] == [
            ("user", "Hello there."),
            ("assistant", "Hi! How can I help?"),
        ]
        await call.say("Look up snow.", 2)  # the new session goes on where the old one was
        assert sim.spoken[-1] == "Snow found."
        assert_strict(sim)
    finally:
        await stop(sim, call)


async def test_a_session_closed_for_content_is_not_reseeded(graph_path: Any) -> None:
    doc = graph_path(MINI)
    sim, call = await start(doc, script({"user": "Hello.", "model": [{"say": "Hi."}]}), reconnect_backoff=0.01)
    try:
        await sim.expire("content")
        async with asyncio.timeout(10):
            while not [e for e in call.of(ev.Error) if e.fatal]:
                await asyncio.sleep(0.01)
        assert sim.sessions_started == 1
        assert "content" in next(e for e in call.of(ev.Error) if e.fatal).message
    finally:
        await stop(sim, call)


async def test_usage_is_reported_and_text_input_is_refused(graph_path: Any, tmp_path: Any) -> None:
    doc = graph_path(MINI)
    events_file = tmp_path / "events.jsonl"
    sc = script({"user": "Hello.", "model": [{"say": "Hi."}]})
    sim, call = await start(doc, sc, usage_interval=0.05, events_file=events_file, api_key="sk-secret-key-123456")
    try:
        async with asyncio.timeout(5):
            while not call.of(ev.Usage):
                await asyncio.sleep(0.01)
        assert "seconds" in call.of(ev.Usage)[0].usage
        with pytest.raises(TextInputUnsupported, match="no text input"):
            await call.session.send_text("hello")
        for method in (call.session.commit_audio, call.session.clear_audio, call.session.request_response):
            with pytest.raises(UnsupportedOnLive):
                await method()
        await call.say("Hello.", 1)
    finally:
        await stop(sim, call)
    # The events file: audio elided, the key nowhere.
    text = events_file.read_text()
    assert '"session.input_audio.append"' in text and "bytes of audio elided" in text
    assert "sk-secret-key-123456" not in text and len(text) < 60_000


async def test_interrupt_stops_the_local_playback(graph_path: Any) -> None:
    doc = graph_path(MINI)
    sc = script({"user": "Tell me a story.", "model": [{"say": "Once upon a time, in a valley of snow, " * 4}]})
    sim, call = await start(doc, sc, approval="auto")
    try:
        await call.say("Tell me a story.", 1)
        await call.session.interrupt()
        await asyncio.sleep(0.05)  # the collector takes the event
        (cut,) = call.of(ev.AudioInterrupted)
        item = call.session.history.get(cut.item_id)
        assert item["truncated"] and len(item["text"]) < len(sim.spoken[0])
    finally:
        await stop(sim, call)


def _tests() -> list[tuple[str, str]]:
    return [(path.name, test.name) for path in BUNDLED for test, _ in collect(path).tests]


@pytest.mark.parametrize(("graph", "name"), _tests())
async def test_the_bundled_graphs_conversation_tests_pass_on_gpt_live(graph: str, name: str) -> None:
    suite = collect(GRAPHS / graph)
    test = next(t for t, _ in suite.tests if t.name == name)
    result = await run_test_live(suite.graph, test)
    assert result.passed, [str(f) for f in result.failures] + result.errors


@pytest.mark.parametrize("graph", [p.name for p in BUNDLED])
async def test_the_bundled_demos_run_on_gpt_live(graph: str) -> None:
    doc = load_graph(GRAPHS / graph)
    assert doc.spec.demo is not None
    demo = ConversationTest(name="demo", **doc.spec.demo.model_dump(exclude_none=True))
    result = await run_test_live(doc, demo)
    assert result.passed, [str(f) for f in result.failures] + result.errors


@pytest.fixture
def graph_path(write_graph: Any) -> Any:
    def make(text: str) -> Any:
        return load_graph(write_graph(text))

    return make


async def test_a_malformed_frame_or_event_is_an_error_event_and_the_call_goes_on(graph_path: Any) -> None:
    doc = graph_path(MINI)
    sim, call = await start(doc, script({"user": "Hello.", "model": [{"say": "Hi."}]}), approval="auto")
    try:
        await sim.send_raw("not json")
        await sim.send_raw('{"type": "session.delegation.created", "delegation": "no id"}')
        await sim.send_raw('{"type": "session.output_transcript.delta", "delta": 7}')
        async with asyncio.timeout(5):
            while len(call.of(ev.Error)) < 3:
                await asyncio.sleep(0.01)
        assert [e.code for e in call.of(ev.Error)] == ["malformed_frame", "handler_error", "handler_error"]
        await call.say("Hello.", 1)
        assert sim.spoken == ["Hi."]
    finally:
        await stop(sim, call)


async def test_the_user_talking_over_the_model_stops_it_and_the_local_playback(graph_path: Any) -> None:
    doc = graph_path(MINI)
    story = "Once upon a time, in a valley of deep snow, there lived a boarder who never fell. " * 2
    sc = script(
        {"user": "Tell me a story.", "model": [{"say": story}]},
        {"user": "Stop, please.", "model": [{"say": "Sure."}]},
    )
    sim, call = await start(doc, sc, approval="auto")
    sim.realtime_pacing = True  # the model speaks at the pace of speech, so there is time to talk over it
    try:
        await speak(call.session, "Tell me a story.")
        await call.session.wait_delegations(1, 10)
        async with asyncio.timeout(5):
            while not any(e.role == "assistant" for e in call.of(ev.TranscriptDelta)):
                await asyncio.sleep(0.01)
        await speak(call.session, "Stop, please.")  # the test's listener heard all that arrived so far
        await call.session.wait_delegations(2, 10)
        await call.session.wait_idle(10)
        said = "".join(e["delta"] for e in sim.sent if e["type"] == "session.output_transcript.delta")
        assert said.endswith("Sure. ")
        assert len(said) < len(story)  # the model stopped when the user spoke
    finally:
        await stop(sim, call)


async def test_a_dropped_connection_is_reseeded_and_the_call_goes_on(graph_path: Any) -> None:
    doc = graph_path(MINI)
    sc = script(
        {"user": "Hello there.", "model": [{"say": "Hi!"}]},
        {"user": "Look up snow.", "model": [{"call": "lookup", "args": {"query": "snow"}}, {"say": "Snow found."}]},
    )
    sim, call = await start(doc, sc, approval="auto", reconnect_backoff=0.01)
    try:
        await call.say("Hello there.", 1)
        await sim.drop_connections()  # no session.closed: the network went away
        async with asyncio.timeout(10):
            while not call.of(ev.Reconnected):
                await asyncio.sleep(0.01)
        seed = call.client_events("session.start")[1]["session"]["input"]
        assert [m["content"][0]["text"] for m in seed[1:]] == ["Hello there.", "Hi!"]
        await call.say("Look up snow.", 2)
        assert sim.spoken[-1] == "Snow found." and call.of(ev.ToolEnd)[0].ok
    finally:
        await stop(sim, call)


async def test_coverage_on_gpt_live_is_what_it_is_on_realtime() -> None:
    from engine.testing.coverage import Coverage
    from engine.testing.live import run_test_on

    suite = collect(GRAPHS / "simple_handoff.yaml")
    percent = {}
    for api in ("realtime", "live"):
        coverage = Coverage.of(suite.graph)
        for test, _ in suite.tests:
            result = await run_test_on(api, suite.graph, test)
            assert result.passed
            coverage.record_run(test, result.turns)
        percent[api] = coverage.percent()
    assert percent["live"] == percent["realtime"] == 100.0


async def test_a_refused_session_start_fails_connect_naming_the_parameter(graph_path: Any) -> None:
    persona = "Be kind. " * 8000  # over GPT-Live's 16,384 tokens of frontend instructions
    doc = graph_path(MINI + f"live:\n  instructions: {persona!r}\n")
    async with LiveSimulator(script({"user": "Hi.", "model": [{"say": "Hi."}]})) as sim:
        session = LiveSession(doc, url=sim.live_url, api_key="sim-key")
        with pytest.raises(ConnectFailed, match=r"refused session.start: .*param: session.instructions"):
            await session.connect()
        assert sim.sessions_started == 0


async def test_a_reseed_the_server_refuses_loses_the_session(graph_path: Any, monkeypatch: Any) -> None:
    import engine.sim.live as sim_live

    doc = graph_path(MINI)
    sim, call = await start(doc, script({"user": "Hello.", "model": [{"say": "Hi."}]}), reconnect_backoff=0.01)
    try:
        monkeypatch.setattr(sim_live, "INSTRUCTIONS_TOKEN_LIMIT", 1)  # the server now refuses every start
        await sim.expire()
        async with asyncio.timeout(10):
            while not [e for e in call.of(ev.Error) if e.fatal]:
                await asyncio.sleep(0.01)
        (lost,) = [e for e in call.of(ev.Error) if e.fatal]
        assert "did not start" in lost.message and "session.instructions" in lost.message
        assert call.of(ev.Reconnected) == []
        with pytest.raises(ConnectionError):
            await call.session.send_audio(b"\x00\x00" * 240)
    finally:
        await stop(sim, call)


async def test_a_later_delegation_reads_what_earlier_tools_returned(graph_path: Any) -> None:
    doc = graph_path(MINI)
    sc = script(
        {"user": "Look up snow.", "model": [{"call": "lookup", "args": {"query": "snow"}}, {"say": "Found."}]},
        {"user": "What did you find?", "model": [{"say": "Snow, found."}]},
    )
    sim, call = await start(doc, sc, approval="auto")
    try:
        await call.say("Look up snow.", 1)
        await call.say("What did you find?", 2)
        context = sim.backend_requests[-1]["input"]
        notes = [m["content"] for m in context if m.get("role") == "developer"]
        assert notes == ['Earlier, lookup({"query":"snow"}) returned: {"query": "snow", "found": true}']
        assert next(m["content"] for m in context if m.get("role") == "user") == "Look up snow."
    finally:
        await stop(sim, call)


def _graph_tests(*graphs: str) -> list[tuple[str, str]]:
    return [(graph, test.name) for graph in graphs for test, _ in collect(GRAPHS / graph).tests]


@pytest.mark.parametrize(("graph", "name"), _graph_tests("simple_handoff.yaml", "chat_supervisor.yaml"))
async def test_responses_delegation_runs_the_tests_too(tmp_path: Any, graph: str, name: str) -> None:
    """`live.delegation: responses`: OpenAI runs the backend; the engine answers its function calls
    (escalations included) and swaps the backend at a handoff."""
    shutil.copytree(GRAPHS, tmp_path, dirs_exist_ok=True)  # prompts and tool modules beside the graph
    path = tmp_path / graph
    path.write_text(path.read_text() + "\nlive:\n  delegation: responses\n")
    doc = load_graph(path)
    test = next(t for t, _ in collect(GRAPHS / graph).tests if t.name == name)
    result = await run_test_live(doc, test)
    assert result.passed, [str(f) for f in result.failures] + result.errors


async def test_responses_delegation_swaps_the_backend_at_a_handoff(write_graph: Any) -> None:
    text = (GRAPHS / "simple_handoff.yaml").read_text() + "\nlive:\n  delegation: responses\n"
    doc = load_graph(write_graph(text))
    demo = doc.spec.demo
    assert demo is not None
    sim, call = await start(doc, demo, approval="auto")
    try:
        await call.session.wait_delegations(1, 10)
        await call.session.wait_idle(10)
        await call.say(demo.turns[1].user or "", 2)
        assert call.session.agent == "haiku_writer"
        (start_event,) = call.client_events("session.start")
        assert start_event["session"]["delegation"]["type"] == "responses"
        (update,) = call.client_events("session.update")
        backend = update["session"]["delegation"]["responses"]
        assert "You write haikus" in backend["instructions"]
        assert [t["name"] for t in backend["tools"]] == ["transfer_to_greeter"]
        (output,) = call.client_events("response.item.create")
        assert output["item"]["output"] == '{"assistant": "haiku_writer"}'
        assert len(call.client_events("response.create")) == 1
        assert all(e["delegation_id"] is None for e in call.client_events("session.instructions.append"))
        assert sim.backend_requests == []  # the server ran the backend
        assert "Soft flakes on the pines" in sim.spoken[-1]
        assert_strict(sim)
    finally:
        await stop(sim, call)
