"""What `engine calls` shows: the store's rows as call summaries, call documents and timelines."""

from __future__ import annotations

import json
import statistics
from datetime import UTC, datetime
from typing import Any

_JSON_COLUMNS = {"steps", "details", "data"}
_FLAGS = {"ok", "escalation"}


def iso(at: float | None) -> str | None:
    """An epoch time as ISO 8601 UTC with milliseconds (`2026-12-01T19:41:12.123Z`)."""
    if at is None:
        return None
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def summary(call: dict[str, Any]) -> dict[str, Any]:
    """One call in a list: who, when, how long, through which agents, how it ended."""
    started, ended = call["started_at"], call["ended_at"]
    return {
        "id": call["id"],
        "frontend": call["frontend"],
        "started_at": iso(started),
        "ended_at": iso(ended),
        "duration_s": round(ended - started, 3) if ended is not None else None,
        "caller": call["caller"],
        "graph": call["graph"],
        "graph_hash": call["graph_hash"],
        "agents": call["agents"],
        "end_reason": call["end_reason"],
        "dropped": call["dropped"],
    }


def document(record: dict[str, Any]) -> dict[str, Any]:
    """A whole call: the summary, then every row (times as ISO 8601, JSON columns decoded)."""
    rows = {table: [_row(r) for r in record[table]] for table in _TABLES}
    visits = rows["visits"]
    agents: list[str] = []
    for visit in visits:
        if not agents or agents[-1] != visit["agent"]:
            agents.append(visit["agent"])
    latencies = [r["ms"] for r in rows["latencies"]]
    usage = rows["usage"]
    return {
        **summary({**record, "agents": agents}),
        "visits": visits,
        "transcript": rows["turns"],
        "tool_calls": rows["tool_calls"],
        "escalations": [call for call in rows["tool_calls"] if call["escalation"]],
        "approvals": rows["approvals"],
        "guardrail_trips": rows["guardrail_trips"],
        "usage": {
            "input_tokens": sum(r["input_tokens"] or 0 for r in usage),
            "output_tokens": sum(r["output_tokens"] or 0 for r in usage),
            "total_tokens": sum(r["total_tokens"] or 0 for r in usage),
            "responses": usage,
        },
        "latency": {
            "turns": rows["latencies"],
            "median_ms": statistics.median(latencies) if latencies else None,
            "max_ms": max(latencies) if latencies else None,
        },
        "events": rows["events"],
    }


_TABLES = ("visits", "turns", "tool_calls", "approvals", "guardrail_trips", "usage", "latencies", "events")


def _row(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in row.items():
        if name == "call_id":
            continue
        if name in _JSON_COLUMNS and isinstance(value, str):
            value = json.loads(value)
        elif name in _FLAGS and value is not None:
            value = bool(value)
        elif name == "at" or name.endswith("_at"):
            value = iso(value)
        out[name] = value
    return out


def metrics(doc: dict[str, Any]) -> dict[str, Any]:
    """A call document as one flat row (export as CSV)."""
    return {
        **{k: v for k, v in doc.items() if not isinstance(v, dict | list)},
        "agents": " > ".join(doc["agents"]),
        "turns": len(doc["transcript"]),
        "tool_calls": len(doc["tool_calls"]),
        "escalations": len(doc["escalations"]),
        "approvals": len(doc["approvals"]),
        "guardrail_trips": len(doc["guardrail_trips"]),
        "input_tokens": doc["usage"]["input_tokens"],
        "output_tokens": doc["usage"]["output_tokens"],
        "latency_median_ms": doc["latency"]["median_ms"],
    }


def timeline(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """A call's rows in the order they happened: seq, at, kind, agent, text."""
    entries: list[dict[str, Any]] = []
    for visit in doc["visits"]:
        where = visit["agent"] + (f" ({visit['state']})" if visit["state"] else "")
        entries.append(_entry(visit, "visit", visit["agent"], where, visit["at"]))
    for turn in doc["transcript"]:
        cut = f" [heard {turn['played_ms']} ms]" if turn["played_ms"] is not None else ""
        entries.append(_entry(turn, turn["role"], turn["agent"], turn["text"] + cut, turn["started_at"]))
    for call in doc["tool_calls"]:
        if call["ended_at"] is None:
            result = "(no result)"
        else:
            result = f"-> {'ok' if call['ok'] else 'failed'} in {call['duration_ms']} ms: {call['output']}"
        kind = "escalation" if call["escalation"] else "tool"
        entries.append(
            _entry(call, kind, call["agent"], f"{call['tool']}({call['arguments']}) {result}", call["started_at"])
        )
    for approval in doc["approvals"]:
        decision = approval["decision"] or approval["policy"] or "pending"
        entries.append(
            _entry(approval, "approval", approval["agent"], f"{approval['tool']}: {decision}", approval["requested_at"])
        )
    for trip in doc["guardrail_trips"]:
        text = f"{trip['guardrail']} ({trip['category']}): {trip['rationale']}"
        entries.append(_entry(trip, "guardrail", trip["agent"], text, trip["at"]))
    for usage in doc["usage"]["responses"]:
        text = f"{usage['input_tokens']} in, {usage['output_tokens']} out"
        entries.append(_entry(usage, "usage", None, text, usage["at"]))
    for latency in doc["latency"]["turns"]:
        entries.append(_entry(latency, "latency", None, f"{latency['ms']} ms to first audio", latency["at"]))
    for event in doc["events"]:
        text = ", ".join(f"{k}={v}" for k, v in event["data"].items())
        entries.append(_entry(event, event["type"], None, text, event["at"]))
    return sorted(entries, key=lambda e: e["seq"])


def _entry(row: dict[str, Any], kind: str, agent: str | None, text: str, at: str | None) -> dict[str, Any]:
    return {"seq": row["seq"], "at": at, "kind": kind, "agent": agent, "text": text}


# --- the history page: pages of calls, and a call as replay steps ----------------------------------


def replay(record: dict[str, Any]) -> list[dict[str, Any]]:
    """A call (the store's `call()` record) as the steps of its replay, in the order they happened.

    Each step has `kind` (`visit`, `turn`, `tool_start`, `tool_end`, `approval`, `approval_decided`,
    `guardrail`, `event`, `end`), `ref` (its row's index in the document's `visits`, `transcript`,
    `tool_calls`, `approvals`, `guardrail_trips` or `events`; none for `end`), `seq`, `at`,
    `offset_ms` (since the call started), and `agent` and `state`: where the call was once it
    happened. A visit has `from` (the agent and state before it, or none); an event has `type`, and a
    handoff `from` and `to`."""
    started = record["started_at"]
    found: list[tuple[float, float, dict[str, Any]]] = []
    for i, row in enumerate(record["visits"]):
        found.append((row["at"], row["seq"], {"kind": "visit", "ref": i}))
    for i, row in enumerate(record["turns"]):
        found.append((row["started_at"], row["seq"], {"kind": "turn", "ref": i}))
    for i, row in enumerate(record["tool_calls"]):
        found.append((row["started_at"], row["seq"], {"kind": "tool_start", "ref": i}))
        if row["ended_at"] is not None:
            found.append((row["ended_at"], row["seq"] + 0.5, {"kind": "tool_end", "ref": i}))
    for i, row in enumerate(record["approvals"]):
        found.append((row["requested_at"], row["seq"], {"kind": "approval", "ref": i}))
        if row["decided_at"] is not None and row["policy"] is None:
            found.append((row["decided_at"], row["seq"] + 0.5, {"kind": "approval_decided", "ref": i}))
    for i, row in enumerate(record["guardrail_trips"]):
        found.append((row["at"], row["seq"], {"kind": "guardrail", "ref": i}))
    for i, row in enumerate(record["events"]):
        found.append((row["at"], row["seq"], {"kind": "event", "ref": i, "type": row["type"]}))
    if record["ended_at"] is not None:
        found.append((record["ended_at"], float("inf"), {"kind": "end"}))
    found.sort(key=lambda entry: (entry[0], entry[1]))

    steps: list[dict[str, Any]] = []
    agent: str | None = None
    state: str | None = None
    for at, seq, step in found:
        if step["kind"] == "visit":
            visit = record["visits"][step["ref"]]
            step["from"] = {"agent": agent, "state": state} if agent is not None else None
            agent, state = visit["agent"], visit["state"]
        elif step.get("type") == "handoff":
            data = record["events"][step["ref"]]["data"]
            data = json.loads(data) if isinstance(data, str) else data
            source = data.get("source")
            step["from"] = {"agent": source, "state": state if source == agent else None}
            step["to"] = {"agent": data.get("target"), "state": None}
        step.update(
            seq=None if seq == float("inf") else int(seq),
            at=iso(at),
            offset_ms=round((at - started) * 1000, 1),
            agent=agent,
            state=state,
        )
        steps.append(step)
    return steps
