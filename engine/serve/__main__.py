"""`python -m engine.serve [FILE|DIR ...]`: the same as `engine serve`."""

import argparse
import sys

from .command import add_arguments, main

parser = argparse.ArgumentParser(prog="engine serve", description="The browser console for graph files.")
add_arguments(parser)
sys.exit(main(parser.parse_args()))
