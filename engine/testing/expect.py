"""Checking a turn against its expectations, and (live) against the model actions the script gave.

Every problem is one line: what was checked, what was expected and what happened instead.
Context values match exactly (dicts as subsets); tool arguments, outputs and verdicts match
loosely: dicts as subsets, text as a case-insensitive substring.
"""

from __future__ import annotations

import json
from typing import Any

from ..runtime import events as ev
from ..spec import Document
from ..spec.script import Call, Expect, Handoff, SupervisorCall, ToolExpectation, Transition, Turn
from .record import ToolRun, TurnRecord, parsed, show


def diff(actual: Any, expected: Any, path: str, *, loose: bool) -> list[str]:
    """Where `actual` does not match `expected`, one line per difference, named by its path."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected an object with {show(expected)}, got {show(actual)}"]
        problems = []
        for key, value in expected.items():
            where = f"{path}.{key}"
            if key in actual:
                problems += diff(actual[key], value, where, loose=loose)
            else:
                problems.append(f"{where}: expected {show(value)}, but there is no '{key}'")
        return problems
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        pairs = enumerate(zip(actual, expected, strict=True))
        return [p for i, (a, e) in pairs for p in diff(a, e, f"{path}[{i}]", loose=loose)]
    if loose and isinstance(expected, str):
        text = actual if isinstance(actual, str) else json.dumps(actual, ensure_ascii=False)
        if expected.casefold() in text.casefold():
            return []
        return [f"{path}: expected text containing {show(expected)}, got {show(actual)}"]
    if actual == expected and isinstance(actual, bool) == isinstance(expected, bool):
        return []
    return [f"{path}: expected {show(expected)}, got {show(actual)}"]


def unmet(expect: Expect, record: TurnRecord, doc: Document, *, live: bool = False) -> list[str]:
    """Every expectation of `expect` the turn did not meet. Live, `says` is not checked (wording varies)."""
    problems: list[str] = []
    if expect.agent is not None and record.agent != expect.agent:
        problems.append(f"agent: expected {show(expect.agent)}, got {show(record.agent)}")
    if expect.state is not None and record.state != expect.state:
        got = show(record.state) if record.state else f"none (agent '{record.agent}' has no enforced states)"
        problems.append(f"state: expected {show(expect.state)}, got {got}")
    if expect.context is not None:
        problems += diff(record.context, expect.context, "context", loose=False)
    if expect.tools is not None:
        problems += _unmet_tools(expect.tools, record.tool_runs())
    if expect.guardrail is not None:
        problems += _unmet_guardrail(expect.guardrail, record)
    if expect.approval is not None:
        asked = [a.tool for a in record.of(ev.ApprovalRequested)]
        if expect.approval not in asked:
            got = f"got requests for {', '.join(asked)}" if asked else "but none was requested"
            problems.append(f"approval: expected a request to approve {show(expect.approval)}, {got}")
    if expect.verdict is not None:
        problems += _unmet_verdict(expect.verdict, record, doc)
    if expect.refused is not None:
        problems += _unmet_refusal(expect.refused, record)
    if expect.ended is not None:
        ended = [e.reason for e in record.of(ev.CallEnded)]
        if expect.ended not in ended:
            problems.append(f"ended: expected the call to end ({expect.ended}), {_ended(ended)}")
    if expect.transferred_to is not None:
        to = [e.to for e in record.of(ev.CallTransferred)]
        if expect.transferred_to not in to:
            got = f"it went to {', '.join(to)}" if to else "it was not transferred"
            problems.append(f"transferred_to: expected {show(expect.transferred_to)}, {got}")
    if expect.says is not None and not live and expect.says.casefold() not in record.said.casefold():
        said = show(record.said, 240) if record.said else "nothing"
        problems.append(f"says: expected the assistant to say {show(expect.says)}, it said {said}")
    return problems


def _ended(reasons: list[str]) -> str:
    return f"it ended: {', '.join(reasons)}" if reasons else "it did not end"


def _unmet_tools(wanted: list[str | ToolExpectation], runs: list[ToolRun], what: str = "tools") -> list[str]:
    """Tool runs expected in order (others may come between); `what` names the list in messages."""
    if not wanted:
        return [f"{what}: expected none, got {_names(runs)}"] if runs else []
    problems, position = [], 0
    for item in wanted:
        want = item if isinstance(item, ToolExpectation) else ToolExpectation(name=item)
        candidates = [i for i in range(position, len(runs)) if runs[i].tool == want.name]
        if not candidates:
            after = f" after {runs[position - 1].tool}" if position else ""
            problems.append(f"{what}: expected a call to {want.name}{after}, got {_names(runs)}")
            continue
        # The first call that meets every expectation, else the first call by that name (and why not).
        found = next((i for i in candidates if not _tool_problems(want, runs[i])), candidates[0])
        problems += _tool_problems(want, runs[found])
        position = found + 1
    return problems


def _tool_problems(want: ToolExpectation, run: ToolRun) -> list[str]:
    problems = []
    if want.args is not None:
        problems += diff(run.arguments, want.args, f"{run.tool} args", loose=True)
    if want.output is not None:
        problems += diff(parsed(run.output), want.output, f"{run.tool} output", loose=True)
    if want.ok is not None and run.ok != want.ok:
        if want.ok:
            problems.append(f"{run.tool}: expected it to succeed, but it failed: {show(parsed(run.output))}")
        else:
            problems.append(f"{run.tool}: expected it to fail, but it succeeded: {show(parsed(run.output))}")
    if want.calls is not None:
        problems += _unmet_tools(want.calls, _supervisor_runs(run), f"{run.tool} calls")
    return problems


def _supervisor_runs(run: ToolRun) -> list[ToolRun]:
    """The tool calls an escalation's text model made, as runs."""
    return [
        ToolRun(str(s["name"]), parsed(s.get("arguments", "{}")), str(s.get("output", "")), bool(s.get("ok")), True)
        for s in run.steps
        if s.get("type") == "function_call"
    ]


def _names(runs: list[ToolRun]) -> str:
    return ", ".join(run.tool for run in runs) or "no tool calls"


def _unmet_guardrail(expected: str, record: TurnRecord) -> list[str]:
    name, _, category = expected.partition(":")
    trips = record.of(ev.GuardrailTripped)
    if any(t.guardrail == name and category in ("", t.category) for t in trips):
        return []
    got = f"got {', '.join(f'{t.guardrail}:{t.category}' for t in trips)}" if trips else "but none tripped"
    return [f"guardrail: expected {expected} to trip, {got}"]


def _unmet_verdict(expected: Any, record: TurnRecord, doc: Document) -> list[str]:
    escalations = [r for r in record.tool_runs() if (tool := doc.spec.tools.get(r.tool)) and tool.escalate and r.ran]
    if not escalations:
        return [f"verdict: expected {show(expected)}, but no escalation ran ({_names(record.tool_runs())})"]
    return diff(parsed(escalations[-1].output), expected, "verdict", loose=True)


def _unmet_refusal(target: str, record: TurnRecord) -> list[str]:
    refused = [r.target for r in record.of(ev.TransitionRefused)]
    if target in refused:
        return []
    if target in record.moves():
        happened = "it was allowed"
    else:
        happened = "the model never asked for it"
    others = f" (refused instead: {', '.join(refused)})" if refused else ""
    return [f"refused: expected the move to {show(target)} to be refused, but {happened}{others}"]


# --- live: the script's model actions are expectations ----------------------------------------------


def live_mismatches(turn: Turn, record: TurnRecord, doc: Document) -> list[str]:
    """What the real model did not do of the turn's scripted actions: each call (same tool, the
    arguments its schema requires, and its supervisor's tool calls), handoff and transition."""
    runs = record.tool_runs()
    asked = record.moves() + [r.target for r in record.of(ev.TransitionRefused)]
    problems = []
    for action in turn.model:
        if isinstance(action, Call):
            problems += _live_call(action, runs, doc)
        elif isinstance(action, Handoff | Transition):
            target = f"handoff:{action.handoff}" if isinstance(action, Handoff) else action.transition
            if target in asked:
                asked.remove(target)
            else:
                problems.append(f"model: expected a move to {show(target)}, got {', '.join(asked) or 'no move'}")
    return problems


def _live_call(action: Call, runs: list[ToolRun], doc: Document) -> list[str]:
    required = (doc.spec.tools[action.call].parameters or {}).get("required", [])

    def missing(run: ToolRun) -> list[str]:
        return [key for key in required if not isinstance(run.arguments, dict) or key not in run.arguments]

    calls = [i for i, run in enumerate(runs) if run.tool == action.call]
    if not calls:
        return [f"model: expected a call to {action.call}, got {_names(runs)}"]
    # A call with every required argument, else the first one (and what it lacked).
    run = runs.pop(next((i for i in calls if not missing(runs[i])), calls[0]))
    problems = []
    if lacked := missing(run):
        problems.append(f"model: {action.call} was called without {', '.join(lacked)} ({show(run.arguments)})")
    called = [str(step.get("name")) for step in run.steps if step.get("type") == "function_call"]
    for step in action.supervisor or ():
        if isinstance(step, SupervisorCall):
            if step.call in called:
                called.remove(step.call)
            else:
                got = ", ".join(called) or "no tools"
                problems.append(f"model: expected the supervisor of {action.call} to call {step.call}, it called {got}")
    return problems
