"""The `engine` command: argument parsing, and one module per command.

A command is a module with `add_arguments(parser)` and `main(args) -> int`, listed in `COMMANDS`
with its one-line help. Only the chosen command's module is imported (`engine validate` must start
fast, and `engine --help` imports none): keep a command module's top-level imports light and import
what it runs inside `main`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NamedTuple

from .. import logs
from ._common import EXIT_FAIL, EXIT_OK, secrets_redactor

__all__ = ["COMMANDS", "Command", "main"]


class Command(NamedTuple):
    module: str  # the module with `add_arguments(parser)` and `main(args) -> int`
    help: str


#: Every `engine` command, in the order `engine --help` lists them. Adding a command is one line here
#: and one module: `"sim": Command("engine.sim.command", "serve the simulator for any client")`.
COMMANDS: dict[str, Command] = {
    "validate": Command("engine.cli.validate", "check graph files; report file:line:col findings"),
    "compile": Command("engine.cli.compile", "print the session.update an agent sends"),
    "graph": Command("engine.cli.graph", "draw the handoff graph"),
    "inspect": Command("engine.cli.inspect", "list agents, states, tools, handoffs and what each state offers"),
    "run": Command("engine.cli.run", "run a graph live, or replay its demo on the simulator without a key"),
    "test": Command("engine.cli.test", "run conversation tests (offline on the simulator, or --live)"),
    "replay": Command("engine.cli.replay", "render a recorded events file (run --events) in the terminal"),
    "sim": Command("engine.sim.command", "serve the built-in simulator for any Realtime client"),
    "calls": Command("engine.records.command", "list, show and export recorded calls"),
    "serve": Command("engine.serve.command", "the browser console, the Twilio bridge and the SIP webhook"),
    "init": Command("engine.cli.init", "create a project: a graph, its prompt, a python tool module and tests"),
    "schema": Command("engine.cli.schema", "print the JSON Schema of the graph file"),
}


class _Version(argparse.Action):
    """`--version`, looking the version up only when asked (the metadata lookup costs an import)."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help="print the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
        import engine

        sys.stdout.write(f"engine {engine.__version__}\n")
        parser.exit()


def _parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="engine", description="Declarative agent graphs for realtime voice agents.")
    parser.add_argument("--version", action=_Version)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen = next((arg for arg in argv if not arg.startswith("-")), None)
    for name, command in COMMANDS.items():
        p = sub.add_parser(name, help=command.help, description=command.help)
        if name == chosen:
            importlib.import_module(command.module).add_arguments(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `engine` command with `argv` (default: the process's arguments); return its exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _parser(argv).parse_args(argv)
    args.argv = argv[argv.index(args.command) + 1 :]  # the command's own arguments (`--watch` runs them again)
    logs.configure(debug=logs.debug_requested(), redact=secrets_redactor(getattr(args, "header", ())))
    try:
        return importlib.import_module(COMMANDS[args.command].module).main(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # a bug of ours: say so in one line, traceback only on request
        if logs.debug_requested():
            raise
        text = secrets_redactor(getattr(args, "header", ()))(f"{type(exc).__name__}: {exc}")
        print(f"engine: internal error: {text} (set ENGINE_DEBUG=1 for details)", file=sys.stderr)
        return EXIT_FAIL
