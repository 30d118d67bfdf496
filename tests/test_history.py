"""The call history API of `engine serve` (`/api/calls`, `/api/calls/{id}`) over a real SQLite file,
with calls made through the console's websocket on the offline simulator."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import websockets
from conftest import GRAPHS, ROOT
from serving import engine_serve
from twilio_client import MediaStream

#: A help desk: a refund that needs a person's approval, a moderated reply, a handoff to a manager.
DESK = """\
graph: desk
description: A help desk.
start: clerk
agents:
  clerk:
    description: Helps with orders.
    instructions: Help the caller with their order. Stay on topic.
    tools: [refund]
    handoffs: [manager]
  manager:
    description: Takes complaints.
    instructions: Listen to the caller's complaint.
tools:
  refund:
    description: Refund an order.
    parameters:
      type: object
      properties:
        order: {type: string}
      required: [order]
      additionalProperties: false
    needs_approval: true
    returns: {refunded: "{{ args.order }}"}
guardrails:
  moderation:
    classify:
      model: gpt-5.4-mini
      categories:
        OFF_BRAND: Talk about competitors or anything outside this store's service.
    every_chars: 60
demo:
  turns:
    - model:
        - say: Hello, how can I help?
    - user: Please refund order A1.
      model:
        - call: refund
          args: {order: A1}
        - say: Your refund for order A1 is on its way.
    - user: What do you think of your competitors?
      model:
        - say: Honestly our competitor down the road sells terrible boards and overcharges everyone who walks in.
          flag: OFF_BRAND
    - user: Then let me talk to a manager.
      model:
        - say: Of course, here is the manager.
        - handoff: manager
        - say: Hello, I am the manager. What happened?
"""


@contextmanager
def serving(paths: list[Path], db: Path | None, *args: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """`engine serve PATHS --port 0 --simulate ARGS` recording into `db`; yields its base URL."""
    with engine_serve(*paths, "--simulate", *args, db=db, env=env) as served:
        yield served.url


def get(url: str) -> tuple[int, object]:
    try:
        with urllib.request.urlopen(url, timeout=10) as res:
            body = res.read()
            kind = res.headers.get("content-type", "")
            return res.status, json.loads(body) if "json" in kind else body.decode()
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


async def call(
    base: str, scenario: str, turns: list[tuple[str, str]], *, approve: bool = False, **options: object
) -> None:
    """One console call: after the greeting, each (line, reply) sends `line` and waits until an agent's
    turn containing `reply` is done (approving any approval asked for on the way); then hangs up."""
    async with websockets.connect(base.replace("http://", "ws://") + "/ws/call") as ws:
        await ws.send(json.dumps({"type": "start", "scenario": scenario, **options}))
        said: dict[str, str] = {}

        async def until(reply: str) -> None:
            async with asyncio.timeout(15):
                while True:
                    message = json.loads(await ws.recv())
                    if message["type"] != "event":
                        continue
                    event = message["event"]
                    if event["type"] == "approval_requested" and approve and not event["policy"]:
                        await ws.send(json.dumps({"type": "approve", "call_id": event["call_id"]}))
                    if event["type"] == "transcript" and event["role"] == "assistant":
                        said[event["item_id"]] = said.get(event["item_id"], "") + event["delta"]
                        if event["done"] and reply in said[event["item_id"]]:
                            return

        await until("")
        for line, reply in turns:
            await ws.send(json.dumps({"type": "text", "text": line}))
            await until(reply)
        await ws.send(json.dumps({"type": "stop"}))
        async with asyncio.timeout(10):
            while json.loads(await ws.recv())["type"] != "ended":
                pass


HAIKU = [("Could you write me a haiku about snow?", "footprints fill by dawn")]
BILL = [
    ("Hi. My bill this month is way higher than usual, and I don't get why.", "phone number on the account"),
    ("It's (415) 555-0142.", "Is that right?"),
    ("Yep.", "avoid roaming charges"),
]


async def test_the_api_lists_calls_newest_first_and_shows_one_with_its_replay_over_the_graph(tmp_path: Path) -> None:
    db = tmp_path / "calls.db"
    with serving([GRAPHS], db) as base:
        await call(base, "simple-handoff", HAIKU)
        await call(base, "chat-supervisor", BILL)

        status, listing = get(f"{base}/api/calls")
        assert status == 200
        escalated, handed = listing["calls"]
        assert listing["next_before"] is None
        assert (handed["graph"], handed["frontend"], handed["agents"]) == (
            "simple-handoff",
            "console",
            ["greeter", "haiku_writer"],
        )
        assert handed["end_reason"] == "stopped by the caller" and handed["ended_at"] >= handed["started_at"]
        assert escalated["graph"] == "chat-supervisor" and escalated["agents"] == ["chat_agent"]
        assert handed["scenario"] == {"status": "same", "id": "simple-handoff", "name": "simple-handoff"}

        # Pages: `before` is the last id of the page before.
        status, first = get(f"{base}/api/calls?limit=1")
        assert [c["id"] for c in first["calls"]] == [escalated["id"]] and first["next_before"] == escalated["id"]
        status, second = get(f"{base}/api/calls?limit=1&before={escalated['id']}")
        assert [c["id"] for c in second["calls"]] == [handed["id"]]
        status, third = get(f"{base}/api/calls?limit=1&before={handed['id']}")
        assert (status, third) == (200, {"calls": [], "next_before": None})

        status, doc = get(f"{base}/api/calls/{handed['id']}")
        assert status == 200
        texts = [(t["role"], t["agent"], t["text"]) for t in doc["transcript"]]
        assert ("user", "greeter", "Could you write me a haiku about snow?") in texts
        assert any(
            role == "assistant" and agent == "haiku_writer" and "footprints fill by dawn" in text
            for role, agent, text in texts
        )
        assert [v["agent"] for v in doc["visits"]] == ["greeter", "haiku_writer"]

        # The replay: every row once, in time order; the agent changes at the visit after the handoff,
        # whose step took the drawing's edge greeter->haiku_writer.
        steps = doc["replay"]
        assert [s["offset_ms"] for s in steps] == sorted(s["offset_ms"] for s in steps)
        assert sum(s["kind"] == "turn" for s in steps) == len(doc["transcript"])
        assert sorted(s["ref"] for s in steps if s["kind"] == "turn") == list(range(len(doc["transcript"])))
        [handoff] = [i for i, s in enumerate(steps) if s.get("type") == "handoff"]
        assert steps[handoff]["edges"] == ["greeter->haiku_writer"]
        assert steps[handoff]["from"] == {"agent": "greeter", "state": None}
        assert [s["edges"] for i, s in enumerate(steps) if i != handoff] == [[]] * (len(steps) - 1)
        assert {s["agent"] for s in steps[: handoff + 1]} == {"greeter"}
        assert steps[handoff + 1]["kind"] == "visit" and steps[handoff + 1]["agent"] == "haiku_writer"
        assert {s["agent"] for s in steps[handoff + 1 :]} == {"haiku_writer"}
        haiku = next(
            i
            for i, s in enumerate(steps)
            if s["kind"] == "turn" and "footprints" in doc["transcript"][s["ref"]]["text"]
        )
        assert haiku > handoff + 1
        assert steps[-1]["kind"] == "end"
        _, drawing = get(f"{base}/api/scenarios/simple-handoff/graph")
        assert "greeter->haiku_writer" in drawing["edges"]  # the replay's edge keys are the drawing's

        # An escalation: its tool call with arguments, result, duration and supervisor steps, and the
        # edge to the supervisor's model lit when it starts.
        status, doc = get(f"{base}/api/calls/{escalated['id'][:-2]}")  # a unique prefix will do
        assert status == 200 and doc["id"] == escalated["id"]
        [tool] = doc["escalations"]
        assert tool["tool"] == "get_next_response_from_supervisor" and tool["ok"] is True
        assert "555-0142" in tool["arguments"] and "roaming" in tool["output"] and tool["duration_ms"] >= 0
        assert "get_user_account_info" in json.dumps(tool["steps"])  # the supervisor's own tool call
        [start] = [s for s in doc["replay"] if s["kind"] == "tool_start"]
        [end] = [s for s in doc["replay"] if s["kind"] == "tool_end"]
        assert start["edges"] == ["chat_agent->model:gpt-5.5"] and doc["replay"].index(start) < doc["replay"].index(end)
        assert doc["usage"]["input_tokens"] > 0 and doc["latency"]["median_ms"] is not None

        assert get(f"{base}/api/calls/nope")[0] == 404
        assert "no call 'nope'" in get(f"{base}/api/calls/nope")[1]["error"]
        status, body = get(f"{base}/api/calls?limit=0")
        assert status == 400 and "limit" in body["error"]
        status, body = get(f"{base}/api/calls?before=nope")
        assert status == 400 and "nope" in body["error"]

        # The page itself: one file for the list and for a call, its script served by the app.
        for path in ("/calls", f"/calls/{handed['id']}"):
            status, html = get(base + path)
            assert status == 200 and '<script src="/static/history.js">' in html
        status, html = get(f"{base}/")
        assert 'href="/calls"' in html  # the console links to the history

    # The API's call is `engine calls show --format json`'s, plus the match and the replay.
    shown = subprocess.run(
        [sys.executable, "-m", "engine.records", "show", handed["id"], "--format", "json", "--db", str(db)],
        capture_output=True, text=True, cwd=ROOT, check=True,
    )  # fmt: skip
    with serving([GRAPHS], db) as base:
        _, doc = get(f"{base}/api/calls/{handed['id']}")
    assert {k: v for k, v in doc.items() if k not in ("scenario", "replay")} == json.loads(shown.stdout)


async def test_approvals_guardrail_trips_and_a_handoff_are_replayed_in_order(tmp_path: Path) -> None:
    (tmp_path / "graphs").mkdir()
    (tmp_path / "graphs" / "desk.yaml").write_text(DESK)
    with serving([tmp_path / "graphs"], tmp_path / "calls.db") as base:
        await call(
            base,
            "desk",
            [
                ("Please refund order A1.", "on its way"),
                ("What do you think of your competitors?", ""),
                ("Then let me talk to a manager.", "I am the manager"),
            ],
            approve=True,
        )
        _, listing = get(f"{base}/api/calls")
        [summary] = listing["calls"]
        _, doc = get(f"{base}/api/calls/{summary['id']}")
    kinds = [s["kind"] if s["kind"] != "event" else s["type"] for s in doc["replay"]]
    order = [
        k for k in kinds if k in ("approval", "approval_decided", "tool_start", "tool_end", "guardrail", "handoff")
    ]
    assert order == ["approval", "approval_decided", "tool_start", "tool_end", "guardrail", "handoff"]
    [approval] = doc["approvals"]
    assert approval["tool"] == "refund" and approval["decision"] == "approved"
    [trip] = doc["guardrail_trips"]
    assert trip["guardrail"] == "moderation" and trip["category"] == "OFF_BRAND"
    handoff = next(s for s in doc["replay"] if s.get("type") == "handoff")
    assert handoff["edges"] == ["clerk->manager"]
    assert doc["replay"][-2]["agent"] == "manager" and summary["agents"] == ["clerk", "manager"]


async def test_a_call_whose_graph_changed_or_is_gone_says_so_and_keeps_its_record(tmp_path: Path) -> None:
    folder, db = tmp_path / "graphs", tmp_path / "calls.db"
    folder.mkdir()
    original = (GRAPHS / "simple_handoff.yaml").read_text()
    graph = folder / "simple_handoff.yaml"
    graph.write_text(original)
    with serving([folder], db) as base:
        await call(base, "simple-handoff", HAIKU)
        _, listing = get(f"{base}/api/calls")
        call_id = listing["calls"][0]["id"]
    with serving([GRAPHS], db) as base:  # the same content elsewhere is the same graph
        _, doc = get(f"{base}/api/calls/{call_id}")
        assert doc["scenario"]["status"] == "same"

    graph.write_text(original.replace("Greet the user in one short sentence", "Greet the user warmly"))
    with serving([folder], db) as base:
        status, doc = get(f"{base}/api/calls/{call_id}")
        _, listing = get(f"{base}/api/calls")
    assert status == 200 and doc["scenario"]["status"] == "changed" and doc["scenario"]["id"] == "simple-handoff"
    assert "has changed since this call" in doc["scenario"]["message"]
    assert listing["calls"][0]["scenario"]["status"] == "changed"
    assert all("edges" not in s for s in doc["replay"])  # no drawing to mark
    assert [s["agent"] for s in doc["replay"] if s["kind"] == "visit"] == ["greeter", "haiku_writer"]
    assert any("footprints" in t["text"] for t in doc["transcript"])

    graph.write_text(original.replace("graph: simple-handoff", "graph: renamed"))
    with serving([folder], db) as base:
        _, doc = get(f"{base}/api/calls/{call_id}")
    assert doc["scenario"] == {
        "status": "missing",
        "id": None,
        "name": "simple-handoff",
        "message": "the graph 'simple-handoff' that made this call is not served here any more: "
        "the replay shows the agents visited, not the graph",
    }


async def test_calls_from_every_codec_and_from_twilio_find_the_graph_that_made_them(tmp_path: Path) -> None:
    # A console call records its graph as its codec and push-to-talk ran it, a Twilio call as G.711:
    # each is still the catalog's scenario.
    with serving([GRAPHS], tmp_path / "calls.db") as base:
        await call(base, "simple-handoff", HAIKU, codec="g711_ulaw", push_to_talk=True)
        url = base.replace("http://", "ws://") + "/twilio/media"
        async with MediaStream(url, {"scenario": "simple-handoff", "From": "+14155550142"}) as phone:
            await phone.speak(b"\xff" * 1600)
            await phone.wait_for_audio()
        for _ in range(50):  # the server ends and records the call once the stream has stopped
            _, listing = get(f"{base}/api/calls")
            if len(listing["calls"]) == 2 and all(c["ended_at"] for c in listing["calls"]):
                break
            await asyncio.sleep(0.1)
        twilio, console = listing["calls"]
        assert (twilio["frontend"], twilio["caller"], console["frontend"]) == ("twilio", "+14155550142", "console")
        assert twilio["graph_hash"] != console["graph_hash"]
        for found in (twilio, console):
            assert found["scenario"]["status"] == "same" and found["scenario"]["id"] == "simple-handoff"
            _, doc = get(f"{base}/api/calls/{found['id']}")
            assert doc["replay"][0]["kind"] == "visit" and doc["replay"][0]["agent"] == "greeter"


def test_without_a_store_or_without_the_token_the_api_says_why(tmp_path: Path) -> None:
    with serving([GRAPHS], tmp_path / "calls.db", "--no-record") as base:
        for path in ("/api/calls", "/api/calls/anything"):
            status, body = get(base + path)
            assert status == 503 and "--no-record" in body["error"]
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    with serving([GRAPHS], blocked / "calls.db") as base:  # the store cannot be created there
        status, body = get(f"{base}/api/calls")
        assert status == 503 and "could not be opened" in body["error"] and "Traceback" not in body["error"]
    with serving([GRAPHS], tmp_path / "calls.db", env={"ENGINE_CONSOLE_TOKEN": "s3cret-token"}) as base:
        status, body = get(f"{base}/api/calls")
        assert status == 401 and "token" in body["error"]
        assert get(f"{base}/api/calls/x")[0] == 401
        status, body = get(f"{base}/api/calls?token=s3cret-token")
        assert status == 200 and body == {"calls": [], "next_before": None}
        try:
            urllib.request.urlopen(f"{base}/calls", timeout=5)
            raise AssertionError("the page opened without its token")
        except urllib.error.HTTPError as exc:
            assert exc.code == 401


def test_pages_of_calls_follow_start_time_then_id_each_with_its_agents(tmp_path: Path) -> None:
    from engine.records import open_store

    with open_store(str(tmp_path / "calls.db")) as store:
        for i in range(5):  # started two by two in the same second: the id breaks the tie
            store.start_call({"id": f"c{i}", "frontend": "run", "graph": "g", "graph_hash": "h", "started_at": i // 2})
            for seq, agent in enumerate(["a", "a", f"b{i}"]):
                store.put("visits", {"call_id": f"c{i}", "seq": seq, "at": 1.0, "agent": agent, "state": None})
        pages, before = [], None
        while page := store.calls(2, before):
            pages.append([(c["id"], c["agents"]) for c in page])
            before = page[-1]["id"]
        assert pages == [
            [("c4", ["a", "b4"]), ("c3", ["a", "b3"])],
            [("c2", ["a", "b2"]), ("c1", ["a", "b1"])],
            [("c0", ["a", "b0"])],
        ]
        assert [c["id"] for c in store.calls()] == [
            "c4",
            "c3",
            "c2",
            "c1",
            "c0",
        ]  # the same order as `engine calls list`
        with pytest.raises(KeyError):
            store.calls(2, "nope")
