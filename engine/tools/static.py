"""The `returns:` executor: a static result whose strings are Jinja2 templates over args and context."""

from __future__ import annotations

from typing import Any

from engine.compile.templates import render

from .base import ToolContext, template_variables


def render_value(value: Any, variables: dict[str, Any], *, name: str) -> Any:
    """`value` with every string leaf rendered as a template; keys and other leaves are kept as is."""
    if isinstance(value, str):
        return render(value, variables, name=name)
    if isinstance(value, dict):
        return {k: render_value(v, variables, name=f"{name}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [render_value(v, variables, name=f"{name}[{i}]") for i, v in enumerate(value)]
    return value


async def run_static(name: str, returns: Any, args: dict[str, Any], ctx: ToolContext, *, graph: str = "") -> Any:
    return render_value(returns, template_variables(args, ctx, graph), name=f"tools.{name}.returns")
