"""`engine validate FILE...`: every finding, located; exit 1 on errors (with --strict, on warnings too).

Imports only what validation uses: no asyncio, no runtime, no openai (a test holds this).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ._common import EXIT_FAIL, EXIT_OK, add_watch_option


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE")
    parser.add_argument("--strict", action="store_true", help="fail on warnings too")
    parser.add_argument("--format", choices=["text", "json", "github"], default="text")
    add_watch_option(parser)


def main(args: argparse.Namespace) -> int:
    if args.watch:
        from ._watch import rerun_argv, watch

        return watch("validate", rerun_argv(args.argv), args.files)
    from ..spec.findings import render
    from ..validate import validate_file

    findings = []
    for path in args.files:
        findings.extend(validate_file(path).findings)
    if args.format == "json" or findings:
        print(render(findings, args.format))
    errors = sum(f.severity == "error" for f in findings)
    warnings = len(findings) - errors
    if args.format == "text":
        files = len(args.files)
        print(f"{files} file{'s' * (files != 1)} checked: {errors} error(s), {warnings} warning(s)", file=sys.stderr)
    return EXIT_FAIL if errors or (args.strict and warnings) else EXIT_OK
