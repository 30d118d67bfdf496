"""A declarative agent-graph engine for realtime voice agents.

graph = engine.load("graphs/retail.yaml")
async with engine.Session(graph) as session:
    await session.send_text("Hi!")
    async for event in session: ...
"""

import typing as _typing

from .errors import (
    CompileError,
    ConnectFailed,
    ConnectionLost,
    EngineError,
    SessionClosed,
    SpecError,
    TemplateRenderError,
    ToolError,
    TransportClosed,
)

if _typing.TYPE_CHECKING:
    from .runtime import Session
    from .spec import Document, Finding

__all__ = [
    "CompileError",
    "ConnectFailed",
    "ConnectionLost",
    "Document",
    "EngineError",
    "Finding",
    "Session",
    "SessionClosed",
    "SpecError",
    "TemplateRenderError",
    "ToolError",
    "TransportClosed",
    "__version__",
    "load",
]


def load(path: str) -> "Document":
    """Load and fully validate a graph file; raise `SpecError` listing every error (as located findings)."""
    from .validate import load_graph

    return load_graph(path)


def __getattr__(name: str) -> _typing.Any:
    # Imported only when asked for: the spec pulls in pydantic and yaml, the runtime websockets and
    # openai, and `import engine` (which every `engine` command does) must stay cheap.
    if name == "Session":
        from .runtime import Session

        return Session
    if name in ("Document", "Finding"):
        from . import spec

        return getattr(spec, name)
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("realtime-agent-engine")
        except PackageNotFoundError:  # run from a source tree that was never installed
            return "0+unknown"
    raise AttributeError(f"module 'engine' has no attribute {name!r}")
