"""Stage 2 of the pipeline: the networkx graph of a document, its lints, and its drawings."""

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
from .render import FORMATS, GraphvizError, GraphvizMissing, inline_svg, render, render_svg

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
