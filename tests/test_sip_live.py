"""OpenAI SIP calls on GPT-Live: `live.transport.incoming` into `engine serve`, over real sockets.

The webhooks are signed here per the standard-webhooks scheme and checked by the openai package. The
server's "OpenAI" is the GPT-Live simulator given by `--url` (so the test reads what it was sent: the
accept body, checked strictly against the openai types, the reject, the sideband's commands), or,
without a key, its own per-call simulator (the call then shows in the call store, from `sip`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import openai
import pytest
import uvicorn
from conftest import GRAPHS, ROOT
from serving import engine_serve
from webhooks import secret_for
from webhooks import signed as signed_with

from engine.protocol.openai_check import live_accept_problems
from engine.runtime.line import LineUnsupported
from engine.runtime.live.line import LiveCallLine
from engine.serve import Catalog
from engine.serve._calls import ServeConfig
from engine.serve.app import create_app
from engine.serve.sip import live_accept_session
from engine.sim.live import LiveSimulator
from engine.validate import load_graph

SECRET_KEY = b"engine-serve-live-webhook-secret"
SECRET = secret_for(SECRET_KEY)
GRAPH = GRAPHS / "simple_handoff.yaml"
GREETING = "Hi there! What can I do for you today?"
HEADERS = [
    {"name": "From", "value": "sip:+14155550142@example.com"},
    {"name": "To", "value": "sip:+18005550100@example.com"},
    {"name": "Call-ID", "value": "a84b4c76e66710@pc33.example.com"},
    {"name": "X-Account", "value": "A-77"},
]


def incoming(session_id: str, *, kind: str = "live.transport.incoming", headers: list | None = None) -> bytes:
    data: dict[str, Any] = {"session_id": session_id, "sip_headers": HEADERS if headers is None else headers}
    if kind == "live.transport.incoming":
        data["type"] = "sip"
    if kind == "realtime.call.incoming":
        data = {"call_id": session_id, "sip_headers": data["sip_headers"]}
    event = {"id": f"evt_{session_id}", "object": "event", "created_at": int(time.time()), "type": kind, "data": data}
    return json.dumps(event).encode()


def signed(body: bytes, delivery: str, *, at: int | None = None, key: bytes = SECRET_KEY) -> dict[str, str]:
    return signed_with(body, delivery, key, at=at)


async def until(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.02)
    return result


class Served:
    def __init__(self, base: str, app: Any, sim: LiveSimulator | None) -> None:
        self.base, self.app, self.sim = base, app, sim
        self.http = httpx.AsyncClient(base_url=base, timeout=10)

    async def post(self, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
        response = await self.http.post("/openai/webhook", content=body, headers=headers)
        return response.status_code, response.json()

    def requests(self, action: str) -> list[dict[str, Any]]:
        assert self.sim is not None
        return [r for r in self.sim.call_requests if r["action"] == action]


@contextlib.asynccontextmanager
async def serve(config: ServeConfig, sim: LiveSimulator | None) -> AsyncIterator[Served]:
    app = create_app(Catalog.load([GRAPH]), config)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    await until(lambda: server.started)
    port = server.servers[0].sockets[0].getsockname()[1]
    served = Served(f"http://127.0.0.1:{port}", app, sim)
    try:
        yield served
    finally:
        await served.http.aclose()
        await app.state.calls.drain(0.5)
        server.should_exit = True
        await task


@pytest.fixture
async def live(tmp_path) -> AsyncIterator[Served]:
    """`engine serve --api live --url <GPT-Live simulator>`, at most one call at once."""
    async with LiveSimulator(load_graph(GRAPH).spec.demo) as sim:
        config = ServeConfig(
            api_key="sim-key", url=sim.live_url, api="live", webhook_secret=SECRET, max_calls=1, record=False
        )
        async with serve(config, sim) as served:
            yield served


async def test_a_signed_live_call_is_accepted_strictly_attached_and_runs_the_graph(live: Served) -> None:
    body = incoming("live_one")
    status, answer = await live.post(body, signed(body, "wh_one"))
    assert (status, answer) == (200, {"status": "accepted", "call_id": "live_one", "api": "live"})
    accept = (await until(lambda: live.requests("accept")))[0]
    assert accept["call_id"] == "live_one"
    assert live.sim is not None and live.sim.call_refusals == []
    # What `live.sessions.accept` sent, against the openai package's SessionAcceptParams, strictly.
    assert live_accept_problems(accept["body"]) == []
    session = accept["body"]["session"]
    assert session["type"] == "live" and session["model"] == "gpt-live-1.1"
    assert "format" not in session.get("audio", {})  # SIP negotiates the codec
    doc = load_graph(GRAPH)
    context = {"caller": HEADERS[0]["value"], "called": HEADERS[1]["value"]}
    assert session["instructions"] == live_accept_session(doc, context)["instructions"]
    # The engine attached to the call's sideband and is its backend: the model's opening delegation
    # was answered with the start agent's greeting, spoken by the model.
    assert live.sim is not None
    await until(lambda: GREETING in live.sim.spoken)
    sideband = [c for c in live.sim._live if c.sideband == "live_one"]
    assert len(sideband) == 1 and sideband[0].delegations and "answered" in sideband[0].delegations.values()
    call = live.app.state.calls.active["sip_live_one"]
    assert call.opened.session.context["sip_headers"]["X-Account"] == "A-77"  # SIP headers in the context
    assert call.opened.session.context["caller"] == "sip:+14155550142@example.com"


async def test_duplicates_and_the_same_call_on_another_event_are_not_accepted_twice(live: Served) -> None:
    body = incoming("live_dup")
    headers = signed(body, "wh_dup")
    assert (await live.post(body, headers))[1]["status"] == "accepted"
    await until(lambda: live.requests("accept"))
    assert (await live.post(body, headers))[1]["status"] == "duplicate"  # the same delivery, retried
    twin = incoming("live_dup", kind="live.call.incoming")  # the deprecated event for the same session
    assert (await live.post(twin, signed(twin, "wh_dup_twin")))[1]["status"] == "duplicate"
    # The INVITE offered on Realtime too: the graph runs on GPT-Live, whose accept picked the API.
    rtc = incoming("rtc_dup", kind="realtime.call.incoming")
    status, answer = await live.post(rtc, signed(rtc, "wh_dup_rtc"))
    assert status == 200 and answer["status"] in ("ignored", "duplicate")
    await asyncio.sleep(0.3)
    assert len(live.requests("accept")) == 1 and live.requests("reject") == []
    assert live.sim is not None and live.sim.call_refusals == []  # nothing was tried twice
    assert list(live.app.state.calls.active) == ["sip_live_dup"]


async def test_over_capacity_a_live_call_is_rejected_busy(live: Served) -> None:
    first = incoming("live_first")
    assert (await live.post(first, signed(first, "wh_first")))[1]["status"] == "accepted"
    await until(lambda: live.app.state.calls.active)
    other = incoming("live_second", headers=[{"name": "From", "value": "sip:+1@x"}])
    status, answer = await live.post(other, signed(other, "wh_second"))
    assert (status, answer["status"]) == (200, "rejected") and "capacity" in answer["reason"]
    reject = await until(lambda: live.requests("reject"))
    assert reject == [{"call_id": "live_second", "action": "reject", "body": {"status_code": 486}, "api": "live"}]
    assert [r["call_id"] for r in live.requests("accept")] == ["live_first"]


async def test_unsigned_stale_or_tampered_live_deliveries_are_refused(live: Served) -> None:
    body = incoming("live_refused")
    assert (await live.post(body, {"content-type": "application/json"}))[0] == 400
    assert (await live.post(body, signed(body, "wh_a", key=b"some-other-secret")))[0] == 400
    assert (await live.post(body, signed(body, "wh_b", at=int(time.time()) - 3600)))[0] == 400
    assert (await live.post(body.replace(b"live_refused", b"live_tampered"), signed(body, "wh_c")))[0] == 400
    await asyncio.sleep(0.2)
    assert live.sim is not None and live.sim.call_requests == [] and not live.app.state.calls.active


async def test_a_realtime_graph_leaves_the_live_event_to_its_realtime_twin(tmp_path) -> None:
    """Without --api the graph's `api:` decides: simple_handoff is a Realtime graph."""
    config = ServeConfig(webhook_secret=SECRET, record=False)
    async with serve(config, None) as served:
        body = incoming("live_rt")
        status, answer = await served.post(body, signed(body, "wh_rt"))
        assert (status, answer["status"]) == (200, "ignored") and "realtime" in answer["reason"]
        assert not served.app.state.calls.active


async def test_the_live_line_refers_hangs_up_and_sends_dtmf_on_the_sideband() -> None:
    """`LiveCallLine` against the simulator's calls endpoints and sideband (through the openai client)."""
    async with LiveSimulator(load_graph(GRAPH).spec.demo) as sim:
        client = openai.AsyncOpenAI(api_key="sim-key", base_url=sim.http_base)
        session = live_accept_session(load_graph(GRAPH), {})
        with pytest.raises(openai.BadRequestError):
            await client.live.sessions.refer("live_l", target_uri="tel:+1")  # not accepted yet
        await client.live.sessions.accept("live_l", session=session)
        with pytest.raises(openai.BadRequestError):
            await client.live.sessions.accept("live_l", session=session)  # a call is accepted once
        from engine.runtime.live import LiveSession

        live = LiveSession(load_graph(GRAPH), url=sim.live_url, api_key="sim-key", attach="live_l")
        async with live:
            line = LiveCallLine(client, "live_l", live.send)
            await line.send_dtmf("12#")
            with pytest.raises(LineUnsupported):
                await line.send_dtmf("x")
            await until(lambda: len(sim.call_requests) >= 4)  # the keys (sideband) before the refer (HTTP)
            await line.transfer("+14155550100", "a summary")
            await until(lambda: len(sim.call_requests) >= 5)
            await line.hangup()
            await until(lambda: live.ended == "close_requested")
        await client.close()
    actions = [(r["action"], r["body"]) for r in sim.call_requests]
    assert actions == [
        ("accept", {"session": session}),
        ("dtmf", {"event": "1"}),
        ("dtmf", {"event": "2"}),
        ("dtmf", {"event": "#"}),
        ("refer", {"target_uri": "tel:+14155550100"}),
        ("hangup", {}),
    ]


def test_offline_a_live_sip_call_runs_on_the_simulator_and_is_recorded(tmp_path) -> None:
    """`engine serve --api live` without a key: the call runs on its own GPT-Live simulator and lands
    in the call store from `sip`, with the SIP caller and the greeting the model spoke."""
    db = str(tmp_path / "calls.db")
    args = (GRAPH, "--api", "live", "--drain-seconds", "1")
    with engine_serve(*args, db=db, env={"OPENAI_WEBHOOK_SECRET": SECRET}, clean_exit=True) as served:
        body = incoming("live_offline")
        response = httpx.post(
            f"{served.url}/openai/webhook", content=body, headers=signed(body, "wh_offline"), timeout=10
        )
        assert response.json() == {"status": "accepted", "call_id": "live_offline", "api": "live"}
        deadline = time.monotonic() + 15
        transcript = ""
        while GREETING not in transcript and time.monotonic() < deadline:
            time.sleep(0.2)
            calls = _records(db, "list")
            if calls:
                transcript = json.dumps(_records(db, "show", calls[0]["id"]))
        assert GREETING in transcript
    [call] = _records(db, "list")
    assert call["frontend"] == "sip" and call["caller"] == "sip:+14155550142@example.com"


def _records(db: str, *args: str) -> Any:
    done = subprocess.run(
        [sys.executable, "-m", "engine.records", *args, "--db", db, "--format", "json"],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    return json.loads(done.stdout) if done.returncode == 0 and done.stdout.strip() else []


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"audio": {"format": {"type": "audio/pcmu", "rate": 8000}}}, "session.audio.format"),
        ({"client": {}}, "session.client"),
        ({"type": "realtime"}, "session.type"),
        ({"turn_detection": {"type": "server_vad"}}, "session.turn_detection"),
    ],
)
async def test_the_simulator_refuses_an_accept_the_openai_types_refuse(change: dict, path: str) -> None:
    session = {**live_accept_session(load_graph(GRAPH), {}), **change}
    assert path in [p.path for p in live_accept_problems({"session": session})]
    sim = LiveSimulator(load_graph(GRAPH).spec.demo)
    async with sim, httpx.AsyncClient(base_url=sim.http_base) as http:
        response = await http.post("/live/sessions/live_bad/accept", json={"session": session})
    assert response.status_code == 400 and response.json()["error"]["param"] == path
    assert sim.call_requests == [] and sim.call_refusals[0]["action"] == "accept"
