"""The toolbox of a graph: every tool's executor behind one `execute(name, arguments, ctx)`.

`execute` never raises (except on its task's own cancellation): unknown tools, bad JSON, invalid
arguments, timeouts and whatever a tool raises (`SystemExit`, `KeyboardInterrupt` and every other
`BaseException` included) become an error outcome whose output tells the model what went wrong.
Tracebacks go to the log, never to the model; outputs are capped and scrubbed of the graph's secrets.

One toolbox serves every session of its graph, concurrently: it holds what is the same for all
(validators, callables, one HTTP client, the threads for sync tools) and nothing of any one call,
which comes in its `ToolContext`.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from jsonschema import Draft202012Validator

from engine.redact import Redactor
from engine.spec import Document, Tool, did_you_mean
from engine.spec.files import FileRefused, read_confined

from .base import (
    DEFAULT_MAX_OUTPUT_CHARS,
    DEFAULT_TIMEOUT,
    ToolContext,
    ToolError,
    ToolOutcome,
    cap_output,
    failure,
    schema_errors,
    to_json,
)
from .credentials import secret_values
from .escalate import run_escalation
from .http import run_http, shared_client
from .python import CallableError, StepTimer, resolve_callable, run_python, takes_context
from .static import run_static
from .threads import DEFAULT_MAX_THREADS, ToolThreads

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("engine.tools")

#: Seconds one step of an async tool may hold the event loop before it is reported (asyncio's debug mode
#: calls a callback slow from the same 0.1 s).
BLOCKING_STEP = 0.1
#: The smallest output cap: room for the note saying what was cut.
MIN_OUTPUT_CHARS = 500
#: Characters of a tool's exception message in its log line (the model gets up to the output cap).
LOG_DETAIL = 500


_SCALARS: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: type(v) is str,
    "integer": lambda v: type(v) is int,  # 1.0 is an integer too: the full check decides that one
    "number": lambda v: type(v) is int or type(v) is float,
    "boolean": lambda v: type(v) is bool,
}
_PLAIN_KEYS = frozenset({"type", "properties", "required", "additionalProperties", "description", "title"})
_PROPERTY_KEYS = frozenset({"type", "description", "title", "enum"})


def quick_check(schema: Any) -> Callable[[dict[str, Any]], bool] | None:
    """For a flat object schema (properties of one scalar type, optionally a string enum; `required`;
    `additionalProperties` true or false), a check that is True only for arguments the schema accepts.
    None for any other schema. False means "ask the full validator", which also words the errors."""
    if not isinstance(schema, dict) or schema.get("type") != "object" or not set(schema) <= _PLAIN_KEYS:
        return None
    properties, required = schema.get("properties", {}), schema.get("required", [])
    closed = schema.get("additionalProperties", True)
    if not isinstance(properties, dict) or not isinstance(required, list) or not isinstance(closed, bool):
        return None
    checks: dict[str, Callable[[Any], bool]] = {}
    for key, prop in properties.items():
        kind = prop.get("type") if isinstance(prop, dict) else None
        if not isinstance(kind, str) or kind not in _SCALARS or not set(prop) <= _PROPERTY_KEYS:
            return None
        enum = prop.get("enum")
        if enum is not None:
            if kind != "string" or not isinstance(enum, list) or not all(type(e) is str for e in enum):
                return None
            allowed = frozenset(enum)
            checks[key] = lambda v, allowed=allowed: type(v) is str and v in allowed
        else:
            checks[key] = _SCALARS[kind]
    needed = tuple(required)

    def check(args: dict[str, Any]) -> bool:
        for key in needed:
            if key not in args:
                return False
        for key, value in args.items():
            test = checks.get(key)
            if test is None:
                if closed is False:
                    return False
            elif not test(value):
                return False
        return True

    return check


class ToolCrashed(Exception):
    """Stands for a tool's exception in debug logs: its traceback, with the message scrubbed of secrets."""


class Toolbox:
    """Executes the tools of `doc`, for any number of sessions at once.

    Python callables are resolved here: a bad one raises `CallableError` listing every problem.
    `http_client` is used (and left open) instead of a client of the toolbox's own: make it with
    `shared_client()`, which keeps no cookies (redirects are followed by the toolbox, whatever the
    client's `follow_redirects`). Sync tools run on
    at most `max_threads` threads at once (timed-out calls do not count); an output above
    `max_output_chars` characters is cut with a note to the model. Secret header values of the graph
    (`secret_values`, read from the environment now) are scrubbed from every output. Close with `aclose()`.
    """

    def __init__(
        self,
        doc: Document,
        *,
        http_client: httpx.AsyncClient | None = None,
        max_threads: int = DEFAULT_MAX_THREADS,
        max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS,
    ) -> None:
        if max_output_chars < MIN_OUTPUT_CHARS:
            raise ValueError(f"max_output_chars must be at least {MIN_OUTPUT_CHARS}, not {max_output_chars}")
        self.doc = doc
        self.graph = doc.spec.graph
        self._tools = doc.spec.tools
        # Format checking stays off: `format` is advice to the model, not a rule we enforce.
        self._validators = {name: Draft202012Validator(tool.parameters) for name, tool in self._tools.items()}
        # Flat schemas (scalar properties only) have a quick check; what it does not pass gets the full one.
        self._quick = {name: quick_check(tool.parameters) for name, tool in self._tools.items()}
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
        self.threads = ToolThreads(max_threads)
        self.max_output_chars = max_output_chars
        self.redact = Redactor(secret_values(doc))
        self._closed = False

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
        """Run tool `name` with `arguments` (the model's JSON text) and apply its `sets` on success.

        Never raises, except `CancelledError` when the calling task is cancelled.
        """
        return self._finish(await self._execute(name, arguments, ctx))

    async def _execute(self, name: str, arguments: str, ctx: ToolContext) -> ToolOutcome:
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
        quick = self._quick[name]
        problems = [] if quick is not None and quick(args) else schema_errors(self._validators[name], args)
        if problems:
            return failure(f"Invalid arguments for '{name}': {'; '.join(problems)}. Fix them and call '{name}' again.")
        if tool.mcp is not None:
            return failure(
                f"'{name}' is a hosted MCP tool: the API calls the MCP server '{tool.mcp.label}' itself; "
                "the engine cannot run it."
            )

        if self._closed:
            return failure(f"Tool '{name}' cannot run: the tools are shut down.")

        before = dict(ctx.context)
        steps: list[dict[str, Any]] = []
        timeout = tool.timeout or DEFAULT_TIMEOUT
        timer = StepTimer() if tool.run is not None else None
        loop = asyncio.get_running_loop()
        started = loop.time()
        scope = asyncio.timeout(timeout)
        try:
            async with scope:
                result = await self._run(name, tool, args, ctx, steps, timeout, timer)
            output = to_json(result)
        except TimeoutError as exc:
            if not scope.expired():  # the tool's own timeout (a socket, a lock), not ours
                return self._crashed(name, exc, before, ctx, steps)
            return self._timed_out(name, tool, timeout, before, ctx, steps, self._blocked(name, timer))
        except ToolError as exc:
            outcome = failure(str(exc), steps=steps)
            outcome.context_updates = _changes(before, ctx.context)
            return outcome
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError) and _cancelling():
                raise  # our own task is being cancelled (the session closes): not the tool's doing
            return self._crashed(name, exc, before, ctx, steps)

        blocked = self._blocked(name, timer)
        if scope.expired():  # the tool swallowed our cancellation and returned: late all the same
            return self._timed_out(name, tool, timeout, before, ctx, steps, blocked)
        if blocked is not None and loop.time() - started > timeout:
            # The loop could not fire the timeout while the tool held it: late all the same.
            return self._timed_out(name, tool, timeout, before, ctx, steps, blocked)
        for key, value in (tool.sets or {}).items():
            ctx.context[key] = copy.deepcopy(value)
        outcome = ToolOutcome(output, ok=True, context_updates=_changes(before, ctx.context), steps=steps)
        if blocked is not None:
            outcome.warning = f"Tool '{name}' {blocked}."
        return outcome

    async def aclose(self) -> None:
        """Close the HTTP client the toolbox made and stop its threads, without waiting for hung calls.

        Later calls get an error outcome. Calling it again does nothing.
        """
        self._closed = True
        self.threads.shutdown()
        if self._http is not None and self._owns_http:
            await self._http.aclose()
            self._http = None

    # --- executors -------------------------------------------------------------------------------------

    async def _run(
        self,
        name: str,
        tool: Tool,
        args: dict[str, Any],
        ctx: ToolContext,
        steps: list[dict[str, Any]],
        timeout: float,
        timer: StepTimer | None,
    ) -> Any:
        if tool.run is not None:
            fn, with_context = self._callables[name]
            return await run_python(fn, args, ctx, with_context=with_context, threads=self.threads, timer=timer)
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
            self._http = shared_client()
        return self._http

    def _escalation_instructions(self, name: str, tool: Tool) -> str | None:
        """The template source of an escalation's instructions (read once from its file)."""
        if name not in self._instructions:
            esc = tool.escalate
            assert esc is not None
            if esc.instructions_file is not None:
                try:  # confined as validate confines it: the file may have changed since
                    self._instructions[name] = read_confined(self.doc.dir, esc.instructions_file, self.doc.root)
                except FileRefused as exc:
                    raise ToolError(
                        f"Tool '{name}' is misconfigured: its instructions file is refused ({exc})."
                    ) from None
            else:
                self._instructions[name] = esc.instructions
        return self._instructions[name]

    # --- outcomes --------------------------------------------------------------------------------------

    def _finish(self, outcome: ToolOutcome) -> ToolOutcome:
        """`outcome` scrubbed of secrets (before the cut, so no half of one is left) and capped."""
        outcome.output = cap_output(self.redact(outcome.output), self.max_output_chars)
        if outcome.error is not None:
            outcome.error = self.redact(outcome.error)
        return outcome

    def _blocked(self, name: str, timer: StepTimer | None) -> str | None:
        """The note "blocked the event loop for X s" when an async tool did (and a warning in the log), else None."""
        if timer is None or timer.longest < BLOCKING_STEP:
            return None
        log.warning(
            "tool %s blocked the event loop for %.2fs (blocking work inside `async def`: "
            "make the function sync to run it in a thread, or await instead)",
            name,
            timer.longest,
        )
        return f"blocked the event loop for {timer.longest:.2f} s"

    def _timed_out(
        self,
        name: str,
        tool: Tool,
        timeout: float,
        before: dict[str, Any],
        ctx: ToolContext,
        steps: list[dict[str, Any]],
        blocked: str | None = None,
    ) -> ToolOutcome:
        error = f"Tool '{name}' did not finish within {timeout:g} seconds" + (f": it {blocked}." if blocked else ".")
        log.warning("tool %s timed out after %gs", name, timeout)
        if tool.on_timeout is not None:
            output = tool.on_timeout
        else:
            output = json.dumps({"error": f"{error} Tell the user it is not available right now."})
        return ToolOutcome(output, ok=False, error=error, context_updates=_changes(before, ctx.context), steps=steps)

    def _crashed(
        self, name: str, exc: BaseException, before: dict[str, Any], ctx: ToolContext, steps: list[dict[str, Any]]
    ) -> ToolOutcome:
        detail = self.redact(_describe(exc))
        # One line for the operator; the traceback only when debugging (a tool's bug, not ours).
        log.warning("tool %s raised %s", name, detail if len(detail) <= LOG_DETAIL else detail[:LOG_DETAIL] + "…")
        # The tool's frames, under its message scrubbed (the exception's own text may quote a secret).
        log.debug("traceback of tool %s", name, exc_info=ToolCrashed(detail).with_traceback(exc.__traceback__))
        outcome = failure(f"Tool '{name}' failed: {detail}", steps=steps)
        outcome.context_updates = _changes(before, ctx.context)
        return outcome


def _changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Top-level context keys added or rebound since `before` (changes inside a nested value are not seen)."""
    return {k: v for k, v in after.items() if k not in before or before[k] is not v}


def _describe(exc: BaseException) -> str:
    """`Type: message`, or the type alone when there is no message (or it cannot be had)."""
    try:
        text = str(exc)
    except BaseException:  # a tool's exception whose __str__ fails
        text = ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _cancelling() -> bool:
    """Whether the running task has been asked to stop (its cancellation, not one a tool raised)."""
    task = asyncio.current_task()
    return task is None or task.cancelling() > 0
