"""`Simulator`: a loopback server speaking the OpenAI Realtime API (GA) with a scripted model.

One aiohttp app on one port serves:

- `GET /v1/realtime` (websocket; `?model=` or `?call_id=` required, as on the API),
- `POST /v1/responses` (the Responses API, for supervisor escalations and guardrail classifiers),
- `POST /v1/realtime/client_secrets` (ephemeral keys; a key it issues is accepted afterwards and
  carries its session config into the websocket session it opens).

The model hears audio (turn detection from the signal, transcripts from the script) and speaks
(espeak-ng when installed, else a speech-like tone), paced at real time with `realtime_pacing`.
`python -m engine.sim FILE` (`engine sim`) serves one from the command line.

Any `Authorization: Bearer` / `api-key` header (or `openai-insecure-api-key.` subprotocol) is
accepted unless `require_key` is set. Keys are never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from aiohttp import web

from engine.spec.script import Script

from .cursor import Mismatch, Played, ScriptCursor, ScriptError
from .ids import IdFactory
from .realtime import RealtimeConnection
from .responses import ResponsesModel
from .session import default_session, merge_session
from .validation import check_session
from .voice import SpeechMode

if TYPE_CHECKING:
    from engine.spec.script import SupervisorStep

Matcher = str | Callable[[dict[str, Any]], bool]
T = TypeVar("T")

_MAX_FRAME = 16 * 1024 * 1024  # large input_audio_buffer.append frames are legitimate


def _error_body(message: str, code: str | None, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}


def _matches(event: dict[str, Any], match: Matcher) -> bool:
    return event.get("type") == match if isinstance(match, str) else bool(match(event))


class Simulator:
    """The scripted Realtime server. Use `async with Simulator(script) as sim:` (or `start`/`stop`).

    Records, in order: `received` (every client event parsed from a websocket, all connections),
    `sent` (every server event), `responses_requests` (bodies posted to /v1/responses),
    `mismatches` (user messages differing from the script) and `script_errors` (script actions
    the simulator refused, e.g. a call to a tool the session does not offer).
    """

    def __init__(
        self,
        script: Script | None = None,
        *,
        realtime_pacing: bool = False,
        speech: SpeechMode = "auto",
        port: int = 0,
        host: str = "127.0.0.1",
        require_key: str | None = None,
        record: bool = True,
    ) -> None:
        self.script = script
        self.record = record  # False keeps `received`/`sent` empty (long benchmarks); wait_for needs it
        # Audio deltas at the rate they play (barge-in timing is real) rather than as fast as possible.
        self.realtime_pacing = realtime_pacing
        # How the model sounds: "auto" (espeak-ng when installed, else a speech-like tone), "espeak", "tone".
        self.speech: SpeechMode = speech
        self.allow_unoffered = False  # tests of hallucinated tools: play calls the session does not offer
        self.require_key = require_key
        self.host = host
        self.received: list[dict[str, Any]] = []
        self.sent: list[dict[str, Any]] = []
        self.responses_requests: list[Any] = []
        self.mismatches: list[Mismatch] = []
        self.script_errors: list[ScriptError] = []
        self.connections_opened = 0
        self._requested_port = port
        self._port: int | None = None
        self._ids = IdFactory()
        self._cursor = ScriptCursor(script)
        self._user_items: set[str] = set()  # user message ids, across connections
        self._responses = ResponsesModel(self._ids, self._cursor.says(), self.script_errors)
        self._connections: set[RealtimeConnection] = set()
        #: SIP calls endpoint requests: {"call_id", "action", "body"}, in order.
        self.call_requests: list[dict[str, Any]] = []
        self._ephemeral: dict[str, dict[str, Any]] = {}
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def _routes(self, app: web.Application) -> None:
        """The endpoints served (a simulator of another API adds its own)."""
        app.router.add_get("/v1/realtime", self._realtime)
        app.router.add_post("/v1/responses", self._responses_endpoint)
        app.router.add_post("/v1/decisions", self._decisions_endpoint)
        app.router.add_post("/v1/realtime/client_secrets", self._client_secrets)
        app.router.add_post("/v1/realtime/calls/{call_id}/{action}", self._calls_endpoint)

    async def start(self) -> Simulator:
        app = web.Application()
        self._routes(app)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self._requested_port)
        await site.start()
        self._port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        for conn in list(self._connections):
            conn.closed = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.ws.close(code=1001, message=b"simulator stopped"), 1.0)
            conn.abort()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Simulator:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def start_in_thread(self) -> SimulatorThread:
        """Run this simulator on its own event loop in a daemon thread (for synchronous callers)."""
        return SimulatorThread(self)

    # -- addresses and state ---------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the simulator is not started")
        return self._port

    @property
    def url(self) -> str:
        """The realtime websocket URL (append `?model=...` as for the API; the runtime does)."""
        return f"ws://{self.host}:{self.port}/v1/realtime"

    @property
    def ws_base(self) -> str:
        """For `AsyncOpenAI(websocket_base_url=...)`."""
        return f"ws://{self.host}:{self.port}/v1"

    @property
    def http_base(self) -> str:
        """For `AsyncOpenAI(base_url=...)`."""
        return f"http://{self.host}:{self.port}/v1"

    @property
    def cursor(self) -> tuple[int, int]:
        """(turn index, action index) of the scripted model; turn -1 before the first turn."""
        return self._cursor.position

    @property
    def script_done(self) -> bool:
        """True when every model action of the script has been played."""
        return self._cursor.done

    @property
    def open_connections(self) -> int:
        return len(self._connections)

    def pending_supervisor_steps(self, tool: str) -> list[Any]:
        """Supervisor steps queued for `tool` and not yet consumed by /v1/responses requests."""
        return self._responses.pending(tool)

    # -- control hooks ---------------------------------------------------------------------------

    def _require_connections(self) -> list[RealtimeConnection]:
        conns = [c for c in self._connections if not c.closed]
        if not conns:
            raise RuntimeError("no open realtime connection")
        return conns

    async def drop_connections(self) -> None:
        """Abruptly drop every websocket (no close frame), as a network failure would."""
        conns = list(self._connections)
        for conn in conns:
            conn.abort()
        for _ in range(200):  # the handlers unregister as their read loops end
            if not any(c in self._connections for c in conns):
                break
            await asyncio.sleep(0.005)

    async def barge_in(self, audio_start_ms: int | None = None) -> list[str]:
        """Send `input_audio_buffer.speech_started` now on every open connection.

        `audio_start_ms` defaults to the input audio written so far. With server/semantic VAD and
        `interrupt_response` (the API's default) the active response is cancelled, as the API does
        (`response.done` status cancelled, reason turn_detected). Returns the new user item ids.
        """
        return [await conn.interrupt(audio_start_ms) for conn in self._require_connections()]

    async def send_raw(self, text: str) -> None:
        """Send a raw text frame (possibly malformed) on every open connection; not recorded in `sent`."""
        for conn in self._require_connections():
            await conn.send_raw(text)

    async def send_error(
        self,
        message: str = "The server had an error while processing your request.",
        *,
        type: str = "server_error",
        code: str | None = None,
        param: str | None = None,
        event_id: str | None = None,
    ) -> None:
        """Send an `error` event on every open connection."""
        err = {"type": type, "code": code, "message": message, "param": param, "event_id": event_id}
        for conn in self._require_connections():
            await conn.send({"type": "error", "error": err})

    async def wait_for(self, match: Matcher, timeout: float = 5.0, *, since: int = 0) -> dict[str, Any]:
        """The first client event in `received[since:]` matching a type name or a predicate.

        Waits for it up to `timeout` seconds (TimeoutError). `since=len(sim.received)` waits for a new one.
        """
        return await self._wait(self.received, match, timeout, since)

    async def wait_for_sent(self, match: Matcher, timeout: float = 5.0, *, since: int = 0) -> dict[str, Any]:
        """Like `wait_for`, over the server events in `sent`."""
        return await self._wait(self.sent, match, timeout, since)

    async def _wait(self, events: list[dict[str, Any]], match: Matcher, timeout: float, since: int) -> dict:
        async with asyncio.timeout(timeout):
            index = since
            while True:
                while index < len(events):
                    if _matches(events[index], match):
                        return events[index]
                    index += 1
                await self._changed.wait()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # -- what a connection uses: ids, records and the scripted model ------------------------------

    def new_id(self, prefix: str) -> str:
        """A fresh object id in the API's style (`item_sim000001`), unique across connections."""
        return self._ids.new(prefix)

    def record_received(self, event: Any) -> None:
        """Note a client event parsed from a websocket (kept in `received` when recording)."""
        if self.record:
            self.received.append(event)
            self._notify()

    def record_sent(self, text: str) -> None:
        """Note a server event as sent on the wire (kept in `sent` when recording)."""
        if self.record:
            # Parsed back from the wire text: the item dicts keep changing after they are sent.
            self.sent.append(json.loads(text))
            self._notify()

    def user_turn(self, text: str | None, item_id: str | None = None) -> str | None:
        """A user message (`text` None for audio, whose words are unknown) moves the script on.

        Returns the script's text for that turn (None unscripted). A message whose `item_id` was
        seen before is a client restoring its history after a reconnect: it does not move the script.
        """
        if item_id is not None:
            if item_id in self._user_items:
                return None
            self._user_items.add(item_id)
        expected, mismatch = self._cursor.on_user_message(text)
        if mismatch is not None:
            self.mismatches.append(mismatch)
        return expected

    def model_opens(self) -> bool:
        """The script has not started, and its first turn is one the model opens (no user words)."""
        cursor = self._cursor
        return cursor.turn < 0 and bool(cursor.turns) and cursor.turns[0].user is None

    def take_actions(self) -> Played:
        """The scripted actions the next response plays (consumed now)."""
        return self._cursor.take()

    def give_back(self, played: Played, finished: int) -> None:
        """A response cut by a dropped connection returns the actions after its `finished` ones."""
        self._cursor.give_back(played, finished)

    def refuse(self, code: str, message: str, tool: str | None = None) -> None:
        """Record a script action the simulated model cannot take (see `script_errors`)."""
        self.script_errors.append(ScriptError(code, message, tool, self._cursor.turn))

    def queue_supervisor(self, tool: str, steps: list[SupervisorStep]) -> None:
        """Supervisor steps the /v1/responses endpoint answers the escalation of `tool` with."""
        self._responses.queue(tool, steps)

    # -- HTTP ------------------------------------------------------------------------------------

    def _presented_key(self, request: web.Request) -> str | None:
        auth = request.headers.get("Authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip()
        if "api-key" in request.headers:
            return request.headers["api-key"]
        for proto in request.headers.get("Sec-WebSocket-Protocol", "").split(","):
            proto = proto.strip()
            if proto.startswith("openai-insecure-api-key."):
                return proto.removeprefix("openai-insecure-api-key.")
        return None

    def _unauthorized(self, key: str | None) -> web.Response | None:
        if self.require_key is None or key == self.require_key or key in self._ephemeral:
            return None
        body = _error_body("Incorrect API key provided.", "invalid_api_key")
        return web.json_response(body, status=401)

    async def _realtime(self, request: web.Request) -> web.StreamResponse:
        key = self._presented_key(request)
        denied = self._unauthorized(key)
        if denied is not None:
            return denied
        model, call_id = request.query.get("model"), request.query.get("call_id")
        if not model and not call_id:
            body = _error_body("Missing required parameter: 'model'.", "missing_required_parameter", "model")
            return web.json_response(body, status=400)
        ws = web.WebSocketResponse(protocols=("realtime",), compress=False, max_msg_size=_MAX_FRAME, timeout=1.0)
        if not ws.can_prepare(request).ok:
            return web.json_response(_error_body("Expected a websocket upgrade.", "invalid_request"), status=400)
        await ws.prepare(request)
        conn = RealtimeConnection(
            self,
            ws,
            request,
            model=model or "gpt-realtime-2.1",
            call_id=call_id,
            session_overrides=self._ephemeral.get(key or ""),
        )
        self._connections.add(conn)
        self.connections_opened += 1
        try:
            await conn.run()
        finally:
            self._connections.discard(conn)
        return ws

    async def _json_body(self, request: web.Request) -> Any:
        try:
            return await request.json()
        except ValueError:
            raise web.HTTPBadRequest(
                text=web.json_response(_error_body("The body is not valid JSON.", "invalid_json")).text,
                content_type="application/json",
            ) from None

    async def _responses_endpoint(self, request: web.Request) -> web.Response:
        denied = self._unauthorized(self._presented_key(request))
        if denied is not None:
            return denied
        body = await self._json_body(request)
        self.responses_requests.append(body)
        if isinstance(body, dict) and body.get("stream"):
            return web.json_response(_error_body("The simulator does not stream responses.", "unsupported"), status=400)
        status, payload = self._responses.answer(body)
        return web.json_response(payload, status=status)

    async def _decisions_endpoint(self, request: web.Request) -> web.Response:
        denied = self._unauthorized(self._presented_key(request))
        if denied is not None:
            return denied
        body = await self._json_body(request)
        self.responses_requests.append(body)
        status, payload = self._responses.decide(body)
        return web.json_response(payload, status=status)

    async def _calls_endpoint(self, request: web.Request) -> web.Response:
        """A SIP call's accept / reject / refer / hangup, recorded in `call_requests` (accept's session
        checked strictly, as the API checks it)."""
        denied = self._unauthorized(self._presented_key(request))
        if denied is not None:
            return denied
        action, call_id = request.match_info["action"], request.match_info["call_id"]
        if action not in ("accept", "reject", "refer", "hangup"):
            return web.json_response(_error_body(f"Unknown call action '{action}'.", "invalid_value"), status=404)
        body = await self._json_body(request) if request.can_read_body else {}
        if action == "accept":
            err = check_session(body if isinstance(body, dict) else {})
            if err is not None:
                return web.json_response({"error": err}, status=400)
        if action == "refer" and not (isinstance(body, dict) and isinstance(body.get("target_uri"), str)):
            message = "Missing required parameter: 'target_uri'."
            return web.json_response(_error_body(message, "missing_required_parameter"), status=400)
        self.call_requests.append({"call_id": call_id, "action": action, "body": body})
        return web.Response(status=200)

    async def _client_secrets(self, request: web.Request) -> web.Response:
        denied = self._unauthorized(self._presented_key(request))
        if denied is not None:
            return denied
        body = await self._json_body(request) if request.can_read_body else {}
        config = (body or {}).get("session") or {"type": "realtime"}
        err = check_session(config)
        if err is not None:
            return web.json_response({"error": err}, status=400)
        session = merge_session(
            default_session(config.get("model") or "gpt-realtime-2.1", self._ids.new("sess")), config
        )
        seconds = ((body or {}).get("expires_after") or {}).get("seconds", 600)
        value = self._ids.new("ek")
        self._ephemeral[value] = config
        session["expires_at"] = int(time.time()) + int(seconds)
        return web.json_response({"value": value, "expires_at": session["expires_at"], "session": session})


class SimulatorThread:
    """A simulator serving from a background thread; `stop()` (or leaving `with`) shuts it down."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self._loop = asyncio.new_event_loop()
        started = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            asyncio.set_event_loop(self._loop)
            try:
                self._loop.run_until_complete(sim.start())
            except BaseException as exc:  # surfaced to the caller below
                failure.append(exc)
                started.set()
                return
            started.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=serve, name="engine-sim", daemon=True)
        self._thread.start()
        started.wait()
        if failure:
            self._thread.join()
            self._loop.close()
            raise failure[0]

    @property
    def url(self) -> str:
        return self.sim.url

    @property
    def ws_base(self) -> str:
        return self.sim.ws_base

    @property
    def http_base(self) -> str:
        return self.sim.http_base

    def call(self, awaitable: Awaitable[T], timeout: float | None = 10.0) -> T:
        """Run a coroutine (e.g. `sim.barge_in()`) on the simulator's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(awaitable, self._loop).result(timeout)  # type: ignore[arg-type]

    def stop(self) -> None:
        if self._loop.is_closed():
            return
        self.call(self.sim.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def __enter__(self) -> SimulatorThread:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
