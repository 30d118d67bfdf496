"""The `escalate:` executor: a text model (Responses API) answers the realtime agent's request.

Stateless loop: each round sends the whole input (recent conversation, the agent's request, then
every tool call and output so far) without `previous_response_id`, so any Responses-compatible
server works. The tools the text model may call run through the same toolbox as the realtime
agent's, with the same argument checks, timeouts and `sets`.
"""

from __future__ import annotations

import contextvars
import json
from typing import Any, Protocol

from jsonschema import Draft202012Validator

from engine.compile.templates import render
from engine.spec.models import Escalation, Tool

from .base import ToolContext, ToolError, ToolOutcome, schema_errors, template_variables
from .responses import ResponsesError

DEFAULT_INSTRUCTIONS = (
    "You are an expert supporting a realtime voice agent. Answer its request from the conversation so far "
    "and the results of your tools. Be accurate and concise; the agent reads your answer to the caller."
)

MESSAGE_ROLES = ("user", "assistant", "system", "developer")

# Escalations in progress in this task: an escalation that (through its tools) reaches itself is refused.
_chain: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("escalation_chain", default=())


class _Toolbox(Protocol):
    graph: str

    def spec(self, name: str) -> Tool: ...

    async def execute(self, name: str, arguments: str, ctx: ToolContext) -> ToolOutcome: ...


def request_message(name: str, args: dict[str, Any]) -> str:
    """The user message carrying the realtime agent's request."""
    return f"The realtime agent calls the tool '{name}' with these arguments:\n{json.dumps(args, ensure_ascii=False)}"


def history_input(history: Any, last: int) -> list[dict[str, Any]]:
    """The last `last` messages of the conversation as Responses API input messages."""
    messages = [
        {"role": item["role"], "content": item["text"]}
        for item in history
        if item.get("type") == "message" and item.get("role") in MESSAGE_ROLES and item.get("text")
    ]
    return messages[-last:]


def is_strict_schema(schema: Any) -> bool:
    """Whether a JSON Schema meets structured outputs' strict mode: closed objects, every property required."""
    if isinstance(schema, list):
        return all(is_strict_schema(s) for s in schema)
    if not isinstance(schema, dict):
        return True
    if schema.get("type") == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        if schema.get("additionalProperties") is not False or set(schema.get("required") or []) != set(props):
            return False
    return all(is_strict_schema(v) for k, v in schema.items() if k not in ("enum", "const", "default", "examples"))


def text_format(name: str, output: dict[str, Any]) -> dict[str, Any]:
    """`text.format` asking for JSON matching `output`.

    Strict mode is used when the schema allows it; otherwise the API would refuse the request, so
    the schema is sent non-strict and the answer is still checked against it here.
    """
    return {
        "format": {
            "type": "json_schema",
            "name": f"{name}_result"[:64],
            "schema": output,
            "strict": is_strict_schema(output),
        }
    }


def tool_definitions(toolbox: _Toolbox, names: list[str]) -> list[dict[str, Any]]:
    from engine.compile.common import CompileError
    from engine.compile.tools import mcp_tool, resolve_mcp_headers

    out: list[dict[str, Any]] = []
    for name in names:
        tool = toolbox.spec(name)
        if tool.mcp is not None:
            try:
                headers = resolve_mcp_headers(tool.mcp)
            except CompileError as exc:
                raise ToolError(f"Tool '{name}' is not configured: {exc}") from None
            out.append({**mcp_tool(tool.mcp), **({"headers": headers} if headers else {})})
        else:
            parameters = json.loads(json.dumps(tool.parameters))
            out.append(
                {
                    "type": "function",
                    "name": name,
                    "description": tool.description,
                    "parameters": parameters,
                    "strict": False,
                }
            )
    return out


async def run_escalation(
    name: str,
    esc: Escalation,
    args: dict[str, Any],
    ctx: ToolContext,
    *,
    toolbox: _Toolbox,
    instructions: str | None,
    output_validator: Draft202012Validator | None,
    steps: list[dict[str, Any]],
) -> Any:
    """The text model's answer: a string, or the parsed object when `output` is a schema.

    `instructions` is the template source (None for the default); `steps` receives each tool call
    of the text model and the final answer as they happen, so they survive a failure or timeout.
    """
    if ctx.responses is None:
        raise ToolError(f"Tool '{name}' needs the Responses API, and this session has no client for it.")
    chain = _chain.get()
    if name in chain:
        raise ToolError(f"Tool '{name}' cannot call itself through an escalation ({' -> '.join((*chain, name))}).")
    token = _chain.set((*chain, name))
    try:
        return await _loop(name, esc, args, ctx, toolbox, instructions, output_validator, steps)
    finally:
        _chain.reset(token)


async def _loop(
    name: str,
    esc: Escalation,
    args: dict[str, Any],
    ctx: ToolContext,
    toolbox: _Toolbox,
    instructions: str | None,
    output_validator: Draft202012Validator | None,
    steps: list[dict[str, Any]],
) -> Any:
    assert ctx.responses is not None
    source = instructions if instructions is not None else DEFAULT_INSTRUCTIONS
    variables = template_variables(args, ctx, toolbox.graph)
    request: dict[str, Any] = {
        "model": esc.model,
        "instructions": render(source, variables, name=f"tools.{name}.escalate.instructions"),
        "metadata": {"engine_kind": "escalation", "tool": name},
    }
    if esc.tools:
        request["tools"] = tool_definitions(toolbox, esc.tools)
    if isinstance(esc.output, dict):
        request["text"] = text_format(name, esc.output)
    items: list[dict[str, Any]] = [
        *history_input(ctx.history, esc.history.last),
        {"role": "user", "content": request_message(name, args)},
    ]
    offered = set(esc.tools)

    for round_ in range(esc.max_tool_rounds + 1):
        try:
            response = await ctx.responses.create(**request, input=list(items))
        except ResponsesError as exc:
            raise ToolError(f"The escalation model of '{name}' could not be reached: {exc}") from None
        calls = [item for item in response.output if item.type == "function_call"]
        if not calls:
            return _answer(name, response, output_validator, steps)
        if round_ == esc.max_tool_rounds:
            raise ToolError(
                f"The escalation model of '{name}' was still calling tools after {esc.max_tool_rounds} rounds."
            )
        for item in response.output:
            if item.type == "reasoning":  # reasoning models need their reasoning next to their calls
                items.append(item.model_dump(exclude_none=True))
            elif item.type == "function_call":
                items.append(
                    {"type": "function_call", "call_id": item.call_id, "name": item.name, "arguments": item.arguments}
                )
        for call in calls:
            if call.name in offered:
                outcome = await toolbox.execute(call.name, call.arguments, ctx)
                output, ok = outcome.output, outcome.ok
            else:
                available = ", ".join(esc.tools) or "none"
                output = json.dumps({"error": f"Tool '{call.name}' is not available. Available tools: {available}."})
                ok = False
            items.append({"type": "function_call_output", "call_id": call.call_id, "output": output})
            steps.append(
                {"type": "function_call", "name": call.name, "call_id": call.call_id, "arguments": call.arguments}
                | {"output": output, "ok": ok}
            )
    raise AssertionError("unreachable")


def _answer(name: str, response: Any, validator: Draft202012Validator | None, steps: list[dict[str, Any]]) -> Any:
    for item in response.output:
        for part in getattr(item, "content", None) or []:
            if getattr(part, "type", None) == "refusal":
                raise ToolError(f"The escalation model of '{name}' refused: {part.refusal}")
    text = response.output_text
    steps.append({"type": "answer", "text": text})
    if not text:
        raise ToolError(f"The escalation model of '{name}' gave no answer (status: {response.status}).")
    if validator is None:
        return text
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ToolError(f"The escalation model of '{name}' answered with invalid JSON: {exc.msg}.") from None
    problems = schema_errors(validator, value)
    if problems:
        raise ToolError(
            f"The answer of the escalation model of '{name}' breaks its output schema: {'; '.join(problems)}."
        )
    return value
