"""Driving a session through a scripted conversation's user turns (the model side is the server's)."""

from __future__ import annotations

from ..spec import Script
from .session import Session


async def replay(session: Session, script: Script, *, turn_timeout: float = 60.0) -> None:
    """Send each user turn (or, for a turn the model opens, ask for a response) and wait it out."""
    for turn in script.turns:
        if turn.user is not None:
            await session.send_text(turn.user)
        else:
            await session.request_response()
        await session.wait_idle(turn_timeout)
