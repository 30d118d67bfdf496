"""Findings: located, coded problems reported by every validation layer.

Codes are stable: tools and CI configs may match on them. The letter says the severity a code
has by default (E error, W warning); the hundreds say the layer.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Literal

from engine.errors import SpecError as SpecError  # defined with every engine error; imported from here too

Severity = Literal["error", "warning"]

#: Every code the engine emits, with a one-line meaning (shown in the README and `--format json`).
CODES: dict[str, str] = {
    # 1xx: reading files
    "E101": "YAML syntax error",
    "E102": "included file not found or unreadable",
    "E103": "include cycle",
    "E104": "duplicate key in a mapping",
    "E105": "file not found or unreadable",
    "E106": "a named file is outside the graph's folder (or its `root:`), not a regular file, or too large",
    # 2xx: schema
    "E201": "unknown key",
    "E202": "wrong type or invalid value",
    "E203": "missing required key",
    "E204": "a tool or guardrail must have exactly one kind",
    # 3xx: references
    "E301": "reference to an unknown agent",
    "E302": "reference to an unknown tool",
    "E303": "reference to an unknown state",
    "E304": "reference to an unknown guardrail",
    "E305": "instructions file not found",
    "E306": "python callable cannot be imported",
    "E307": "python callable parameters do not match the declared schema",
    "E308": "a scripted step the session of its moment refuses (a tool not offered, a handoff or transition refused)",
    "E309": "unknown guardrail category",
    "E310": "context key that nothing defines or sets",
    "E311": "duplicate test name",
    "W312": "agent without instructions",
    # 4xx: templates
    "E401": "template syntax error",
    "E402": "undefined template variable",
    "E403": "template reaches what the sandbox refuses (attributes starting with '_')",
    "E404": "template fails when rendered with the graph's context",
    "E405": "template goes beyond the sandbox's limits (value size, loop iterations, output size)",
    # 5xx: JSON Schema
    "E501": "invalid JSON Schema",
    "E502": "scripted arguments do not match the tool's schema",
    "E503": "scripted escalation answer does not match the escalation's output schema",
    # 6xx: graph lints
    "W601": "agent unreachable from the start agent",
    "W602": "state unreachable from the initial state",
    "W603": "dead-end state (no transitions and no handoffs)",
    "E604": "handoff to self",
    "E605": "duplicate tool name in an agent's session",
    "W606": "tool declared but used by no agent",
    # 7xx: realtime API lints
    "E701": "name the Realtime API refuses",
    "W702": "agents use different voices",
    "W703": "session.update payload is large",
    "W705": "agents use different audio formats",
    "E704": "session.update the Realtime API refuses (checked against the openai types when `extra` is used)",
    "E706": "a model that is shut down",
    "W707": "a model with an announced shutdown",
    "W708": "a model name the openai package does not list for that use",
    "W709": "a transcription setting its model does not take",
    "W710": "api: live: a setting GPT-Live does not have, or a per-agent voice",
    "E711": "api: live: appended rules over 500 tokens (or a persona over 16,384)",
    "E712": "api: live with Responses delegation: structured output or enforced guards",
    "W713": "reasoning / parallel_tool_calls on some agents only",
}


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem, located in a file (line and column are 1-based; 0 when unknown)."""

    code: str
    message: str
    file: str = ""
    line: int = 0
    col: int = 0
    severity: Severity = "error"

    def __post_init__(self) -> None:
        if self.severity == "error" and self.code.startswith("W"):
            object.__setattr__(self, "severity", "warning")

    def format(self) -> str:
        where = f"{self.file}:{self.line}:{self.col}" if self.line else (self.file or "<graph>")
        return f"{where}: {self.severity} {self.code}: {self.message}"

    def github(self) -> str:
        """A GitHub Actions workflow command that annotates the line in the pull request."""
        kind = "error" if self.severity == "error" else "warning"
        file = _escape(self.file).replace(":", "%3A").replace(",", "%2C")
        return (
            f"::{kind} file={file},line={self.line or 1},col={self.col or 1},title={self.code}::{_escape(self.message)}"
        )

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.file, self.line, self.col, self.code)


def _escape(text: str) -> str:
    """GitHub workflow-command escaping (properties also escape `:` and `,`)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A ` (did you mean 'x'?)` suffix for a misspelled name, or an empty string."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def render(findings: list[Finding], fmt: str) -> str:
    if fmt == "json":
        return json.dumps([f.as_dict() for f in findings], indent=2)
    if fmt == "github":
        return "\n".join(f.github() for f in findings)
    return "\n".join(f.format() for f in findings)
