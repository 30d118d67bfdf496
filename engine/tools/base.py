"""What every tool executor shares: the call's context, its outcome, and the error an executor raises."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine.errors import ToolError as ToolError  # defined with every engine error; imported from here too

if TYPE_CHECKING:
    from .responses import ResponsesClient

#: Seconds a tool may run when its spec gives no `timeout`.
DEFAULT_TIMEOUT = 30.0


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
    """The result of one tool call. `output` is the JSON text sent back as `function_call_output`."""

    output: str
    ok: bool
    error: str | None = None
    context_updates: dict[str, Any] = field(default_factory=dict)
    steps: list[dict[str, Any]] = field(default_factory=list)


def failure(message: str, *, steps: list[dict[str, Any]] | None = None) -> ToolOutcome:
    """An error outcome whose output tells the model what went wrong."""
    return ToolOutcome(json.dumps({"error": message}), ok=False, error=message, steps=steps or [])


def to_json(value: Any) -> str:
    """JSON text of a tool's result; objects JSON cannot encode become their plain form, else `str`."""
    return json.dumps(value, default=_plain, ensure_ascii=False)


def _plain(value: Any) -> Any:
    import dataclasses

    if hasattr(value, "model_dump"):  # pydantic models
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def template_variables(args: dict[str, Any], ctx: ToolContext, graph: str) -> dict[str, Any]:
    """What tool templates see: the context keys at top level, plus `context`, `args`, `agent`, `graph`."""
    return {**ctx.context, "context": ctx.context, "args": args, "agent": ctx.agent, "graph": graph}


def schema_errors(validator: Any, value: Any) -> list[str]:
    """Every JSON Schema violation of `value`, as `at /path: message`, in document order."""
    errors = sorted(validator.iter_errors(value), key=lambda e: [str(p) for p in e.absolute_path])
    return [f"at /{'/'.join(str(p) for p in e.absolute_path)}: {e.message}" for e in errors]
