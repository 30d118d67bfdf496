"""A declarative agent-graph engine for realtime voice agents.

graph = engine.load("graphs/retail.yaml")
async with engine.Session(graph) as session:
    await session.send_text("Hi!")
    async for event in session: ...
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .spec import Document, Finding, SpecError

if TYPE_CHECKING:
    from .runtime import Session

__all__ = ["Document", "Finding", "Session", "SpecError", "load"]


def load(path: str) -> Document:
    """Load and fully validate a graph file; raise `SpecError` listing every error."""
    from .validate import load_graph

    return load_graph(path)


def __getattr__(name: str) -> Any:
    # The runtime pulls in websockets and openai: import it only when asked for.
    if name == "Session":
        from .runtime import Session

        return Session
    raise AttributeError(name)
