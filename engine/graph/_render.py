"""Drawing a graph: Mermaid and DOT as text, SVG through Graphviz, HTML with or without Graphviz."""

from __future__ import annotations

import shutil
import subprocess
from typing import TYPE_CHECKING

from engine.spec import Document

from ._dot import render_dot
from ._html import render_html, strip_svg_prolog
from ._mermaid import render_mermaid
from ._sketch import sketch_svg

if TYPE_CHECKING:
    import networkx as nx

FORMATS = ("mermaid", "dot", "html")
_DOT_TIMEOUT_S = 60


class GraphvizMissing(RuntimeError):
    """The Graphviz `dot` program is needed (for SVG) and is not on the PATH."""

    def __init__(self) -> None:
        super().__init__(
            "SVG drawing needs the Graphviz 'dot' program, which is not on the PATH; install it with "
            "'apt-get install graphviz' (Debian/Ubuntu) or 'brew install graphviz' (macOS). "
            "'--format dot', '--format mermaid' and '--format html' work without it."
        )


class GraphvizError(RuntimeError):
    """Graphviz ran but refused the DOT source (a bug of ours: the source is generated)."""


def render(doc: Document, g: nx.DiGraph, fmt: str) -> str:
    """The drawing as text: `mermaid`, `dot`, or `html` (Graphviz's SVG inline when installed)."""
    if fmt == "mermaid":
        return render_mermaid(doc, g)
    if fmt == "dot":
        return render_dot(doc, g)
    if fmt == "html":
        return render_html(doc, g, inline_svg(doc, g))
    raise ValueError(f"unknown drawing format '{fmt}'; choose one of {', '.join(FORMATS)} (or svg via render_svg)")


def inline_svg(doc: Document, g: nx.DiGraph) -> str:
    """The drawing as an `<svg>` element to put in a page: Graphviz's when installed, else our own sketch.
    Nodes and edges carry the ids of `_view.node_ids` and `_view.edge_id`."""
    try:
        return strip_svg_prolog(render_svg(doc, g).decode("utf-8"))
    except GraphvizMissing:
        return sketch_svg(g)


def render_svg(doc: Document, g: nx.DiGraph) -> bytes:
    """The drawing as an SVG document, laid out by Graphviz `dot`; raise `GraphvizMissing` without it."""
    dot = shutil.which("dot")
    if dot is None:
        raise GraphvizMissing()
    done = subprocess.run(
        [dot, "-Tsvg"],
        input=render_dot(doc, g).encode("utf-8"),
        capture_output=True,
        timeout=_DOT_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        raise GraphvizError(f"dot failed ({done.returncode}): {done.stderr.decode('utf-8', 'replace').strip()}")
    return done.stdout
