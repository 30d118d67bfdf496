"""`engine serve`: the browser console (and, beside it, the phone-line bridges) as one ASGI app."""

from ._catalog import Catalog, Scenario
from ._console import CallOptions, ConsoleCall, ServeConfig
from .app import create_app

__all__ = ["CallOptions", "Catalog", "ConsoleCall", "Scenario", "ServeConfig", "create_app"]
