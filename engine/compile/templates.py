"""Jinja2 templates of a graph: one sandboxed environment, rendering and static checks.

Templates see the graph's context twice, as top-level names (`{{ company }}`) and as
`{{ context.company }}`, plus `agent` (the agent id) and `graph` (the graph name); tool templates
also see `args`. Undefined names are errors (StrictUndefined), so a typo fails loudly instead of
rendering an empty string into a prompt.

Templates run in Jinja2's immutable sandbox: attributes starting with `_` (the way out to Python
objects, as in `''.__class__.__mro__`) and mutating methods are refused when rendering, and the
static check reports the underscore attributes before anything renders (E403). The sandbox also
has resource limits (`limits.py`): values a template builds, loop iterations, output size and time
are bounded when rendering, and what crosses them with constants alone is reported statically (E405).

Jinja2 itself (`_jinja.py`) loads with the first template that has markup: plain text renders as
itself and has nothing to check, so a graph without templates is validated without it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Literal

from engine.errors import TemplateRenderError as TemplateRenderError  # defined with every engine error

#: Names whose first attribute (`context.x`, `context['x']`) is checked against the keys of their known value.
CHECKED_MAPPINGS: tuple[str, ...] = ("context",)


@dataclass(frozen=True, slots=True)
class TemplateProblem:
    """A problem found in a template; `line` is 1-based inside the template text."""

    line: int
    message: str
    code: Literal["E401", "E402", "E403", "E405"]


_impl: ModuleType | None = None  # `_jinja`, once imported


def _sandbox() -> ModuleType:
    global _impl
    if _impl is None:
        from . import _jinja as module

        _impl = module
    return _impl


def _is_plain(source: str) -> bool:
    """Text with no Jinja2 markup renders as itself: most step texts and descriptions are plain."""
    return "{" not in source


def render(source: str, variables: Mapping[str, Any], *, name: str) -> str:
    """Render a template in the sandbox; raise `TemplateRenderError` on any template error."""
    if _is_plain(source):
        return source
    return _sandbox().render(source, variables, name=name)


def render_expression(expr: str, variables: Mapping[str, Any], *, strict: bool = True) -> Any:
    """Evaluate a Jinja2 expression (a guard) in the sandbox; raise `TemplateRenderError` if it fails.

    With `strict=False`, a missing name or key (at any depth) is falsy and an undefined result is None.
    """
    return _sandbox().render_expression(expr, variables, strict=strict)


def check_template(
    source: str, known: Mapping[str, Any], *, checked: tuple[str, ...] = CHECKED_MAPPINGS
) -> list[TemplateProblem]:
    """Syntax errors (E401), undefined variables (E402) and what the sandbox refuses (E403) of a template.

    `known` maps the names a template may use to their values (or any placeholder). For the names
    in `checked` whose known value is a mapping, `name.key` and `name['key']` are checked against
    its keys too (pass `checked=("context", "args")` with the tool's argument names as `args`).
    """
    if _is_plain(source):
        return []
    return _sandbox().check_template(source, known, checked=checked)


def check_expression(
    expr: str, known: Mapping[str, Any], *, checked: tuple[str, ...] = CHECKED_MAPPINGS
) -> list[TemplateProblem]:
    """Syntax errors (E401), undefined variables (E402) and refused attributes (E403) of an expression (a guard)."""
    return _sandbox().check_expression(expr, known, checked=checked)
