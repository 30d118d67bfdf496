"""`engine run`: a terminal frontend. Live with a key, else a replay of the demo on the simulator."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import Any, TextIO

from ..spec import Document
from . import events as ev
from .replay import replay
from .session import Decision, Session


class Printer:
    """Renders session events as readable lines; assistant transcripts stream as they arrive."""

    def __init__(self, session: Session, out: TextIO = sys.stdout) -> None:
        self._session = session
        self._out = out
        self._streaming: str | None = None

    def _line(self, text: str) -> None:
        self._end_stream()
        self._out.write(text + "\n")
        self._out.flush()

    def _end_stream(self) -> None:
        if self._streaming is not None:
            self._out.write("\n")
            self._streaming = None

    async def run(self) -> None:
        async for event in self._session:
            self.show(event)

    def show(self, event: ev.SessionEvent) -> None:
        match event:
            case ev.TranscriptDelta(role="assistant", item_id=item_id, delta=delta, done=done):
                if done:
                    if self._streaming == item_id:
                        self._end_stream()
                    return
                if self._streaming != item_id:
                    self._end_stream()
                    self._out.write(f"[{self._session.agent}] assistant: ")
                    self._streaming = item_id
                self._out.write(delta)
                self._out.flush()
            case ev.TranscriptDelta(role="user", delta=delta):
                self._line(f"user: {delta}")
            case ev.HandoffEvent(source=source, target=target):
                self._line(f"  ⇢ handoff: {source} → {target}")
            case ev.StateChanged(agent=agent, source=source, target=target):
                self._line(f"  ⇢ state: {agent} {source} → {target}")
            case ev.TransitionRefused(agent=agent, target=target, reason=reason):
                self._line(f"  ✗ transition to {target} refused ({agent}): {reason}")
            case ev.ToolStart(tool=tool, arguments=arguments):
                self._line(f"  ⚙ {tool}({_short(arguments)})")
            case ev.ToolEnd(tool=tool, output=output, ok=ok, steps=steps):
                for step in steps:
                    self._line(f"    ↳ {_step(step)}")
                self._line(f"  {'✓' if ok else '✗'} {tool} → {_short(output, 300)}")
            case ev.ApprovalRequested(tool=tool, arguments=arguments):
                self._line(f"  ? approval requested for {tool}({_short(arguments)})")
            case ev.GuardrailTripped(guardrail=name, category=category, rationale=rationale):
                self._line(f"  ⚠ guardrail {name} tripped: {category} ({rationale})")
            case ev.AudioInterrupted(item_id=item_id, played_ms=played):
                self._line(f"  ✂ audio of {item_id} truncated at {played} ms")
            case ev.Reconnected(attempt=attempt, restored_items=restored):
                self._line(f"  ↻ reconnected (attempt {attempt}); restored {restored} conversation items")
            case ev.Error(message=message, code=code):
                self._line(f"  ! error{f' {code}' if code else ''}: {message}")
            case _:
                pass


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _step(step: dict[str, Any]) -> str:
    if "call" in step or step.get("type") == "function_call":
        name = step.get("call") or step.get("name")
        return f"{name}({_short(str(step.get('arguments', step.get('args', ''))), 80)})"
    return _short(json.dumps(step), 200)


def _headers(pairs: list[str]) -> dict[str, str]:
    headers = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"engine: --header takes NAME=VALUE, got {pair!r}")
        headers[name.strip()] = value
    return headers


def run_command(doc: Document, args: argparse.Namespace) -> int:
    headers = _headers(args.header)
    live = bool(os.environ.get("OPENAI_API_KEY") or args.url) and not args.simulate
    try:
        return asyncio.run(_live(doc, args, headers) if live else _offline(doc, args))
    except KeyboardInterrupt:
        return 130


async def _offline(doc: Document, args: argparse.Namespace) -> int:
    from ..sim import Simulator

    demo = doc.spec.demo
    if demo is None:
        print(f"engine: {doc.file} has no `demo:` conversation to replay; set OPENAI_API_KEY to run it live.")
        return 1
    print(f"No OPENAI_API_KEY: replaying the demo conversation of '{doc.spec.graph}' on the built-in simulator.")
    approval = "auto" if args.approve == "ask" else args.approve
    async with Simulator(demo) as sim:
        session = Session(
            doc, url=sim.url, api_key="sim-key", agent=demo.agent, context=demo.context,
            approval=approval, events_file=args.events,
        )  # fmt: skip
        async with session:
            printer = asyncio.create_task(Printer(session).run())
            await replay(session, demo)
        await printer
        problems = [*sim.script_errors, *sim.mismatches]
    for problem in problems:
        print(f"engine: the replay went off script: {problem}", file=sys.stderr)
    print(f"Replay finished on agent '{session.agent}'.")
    return 1 if problems else 0


async def _live(doc: Document, args: argparse.Namespace, headers: dict[str, str]) -> int:
    loop = asyncio.get_running_loop()
    said: asyncio.Queue[str | None] = asyncio.Queue()  # lines for the conversation
    pending: list[asyncio.Future[str]] = []  # approval prompts waiting for a line

    def route(line: str | None) -> None:
        if line is not None and pending:
            pending.pop(0).set_result(line)
        else:
            said.put_nowait(line)

    def read_stdin() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(route, line.rstrip("\n"))
        loop.call_soon_threadsafe(route, None)

    async def ask(request: ev.ApprovalRequested) -> Decision:
        prompt = f"Run {request.tool}({_short(request.arguments)})? [y]es / [n]o / [a]lways / ne[v]er: "
        print(prompt, end="", flush=True)
        pending.append(loop.create_future())
        answer = (await pending[-1]).strip().lower()[:1]
        return {"y": "approve", "a": "always_approve", "v": "always_deny"}.get(answer, "deny")  # type: ignore[return-value]

    approval: Any = ask if args.approve == "ask" else args.approve
    session = Session(
        doc, url=args.url, headers=headers, call_id=args.call_id, approval=approval, events_file=args.events
    )
    where = args.url or "OpenAI"
    print(f"Connected to {where} as '{doc.spec.graph}'. Type a message; an empty line or Ctrl-D ends.")
    async with session:
        printer = asyncio.create_task(Printer(session).run())
        loop.run_in_executor(None, read_stdin)
        await session.request_response()  # the agent opens the call, as a phone line does
        await _settle(session)
        while (line := await said.get()) is not None and line.strip():
            await session.send_text(line)
            await _settle(session)
    await printer
    return 0


async def _settle(session: Session) -> None:
    """Wait for the turn to finish (tools, escalations and approvals included) before the next line."""
    try:
        await session.wait_idle(timeout=600)
    except TimeoutError:
        print("engine: the turn is taking long; continuing", file=sys.stderr)
