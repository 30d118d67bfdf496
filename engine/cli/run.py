"""`engine run FILE`: a conversation in the terminal. Live with a key (or --url); else, or with
--simulate, the graph's demo replayed on the built-in simulator, which the CLI starts and wires in
(the runtime never imports the simulator)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ._common import EXIT_FAIL, EXIT_USAGE, KEY_ENV, add_header_option, load_or_report, secret_values
from ._record import add_db_option
from .audio import add_audio_arguments, wants_audio

if TYPE_CHECKING:
    from ..sim import Mismatch, ScriptError
    from ..spec import Document, Script
    from .audio import AudioCall


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, metavar="FILE")
    parser.add_argument("--url", help="a Realtime-compatible websocket URL (default: OpenAI)")
    add_header_option(parser)
    parser.add_argument("--call-id", help="attach to a SIP call by its id")
    parser.add_argument("--events", type=Path, metavar="FILE.jsonl", help="record every client and server event")
    parser.add_argument("--approve", choices=["ask", "auto", "deny"], default="ask", help="approval policy")
    parser.add_argument("--simulate", action="store_true", help="replay the demo on the simulator even with a key")
    parser.add_argument("--api", choices=["realtime", "live"], help="the voice API (default: the graph's `api:`)")
    add_db_option(parser)
    add_audio_arguments(parser)


def main(args: argparse.Namespace) -> int:
    import asyncio

    from .. import logs
    from ..redact import Redactor

    if args.simulate and (args.url or args.call_id):
        print("engine: --simulate replays the demo on the simulator; it takes no --url or --call-id", file=sys.stderr)
        return EXIT_USAGE
    doc = load_or_report(args.file, warn=True)
    if doc is None:
        return EXIT_FAIL
    secrets = secret_values(args.header, doc)
    logs.configure(debug=logs.debug_requested(), redact=Redactor(secrets))
    live = bool(os.environ.get(KEY_ENV) or args.url) and not args.simulate
    if args.fast and live:
        print("engine: --fast streams faster than real time, which only the simulator allows", file=sys.stderr)
        return EXIT_USAGE
    if (args.api or doc.spec.api) == "live":
        if live:
            print(
                "engine: a live GPT-Live call takes speech, not typed lines; "
                "call it from the console (engine serve) or replay the demo with --simulate",
                file=sys.stderr,
            )
            return EXIT_USAGE
        return asyncio.run(_simulate_live(doc, args, secrets))
    call = _audio_call(args, doc)
    if call is False:
        return EXIT_FAIL
    if live:
        from .terminal import converse_live

        return asyncio.run(converse_live(doc, args, secrets, call))
    return asyncio.run(_simulate(doc, args, secrets, call))


def _audio_call(args: argparse.Namespace, doc: Document) -> AudioCall | bool | None:
    """The call's audio side (None for a text call), or False when its file or device fails (reported)."""
    if not wants_audio(args):
        return None
    from ..io import AudioFileError
    from ..io.devices import DeviceUnavailable
    from .audio import AudioCall

    try:
        return AudioCall(args, doc, doc.spec.demo.agent if doc.spec.demo else None)
    except (AudioFileError, DeviceUnavailable) as exc:
        print(f"engine: {exc}", file=sys.stderr)
        return False


async def _simulate(doc: Document, args: argparse.Namespace, secrets: list[str], call: AudioCall | None) -> int:
    import asyncio

    from ..runtime import events as ev
    from ..runtime import replay
    from ..sim import Simulator
    from ._record import recorded
    from .terminal import Printer, new_session

    demo = _announce(doc, args, "simulator")
    if demo is None:
        return EXIT_FAIL
    approval = "auto" if args.approve == "ask" else args.approve
    # A caller speaking from a file hears the agent at real time, so that barge-in cuts at what was heard.
    async with Simulator(demo, realtime_pacing=call is not None and not args.fast) as sim:
        on_audio = call.on_audio if call is not None else None
        session = new_session(
            doc,
            args,
            url=sim.url,
            api_key="sim-key",
            agent=demo.agent,
            context=demo.context,
            approval=approval,
            on_audio=on_audio,
        )
        if session is None:
            return EXIT_FAIL

        # The simulator's refusals of the script come back as server errors: reported once, below, as the script's.
        def refused(error: ev.Error) -> bool:
            return any(s.code == error.code for s in sim.script_errors)

        def blamed(tool: str) -> str | None:
            at_fault = any(s.tool == tool for s in sim.script_errors)
            return "failed: the demo is at fault (see below)" if at_fault else None

        printer = Printer(session, secrets=secrets, hidden=refused, blamed=blamed)
        async with recorded(session, doc, frontend="run", db=args.db, secrets=secrets), session:
            printing = asyncio.create_task(printer.run())
            if call is not None:
                await call.converse(session, opens=bool(demo.turns) and demo.turns[0].user is None)
            else:
                await replay(session, demo)
        await printing
        problems = _problems(sim.script_errors, sim.mismatches)
    unwritten = call.finish() if call is not None else None
    for problem in problems:
        print(f"engine: the demo went off script: {problem}", file=sys.stderr)
    print(f"Replay finished on agent '{session.agent}'{'' if not problems else ' (off script)'}.")
    if unwritten is not None:
        print(f"engine: {unwritten}", file=sys.stderr)
    return EXIT_FAIL if problems or unwritten else 0


async def _simulate_live(doc: Document, args: argparse.Namespace, secrets: list[str]) -> int:
    """The demo on the GPT-Live simulator: each user turn spoken, the engine the model's backend."""
    import asyncio

    from ..runtime.live import LiveSession
    from ..sim.live import LiveSimulator
    from ..testing.live import speak
    from ._record import recorded
    from .terminal import Printer

    demo = _announce(doc, args, "GPT-Live simulator")
    if demo is None:
        return EXIT_FAIL
    approval = "auto" if args.approve == "ask" else args.approve
    async with LiveSimulator(demo) as sim:
        session = LiveSession(
            doc, url=sim.live_url, api_key="sim-key", agent=demo.agent, context=demo.context, approval=approval
        )
        printer = Printer(session, secrets=secrets)
        async with recorded(session, doc, frontend="run", db=args.db, secrets=secrets), session:
            printing = asyncio.create_task(printer.run())
            for number, turn in enumerate(demo.turns, 1):
                if turn.user is not None:
                    await speak(session, turn.user)
                elif number > 1:
                    await sim.delegate()  # the first turn the model opens is delegated at session start
                await session.wait_delegations(number, 60)
                await session.wait_idle(60)
        await printing
        printer.end_line()  # GPT-Live's transcript has no "done": the last reply's line is still open
        problems = _problems(sim.script_errors, sim.mismatches)
    for problem in problems:
        print(f"engine: the demo went off script: {problem}", file=sys.stderr)
    print(f"Replay finished on agent '{session.agent}'{'' if not problems else ' (off script)'}.")
    return EXIT_FAIL if problems else 0


def _announce(doc: Document, args: argparse.Namespace, where: str) -> Script | None:
    """The demo to replay (said so), or None (reported) when the graph has none."""
    demo = doc.spec.demo
    if demo is None:
        print(f"engine: {doc.file} has no `demo:` conversation to replay; set {KEY_ENV} to run it live.")
        return None
    why = "--simulate" if args.simulate else f"no {KEY_ENV}"
    print(f"Replaying the demo conversation of '{doc.spec.graph}' on the built-in {where} ({why}).")
    return demo


def _problems(errors: list[ScriptError], mismatches: list[Mismatch]) -> list[str]:
    """Each way the demo went off script, in words, once."""
    lines = [f"turn {e.turn + 1}: {e.message}" if e.turn is not None and e.turn >= 0 else e.message for e in errors]
    for m in mismatches:
        if m.turn is None:
            lines.append(f"the engine sent a user message after the demo's last turn: {m.received!r}")
        else:
            said, scripted = m.received, m.expected
            lines.append(f"turn {m.turn + 1}: the engine sent the user message {said!r}; the demo has {scripted!r}")
    return list(dict.fromkeys(lines))
