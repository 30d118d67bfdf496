"""Every exception the engine raises on purpose, in one hierarchy.

    EngineError
    ├── SpecError              a graph or tests file that cannot be loaded (carries located findings)
    ├── CompileError           a document that cannot be compiled as asked (also a ValueError)
    │   └── TemplateRenderError    a template failed while rendering
    ├── ToolError              an expected tool failure; its message is written for the model
    ├── TransportClosed        the websocket under a session ended (`clean`: requested or dropped)
    ├── ConnectFailed          the websocket could not be opened (also a ConnectionError)
    ├── SessionClosed          the session was closed by its owner (also a ConnectionError)
    └── ConnectionLost         the session's connection is gone for good (also a ConnectionError)

Catch `EngineError` for anything the engine reports by design; anything else escaping is a bug.
`SessionClosed` and `ConnectionLost` subclass the builtin `ConnectionError`, so code written as
`except ConnectionError` keeps working and can now tell the two apart.

A leaf module: it imports nothing from the engine, so every layer may import it. The classes are
re-exported where they were first defined (`engine.spec`, `engine.compile`, `engine.tools`,
`engine.runtime`): `engine.spec.SpecError is engine.errors.SpecError`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

__all__ = [
    "CompileError",
    "ConnectFailed",
    "ConnectionLost",
    "EngineError",
    "SessionClosed",
    "SpecError",
    "TemplateRenderError",
    "ToolError",
    "TransportClosed",
]


class _Located(Protocol):
    """What `SpecError` needs of a finding (`engine.spec.Finding` is one)."""

    def sort_key(self) -> Any: ...
    def format(self) -> str: ...


class EngineError(Exception):
    """The root of every error the engine raises on purpose."""


class SpecError(EngineError):
    """A graph or tests file cannot be loaded; `findings` holds every finding that stopped it, sorted
    by file, line, column and code, and the message lists them, one `file:line:col: ...` per line."""

    def __init__(self, findings: Iterable[_Located]) -> None:
        self.findings: list[Any] = sorted(findings, key=lambda f: f.sort_key())
        super().__init__("\n".join(f.format() for f in self.findings))


class CompileError(EngineError, ValueError):
    """The document cannot be compiled as asked (unknown agent, state or tool).

    Validation reports these with locations first; compiling an unvalidated file raises this.
    """


class TemplateRenderError(CompileError):
    """A template failed while rendering; the message names the template and, when known, the line."""

    def __init__(self, name: str, line: int | None, message: str) -> None:
        self.name, self.line = name, line
        super().__init__(f"{name}:{line}: {message}" if line else f"{name}: {message}")


class ToolError(EngineError):
    """An expected failure of a tool; its message is written for the model and is safe to show it."""


class TransportClosed(EngineError):
    """The connection ended; `clean` tells a requested close from a drop."""

    def __init__(self, clean: bool, reason: str = "") -> None:
        super().__init__(reason or ("closed" if clean else "connection lost"))
        self.clean = clean

    def again(self) -> TransportClosed:
        """The same error, fresh (raising one instance over and over chains its tracebacks)."""
        return TransportClosed(self.clean, str(self))


class ConnectFailed(EngineError, ConnectionError):
    """The websocket could not be opened: `reason` in words a user can act on, and `status`, the HTTP
    status, when the server refused the upgrade. Whichever client library failed, the words are the same."""

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class SessionClosed(EngineError, ConnectionError):
    """The session was closed (by `close()` or leaving its `async with`); nothing more can be sent."""


class ConnectionLost(EngineError, ConnectionError):
    """The session's connection is gone for good (reconnecting failed or was not possible); `reason`
    says why, in words."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"the realtime connection is lost: {reason}")
        self.reason = reason
