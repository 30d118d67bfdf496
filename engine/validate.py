"""Validation in layers (design §3): YAML, schema, references, templates, callables, graph, payloads.

A layer runs only when the layers before it found no errors, so every finding is about a file
the earlier layers accepted (no cascades of follow-on noise).
"""

from __future__ import annotations

import contextlib
import inspect
import json
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from .script_checks import check_scripts, context_keys, duplicate_names
from .spec import Document, Finding, Mapping, SpecError, did_you_mean, load_document, load_yaml
from .spec.document import Loc, schema_findings
from .spec.files import FileRefused, confined_file, read_confined
from .spec.references import check_references, check_script
from .spec.script import ConversationTest, ConversationTestFile

#: Above this many bytes a session.update slows every handoff; the API's own limits are higher.
LARGE_PAYLOAD_BYTES = 64 * 1024


@dataclass
class Report:
    path: Path
    document: Document | None = None
    findings: list[Finding] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]


def validate_file(path: str | Path) -> Report:
    """Every finding for a graph file, or for a `*.tests.yaml` file and the graph it tests."""
    return _validate_file(Path(path), _Checked())


@dataclass
class _Checked:
    """What one `validate_files` run has read and checked, so that a graph its tests file names again is
    checked once, and a tests file that sibling detection parsed is not parsed again."""

    #: Reports of graph files by what makes their findings the same: the file, and how findings name it
    #: (`display_path` keeps a path outside the working directory as written).
    graphs: dict[tuple[Path, str], Report] = field(default_factory=dict)
    #: `tests_file_graph` of each tests file, or the findings it raised.
    tests_files: dict[Path, tuple[Path, object] | list[Finding]] = field(default_factory=dict)

    def tests_file_graph(self, path: Path) -> tuple[Path, object]:
        if path not in self.tests_files:
            try:
                self.tests_files[path] = tests_file_graph(path)
            except SpecError as exc:
                self.tests_files[path] = exc.findings
        found = self.tests_files[path]
        if isinstance(found, list):
            raise SpecError(found)
        return found


def _validate_file(path: Path, checked: _Checked) -> Report:
    if is_tests_file(path):
        return _validate_tests_file(Report(path), checked)
    key = (path.resolve(), _display(path))
    if key not in checked.graphs:
        checked.graphs[key] = _validate_graph_file(Report(path))
    return checked.graphs[key]


def _validate_graph_file(report: Report) -> Report:
    path = report.path
    try:
        report.document = load_document(path)
    except SpecError as exc:
        report.findings = exc.findings
        return report
    doc = report.document
    layers = (check_references, _check_templates, _check_callables, _check_scripts, _check_graph, _check_payloads)
    for layer in layers:
        try:
            found = layer(doc)
        except RecursionError:  # a value nested deeper than any check can follow
            found = [doc.finding("E101", "the file nests too deeply to check (values within values within ...)")]
        report.findings.extend(found)
        if any(f.severity == "error" for f in found):
            break
    report.findings.sort(key=Finding.sort_key)
    return report


@dataclass
class Run:
    """What `validate_files` checked: the files given, the sibling tests files it added, each finding once."""

    given: list[Path]
    siblings: list[Path] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    def summary(self) -> str:
        """`1 file checked (and the tests file beside it: x.tests.yaml): 0 error(s), 1 warning(s)`."""
        files = len(self.given)
        line = f"{files} file{'s' * (files != 1)} checked"
        if self.siblings:
            names = ", ".join(_display(p) for p in self.siblings)
            plural = "s" * (len(self.siblings) != 1)
            line += f" (and the tests file{plural} beside {'it' if files == 1 else 'them'}: {names})"
        return f"{line}: {len(self.errors)} error(s), {len(self.warnings)} warning(s)"


def validate_files(paths: Iterable[str | Path]) -> Run:
    """Validate graph and tests files together: a graph's sibling `<graph>.tests.yaml` is checked too
    (once, whether or not it is given), and a finding that two files lead to is reported once."""
    run = Run([Path(p) for p in paths])
    given = {p.resolve() for p in run.given}
    findings: list[Finding] = []
    checked = _Checked()
    for path in run.given:
        findings += _validate_file(path, checked).findings
        sibling = None if is_tests_file(path) else _sibling_tests_file(path, checked)
        if sibling is not None and sibling.resolve() not in given and sibling not in run.siblings:
            run.siblings.append(sibling)
            findings += _validate_file(sibling, checked).findings
    run.findings = list(dict.fromkeys(findings))
    return run


def sibling_tests_file(graph: Path) -> Path | None:
    """The `<graph>.tests.yaml` (or `.tests.yml`) beside a graph file that tests it, if there is one."""
    return _sibling_tests_file(graph, _Checked())


def _sibling_tests_file(graph: Path, checked: _Checked) -> Path | None:
    for suffix in (".tests.yaml", ".tests.yml"):
        candidate = graph.with_name(graph.stem + suffix)
        if candidate.is_file():
            try:
                target = checked.tests_file_graph(candidate)[0]
            except SpecError:
                return candidate  # its own syntax error is worth reporting
            return candidate if target.resolve() == graph.resolve() else None
    return None


def load_graph(path: str | Path) -> Document:
    """A document that passed every layer (warnings allowed); raise `SpecError` otherwise."""
    report = validate_file(path)
    if report.errors or report.document is None:
        raise SpecError(report.errors)
    return report.document


# --- conversation test files -------------------------------------------------------------------------


def is_tests_file(path: Path) -> bool:
    return path.name.endswith((".tests.yaml", ".tests.yml"))


def tests_file_graph(path: Path) -> tuple[Path, object]:
    """The graph a tests file is for (its `graph:`, else its name without `.tests`) and its raw YAML."""
    raw = load_yaml(path)
    named = raw.get("graph") if isinstance(raw, Mapping) else None
    if not isinstance(named, str):
        return path.with_name(path.name.replace(".tests.", ".")), raw
    assert isinstance(raw, Mapping)
    mark = raw.value_marks["graph"]
    try:
        # A regular graph file, wherever it is (tests may live in a folder of their own); the graph then
        # confines what it names itself.
        graph = confined_file(path.parent, named, Path(path.resolve().anchor))
    except FileRefused as exc:
        if exc.unreadable:
            return path.parent / named, raw
        raise SpecError([Finding("E106", f"graph {exc}", mark.file, mark.line, mark.col)]) from None
    if graph.suffix not in (".yaml", ".yml"):
        message = f"graph: '{named}' is not a graph file (a .yaml or .yml file)"
        raise SpecError([Finding("E106", message, mark.file, mark.line, mark.col)])
    return graph, raw


def load_tests_file(graph: Document, path: Path, raw: object) -> list[tuple[ConversationTest, Document]]:
    """The tests of a tests file, each with a document that locates findings in that file."""
    if not isinstance(raw, Mapping):
        raise SpecError([Finding("E202", "a tests file is a mapping with a `tests:` list", str(path), 1, 1)])
    try:
        parsed = ConversationTestFile.model_validate(raw)
    except ValidationError as exc:
        raise SpecError(schema_findings(raw, exc, ConversationTestFile)) from None
    located = Document(graph.spec, raw, path.resolve())
    findings = [f for i, test in enumerate(parsed.tests) for f in check_script(located, test, ("tests", i))]
    if not findings:
        scripts = [(test, ("tests", i)) for i, test in enumerate(parsed.tests)]
        findings = check_scripts(located, scripts, context_keys=context_keys(graph))
        taken = {f"{t.name}": _where_test(graph, i) for i, t in enumerate(graph.spec.tests)}
        names = [(test.name, ("tests", i, "name")) for i, test in enumerate(parsed.tests)]
        findings += duplicate_names(located, names, taken)
    if findings:
        raise SpecError(findings)
    return [(test, located) for test in parsed.tests]


def _where_test(doc: Document, index: int) -> str:
    first = doc.finding("E311", "", ("tests", index, "name"))
    return f"{first.file}:{first.line}"


def _validate_tests_file(report: Report, checked: _Checked) -> Report:
    try:
        graph_path, raw = checked.tests_file_graph(report.path)
        if not graph_path.is_file():
            raise SpecError([_missing_graph(report.path, graph_path, raw)])
        graph = _validate_file(graph_path, checked)  # what `load_graph` does, sharing the run's reports
        if graph.errors or graph.document is None:
            raise SpecError(graph.errors)
        report.document = graph.document
        load_tests_file(report.document, report.path, raw)
    except SpecError as exc:
        report.findings = exc.findings
    return report


def _missing_graph(path: Path, graph: Path, raw: object) -> Finding:
    """The graph a tests file names (or implies by its name) does not exist: say so in the tests file."""
    mark = raw.value_marks.get("graph") if isinstance(raw, Mapping) and "graph" in raw else None
    if mark is None:
        message = (
            f"the graph this tests file is for was not found: looked for {_display(graph)} (its name without "
            "`.tests`); name the graph file with `graph:`"
        )
        return Finding("E105", message, _display(path), 1, 1)
    message = f"the graph this tests file is for was not found: looked for {_display(graph)} (its `graph:`)"
    return Finding("E105", message, mark.file, mark.line, mark.col)


# --- scripts and authoring --------------------------------------------------------------------------


def _check_scripts(doc: Document) -> list[Finding]:
    """Demo and tests played against the graph (E308, E309, E310, E503, E311), context typos, bare agents."""
    scripts = [(doc.spec.demo, ("demo",))] if doc.spec.demo else []
    scripts += [(test, ("tests", i)) for i, test in enumerate(doc.spec.tests)]
    findings = check_scripts(doc, scripts, context_keys=context_keys(doc))
    findings += duplicate_names(doc, [(t.name, ("tests", i, "name")) for i, t in enumerate(doc.spec.tests)], {})
    for name, tool in doc.spec.tools.items():
        for key in tool.sets or {}:
            hint = did_you_mean(str(key), [str(k) for k in doc.spec.context])
            if key not in doc.spec.context and hint:
                message = f"tool '{name}' sets context key '{key}', which the graph's `context:` does not define{hint}"
                findings.append(doc.finding("E310", message, ("tools", name, "sets", key), key=True))
    prompt = doc.spec.session.prompt is not None
    for agent_id, agent in doc.spec.agents.items():
        own = agent.session is not None and agent.session.prompt is not None
        if agent.instructions is None and agent.instructions_file is None and not (prompt or own):
            message = f"agent '{agent_id}' has no instructions (`instructions:` or `instructions_file:`)"
            findings.append(doc.finding("W312", message, ("agents", agent_id), key=True))
    return findings


# --- templates --------------------------------------------------------------------------------------


def _template_sources(doc: Document) -> Iterator[tuple[str, Loc, Path | None, str | None]]:
    """Every Jinja2 source with where it lives (a YAML location, or a file) and the tool it belongs to."""
    for agent_id, agent in doc.spec.agents.items():
        if agent.instructions is not None:
            yield agent.instructions, ("agents", agent_id, "instructions"), None, None
        elif agent.instructions_file is not None:
            yield "", ("agents", agent_id, "instructions_file"), doc.dir / agent.instructions_file, None
    for name, tool in doc.spec.tools.items():
        esc = tool.escalate
        if esc and esc.instructions is not None:
            yield esc.instructions, ("tools", name, "escalate", "instructions"), None, name
        elif esc and esc.instructions_file is not None:
            yield "", ("tools", name, "escalate", "instructions_file"), doc.dir / esc.instructions_file, name
        if tool.http:
            yield tool.http.url, ("tools", name, "http", "url"), None, name
        if "returns" in tool.model_fields_set:
            for text, loc in _strings(tool.returns, ("tools", name, "returns")):
                yield text, loc, None, name


def _strings(value: object, at: Loc) -> Iterator[tuple[str, Loc]]:
    """The string leaves of a static result (each one is rendered as a template)."""
    if isinstance(value, str):
        yield value, at
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, (*at, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings(item, (*at, i))


def _check_templates(doc: Document) -> list[Finding]:
    from .compile.templates import CHECKED_MAPPINGS, check_expression, check_template

    findings = []
    keys = context_keys(doc)  # imports and parses python tools' modules: once, not per template
    for source, loc, file, tool in _template_sources(doc):
        if file is not None:
            source = read_confined(doc.dir, str(file.relative_to(doc.dir)), doc.root)
        known, checked = _known_variables(doc, keys, tool=tool), CHECKED_MAPPINGS
        if tool is not None and _args_are_known(doc.spec.tools[tool].parameters):
            checked = (*CHECKED_MAPPINGS, "args")
        for problem in check_template(source, known, checked=checked):
            if file is not None:
                findings.append(Finding(problem.code, problem.message, _display(file), problem.line, 1))
            else:
                findings.append(_inline_finding(doc, loc, problem.code, problem.message, problem.line))
    known = _known_variables(doc, keys)
    for agent_id, agent in doc.spec.agents.items():
        for step_id, step in (agent.states.steps if agent.states else {}).items():
            at: Loc = ("agents", agent_id, "states", "steps", step_id)
            texts = [((*at, "description"), step.description)]
            texts += [((*at, "instructions", i), text) for i, text in enumerate(step.instructions)]
            texts += [((*at, "examples", i), text) for i, text in enumerate(step.examples)]
            texts += [((*at, "transitions", i, "when"), t.when) for i, t in enumerate(step.transitions)]
            for loc, text in texts:
                findings += [doc.finding(p.code, p.message, loc) for p in check_template(text, known)]
            for i, transition in enumerate(step.transitions):
                if transition.guard is not None:
                    loc = (*at, "transitions", i, "guard")
                    for problem in check_expression(transition.guard, known):
                        findings.append(doc.finding(problem.code, f"guard: {problem.message}", loc))
    return findings


def _args_are_known(parameters: dict[str, object]) -> bool:
    """Whether a tool's arguments are exactly its schema's properties (no additional ones allowed)."""
    extra = parameters.get("additionalProperties")
    return extra is None or extra is False


def _known_variables(doc: Document, keys: set[str] | None, *, tool: str | None = None) -> dict[str, object]:
    """What a template may name: the context keys, `context` itself, `agent`, `graph`, and `args` in tools.

    `keys` are `context_keys(doc)`.
    """
    # Keys tools set later (`sets:`, and python tools' `context['key'] = ...`) count as known: guards test them.
    later = {key: None for key in sorted(keys or ()) if key not in doc.spec.context}
    later |= {key: None for t in doc.spec.tools.values() for key in (t.sets or {})}
    context = {**later, **doc.spec.context}
    known: dict[str, object] = {**context, "context": context, "agent": "", "graph": doc.spec.graph}
    if tool is not None:
        properties = doc.spec.tools[tool].parameters.get("properties")
        known["args"] = {str(k): None for k in properties} if isinstance(properties, dict) else {}
    return known


def _inline_finding(doc: Document, loc: Loc, code: str, message: str, line: int) -> Finding:
    """A finding at line `line` of a template written inline in the YAML."""
    base = doc.finding(code, message, loc)
    lines = Path(base.file).read_text(encoding="utf-8").splitlines() if Path(base.file).is_file() else []
    start = lines[base.line - 1][base.col - 1 :] if 0 < base.line <= len(lines) else ""
    if start.lstrip()[:1] not in ("|", ">"):
        return Finding(code, message, base.file, base.line + line - 1, base.col)
    # A block scalar's text starts on the line after its indicator, at its indentation.
    target = base.line + line
    text = lines[target - 1] if target <= len(lines) else ""
    return Finding(code, message, base.file, target, len(text) - len(text.lstrip()) + 1)


def _display(path: Path) -> str:
    from .spec.loader import display_path

    return display_path(path)


# --- python callables ---------------------------------------------------------------------------


def _check_callables(doc: Document) -> list[Finding]:
    from .tools.python import CallableError, check_signature, resolve_callable

    findings = []
    targets = [(("tools", n, "run"), t.run, t.parameters) for n, t in doc.spec.tools.items() if t.run]
    targets += [(("guardrails", n, "run"), g.run, None) for n, g in doc.spec.guardrails.items() if g.run]
    for loc, target, schema in targets:
        try:
            # A module that prints while it loads must not spoil `--format json` on stdout.
            with contextlib.redirect_stdout(sys.stderr):
                fn = resolve_callable(doc.dir, target)
        except CallableError as exc:
            findings.append(doc.finding("E306", str(exc), loc))
            continue
        except SystemExit as exc:
            findings.append(doc.finding("E306", f"importing '{target}' exits (SystemExit: {exc.code})", loc))
            continue
        problems = check_signature(fn, schema) if schema is not None else _guardrail_signature(fn)
        findings += [doc.finding("E307", f"{target}: {problem}", loc) for problem in problems]
    return findings


def _guardrail_signature(fn: object) -> list[str]:
    """A guardrail callable is called as `fn(text, context)`."""
    try:
        inspect.signature(fn).bind("text", {})  # type: ignore[arg-type]
    except TypeError:
        return ["a guardrail callable is called with two arguments, `(text, context)`"]
    except ValueError:  # builtins without a signature: nothing to check
        pass
    return []


# --- graph and payload lints ----------------------------------------------------------------------


def _check_graph(doc: Document) -> list[Finding]:
    from .graph import lint_api, lint_graph

    return sorted([*lint_graph(doc), *lint_api(doc)], key=Finding.sort_key)


def _check_payloads(doc: Document) -> list[Finding]:
    """Compile every agent (and enforced state): render failures, tool choices, size, and `extra` against the API.

    Compiled payloads validate against the openai types by construction (the tests check it), except
    for what `extra` merges in as is: only then is `openai` imported (slowly) to check them.
    """
    from .compile import CompileError, TemplateRenderError, check_payload, compile_session

    findings = []
    for agent_id, agent in doc.spec.agents.items():
        states = list(agent.states.steps) if agent.states is not None and agent.states.enforce else [None]
        extra = _session_loc(doc, agent_id, "extra")
        for state in states:
            key = agent_id if state is None else f"{agent_id}/{state}"
            try:
                event = compile_session(doc, agent_id, state=state)
            except TemplateRenderError as exc:
                findings.append(_render_finding(doc, agent_id, exc))
                break
            except CompileError as exc:
                message = f"agent '{agent_id}' does not compile: {exc}"
                findings.append(doc.finding("E404", message, ("agents", agent_id)))
                break
            findings += _payload_findings(doc, agent_id, key, event)
            for problem in check_payload(event) if extra is not None else ():
                message = f"the Realtime API would refuse the session.update of '{key}' (after `extra`): {problem}"
                findings.append(doc.finding("E704", message, extra, key=True))
    if doc.spec.api == "live":
        from .compile.live import live_findings

        findings += live_findings(doc)
    return list(dict.fromkeys(findings))


def _payload_findings(doc: Document, agent_id: str, key: str, event: dict) -> list[Finding]:
    findings = []
    session = event["session"]
    choice = session.get("tool_choice")
    offered = [t.get("name") for t in session.get("tools", [])]
    if isinstance(choice, dict) and choice.get("type") == "function" and choice.get("name") not in offered:
        name = str(choice.get("name"))
        message = f"tool_choice names '{name}', which '{key}' does not offer{did_you_mean(name, filter(None, offered))}"
        written = _session_loc(doc, agent_id, "tool_choice")
        loc = (*written, "name") if written else _session_loc(doc, agent_id, "extra") or ("agents", agent_id)
        findings.append(doc.finding("E302", message, loc))
    size = len(json.dumps(event).encode())
    if size > LARGE_PAYLOAD_BYTES:
        message = f"the session.update of '{key}' is {size // 1024} KiB; every handoff sends it whole"
        findings.append(doc.finding("W703", message, ("agents", agent_id)))
    return findings


def _session_loc(doc: Document, agent_id: str, name: str) -> Loc | None:
    """Where the session setting `name` that applies to an agent is written: the agent's session, else the graph's."""
    agent_session = doc.spec.agents[agent_id].session
    if agent_session is not None and name in agent_session.model_fields_set:
        return ("agents", agent_id, "session", name)
    return ("session", name) if name in doc.spec.session.model_fields_set else None


def _render_finding(doc: Document, agent_id: str, exc: Exception) -> Finding:
    """A template that fails while rendering with the graph's context, at the template that failed."""
    name, line = getattr(exc, "name", ""), getattr(exc, "line", None)
    message = "template fails when rendered: " + str(exc).removeprefix(f"{name}:{line}: ").removeprefix(f"{name}: ")
    line = line or 1
    if name == doc.spec.agents[agent_id].instructions_file:
        return Finding("E404", message, _display(doc.dir / name), line, 1)
    loc: Loc = tuple(int(i) if i else part for i, part in re.findall(r"\[(\d+)\]|([^.\[\]]+)", name))
    if loc[:3] == ("agents", agent_id, "instructions"):
        return _inline_finding(doc, loc, "E404", message, line)
    return doc.finding("E404", message, loc if loc[:2] == ("agents", agent_id) else ("agents", agent_id))
