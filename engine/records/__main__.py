"""`python -m engine.records list|show|export`: the same as `engine calls`."""

from __future__ import annotations

import argparse
import sys

from .command import add_arguments, main

if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="engine calls", description="The recorded calls.")
    add_arguments(parser)
    sys.exit(main(parser.parse_args()))
