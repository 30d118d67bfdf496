"""The engine as GPT-Live's backend (client delegation): one delegation, start to answer.

On `session.delegation.created` (which carries no task text) the task is the transcript since the
previous delegation. The active agent runs on it: its text model through the Responses API (the same
stateless loop as escalations: the whole input each round), with the agent's own tools, handoff and
transition tools (the config `engine compile --agent` prints). Tools run through the shared toolbox;
moves are judged by the shared guard logic (`Moves.refusal`); the answer is spoken with
`session.commentary.append` or, when there is nothing to say, given silently with
`session.thinking.append`. Delegations are answered one at a time, in order.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING, Any

from ...compile import apply_mcp_headers, template_variables
from ...compile.live import APPEND_TOKEN_LIMIT, compile_live_backend, compile_live_handoff, live_rules
from ...spec.models import CALL_CONTROL_KINDS, Tool
from ...spec.script import TRANSITION_TOOL
from ...tools import ResponsesError, ToolContext
from ...tools.escalate import MESSAGE_ROLES
from .. import events as ev
from ..calls import transition_target as _transition_target
from ..control import transfer_target
from ..line import LineUnsupported
from ..moves import Offer

if TYPE_CHECKING:
    from .session import LiveSession

log = logging.getLogger("engine.runtime.live")

#: Rounds of tool calls one delegation may take before the engine stops it.
MAX_ROUNDS = 8
#: Conversation items (messages, tool results) before the task that the agent's text model reads.
HISTORY_LAST = 30
#: Characters of an earlier tool result the text model reads again.
RESULT_CHARS = 2000
#: Characters per append: 500 tokens at a conservative 3 characters a token.
APPEND_CHARS = APPEND_TOKEN_LIMIT * 3
#: Startup history of a reseeded session: rendered tokens (the API's default limit), at ~4 chars a token.
SEED_CHARS = 8000 * 4
#: Messages a session's startup history may hold.
INPUT_MESSAGE_LIMIT = 128
#: Responses settings of the backend config passed on to the text model as they are.
_PASSED = ("reasoning", "text", "max_output_tokens", "parallel_tool_calls")


def chunks(text: str, size: int = APPEND_CHARS) -> list[str]:
    """`text` in pieces of at most `size` characters, cut at whitespace where there is some."""
    text = text.strip()
    out: list[str] = []
    while len(text) > size:
        cut = text.rfind(" ", 0, size)
        cut = cut if cut > size // 2 else size
        out.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text:
        out.append(text)
    return out


def history_context(items: list[dict[str, Any]], last: int) -> list[dict[str, Any]]:
    """The conversation before the task as Responses input messages: what was said, and what earlier
    delegations' tools returned (as developer notes: each delegation's loop is stateless, and the text
    model of a later task needs those results as much as the Realtime model has them in its items)."""
    out: list[dict[str, Any]] = []
    for item in items:
        if item["type"] == "message" and item.get("role") in MESSAGE_ROLES and item.get("text"):
            out.append({"role": item["role"], "content": item["text"].strip()})
        elif item["type"] == "function_call" and item.get("output") is not None:
            note = f"Earlier, {item['name']}({item['arguments']}) returned: {item['output']}"
            out.append({"role": "developer", "content": note[:RESULT_CHARS]})
    return out[-last:]


class Backend:
    def __init__(self, session: LiveSession) -> None:
        self._session = session
        self._lock = asyncio.Lock()
        self._mark = 0  # history index up to which the transcript was handed to a delegation
        self.answered = 0
        self.remote_calls = 0  # function calls of the current Responses backend response (Responses delegation)
        self.last_seed: list[dict[str, Any]] = []

    # --- agent rules and the reseed history --------------------------------------------------

    def rules(self, agent: str, state: str | None = None) -> str:
        """The frontend's rules for the agent (at `state`, default its current one): who it speaks for
        now and what to say. Raises `CompileError` or `TemplateRenderError`."""
        session = self._session
        state = state if state is not None else session.moves.states.get(agent)
        return live_rules(session.graph, agent, state=state, context=session.context)

    def config(self, agent: str, state: str | None = None) -> tuple[dict[str, Any], Offer]:
        """The agent's backend settings (its text model, instructions, tools, Responses options) and what
        they offer. Raises `CompileError` or `TemplateRenderError`."""
        session = self._session
        state = state if state is not None else session.moves.states.get(agent)
        backend = compile_live_backend(session.graph, agent, state, context=session.context)
        # Secrets from the environment, added only at send time (as for Realtime).
        tools = apply_mcp_headers({"session": {"tools": backend["tools"]}}, session.graph)["session"]["tools"]
        backend["tools"] = tools
        return backend, Offer.of(session.graph, agent, state, tools)

    async def append_move(self, agent: str, state: str | None, delegation_id: str | None) -> None:
        """The frontend's part of a handoff or transition: the rules it follows now, appended."""
        session = self._session
        for event in compile_live_handoff(session.graph, agent, state, context=session.context):
            if event["type"] == "session.instructions.append":
                for piece in chunks(event["content"]):
                    await session.append("instructions", piece, delegation_id)
            else:  # Responses delegation: the backend swapped to the new agent's
                await session.send(event)

    # --- Responses delegation: the server runs the backend, the engine answers its calls -------------

    async def answer_remote(self, item: dict[str, Any]) -> None:
        """Answer one function call of the Responses backend, then let it go on."""
        session = self._session
        name, call_id = str(item.get("name") or ""), str(item.get("call_id") or "")
        arguments = item.get("arguments") if isinstance(item.get("arguments"), str) else "{}"
        _, offer = self.config(session.moves.agent)
        session.history.add_call(session.new_id("item"), name, call_id, arguments)
        session.emit(ev.HistoryUpdated(len(session.history)))
        # Delegation ids are refused on appends under Responses delegation: the moves append without one.
        output = await self._call(name, call_id, arguments, offer, None)
        session.history.set_output(call_id, output)
        result = {"type": "function_call_output", "call_id": call_id, "output": output}
        await session.send({"type": "response.item.create", "item": result})
        await session.send({"type": "response.create"})

    def response_finished(self, kind: str) -> None:
        """A backend response ended: a delegation is answered once a response ends without calls."""
        if self.remote_calls:
            self.remote_calls = 0  # it waits for their outputs, then goes on in a new response
        else:
            self.answered += 1

    async def append_rules(self, text: str, delegation_id: str | None = None) -> None:
        for piece in chunks(text):
            await self._session.append("instructions", piece, delegation_id)

    def seed(self, rules: str) -> list[dict[str, Any]]:
        """The `input` of a new session: the agent's rules, then the latest of the conversation
        (user and assistant messages; tool results as developer notes), within the API's limits."""
        messages: list[dict[str, Any]] = []
        for item in self._session.history.items:
            if item["type"] == "message" and item["text"] and item["role"] in ("user", "assistant"):
                kind = "output_text" if item["role"] == "assistant" else "input_text"
                text = item["text"].strip()
                messages.append({"type": "message", "role": item["role"], "content": [{"type": kind, "text": text}]})
            elif item["type"] == "function_call" and item.get("output") is not None:
                note = f"Tool {item['name']} returned: {item['output']}"[:APPEND_CHARS]
                messages.append(
                    {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": note}]}
                )
        head = {
            "type": "message",
            "role": "developer",
            "content": [{"type": "input_text", "text": rules[: SEED_CHARS // 2]}],
        }
        kept = messages[-(INPUT_MESSAGE_LIMIT - 1) :]
        while kept and len(json.dumps([head, *kept])) > SEED_CHARS:
            kept.pop(0)
        self._mark = len(self._session.history.items)
        self.last_seed = [head, *kept] if rules else kept
        return self.last_seed

    # --- a delegation ----------------------------------------------------------------------------

    async def delegate(self, delegation_id: str) -> None:
        """Answer one delegation (after the ones before it)."""
        async with self._lock:
            try:
                context, task = self._task()
                await self._run(delegation_id, context, task)
            finally:
                self.answered += 1

    async def correct(self, message: str) -> None:
        """Run the active agent on a correction of the engine's (a guardrail trip), as the Realtime
        session asks for a new response at once: its answer is spoken as general commentary."""
        async with self._lock:
            items = self._session.history.items
            context = history_context(items, HISTORY_LAST)
            self._mark = len(items)
            await self._run(None, context, message)

    def _task(self) -> tuple[list[dict[str, Any]], str]:
        items = self._session.history.items
        before, new = items[: self._mark], items[self._mark :]
        self._mark = len(items)
        said = [
            f"{'Caller' if item['role'] == 'user' else 'You'}: {item['text']}"
            for item in new
            if item["type"] == "message" and item["text"]
        ]
        if said:
            task = "The conversation since your last task:\n" + "\n".join(said)
        else:
            task = "Nothing new was said since your last task: continue the conversation as your instructions say."
        return history_context(before, HISTORY_LAST), task

    async def _run(self, delegation_id: str | None, context: list[dict[str, Any]], task: str) -> None:
        session = self._session
        inputs: list[dict[str, Any]] = [*context, {"role": "user", "content": task}]
        spoke, results = False, []
        for _ in range(MAX_ROUNDS):
            agent = session.moves.agent
            config, offer = self.config(agent)
            request: dict[str, Any] = {
                "model": config["model"],
                "instructions": config.get("instructions") or "",
                "metadata": {
                    "engine_kind": "live_delegation",
                    "delegation_id": delegation_id or "",
                    "session_id": session.session_id or "",
                    "agent": agent,
                },
            }
            request.update({key: config[key] for key in _PASSED if key in config})
            tools = backend_tools(config["tools"])
            if tools:
                request["tools"] = tools
            try:
                # Plain JSON already: sent as the body as it is. The SDK's typed transform of `input`
                # and `tools` took ~80% of a delegation's CPU (it walks every item on each round).
                body = {"input": list(inputs), **({"tools": request.pop("tools")} if "tools" in request else {})}
                response = await session.runtime.responses.create(**request, extra_body=body)
            except ResponsesError as exc:
                session.emit(ev.Error(f"the backend of agent '{agent}' failed: {exc}", code="delegation_failed"))
                await self._answer(delegation_id, "thinking", "The backend could not do this task; tell the user.")
                return
            text = response.output_text or ""
            calls = [item for item in response.output if item.type == "function_call"]
            if text.strip():
                await self._answer(delegation_id, "commentary", text)
                inputs.append({"role": "assistant", "content": text})
                spoke = True
            if not calls:
                break
            for item in response.output:
                if item.type == "reasoning":
                    inputs.append(item.model_dump(exclude_none=True))
                elif item.type == "function_call":
                    inputs.append(
                        {
                            "type": "function_call",
                            "call_id": item.call_id,
                            "name": item.name,
                            "arguments": item.arguments,
                        }
                    )
            for call in calls:
                session.history.add_call(session.new_id("item"), call.name, call.call_id, call.arguments)
                session.emit(ev.HistoryUpdated(len(session.history)))
                output = await self._call(call.name, call.call_id, call.arguments or "{}", offer, delegation_id)
                session.history.set_output(call.call_id, output)
                inputs.append({"type": "function_call_output", "call_id": call.call_id, "output": output})
                results.append(f"{call.name}: {output}")
        else:
            session.emit(
                ev.Error(f"a delegation took more than {MAX_ROUNDS} rounds of tools", code="delegation_rounds")
            )
        self._mark = len(session.history.items)
        if not spoke:
            summary = "Results: " + "; ".join(results) if results else "The task needs no reply."
            await self._answer(delegation_id, "thinking", summary)

    async def _answer(self, delegation_id: str | None, kind: str, text: str) -> None:
        for piece in chunks(text):
            await self._session.append(kind, piece, delegation_id)

    # --- one function call of the agent's text model -----------------------------------------------

    async def _call(self, name: str, call_id: str, arguments: str, offer: Offer, delegation_id: str | None) -> str:
        session = self._session
        try:
            if name not in offer.tools:
                available = ", ".join(sorted(offer.tools)) or "none"
                message = f"Tool '{name}' is not available to the {offer.agent} agent. Available: {available}."
                session.emit(ev.ToolEnd(offer.agent, name, call_id, message, ok=False))
                return json.dumps({"error": message})
            if name == TRANSITION_TOOL or name in offer.handoffs:
                target = f"handoff:{offer.handoffs[name]}" if name in offer.handoffs else _transition_target(arguments)
                return await self._move(target, offer, transition=name == TRANSITION_TOOL, delegation_id=delegation_id)
            return await self._tool(name, call_id, arguments, offer.agent, delegation_id)
        except ConnectionError:
            raise
        except Exception as exc:  # never leave the text model without an answer
            log.warning("answering %s failed: %s: %s", name, type(exc).__name__, exc)
            session.emit(ev.Error(f"answering {name} failed: {type(exc).__name__}: {exc}", code="call_failed"))
            return json.dumps({"error": f"Tool '{name}' could not be carried out because of an internal error."})

    async def _move(self, target: str, offer: Offer, *, transition: bool, delegation_id: str | None) -> str:
        """A handoff or a transition, judged by the same guard logic as on Realtime."""
        session = self._session
        moves = session.moves
        source, source_state = moves.agent, moves.state
        refusal = moves.refusal(target, transition=transition)
        if refusal is not None:
            session.emit(ev.TransitionRefused(source, source_state or "", target, refusal))
            stay = f" Stay in '{source_state}'." if source_state else ""
            return json.dumps({"error": f"Cannot move to '{target}': {refusal}.{stay}"})
        if target.startswith("handoff:"):
            new = target.removeprefix("handoff:")
            listed = source_state is not None and moves.transition_to(target) is not None
            self.config(new)  # compiled first: a failure changes nothing
            moves.agent = new
            if listed and source_state is not None:
                session.emit(ev.StateChanged(source, source_state, target))
            await self.append_move(new, moves.state, delegation_id)
            session.emit(ev.AgentEnd(source))
            session.emit(ev.HandoffEvent(source, new))
            session.emit(ev.AgentStart(new, moves.state))
            return json.dumps({"assistant": new})
        assert source_state is not None
        self.config(source, target)  # compiled first: a failure changes nothing
        moves.states[source] = target
        session.emit(ev.StateChanged(source, source_state, target))
        await self.append_move(source, target, delegation_id)  # the new step's rules and examples
        return json.dumps({"state": target})

    async def _tool(self, name: str, call_id: str, arguments: str, agent: str, delegation_id: str | None) -> str:
        session = self._session
        spec = session.toolbox.spec(name)
        if spec.kind in CALL_CONTROL_KINDS:
            return await self._control(name, spec, call_id, arguments, agent, delegation_id)
        calls = session.calls
        if spec.needs_approval:
            policy = calls._approval
            if (policy == "ask" or callable(policy)) and name not in calls._always:
                # The caller hears the question; the decision comes from approve() / reject().
                what = spec.description.rstrip(".") if spec.description else name
                await self._answer(delegation_id, "commentary", f"Before I go ahead ({what}), I need your OK.")
            if not await calls.approved(name, call_id, arguments, agent):
                output = json.dumps({"error": f"The user did not approve running '{name}'. Do not retry it."})
                session.emit(ev.ToolEnd(agent, name, call_id, output, ok=False))
                return output
        session.emit(ev.ToolStart(agent, name, call_id, arguments))
        ctx = ToolContext(
            context=session.context, history=session.history.items, responses=session.runtime.responses, agent=agent
        )
        outcome = await session.toolbox.execute(name, arguments, ctx)
        session.emit(ev.ToolEnd(agent, name, call_id, outcome.output, outcome.ok, outcome.steps))
        return outcome.output

    async def _control(
        self, name: str, spec: Tool, call_id: str, arguments: str, agent: str, delegation_id: str | None
    ) -> str:
        """A call-control tool on GPT-Live: the message is spoken as commentary and heard out before
        the line refers or hangs up; DTMF goes to the line."""
        session = self._session
        session.emit(ev.ToolStart(agent, name, call_id, arguments))
        try:
            args = json.loads(arguments or "{}")
        except ValueError:
            args = {}
        args = args if isinstance(args, dict) else {}
        output, ended = await self._carry_out(spec, args, agent, delegation_id)
        text = json.dumps(output)
        session.emit(ev.ToolEnd(agent, name, call_id, text, "error" not in output))
        if ended is not None:
            session.emit(ended)
        return text

    async def _carry_out(
        self, spec: Tool, args: dict[str, Any], agent: str, delegation_id: str | None
    ) -> tuple[dict[str, str], ev.CallEnded | None]:
        session, line = self._session, self._session.line
        if spec.dtmf is not None:
            digits = spec.dtmf.digits or str(args.get("digits") or "")
            try:
                await line.send_dtmf(digits)
            except LineUnsupported as exc:
                return {"error": f"{exc}."}, None
            session.emit(ev.DtmfSent(digits))
            return {"sent": digits}, None
        if session.call_ended:
            return {"error": "The call is already ending."}, None
        message = spec.transfer.message if spec.transfer is not None else spec.end_call.message  # type: ignore[union-attr]
        if spec.transfer is not None:
            variables = template_variables(session.graph, session.agent, session.context)
            to = transfer_target(spec.transfer.to, variables)
            if to is None:
                return {"error": "The transfer number is not set up."}, None
        session.call_ended = True
        if message:
            await self._answer(delegation_id, "commentary", message)
        await session.heard_out()
        if spec.transfer is not None:
            summary = str(args.get("summary") or "")
            await line.transfer(to, summary)
            session.emit(ev.CallTransferred(agent, to, summary))
            return {"status": "transferring"}, ev.CallEnded("transferred")
        await line.hangup()
        return {"status": "ending the call"}, ev.CallEnded("hangup")


def backend_tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The Responses API tools of an agent's backend: function tools as the Responses API takes them
    (`strict` off: arguments are checked by the toolbox), hosted MCP tools as they are."""
    out = []
    for tool in tools:
        if tool.get("type") == "function":
            parameters = tool.get("parameters") or {"type": "object", "properties": {}}
            out.append(
                {"type": "function", "name": tool["name"], "description": tool.get("description") or ""}
                | {"parameters": parameters, "strict": False}
            )
        else:
            out.append(dict(tool))
    return out
