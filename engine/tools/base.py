"""What every tool executor shares: the call's context, its outcome, and the error an executor raises."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine.errors import ToolError as ToolError  # defined with every engine error; imported from here too

if TYPE_CHECKING:
    from .responses import ResponsesClient

#: Seconds a tool may run when its spec gives no `timeout`.
DEFAULT_TIMEOUT = 30.0
#: Characters of output a tool may send the model when its toolbox does not say (about 4,000 tokens).
DEFAULT_MAX_OUTPUT_CHARS = 16_000


@dataclass
class ToolContext:
    """What a tool call sees.

    `context` is the live session context (tools may change it); `history` holds the conversation
    items, each `{"type": "message", "role": ..., "text": ...}` or `{"type": "function_call", "name": ...,
    "arguments": ..., "call_id": ..., "output": ...}`; `responses` is needed by escalations only.
    """

    context: dict[str, Any]
    history: Sequence[dict[str, Any]] = ()
    responses: ResponsesClient | None = None
    agent: str = ""


@dataclass
class ToolOutcome:
    """The result of one tool call. `output` is the JSON text sent back as `function_call_output`.

    `error` says why a call failed (for the operator; the model reads `output`); `warning` is
    something the operator should know about a call that succeeded (it blocked the event loop).
    """

    output: str
    ok: bool
    error: str | None = None
    context_updates: dict[str, Any] = field(default_factory=dict)
    steps: list[dict[str, Any]] = field(default_factory=list)
    warning: str | None = None


def failure(message: str, *, steps: list[dict[str, Any]] | None = None) -> ToolOutcome:
    """An error outcome whose output tells the model what went wrong."""
    return ToolOutcome(json.dumps({"error": message}), ok=False, error=message, steps=steps or [])


def to_json(value: Any) -> str:
    """JSON text of a tool's result; objects JSON cannot encode become their plain form, else `str`.

    NaN and the infinities, which JSON cannot hold (`json.dumps` writes the invalid tokens `NaN`
    and `Infinity`), become the strings "NaN", "Infinity" and "-Infinity": the model still sees
    what the tool returned, and the text stays valid JSON.
    """
    try:
        return json.dumps(value, default=_plain, ensure_ascii=False, allow_nan=False)
    except ValueError as exc:
        if "out of range float" not in str(exc).lower():
            raise
    return json.dumps(_finite(value), default=lambda v: _finite(_plain(v)), ensure_ascii=False, allow_nan=False)


def _plain(value: Any) -> Any:
    import dataclasses

    if hasattr(value, "model_dump"):  # pydantic models
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def _finite(value: Any, path: frozenset[int] = frozenset()) -> Any:
    """`value` with every non-finite float (values and keys) written as a string."""
    if isinstance(value, float):
        return value if math.isfinite(value) else _NONFINITE[str(value)]
    if isinstance(value, dict | list | tuple):
        if id(value) in path:
            raise ValueError("Circular reference detected")
        inner = path | {id(value)}
        if isinstance(value, dict):
            return {_finite(k, inner) if isinstance(k, float) else k: _finite(v, inner) for k, v in value.items()}
        return [_finite(v, inner) for v in value]
    return value


_NONFINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def cap_output(output: str, limit: int) -> str:
    """`output` if it has at most `limit` characters; else JSON holding its beginning and a note for the model.

    The result is valid JSON of at most `limit` characters (however much escaping the cut text needs).
    """
    if len(output) <= limit:
        return output

    def capped(keep: int) -> str:
        note = (
            f"The output was {len(output):,} characters, more than the {limit:,} allowed: only the "
            f"first {keep:,} are shown and {len(output) - keep:,} were cut."
        )
        return json.dumps({"truncated_output": output[:keep], "note": note}, ensure_ascii=False)

    # The longest beginning that fits once escaped (a quote takes two characters, a control character six).
    low, high = 0, limit
    while low < high:
        middle = (low + high + 1) // 2
        if len(capped(middle)) <= limit:
            low = middle
        else:
            high = middle - 1
    return capped(low)


def template_variables(args: dict[str, Any], ctx: ToolContext, graph: str) -> dict[str, Any]:
    """What tool templates see: the context keys at top level, plus `context`, `args`, `agent`, `graph`."""
    return {**ctx.context, "context": ctx.context, "args": args, "agent": ctx.agent, "graph": graph}


def schema_errors(validator: Any, value: Any) -> list[str]:
    """Every JSON Schema violation of `value`, as `at /path: message`, in document order."""
    errors = sorted(validator.iter_errors(value), key=lambda e: [str(p) for p in e.absolute_path])
    return [f"at /{'/'.join(str(p) for p in e.absolute_path)}: {e.message}" for e in errors]
