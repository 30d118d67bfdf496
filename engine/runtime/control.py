"""Call control: the graph's `transfer`, `end_call` and `dtmf` tools, carried out on the call.

A transfer and a hang-up come last in a call, so they wait for the words before them to be heard:
the caller hears the tool's `message` (the model is asked to say exactly that) or the model's own
goodbye, playback runs out, and only then does the line refer or hang up. A barge-in meanwhile does
not cancel them: the caller asked for the transfer, and it still happens.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING

from ..compile import TemplateRenderError, render, template_variables
from ..spec.models import TRANSFER_TARGET, Tool
from . import events as ev
from .line import CallLine, LineUnsupported

if TYPE_CHECKING:
    from .session import Session

log = logging.getLogger("engine.runtime")

#: Longest wait for the last words to be heard before a transfer or hang-up goes ahead anyway.
MAX_GOODBYE_SECONDS = 30.0


def transfer_target(template: str, variables: dict[str, object]) -> str | None:
    """A transfer's `to`, rendered over the context: an E.164 number or SIP URI, or None (logged)."""
    try:
        to = render(template, variables, name="transfer.to").strip()
    except TemplateRenderError as exc:
        log.warning("the transfer target %r does not render: %s", template, exc)
        return None
    if not TRANSFER_TARGET.match(to):
        log.warning("the transfer target %r is not a phone number or SIP URI", to)
        return None
    return to


class CallControl:
    def __init__(self, session: Session, line: CallLine) -> None:
        self._session = session
        self.line = line
        self.ended = False

    async def run(self, name: str, tool: Tool, call_id: str, arguments_text: str, agent: str) -> None:
        """Carry out one call-control tool call and answer it."""
        session = self._session
        session.emit(ev.ToolStart(agent, name, call_id, arguments_text))
        try:
            arguments = json.loads(arguments_text or "{}")
        except ValueError:
            arguments = {}
        arguments = arguments if isinstance(arguments, dict) else {}
        if tool.dtmf is not None:
            digits = tool.dtmf.digits or str(arguments.get("digits") or "")
            try:
                await self.line.send_dtmf(digits)
            except LineUnsupported as exc:
                await self._answer(agent, name, call_id, {"error": f"{exc}."}, ok=False)
                return
            session.emit(ev.DtmfSent(digits))
            await self._answer(agent, name, call_id, {"sent": digits}, ok=True)
            return
        if self.ended:
            await self._answer(agent, name, call_id, {"error": "The call is already ending."}, ok=False)
            return
        if tool.transfer is not None:
            to = self._target(tool.transfer.to)
            if to is None:
                await self._answer(agent, name, call_id, {"error": "The transfer number is not set up."}, ok=False)
                return
            self.ended = True
            await self._answer(agent, name, call_id, {"status": "transferring"}, ok=True, message=tool.transfer.message)
            await self._heard()
            summary = str(arguments.get("summary") or "")
            await self.line.transfer(to, summary)
            session.emit(ev.CallTransferred(agent, to, summary))
            session.emit(ev.CallEnded("transferred"))
        else:
            assert tool.end_call is not None
            self.ended = True
            message = tool.end_call.message
            await self._answer(agent, name, call_id, {"status": "ending the call"}, ok=True, message=message)
            await self._heard()
            await self.line.hangup()
            session.emit(ev.CallEnded("hangup"))

    def _target(self, template: str) -> str | None:
        session = self._session
        return transfer_target(template, template_variables(session.graph, session.agent, session.context))

    async def _answer(
        self, agent: str, name: str, call_id: str, output: dict[str, str], *, ok: bool, message: str | None = None
    ) -> None:
        """The tool's output; then the model speaks: `message` word for word when given."""
        session = self._session
        text = json.dumps(output)
        await session.calls.output(call_id, text, respond=message is None)
        if message is not None:
            instructions = f"Say exactly this to the caller, word for word, and nothing else: {message}"
            await session.request_response({"instructions": instructions, "tool_choice": "none"})
        session.emit(ev.ToolEnd(agent, name, call_id, text, ok))

    async def _heard(self) -> None:
        """Wait until the reply in progress is done and its audio has played out."""
        session = self._session
        playback = session.bargein.playback
        loop = asyncio.get_running_loop()
        deadline = loop.time() + MAX_GOODBYE_SECONDS
        # A drop meanwhile does not count as heard: the reconnect asks for the words again.
        while loop.time() < deadline and session.link.failed is None and not session.link.closing:
            if session.link.up and session.sequencer.idle and not playback.audible():
                return
            await asyncio.sleep(0.05)
