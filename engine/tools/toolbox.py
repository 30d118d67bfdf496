"""The toolbox of a graph: every tool's executor behind one `execute(name, arguments, ctx)`.

`execute` never raises (except on cancellation): unknown tools, bad JSON, invalid arguments,
timeouts and exceptions all become an error outcome whose output tells the model what went wrong.
Tracebacks go to the log, never to the model.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from jsonschema import Draft202012Validator

from engine.spec import Document, Tool, did_you_mean

from .base import DEFAULT_TIMEOUT, ToolContext, ToolError, ToolOutcome, failure, schema_errors, to_json
from .escalate import run_escalation
from .http import run_http
from .python import CallableError, resolve_callable, run_python, takes_context
from .static import run_static

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("engine.tools")


class Toolbox:
    """Executes the tools of `doc`. Python callables are resolved here: a bad one raises `CallableError`
    listing every problem. Close with `aclose()` (closes the HTTP client it created)."""

    def __init__(self, doc: Document, *, http_client: httpx.AsyncClient | None = None) -> None:
        self.doc = doc
        self.graph = doc.spec.graph
        self._tools = doc.spec.tools
        # Format checking stays off: `format` is advice to the model, not a rule we enforce.
        self._validators = {name: Draft202012Validator(tool.parameters) for name, tool in self._tools.items()}
        self._outputs = {
            name: Draft202012Validator(tool.escalate.output)
            for name, tool in self._tools.items()
            if tool.escalate is not None and isinstance(tool.escalate.output, dict)
        }
        self._callables: dict[str, tuple[Callable[..., Any], bool]] = {}
        problems = []
        for name, tool in self._tools.items():
            if tool.run is None:
                continue
            try:
                fn = resolve_callable(doc.dir, tool.run)
            except CallableError as exc:
                problems.append(f"tool '{name}': {exc}")
                continue
            self._callables[name] = (fn, takes_context(fn, tool.parameters))
        if problems:
            raise CallableError("\n".join(problems), problems)
        self._instructions: dict[str, str | None] = {}
        self._http = http_client
        self._owns_http = http_client is None

    @property
    def names(self) -> list[str]:
        return list(self._tools)

    def spec(self, name: str) -> Tool:
        """The spec of tool `name`; `KeyError` (with a did-you-mean) when there is none."""
        try:
            return self._tools[name]
        except KeyError:
            raise KeyError(f"unknown tool '{name}'{did_you_mean(name, self._tools)}") from None

    async def execute(self, name: str, arguments: str, ctx: ToolContext) -> ToolOutcome:
        """Run tool `name` with `arguments` (the model's JSON text) and apply its `sets` on success."""
        tool = self._tools.get(name)
        if tool is None:
            available = ", ".join(self._tools) or "none"
            return failure(f"Unknown tool '{name}'. Available tools: {available}.")
        try:
            args = json.loads(arguments) if arguments and arguments.strip() else {}
        except json.JSONDecodeError as exc:
            return failure(
                f"The arguments of '{name}' are not valid JSON ({exc.msg} at position {exc.pos}). "
                f"Call '{name}' again with a JSON object."
            )
        if not isinstance(args, dict):
            return failure(f"The arguments of '{name}' must be a JSON object, not {type(args).__name__}.")
        problems = schema_errors(self._validators[name], args)
        if problems:
            return failure(f"Invalid arguments for '{name}': {'; '.join(problems)}. Fix them and call '{name}' again.")
        if tool.mcp is not None:
            return failure(
                f"'{name}' is a hosted MCP tool: the API calls the MCP server '{tool.mcp.label}' itself; "
                "the engine cannot run it."
            )

        before = dict(ctx.context)
        steps: list[dict[str, Any]] = []
        timeout = tool.timeout or DEFAULT_TIMEOUT
        scope = asyncio.timeout(timeout)
        try:
            async with scope:
                result = await self._run(name, tool, args, ctx, steps, timeout)
            output = to_json(result)
        except TimeoutError as exc:
            if not scope.expired():  # the tool's own timeout (a socket, a lock), not ours
                return self._crashed(name, exc, before, ctx, steps)
            return self._timed_out(name, tool, timeout, before, ctx, steps)
        except ToolError as exc:
            outcome = failure(str(exc), steps=steps)
            outcome.context_updates = _changes(before, ctx.context)
            return outcome
        except Exception as exc:
            return self._crashed(name, exc, before, ctx, steps)

        for key, value in (tool.sets or {}).items():
            ctx.context[key] = copy.deepcopy(value)
        return ToolOutcome(output, ok=True, context_updates=_changes(before, ctx.context), steps=steps)

    async def aclose(self) -> None:
        if self._http is not None and self._owns_http:
            await self._http.aclose()
            self._http = None

    # --- executors -------------------------------------------------------------------------------------

    async def _run(
        self, name: str, tool: Tool, args: dict[str, Any], ctx: ToolContext, steps: list[dict[str, Any]], timeout: float
    ) -> Any:
        if tool.run is not None:
            fn, with_context = self._callables[name]
            return await run_python(fn, args, ctx, with_context=with_context)
        if tool.http is not None:
            return await run_http(name, tool.http, args, ctx, self._client(), timeout=timeout, graph=self.graph)
        if tool.escalate is not None:
            return await run_escalation(
                name,
                tool.escalate,
                args,
                ctx,
                toolbox=self,
                instructions=self._escalation_instructions(name, tool),
                output_validator=self._outputs.get(name),
                steps=steps,
            )
        return await run_static(name, tool.returns, args, ctx, graph=self.graph)

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            import httpx

            self._http = httpx.AsyncClient(follow_redirects=True)
        return self._http

    def _escalation_instructions(self, name: str, tool: Tool) -> str | None:
        """The template source of an escalation's instructions (read once from its file)."""
        if name not in self._instructions:
            esc = tool.escalate
            assert esc is not None
            if esc.instructions_file is not None:
                path = self.doc.dir / esc.instructions_file
                try:
                    self._instructions[name] = path.read_text(encoding="utf-8")
                except OSError as exc:
                    raise ToolError(
                        f"Tool '{name}' is misconfigured: cannot read its instructions file ({exc.strerror})."
                    ) from None
            else:
                self._instructions[name] = esc.instructions
        return self._instructions[name]

    # --- failures --------------------------------------------------------------------------------------

    def _timed_out(
        self,
        name: str,
        tool: Tool,
        timeout: float,
        before: dict[str, Any],
        ctx: ToolContext,
        steps: list[dict[str, Any]],
    ) -> ToolOutcome:
        error = f"Tool '{name}' did not finish within {timeout:g} seconds."
        log.warning("tool %s timed out after %gs", name, timeout)
        if tool.on_timeout is not None:
            output = tool.on_timeout
        else:
            output = json.dumps({"error": f"{error} Tell the user it is not available right now."})
        return ToolOutcome(output, ok=False, error=error, context_updates=_changes(before, ctx.context), steps=steps)

    def _crashed(
        self, name: str, exc: BaseException, before: dict[str, Any], ctx: ToolContext, steps: list[dict[str, Any]]
    ) -> ToolOutcome:
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        # One line for the operator; the traceback only when debugging (a tool's bug, not ours).
        log.warning("tool %s raised %s", name, detail)
        log.debug("traceback of tool %s", name, exc_info=exc)
        outcome = failure(f"Tool '{name}' failed: {detail}", steps=steps)
        outcome.context_updates = _changes(before, ctx.context)
        return outcome


def _changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Top-level context keys added or rebound since `before` (changes inside a nested value are not seen)."""
    return {k: v for k, v in after.items() if k not in before or before[k] is not v}
