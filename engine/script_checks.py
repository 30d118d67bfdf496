"""Validation of scripted conversations (a graph's `demo`, its tests, a tests file) beyond their names.

A script is walked as the engine would play it: the agent and the state each step runs in are
tracked, so a step the session of that moment would refuse is reported where it is written, with
the fix (E308). Escalation answers are checked against the escalation's output schema (E503),
guardrail categories against the guardrails (E309), `expect.context` keys against what defines or
sets them (E310), and test names for repeats (E311).

Part of `validate` (it compiles tool lists, so it sits above the compile stage).
"""

from __future__ import annotations

import ast
import contextlib
import functools
import inspect
import sys
from collections.abc import Iterable, Iterator
from typing import Any

from .spec import Document, Finding, did_you_mean, handoff_tool_name
from .spec.document import Loc
from .spec.jsonschemas import first_error, schema_problem
from .spec.script import Call, Expect, Handoff, Say, Script, SupervisorAnswer, SupervisorCall, Transition


def check_scripts(
    doc: Document, scripts: Iterable[tuple[Script, Loc]], *, context_keys: set[str] | None
) -> list[Finding]:
    """Every finding of the scripts; `context_keys` are the keys the graph may hold (None: any key)."""
    findings: list[Finding] = []
    for script, at in scripts:
        findings += _walk(doc, script, at)
        findings += _answers(doc, script, at)
        findings += _categories(doc, script, at)
        findings += _audio_files(doc, script, at)
        if context_keys is not None:
            findings += _context_keys(doc, script, at, context_keys | set(script.context))
    return findings


def duplicate_names(doc: Document, names: Iterable[tuple[str, Loc]], taken: dict[str, str]) -> list[Finding]:
    """E311 for a test name used before (in this file, or in `taken`: name -> where it was first used)."""
    findings = []
    seen = dict(taken)
    for name, loc in names:
        if name in seen:
            findings.append(doc.finding("E311", f"a test named '{name}' already exists ({seen[name]})", loc))
        else:
            finding = doc.finding("E311", "", loc)
            seen[name] = f"{finding.file}:{finding.line}"
    return findings


# --- where the conversation is ---------------------------------------------------------------------


def _offered(doc: Document, agent_id: str, state: str | None) -> list[str]:
    from .compile.tools import compile_tools

    return [t["name"] for t in compile_tools(doc, agent_id, state=state) if t.get("type") == "function"]


def _enforced(doc: Document, agent_id: str) -> bool:
    machine = doc.spec.agents[agent_id].states
    return machine is not None and machine.enforce


def _walk(doc: Document, script: Script, at: Loc) -> Iterator[Finding]:
    """Play the script's moves; report the first step the session of its moment would refuse."""
    agents = doc.spec.agents
    agent = script.agent or doc.spec.start
    states: dict[str, str | None] = {
        a: (spec.states.initial if spec.states is not None and spec.states.enforce else None)
        for a, spec in agents.items()
    }
    if script.state is not None:
        states[agent] = script.state
    for t, turn in enumerate(script.turns):
        refused = turn.expect.refused if turn.expect is not None else None
        for a, action in enumerate(turn.model):
            if isinstance(action, Say):
                continue
            loc: Loc = (*at, "turns", t, "model", a)
            state = states[agent]
            problem = _refusal(doc, agent, state, action, refused)
            if problem is not None:
                key = "call" if isinstance(action, Call) else "handoff" if isinstance(action, Handoff) else "transition"
                yield doc.finding("E308", problem, (*loc, key))
                return  # where the conversation goes from here is unknown
            if isinstance(action, Handoff):
                agent = action.handoff
            elif isinstance(action, Transition) and action.transition != refused:
                if action.transition.startswith("handoff:"):
                    agent = action.transition.removeprefix("handoff:")
                else:
                    states[agent] = action.transition
        if turn.expect is not None and turn.expect.guardrail is not None:
            return  # a trip cuts the response short: what ran of the rest depends on when it was checked
        if any(isinstance(action, Say) and action.flag for action in turn.model):
            return


def _where(agent: str, state: str | None) -> str:
    return f"agent '{agent}'" + (f" in state '{state}'" if state is not None else "")


def _refusal(doc: Document, agent: str, state: str | None, action: Any, refused: str | None) -> str | None:
    """Why the session of (agent, state) refuses a scripted call, handoff or transition, or None."""
    offered = _offered(doc, agent, state)
    where = _where(agent, state)
    if isinstance(action, Call):
        if action.call in offered:
            return None
        fix = f"add it to state '{state}''s tools" if state is not None else f"add it to agent '{agent}''s tools"
        available = [n for n in offered if n in doc.spec.tools]
        listed = ", ".join(available) or "none"
        hint = did_you_mean(action.call, available)
        return f"{where} is not offered tool '{action.call}'{hint} (offered: {listed}): {fix}, or call another"
    if isinstance(action, Handoff):
        target = action.handoff
        if handoff_tool_name(target) in offered:
            return None
        machine = doc.spec.agents[agent].states
        routed = (
            machine is not None
            and state is not None
            and any(t.to == f"handoff:{target}" for step in machine.steps.values() for t in step.transitions)
        )
        if routed and machine is not None and state is not None:
            step = machine.steps[state]
            if any(t.to == f"handoff:{target}" for t in step.transitions):
                tool = handoff_tool_name(target)
                return (
                    f"{where} hands off to '{target}' through its state machine, which offers no `{tool}`: "
                    f"write `transition: handoff:{target}` instead of `handoff: {target}`"
                )
            sources = [s for s, st in machine.steps.items() if any(t.to == f"handoff:{target}" for t in st.transitions)]
            return (
                f"{where} cannot hand off to '{target}': its state machine reaches '{target}' only from "
                f"state{'s' * (len(sources) != 1)} {', '.join(repr(s) for s in sources)} "
                f"(with `transition: handoff:{target}`)"
            )
        targets = [h.agent for h in doc.spec.agents[agent].handoff_targets()]
        hint = did_you_mean(target, targets)
        return (
            f"{where} has no handoff to '{target}'{hint} (its handoffs: {', '.join(targets) or 'none'}): "
            f"add '{target}' to its `handoffs:`"
        )
    assert isinstance(action, Transition)
    target = action.transition
    if not _enforced(doc, agent) or state is None:
        fix = f": write `handoff: {target.removeprefix('handoff:')}`" if target.startswith("handoff:") else ""
        return f"agent '{agent}' has no enforced state machine, so it cannot move with `transition:`{fix}"
    if target == refused:
        return None  # the test expects the refusal
    step = doc.spec.agents[agent].states.steps[state]  # type: ignore[union-attr]
    allowed = [t.to for t in step.transitions]
    if target in allowed:
        return None
    hint = did_you_mean(target, allowed)
    return (
        f"{where} has no transition to '{target}'{hint} (allowed: {', '.join(allowed) or 'none'}): the engine "
        f"refuses it; add the transition, script an allowed one, or expect it with `refused: {target}`"
    )


# --- escalation answers, guardrail categories, context keys ----------------------------------------


def _calls(script: Script, at: Loc) -> Iterator[tuple[Call, Loc]]:
    for t, turn in enumerate(script.turns):
        for a, action in enumerate(turn.model):
            if isinstance(action, Call):
                yield action, (*at, "turns", t, "model", a)


def _answers(doc: Document, script: Script, at: Loc) -> Iterator[Finding]:
    for call, loc in _calls(script, at):
        tool = doc.spec.tools.get(call.call)
        esc = tool.escalate if tool is not None else None
        if esc is None or not call.supervisor:
            continue
        for s, step in enumerate(call.supervisor):
            step_loc: Loc = (*loc, "supervisor", s)
            if isinstance(step, SupervisorCall) and step.call not in esc.tools and step.call in doc.spec.tools:
                hint = did_you_mean(step.call, esc.tools)
                message = (
                    f"escalation '{call.call}' cannot call tool '{step.call}'{hint} "
                    f"(its tools: {', '.join(esc.tools) or 'none'}): add it to the escalation's `tools:`"
                )
                yield doc.finding("E308", message, (*step_loc, "call"))
            if not isinstance(step, SupervisorAnswer):
                continue
            answer_loc: Loc = (*step_loc, "answer")
            if esc.output == "text":
                if not isinstance(step.answer, str):
                    yield doc.finding("E503", f"escalation '{call.call}' answers in text (`output: text`)", answer_loc)
                continue
            if schema_problem(esc.output):
                continue
            error = first_error(esc.output, step.answer)
            if error is not None:
                where = "".join(f"[{p!r}]" for p in error.absolute_path)
                message = f"the answer does not match the output schema of escalation '{call.call}': {error.message}"
                yield doc.finding("E503", message + (f" (at {where})" if where else ""), answer_loc)


def guardrail_categories(doc: Document, name: str) -> list[str] | None:
    """The categories a guardrail reports (None: any, for a `run:` guardrail)."""
    guardrail = doc.spec.guardrails[name]
    if guardrail.classify is not None:
        return list(guardrail.classify.categories)
    if guardrail.run is not None:
        return None
    return [guardrail.category]


def _categories(doc: Document, script: Script, at: Loc) -> Iterator[Finding]:
    classified = {c for g in doc.spec.guardrails.values() if g.classify is not None for c in g.classify.categories}
    for t, turn in enumerate(script.turns):
        expect = turn.expect
        if expect is not None and expect.guardrail and ":" in expect.guardrail:
            name, category = expect.guardrail.split(":", 1)
            known = guardrail_categories(doc, name) if name in doc.spec.guardrails else None
            if known is not None and category not in known:
                message = (
                    f"guardrail '{name}' has no category '{category}'{did_you_mean(category, known)} "
                    f"(its categories: {', '.join(known)})"
                )
                yield doc.finding("E309", message, (*at, "turns", t, "expect", "guardrail"))
        for a, action in enumerate(turn.model):
            if isinstance(action, Say) and action.flag and action.flag not in classified:
                message = (
                    f"no classifier guardrail has the category '{action.flag}'{did_you_mean(action.flag, classified)}"
                )
                if not classified:
                    message = f"`flag: {action.flag}` needs a `classify:` guardrail, and the graph has none"
                yield doc.finding("E309", message, (*at, "turns", t, "model", a, "flag"))


def _audio_files(doc: Document, script: Script, at: Loc) -> Iterator[Finding]:
    """E106 for a turn's `audio:` file that is missing, outside the graph's folder, or not a WAV;
    W314 for a turn that interrupts nothing (the first turn, or one after a turn with no reply)."""
    from .spec.files import FileRefused, confined_file

    for t, turn in enumerate(script.turns):
        if turn.audio is not None and turn.audio != "speak":
            try:
                confined_file(doc.dir, turn.audio, doc.root)
            except FileRefused as exc:
                yield doc.finding("E106", str(exc), (*at, "turns", t, "audio"))
            else:
                if not turn.audio.lower().endswith(".wav"):
                    message = f"'{turn.audio}' is not a .wav file (write `speak` to synthesize the words)"
                    yield doc.finding("E106", message, (*at, "turns", t, "audio"))
        if turn.interrupt_after is not None and (t == 0 or not script.turns[t - 1].model):
            message = "`interrupt_after` talks over the reply before this turn, and there is none"
            yield doc.finding("W314", message, (*at, "turns", t, "interrupt_after"))


def _context_keys(doc: Document, script: Script, at: Loc, known: set[str]) -> Iterator[Finding]:
    for t, turn in enumerate(script.turns):
        expect: Expect | None = turn.expect
        for key in (expect.context or {}) if expect is not None else ():
            if key not in known:
                message = (
                    f"context key '{key}'{did_you_mean(str(key), known)} is never defined or set "
                    "(not in the graph's `context:`, the script's `context:`, a tool's `sets:` or a python tool)"
                )
                yield doc.finding("E310", message, (*at, "turns", t, "expect", "context", key), key=True)


def context_keys(doc: Document) -> set[str] | None:
    """The keys the context may hold: the graph's, those tools set, and those python tools assign.

    None when a python tool changes the context in a way that cannot be read off its source.
    """
    keys = set(doc.spec.context) | {k for t in doc.spec.tools.values() for k in (t.sets or {})}
    for tool in doc.spec.tools.values():
        if tool.run is None:
            continue
        written = _python_writes(doc, tool.run)
        if written is None:
            return None
        keys |= written
    return keys


def _python_writes(doc: Document, target: str) -> set[str] | None:
    """Keys a `run:` callable's module assigns with `context['key'] = ...` (None: it may write others)."""
    from .tools.python import CONTEXT_PARAMETER, CallableError, resolve_callable

    try:
        with contextlib.redirect_stdout(sys.stderr):  # a module that prints must not spoil `--format json`
            fn = resolve_callable(doc.dir, target)
        if CONTEXT_PARAMETER not in inspect.signature(fn).parameters:
            return set()
        module = inspect.getmodule(fn)
        source = inspect.getsource(module) if module is not None else None
    except (CallableError, OSError, TypeError, ValueError, SyntaxError, SystemExit):
        return None
    if source is None:
        return None
    written = _source_writes(source)
    return None if written is None else set(written)


# Tools share a module, and validation asks in several layers: each source is parsed once (milliseconds each).
@functools.lru_cache(maxsize=64)
def _source_writes(source: str) -> frozenset[str] | None:
    """Keys a module's source assigns with `context['key'] = ...` (None: it may write others)."""
    try:
        tree = ast.parse(source)
    except (ValueError, SyntaxError):
        return None
    keys: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and _is_context(node.value) and isinstance(node.ctx, ast.Store | ast.Del):
            if not (isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str)):
                return None
            keys.add(node.slice.value)
        elif isinstance(node, ast.Attribute) and _is_context(node.value) and node.attr in ("update", "setdefault"):
            return None
        elif isinstance(node, ast.Call) and any(
            _is_context(a) for a in (*node.args, *(k.value for k in node.keywords))
        ):
            return None  # handed to another function, which may write anything
    return frozenset(keys)


def _is_context(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and node.id == "context"
