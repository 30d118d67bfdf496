"""`engine sim FILE [--host H] [--port N]`: serve the simulator for any Realtime client.

FILE is a graph (the simulator plays its `demo`) or a conversation tests file (`--test NAME`
picks one; the first by default). The first line printed is the websocket URL; the server runs
until SIGINT or SIGTERM and then exits cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from pathlib import Path

from engine.spec.script import Script

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of `engine sim` (the CLI adds them to its subcommand)."""
    parser.add_argument("file", type=Path, help="a graph (its demo is played) or a .tests.yaml file")
    parser.add_argument("--test", metavar="NAME", help="the conversation test of a tests file to play (default: first)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default: a free one)")
    parser.add_argument(
        "--realtime", action="store_true", help="stream the model's audio at the rate it plays (real barge-in timing)"
    )
    parser.add_argument("--require-key", metavar="KEY", help="accept only this API key (default: any)")
    parser.add_argument(
        "--api", choices=["realtime", "live"], help="the URL printed first: Realtime's or GPT-Live's (both are served)"
    )


def main(args: argparse.Namespace) -> int:
    """Serve until interrupted; 0 on a clean stop, 1 when the file has no script or cannot be served."""
    script = _load_script(args)
    if script is None:
        return EXIT_FAIL
    try:
        return asyncio.run(_serve(script, args))
    except KeyboardInterrupt:  # a second Ctrl-C while stopping
        return EXIT_OK


def _load_script(args: argparse.Namespace) -> Script | None:
    from engine.spec import SpecError
    from engine.validate import is_tests_file, load_graph, load_tests_file, tests_file_graph

    path: Path = args.file
    try:
        if is_tests_file(path):
            graph_path, raw = tests_file_graph(path)
            tests = load_tests_file(load_graph(graph_path), path, raw)
            if not tests:
                print(f"engine sim: {path} has no tests to play", file=sys.stderr)
                return None
            if args.test is None:
                return tests[0][0]
            for test, _ in tests:
                if test.name == args.test:
                    return test
            names = ", ".join(t.name for t, _ in tests)
            print(f"engine sim: {path} has no test named {args.test!r} (tests: {names})", file=sys.stderr)
            return None
        doc = load_graph(path)
    except SpecError as exc:
        print(exc, file=sys.stderr)
        return None
    if args.test is not None:
        print(f"engine sim: --test needs a tests file; {path} is a graph", file=sys.stderr)
        return None
    if doc.spec.demo is None:
        print(f"engine sim: {path} has no `demo:` conversation for the simulator to play", file=sys.stderr)
        return None
    return doc.spec.demo


async def _serve(script: Script, args: argparse.Namespace) -> int:
    from .live import LiveSimulator  # serves GPT-Live beside Realtime, from the same script

    sim = LiveSimulator(
        script, host=args.host, port=args.port, realtime_pacing=args.realtime, require_key=args.require_key
    )
    try:
        await sim.start()
    except OSError as exc:
        print(f"engine sim: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAIL
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not on every platform
            loop.add_signal_handler(signum, stop.set)
    live_first = args.api == "live"
    print(sim.live_url if live_first else sim.url, flush=True)
    other = f"Realtime at {sim.url}" if live_first else f"GPT-Live at {sim.live_url}"
    print(f"  {other}", file=sys.stderr)
    print(f"  HTTP base {sim.http_base} (Responses, client secrets); Ctrl-C to stop", file=sys.stderr, flush=True)
    try:
        await stop.wait()
    finally:
        await sim.stop()
    for problem in [*sim.script_errors, *sim.mismatches]:
        print(f"engine sim: off script: {problem}", file=sys.stderr)
    return EXIT_OK
