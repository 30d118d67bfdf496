"""Output guardrails on GPT-Live: the same checks as on Realtime, on the output transcript deltas.

GPT-Live has no cancel and no truncate: a trip stops the local playback, plays a short fixture (which
interrupts the model's speech on the server), appends the correction as developer instructions, and
runs the agent on it at once (as the Realtime session asks for a corrected response).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import events as ev
from ..guardrails import Trip
from ..monitor import GuardrailMonitor

if TYPE_CHECKING:
    from .session import LiveSession

#: 200 ms of silence, PCM16 at 24 kHz (fixtures are always that format): enough to cut the speech.
STOP_FIXTURE = b"\x00\x00" * 24 * 200


class LiveGuardrailMonitor(GuardrailMonitor):
    _session: LiveSession  # type: ignore[assignment]

    def __init__(self, session: LiveSession) -> None:
        super().__init__(session)  # type: ignore[arg-type]

    async def _on_trip(self, item_id: str, agent: str, text: str, trip: Trip) -> None:
        session = self._session
        session.cut_output()
        await session.play_fixture(STOP_FIXTURE)
        session.emit(ev.GuardrailTripped(agent, trip.guardrail, trip.category, trip.rationale, text))
        guardrail = self._graph.spec.guardrails[trip.guardrail]
        message = guardrail.message or (
            f"Your last reply was stopped by the {trip.guardrail} guardrail ({trip.category}: {trip.rationale}). "
            "Do not repeat it. Briefly apologize and continue helpfully, within policy."
        )
        await session.backend.append_rules(message)
        await session.backend.correct(message)
