"""The call store's schema, the same in SQLite and Postgres (version 1).

Times are seconds since the Unix epoch (UTC) as floating point; JSON columns hold JSON text. Every
row of a call carries `seq`, the recorder's count of the events it had seen when it wrote the row,
which orders rows across tables into the call's timeline.

`schema_version(version)`
    One row: the version of this schema the database holds. Created with the tables on first use.
`calls`: one row per call, written when the call starts, completed when it ends.
    id (text, primary key), frontend (`run`, `console`, `twilio`, `sip`), caller, graph (the graph's
    name), graph_hash (sha256 of its validated spec and the prompt files it names), started_at,
    ended_at and end_reason (null while the call runs or when the process died), dropped (events the
    recorder could not write).
`visits`: the agents and states the call went through, in order.
    call_id, seq, at, agent, state (null for an agent without an enforced state machine).
`turns`: the transcript, one row per conversation item.
    call_id, item_id, seq, role (`user`, `assistant`), agent (active when the turn began), started_at
    (first transcript delta, or speech start), ended_at (transcript done), text, played_ms (set when the
    caller interrupted the agent: how much of the turn they heard).
`tool_calls`: each tool the model called.
    call_id, tool_call_id, seq, agent, tool, arguments (JSON text, as the model sent it), output, ok,
    started_at, ended_at, duration_ms, steps (JSON list: an escalation's model and tool steps),
    escalation (1 for a tool of kind `escalate`).
`approvals`: each approval asked for (`needs_approval` tools and hosted MCP tools).
    call_id, tool_call_id, seq, agent, tool, arguments, policy (`auto`/`deny` when a policy decided),
    requested_at, decision (`approved`/`denied`, null until known), decided_at.
`guardrail_trips`: call_id, seq, at, agent, guardrail, category, rationale, text.
`usage`: each response's tokens: call_id, seq, at, response_id, input_tokens, output_tokens,
    total_tokens, details (the server's usage object, JSON).
`latencies`: caller stops speaking (speech stopped, or a text turn sent) to the agent's first audio:
    call_id, seq, at, item_id (the agent's item), ms.
`events`: everything else worth keeping (handoffs, refused transitions, errors, reconnects,
    interruptions, input timeouts, overflows): call_id, seq, at, type, data (JSON).
"""

from __future__ import annotations

VERSION = 1

#: Portable DDL: `{real}` and `{int}` become each database's 8-byte float and integer types.
_TABLES = """
CREATE TABLE IF NOT EXISTS schema_version (version {int} NOT NULL);
CREATE TABLE IF NOT EXISTS calls (
    id TEXT PRIMARY KEY,
    frontend TEXT NOT NULL,
    caller TEXT,
    graph TEXT NOT NULL,
    graph_hash TEXT NOT NULL,
    started_at {real} NOT NULL,
    ended_at {real},
    end_reason TEXT,
    dropped {int} NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS calls_started_at ON calls (started_at);
CREATE TABLE IF NOT EXISTS visits (
    call_id TEXT NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    seq {int} NOT NULL,
    at {real} NOT NULL,
    agent TEXT NOT NULL,
    state TEXT,
    PRIMARY KEY (call_id, seq)
);
CREATE TABLE IF NOT EXISTS turns (
    call_id TEXT NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    item_id TEXT NOT NULL,
    seq {int} NOT NULL,
    role TEXT NOT NULL,
    agent TEXT,
    started_at {real} NOT NULL,
    ended_at {real},
    text TEXT NOT NULL,
    played_ms {int},
    PRIMARY KEY (call_id, item_id)
);
CREATE TABLE IF NOT EXISTS tool_calls (
    call_id TEXT NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    tool_call_id TEXT NOT NULL,
    seq {int} NOT NULL,
    agent TEXT NOT NULL,
    tool TEXT NOT NULL,
    arguments TEXT NOT NULL,
    output TEXT,
    ok {int},
    started_at {real} NOT NULL,
    ended_at {real},
    duration_ms {real},
    steps TEXT NOT NULL,
    escalation {int} NOT NULL,
    PRIMARY KEY (call_id, tool_call_id)
);
CREATE TABLE IF NOT EXISTS approvals (
    call_id TEXT NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    tool_call_id TEXT NOT NULL,
    seq {int} NOT NULL,
    agent TEXT NOT NULL,
    tool TEXT NOT NULL,
    arguments TEXT NOT NULL,
    policy TEXT,
    requested_at {real} NOT NULL,
    decision TEXT,
    decided_at {real},
    PRIMARY KEY (call_id, tool_call_id)
);
CREATE TABLE IF NOT EXISTS guardrail_trips (
    call_id TEXT NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    seq {int} NOT NULL,
    at {real} NOT NULL,
    agent TEXT NOT NULL,
    guardrail TEXT NOT NULL,
    category TEXT NOT NULL,
    rationale TEXT NOT NULL,
    text TEXT NOT NULL,
    PRIMARY KEY (call_id, seq)
);
CREATE TABLE IF NOT EXISTS usage (
    call_id TEXT NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    seq {int} NOT NULL,
    at {real} NOT NULL,
    response_id TEXT NOT NULL,
    input_tokens {int},
    output_tokens {int},
    total_tokens {int},
    details TEXT NOT NULL,
    PRIMARY KEY (call_id, seq)
);
CREATE TABLE IF NOT EXISTS latencies (
    call_id TEXT NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    seq {int} NOT NULL,
    at {real} NOT NULL,
    item_id TEXT NOT NULL,
    ms {real} NOT NULL,
    PRIMARY KEY (call_id, seq)
);
CREATE TABLE IF NOT EXISTS events (
    call_id TEXT NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    seq {int} NOT NULL,
    at {real} NOT NULL,
    type TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (call_id, seq)
);
"""

#: The tables of a call's rows (not `calls` itself), with the columns that identify a row.
ROW_KEYS: dict[str, tuple[str, ...]] = {
    "visits": ("call_id", "seq"),
    "turns": ("call_id", "item_id"),
    "tool_calls": ("call_id", "tool_call_id"),
    "approvals": ("call_id", "tool_call_id"),
    "guardrail_trips": ("call_id", "seq"),
    "usage": ("call_id", "seq"),
    "latencies": ("call_id", "seq"),
    "events": ("call_id", "seq"),
}


def statements(*, real: str, integer: str) -> list[str]:
    """The DDL, one statement each, in a database's type names."""
    ddl = _TABLES.format(real=real, int=integer)
    return [s.strip() for s in ddl.split(";") if s.strip()]
