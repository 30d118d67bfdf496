"""`engine calls list|show|export` (as `python -m engine.records`) in subprocesses, on real stores."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT
from test_records import A_CALL, KEY, db_url, events_of, postgres_server, postgres_url, supervisor_graph

from engine.records import open_store, record_call
from engine.runtime import events as ev

__all__ = ["db_url", "postgres_server", "postgres_url"]  # fixtures shared with test_records


def calls(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    command = [sys.executable, "-m", "engine.records", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, env=environment, timeout=60)


async def two_calls(url: str) -> tuple[str, str]:
    doc = supervisor_graph()
    with open_store(url) as store:
        first = await record_call(
            events_of(*A_CALL), store, frontend="twilio", graph=doc, caller="+1415", secrets=[KEY]
        )
        short = [ev.AgentStart("chat_agent"), ev.TranscriptDelta("user", "u1", "hi", done=True)]
        second = await record_call(events_of(*short), store, frontend="sip", graph=doc, caller="sip:ann@example.com")
    return first.id, second.id


async def test_list_as_json_is_an_array_of_calls(db_url: str):
    first, second = await two_calls(db_url)
    done = calls("list", "--format", "json", "--db", db_url)
    assert done.returncode == 0, done.stderr
    listed = json.loads(done.stdout)
    assert [c["id"] for c in listed] == [second, first]  # newest first
    for call in listed:
        assert {"id", "frontend", "started_at", "ended_at", "caller", "agents"} <= set(call)
    assert [(c["frontend"], c["caller"]) for c in listed] == [("sip", "sip:ann@example.com"), ("twilio", "+1415")]
    assert listed[1]["agents"] == ["chat_agent", "helper"]
    assert listed[1]["started_at"].endswith("Z") and listed[1]["end_reason"] == "error: connection_lost"


async def test_list_as_text_jsonl_and_csv(tmp_path: Path):
    db = str(tmp_path / "calls.db")
    first, second = await two_calls(db)
    text = calls("list", "--db", db).stdout.splitlines()
    assert text[0].split() == ["id", "started", "duration", "frontend", "caller", "agents", "end"]
    assert text[1].startswith(second) and "chat_agent > helper" in text[2]
    lines = calls("list", "--format", "jsonl", "--db", db).stdout.splitlines()
    assert [json.loads(line)["id"] for line in lines] == [second, first]
    rows = list(csv.DictReader(io.StringIO(calls("list", "--format", "csv", "--db", db).stdout)))
    assert [(r["id"], r["agents"]) for r in rows] == [(second, "chat_agent"), (first, "chat_agent > helper")]
    assert calls("list", "--limit", "1", "--format", "jsonl", "--db", db).stdout.count("\n") == 1


async def test_show_a_call_by_id_or_prefix(db_url: str):
    first, _ = await two_calls(db_url)
    done = calls("show", first, "--format", "json", "--db", db_url)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["id"] == first and doc["agents"] == ["chat_agent", "helper"]
    assert [t["text"] for t in doc["transcript"]][:2] == ["my key is <redacted>", "Let me check."]
    [escalation] = doc["escalations"]
    assert escalation["steps"][0]["name"] == "get_user_account_info"  # decoded, not JSON text
    assert doc["usage"]["total_tokens"] == 360 and doc["latency"]["median_ms"] >= 50
    assert doc["approvals"][0]["decision"] == "approved" and doc["guardrail_trips"][0]["category"] == "OFF_BRAND"
    text = calls("show", first[:-2], "--db", db_url).stdout  # a unique prefix names the call
    assert f"call {first}" in text and "agents chat_agent > helper" in text
    assert "get_next_response_from_supervisor" in text and "Let me check." in text
    assert KEY not in text
    timeline = [
        json.loads(line) for line in calls("show", first, "--format", "jsonl", "--db", db_url).stdout.splitlines()
    ]
    assert [e["seq"] for e in timeline] == sorted(e["seq"] for e in timeline)
    assert {"visit", "user", "assistant", "escalation", "tool", "approval", "guardrail", "usage", "latency"} <= {
        e["kind"] for e in timeline
    }
    rows = list(csv.DictReader(io.StringIO(calls("show", first, "--format", "csv", "--db", db_url).stdout)))
    assert list(rows[0]) == ["seq", "at", "kind", "agent", "text"] and len(rows) == len(timeline)


async def test_export_whole_records(tmp_path: Path):
    db = str(tmp_path / "calls.db")
    first, second = await two_calls(db)
    lines = calls("export", "--format", "jsonl", "--db", db).stdout.splitlines()
    docs = [json.loads(line) for line in lines]
    assert [d["id"] for d in docs] == [first, second]  # oldest first, whole records
    assert docs[0]["tool_calls"] and docs[1]["transcript"][0]["text"] == "hi"
    [only] = json.loads(calls("export", second, "--format", "json", "--db", db).stdout)
    assert only["id"] == second
    rows = list(csv.DictReader(io.StringIO(calls("export", "--format", "csv", "--db", db).stdout)))
    assert [(r["id"], r["tool_calls"], r["escalations"], r["input_tokens"]) for r in rows] == [
        (first, "3", "1", "320"),
        (second, "0", "0", "0"),
    ]


async def test_the_store_comes_from_engine_db_or_the_working_directory(tmp_path: Path):
    db = tmp_path / "elsewhere.db"
    first, _ = await two_calls(str(db))
    listed = json.loads(calls("list", "--format", "json", env={"ENGINE_DB": str(db)}).stdout)
    assert first in [c["id"] for c in listed]
    (tmp_path / "work").mkdir()
    await two_calls(str(tmp_path / "work" / ".engine" / "calls.db"))
    listed = json.loads(calls("list", "--format", "json", cwd=tmp_path / "work", env={"ENGINE_DB": ""}).stdout)
    assert len(listed) == 2


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["show", "nope"], 1, "no call 'nope'"),
        (["export", "nope"], 1, "no call 'nope'"),
    ],
)
async def test_unknown_calls_are_clear_errors(tmp_path: Path, args: list[str], code: int, message: str):
    db = str(tmp_path / "calls.db")
    await two_calls(db)
    done = calls(*args, "--db", db)
    assert (done.returncode, done.stdout) == (code, "")
    assert message in done.stderr and "Traceback" not in done.stderr


def test_reading_creates_no_store_and_a_broken_store_is_a_clear_error(tmp_path: Path):
    done = calls("list", "--format", "json", cwd=tmp_path, env={"ENGINE_DB": ""})
    assert (done.returncode, done.stdout.strip()) == (0, "[]")
    assert "no call store at .engine/calls.db" in done.stderr and not (tmp_path / ".engine").exists()
    assert calls("show", "x", "--db", str(tmp_path / "missing.db")).returncode == 1
    (tmp_path / "junk.db").write_text("not a database " * 200)
    done = calls("list", "--db", str(tmp_path / "junk.db"))
    assert done.returncode == 2 and "junk.db" in done.stderr and "Traceback" not in done.stderr
    done = calls("list", "--db", "postgresql://me:s3cret-password@127.0.0.1:1/calls")
    assert done.returncode == 2 and "cannot open the call store" in done.stderr
    assert "s3cret" not in done.stderr and "Traceback" not in done.stderr
