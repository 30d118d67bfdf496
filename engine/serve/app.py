"""The ASGI app of `engine serve`: the console page, its API and websocket, health and draining.

Run it under any ASGI server (`engine serve` uses uvicorn). One process holds many calls; every
call is its own `Session` (and, offline, its own simulator), so a call never waits on another.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from ..graph import build_graph, render
from ..graph._html import VIEWER_JS
from ..runtime import ConnectFailed
from ..runtime.graph_runtime import GraphRuntime
from ..spec import Document
from ._calls import ServeConfig
from ._catalog import CODEC_RATES, Catalog
from ._console import CallOptions, CallRefused, ConsoleCall
from ._history import History
from .sip import SipCall, SipCalls
from .twilio import TwilioCall, voice_webhook

log = logging.getLogger("engine.serve")
STATIC = Path(__file__).parent / "static"
#: Websocket close code for "try again later" (RFC 6455 registry): the server is draining or full.
TRY_AGAIN_LATER = 1013
_TOKEN_COOKIE = "engine_console"


CallSocket = Callable[[WebSocket, Receive, Send], Awaitable[None]]


class CallSockets:
    """The call websockets (`/ws/call`, `/twilio/media`), taken ahead of Starlette's routing and
    exception wrappers. Each handler gets a `WebSocket` for its handshake, and the server's own
    `receive` and `send` for the call's frames.

    Fifty frames a second go each way on every call; through the router each frame sent passed two
    more wrapper coroutines, and each one through `WebSocket` two more calls and a state check. Nothing
    is lost by skipping them: the handlers raise no HTTP exceptions and catch their own errors.
    """

    def __init__(self, app: ASGIApp, sockets: dict[str, CallSocket]) -> None:
        self._app = app
        self._sockets = sockets

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = self._sockets.get(scope["path"]) if scope["type"] == "websocket" else None
        if handler is None:
            await self._app(scope, receive, send)
        else:
            await handler(WebSocket(scope, receive, send), receive, send)


def _text_sender(send: Send) -> Callable[[str], Awaitable[None]]:
    async def send_text(text: str) -> None:
        await send({"type": "websocket.send", "text": text})

    return send_text


class Calls:
    """The calls in progress, and whether the server still takes new ones."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.active: dict[str, ConsoleCall | TwilioCall | SipCall] = {}
        self.draining = False
        self._empty = asyncio.Event()
        self._empty.set()

    def refusal(self) -> str | None:
        if self.draining:
            return "the server is shutting down; try again shortly"
        if len(self.active) >= self.config.max_calls:
            return f"the server is at capacity ({self.config.max_calls} calls); try again shortly"
        return None

    def add(self, call: ConsoleCall | TwilioCall | SipCall) -> None:
        self.active[call.id] = call
        self._empty.clear()

    def remove(self, call: ConsoleCall | TwilioCall | SipCall) -> None:
        self.active.pop(call.id, None)
        if not self.active:
            self._empty.set()

    async def drain(self, deadline: float | None = None) -> int:
        """Take no new calls; wait up to `deadline` seconds for the active ones, then end them.
        Returns how many had to be ended."""
        self.draining = True
        deadline = self.config.drain_seconds if deadline is None else deadline
        if self.active:
            log.info("draining: %d call(s) in progress, %.0f s to finish", len(self.active), deadline)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(deadline):
                await self._empty.wait()
        cut = list(self.active.values())
        for call in cut:
            call.end("the server is shutting down")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5.0):
                await self._empty.wait()
        return len(cut)


def _open_store(config: ServeConfig) -> Any:
    """The call store every call is written to; None (calls still run, unrecorded) when it cannot open."""
    if not config.record:
        return None
    from ..records import StoreError, open_store

    try:
        return open_store(config.db)
    except StoreError as exc:
        log.error("calls will not be recorded: %s", exc)
        return None


def create_app(catalog: Catalog, config: ServeConfig | None = None) -> Starlette:
    """The console app for the scenarios of `catalog`."""
    config = config or ServeConfig()
    calls = Calls(config)
    store = _open_store(config)
    runtimes: dict[int, GraphRuntime] = {}  # live calls: one per graph variant, shared by its calls

    def runtime_for(doc: Document) -> GraphRuntime:
        key = hash((doc.path, doc.spec.model_dump_json()))
        if key not in runtimes:
            runtimes[key] = GraphRuntime(doc, url=config.url, api_key=config.api_key)
        return runtimes[key]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await calls.drain()
        await sip.aclose()
        for runtime in runtimes.values():
            await runtime.aclose()
        if store is not None:
            store.close()

    def allowed(conn: Request | WebSocket) -> bool:
        """With a console token set, the console, its API and its calls need it (cookie or `?token=`)."""
        if not config.console_token:
            return True
        given = conn.cookies.get(_TOKEN_COOKIE) or conn.query_params.get("token") or ""
        return hmac.compare_digest(given.encode(), config.console_token.encode())

    def refused() -> Response:
        return JSONResponse({"error": "this console needs its token: open it as /?token=..."}, status_code=401)

    def page(request: Request, name: str) -> Response:
        """A page of the console (`name` under static/); the token, once given, is kept as a cookie."""
        if not allowed(request):
            return HTMLResponse("<h1>401</h1><p>This console needs its token: open it as /?token=…</p>", 401)
        response = FileResponse(STATIC / name, headers={"Cache-Control": "no-cache"})
        if config.console_token:
            response.set_cookie(_TOKEN_COOKIE, config.console_token, httponly=True, samesite="strict")
        return response

    async def index(request: Request) -> Response:
        return page(request, "console.html")

    history = History(catalog, config, store, allowed=allowed, refused=refused, page=page)

    async def scenarios(request: Request) -> Response:
        if not allowed(request):
            return refused()
        return JSONResponse(
            {
                "simulated": not config.live,
                "codecs": list(CODEC_RATES),
                "scenarios": [s.summary() for s in catalog.scenarios.values()],
                "problems": catalog.problems,
            }
        )

    async def drawing(request: Request) -> Response:
        if not allowed(request):
            return refused()
        scenario = catalog.get(request.path_params["scenario"])
        if scenario is None:
            return JSONResponse({"error": "no such scenario"}, status_code=404)
        return JSONResponse(await asyncio.to_thread(lambda: scenario.drawing))

    async def graph_page(request: Request) -> Response:
        if not allowed(request):
            return refused()
        scenario = catalog.get(request.path_params["scenario"])
        if scenario is None:
            return HTMLResponse("no such scenario", status_code=404)
        return HTMLResponse(await asyncio.to_thread(render, scenario.doc, build_graph(scenario.doc), "html"))

    async def viewer(request: Request) -> Response:
        return Response(VIEWER_JS, media_type="text/javascript", headers={"Cache-Control": "no-cache"})

    sip = SipCalls(
        catalog, config, runtime_for, webhook_secret=config.webhook_secret, refusal=calls.refusal,
        add=calls.add, remove=calls.remove, store=store,
    )  # fmt: skip

    async def twilio_voice(request: Request) -> Response:
        return await voice_webhook(request, catalog, config, calls.refusal())

    async def twilio_media(ws: WebSocket, receive: Receive, send: Send) -> None:
        await ws.accept()
        if calls.refusal() is not None:
            await ws.close(TRY_AGAIN_LATER)
            return
        call = TwilioCall(receive, send, catalog, config, runtime_for, store)
        calls.add(call)
        try:
            await call.run()
        finally:
            calls.remove(call)
            if not call.stream_closed:  # (the call read the frames, so `ws` never saw a disconnect)
                with contextlib.suppress(Exception):
                    await ws.close(1000)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "calls": len(calls.active)})

    async def readyz(request: Request) -> Response:
        reason = calls.refusal() or (None if catalog.scenarios else "no scenario loaded")
        body = {"ready": reason is None, "calls": len(calls.active), "draining": calls.draining}
        if reason:
            body["reason"] = reason
        return JSONResponse(body, status_code=200 if reason is None else 503)

    async def call_socket(ws: WebSocket, receive: Receive, send: Send) -> None:
        if not allowed(ws):
            await ws.close(1008)  # before the handshake completes: the browser sees a refused socket
            return
        await ws.accept()
        refusal = calls.refusal()
        if refusal is not None:
            await ws.send_json({"type": "refused", "message": refusal})
            await ws.close(TRY_AGAIN_LATER, refusal[:120])
            return
        try:
            options = CallOptions.parse(await ws.receive_json())
            call = ConsoleCall(catalog, config, options, _text_sender(send), runtime_for, store)
            calls.add(call)
        except (CallRefused, ValueError, KeyError) as exc:
            await ws.send_json({"type": "refused", "message": str(exc)})
            await ws.close(1008)
            return
        except WebSocketDisconnect:
            return
        try:
            await call.start()
        except ConnectFailed as exc:
            calls.remove(call)
            await ws.send_json({"type": "refused", "message": f"cannot reach the realtime server: {exc.reason}"})
            await ws.close(1011)
            return
        try:
            await call.run(receive)  # the browser's frames as the server delivers them
        finally:
            calls.remove(call)
            if not call.browser_left:  # (the call read the frames, so `ws` never saw a disconnect)
                with contextlib.suppress(Exception):
                    await ws.close(1000)

    app = Starlette(
        routes=[
            Route("/", index),
            Route("/api/scenarios", scenarios),
            Route("/api/scenarios/{scenario}/graph", drawing),
            Route("/graph/{scenario}", graph_page),
            Route("/static/graph-view.js", viewer),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/twilio/voice", twilio_voice, methods=["POST"]),
            Route("/openai/webhook", sip.webhook, methods=["POST"]),
            *history.routes(),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ],
        middleware=[Middleware(CallSockets, sockets={"/ws/call": call_socket, "/twilio/media": twilio_media})],
        lifespan=lifespan,
    )
    app.state.calls = calls
    app.state.catalog = catalog
    return app
