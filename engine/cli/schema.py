"""`engine schema`: the JSON Schema of the graph file (for editors: `# yaml-language-server: $schema=`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._common import emit


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", type=Path, help="write to this file instead of standard output")


def main(args: argparse.Namespace) -> int:
    from ..spec.schema import graph_json_schema_text

    return emit(graph_json_schema_text(), args.output)
