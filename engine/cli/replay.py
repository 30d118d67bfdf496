"""`engine replay events.jsonl`: a recorded call (from `engine run --events`) rendered in the terminal.

The file holds the wire: every client and server event with its time. What a reader wants from it:
the transcript, tool calls with their outputs, handoffs and state transitions, guardrail trips (the
engine's corrective system message), interruptions, errors, and timings: each line at its offset
from the start, each reply's wait for its first audio, and a summary. Lines that are not events
(a truncated last line, another program's output) are counted and skipped, never fatal.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._common import EXIT_FAIL, EXIT_OK

TRANSITION_TOOL = "transition_state"
HANDOFF_PREFIX = "transfer_to_"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, metavar="EVENTS.jsonl", help="an events file written by run --events")
    parser.add_argument("--no-times", action="store_true", help="leave out the time offsets")


def main(args: argparse.Namespace) -> int:
    try:
        with args.file.open(encoding="utf-8", errors="replace") as lines:
            rendered = Replay(times=not args.no_times).render(lines)
            for line in rendered:
                print(line)
    except OSError as exc:
        print(f"engine: cannot read {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAIL
    return EXIT_OK


@dataclass
class _Stats:
    start: float | None = None
    end: float = 0.0
    user_turns: int = 0
    responses: int = 0
    tools: int = 0
    handoffs: int = 0
    trips: int = 0
    errors: int = 0
    skipped: int = 0
    waits: list[float] = field(default_factory=list)  # response.create -> first audio or text, seconds
    tokens: int = 0


class Replay:
    """Turns the lines of an events file into lines for a terminal."""

    def __init__(self, *, times: bool = True) -> None:
        self._times = times
        self._stats = _Stats()
        self._agent: str | None = None
        self._calls: dict[str, str] = {}  # call id -> tool name
        self._asked_at: float | None = None  # the last response.create not yet answered with output
        self._handoff_calls: set[str] = set()

    def render(self, lines: Iterable[str]) -> Iterator[str]:
        for raw in lines:
            record = _record(raw)
            if record is None:
                if raw.strip():
                    self._stats.skipped += 1
                continue
            t, direction, event = record
            if self._stats.start is None:
                self._stats.start = t
            self._stats.end = max(self._stats.end, t)
            for text in self._event(t, direction, event):
                yield self._stamp(t, text)
        yield from self._summary()

    def _stamp(self, t: float, text: str) -> str:
        if not self._times:
            return text
        return f"{t - (self._stats.start or t):8.2f}s  {text}"

    def _event(self, t: float, direction: str, event: dict[str, Any]) -> Iterator[str]:
        kind = event.get("type")
        if direction == "client":
            yield from self._client(t, kind, event)
        elif direction == "server":
            yield from self._server(t, kind, event)

    def _client(self, t: float, kind: Any, event: dict[str, Any]) -> Iterator[str]:
        if kind == "response.create":
            self._asked_at = t
        elif kind == "response.cancel":
            yield "  ✗ reply cancelled"
        elif kind == "conversation.item.truncate":
            yield f"  ✂ audio of {_text(event.get('item_id'))} cut at {_text(event.get('audio_end_ms'))} ms"
        elif kind == "conversation.item.create":
            item = _dict(event.get("item"))
            if item.get("type") == "function_call_output":
                yield from self._tool_output(item)
            elif item.get("type") == "message":
                text = _content_text(item.get("content"))
                if item.get("role") == "system":  # the engine's corrective message after a guardrail trip
                    self._stats.trips += 1
                    yield f"  ⚠ guardrail: {_short(text, 300)}"
                else:
                    self._stats.user_turns += 1
                    yield f"user: {text}"

    def _server(self, t: float, kind: Any, event: dict[str, Any]) -> Iterator[str]:
        if kind in (
            "response.output_audio.delta",
            "response.output_audio_transcript.delta",
            "response.output_text.delta",
        ):
            if self._asked_at is not None:
                self._stats.waits.append(t - self._asked_at)
                self._asked_at = None
        elif kind == "response.created":
            self._stats.responses += 1
        elif kind in ("response.output_audio_transcript.done", "response.output_text.done"):
            text = _text(event.get("transcript") if "transcript" in event else event.get("text"))
            if not text.strip():  # a reply cut before it said anything
                return
            yield f"[{self._agent}] assistant: {text}" if self._agent else f"assistant: {text}"
        elif kind == "conversation.item.input_audio_transcription.completed":
            self._stats.user_turns += 1
            yield f"user (spoken): {_text(event.get('transcript'))}"
        elif kind == "response.output_item.done":
            item = _dict(event.get("item"))
            if item.get("type") == "function_call":
                yield from self._tool_call(item)
            if self._asked_at is not None:  # a reply of only a tool call: it answered
                self._asked_at = None
        elif kind == "response.done":
            usage = _dict(_dict(event.get("response")).get("usage"))
            total = usage.get("total_tokens")
            if isinstance(total, int):
                self._stats.tokens += total
        elif kind == "error" and _dict(event.get("error")).get("code") == "response_cancel_not_active":
            yield "    (the reply had already ended: nothing to cancel)"  # a cancel crossing the reply's end: harmless
        elif kind == "error":
            self._stats.errors += 1
            raw = event.get("error")
            error = _dict(raw)
            code, message = error.get("code"), error.get("message") or raw
            yield f"  ! error{f' {_text(code)}' if code else ''}: {_text(message)}"
        elif "malformed" in event:
            self._stats.errors += 1
            yield f"  ! a malformed frame: {_short(_text(event['malformed']), 120)}"

    def _tool_call(self, item: dict[str, Any]) -> Iterator[str]:
        name, call_id = _text(item.get("name")), _text(item.get("call_id"))
        self._calls[call_id] = name
        arguments = _text(item.get("arguments"))
        if name == TRANSITION_TOOL:
            target = _dict(_json(arguments)).get("to")
            yield f"  ⇢ transition → {_text(target)}"
        elif name.startswith(HANDOFF_PREFIX):
            self._handoff_calls.add(call_id)
        else:
            self._stats.tools += 1
            yield f"  ⚙ {name}({_short(arguments)})"

    def _tool_output(self, item: dict[str, Any]) -> Iterator[str]:
        call_id = _text(item.get("call_id"))
        name = self._calls.get(call_id, "a call")
        output = _text(item.get("output"))
        parsed = _json(output)
        target = parsed.get("assistant") if isinstance(parsed, dict) else None
        if isinstance(target, str) and (call_id in self._handoff_calls or name == TRANSITION_TOOL):
            self._stats.handoffs += 1
            yield f"  ⇢ handoff: {self._agent} → {target}" if self._agent else f"  ⇢ handoff → {target}"
            self._agent = target
        elif name == TRANSITION_TOOL:
            if isinstance(parsed, dict) and "error" in parsed:
                yield f"    ✗ refused: {_short(_text(parsed['error']), 200)}"
        else:
            failed = isinstance(parsed, dict) and set(parsed) == {"error"}
            yield f"  {'✗' if failed else '✓'} {name} → {_short(output, 300)}"

    def _summary(self) -> Iterator[str]:
        s = self._stats
        if s.start is None:
            yield "no events in the file" + (f" ({s.skipped} lines were not events)" if s.skipped else "")
            return
        parts = [
            f"{s.end - s.start:.1f}s",
            f"{s.user_turns} user turn{'s' * (s.user_turns != 1)}",
            f"{s.responses} repl{'ies' if s.responses != 1 else 'y'}",
            f"{s.tools} tool call{'s' * (s.tools != 1)}",
            f"{s.handoffs} handoff{'s' * (s.handoffs != 1)}",
        ]
        if s.trips:
            parts.append(f"{s.trips} guardrail trip{'s' * (s.trips != 1)}")
        if s.errors:
            parts.append(f"{s.errors} error{'s' * (s.errors != 1)}")
        if s.tokens:
            parts.append(f"{s.tokens} tokens")
        yield "—"
        yield "call: " + ", ".join(parts)
        if s.waits:
            median, worst = statistics.median(s.waits) * 1000, max(s.waits) * 1000
            yield f"first audio after a request: median {median:.0f} ms, slowest {worst:.0f} ms"
        if s.skipped:
            yield f"({s.skipped} line{' was' if s.skipped == 1 else 's were'} not events and skipped)"


def _record(raw: str) -> tuple[float, str, dict[str, Any]] | None:
    try:
        record = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(record, dict) or not isinstance(record.get("event"), dict):
        return None
    t = record.get("t")
    if not isinstance(t, int | float) or isinstance(t, bool):
        return None
    return float(t), str(record.get("direction")), record["event"]


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return "" if value is None else json.dumps(value, ensure_ascii=False, default=str)


def _content_text(content: Any) -> str:
    parts = content if isinstance(content, list) else []
    return "".join(_text(p.get("text") or p.get("transcript")) for p in parts if isinstance(p, dict))


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
