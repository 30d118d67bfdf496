"""`python -m engine.sim FILE [--host H] [--port N]`: the simulator as a server (see `command`)."""

from __future__ import annotations

import argparse
import sys

from .command import add_arguments, main

parser = argparse.ArgumentParser(prog="engine sim", description="Serve the Realtime simulator for any client.")
add_arguments(parser)
sys.exit(main(parser.parse_args()))
