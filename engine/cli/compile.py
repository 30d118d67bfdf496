"""`engine compile FILE`: the `session.update` an agent (or state) sends, as JSON.

Imports only what compiling uses: no asyncio, no runtime, no openai.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ._common import EXIT_FAIL, EXIT_OK, EXIT_USAGE, load_or_report, one_shot, warn_findings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, metavar="FILE")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--agent", help="the agent (default: the start agent)")
    group.add_argument("--all", action="store_true", help="every agent (and every enforced state)")
    parser.add_argument("--state", help="a state of the agent's enforced state machine")
    parser.add_argument("--call-id", help="compile for a SIP call (audio formats left to the call)")
    parser.add_argument("--api", choices=["realtime", "live"], help="the voice API (default: the graph's `api:`)")


def main(args: argparse.Namespace) -> int:
    with one_shot():
        return _compile(args)


def _compile(args: argparse.Namespace) -> int:
    import json

    from ..compile import compile_for_api, compile_session, live_api_findings
    from ..errors import CompileError
    from ..spec import did_you_mean

    if args.all and (args.state or args.call_id):
        print("engine: --all compiles every agent and state; it takes neither --state nor --call-id", file=sys.stderr)
        return EXIT_USAGE
    doc = load_or_report(args.file, warn=True)
    if doc is None:
        return EXIT_FAIL
    api = args.api or doc.spec.api
    if api == "live" and doc.spec.api != "live":
        warn_findings(live_api_findings(doc))  # what validate says of this graph on GPT-Live
    agent = args.agent or doc.spec.start
    if agent not in doc.spec.agents:
        print(f"engine: unknown agent '{agent}'{did_you_mean(agent, doc.spec.agents)}", file=sys.stderr)
        return EXIT_USAGE
    try:
        if api == "realtime" and not args.all:
            event = compile_session(doc, agent, state=args.state, call_id=args.call_id)
        else:
            event = compile_for_api(doc, api, agent=args.agent, state=args.state, all=args.all)
    except CompileError as exc:  # a state that does not exist or is not enforced
        print(f"engine: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(json.dumps(event, indent=2))
    return EXIT_OK
