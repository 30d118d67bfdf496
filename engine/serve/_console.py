"""One browser call: the console's websocket on one side, an engine `Session` on the other.

The browser sends JSON control messages as text frames and its microphone as binary frames (PCM16
or μ-law at the session rate, as the call's codec says). The server sends JSON text frames: the
session's typed events, the agent's audio (base64, forwarded as the session received it) and the
realtime wire itself (every client and server event, audio elided, secrets redacted). Tools,
handoffs, guardrails and escalations run here; the API key never leaves the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson

from ..runtime import PlaybackClock, Session
from ..runtime import events as ev
from ..runtime.graph_runtime import GraphRuntime
from ..spec import Document
from ._calls import OpenCall, ServeConfig, open_call
from ._catalog import CODEC_RATES, Catalog, Codec
from ._wire import Direction, TappedTransport

log = logging.getLogger("engine.serve")

#: Messages waiting for a slow browser before the call is ended rather than memory grown.
_OUTBOX_LIMIT = 4096
#: Audio-delta wire entries held for the next audio message at most (deltas of a cut item come
#: without one): past this they go out on their own.
_HELD_WIRE_LIMIT = 64


class CallRefused(Exception):
    """The browser asked for a call the server cannot start; the message says why, for the page."""


@dataclass(frozen=True)
class CallOptions:
    scenario: str
    codec: Codec = "pcm16"
    push_to_talk: bool = False

    @classmethod
    def parse(cls, message: Any) -> CallOptions:
        """The options of a `start` message; raise `CallRefused` when they make no sense."""
        if not isinstance(message, dict) or message.get("type") != "start":
            raise CallRefused("the first message of a call is {'type': 'start', 'scenario': ...}")
        scenario, codec = message.get("scenario"), message.get("codec", "pcm16")
        if not isinstance(scenario, str):
            raise CallRefused("'scenario' is the id of one of the scenarios listed at /api/scenarios")
        if codec not in CODEC_RATES:
            raise CallRefused(f"unknown codec {codec!r}; choose one of {', '.join(CODEC_RATES)}")
        return cls(scenario, codec, bool(message.get("push_to_talk", False)))


class ConsoleCall:
    """Runs one call for one browser websocket. `send` delivers a text frame to the browser."""

    def __init__(
        self,
        catalog: Catalog,
        config: ServeConfig,
        options: CallOptions,
        send: Callable[[str], Awaitable[None]],
        runtime_for: Callable[[Document], GraphRuntime] | None = None,
        store: Any = None,
    ):
        scenario = catalog.get(options.scenario)
        if scenario is None:
            raise CallRefused(f"no scenario '{options.scenario}' (known: {', '.join(catalog.scenarios) or 'none'})")
        if not config.live and not scenario.simulated_ok:
            raise CallRefused(
                f"'{scenario.name}' has no demo conversation to replay, and the server has no OPENAI_API_KEY"
            )
        self.id = f"call_{uuid.uuid4().hex[:12]}"
        self.scenario = scenario
        self.options = options
        self.config = config
        self.doc = scenario.variant(options.codec, push_to_talk=options.push_to_talk)
        # Live calls of one graph share its runtime (compiler cache, toolbox, clients); a simulated call
        # has its own simulator, whose Responses endpoint its runtime must use, so it has its own runtime.
        self._runtime_for = runtime_for if config.live else None
        self._store = store
        self.started = time.time()
        self.ended: str | None = None
        self.browser_left = False  # its websocket is gone: nothing more can be sent on it
        self._send = send
        self._outbox: asyncio.Queue[str | None] = asyncio.Queue()
        self._held_wire: list[str] = []  # wire entries of agent audio deltas, for the next audio message
        self._call: OpenCall | None = None
        self._session: Session | None = None
        self._transport = TappedTransport(self._wire, [config.api_key])
        self.playback = PlaybackClock()
        self._done = asyncio.Event()

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the session (and the simulator offline); raises `ConnectFailed` when it cannot connect."""
        self._call = await open_call(
            self.doc,
            self.config,
            runtime_for=self._runtime_for,
            playback=self.playback,
            transport=self._transport,
            store=self._store,
            frontend="console",
            on_audio=self._audio,  # straight from the listener to the outbox: no queue between
        )
        self._session = self._call.session
        self._subscription = self._session.subscribe()
        try:
            await self._call.connect()
        except BaseException:
            self._session = None
            await self._transport.aclose()
            raise
        self._post(
            {
                "type": "ready",
                "call": {
                    "id": self.id,
                    "scenario": self.scenario.id,
                    "name": self.scenario.name,
                    "simulated": not self.config.live,
                    "api": self.config.api_for(self.doc),
                    "codec": self.options.codec,
                    "rate": CODEC_RATES[self.options.codec],
                    "push_to_talk": self.options.push_to_talk,
                    "agent": self._session.agent,
                    "state": self._session.state,
                },
            }
        )

    async def run(self, receive: Callable[[], Awaitable[dict[str, Any]]]) -> None:
        """Pump events out and browser messages in until either side ends the call."""
        session = self._session
        assert session is not None
        tasks = [
            asyncio.create_task(self._write(), name=f"{self.id}-write"),
            asyncio.create_task(self._events(), name=f"{self.id}-events"),
            asyncio.create_task(self._read(receive, session), name=f"{self.id}-read"),
            asyncio.create_task(self._done.wait(), name=f"{self.id}-done"),
        ]
        assert self._call is not None
        await self._call.greet()  # the agent opens the call, as a phone line does
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await self.close(self.ended or "ended")
            for task in tasks[1:]:
                task.cancel()
            # The writer sends what is left (the `ended` message) and stops at the sentinel.
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(tasks[0], 2.0)
            tasks[0].cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def end(self, reason: str) -> None:
        """End the call from outside (a draining server); `run` closes it."""
        self.ended = self.ended or reason
        self._done.set()

    async def close(self, reason: str) -> None:
        if self._session is None:
            return
        self.ended = self.ended or reason
        session, self._session = self._session, None
        assert self._call is not None
        await self._call.close(self.ended)
        await self._transport.aclose()
        problems = self._call.off_script
        record = self._call.recorder.id if self._call.recorder is not None else None
        ended = {"type": "ended", "reason": self.ended, "agent": session.agent, "off_script": problems}
        self._post({**ended, "record": record})
        self._outbox.put_nowait(None)

    # --- server to browser --------------------------------------------------------------------

    def _post(self, message: dict[str, Any]) -> None:
        message["t"] = round(time.time() * 1000)
        # orjson writes the event dataclasses as they are (a tenth of asdict + json.dumps' time);
        # anything it does not know is written as its text, never an error that ends the call.
        self._put(orjson.dumps(message, default=str).decode())

    def _put(self, text: str) -> None:
        if self._held_wire:  # the wire entries held for an audio message go first, in order
            held, self._held_wire = self._held_wire, []
            for entry in held:
                self._enqueue(entry)
        self._enqueue(text)

    def _enqueue(self, text: str) -> None:
        if self._outbox.qsize() >= _OUTBOX_LIMIT:
            self.end("the browser is not keeping up")
            return
        self._outbox.put_nowait(text)

    def _audio(self, audio: ev.Audio) -> None:
        # Ids and base64 need no escaping: built directly, the hot path skips json.dumps. The wire
        # entry of the delta rides along (one browser message per agent frame, not two).
        wire, self._held_wire = ",".join(self._held_wire), []
        self._enqueue(f'{{"type":"audio","item_id":"{audio.item_id}","data":"{audio.data}","wire":[{wire}]}}')

    def _wire(self, direction: Direction, text: str, audio: bool) -> None:
        entry = f'{{"type":"wire","dir":"{direction}","t":{round(time.time() * 1000)},"event":{text}}}'
        if audio and len(self._held_wire) < _HELD_WIRE_LIMIT:
            self._held_wire.append(entry)
        else:
            self._put(entry)

    async def _write(self) -> None:
        while (text := await self._outbox.get()) is not None:
            await self._send(text)

    async def _events(self) -> None:
        async for event in self._subscription:
            self._post({"type": "event", "event": event})
            if isinstance(event, ev.Error) and event.fatal:
                self.ended = self.ended or f"connection lost: {event.message}"
                return
            if isinstance(event, ev.CallEnded):  # the graph's end_call or transfer: the call is over
                self.end("transferred" if event.reason == "transferred" else "the agent ended the call")
                return

    # --- browser to server --------------------------------------------------------------------

    async def _read(self, receive: Callable[[], Awaitable[dict[str, Any]]], session: Session) -> None:
        try:
            await self._read_until_done(receive, session)
        except ConnectionError as exc:  # the session's connection is gone for good: the call is over
            self.ended = self.ended or f"connection lost: {exc}"

    async def _read_until_done(self, receive: Callable[[], Awaitable[dict[str, Any]]], session: Session) -> None:
        while True:
            message = await receive()
            if message.get("type") == "websocket.disconnect":
                self.browser_left = True
                self.ended = self.ended or "the browser left"
                return
            data = message.get("bytes")
            if data is not None:
                await session.send_audio(data)
                continue
            try:
                command = json.loads(message.get("text") or "")
            except ValueError:
                self._post({"type": "error", "message": "a text frame is one JSON object"})
                continue
            if not isinstance(command, dict):
                self._post({"type": "error", "message": "a text frame is one JSON object"})
                continue
            if command.get("type") == "stop":
                self.ended = "stopped by the caller"
                return
            try:
                await self._command(session, command)
            except (KeyError, TypeError, ValueError, NotImplementedError) as exc:  # NotImplemented: not on GPT-Live
                self._post({"type": "error", "message": f"{command.get('type')}: {exc}"})

    async def _command(self, session: Session, command: dict[str, Any]) -> None:
        kind = command.get("type")
        if kind == "text":
            text = command.get("text")
            if not isinstance(text, str) or not text.strip():
                raise ValueError("'text' is the message to send")
            await session.send_text(text.strip())
        elif kind == "played":
            self.playback.report(str(command["item_id"]), int(command["ms"]))
        elif kind == "interrupt":
            await session.interrupt()
        elif kind in ("approve", "reject"):
            decide = session.approve if kind == "approve" else session.reject
            decide(str(command["call_id"]), always=bool(command.get("always", False)))
        elif kind == "commit":  # push-to-talk released: the turn is what was said (then a response)
            await session.commit_audio()
        elif kind == "clear":  # push-to-talk pressed: stop the agent, drop what was buffered
            await session.interrupt()
            await session.clear_audio()
        else:
            raise ValueError(f"unknown message type {kind!r}")
