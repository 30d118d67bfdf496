"""The built-in Realtime-protocol simulator: a loopback server whose model plays a script."""

from .cursor import Mismatch, ScriptError
from .server import Simulator, SimulatorThread
from .validation import unknown_fields

__all__ = ["Mismatch", "ScriptError", "Simulator", "SimulatorThread", "unknown_fields"]
