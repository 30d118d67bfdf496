"""Stage 2 of the pipeline: the networkx graph of a document, its lints, and its drawings.

The drawings (`render`, `render_svg`, ...) are imported when first asked for: `engine validate` lints
the graph and draws nothing.
"""

import typing as _typing

from .build import build_graph, effective_voice, model_id, state_id
from .lints import (
    NAME_PATTERN,
    lint_api,
    lint_graph,
    lint_live,
    lint_models,
    lint_sticky_settings,
    lint_transcription,
    named_models,
)

if _typing.TYPE_CHECKING:
    from ._render import FORMATS, GraphvizError, GraphvizMissing, inline_svg, render, render_svg

_DRAWING = frozenset({"FORMATS", "GraphvizError", "GraphvizMissing", "inline_svg", "render", "render_svg"})

__all__ = [
    "FORMATS",
    "NAME_PATTERN",
    "GraphvizError",
    "GraphvizMissing",
    "build_graph",
    "effective_voice",
    "inline_svg",
    "lint_api",
    "lint_graph",
    "lint_live",
    "lint_models",
    "lint_sticky_settings",
    "lint_transcription",
    "model_id",
    "named_models",
    "render",
    "render_svg",
    "state_id",
]


def __getattr__(name: str) -> _typing.Any:
    if name in _DRAWING:
        from . import _render

        return getattr(_render, name)
    raise AttributeError(f"module 'engine.graph' has no attribute {name!r}")
