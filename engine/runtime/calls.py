"""The model's function calls: each judged by the offer its response was made with, approved when the
tool needs it, run as a task, and answered exactly once.

A call to a tool the config did not offer gets an error output; handoff and transition calls go to
the moves; everything else runs in the toolbox (arguments checked, time and output bounded there).
Whatever happens, the model is never left waiting on a call, and the same call id never runs twice.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Literal

from ..spec.models import CALL_CONTROL_KINDS
from ..spec.script import TRANSITION_TOOL
from ..tools import ToolContext
from . import events as ev
from .moves import Offer

if TYPE_CHECKING:
    from .session import Session

log = logging.getLogger("engine.runtime")

Decision = Literal["approve", "deny", "always_approve", "always_deny"]
Approver = Callable[[ev.ApprovalRequested], Awaitable[Decision]]
Approval = Literal["auto", "deny", "ask"] | Approver


def transition_target(arguments: str) -> str:
    """The `to` of a transition call ('' when the model sent none)."""
    try:
        target = json.loads(arguments).get("to")
    except (ValueError, AttributeError):
        return ""
    return target if isinstance(target, str) else ""


class Calls:
    def __init__(self, session: Session, approval: Approval) -> None:
        self._session = session
        self._toolbox = session.runtime.toolbox
        self._approval = approval
        self._always: dict[str, bool] = {}
        self._pending: dict[str, asyncio.Future[Decision]] = {}
        self._seen: set[str] = set()  # call ids taken on: a repeated id is never run again
        self.in_flight: set[str] = set()  # call ids the model waits on

    @property
    def waiting_for_approval(self) -> bool:
        return bool(self._pending)

    def take(self, name: str, call_id: str, arguments: str, offer: Offer) -> bool:
        """Accept a call for answering; False (and an error event) when its call id was seen before."""
        if call_id in self._seen:
            log.warning("the server sent call %s (%s) again; it runs once", call_id, name)
            message = f"call {call_id} ({name}) was sent again and not run twice"
            self._session.emit(ev.Error(message, code="duplicate_call"))
            return False
        self._seen.add(call_id)
        self.in_flight.add(call_id)
        return True

    async def answer(self, name: str, call_id: str, arguments: str, offer: Offer) -> None:
        """Answer one function call of the model, judged by the config its response was made with."""
        session = self._session
        try:
            if name not in offer.tools:
                available = ", ".join(sorted(offer.tools)) or "none"
                message = f"Tool '{name}' is not available to the {offer.agent} agent. Available: {available}."
                await self.output(call_id, json.dumps({"error": message}))
                session.emit(ev.ToolEnd(offer.agent, name, call_id, message, ok=False))
            elif name == TRANSITION_TOOL or name in offer.handoffs:
                target = f"handoff:{offer.handoffs[name]}" if name in offer.handoffs else transition_target(arguments)
                await session.moves.move(target, call_id, offer, transition=name == TRANSITION_TOOL)
            else:
                await self._run_tool(name, call_id, arguments, offer.agent)
        except ConnectionError:
            if session.link.failed is None and not session.link.closing:
                raise
            return  # the connection is gone for good: no one is waiting for this answer any more
        except Exception as exc:  # never leave the model waiting on a call
            log.warning("answering %s failed: %s: %s", name, type(exc).__name__, exc)
            log.debug("answering %s failed", name, exc_info=exc)
            session.emit(ev.Error(f"answering {name} failed: {type(exc).__name__}: {exc}", code="call_failed"))
            message = f"Tool '{name}' could not be carried out because of an internal error. Do not retry it."
            await self.output(call_id, json.dumps({"error": message}))

    async def _run_tool(self, name: str, call_id: str, arguments: str, agent: str) -> None:
        session = self._session
        spec = self._toolbox.spec(name)
        if spec.needs_approval and not await self.approved(name, call_id, arguments, agent):
            output = json.dumps({"error": f"The user did not approve running '{name}'. Do not retry it."})
            await self.output(call_id, output)
            session.emit(ev.ToolEnd(agent, name, call_id, output, ok=False))
            return
        if spec.kind in CALL_CONTROL_KINDS:
            await session.control.run(name, spec, call_id, arguments, agent)
            return
        session.emit(ev.ToolStart(agent, name, call_id, arguments))
        ctx = ToolContext(
            context=session.context, history=session.history.items, responses=session.runtime.responses, agent=agent
        )
        outcome = await self._toolbox.execute(name, arguments, ctx)
        await self.output(call_id, outcome.output, respond=not spec.background)
        session.emit(ev.ToolEnd(agent, name, call_id, outcome.output, outcome.ok, outcome.steps))

    async def output(self, call_id: str, output: str, *, respond: bool = True) -> None:
        """Send a call's output (and then ask for a response, unless `respond` is False)."""
        session = self._session
        item = {"type": "function_call_output", "call_id": call_id, "output": output}
        await session.send({"type": "conversation.item.create", "item": item})
        session.history.set_output(call_id, output)
        self.in_flight.discard(call_id)
        if respond:
            await session.request_response()

    # --- approvals ------------------------------------------------------------------------------

    async def approved(self, name: str, call_id: str, arguments: str, agent: str) -> bool:
        """Whether the tool call may run: the approval policy's answer, or the person's (asked with
        `ApprovalRequested`, waited for); a remembered "always" answers at once."""
        if name in self._always:
            return self._always[name]
        policy = self._approval if isinstance(self._approval, str) and self._approval != "ask" else None
        request = ev.ApprovalRequested(agent, name, call_id, arguments, policy=policy)
        self._session.emit(request)
        if policy is not None:
            return policy == "auto"
        if callable(self._approval):
            decision = await self._approval(request)
        else:
            future: asyncio.Future[Decision] = asyncio.get_running_loop().create_future()
            self._pending[call_id] = future
            try:
                decision = await future
            finally:
                self._pending.pop(call_id, None)
        if decision.startswith("always_"):
            self._always[name] = decision == "always_approve"
        return decision in ("approve", "always_approve")

    def decide(self, call_id: str, decision: Decision) -> None:
        """Raises `KeyError` when no approval is pending for `call_id`."""
        future = self._pending.get(call_id)
        if future is None or future.done():
            raise KeyError(f"no approval is pending for call {call_id}")
        future.set_result(decision)

    def deny_all(self) -> None:
        """Nobody can answer any more (the connection is lost): every waiting approval is denied."""
        for future in self._pending.values():
            if not future.done():
                future.set_result("deny")

    async def mcp_approval(self, item: dict[str, Any]) -> None:
        """A hosted MCP server's tool call waits for the user's approval, as `needs_approval` tools do."""
        session = self._session
        name = f"{item.get('server_label', 'mcp')}.{item.get('name', '')}"
        try:
            approve = await self.approved(name, item["id"], item.get("arguments") or "{}", session.agent)
        except Exception as exc:  # an approver that fails denies: the MCP call must not wait forever
            log.warning("approving %s failed: %s: %s", name, type(exc).__name__, exc)
            approve = False
        response = {"type": "mcp_approval_response", "id": session.new_id("item"), "approval_request_id": item["id"]}
        await session.send({"type": "conversation.item.create", "item": {**response, "approve": approve}})
        await session.request_response()
