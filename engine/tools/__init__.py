"""Stage 4 of the pipeline: tool executors (python callable, static result, HTTP, escalation).

`Toolbox(doc).execute(name, arguments, ctx)` runs one function call of the realtime model and
returns a `ToolOutcome`; it never raises for a bad call, nor for anything a tool raises. One toolbox
serves every session of a graph. `httpx` and `openai` load on first use.

Names load on first use: `engine validate` imports `engine.tools.python` to check callables, and
must not pay for (or import asyncio through) the executors.
"""

import importlib as _importlib
import typing as _typing

if _typing.TYPE_CHECKING:
    from .base import DEFAULT_MAX_OUTPUT_CHARS, DEFAULT_TIMEOUT, ToolContext, ToolError, ToolOutcome
    from .credentials import secret_values
    from .http import shared_client
    from .python import CallableError, check_signature, resolve_callable
    from .responses import ResponsesClient, ResponsesError
    from .threads import DEFAULT_MAX_THREADS, ToolThreads
    from .toolbox import Toolbox

__all__ = [
    "DEFAULT_MAX_OUTPUT_CHARS",
    "DEFAULT_MAX_THREADS",
    "DEFAULT_TIMEOUT",
    "CallableError",
    "ResponsesClient",
    "ResponsesError",
    "ToolContext",
    "ToolError",
    "ToolOutcome",
    "ToolThreads",
    "Toolbox",
    "check_signature",
    "resolve_callable",
    "secret_values",
    "shared_client",
]

_HOMES = {
    "DEFAULT_MAX_OUTPUT_CHARS": "base",
    "DEFAULT_MAX_THREADS": "threads",
    "ToolThreads": "threads",
    "secret_values": "credentials",
    "shared_client": "http",
    "DEFAULT_TIMEOUT": "base",
    "ToolContext": "base",
    "ToolError": "base",
    "ToolOutcome": "base",
    "CallableError": "python",
    "check_signature": "python",
    "resolve_callable": "python",
    "ResponsesClient": "responses",
    "ResponsesError": "responses",
    "Toolbox": "toolbox",
}


def __getattr__(name: str) -> _typing.Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'engine.tools' has no attribute {name!r}")
    value = getattr(_importlib.import_module(f".{home}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
