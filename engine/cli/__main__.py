"""`python -m engine.cli`, the same as the `engine` script."""

import sys

from . import main

sys.exit(main())
