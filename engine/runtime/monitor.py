"""Output guardrails: the guardrails of the agent that produced an item, on its accumulated transcript
every N characters and once on the final text.

A trip cancels the reply if it is still streaming, cuts its audio at what was heard, and asks the
model to correct itself with a system message. Each item trips at most once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import events as ev
from .guardrails import Trip

if TYPE_CHECKING:
    from .session import Session


class GuardrailMonitor:
    def __init__(self, session: Session) -> None:
        self._session = session
        self._graph = session.graph
        self._checker = session.runtime.guardrails
        self._every = session.runtime.guardrail_every
        self._checked: dict[str, int] = {}  # item id -> transcript length already checked
        self._tripped: set[str] = set()
        self._producers: dict[str, tuple[str, str | None]] = {}  # item id -> (agent, response id)
        # One check at a time per item: text that arrives meanwhile is checked when it ends, whole,
        # so a reply in many small deltas costs checks in proportion to its length, not its square.
        self._checking: set[str] = set()
        self._again: dict[str, str] = {}  # item id -> its latest text, to check once the running check ends

    @property
    def enabled(self) -> bool:
        return self._every > 0

    def produced(self, item_id: str, agent: str, response_id: str | None) -> None:
        """An assistant item began in a response made with `agent`'s config."""
        self._producers[item_id] = (agent, response_id)

    def on_delta(self, item_id: str, item: dict[str, Any] | None) -> None:
        if item is None or item_id in self._tripped or item.get("truncated"):
            return
        text = item["text"]
        if len(text) - self._checked.get(item_id, 0) >= self._every:
            self._schedule(item_id, text)

    def on_done(self, item_id: str, text: str) -> None:
        if item_id not in self._tripped:
            self._schedule(item_id, text)

    def _schedule(self, item_id: str, text: str) -> None:
        self._checked[item_id] = len(text)
        if item_id in self._checking:
            self._again[item_id] = text  # the latest text waits for the running check
            return
        self._checking.add(item_id)
        self._session.spawn(self._checks(item_id, text))

    async def _checks(self, item_id: str, text: str) -> None:
        try:
            while True:
                await self._check(item_id, text)
                if item_id in self._tripped or item_id not in self._again:
                    return
                text = self._again.pop(item_id)
        finally:
            self._checking.discard(item_id)
            self._again.pop(item_id, None)

    def _guardrails_of(self, agent_id: str) -> list[str]:
        listed = self._graph.spec.agents[agent_id].guardrails
        return list(self._graph.spec.guardrails) if listed is None else listed

    async def _check(self, item_id: str, text: str) -> None:
        agent, _ = self._producers.get(item_id, (self._session.agent, None))
        for name in self._guardrails_of(agent):
            trip = await self._checker.check(name, text, self._session.context)
            if trip is not None and item_id not in self._tripped:
                self._tripped.add(item_id)
                await self._on_trip(item_id, agent, text, trip)
                return

    async def _on_trip(self, item_id: str, agent: str, text: str, trip: Trip) -> None:
        session = self._session
        _, response_id = self._producers.get(item_id, (agent, None))
        sequencer = session.sequencer
        if sequencer.active and response_id is not None and response_id == sequencer.response_id:
            cancel = sequencer.interrupt()
            if cancel is not None:
                await session.send(cancel)
        if session.bargein.playback.has_audio(item_id):
            session.emit(ev.AudioInterrupted(item_id, await session.bargein.truncate(item_id)))
        session.emit(ev.GuardrailTripped(agent, trip.guardrail, trip.category, trip.rationale, text))
        guardrail = self._graph.spec.guardrails[trip.guardrail]
        message = guardrail.message or (
            f"Your last reply was stopped by the {trip.guardrail} guardrail ({trip.category}: {trip.rationale}). "
            "Do not repeat it. Briefly apologize and continue helpfully, within policy."
        )
        item = {"type": "message", "role": "system", "content": [{"type": "input_text", "text": message}]}
        await session.send({"type": "conversation.item.create", "item": item})
        await session.request_response()
