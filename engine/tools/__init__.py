"""Stage 4 of the pipeline: tool executors (python callable, static result, HTTP, escalation).

`Toolbox(doc).execute(name, arguments, ctx)` runs one function call of the realtime model and
returns a `ToolOutcome`; it never raises for a bad call. `httpx` and `openai` load on first use.
"""

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
