"""The call store on real databases (SQLite files, a throwaway Postgres cluster) and the recorder.

Postgres: `ENGINE_TEST_POSTGRES` (a URL) names a server to use; otherwise a cluster is started from
Debian's `postgresql` package (initdb as the postgres user when running as root). With CI=true a
missing Postgres fails these tests instead of skipping them.
"""

from __future__ import annotations

import asyncio
import glob
import logging
import os
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import GRAPHS, MINI, ROOT

from engine.records import CallRecorder, StoreError, graph_hash, open_store, record_call
from engine.runtime import Session, replay
from engine.runtime import events as ev
from engine.sim import Simulator
from engine.spec import Script
from engine.validate import load_graph

KEY = "sk-test-records-0123456789SECRET"

# --- databases ----------------------------------------------------------------------------------------


def _postgres_bin() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(os.path.realpath(found)).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(versions[-1]).parent if versions else None


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A Postgres server URL (of its `postgres` database) for the whole test run."""
    if os.environ.get("ENGINE_TEST_POSTGRES"):
        yield os.environ["ENGINE_TEST_POSTGRES"]
        return
    bindir = _postgres_bin()
    if bindir is None:
        reason = "Postgres is not installed (Debian: apt-get install postgresql)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI runs the Postgres tests")
        pytest.skip(reason)
    root = Path(tempfile.mkdtemp(prefix="engine-pg-"))
    data, sockets = root / "data", root / "sockets"
    sockets.mkdir()
    as_postgres: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: the cluster belongs to the postgres user
        shutil.chown(root, "postgres")
        shutil.chown(sockets, "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]

    def pg(*command: str) -> None:
        subprocess.run([*as_postgres, *command], check=True, capture_output=True, timeout=120)

    pg(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "--no-sync")
    # Unix socket only (no port to collide on); no fsync: a test database needs no crash safety from the OS.
    options = f"-k {sockets} -c listen_addresses='' -F"
    pg(str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "start")
    try:
        yield f"postgresql://postgres@/postgres?host={sockets}"
    finally:
        subprocess.run([*as_postgres, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], check=False)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh database of its own for one test."""
    import psycopg

    name = f"t_{secrets.token_hex(6)}"
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    base, _, query = postgres_server.partition("?")
    yield f"{base.rsplit('/', 1)[0]}/{name}?{query}"
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "calls.db")
    return request.getfixturevalue("postgres_url")


def all_text(url: str) -> str:
    """Every byte the store holds, as text (a SQLite file and its WAL; every row of every Postgres table)."""
    if not url.startswith("postgresql://"):
        return b"".join(Path(p).read_bytes() for p in glob.glob(url + "*")).decode("utf-8", "replace")
    import psycopg

    with psycopg.connect(url) as conn:
        tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        return "\n".join(str(row) for table in tables for row in conn.execute(f"SELECT * FROM {table}"))


# --- the store ------------------------------------------------------------------------------------------


def test_schema_is_created_on_first_use_with_its_version(db_url: str):
    with open_store(db_url) as store:
        assert store._run("SELECT version FROM schema_version") == [{"version": 1}]
        store.start_call({"id": "c1", "frontend": "run", "graph": "g", "graph_hash": "h", "started_at": 1.0})
    with open_store(db_url) as store:  # opened again: the same tables, the call kept, one version row
        assert store._run("SELECT version FROM schema_version") == [{"version": 1}]
        assert [c["id"] for c in store.calls()] == ["c1"]
        store._run("UPDATE schema_version SET version = 99")
    with pytest.raises(StoreError, match="schema version 99"):
        open_store(db_url)


def test_sqlite_store_is_in_wal_mode_under_the_working_directory_by_default(tmp_path: Path):
    code = "from engine.records import open_store; open_store().close()"
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, check=True, env={**os.environ, "ENGINE_DB": ""})
    db = tmp_path / ".engine" / "calls.db"
    assert sqlite3.connect(db).execute("PRAGMA journal_mode").fetchone() == ("wal",)
    other = tmp_path / "elsewhere" / "my.db"
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, check=True, env={**os.environ, "ENGINE_DB": str(other)})
    assert other.exists()


def test_a_store_that_cannot_be_opened_is_a_clear_error(tmp_path: Path):
    (tmp_path / "not.db").write_text("this is not a database, just text " * 100)
    with pytest.raises(StoreError, match=r"not\.db"):
        open_store(str(tmp_path / "not.db"))
    with pytest.raises(StoreError, match="cannot open the call store") as caught:
        open_store("postgresql://someone:hunter2-password@127.0.0.1:1/nowhere")
    assert "hunter2" not in str(caught.value)


# --- the recorder on synthetic events -----------------------------------------------------------------


def supervisor_graph() -> Any:
    return load_graph(GRAPHS / "chat_supervisor.yaml")


async def events_of(*items: ev.SessionEvent | float) -> AsyncIterator[ev.SessionEvent]:
    """Events as a session yields them; a number is a pause of that many seconds."""
    for item in items:
        if isinstance(item, float):
            await asyncio.sleep(item)
        else:
            yield item


A_CALL: list[ev.SessionEvent | float] = [
    ev.AgentStart("chat_agent", None),
    ev.TranscriptDelta("user", "u1", f"my key is {KEY}", done=True),
    0.05,
    ev.AudioStarted("a1"),
    ev.TranscriptDelta("assistant", "a1", "Let me "),
    ev.TranscriptDelta("assistant", "a1", "check."),
    ev.TranscriptDelta("assistant", "a1", "", done=True),
    ev.ToolStart("chat_agent", "get_next_response_from_supervisor", "call_1", '{"q": "bill"}'),
    0.02,
    ev.ToolEnd(
        "chat_agent",
        "get_next_response_from_supervisor",
        "call_1",
        "Your bill has a roaming charge.",
        ok=True,
        steps=[{"type": "function_call", "name": "get_user_account_info", "arguments": {"token": KEY}}],
    ),
    ev.ApprovalRequested("chat_agent", "refund", "call_2", '{"order": "A1"}'),
    ev.ToolStart("chat_agent", "refund", "call_2", '{"order": "A1"}'),
    ev.ToolEnd("chat_agent", "refund", "call_2", '{"refunded": "A1"}', ok=True),
    ev.ApprovalRequested("chat_agent", "refund", "call_3", '{"order": "A2"}', policy="deny"),
    ev.ToolEnd("chat_agent", "refund", "call_3", '{"error": "not approved"}', ok=False),
    ev.GuardrailTripped("chat_agent", "competitors", "OFF_BRAND", "named a competitor", "Try MegaTel"),
    ev.Usage("resp_1", {"input_tokens": 120, "output_tokens": 30, "total_tokens": 150}),
    ev.HandoffEvent("chat_agent", "helper"),
    ev.AgentStart("helper", "intake"),
    ev.StateChanged("helper", "intake", "resolve"),
    ev.SpeechStarted("u2", 1000),
    ev.SpeechStopped("u2", 2400),
    0.05,
    ev.AudioStarted("a2"),
    ev.TranscriptDelta("user", "u2", "thanks", done=True),
    ev.TranscriptDelta("assistant", "a2", "You're welcome, goodbye!"),
    ev.AudioInterrupted("a2", 800),
    ev.Usage("resp_2", {"input_tokens": 200, "output_tokens": 10, "total_tokens": 210}),
    ev.Error("connection lost: gone", code="connection_lost", fatal=True),
]


async def test_a_call_is_recorded_with_everything_it_did(db_url: str):
    doc = supervisor_graph()
    with open_store(db_url) as store:
        recorder = await record_call(
            events_of(*A_CALL), store, frontend="twilio", graph=doc, caller="+14155550142", secrets=[KEY]
        )
        assert recorder.dropped == 0
        [listed] = store.calls()
        record = store.call(recorder.id)
    assert record is not None
    assert listed["agents"] == ["chat_agent", "helper"]
    assert (record["frontend"], record["caller"], record["graph"]) == ("twilio", "+14155550142", "chat-supervisor")
    assert record["graph_hash"] == graph_hash(doc) and len(record["graph_hash"]) == 64
    assert record["ended_at"] >= record["started_at"]
    assert record["end_reason"] == "error: connection_lost"
    assert [(v["agent"], v["state"]) for v in record["visits"]] == [
        ("chat_agent", None),
        ("helper", "intake"),
        ("helper", "resolve"),
    ]
    turns = {t["item_id"]: t for t in record["turns"]}
    assert [t["item_id"] for t in record["turns"]] == ["u1", "a1", "u2", "a2"]  # in the order they began
    assert turns["u1"]["text"] == "my key is <redacted>"
    assert turns["a1"]["text"] == "Let me check." and turns["a1"]["ended_at"] >= turns["a1"]["started_at"]
    assert turns["u2"]["text"] == "thanks" and turns["u2"]["agent"] == "helper"
    assert turns["a2"]["played_ms"] == 800 and turns["a2"]["ended_at"] is None
    tools = {t["tool_call_id"]: t for t in record["tool_calls"]}
    supervisor = tools["call_1"]
    assert supervisor["escalation"] == 1 and supervisor["ok"] == 1 and supervisor["duration_ms"] >= 20
    assert supervisor["arguments"] == '{"q": "bill"}' and supervisor["output"] == "Your bill has a roaming charge."
    assert '"get_user_account_info"' in supervisor["steps"] and KEY not in supervisor["steps"]
    assert tools["call_2"]["escalation"] == 0 and tools["call_3"]["ok"] == 0
    assert tools["call_3"]["arguments"] == '{"order": "A2"}'  # denied before it ran: the arguments it asked with
    approvals = {a["tool_call_id"]: (a["decision"], a["policy"]) for a in record["approvals"]}
    assert approvals == {"call_2": ("approved", None), "call_3": ("denied", "deny")}
    [trip] = record["guardrail_trips"]
    assert (trip["guardrail"], trip["category"], trip["text"]) == ("competitors", "OFF_BRAND", "Try MegaTel")
    assert [(u["response_id"], u["total_tokens"]) for u in record["usage"]] == [("resp_1", 150), ("resp_2", 210)]
    # From the text turn sent, and from speech stopped, to the agent's first audio (the pauses are 50 ms).
    assert [lat["item_id"] for lat in record["latencies"]] == ["a1", "a2"]
    assert all(lat["ms"] >= 50 for lat in record["latencies"])
    assert [e["type"] for e in record["events"]] == ["handoff", "audio_interrupted", "error"]
    seqs = [row["seq"] for table in ("visits", "turns", "tool_calls", "events") for row in record[table]]
    assert len(seqs) == len(set(seqs))  # one timeline across the tables
    assert KEY not in all_text(db_url)


async def test_each_event_is_committed_as_it_arrives(db_url: str):
    with open_store(db_url) as store:
        recorder = CallRecorder(store, frontend="run", graph=supervisor_graph())
        heard: list[str] = []
        for delta in ["Hello", " there,", " how can I help?"]:
            recorder.record(ev.TranscriptDelta("assistant", "a1", delta))
            assert await recorder.flush()
            with open_store(db_url) as reader:  # another connection sees it: committed
                [turn] = reader.call(recorder.id)["turns"]
            heard.append(turn["text"])
        assert heard == ["Hello", "Hello there,", "Hello there, how can I help?"]
        assert turn["ended_at"] is None


def test_the_graph_hash_covers_the_spec_and_its_prompt_files(tmp_path: Path):
    folder = tmp_path / "graph"
    shutil.copytree(GRAPHS, folder)
    path = folder / "chat_supervisor.yaml"
    original = graph_hash(load_graph(path))
    assert original == graph_hash(load_graph(GRAPHS / "chat_supervisor.yaml"))  # not where it lives
    prompt = folder / "prompts" / "supervisor.md.j2"
    prompt.write_text(prompt.read_text() + "\nBe brief.\n")
    assert graph_hash(load_graph(path)) != original
    path.write_text(path.read_text().replace("company: NewTelco", "company: OldTelco"))
    assert len({original, graph_hash(load_graph(path))}) == 2


async def test_the_end_reason_the_frontend_gives_wins_and_a_plain_end_is_completed(tmp_path: Path):
    doc = supervisor_graph()
    with open_store(str(tmp_path / "calls.db")) as store:
        plain = await record_call(events_of(ev.AgentStart("chat_agent")), store, frontend="run", graph=doc)
        told = CallRecorder(store, frontend="sip", graph=doc)
        told.end_reason = "transfer"
        await told.consume(events_of(ev.AgentStart("chat_agent"), ev.Error("x", code="boom", fatal=True)))
        assert store.call(plain.id)["end_reason"] == "completed"
        assert store.call(told.id)["end_reason"] == "transfer"
    with pytest.raises(ValueError, match="frontend is one of"):
        CallRecorder(store, frontend="fax", graph=doc)  # type: ignore[arg-type]


async def test_a_full_disk_degrades_the_recorder_not_the_call(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    doc = supervisor_graph()
    url = str(tmp_path / "calls.db")
    store = open_store(url)
    # A real SQLITE_FULL: the database may not grow past the pages it has now.
    pages = store._run("PRAGMA page_count")[0]["page_count"]
    store._run(f"PRAGMA max_page_count = {pages + 2}")
    long = "x" * 20_000
    many = [ev.AgentStart("chat_agent")]
    many += [ev.TranscriptDelta("user", f"u{i}", long, done=True) for i in range(50)]
    with caplog.at_level(logging.WARNING, logger="engine.records"):
        recorder = await record_call(events_of(*many), store, frontend="run", graph=doc)
    assert recorder.dropped > 0 and recorder.written > 0
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "full" in warnings[0].getMessage()  # said once, not once per event
    store.close()


async def test_a_stalled_database_drops_and_counts_records_without_holding_up_the_call(postgres_url: str):
    import psycopg

    doc = supervisor_graph()
    store = open_store(postgres_url)
    recorder = CallRecorder(store, frontend="run", graph=doc, max_pending=5)
    assert await recorder.flush()
    with psycopg.connect(postgres_url) as blocker:
        blocker.execute("LOCK TABLE turns IN ACCESS EXCLUSIVE MODE")  # held until this transaction ends
        for i in range(100):
            recorder.record(ev.TranscriptDelta("user", f"u{i}", "hello", done=True))  # returns at once
        assert recorder.dropped >= 95
        assert not await recorder.flush(timeout=0.2)  # still waiting on the lock
    recorder.end()
    assert await recorder.flush()
    record = store.call(recorder.id)
    assert 1 <= len(record["turns"]) <= 5
    assert record["dropped"] == recorder.dropped and record["end_reason"] == "completed"
    store.close()


async def test_a_store_closed_under_a_running_call_costs_records_not_the_call(tmp_path: Path):
    store = open_store(str(tmp_path / "calls.db"))
    recorder = CallRecorder(store, frontend="run", graph=supervisor_graph())
    store.close()
    recorder.record(ev.TranscriptDelta("user", "u1", "hello", done=True))
    recorder.end()
    assert await recorder.flush()
    assert recorder.dropped == 2


async def test_concurrent_calls_share_one_store(db_url: str):
    doc = supervisor_graph()

    def call(i: int) -> list[ev.SessionEvent | float]:
        turns: list[ev.SessionEvent | float] = [ev.AgentStart("chat_agent")]
        for turn in range(10):
            turns += [ev.TranscriptDelta("user", f"u{turn}", f"call {i} turn {turn}", done=True), 0.001]
            turns += [ev.TranscriptDelta("assistant", f"a{turn}", f"reply {i}.{turn}"), ev.AudioStarted(f"a{turn}")]
            turns += [ev.TranscriptDelta("assistant", f"a{turn}", "", done=True)]
        return turns

    with open_store(db_url) as store:
        recorders = await asyncio.gather(
            *(record_call(events_of(*call(i)), store, frontend="console", graph=doc, caller=str(i)) for i in range(20))
        )
        assert len({r.id for r in recorders}) == 20 and not any(r.dropped for r in recorders)
        for recorder in recorders:
            record = store.call(recorder.id)
            i = record["caller"]
            assert [t["text"] for t in record["turns"]][:2] == [f"call {i} turn 0", f"reply {i}.0"]
            assert len(record["turns"]) == 20 and len(record["latencies"]) == 10
            assert record["end_reason"] == "completed"


async def test_a_dropped_postgres_connection_costs_one_write_then_reconnects(postgres_url: str):
    import psycopg

    store = open_store(postgres_url)
    recorder = CallRecorder(store, frontend="sip", graph=supervisor_graph())
    recorder.record(ev.TranscriptDelta("user", "u1", "before", done=True))
    assert await recorder.flush()
    with psycopg.connect(postgres_url, autocommit=True) as admin:  # the server ends the store's connection
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    for i, text in enumerate(["lost", "after", "again"]):
        recorder.record(ev.TranscriptDelta("user", f"u{i + 2}", text, done=True))
        assert await recorder.flush()
    recorder.end()
    assert await recorder.flush()
    record = store.call(recorder.id)
    assert [t["text"] for t in record["turns"]] == ["before", "after", "again"]
    assert recorder.dropped == 1 and record["dropped"] == 1
    store.close()


# --- the recorder on a real session ------------------------------------------------------------------------

APPROVAL_TOOL = """\
  refund:
    description: Refund an order.
    parameters: {type: object, properties: {order: {type: string}}, required: [order]}
    returns: {refunded: "{{ args.order }}"}
    needs_approval: true
"""


def mini_graph(write_graph, tmp_path: Path, tools: str = "") -> Any:
    text = MINI.replace("tools: [lookup]", "tools: [lookup, refund]") + APPROVAL_TOOL
    path = write_graph(text)
    if tools:
        (tmp_path / "mini_tools.py").write_text(tools)
    return load_graph(path)


async def test_a_session_on_the_simulator_is_recorded(db_url: str, write_graph, tmp_path: Path):
    doc = mini_graph(write_graph, tmp_path)
    sc = Script.model_validate(
        {
            "turns": [
                {"user": "find boards", "model": [{"call": "lookup", "args": {"query": "boards"}}, {"say": "Found."}]},
                {"user": "refund A1", "model": [{"call": "refund", "args": {"order": "A1"}}, {"say": "Refunded."}]},
                {"user": "helper please", "model": [{"handoff": "helper"}, {"say": "Helper here."}]},
            ]
        }
    )
    with open_store(db_url) as store:
        async with Simulator(sc) as sim:
            async with Session(doc, url=sim.url, api_key=KEY, approval="auto") as session:
                recording = asyncio.create_task(
                    record_call(aiter(session), store, frontend="run", graph=doc, caller="terminal", secrets=[KEY])
                )
                await replay(session, sc, turn_timeout=10)
            recorder = await recording
        record = store.call(recorder.id)
        [listed] = store.calls()
    assert listed["agents"] == ["greeter", "helper"]
    texts = [(t["role"], t["text"]) for t in record["turns"]]
    assert texts == [
        ("user", "find boards"),
        ("assistant", "Found."),
        ("user", "refund A1"),
        ("assistant", "Refunded."),
        ("user", "helper please"),
        ("assistant", "Helper here."),
    ]
    lookup, refund = record["tool_calls"]
    assert (lookup["tool"], lookup["arguments"], lookup["ok"]) == ("lookup", '{"query":"boards"}', 1)
    assert '"found": true' in lookup["output"] and lookup["duration_ms"] >= 0
    assert (refund["tool"], refund["output"]) == ("refund", '{"refunded": "A1"}')
    [approval] = record["approvals"]
    assert (approval["tool"], approval["policy"], approval["decision"]) == ("refund", "auto", "approved")
    assert [e["type"] for e in record["events"]] == ["handoff"]
    assert record["end_reason"] == "completed" and record["caller"] == "terminal"
    # Each text turn sent to the agent's first audio of the reply (the simulator speaks every `say`).
    replies = [t["item_id"] for t in record["turns"] if t["role"] == "assistant"]
    assert [lat["item_id"] for lat in record["latencies"]] == replies
    assert all(lat["ms"] > 0 for lat in record["latencies"])
    assert KEY not in all_text(db_url)


async def test_an_escalation_on_the_simulator_keeps_its_steps(tmp_path: Path):
    doc = supervisor_graph()
    demo = doc.spec.demo
    with open_store(str(tmp_path / "calls.db")) as store:
        async with Simulator(demo) as sim:
            async with Session(doc, url=sim.url, api_key=KEY, agent=demo.agent, context=demo.context) as session:
                recording = asyncio.create_task(record_call(aiter(session), store, frontend="console", graph=doc))
                await replay(session, demo, turn_timeout=10)
            recorder = await recording
        record = store.call(recorder.id)
    [escalation] = [t for t in record["tool_calls"] if t["escalation"]]
    assert escalation["tool"] == "get_next_response_from_supervisor" and escalation["ok"] == 1
    assert '"function_call"' in escalation["steps"] and '"answer"' in escalation["steps"]


# --- a record survives kill -9 -------------------------------------------------------------------------------

KILLED_CALL = """\
import asyncio, sys
from engine.records import open_store, record_call
from engine.runtime import Session, replay
from engine.sim import Simulator
from engine.spec import Script
from engine.validate import load_graph

async def main(graph_path, url):
    doc = load_graph(graph_path)
    sc = Script.model_validate({"turns": [
        {"user": "hello", "model": [{"say": "Hi there."}]},
        {"user": "find boards", "model": [{"call": "lookup", "args": {"query": "boards"}}, {"say": "Found."}]},
    ]})
    store = open_store(url)
    async with Simulator(sc) as sim:
        async with Session(doc, url=sim.url, api_key="test-key") as session:
            recording = asyncio.create_task(record_call(aiter(session), store, frontend="run", graph=doc))
            print("recording", flush=True)
            await replay(session, sc, turn_timeout=600)

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""

HANGING_TOOL = """\
import time

def lookup(query: str) -> dict:
    time.sleep(600)  # the call is killed while this runs
    return {"query": query}
"""


def test_a_record_survives_kill_9_mid_call(db_url: str, write_graph, tmp_path: Path):
    graph_path = write_graph(MINI)
    (tmp_path / "mini_tools.py").write_text(HANGING_TOOL)
    (tmp_path / "killed_call.py").write_text(KILLED_CALL)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, str(tmp_path / "killed_call.py"), str(graph_path), db_url], env=env)
    try:
        started = _wait_for_row(db_url, "SELECT * FROM tool_calls", proc)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(10) == -signal.SIGKILL
    finally:
        proc.kill()
    assert started["tool"] == "lookup"
    with open_store(db_url) as store:
        [call] = store.calls()
        record = store.call(call["id"])
    assert call["ended_at"] is None and call["end_reason"] is None
    assert call["agents"] == ["greeter"]
    assert [(t["role"], t["text"]) for t in record["turns"]] == [
        ("user", "hello"),
        ("assistant", "Hi there."),
        ("user", "find boards"),
    ]
    [tool] = record["tool_calls"]  # the last event: started, never finished
    assert (tool["arguments"], tool["ended_at"], tool["output"]) == ('{"query":"boards"}', None, None)


def _wait_for_row(url: str, sql: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the recording process ended early"
        try:
            with open_store(url) as store:
                rows = store._run(sql)
        except StoreError:
            rows = []
        if rows:
            return rows[0]
        time.sleep(0.1)
    raise AssertionError(f"no row from {sql!r} within {timeout} s")


def test_the_schema_is_documented():
    from engine.records import _schema

    doc = textwrap.dedent(_schema.__doc__ or "")
    for table in ["calls", *_schema.ROW_KEYS]:
        assert f"`{table}" in doc, table
