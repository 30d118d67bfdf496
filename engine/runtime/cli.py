"""`engine run`: a terminal frontend. Live with a key, else a replay of the demo on the simulator."""

from __future__ import annotations

import argparse
import asyncio
import codecs
import json
import os
import sys
import threading
from collections.abc import Iterator
from typing import Any, TextIO
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .. import logs
from ..redact import Redactor, auth_headers
from ..spec import Document
from . import events as ev
from .replay import replay
from .session import OPENAI_REALTIME_URL, Decision, Session
from .transport import ConnectFailed, TransportClosed

_DECISIONS: dict[str, Decision] = {"y": "approve", "a": "always_approve", "v": "always_deny"}
# Query parameters that may carry a credential (Azure `api-key=`, signed URLs): never printed.
_SECRET_QUERY_WORDS = ("key", "token", "secret", "sig", "auth", "password")


class Printer:
    """Renders session events as readable lines; assistant transcripts stream as they arrive.

    With `asks`, this frontend answers approvals itself: a request is shown with its prompt (in event
    order, after what came before it), and `answered()` completes the prompt line.
    """

    def __init__(self, session: Session, out: TextIO = sys.stdout, *, asks: bool = False) -> None:
        self._session = session
        self._out = out
        self._asks = asks
        self._streaming: str | None = None  # item id of the reply being streamed on the open line
        self._prompting: str | None = None  # call id of the approval prompt open on the line
        self._prompted: set[str] = set()  # prompts shown and not yet answered
        self._early: dict[str, str] = {}  # answers given before their prompt was shown

    async def run(self) -> None:
        with logs.line_breaker(self.end_line):  # a log record never lands in the middle of a reply
            async for event in self._session:
                self.show(event)

    def end_line(self) -> None:
        """End the open line (a streaming reply or a prompt), so that what follows starts a line."""
        if self._streaming is not None or self._prompting is not None:
            self._streaming = self._prompting = None
            self._out.write("\n")
            self._out.flush()

    def answered(self, call_id: str, answer: str, *, echoed: bool) -> None:
        """The answer to approval `call_id`; `echoed`: the terminal already showed it as it was typed."""
        if call_id not in self._prompted:
            self._early[call_id] = answer  # written after the prompt, when it is shown
        elif self._prompting == call_id:
            self._prompted.discard(call_id)
            self._prompting = None
            if not echoed:
                self._out.write(answer + "\n")
                self._out.flush()
        else:  # other output came between the prompt and its answer
            self._prompted.discard(call_id)
            if not echoed:
                self._line(f"    ↳ answer: {answer}")

    def _line(self, text: str) -> None:
        self.end_line()
        self._out.write(text + "\n")
        self._out.flush()

    def show(self, event: ev.SessionEvent) -> None:
        match event:
            case ev.TranscriptDelta(role="assistant", item_id=item_id, delta=delta, done=done):
                self._assistant(item_id, delta, done)
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
            case ev.ApprovalRequested():
                self._approval(event)
            case ev.GuardrailTripped(guardrail=name, category=category, rationale=rationale):
                self._line(f"  ⚠ guardrail {name} tripped: {category} ({rationale})")
            case ev.AudioInterrupted(item_id=item_id, played_ms=played):
                self._line(f"  ✂ audio of {item_id} truncated at {played} ms")
            case ev.Reconnecting(reason=reason):
                self._line(f"  ↻ connection lost ({reason}); reconnecting")
            case ev.Reconnected(attempt=attempt, restored_items=restored):
                self._line(f"  ↻ reconnected (attempt {attempt}); restored {restored} conversation items")
            case ev.Error(message=message, code=code):
                self._line(f"  ! error{f' {code}' if code else ''}: {message}")
            case _:
                pass

    def _assistant(self, item_id: str, delta: str, done: bool) -> None:
        if done:
            if self._streaming == item_id:
                self.end_line()
            return
        if self._streaming != item_id:
            self.end_line()
            self._out.write(f"[{self._session.agent}] assistant: ")
            self._streaming = item_id
        self._out.write(delta)
        self._out.flush()

    def _approval(self, request: ev.ApprovalRequested) -> None:
        call = f"{request.tool}({_short(request.arguments)})"
        if request.policy == "auto":
            self._line(f"  ✓ auto-approved {call}")
        elif request.policy == "deny":
            self._line(f"  ✗ {call} denied by policy")
        elif not self._asks:
            self._line(f"  ? approval requested for {call}")  # someone else answers (approve()/reject())
        else:
            self._prompt(request.call_id, call, request.tool)

    def _prompt(self, call_id: str, call: str, tool: str) -> None:
        self._line(f"  ? approval requested for {call}")
        self._out.write(f"Run {tool}? [y]es / [n]o / [a]lways / ne[v]er: ")
        if call_id in self._early:
            self._out.write(self._early.pop(call_id) + "\n")
        else:
            self._prompted.add(call_id)
            self._prompting = call_id
        self._out.flush()


class _Keyboard:
    """Lines typed on standard input, in order, for the conversation and for approval prompts alike.

    A daemon thread reads them: a read blocked on a terminal must not keep the process alive once
    the conversation is over (asyncio.run waits for its default executor's threads).
    """

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._lines: asyncio.Queue[str | None] = asyncio.Queue()
        self.echoed = _is_terminal(sys.stdin)  # a terminal shows what is typed; a pipe does not

    def start(self) -> None:
        threading.Thread(target=self._read, name="engine-stdin", daemon=True).start()

    async def next_line(self) -> str | None:
        """The next line, or None at the end of input (then for every caller, every time)."""
        line = await self._lines.get()
        if line is None:
            self._lines.put_nowait(None)  # concurrent and later readers see the end too
        return line

    def _read(self) -> None:
        try:
            for line in _stdin_lines():
                self._loop.call_soon_threadsafe(self._lines.put_nowait, line)
            self._loop.call_soon_threadsafe(self._lines.put_nowait, None)
        except RuntimeError:  # the loop is closed: the conversation is over, nobody is listening
            pass


class _Approvals:
    """Answers approval requests with the next typed line; at the end of input, denies."""

    def __init__(self, keyboard: _Keyboard) -> None:
        self._keyboard = keyboard
        self.printer: Printer | None = None  # set once the session (which the printer reads) exists

    async def __call__(self, request: ev.ApprovalRequested) -> Decision:
        answer = await self._keyboard.next_line()
        if answer is None:
            self._answered(request.call_id, "(end of input: denied)", echoed=False)
            return "deny"
        self._answered(request.call_id, answer, echoed=self._keyboard.echoed)
        return _DECISIONS.get(answer.strip().lower()[:1], "deny")

    def _answered(self, call_id: str, answer: str, *, echoed: bool) -> None:
        if self.printer is not None:
            self.printer.answered(call_id, answer, echoed=echoed)


def _is_terminal(stream: TextIO | None) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError):  # a replaced or closed stdin
        return False


def _stdin_lines() -> Iterator[str]:
    """Lines of standard input, without their line ends. Read from the file descriptor when there is
    one: a thread abandoned at exit must not hold the lock of `sys.stdin` (a fatal error at shutdown)."""
    stdin = sys.stdin
    if stdin is None:
        return
    try:
        fd = stdin.fileno()
    except (AttributeError, OSError, ValueError):  # replaced by an in-memory stream
        for line in stdin:
            yield line.rstrip("\r\n")
        return
    yield from _fd_lines(fd, stdin.encoding or "utf-8")


def _fd_lines(fd: int, encoding: str) -> Iterator[str]:
    decoder = codecs.getincrementaldecoder(encoding)("replace")
    pending = ""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # the terminal hung up: the same as the end of input
            break
        if not chunk:
            break
        *lines, pending = (pending + decoder.decode(chunk)).split("\n")
        for line in lines:
            yield line.removesuffix("\r")
    pending += decoder.decode(b"", final=True)
    if pending:
        yield pending.removesuffix("\r")


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _step(step: dict[str, Any]) -> str:
    if "call" in step or step.get("type") == "function_call":
        name = step.get("call") or step.get("name")
        return f"{name}({_short(str(step.get('arguments', step.get('args', ''))), 80)})"
    return _short(json.dumps(step), 200)


def _new_session(doc: Document, args: argparse.Namespace, **options: Any) -> Session | None:
    """The session, or None (reported) when its events file cannot be written."""
    try:
        return Session(doc, events_file=args.events, **options)
    except OSError as exc:
        if args.events is None or exc.filename != str(args.events):
            raise
        print(f"engine: cannot write the events file {args.events}: {exc.strerror or exc}", file=sys.stderr)
        return None


def run_command(doc: Document, args: argparse.Namespace) -> int:
    headers = dict(args.header)
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
        session = _new_session(
            doc, args, url=sim.url, api_key="sim-key", agent=demo.agent, context=demo.context, approval=approval
        )
        if session is None:
            return 1
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
    keyboard = _Keyboard()
    approvals = _Approvals(keyboard)
    asks = args.approve == "ask"
    session = _new_session(
        doc, args, url=args.url, headers=headers, call_id=args.call_id, approval=approvals if asks else args.approve
    )
    if session is None:
        return 1
    printer = approvals.printer = Printer(session, asks=asks)
    failure = await _connect(session, headers)
    if failure is not None:
        where = _public_url(args.url or OPENAI_REALTIME_URL)
        print(f"engine: cannot connect to {where}: {_scrub(failure, headers)}", file=sys.stderr)
        return 1
    where = _public_url(args.url) if args.url else "OpenAI"
    print(f"Connected to {where} as '{doc.spec.graph}'. Type a message; an empty line or Ctrl-D ends.", flush=True)
    printing = asyncio.create_task(printer.run())
    try:
        keyboard.start()
        await _converse(session, keyboard)
    except ConnectionError:  # lost for good: the printer shows the session's fatal error
        return 1
    finally:
        await session.close()
        await printing
    return 0


async def _converse(session: Session, keyboard: _Keyboard) -> None:
    await session.request_response()  # the agent opens the call, as a phone line does
    await _settle(session)
    while (line := await keyboard.next_line()) is not None and line.strip():
        await session.send_text(line)
        await _settle(session)


async def _settle(session: Session) -> None:
    """Wait for the turn to finish (tools, escalations and approvals included) before the next line."""
    try:
        await session.wait_idle(timeout=600)
    except TimeoutError:
        print("engine: the turn is taking long; continuing", file=sys.stderr)


# --- connection failures -----------------------------------------------------------------------------


async def _connect(session: Session, headers: dict[str, str]) -> str | None:
    """Connect the session; None once connected, else why not, in words (the session is closed then)."""
    try:
        await session.connect()
    except Exception as exc:
        await session.close()
        reason = _connect_failure(exc, headers)
        if reason is None:
            raise  # not a connection problem: a bug, reported as one
        return reason
    return None


def _connect_failure(exc: BaseException, headers: dict[str, str]) -> str | None:
    """What went wrong connecting, for a user to act on; None for an error that is not about connecting."""
    if isinstance(exc, ConnectFailed):
        return exc.reason + (_status_hint(exc.status, headers) if exc.status is not None else "")
    if isinstance(exc, TransportClosed):
        return f"the server closed the connection at once ({exc})"
    return None


def _status_hint(status: int, headers: dict[str, str]) -> str:
    if status in (401, 403):
        if auth_headers(headers):
            return " (check the credentials given with --header)"
        return " (check OPENAI_API_KEY)" if os.environ.get("OPENAI_API_KEY") else " (OPENAI_API_KEY is not set)"
    if status == 404:
        return " (check the URL)"
    return ""


def _scrub(text: str, headers: dict[str, str]) -> str:
    """`text` without the API key or credential headers, should an error message ever quote them."""
    return Redactor([os.environ.get("OPENAI_API_KEY", ""), *auth_headers(headers).values()])(text)


def _public_url(url: str) -> str:
    """`url` fit to print: values of query parameters that may be credentials are hidden."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    query = [
        (name, "<redacted>" if any(word in name.lower() for word in _SECRET_QUERY_WORDS) else value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit(parts._replace(query=urlencode(query, safe="<>")))
