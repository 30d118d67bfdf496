"""`engine test FILE...`: conversation tests, offline on the simulator or `--live`."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._common import add_header_option, add_watch_option


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="graph files or *.tests.yaml files")
    parser.add_argument(
        "-k",
        dest="keyword",
        metavar="EXPR",
        help="only tests whose name contains EXPR (case-insensitive); phrases combine with and, or, not "
        "and parentheses, as in pytest: -k 'refund and not human'",
    )
    parser.add_argument(
        "--live", action="store_true", help="run against the real API (or --url); actions become expectations"
    )
    parser.add_argument("--url", help="with --live: a Realtime-compatible websocket URL")
    parser.add_argument("--api", choices=["realtime", "live"], help="the voice API (default: each graph's `api:`)")
    add_header_option(parser)
    parser.add_argument(
        "--coverage", action="store_true", help="report agents, edges, states, transitions, tools exercised"
    )
    parser.add_argument("--min-coverage", type=float, metavar="N", help="fail when coverage is below N percent")
    parser.add_argument("--junit", type=Path, metavar="FILE", help="write JUnit XML")
    add_watch_option(parser)


def main(args: argparse.Namespace) -> int:
    if args.watch:
        from ._watch import rerun_argv, watch

        return watch("test", rerun_argv(args.argv), args.files)
    from ..testing.command import test_command

    return test_command(args)
