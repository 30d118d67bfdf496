"""The scripted model's position in a conversation script.

The cursor lives on the simulator, not on a connection, so a client that reconnects continues
where it was. Rules:

- A user message moves the cursor to the start of the next turn that has a `user` text; a text
  differing from the script's still moves it, and is reported as a `Mismatch`.
- A response plays the current turn's actions from the cursor: consecutive `say` actions, ending
  at (and including) the next `call` or `handoff`. Played actions are consumed when the response
  starts, so a cancelled response does not replay them; a response cut by a dropped connection
  gives back the actions it did not finish (the runtime reconnects and asks again).
- When the current turn is exhausted (or nothing was played yet) and the next turn has no `user`
  text, a response enters that turn: it is a turn the model opens.
- Otherwise a response gets no actions: the simulator never invents a reply.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from engine.spec.script import Call, Handoff, Say, Script, Transition

Action = Say | Call | Handoff | Transition


@dataclass(frozen=True)
class Mismatch:
    """A user message that differs from the script (or comes after its last user turn)."""

    turn: int | None  # the turn moved to; None past the end of the script
    expected: str | None
    received: str


@dataclass(frozen=True)
class Played:
    """The actions one response plays, and the cursor positions around them (to give back the unfinished)."""

    actions: list[Action]
    origin: tuple[int, int]  # cursor position of the first action played
    after: tuple[int, int]  # cursor position once the actions were taken


@dataclass(frozen=True)
class ScriptError:
    """The script asked for something the real model could not do (the simulator refused it)."""

    code: str  # e.g. scripted_tool_not_offered, no_supervisor_step
    message: str
    tool: str | None = None
    turn: int | None = None


def _normalize(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().casefold()


class ScriptCursor:
    def __init__(self, script: Script | None) -> None:
        self.turns = list(script.turns) if script is not None else []
        self.turn = -1  # before the first turn
        self.action = 0

    @property
    def position(self) -> tuple[int, int]:
        return (self.turn, self.action)

    @property
    def done(self) -> bool:
        """True when every action of every turn has been played."""
        if not self.turns:
            return True
        if self.turn >= len(self.turns):
            return True
        return self.turn == len(self.turns) - 1 and self._exhausted()

    def _exhausted(self) -> bool:
        return self.turn < 0 or self.action >= len(self.turns[self.turn].model)

    def on_user_message(self, text: str | None) -> tuple[str | None, Mismatch | None]:
        """Move to the next user turn. Returns the script's user text and any mismatch.

        `text` is None for audio input, whose words the simulator cannot know (no mismatch then).
        """
        if not self.turns:
            return None, None
        nxt = next((i for i in range(self.turn + 1, len(self.turns)) if self.turns[i].user is not None), None)
        if nxt is None:
            self.turn, self.action = len(self.turns), 0
            return None, Mismatch(None, None, text) if text is not None else None
        self.turn, self.action = nxt, 0
        expected = self.turns[nxt].user
        if text is not None and expected is not None and _normalize(text) != _normalize(expected):
            return expected, Mismatch(nxt, expected, text)
        return expected, None

    def next_response(self) -> list[Action]:
        """The actions the next response plays (consumed now); empty when the script has none here."""
        if self.turn >= len(self.turns):
            return []
        if self._exhausted():
            nxt = self.turn + 1
            if nxt >= len(self.turns) or self.turns[nxt].user is not None:
                return []
            self.turn, self.action = nxt, 0
        actions = self.turns[self.turn].model
        played: list[Action] = []
        while self.action < len(actions):
            action = actions[self.action]
            self.action += 1
            played.append(action)
            if not isinstance(action, Say):
                break
        return played

    def take(self) -> Played:
        """`next_response`, with the positions a response needs to give back what it did not finish."""
        origin = self.position
        actions = self.next_response()
        if actions:
            origin = (self.turn, self.action - len(actions))
        return Played(actions, origin, self.position)

    def give_back(self, played: Played, finished: int) -> None:
        """Return the actions of `played` after its first `finished` ones (unless the cursor moved on)."""
        turn, action = played.origin
        self.rewind((turn, action + finished), played.after)

    def rewind(self, position: tuple[int, int], expected: tuple[int, int]) -> None:
        """Return to `position` unless the cursor moved on since `expected` (e.g. a new user turn)."""
        if self.position == expected:
            self.turn, self.action = position

    def says(self) -> list[Say]:
        """Every `say` of the script, in order (the guardrail classifier looks flags up here)."""
        return [a for t in self.turns for a in t.model if isinstance(a, Say)]
