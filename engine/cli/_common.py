"""What several commands share: exit codes, writing output, loading a graph, secrets to redact."""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..redact import Redactor, auth_headers

if TYPE_CHECKING:
    from ..spec import Document

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
KEY_ENV = "OPENAI_API_KEY"


#: The cyclic garbage collector's first threshold for a command that runs once and exits (mypy's choice).
ONE_SHOT_GC_THRESHOLD = 200_000


@contextlib.contextmanager
def one_shot() -> Iterator[None]:
    """Collect cycles seldom while a command that runs once (validate, compile) works: building the spec's
    models and reading the graph allocate a few hundred thousand objects that live until exit, and the
    default thresholds rescan them again and again (a quarter of `engine validate`'s run) to free almost
    nothing. The thresholds are restored after (`main` may run inside another program, such as the tests)."""
    before = gc.get_threshold()
    gc.set_threshold(ONE_SHOT_GC_THRESHOLD, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


def _header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"takes NAME=VALUE, got {text!r}")
    return name.strip(), value


def add_header_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--header",
        action="append",
        default=[],
        type=_header,
        metavar="NAME=VALUE",
        help="extra connection header (Azure: api-key=…)",
    )


def add_watch_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--watch", action="store_true", help="run again whenever a file in the graph's folder is saved (Ctrl-C stops)"
    )


def secrets_redactor(headers: Iterable[tuple[str, str]] = (), doc: Document | None = None) -> Redactor:
    """Hides the API key, the credential headers given with --header and, with `doc`, the values of the
    environment variables its tools and MCP servers send as headers."""
    return Redactor(secret_values(headers, doc))


def secret_values(headers: Iterable[tuple[str, str]] = (), doc: Document | None = None) -> list[str]:
    secrets = [os.environ.get(KEY_ENV, ""), *auth_headers(dict(headers)).values()]
    if doc is not None:
        from ..tools.credentials import secret_values as graph_secrets

        secrets += graph_secrets(doc)
    return [s for s in secrets if s]


def emit(text: str | bytes, output: Path | None) -> int:
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


def load_or_report(path: Path, *, warn: bool = False) -> Any:
    """The validated document of `path`, or None with its findings printed to standard error.
    `warn`: also print, once, what the model lifecycle warns of (a model shutting down)."""
    from ..errors import SpecError
    from ..validate import load_graph

    try:
        doc = load_graph(path)
    except SpecError as exc:
        print(exc, file=sys.stderr)
        return None
    if warn:
        from ..graph import lint_models

        warn_findings(lint_models(doc))
    return doc


def warn_findings(findings: Iterable[Any]) -> None:
    for finding in findings:
        print(f"engine: {finding.format()}", file=sys.stderr)
