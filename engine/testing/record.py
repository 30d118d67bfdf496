"""What happened during one turn of a conversation test, and a readable account of it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..runtime import events as ev


def show(value: Any, limit: int = 160) -> str:
    """A value as it reads in YAML flow style (JSON), cut at `limit` characters."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parsed(text: str) -> Any:
    """JSON text as data; anything else as the text itself."""
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return text


@dataclass(frozen=True, slots=True)
class ToolRun:
    """One function call the engine answered: the tool, its arguments, its output, whether it succeeded."""

    tool: str
    arguments: Any
    output: str
    ok: bool
    ran: bool  # False when it never ran: not offered, approval denied
    steps: tuple[dict[str, Any], ...] = ()


@dataclass(slots=True)
class TurnRecord:
    """What happened during one turn, in session events, plus where the session ended up."""

    events: list[ev.SessionEvent]
    agent: str
    state: str | None
    context: dict[str, Any]
    number: int = 0
    user: str | None = None

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]

    @property
    def said(self) -> str:
        """What the assistant said, its messages joined by spaces."""
        return " ".join(text for text in self._messages().values() if text)

    def tool_runs(self) -> list[ToolRun]:
        """Every function call answered during the turn (handoffs and transitions aside), in order."""
        arguments = {e.call_id: e.arguments for e in self.events if isinstance(e, ev.ToolStart | ev.ApprovalRequested)}
        started = {e.call_id for e in self.of(ev.ToolStart)}
        runs = []
        for e in self.of(ev.ToolEnd):
            args = parsed(arguments.get(e.call_id, "{}"))
            runs.append(ToolRun(e.tool, args, e.output, e.ok, e.call_id in started, tuple(e.steps)))
        return runs

    def moves(self) -> list[str]:
        """Targets the session moved to: states, and `handoff:<agent>` for handoffs."""
        moved = []
        for e in self.events:
            if isinstance(e, ev.StateChanged):
                moved.append(e.target)
            elif isinstance(e, ev.HandoffEvent) and f"handoff:{e.target}" not in moved:
                moved.append(f"handoff:{e.target}")
        return moved

    def story(self) -> str:
        """A one-line account of the turn, for failure messages and live reports."""
        parts: list[str] = []
        runs = iter(self.tool_runs())
        messages = self._messages()
        told: set[str] = set()
        for e in self.events:
            match e:
                case ev.ToolEnd():
                    parts.append(_run_story(next(runs)))
                case ev.ApprovalRequested(tool=tool):
                    parts.append(f"approval requested for {tool}")
                case ev.StateChanged(source=source, target=target) if not target.startswith("handoff:"):
                    parts.append(f"state {source} → {target}")
                case ev.TransitionRefused(target=target, reason=reason):
                    parts.append(f"move to {target} refused ({reason})")
                case ev.HandoffEvent(source=source, target=target):
                    parts.append(f"handoff {source} → {target}")
                case ev.GuardrailTripped(guardrail=guardrail, category=category):
                    parts.append(f"guardrail {guardrail} tripped ({category})")
                case ev.Error(message=message):
                    parts.append(f"server error: {message}")
                case ev.TranscriptDelta(role="assistant", item_id=item) if item not in told and messages.get(item):
                    told.add(item)
                    parts.append(f"said {show(messages[item], 80)}")
        return "; ".join(parts) or "nothing happened"

    def _messages(self) -> dict[str, str]:
        texts: dict[str, str] = {}
        for e in self.of(ev.TranscriptDelta):
            if e.role == "assistant":
                texts[e.item_id] = texts.get(e.item_id, "") + e.delta
        return texts


def _run_story(run: ToolRun) -> str:
    verdict = "ok" if run.ok else "failed"
    called = [str(s.get("name")) for s in run.steps if s.get("type") == "function_call"]
    via = f" (its model called {', '.join(called)})" if called else ""
    return f"{run.tool}({_args(run.arguments)}) → {verdict}: {show(parsed(run.output), 100)}{via}"


def _args(arguments: Any) -> str:
    text = json.dumps(arguments, ensure_ascii=False, separators=(",", ":")) if isinstance(arguments, dict) else "…"
    return text if len(text) <= 80 else text[:79] + "…"
