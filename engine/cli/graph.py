"""`engine graph FILE`: the handoff graph as Mermaid, DOT, SVG or a standalone HTML page."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ._common import EXIT_FAIL, add_watch_option, emit, load_or_report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, metavar="FILE")
    parser.add_argument("--format", choices=["mermaid", "dot", "svg", "html"], default="mermaid")
    parser.add_argument("-o", "--output", type=Path, help="write to this file instead of standard output")
    add_watch_option(parser)


def main(args: argparse.Namespace) -> int:
    if args.watch:
        from ._watch import rerun_argv, watch

        return watch("graph", rerun_argv(args.argv), [args.file])
    from ..graph import GraphvizMissing, build_graph, render, render_svg

    doc = load_or_report(args.file)
    if doc is None:
        return EXIT_FAIL
    graph = build_graph(doc)
    try:
        out = render_svg(doc, graph) if args.format == "svg" else render(doc, graph, args.format)
    except GraphvizMissing as exc:
        print(f"engine: {exc}", file=sys.stderr)
        return EXIT_FAIL
    return emit(out, args.output)
