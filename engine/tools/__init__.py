"""Stage 4 of the pipeline: tool executors (python callable, static result, HTTP, escalation).

`Toolbox(doc).execute(name, arguments, ctx)` runs one function call of the realtime model and
returns a `ToolOutcome`; it never raises for a bad call. `httpx` and `openai` load on first use.

Names load on first use: `engine validate` imports `engine.tools.python` to check callables, and
must not pay for (or import asyncio through) the executors.
"""

import importlib as _importlib
import typing as _typing

if _typing.TYPE_CHECKING:
    from .base import DEFAULT_TIMEOUT, ToolContext, ToolError, ToolOutcome
    from .python import CallableError, check_signature, resolve_callable
    from .responses import ResponsesClient, ResponsesError
    from .toolbox import Toolbox

__all__ = [
    "DEFAULT_TIMEOUT",
    "CallableError",
    "ResponsesClient",
    "ResponsesError",
    "ToolContext",
    "ToolError",
    "ToolOutcome",
    "Toolbox",
    "check_signature",
    "resolve_callable",
]

_HOMES = {
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
