"""`engine serve`: the browser console (and, beside it, the phone-line bridges) as one ASGI app."""

from ._calls import ServeConfig
from ._catalog import Catalog, Scenario
from ._console import CallOptions, ConsoleCall
from .app import create_app

__all__ = ["CallOptions", "Catalog", "ConsoleCall", "Scenario", "ServeConfig", "create_app"]
