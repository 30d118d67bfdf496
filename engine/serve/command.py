"""`engine serve [FILE|DIR ...] [--host H] [--port N]`: the web console under uvicorn.

SIGTERM drains: `/readyz` turns 503 and new calls are refused at once, calls in progress get
`--drain-seconds` to finish and are then ended with a notice, and the process exits 0. A second
SIGTERM, or Ctrl-C, stops at once (uvicorn's own handling).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import sys
from pathlib import Path
from types import FrameType

import uvicorn

from ._calls import ServeConfig
from ._catalog import Catalog
from .app import Calls, create_app

DEFAULT_PORT = 8765


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths", nargs="*", type=Path, metavar="FILE|DIR", help="graph files, or folders of them (default: graphs/)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default: {DEFAULT_PORT}; 0 picks one)")
    parser.add_argument(
        "--simulate", action="store_true", help="run every call on the built-in simulator, even with OPENAI_API_KEY"
    )
    parser.add_argument(
        "--api",
        choices=["realtime", "live"],
        help="the voice API of every call: OpenAI Realtime or GPT-Live (default: each graph's `api:`)",
    )
    parser.add_argument(
        "--url", help="a Realtime- (or with --api live, GPT-Live-) compatible websocket URL to run calls against"
    )
    parser.add_argument(
        "--db", help="the call store: a SQLite file or a postgresql:// URL (default: $ENGINE_DB, else .engine/calls.db)"
    )
    parser.add_argument("--no-record", action="store_true", help="do not write calls to the call store")
    parser.add_argument(
        "--public-console",
        action="store_true",
        help="listen beyond loopback with live calls and no ENGINE_CONSOLE_TOKEN (anyone reaching it starts calls)",
    )
    parser.add_argument("--max-calls", type=int, default=200, help="calls at once before new ones are refused")
    parser.add_argument(
        "--drain-seconds", type=float, default=30.0, help="on SIGTERM, how long calls in progress may go on"
    )


def main(args: argparse.Namespace) -> int:
    """Serve until stopped; 0 after a clean stop or drain, 1 when nothing could be loaded or bound, 2
    when live calls would be open to anyone (beyond loopback, no console token)."""
    paths = list(args.paths) or [Path("graphs")]
    catalog = Catalog.load(paths)
    for problem in catalog.problems:
        print(f"engine serve: skipped: {problem}", file=sys.stderr)
    if not catalog.scenarios:
        print("engine serve: no graph could be loaded; nothing to serve", file=sys.stderr)
        return 1
    config = ServeConfig(
        api_key=os.environ.get("OPENAI_API_KEY", ""),
        url=args.url,
        simulate=args.simulate,
        max_calls=args.max_calls,
        drain_seconds=args.drain_seconds,
        twilio_auth_token=os.environ.get("TWILIO_AUTH_TOKEN", ""),
        twilio_account_sid=os.environ.get("TWILIO_ACCOUNT_SID", ""),
        webhook_secret=os.environ.get("OPENAI_WEBHOOK_SECRET", ""),
        db=args.db,
        console_token=os.environ.get("ENGINE_CONSOLE_TOKEN", ""),
        record=not args.no_record,
        api=args.api,
    )
    if args.host not in ("127.0.0.1", "localhost", "::1") and not config.console_token:
        exposed = f"listening on {args.host} with no ENGINE_CONSOLE_TOKEN, anyone who reaches this port can start calls"
        if config.live and not args.public_console:
            print(
                f"engine serve: {exposed} on your OpenAI key; set ENGINE_CONSOLE_TOKEN (the console is then "
                "opened as /?token=...), or pass --public-console if that is what you want",
                file=sys.stderr,
            )
            return 2
        print(f"engine serve: warning: {exposed}" + (" on your OpenAI key" if config.live else ""), file=sys.stderr)
    app = create_app(catalog, config)
    uv_config = uvicorn.Config(app, host=args.host, port=args.port, log_level="warning", lifespan="on")
    server = _DrainingServer(uv_config, app.state.calls)
    try:
        # uvicorn's choice of loop: uvloop where it is installed (a dependency on Linux and macOS).
        with asyncio.Runner(loop_factory=uv_config.get_loop_factory()) as runner:
            runner.run(server.serve())
    except KeyboardInterrupt:
        return 130
    if not server.started:
        print(f"engine serve: could not listen on {args.host}:{args.port}", file=sys.stderr)
        return 1
    return 0


class _DrainingServer(uvicorn.Server):
    """uvicorn's Server, with the first SIGTERM turned into a drain before the stop."""

    def __init__(self, config: uvicorn.Config, calls: Calls) -> None:
        super().__init__(config)
        self._calls = calls
        self._draining = False
        self._loop: asyncio.AbstractEventLoop | None = None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        for server in self.servers if self.started else ():
            for sock in server.sockets:
                host, port = sock.getsockname()[:2]
                print(f"engine serve: http://{host}:{port}/", flush=True)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig == signal.SIGTERM and not self._draining and self._loop is not None:
            self._draining = True
            loop = self._loop
            loop.call_soon_threadsafe(lambda: loop.create_task(self._drain()))
            return
        super().handle_exit(sig, frame)

    async def _drain(self) -> None:
        ended = await self._calls.drain()
        if ended:
            print(f"engine serve: drained; ended {ended} call(s) at the deadline", file=sys.stderr)
        self.should_exit = True
