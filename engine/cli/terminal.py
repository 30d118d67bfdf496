"""The terminal frontend of `engine run`: session events as readable lines, typed lines as user turns.

Everything it writes goes through the secret filter (`SecretFilter`): the API key, credential
headers and the graph's secret header values never reach the terminal, even when a server's error
message quotes them or a secret arrives split across streamed deltas. The printer shows any event,
whatever its fields hold: a field of an unexpected type is shown as text, never a crash.
"""

from __future__ import annotations

import argparse
import asyncio
import codecs
import json
import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .. import logs
from ..errors import ConnectFailed, TransportClosed
from ..redact import MIN_SECRET_LENGTH, Redactor, auth_headers
from ..runtime import events as ev

if TYPE_CHECKING:
    from ..runtime import Decision, Session
    from ..spec import Document
    from .audio import AudioCall

_DECISIONS: dict[str, Decision] = {"y": "approve", "a": "always_approve", "v": "always_deny"}
# Query parameters that may carry a credential (Azure `api-key=`, signed URLs): never printed.
_SECRET_QUERY_WORDS = ("key", "token", "secret", "sig", "auth", "password")


class SecretFilter:
    """A text stream that replaces each secret written to it, even one split across writes: text that
    ends with the start of a secret is held back until the next write (or `flush()`) shows what follows."""

    def __init__(self, out: TextIO, secrets: Iterable[str]) -> None:
        self._out = out
        self._secrets = sorted({s for s in secrets if len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True)
        self._redact = Redactor(self._secrets)
        self._pending = ""

    def write(self, text: str) -> None:
        text = self._redact(self._pending + text)
        held = self._partial(text)
        self._pending = text[len(text) - held :] if held else ""
        self._out.write(text[: len(text) - held])

    def flush(self) -> None:
        """Flush the stream; what is held back stays held (it may still become a secret)."""
        self._out.flush()

    def release(self) -> None:
        """Write what is held back (no more text follows: it was no secret) and flush the stream."""
        if self._pending:
            self._out.write(self._pending)
            self._pending = ""
        self._out.flush()

    def _partial(self, text: str) -> int:
        """The length of the longest end of `text` that a secret starts with."""
        longest = 0
        for secret in self._secrets:
            for size in range(min(len(secret) - 1, len(text)), longest, -1):
                if text.endswith(secret[:size]):
                    longest = size
                    break
        return longest


def text_of(value: Any) -> str:
    """Any event field as text: strings as they are, other values as JSON (else their `str`)."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError, RecursionError):  # circular, or a default that raised
        try:
            return str(value)
        except Exception:
            return f"<{type(value).__name__}>"


class Printer:
    """Renders session events as readable lines; assistant transcripts stream as they arrive.

    With `asks`, this frontend answers approvals itself: a request is shown with its prompt (in event
    order, after what came before it), and `answered()` completes the prompt line. `secrets` are
    never written; `hidden` tells errors not to show (the CLI reports the simulator's refusals itself),
    and `blamed(tool)` what really made a tool fail, when the failure's own words would mislead.
    """

    def __init__(
        self,
        session: Session,
        out: TextIO = sys.stdout,
        *,
        asks: bool = False,
        secrets: Iterable[str] = (),
        hidden: Callable[[ev.Error], bool] | None = None,
        blamed: Callable[[str], str | None] | None = None,
    ) -> None:
        self._session = session
        self._out = SecretFilter(out, secrets)
        self._asks = asks
        self._hidden = hidden
        self._blamed = blamed
        self._streaming: str | None = None  # item id of the reply being streamed on the open line
        self._prompting: str | None = None  # call id of the approval prompt open on the line
        self._prompted: set[str] = set()  # prompts shown and not yet answered
        self._early: dict[str, str] = {}  # answers given before their prompt was shown

    async def run(self) -> None:
        with logs.line_breaker(self.end_line):  # a log record never lands in the middle of a reply
            async for event in self._session:
                self.show(event)
        self._out.release()

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
        """Write `event`; an event that cannot be shown is one line saying so, never an exception."""
        try:
            self._show(event)
        except Exception as exc:  # a field of a type no frontend expects: say so, keep the conversation
            self._line(f"  ! an event the terminal cannot show ({type(event).__name__}: {type(exc).__name__})")

    def _show(self, event: ev.SessionEvent) -> None:
        t = text_of
        match event:
            case ev.TranscriptDelta(role="assistant", item_id=item_id, delta=delta, done=done):
                self._assistant(t(item_id), t(delta), bool(done))
            case ev.TranscriptDelta(role="user", delta=delta, done=True) if t(delta).strip():
                self._line(f"user: {t(delta)}")  # a spoken turn streams in pieces: shown once, whole
            case ev.TranscriptDelta(role="user"):
                pass
            case ev.HandoffEvent(source=source, target=target):
                self._line(f"  ⇢ handoff: {t(source)} → {t(target)}")
            case ev.CallTransferred(agent=agent, to=to):
                self._line(f"  ☎ {t(agent)} transferred the call to {t(to)}")
            case ev.CallEnded(reason=reason):
                self._line(f"  ☎ call ended ({t(reason)})")

            case ev.StateChanged(agent=agent, source=source, target=target):
                self._line(f"  ⇢ state: {t(agent)} {t(source)} → {t(target)}")
            case ev.TransitionRefused(agent=agent, target=target, reason=reason):
                self._line(f"  ✗ transition to {t(target)} refused ({t(agent)}): {t(reason)}")
            case ev.ToolStart(tool=tool, arguments=arguments):
                self._line(f"  ⚙ {t(tool)}({short(t(arguments))})")
            case ev.ToolEnd(tool=tool, output=output, ok=ok, steps=steps):
                for step in steps if isinstance(steps, list | tuple) else [steps]:
                    self._line(f"    ↳ {_step(step)}")
                cause = self._blamed(t(tool)) if self._blamed is not None and not ok else None
                shown = short(t(output), 300) if cause is None else cause
                self._line(f"  {'✓' if ok else '✗'} {t(tool)} → {shown}")
            case ev.ApprovalRequested():
                self._approval(event)
            case ev.GuardrailTripped(guardrail=name, category=category, rationale=rationale):
                self._line(f"  ⚠ guardrail {t(name)} tripped: {t(category)} ({t(rationale)})")
            case ev.AudioInterrupted(item_id=item_id, played_ms=played):
                self._line(f"  ✂ audio of {t(item_id)} truncated at {t(played)} ms")
            case ev.Reconnecting(reason=reason):
                self._line(f"  ↻ connection lost ({t(reason)}); reconnecting")
            case ev.Reconnected(attempt=attempt, restored_items=restored):
                self._line(f"  ↻ reconnected (attempt {t(attempt)}); restored {t(restored)} conversation items")
            case ev.Error(message=message, code=code):
                if self._hidden is None or not self._hidden(event):
                    self._line(f"  ! error{f' {t(code)}' if code else ''}: {t(message)}")
            case ev.Overflow(dropped=dropped):
                self._line(f"  ! the terminal fell behind: {t(dropped)} events were not shown")
            case _:
                pass

    def _assistant(self, item_id: str, delta: str, done: bool) -> None:
        if done:
            if self._streaming == item_id:
                self.end_line()
            return
        if self._streaming != item_id:
            self.end_line()
            self._out.write(f"[{text_of(self._session.agent)}] assistant: ")
            self._streaming = item_id
        self._out.write(delta)
        self._out.flush()

    def _approval(self, request: ev.ApprovalRequested) -> None:
        tool = text_of(request.tool)
        call = f"{tool}({short(text_of(request.arguments))})"
        if request.policy == "auto":
            self._line(f"  ✓ auto-approved {call}")
        elif request.policy == "deny":
            self._line(f"  ✗ {call} denied by policy")
        elif not self._asks:
            self._line(f"  ? approval requested for {call}")  # someone else answers (approve()/reject())
        else:
            self._prompt(text_of(request.call_id), call, tool)

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


def short(text: str, limit: int = 160) -> str:
    """`text` on one line, cut to `limit` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _step(step: Any) -> str:
    if not isinstance(step, dict):
        return short(text_of(step), 200)
    if "call" in step or step.get("type") == "function_call":
        name = text_of(step.get("call") or step.get("name"))
        return f"{name}({short(text_of(step.get('arguments', step.get('args', ''))), 80)})"
    return short(text_of(step), 200)


def new_session(doc: Document, args: argparse.Namespace, **options: Any) -> Session | None:
    """The session, or None (reported) when its events file cannot be written."""
    from ..runtime import Session

    try:
        return Session(doc, events_file=args.events, **options)
    except OSError as exc:
        if args.events is None or exc.filename != str(args.events):
            raise
        print(f"engine: cannot write the events file {args.events}: {exc.strerror or exc}", file=sys.stderr)
        return None


async def converse_live(doc: Document, args: argparse.Namespace, secrets: list[str], call: AudioCall | None) -> int:
    """A live conversation: connect, then each typed line is a user turn, until an empty line or the end
    (with `call`, the caller speaks from a file or the microphone instead)."""
    from ..runtime.session import OPENAI_REALTIME_URL
    from ._record import recorded

    headers = dict(args.header)
    keyboard = _Keyboard()
    approvals = _Approvals(keyboard)
    asks = args.approve == "ask"
    session = new_session(
        doc,
        args,
        url=args.url,
        headers=headers,
        call_id=args.call_id,
        approval=approvals if asks else args.approve,
        on_audio=call.on_audio if call is not None else None,
    )
    if session is None:
        return 1
    printer = approvals.printer = Printer(session, asks=asks, secrets=secrets)
    async with recorded(session, doc, frontend="run", db=args.db, secrets=secrets):
        failure = await _connect(session, headers)
        redact = Redactor(secrets)
        if failure is not None:
            where = _public_url(args.url or OPENAI_REALTIME_URL)
            print(f"engine: cannot connect to {where}: {redact(failure)}", file=sys.stderr)
            return 1
        where = _public_url(args.url) if args.url else "OpenAI"
        how = "Speaking from the caller's audio" if call is not None else "Type a message; an empty line or Ctrl-D ends"
        print(f"Connected to {where} as '{doc.spec.graph}'. {how}.", flush=True)
        printing = asyncio.create_task(printer.run())
        try:
            if call is not None:
                await call.converse(session, opens=True)
            else:
                keyboard.start()
                await _converse(session, keyboard)
        except ConnectionError:  # lost for good: the printer shows the session's fatal error
            return 1
        finally:
            await session.close()
            await printing
    if call is not None and (unwritten := call.finish()) is not None:
        print(f"engine: {unwritten}", file=sys.stderr)
        return 1
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
