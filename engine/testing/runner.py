"""Running a conversation test: offline on the simulator (which plays the model's actions), or live
against a real server (where the model's scripted actions become expectations)."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from ..runtime import Session
from ..runtime import events as ev
from ..spec import Document
from ..spec.script import Call, ConversationTest, Expect, Handoff, ToolExpectation, Transition, Turn


@dataclass(slots=True)
class TurnRecord:
    """What happened during one turn, in session events, plus where the session ended up."""

    events: list[ev.SessionEvent]
    agent: str
    state: str | None
    context: dict[str, Any]

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]

    @property
    def said(self) -> str:
        return "".join(e.delta for e in self.of(ev.TranscriptDelta) if e.role == "assistant")

    def story(self) -> str:
        """A one-line account of the turn, for failure messages."""
        parts = []
        for e in self.events:
            match e:
                case ev.HandoffEvent(source=s, target=t):
                    parts.append(f"handoff {s} → {t}")
                case ev.ToolStart(tool=tool, arguments=a):
                    parts.append(f"called {tool}({a})")
                case ev.TransitionRefused(target=t, reason=r):
                    parts.append(f"transition to {t} refused: {r}")
                case ev.StateChanged(source=s, target=t):
                    parts.append(f"state {s} → {t}")
                case ev.GuardrailTripped(guardrail=g, category=c):
                    parts.append(f"guardrail {g} tripped ({c})")
        return "; ".join(parts) or "no tool calls, handoffs or transitions"


@dataclass(slots=True)
class TestResult:
    name: str
    failures: list[str] = field(default_factory=list)
    turns: list[TurnRecord] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.failures


async def run_test(
    doc: Document, test: ConversationTest, *, live: bool = False, url: str | None = None, api_key: str | None = None
) -> TestResult:
    """Run one test. Offline it starts its own simulator; live it talks to `url` (or OpenAI)."""
    from ..sim import Simulator

    result = TestResult(test.name)
    started = time.perf_counter()
    try:
        if live:
            await _run(doc, test, result, url=url, api_key=api_key, live=True)
        else:
            async with Simulator(test) as sim:
                await _run(doc, test, result, url=sim.url, api_key="sim-key", live=False)
            result.failures += [f"the simulator went off script: {p}" for p in (*sim.script_errors, *sim.mismatches)]
    except TimeoutError:
        result.failures.append(f"turn {len(result.turns) + 1} did not settle (no idle session) in time")
    result.seconds = time.perf_counter() - started
    return result


async def _run(
    doc: Document, test: ConversationTest, result: TestResult, *, url: str | None, api_key: str | None, live: bool
) -> None:
    session = Session(
        doc, url=url, api_key=api_key, agent=test.agent, state=test.state, context=test.context, approval=test.approve
    )
    seen: list[ev.SessionEvent] = []
    async with session:
        collector = asyncio.create_task(_collect(session, seen))
        for number, turn in enumerate(test.turns, 1):
            start = len(seen)
            if turn.user is not None:
                await session.send_text(turn.user)
            else:
                await session.request_response()
            await session.wait_idle(120.0 if live else 30.0)
            await asyncio.sleep(0)  # let the collector take the last events
            record = TurnRecord(seen[start:], session.agent, session.state, dict(session.context))
            result.turns.append(record)
            if live:
                result.failures += [f"turn {number}: {m}" for m in _live_mismatches(turn, record)]
            if turn.expect is not None:
                result.failures += [f"turn {number}: {m}" for m in _unmet(turn.expect, record, doc)]
    await collector


async def _collect(session: Session, seen: list[ev.SessionEvent]) -> None:
    async for event in session:
        if not isinstance(event, ev.Audio):
            seen.append(event)


# --- expectations -----------------------------------------------------------------------------------


def _contains(actual: Any, expected: Any) -> bool:
    """Dicts match as subsets (recursively), strings as substrings, anything else by equality."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(k in actual and _contains(actual[k], v) for k, v in expected.items())
    if isinstance(expected, str) and isinstance(actual, str):
        return expected.lower() in actual.lower()
    return actual == expected


def _parsed(text: str) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return text


def _unmet(expect: Expect, record: TurnRecord, doc: Document) -> list[str]:
    problems = []
    if expect.agent is not None and record.agent != expect.agent:
        problems.append(f"expected agent '{expect.agent}', but the agent is '{record.agent}' ({record.story()})")
    if expect.state is not None and record.state != expect.state:
        problems.append(f"expected state '{expect.state}', but the state is '{record.state}' ({record.story()})")
    for key, value in (expect.context or {}).items():
        if key not in record.context or not _contains(record.context[key], value):
            problems.append(f"expected context.{key} = {value!r}, got {record.context.get(key, '<unset>')!r}")
    problems += _unmet_tools(expect, record)
    if expect.guardrail is not None:
        name, _, category = expect.guardrail.partition(":")
        trips = [t for t in record.of(ev.GuardrailTripped) if t.guardrail == name and category in ("", t.category)]
        if not trips:
            got = ", ".join(f"{t.guardrail}:{t.category}" for t in record.of(ev.GuardrailTripped)) or "none"
            problems.append(f"expected guardrail {expect.guardrail} to trip; tripped: {got}")
    if expect.approval is not None and expect.approval not in [a.tool for a in record.of(ev.ApprovalRequested)]:
        problems.append(f"expected an approval request for '{expect.approval}' ({record.story()})")
    if expect.verdict is not None:
        escalations = [e for e in record.of(ev.ToolEnd) if (t := doc.spec.tools.get(e.tool)) and t.escalate]
        if not escalations:
            problems.append(f"expected an escalation verdict, but no escalation ran ({record.story()})")
        elif not _contains(_parsed(escalations[-1].output), expect.verdict):
            problems.append(f"expected the verdict to contain {expect.verdict!r}, got {escalations[-1].output}")
    if expect.refused is not None:
        refused = [r.target for r in record.of(ev.TransitionRefused)]
        if expect.refused not in refused:
            problems.append(f"expected the move to '{expect.refused}' to be refused ({record.story()})")
    if expect.says is not None and expect.says.lower() not in record.said.lower():
        problems.append(f"expected the assistant to say {expect.says!r}; it said {record.said!r}")
    return problems


def _unmet_tools(expect: Expect, record: TurnRecord) -> list[str]:
    if expect.tools is None:
        return []
    starts = {s.call_id: s for s in record.of(ev.ToolStart)}
    ran = [(e, starts.get(e.call_id)) for e in record.of(ev.ToolEnd)]
    problems, position = [], 0
    for wanted in expect.tools:
        want = wanted if isinstance(wanted, ToolExpectation) else ToolExpectation(name=wanted)
        for index in range(position, len(ran)):
            end, start = ran[index]
            if end.tool != want.name:
                continue
            args = _parsed(start.arguments) if start else {}
            if want.args is not None and not _contains(args, want.args):
                problems.append(f"{want.name} was called with {args}, expected arguments {want.args}")
            if want.output is not None and not _contains(_parsed(end.output), want.output):
                problems.append(f"{want.name} returned {end.output}, expected it to contain {want.output!r}")
            if want.ok is not None and end.ok != want.ok:
                problems.append(f"{want.name} {'succeeded' if end.ok else 'failed'}: {end.output}")
            position = index + 1
            break
        else:
            problems.append(f"expected a call to '{want.name}' ({record.story()})")
    return problems


def _live_mismatches(turn: Turn, record: TurnRecord) -> list[str]:
    """Live, the scripted model actions are expectations: same tools, handoffs and transitions."""
    problems = []
    calls = {s.tool: _parsed(s.arguments) for s in record.of(ev.ToolStart)}
    for action in turn.model:
        if isinstance(action, Call):
            if action.call not in calls:
                problems.append(f"the model did not call '{action.call}' ({record.story()})")
            elif missing := [k for k in action.args if k not in (calls[action.call] or {})]:
                problems.append(f"'{action.call}' was called without {', '.join(missing)}")
        elif isinstance(action, Handoff) and action.handoff not in [h.target for h in record.of(ev.HandoffEvent)]:
            problems.append(f"the model did not hand off to '{action.handoff}' ({record.story()})")
        elif isinstance(action, Transition) and action.transition not in [
            s.target for s in record.of(ev.StateChanged)
        ] + [r.target for r in record.of(ev.TransitionRefused)]:
            problems.append(f"the model did not move to '{action.transition}' ({record.story()})")
    return problems
