"""`engine validate FILE...`: every finding, located; exit 1 on errors (with --strict, on warnings too).

Imports only what validation uses: no asyncio, no runtime, no openai (a test holds this).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ._common import EXIT_FAIL, EXIT_OK, add_watch_option, one_shot


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE")
    parser.add_argument("--strict", action="store_true", help="fail on warnings too")
    parser.add_argument("--format", choices=["text", "json", "github"], default="text")
    add_watch_option(parser)


def main(args: argparse.Namespace) -> int:
    if args.watch:
        from ._watch import rerun_argv, watch

        return watch("validate", rerun_argv(args.argv), args.files)
    with one_shot():
        return _validate(args)


def _validate(args: argparse.Namespace) -> int:
    from ..spec.findings import render
    from ..validate import validate_files

    run = validate_files(args.files)  # a graph's sibling tests file too; a finding two files lead to, once
    if args.format == "json" or run.findings:
        print(render(run.findings, args.format))
    if args.format == "text":
        print(run.summary(), file=sys.stderr)
    return EXIT_FAIL if run.errors or (args.strict and run.warnings) else EXIT_OK
