"""Validation in layers (design §3): YAML, schema, references, templates, callables, graph, payloads.

A layer runs only when the layers before it found no errors, so every finding is about a file
the earlier layers accepted (no cascades of follow-on noise).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from .spec import Document, Finding, Mapping, SpecError, load_document, load_yaml
from .spec.document import Loc, schema_findings
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
    report = Report(Path(path))
    if is_tests_file(report.path):
        return _validate_tests_file(report)
    try:
        report.document = load_document(path)
    except SpecError as exc:
        report.findings = exc.findings
        return report
    doc = report.document
    for layer in (check_references, _check_templates, _check_callables, _check_graph, _check_payloads):
        found = layer(doc)
        report.findings.extend(found)
        if any(f.severity == "error" for f in found):
            break
    report.findings.sort(key=Finding.sort_key)
    return report


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
    graph = path.parent / named if isinstance(named, str) else path.with_name(path.name.replace(".tests.", "."))
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
    if findings:
        raise SpecError(findings)
    return [(test, located) for test in parsed.tests]


def _validate_tests_file(report: Report) -> Report:
    try:
        graph_path, raw = tests_file_graph(report.path)
        report.document = load_graph(graph_path)
        load_tests_file(report.document, report.path, raw)
    except SpecError as exc:
        report.findings = exc.findings
    return report


# --- templates --------------------------------------------------------------------------------------


def _template_sources(doc: Document) -> Iterator[tuple[str, Loc, Path | None]]:
    """Every Jinja2 source with where it lives: inline (a YAML location) or a file."""
    for agent_id, agent in doc.spec.agents.items():
        if agent.instructions is not None:
            yield agent.instructions, ("agents", agent_id, "instructions"), None
        elif agent.instructions_file:
            yield "", ("agents", agent_id, "instructions_file"), doc.dir / agent.instructions_file
    for name, tool in doc.spec.tools.items():
        esc = tool.escalate
        if esc and esc.instructions is not None:
            yield esc.instructions, ("tools", name, "escalate", "instructions"), None
        elif esc and esc.instructions_file:
            yield "", ("tools", name, "escalate", "instructions_file"), doc.dir / esc.instructions_file
        if tool.http:
            yield tool.http.url, ("tools", name, "http", "url"), None
        if isinstance(tool.returns, str):
            yield tool.returns, ("tools", name, "returns"), None


def _check_templates(doc: Document) -> list[Finding]:
    from .compile.templates import check_expression, check_template

    findings = []
    for source, loc, file in _template_sources(doc):
        if file is not None:
            source = file.read_text(encoding="utf-8")
        known = _known_variables(doc, tool_template=loc[0] == "tools")
        for problem in check_template(source, known):
            if file is not None:
                findings.append(Finding(problem.code, problem.message, _display(file), problem.line, 1))
            else:
                findings.append(_inline_finding(doc, loc, problem.code, problem.message, problem.line))
    known = _known_variables(doc)
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


def _known_variables(doc: Document, *, tool_template: bool = False) -> dict[str, object]:
    """What a template may name: the context keys, `context` itself, `agent`, `graph`, and `args` in tools."""
    # Keys a tool's `sets` adds later count as known: guards are written for them.
    later = {key: None for tool in doc.spec.tools.values() for key in (tool.sets or {})}
    context = {**later, **doc.spec.context}
    known: dict[str, object] = {**context, "context": context, "agent": "", "graph": doc.spec.graph}
    if tool_template:
        known["args"] = {}
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
            fn = resolve_callable(doc.dir, target)
        except CallableError as exc:
            findings.append(doc.finding("E306", str(exc), loc))
            continue
        if schema is not None:
            for problem in check_signature(fn, schema):
                findings.append(doc.finding("E307", f"{target}: {problem}", loc))
    return findings


# --- graph and payload lints ----------------------------------------------------------------------


def _check_graph(doc: Document) -> list[Finding]:
    from .graph import build_graph, lint_graph

    return lint_graph(doc, build_graph(doc))


def _check_payloads(doc: Document) -> list[Finding]:
    from .compile import compile_all

    findings = []
    for key, event in compile_all(doc).items():
        size = len(json.dumps(event).encode())
        if size > LARGE_PAYLOAD_BYTES:
            agent_id = key.split("/")[0]
            message = f"the session.update of '{key}' is {size // 1024} KiB; every handoff sends it whole"
            findings.append(doc.finding("W703", message, ("agents", agent_id)))
    return findings
