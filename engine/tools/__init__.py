"""Stage 4 of the pipeline: tool executors (python callable, static result, HTTP, escalation).

`Toolbox(doc).execute(name, arguments, ctx)` runs one function call of the realtime model and
returns a `ToolOutcome`; it never raises for a bad call, nor for anything a tool raises. One toolbox
serves every session of a graph. `httpx` and `openai` load on first use.
"""

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
