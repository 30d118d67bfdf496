"""Stage 2 of the pipeline: the networkx graph of a document, its lints, and its drawings."""

from .build import build_graph, effective_voice, model_id, state_id
from .lints import NAME_PATTERN, lint_graph
from .render import FORMATS, GraphvizError, GraphvizMissing, inline_svg, render, render_svg

__all__ = [
    "FORMATS",
    "NAME_PATTERN",
    "GraphvizError",
    "GraphvizMissing",
    "build_graph",
    "effective_voice",
    "inline_svg",
    "lint_graph",
    "model_id",
    "render",
    "render_svg",
    "state_id",
]
