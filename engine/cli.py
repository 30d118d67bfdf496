"""The `engine` command. Imports are lazy: `engine validate` must start fast."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import logs

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def _header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"takes NAME=VALUE, got {text!r}")
    return name.strip(), value


_HEADER_OPTION: dict[str, Any] = {
    "action": "append",
    "default": [],
    "type": _header,
    "metavar": "NAME=VALUE",
    "help": "extra connection header (Azure: api-key=…)",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="engine", description="Declarative agent graphs for realtime voice agents.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("validate", help="check graph files; report file:line:col findings")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE")
    p.add_argument("--strict", action="store_true", help="fail on warnings too")
    p.add_argument("--format", choices=["text", "json", "github"], default="text")

    p = sub.add_parser("compile", help="print the session.update an agent sends")
    p.add_argument("file", type=Path, metavar="FILE")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--agent", help="the agent (default: the start agent)")
    group.add_argument("--all", action="store_true", help="every agent (and every enforced state)")
    p.add_argument("--state", help="a state of the agent's enforced state machine")
    p.add_argument("--call-id", help="compile for a SIP call (audio formats left to the call)")

    p = sub.add_parser("graph", help="draw the handoff graph")
    p.add_argument("file", type=Path, metavar="FILE")
    p.add_argument("--format", choices=["mermaid", "dot", "svg", "html"], default="mermaid")
    p.add_argument("-o", "--output", type=Path, help="write to this file instead of standard output")

    p = sub.add_parser("run", help="run a graph live, or replay its demo on the simulator without a key")
    p.add_argument("file", type=Path, metavar="FILE")
    p.add_argument("--url", help="a Realtime-compatible websocket URL (default: OpenAI)")
    p.add_argument("--header", **_HEADER_OPTION)
    p.add_argument("--call-id", help="attach to a SIP call by its id")
    p.add_argument("--events", type=Path, metavar="FILE.jsonl", help="record every client and server event")
    p.add_argument("--approve", choices=["ask", "auto", "deny"], default="ask", help="approval policy")
    p.add_argument("--simulate", action="store_true", help="replay the demo on the simulator even with a key")

    p = sub.add_parser("test", help="run conversation tests (offline on the simulator, or --live)")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE", help="graph files or *.tests.yaml files")
    p.add_argument("-k", dest="keyword", metavar="EXPR", help="only tests whose name contains EXPR")
    p.add_argument(
        "--live", action="store_true", help="run against the real API (or --url); actions become expectations"
    )
    p.add_argument("--url", help="with --live: a Realtime-compatible websocket URL")
    p.add_argument("--header", **_HEADER_OPTION)
    p.add_argument("--coverage", action="store_true", help="report agents, edges, states, transitions, tools exercised")
    p.add_argument("--min-coverage", type=float, metavar="N", help="fail when coverage is below N percent")
    p.add_argument("--junit", type=Path, metavar="FILE", help="write JUnit XML")

    p = sub.add_parser("schema", help="print the JSON Schema of the graph file")
    p.add_argument("-o", "--output", type=Path)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logs.configure(debug=logs.debug_requested())
    args = _parser().parse_args(argv)
    try:
        return _COMMANDS[args.command](args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # a bug of ours: say so in one line, traceback only on request
        if logs.debug_requested():
            raise
        print(f"engine: internal error: {type(exc).__name__}: {exc} (set ENGINE_DEBUG=1 for details)", file=sys.stderr)
        return EXIT_FAIL


def _emit(text: str | bytes, output: Path | None) -> int:
    """Write `text` to standard output or to `output`; a file that cannot be written is a clean error."""
    if output is None:
        if isinstance(text, bytes):
            sys.stdout.buffer.write(text)
        else:
            sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return EXIT_OK
    try:
        if isinstance(text, bytes):
            output.write_bytes(text)
        else:
            output.write_text(text, encoding="utf-8")
    except OSError as exc:
        print(f"engine: cannot write {output}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAIL
    return EXIT_OK


def _cmd_validate(args: argparse.Namespace) -> int:
    from .spec.findings import render
    from .validate import validate_file

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


def _load_or_report(path: Path):
    from .spec import SpecError
    from .validate import load_graph

    try:
        return load_graph(path)
    except SpecError as exc:
        print(exc, file=sys.stderr)
        return None


def _cmd_compile(args: argparse.Namespace) -> int:
    import json

    from .compile import CompileError, compile_all, compile_session
    from .spec import did_you_mean

    if args.all and (args.state or args.call_id):
        print("engine: --all compiles every agent and state; it takes neither --state nor --call-id", file=sys.stderr)
        return EXIT_USAGE
    doc = _load_or_report(args.file)
    if doc is None:
        return EXIT_FAIL
    if args.all:
        print(json.dumps(compile_all(doc), indent=2))
        return EXIT_OK
    agent = args.agent or doc.spec.start
    if agent not in doc.spec.agents:
        print(f"engine: unknown agent '{agent}'{did_you_mean(agent, doc.spec.agents)}", file=sys.stderr)
        return EXIT_USAGE
    try:
        event = compile_session(doc, agent, state=args.state, call_id=args.call_id)
    except CompileError as exc:  # a state that does not exist or is not enforced
        print(f"engine: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(json.dumps(event, indent=2))
    return EXIT_OK


def _cmd_graph(args: argparse.Namespace) -> int:
    from .graph import GraphvizMissing, build_graph, render, render_svg

    doc = _load_or_report(args.file)
    if doc is None:
        return EXIT_FAIL
    graph = build_graph(doc)
    try:
        out = render_svg(doc, graph) if args.format == "svg" else render(doc, graph, args.format)
    except GraphvizMissing as exc:
        print(f"engine: {exc}", file=sys.stderr)
        return EXIT_FAIL
    return _emit(out, args.output)


def _cmd_run(args: argparse.Namespace) -> int:
    from .runtime.cli import run_command

    doc = _load_or_report(args.file)
    if doc is None:
        return EXIT_FAIL
    return run_command(doc, args)


def _cmd_test(args: argparse.Namespace) -> int:
    from .testing.command import test_command

    return test_command(args)


def _cmd_schema(args: argparse.Namespace) -> int:
    from .spec.schema import graph_json_schema_text

    return _emit(graph_json_schema_text(), args.output)


_COMMANDS = {
    "validate": _cmd_validate,
    "compile": _cmd_compile,
    "graph": _cmd_graph,
    "run": _cmd_run,
    "test": _cmd_test,
    "schema": _cmd_schema,
}

if __name__ == "__main__":
    sys.exit(main())
