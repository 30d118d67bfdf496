"""Logging for the `engine` command: one `engine: <level>: <message>` line per record on standard error.

Tracebacks are shown only when debugging (`ENGINE_DEBUG` set); otherwise a record logged with an
exception gets its type and message appended, on the same line. A terminal frontend that streams
text without a newline registers a line breaker (`line_breaker`), so a record never lands mid-line.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Callable, Iterator

DEBUG_ENV = "ENGINE_DEBUG"

_logger = logging.getLogger("engine")
_breaker: Callable[[], None] | None = None


def debug_requested() -> bool:
    """Whether the user asked for tracebacks (`ENGINE_DEBUG` set to anything but empty)."""
    return bool(os.environ.get(DEBUG_ENV))


def configure(debug: bool, redact: Callable[[str], str] | None = None) -> None:
    """Send the engine's log records to standard error, one line each; with `debug`, debug records
    and tracebacks too. `redact` rewrites each line before it is written (it removes secrets: a
    server's error quoting the API key is logged without it, tracebacks included). Calling it again
    replaces the previous configuration."""
    for handler in [h for h in _logger.handlers if isinstance(h, _StderrHandler)]:
        _logger.removeHandler(handler)
    handler = _StderrHandler()
    handler.setFormatter(_LineFormatter(debug, redact))
    _logger.addHandler(handler)
    _logger.setLevel(logging.DEBUG if debug else logging.WARNING)


@contextlib.contextmanager
def line_breaker(end_line: Callable[[], None]) -> Iterator[None]:
    """While inside, `end_line()` runs before each record is written (it ends an open output line)."""
    global _breaker
    previous, _breaker = _breaker, end_line
    try:
        yield
    finally:
        _breaker = previous


class _StderrHandler(logging.Handler):
    """Writes to the current `sys.stderr` (looked up per record, so redirections are honoured)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
            if _breaker is not None:
                _breaker()
            stream = sys.stderr
            if stream is None:  # pythonw, or stderr closed: nowhere to write
                return
            stream.write(text + "\n")
            stream.flush()
        except Exception:
            self.handleError(record)


class _LineFormatter(logging.Formatter):
    def __init__(self, debug: bool, redact: Callable[[str], str] | None = None) -> None:
        super().__init__()
        self._debug = debug
        self._redact = redact

    def format(self, record: logging.LogRecord) -> str:
        line = self._line(record)
        return self._redact(line) if self._redact is not None else line

    def _line(self, record: logging.LogRecord) -> str:
        message = " ".join(part.strip() for part in record.getMessage().splitlines() if part.strip())
        line = f"engine: {record.levelname.lower()}: {message}"
        exc = record.exc_info[1] if record.exc_info else None
        if exc is None:
            return line
        if self._debug:
            return line + "\n" + self.formatException(record.exc_info).rstrip("\n")  # type: ignore[arg-type]
        detail = " ".join(str(exc).split())
        return f"{line} ({type(exc).__name__}{': ' + detail if detail else ''})"
