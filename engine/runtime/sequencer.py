"""When a `response.create` may go out: a pure, synchronous state machine (no I/O, no asyncio).

The Realtime API refuses a `response.create` while a response is active, so the session asks
this object first. Each input (a request, the server's `response.created` / `response.done`, a
refusal, an interruption, a drop, a restore) moves the phase along a checked transition and returns
the client event to send now, if any; the session sends it. Two requests while one is under way
merge into one that goes out at `response.done`.

    IDLE ──request──▶ REQUESTED ──created──▶ ACTIVE ──done──▶ IDLE
      ▲                   │ refused                │ (a wanted response goes out: REQUESTED)
      └───────────────────┘                        │
    any ──dropped──▶ OFFLINE ──restored──▶ IDLE (or REQUESTED when a turn was left open)

A response the server starts by itself (turn detection) is `created` from IDLE.
"""

from __future__ import annotations

import enum
import itertools
import os
from collections.abc import Callable
from typing import Any


class Phase(enum.Enum):
    IDLE = "idle"  # no response: a request goes out at once
    REQUESTED = "requested"  # our response.create is out, its response.created not seen yet
    ACTIVE = "active"  # a response is streaming
    OFFLINE = "offline"  # the connection dropped: requests are remembered until the restore


_TRANSITIONS: dict[Phase, frozenset[Phase]] = {
    Phase.IDLE: frozenset({Phase.REQUESTED, Phase.ACTIVE, Phase.OFFLINE}),
    Phase.REQUESTED: frozenset({Phase.ACTIVE, Phase.IDLE, Phase.OFFLINE}),
    Phase.ACTIVE: frozenset({Phase.ACTIVE, Phase.IDLE, Phase.REQUESTED, Phase.OFFLINE}),
    Phase.OFFLINE: frozenset({Phase.OFFLINE, Phase.IDLE, Phase.REQUESTED}),
}

Event = dict[str, Any]


class SequencerError(RuntimeError):
    """A transition the state machine does not allow: a bug in the caller, never a server's doing."""


# Unique within the process by the counter and across processes by the random part; a uuid4 per
# response costs more than the rest of the sequencer's work.
_ID_PREFIX = os.urandom(5).hex()
_ID_COUNTER = itertools.count(1)


def _event_id() -> str:
    return f"event_{_ID_PREFIX}{next(_ID_COUNTER):010x}"


class ResponseSequencer:
    """Decides what a request, a cancel, a refusal or a drop means for the response on the wire.

    `wanted` is the one merged request waiting behind the current response (or, offline, a turn to
    ask for once the conversation is restored). `cancel_on_create` is an interruption that came before
    the server started the requested response.
    """

    def __init__(self, new_id: Callable[[], str] = _event_id) -> None:
        self.phase = Phase.IDLE
        self.wanted = False
        self.cancel_on_create = False
        self.create_id: str | None = None  # event_id of our response.create in flight
        self.response_id: str | None = None  # of the active response
        self.body: dict[str, Any] | None = None  # the waiting request's response settings, if any
        self._sent_body: dict[str, Any] | None = None  # those of the response on the wire (asked again on a drop)
        self._done_early: str | None = None  # a response whose done came before its created
        self._new_id = new_id

    @property
    def idle(self) -> bool:
        return self.phase is Phase.IDLE and not self.wanted

    @property
    def active(self) -> bool:
        return self.phase is Phase.ACTIVE

    def _to(self, phase: Phase) -> None:
        if phase not in _TRANSITIONS[self.phase]:
            raise SequencerError(f"response sequencer: {self.phase.value} -> {phase.value} is not a transition")
        self.phase = phase

    def _create(self) -> Event:
        self._to(Phase.REQUESTED)
        self.wanted = False
        self.create_id = self._new_id()
        event: Event = {"type": "response.create", "event_id": self.create_id}
        self._sent_body = self.body
        if self.body is not None:
            event["response"], self.body = self.body, None
        return event

    # --- inputs ---------------------------------------------------------------------------------

    def request(self, body: dict[str, Any] | None = None) -> Event | None:
        """Someone wants the model to respond: the `response.create` to send now, or None (it waits).

        `body` sets the response's own parameters (instructions for one reply); a request with a body
        replaces the body of one waiting before it."""
        if body is not None:
            self.body = body
        if self.phase is Phase.IDLE:
            return self._create()
        self.wanted = True  # behind the current response, or after the restore: duplicates merge
        return None

    def unsent(self) -> None:
        """The `response.create` just returned could not be sent (the connection is going down)."""
        if self.phase is Phase.REQUESTED:
            self._to(Phase.OFFLINE)
            self.wanted = True

    def created(self, response_id: str | None) -> Event | None:
        """`response.created`: a `response.cancel` to send at once if it was interrupted meanwhile."""
        if self.phase is Phase.OFFLINE:
            return None  # a late frame of the old connection
        if response_id is not None and response_id == self._done_early:
            # Its done came first (a server that reorders them): the response is already over.
            self._done_early = None
            self._to(Phase.ACTIVE)
            return self.done()
        self._to(Phase.ACTIVE)
        self.response_id = response_id
        self.create_id = None
        if self.cancel_on_create:
            self.cancel_on_create = False
            return {"type": "response.cancel"}
        return None

    def done(self, response_id: str | None = None) -> Event | None:
        """`response.done`: the waiting `response.create` to send now, if one is wanted."""
        if self.phase is Phase.REQUESTED and response_id is not None:
            self._done_early = response_id  # before its created: that one ends it at once
            return None
        if self.phase is not Phase.ACTIVE:
            return None  # nothing of ours was active (a stray or duplicate done)
        self._to(Phase.IDLE)
        self.response_id = self._sent_body = None
        return self._create() if self.wanted else None

    def refused(self, event_id: str | None) -> Event | None:
        """An `error` answering `event_id`: when it refuses our create, no response comes for it."""
        if self.phase is not Phase.REQUESTED or event_id is None or event_id != self.create_id:
            return None
        self._to(Phase.IDLE)
        self.create_id = self._sent_body = None
        self.cancel_on_create = False
        return self._create() if self.wanted else None

    def already_active(self) -> None:
        """The server says a response is active after all: ours is asked for again after its done."""
        if self.phase is Phase.OFFLINE:
            return
        if self.phase is not Phase.ACTIVE:
            self._to(Phase.ACTIVE)
        self.wanted = True
        self.create_id = None
        self.cancel_on_create = False

    def interrupt(self) -> Event | None:
        """Stop the model: the `response.cancel` to send now (or a cancel as soon as it starts)."""
        self.wanted, self.body = False, None
        if self.phase is Phase.ACTIVE:
            return {"type": "response.cancel"}
        if self.phase is Phase.REQUESTED:
            self.cancel_on_create = True
        return None

    def dropped(self) -> None:
        """The connection dropped: a response cut short (or still to come) is asked for after the restore,
        with the settings it was asked with (a goodbye's own instructions)."""
        cut_short = self.phase in (Phase.REQUESTED, Phase.ACTIVE)
        if cut_short and self.body is None:
            self.body = self._sent_body
        self.wanted = self.wanted or cut_short
        self._sent_body = self._done_early = None
        self._to(Phase.OFFLINE)
        self.cancel_on_create = False
        self.create_id = self.response_id = None

    def restored(self, *, turn_open: bool, hold: bool = False) -> Event | None:
        """The conversation is restored on a new connection. `turn_open`: the user or a tool spoke last;
        `hold`: ask for nothing now (a tool still runs, and its output will ask)."""
        ask = (self.wanted or turn_open) and not hold
        self._to(Phase.IDLE)
        self.wanted = False
        return self._create() if ask else None
