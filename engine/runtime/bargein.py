"""Cutting the assistant's audio at what the listener heard: on barge-in, a guardrail trip or
`interrupt()`.

The playback clock says where the listener is; the server is told with `conversation.item.truncate`
at that millisecond, and the history keeps the part of the text that was heard. When the server
does not cancel the reply itself (turn detection with `interrupt_response: false`), the engine
cancels it when it cuts it, so no more of it streams to the listener.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import events as ev
from .playback import PlaybackClock

if TYPE_CHECKING:
    from .session import Session


class BargeIn:
    def __init__(self, session: Session, playback: PlaybackClock) -> None:
        self._session = session
        self.playback = playback
        self.server_cancels = True  # turn detection's interrupt_response (the API's default: true)

    def applied(self, session: dict[str, object]) -> None:
        """The server's `session.updated`: does its turn detection cancel a reply the user talks over?"""
        audio = session.get("audio")
        if not isinstance(audio, dict):
            return
        turn_detection = (audio.get("input") or {}).get("turn_detection")
        self.server_cancels = isinstance(turn_detection, dict) and turn_detection.get("interrupt_response", True)

    def cut_off(self, item_id: str) -> bool:
        """Was this item's audio cut? Its late deltas are dropped, never played."""
        return self.playback.has_audio(item_id) and self.playback.stopped(item_id)

    async def user_spoke(self) -> None:
        """The user started speaking over the assistant: cut what plays, and the reply if the server won't."""
        audible = self.playback.audible()
        await self.cut_playing()
        sequencer = self._session.sequencer
        if audible and sequencer.active and not self.server_cancels:
            cancel = sequencer.interrupt()
            if cancel is not None:
                await self._session.send(cancel)

    async def cut_playing(self) -> None:
        """Cut the item being heard where playback is, and the items queued behind it at 0 ms."""
        for index, item_id in enumerate(self.playback.audible()):
            played = await self.truncate(item_id, unheard=index > 0)
            if index == 0:
                self._session.emit(ev.AudioInterrupted(item_id, played))

    async def truncate(self, item_id: str, *, unheard: bool = False) -> int:
        """Tell the server how much of the item the user heard (`unheard`: none of it); the history
        keeps that much of its text. An item already cut stays as it was cut."""
        playback = self.playback
        if not playback.has_audio(item_id):
            return 0
        if playback.stopped(item_id):
            return playback.played_ms(item_id)
        received = playback.received_ms(item_id)
        played = playback.stop(item_id, at_ms=0 if unheard else None)
        self._session.history.truncate(item_id, played / received if received else 0.0)
        event = {"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0, "audio_end_ms": played}
        await self._session.send(event)
        return played
